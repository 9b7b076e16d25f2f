"""Real-frame rotation evaluation (training/pose/real_eval.py) and `eval-real-poses`."""

import json
from pathlib import Path
import shutil

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from rgbd_perception.geometry.detections import PoseEstimate
from rgbd_perception.io.catalogue import load_catalogue
from rgbd_perception.io.images import write_rgb
from training.cli import main
from training.metrics import symmetric_rotation_error_deg, symmetry_rotations
from training.pose.real_eval import evaluate_real_poses
from training.pose.transfer import main as transfer_main

ROOT = Path(__file__).resolve().parents[1]
DEMO_MESHES = ROOT / 'config' / 'objects' / 'demo_meshes'
#: The box (1100) is symmetric by a half turn about its z axis.
HALF_TURN_Z = [-1, 0, 0, 5, 0, -1, 0, 7, 0, 0, 1, 0, 0, 0, 0, 1]


def rotation(axis, degrees):
    """Return the (3, 3) rotation of ``degrees`` about unit ``axis``."""
    return Rotation.from_rotvec(np.radians(degrees) * np.asarray(axis, float)).as_matrix()


def gt_entry(obj_id, rotation_matrix):
    """Return a scene_gt.json entry (pose 0.5 m in front of the camera)."""
    return {'obj_id': obj_id, 'cam_R_m2c': rotation_matrix.reshape(-1).tolist(),
            'cam_t_m2c': [0.0, 0.0, 500.0]}


@pytest.fixture
def real_fixture(tmp_path):
    """
    Return (catalogue, scene folder, truths): the duck and box, three 64 x 48 'real' images.

    Image 0: duck and box, both seen; image 1: the duck at 5 % visible (not scored) and an
    object the catalogue does not know; image 2: the box alone.  No depth, no masks.
    """
    meshes = tmp_path / 'meshes'
    meshes.mkdir()
    for name in ('obj_001000.ply', 'obj_001100.ply'):
        shutil.copy(DEMO_MESHES / name, meshes)
    (meshes / 'models_info.json').write_text(json.dumps(
        {'1000': {'diameter': 100.0}, '1100': {'diameter': 80.0,
                                               'symmetries_discrete': [HALF_TURN_Z]}}))
    catalogue_file = tmp_path / 'objects.yaml'
    catalogue_file.write_text(
        f'name: two\nmesh_dir: {meshes}\nmesh_unit: mm\nobjects:\n'
        '  - {id: 1000, name: duck, mesh: obj_001000.ply}\n'
        '  - {id: 1100, name: box, mesh: obj_001100.ply, symmetric: true}\n')
    scene = tmp_path / 'test' / '000002'
    (scene / 'rgb').mkdir(parents=True)
    rng = np.random.default_rng(0)
    truths = {(0, 0): rotation([1, 0, 0], 40), (0, 1): rotation([0, 1, 0], 70),
              (1, 0): rotation([0, 0, 1], 10), (1, 1): np.eye(3),
              (2, 0): rotation([1, 1, 0], 120)}
    objects = {0: [1000, 1100], 1: [1000, 7], 2: [1100]}
    visible = {0: [0.9, 0.5], 1: [0.05, 1.0], 2: [0.3]}
    cameras, gts, infos = {}, {}, {}
    for im_id in objects:
        write_rgb(scene / 'rgb' / f'{im_id:06d}.png',
                  rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
        cameras[im_id] = {'cam_K': [60.0, 0, 31.5, 0, 60.0, 23.5, 0, 0, 1]}
        gts[im_id] = [gt_entry(obj_id, truths[im_id, index])
                      for index, obj_id in enumerate(objects[im_id])]
        infos[im_id] = [{'bbox_visib': [10 + 20 * index, 10, 20, 20],
                         'visib_fract': fraction, 'px_count_visib': 400}
                        for index, fraction in enumerate(visible[im_id])]
    for name, value in (('scene_camera', cameras), ('scene_gt', gts),
                        ('scene_gt_info', infos)):
        (scene / f'{name}.json').write_text(json.dumps(value))
    return load_catalogue(catalogue_file), scene, truths


class ScriptedStage:
    """A stand-in for PoseStage returning set poses per (call, detection index)."""

    def __init__(self, catalogue, rotations, translation=(0.0, 0.0, 0.5)):
        self.catalogue, self.rotations, self.calls = catalogue, rotations, []
        self.translation = np.asarray(translation)

    def __call__(self, rgb, depth, intrinsics, detections):
        """Return PoseEstimates of the scripted rotations, in detection order."""
        call = len(self.calls)
        self.calls.append((rgb.shape, depth, intrinsics, detections))
        return [PoseEstimate(d.obj_id, self.rotations[call, index], self.translation, 1.0,
                             d.bbox, d.mask) for index, d in enumerate(detections)]


def test_symmetry_rotations_follow_models_info():
    """Identity first, discrete ones as given, a continuous axis sampled every ~0.57 degrees."""
    assert np.allclose(symmetry_rotations({}), np.eye(3)[None])
    discrete = symmetry_rotations({'symmetries_discrete': [HALF_TURN_Z]})
    assert discrete.shape == (2, 3, 3) and np.allclose(discrete[1], rotation([0, 0, 1], 180))
    continuous = symmetry_rotations({'symmetries_continuous': [
        {'axis': [0, 0, 1], 'offset': [0, 0, 0]}], 'symmetries_discrete': [HALF_TURN_Z]})
    assert continuous.shape == (2 * 315, 3, 3)
    truth = rotation([1, 0, 0], 30)
    estimate = truth @ rotation([0, 0, 1], 100)
    assert symmetric_rotation_error_deg(estimate, truth, continuous) < 0.6
    assert symmetric_rotation_error_deg(estimate, truth, discrete) == pytest.approx(80.0)


def test_rotation_errors_given_boxes_rgb_only(real_fixture):
    """Scored: catalogue objects seen enough; errors symmetric-aware; no depth, no masks."""
    catalogue, scene, truths = real_fixture
    scripted = {(0, 0): truths[0, 0] @ rotation([0, 0, 1], 10),   # duck: 10 degrees off
                (0, 1): truths[0, 1] @ rotation([0, 0, 1], 180),  # box: its symmetry, 0
                (1, 0): truths[2, 0] @ rotation([0, 1, 0], 40)}   # 2nd call: image 2's box
    stage = ScriptedStage(catalogue, scripted)
    metrics = evaluate_real_poses(stage, scene, min_visible=0.1)
    assert metrics['images'] == 2 and len(stage.calls) == 2
    assert all(depth is None for _, depth, _, _ in stage.calls)
    assert [[(d.obj_id, d.bbox, d.mask) for d in call[3]] for call in stage.calls] == [
        [(1000, (10, 10, 20, 20), None), (1100, (30, 10, 20, 20), None)],
        [(1100, (10, 10, 20, 20), None)]]
    duck, box = metrics['objects']['1000'], metrics['objects']['1100']
    assert duck['count'] == 1 and duck['median_deg'] == pytest.approx(10.0)
    assert duck['within_15_deg'] == 1.0
    assert box['count'] == 2 and box['median_deg'] == pytest.approx(20.0, abs=1e-6)
    assert box['within_15_deg'] == 0.5 and box['within_30_deg'] == 0.5
    overall = metrics['overall']
    assert overall['count'] == 3 and overall['median_deg'] == pytest.approx(10.0)
    assert overall['within_15_deg'] == pytest.approx(2 / 3)
    assert overall['within_30_deg'] == pytest.approx(2 / 3)
    # ADD(-S) with the true translation: the duck's 10 degrees move its points (ADD) by less
    # than a tenth of its diameter, the box's symmetric half turn not at all (ADD-S)
    assert duck['add_s_0.1d'] == 1.0 and 0.0 < duck['median_add_s_d'] < 0.1
    assert box['add_s_0.1d'] >= 0.5 and box['median_add_s_d'] > 0.0


def test_add_s_counts_the_translation(real_fixture):
    """True rotations placed 10 cm off the true translation fail ADD(-S)@0.1d."""
    catalogue, scene, truths = real_fixture
    scripted = {(0, 0): truths[0, 0], (0, 1): truths[0, 1], (1, 0): truths[2, 0]}
    exact = evaluate_real_poses(ScriptedStage(catalogue, scripted), scene)['overall']
    off = evaluate_real_poses(ScriptedStage(catalogue, scripted, (0.0, 0.0, 0.6)),
                              scene)['overall']
    assert exact['add_s_0.1d'] == 1.0 and exact['median_add_s_d'] < 1e-9
    assert off['add_s_0.1d'] == 0.0 and off['median_deg'] < 1e-6


def test_nothing_visible_enough_is_an_error(real_fixture):
    """A threshold no object meets raises instead of reporting empty statistics."""
    catalogue, scene, _ = real_fixture
    with pytest.raises(ValueError, match='no catalogue object'):
        evaluate_real_poses(ScriptedStage(catalogue, {}), scene, min_visible=1.1)


def test_cli_runs_the_rgb_only_stage(real_fixture, untrained_pose_weights, tmp_path, capsys):
    """`eval-real-poses` runs PoseStage on the given boxes and writes the metrics file."""
    catalogue, scene, _ = real_fixture
    out = tmp_path / 'metrics.json'
    assert main(['eval-real-poses', '--weights', str(untrained_pose_weights['rgb']),
                 '--scene', str(scene), '--catalogue', str(catalogue.path),
                 '--out', str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics == json.loads(capsys.readouterr().out)
    assert metrics['images'] == 2 and metrics['overall']['count'] == 3
    assert sorted(metrics['objects']) == ['1000', '1100']
    assert 0.0 <= metrics['overall']['median_deg'] <= 180.0
    assert main(['eval-real-poses', '--weights', str(untrained_pose_weights['rgb']),
                 '--scene', str(tmp_path / 'absent'), '--catalogue',
                 str(catalogue.path)]) == 2


@pytest.mark.slow
def test_bundled_lmo_weights_on_real_lmo(shared_data, tmp_path):
    """The 100 real LM-O validation images: every object scored, errors in range."""
    scene = shared_data('lmo_real_val', 'test', '000002')
    shared_data('lmo_models', 'models')
    out = tmp_path / 'real.json'
    weights = ROOT / 'rgbd_perception' / 'weights' / 'pose_lmo.safetensors'
    assert main(['eval-real-poses', '--weights', str(weights), '--scene', str(scene),
                 '--out', str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics['images'] == 100
    assert sorted(metrics['objects'], key=int) == ['1', '5', '6', '8', '9', '10', '11', '12']
    assert metrics['overall']['count'] == sum(o['count'] for o in metrics['objects'].values())
    assert 0.0 <= metrics['overall']['within_15_deg'] <= metrics['overall']['within_30_deg']


def test_transfer_table_rows_in_order(real_fixture, tmp_path, capsys):
    """One Markdown row per metrics file: overall median, shares in %, per-object medians."""
    catalogue, scene, truths = real_fixture
    scripted = {(0, 0): truths[0, 0], (0, 1): truths[0, 1], (1, 0): truths[2, 0]}
    metrics = evaluate_real_poses(ScriptedStage(catalogue, scripted), scene)
    path = tmp_path / 'exact.json'
    path.write_text(json.dumps(metrics))
    transfer_main([f'exact={path}', f'again={path}'])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith('| training data | poses | median (deg) |')
    assert lines[0].endswith('| obj 1000 | obj 1100 |') and len(lines) == 4
    assert lines[2] == '| exact | 3 | 0.0 | 100.0 % | 100.0 % | 100.0 % | 0 | 0 |'
    assert lines[3].startswith('| again |')
