"""Cycles renderer (bpy): camera = K, exact ground truth for both renderers, determinism."""

import argparse
from dataclasses import replace
import functools

import cv2
import numpy as np
import pytest
from renderer_checks import assert_edge_at_pixel_centres, render_edge, slanted_plane

from rgbd_perception.geometry.camera import project
from rgbd_perception.io.bop import BopScene
from training.synth import bench, cli
from training.synth.catalogue import build_catalogue
from training.synth.exposure import develop, srgb_decode, srgb_encode
from training.synth.generate import generate, SynthConfig
from training.synth.looks import Exposure, sample_look
from training.synth.scene import DistractorMeshes, sample_scene, SceneOptions

cycles = pytest.importorskip('training.synth.cycles', reason='bpy (Blender) is not installed')

WIDTH, HEIGHT = 160, 120


@pytest.fixture
def renderer(tmp_path):
    """
    Yield a 160 x 120 Cycles Renderer with 1 path per pixel, and its K (off the image centre).

    Not shared between tests: Blender is one per process, and other tests start their own.
    """
    k = np.array([[100.0, 0.0, 70.3], [0.0, 100.0, 50.6], [0.0, 0.0, 1.0]])
    renderer = cycles.Renderer(WIDTH, HEIGHT, k, 0.05, 20.0, tmp_path, samples=1,
                               denoise=False)
    yield renderer, k
    renderer.close()


@pytest.mark.parametrize('fraction', [0.02, 0.5, 0.98])
def test_pixel_centres_of_k_are_where_cycles_samples(renderer, fraction):
    """An edge at column u covers exactly the pixel centres u' >= u (and rows alike)."""
    renderer, k = renderer
    frame = render_edge(renderer, k, fraction)
    assert_edge_at_pixel_centres(frame)
    missed = frame.labels != 0
    assert np.all(frame.labels[missed] == -1) and np.all(frame.depth[missed] == 0)


def test_z_pass_is_the_optical_depth_of_a_slanted_plane(renderer):
    """Depth is the plane's optical-frame z at every pixel centre (float32 precision)."""
    renderer, k = renderer
    frame, expected = slanted_plane(renderer, k, WIDTH)
    rows = np.broadcast_to(expected, (HEIGHT, WIDTH))
    assert (frame.labels == 0).all()
    np.testing.assert_allclose(frame.depth, rows, rtol=2e-6)
    assert frame.rgb.dtype == np.uint8 and frame.rgb.shape == (HEIGHT, WIDTH, 3)


def test_camera_settings_refuse_non_square_pixels():
    """Blender's camera has square pixels: fx != fy is refused."""
    with pytest.raises(ValueError, match='fx == fy'):
        cycles.camera_settings(np.diag([100.0, 101.0, 1.0]), 64, 48)


def _lmo_config(out, renderer):
    return SynthConfig(out=str(out), frames=2, seed=3, width=128, height=96, renderer=renderer,
                       samples=2, scene=SceneOptions(min_objects=4, max_objects=8))


def _check_masks_and_depth(folder, meshes):
    """
    Check each visible object of each image against its posed mesh; return objects checked.

    The posed mesh's projected triangles (OpenCV's rasteriser, 3 x 3 dilated) cover the
    visible mask; exact depth inside the mask lies within the posed mesh's z range (plus the
    depth PNG's rounding).
    """
    scene, checked = BopScene(folder), 0
    for im_id in scene.image_ids:
        k = scene.camera_matrix(im_id)
        clean = scene.read_depth_metres(im_id, 'depth_clean')
        for truth, _, visible in scene.visible_objects(im_id, min_pixels=20):
            mesh = meshes[truth.obj_id]
            points = mesh.vertices @ truth.rotation.T + truth.translation
            triangles = np.round(project(points, k)[mesh.faces] * 16).astype(np.int32)
            covered = np.zeros(visible.shape, np.uint8)
            cv2.fillPoly(covered, list(triangles), 1, shift=4)
            covered = cv2.dilate(covered, np.ones((3, 3), np.uint8)) > 0
            assert covered[visible].mean() >= 0.995
            z = clean[visible]
            assert np.all(z > 0)
            assert z.min() >= points[:, 2].min() - 0.001
            assert z.max() <= points[:, 2].max() + 0.001
            checked += 1
    return checked


@functools.lru_cache(maxsize=1)
def _catalogue(models):
    """Return the catalogue of a folder of mm meshes, read once for every test here."""
    return build_catalogue(models, 'mm', ('given',))


@pytest.mark.parametrize('renderer_name', ['tiny', 'cycles'])
def test_ground_truth_of_lmo_meshes_for_both_renderers(shared_data, tmp_path, renderer_name):
    """Renders of the LM-O meshes: masks inside the posed meshes, depth within their range."""
    catalogue = _catalogue(shared_data('lmo_models', 'models'))
    generate(_lmo_config(tmp_path / renderer_name, renderer_name), catalogue)
    meshes = {m.obj_id: m.mesh for m in catalogue}
    assert _check_masks_and_depth(tmp_path / renderer_name / '000000', meshes) >= 4


def _files(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob('*'))
            if p.is_file() and p.name != 'synth.json'}


@pytest.fixture(scope='module')
def procedural():
    """Return the procedural objects (no files to read)."""
    return build_catalogue(sources=('procedural',))


def test_frames_do_not_depend_on_what_was_rendered_before(renderer, procedural):
    """One renderer drawing frames 0, 1, 0: frame 0 comes out the same bytes both times."""
    renderer, _ = renderer
    distractors = DistractorMeshes()
    scenes = []
    for index in (0, 1):
        scene = sample_scene(np.random.default_rng([5, index]), procedural, distractors)
        scenes.append(replace(scene, look=sample_look(np.random.default_rng([5, index, 1]),
                                                      scene)))
    first, _, again = (renderer.render(scenes[i]) for i in (0, 1, 0))
    for name in ('rgb', 'depth', 'labels'):
        assert np.array_equal(getattr(first, name), getattr(again, name))
    assert first.rgb.std() > 5 and (first.labels >= 0).any()


def test_same_seed_same_bytes_for_one_and_two_workers(procedural, tmp_path):
    """Cycles output is a function of the options: 1 or 2 worker processes, same bytes."""
    config = SynthConfig(out=str(tmp_path / 'one'), frames=3, seed=11, width=64, height=48,
                         renderer='cycles', samples=2)
    generate(config, procedural, workers=1)
    generate(replace(config, out=str(tmp_path / 'two')), procedural, workers=2)
    assert _files(tmp_path / 'one') == _files(tmp_path / 'two')
    generate(replace(config, out=str(tmp_path / 'other'), seed=12, frames=1), procedural)
    name = '000000/rgb/000000.png'
    assert (tmp_path / 'other' / name).read_bytes() != (tmp_path / 'one' / name).read_bytes()


def test_develop_meters_any_light_level_to_mid_grey():
    """A grey scene gives the same sRGB image at any light level; black stays black."""
    grey = np.full((4, 6, 3), 0.7)
    dim, bright = develop(grey * 1e-3, Exposure()), develop(grey * 1e3, Exposure())
    assert np.array_equal(dim, bright)
    assert abs(int(dim[0, 0, 0]) - round(255 * float(srgb_encode(0.18)))) <= 1
    assert not develop(np.zeros((4, 6, 3)), Exposure()).any()
    brighter = develop(grey, Exposure(stops=1.0))
    assert np.all(brighter > dim)


def test_white_balance_removes_a_share_of_a_colour_cast():
    """Full grey-world balance makes a tinted grey neutral; share 0 keeps the cast."""
    cast = np.ones((4, 6, 3)) * [1.0, 0.8, 0.6]
    balanced = develop(cast, Exposure(white_balance=1.0))
    kept = develop(cast, Exposure(white_balance=0.0))
    assert np.ptp(balanced[0, 0]) <= 1 and kept[0, 0, 0] > kept[0, 0, 2] + 20


def test_srgb_round_trip():
    """srgb_decode inverts srgb_encode on [0, 1]."""
    values = np.linspace(0.0, 1.0, 101)
    np.testing.assert_allclose(srgb_decode(srgb_encode(values)), values, atol=1e-12)


def test_size_option_sets_width_and_height():
    """--size WxH is --width W --height H; anything else is a usage error."""
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(['--out', 'x', '--size', '320x240', '--renderer', 'cycles',
                              '--samples', '4'])
    assert (args.width, args.height, args.renderer, args.samples) == (320, 240, 'cycles', 4)
    with pytest.raises(SystemExit):
        parser.parse_args(['--out', 'x', '--size', '320'])


def test_bench_cases_and_steady_rate(procedural):
    """The bench's cases follow its options; steady frames/s leaves out the first frames."""
    cases = bench.parse_cases('64x48', '32x24@2', '1,2')
    assert [(c.renderer, c.width, c.height, c.samples, c.workers) for c in cases] == [
        ('tiny', 64, 48, 0, 1), ('cycles', 32, 24, 2, 1), ('tiny', 64, 48, 0, 2),
        ('cycles', 32, 24, 2, 2)]
    with pytest.raises(ValueError):
        bench.parse_cases('64', '', '1')
    assert bench.steady_rate([5.0, 6.0, 7.5], 1) == pytest.approx(2 / 2.5)
    assert bench.steady_rate([5.0, 6.0], 2) is None
    rate, total = bench.measure(bench.Case('tiny', 32, 24, 0, 1), procedural, 3)
    assert rate > 0 and total > 0
