"""The bundled sample sequence: ``python -m training sample`` and its reader."""

import json
from pathlib import Path
import shutil

import cv2
import numpy as np
import pytest

from rgbd_perception.io.bop import BopScene, read_bop_sequence
from training.cli import main
from training.synth.catalogue import PROCEDURAL_OBJECTS
from training.synth.sequence import (SAMPLE_FILE, SampleConfig, SampleFolderError,
                                     write_sample)

WIDTH, HEIGHT, FRAMES, SEED = 160, 120, 4, 3
DUCK_ID = 1000


def _config(out, **changes):
    values = {'frames': FRAMES, 'width': WIDTH, 'height': HEIGHT, 'seed': SEED}
    values.update(changes)
    return SampleConfig(out=str(out), **values)


@pytest.fixture(scope='module')
def sample(tmp_path_factory):
    """Return the folder of a 4-frame 160 x 120 sample rendered in this process."""
    out = tmp_path_factory.mktemp('sample') / 'one'
    assert write_sample(_config(out), workers=1) is not None
    return out


def _files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()}


def _read_json(path):
    return json.loads(Path(path).read_text())


def test_same_arguments_same_bytes_for_any_worker_count(sample, tmp_path):
    """Two worker processes write exactly what one did; another seed other images."""
    assert write_sample(_config(tmp_path / 'two'), workers=2) is not None
    files = _files(sample)
    assert _files(tmp_path / 'two') == files
    assert len([name for name in files if name.parts[-2:-1] == ('rgb',)]) == FRAMES
    write_sample(_config(tmp_path / 'other', frames=1, seed=SEED + 1))
    name = Path('000000') / 'rgb' / '000000.png'
    assert (tmp_path / 'other' / name).read_bytes() != files[name]


def test_second_call_does_nothing(sample, capsys):
    """The same arguments again (through the CLI) leave every file untouched."""
    before = {p: p.stat().st_mtime_ns for p in sample.rglob('*')}
    assert _read_json(sample / SAMPLE_FILE)['complete'] is True
    argv = ['sample', '--out', str(sample), '--frames', str(FRAMES), '--width', str(WIDTH),
            '--height', str(HEIGHT), '--seed', str(SEED), '--workers', '2']
    assert main(argv) == 0
    assert 'nothing to do' in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in sample.rglob('*')} == before


def test_other_arguments_replace_a_sample_and_other_folders_are_refused(sample, tmp_path):
    """A sample with other arguments is rendered anew; a folder of something else is kept."""
    out = tmp_path / 'copy'
    shutil.copytree(sample, out)
    assert write_sample(_config(out, frames=2)) is not None
    assert sorted(p.name for p in (out / '000000' / 'rgb').iterdir()) == \
        ['000000.png', '000001.png']
    assert _read_json(out / SAMPLE_FILE)['arguments']['frames'] == 2
    foreign = tmp_path / 'foreign'
    foreign.mkdir()
    (foreign / 'notes.txt').write_text('mine')
    with pytest.raises(SampleFolderError, match='sample.json'):
        write_sample(_config(foreign))
    assert main(['sample', '--out', str(foreign), '--frames', '1']) == 2
    assert [p.name for p in foreign.iterdir()] == ['notes.txt']


def _world_from(rotation_a2b, translation_a2b_mm, rotation_w2c, translation_w2c_mm):
    """Return (R, t m) of frame a in the world, given a -> camera and world -> camera."""
    rotation = rotation_w2c.T @ rotation_a2b
    translation = rotation_w2c.T @ (translation_a2b_mm - translation_w2c_mm) / 1000.0
    return rotation, translation


def test_camera_moves_smoothly_around_a_fixed_scene(sample):
    """Camera centres step < 0.2 m at a constant height; the objects never move."""
    scene = sample / '000000'
    cameras = _read_json(scene / 'scene_camera.json')
    ground_truth = _read_json(scene / 'scene_gt.json')
    assert sorted(cameras, key=int) == [str(i) for i in range(FRAMES)]
    centres, world_poses = [], []
    for key in sorted(cameras, key=int):
        rotation_w2c = np.reshape(cameras[key]['cam_R_w2c'], (3, 3))
        translation_w2c = np.asarray(cameras[key]['cam_t_w2c'])
        centres.append(_world_from(np.eye(3), np.zeros(3), rotation_w2c, translation_w2c)[1])
        world_poses.append({gt['obj_id']: _world_from(np.reshape(gt['cam_R_m2c'], (3, 3)),
                                                      np.asarray(gt['cam_t_m2c']),
                                                      rotation_w2c, translation_w2c)
                            for gt in ground_truth[key]})
    steps = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    assert np.all(steps > 0.01) and np.all(steps < 0.2)
    assert np.allclose([c[2] for c in centres], centres[0][2]) and 1.3 <= centres[0][2] <= 1.5
    assert sorted(world_poses[0]) == sorted([DUCK_ID] + [o[0] for o in PROCEDURAL_OBJECTS])
    for poses in world_poses[1:]:
        assert sorted(poses) == sorted(world_poses[0])
        for obj_id, (rotation, translation) in poses.items():
            np.testing.assert_allclose(rotation, world_poses[0][obj_id][0], atol=1e-6)
            np.testing.assert_allclose(translation, world_poses[0][obj_id][1], atol=1e-6)


def test_reader_shapes_and_units(sample):
    """Frames in im_id order: RGB, depth in mm (round(png * depth_scale)), K, gravity."""
    scene = sample / '000000'
    cameras = _read_json(scene / 'scene_camera.json')
    gravity = _read_json(scene / 'gravity.json')
    frames = read_bop_sequence(scene)
    assert [f.index for f in frames] == list(range(FRAMES))
    for frame in frames:
        name = f'{frame.index:06d}.png'
        camera = cameras[str(frame.index)]
        assert frame.rgb.shape == (HEIGHT, WIDTH, 3) and frame.rgb.dtype == np.uint8
        bgr = cv2.imread(str(scene / 'rgb' / name), cv2.IMREAD_COLOR)
        np.testing.assert_array_equal(frame.rgb, bgr[..., ::-1])
        assert frame.depth_mm.shape == (HEIGHT, WIDTH) and frame.depth_mm.dtype == np.uint16
        units = cv2.imread(str(scene / 'depth' / name), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(frame.depth_mm, np.round(units * camera['depth_scale']))
        assert np.abs(frame.depth_mm - units * 0.1).max() <= 0.5
        clean = cv2.imread(str(scene / 'depth_clean' / name), cv2.IMREAD_UNCHANGED)
        assert np.all(clean > 0) and 0.0 < np.mean(frame.depth_mm == 0) < 0.5
        valid = frame.depth_mm > 0
        assert 500 < np.median(frame.depth_mm[valid]) < 4500
        k = np.reshape(camera['cam_K'], (3, 3))
        assert frame.intrinsics == (k[0, 0], k[1, 1], k[0, 2], k[1, 2])
        np.testing.assert_array_equal(frame.gravity, gravity[str(frame.index)])
        assert np.linalg.norm(frame.gravity) == pytest.approx(1.0)


@pytest.mark.parametrize('missing', ['depth/000002.png', 'rgb/000000.png',
                                     'scene_camera.json', 'gravity.json'])
def test_reader_names_a_missing_file(sample, tmp_path, missing):
    """A scene folder without one of its files is refused with that file's name."""
    scene = tmp_path / 'scene'
    shutil.copytree(sample / '000000', scene)
    (scene / missing).unlink()
    with pytest.raises(ValueError, match=missing):
        read_bop_sequence(scene)


def test_scene_reader_filters_objects_and_agrees_with_the_files(sample):
    """visible_objects keeps the annotations seen well enough, with their own masks."""
    scene = BopScene(sample / '000000')
    infos = _read_json(scene.folder / 'scene_gt_info.json')['1']
    truths = _read_json(scene.folder / 'scene_gt.json')['1']
    kept = scene.visible_objects(1, min_visible=0.5, min_pixels=100, object_ids={DUCK_ID, 1100})
    expected = [index for index, (info, truth) in enumerate(zip(infos, truths))
                if info['visib_fract'] >= 0.5 and info['px_count_visib'] >= 100
                and truth['obj_id'] in (DUCK_ID, 1100)]
    assert [truth.gt_index for truth, _, _ in kept] == expected and expected
    for truth, info, mask in kept:
        assert info == infos[truth.gt_index] and truth.obj_id == truths[truth.gt_index]['obj_id']
        np.testing.assert_allclose(truth.translation,
                                   np.asarray(truths[truth.gt_index]['cam_t_m2c']) / 1000.0)
        assert mask.sum() == info['px_count_visib']
    millimetres, metres = scene.read_depth_mm(1), scene.read_depth_metres(1)
    assert metres.dtype == np.float32 and np.abs(metres * 1000.0 - millimetres).max() < 0.501
