"""Depth completion stage and `rgbd-perception complete`: methods, inputs, files, errors."""

import numpy as np
import pytest

from rgbd_perception.cli import main
from rgbd_perception.io.images import read_depth, write_depth_png, write_rgb
from rgbd_perception.runtime.weights import ExportError
from rgbd_perception.stages.completion import CompletionStage
from rgbd_perception.stages.depth_input import ColourError, DepthError
from rgbd_perception.tools.sample_scene import sample_frame


@pytest.fixture(scope='module')
def frame():
    """Return a 160 x 120 ray-cast sample frame with 40 % of its depth removed in a band."""
    sample = sample_frame(3, width=160, height=120)
    depth = sample.depth_mm.copy()
    depth[30:78] = 0
    return sample.rgb, depth


@pytest.mark.parametrize('method', ['model', 'ip_basic'])
def test_stage_fills_every_hole_and_keeps_measurements(method, frame, tiny_completion_weights):
    """Output (H, W) float32 metres > 0 everywhere; measured pixels unchanged."""
    rgb, depth = frame
    stage = CompletionStage(method, weights=tiny_completion_weights, device='cpu')
    completed = stage(rgb, depth)
    assert completed.shape == depth.shape and completed.dtype == np.float32
    assert np.all(np.isfinite(completed)) and np.all(completed > 0)
    measured = depth > 0
    np.testing.assert_allclose(completed[measured], depth[measured] / 1000.0, rtol=1e-6)


def test_stage_replaces_measurements_on_request(frame, tiny_completion_weights):
    """keep_measured=False returns the model output everywhere, at any downsample factor."""
    rgb, depth = frame
    for downsample in (1, 3):
        stage = CompletionStage('model', weights=tiny_completion_weights, device='cpu',
                                downsample=downsample, keep_measured=False)
        completed = stage(rgb, depth)
        assert completed.shape == depth.shape
        assert not np.allclose(completed[depth > 0], depth[depth > 0] / 1000.0)


def test_stage_rejects_bad_inputs(frame, tiny_completion_weights, tmp_path):
    """Bad colour, empty depth, unknown method and tampered weights raise clear errors."""
    rgb, depth = frame
    stage = CompletionStage('model', weights=tiny_completion_weights, device='cpu')
    with pytest.raises(ColourError, match='colour size 80x60 != depth size 160x120'):
        stage(rgb[::2, ::2], depth)
    with pytest.raises(ColourError, match='uint8'):
        stage(rgb.astype(np.float32), depth)
    with pytest.raises(DepthError, match='no valid pixel'):
        stage(rgb, np.zeros_like(depth))
    with pytest.raises(ValueError, match='unknown completion method'):
        CompletionStage('magic')
    bad = tmp_path / 'bad.safetensors'
    bad.write_bytes(tiny_completion_weights.read_bytes()[:-1] + b'x')
    bad.with_suffix('.json').write_text(tiny_completion_weights.with_suffix('.json').read_text())
    with pytest.raises(ExportError, match='does not match the manifest'):
        CompletionStage('model', weights=bad, device='cpu')


def test_cli_complete_writes_png_and_npy(frame, tiny_completion_weights, tmp_path, capsys):
    """One frame to .png (mm) and several to --out-dir .npy (m); both equal the stage."""
    rgb, depth = frame
    write_rgb(tmp_path / 'a.png', rgb)
    write_depth_png(tmp_path / 'a_depth.png', depth)
    write_depth_png(tmp_path / 'b_depth.png', depth)
    common = ['--weights', str(tiny_completion_weights), '--device', 'cpu']
    assert main(['complete', '--rgb', str(tmp_path / 'a.png'), '--depth',
                 str(tmp_path / 'a_depth.png'), '--out', str(tmp_path / 'out.png'),
                 *common]) == 0
    expected = CompletionStage('model', weights=tiny_completion_weights, device='cpu')(
        rgb, depth)
    np.testing.assert_array_equal(read_depth(tmp_path / 'out.png'),
                                  np.round(expected * 1000).astype(np.uint16))
    assert main(['complete', '--rgb', str(tmp_path / 'a.png'), str(tmp_path / 'a.png'),
                 '--depth', str(tmp_path / 'a_depth.png'), str(tmp_path / 'b_depth.png'),
                 '--out-dir', str(tmp_path / 'many'), *common]) == 0
    np.testing.assert_allclose(np.load(tmp_path / 'many' / 'b_depth.npy'), expected, rtol=1e-6)
    assert main(['complete', '--method', 'ip_basic', '--depth', str(tmp_path / 'a_depth.png'),
                 '--out', str(tmp_path / 'classical.npy')]) == 0
    assert np.all(np.load(tmp_path / 'classical.npy') > 0)


def test_cli_complete_errors_exit_non_zero(frame, tiny_completion_weights, tmp_path, capsys):
    """Missing colour, a bad output suffix and an unreadable frame fail with one message."""
    rgb, depth = frame
    write_rgb(tmp_path / 'a.png', rgb)
    write_depth_png(tmp_path / 'a_depth.png', depth)
    assert main(['complete', '--depth', str(tmp_path / 'a_depth.png'), '--out',
                 str(tmp_path / 'x.npy')]) == 1
    assert '--rgb needs one colour file per --depth' in capsys.readouterr().err
    assert main(['complete', '--rgb', str(tmp_path / 'a.png'), '--depth',
                 str(tmp_path / 'a_depth.png'), '--out', str(tmp_path / 'x.tif')]) == 1
    assert 'must end in .png or .npy' in capsys.readouterr().err
    assert main(['complete', '--rgb', str(tmp_path / 'a.png'), str(tmp_path / 'a.png'),
                 '--depth', str(tmp_path / 'missing.png'), str(tmp_path / 'a_depth.png'),
                 '--out-dir', str(tmp_path / 'out'), '--weights',
                 str(tiny_completion_weights), '--device', 'cpu']) == 1
    err = capsys.readouterr().err
    assert 'missing.png: no such file' in err and '1 of 2 frames failed' in err
    assert (tmp_path / 'out' / 'a_depth.npy').is_file()  # the good frame is still written


def test_stage_runs_at_the_factor_the_manifest_names(tiny_completion_weights, tmp_path):
    """downsample=0: runtime.downsample, else data.working_downsample, else 2; N > 0 wins."""
    import json
    import shutil

    assert CompletionStage('model', weights=tiny_completion_weights, device='cpu').downsample == 2
    weights = tmp_path / 'at4.safetensors'
    shutil.copy(tiny_completion_weights, weights)
    manifest = json.loads(tiny_completion_weights.with_suffix('.json').read_text())
    manifest['data'] = {'working_downsample': 4}
    weights.with_suffix('.json').write_text(json.dumps(manifest))
    assert CompletionStage('model', weights=weights, device='cpu').downsample == 4
    assert CompletionStage('model', weights=weights, device='cpu', downsample=3).downsample == 3
    manifest['runtime'] = {'downsample': 10}
    weights.with_suffix('.json').write_text(json.dumps(manifest))
    assert CompletionStage('model', weights=weights, device='cpu').downsample == 10
    assert CompletionStage('model', weights=weights, device='cpu', downsample=3).downsample == 3
