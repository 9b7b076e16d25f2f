"""Tests for the rgbd-perception command line (rgbd_perception.cli.main, in-process)."""

import re

import cv2
import numpy as np
import pytest
import torch

from rgbd_perception.cli import main
from rgbd_perception.geometry.camera import Intrinsics
from rgbd_perception.stages.hha import HhaStage
from rgbd_perception.tools.sample_scene import sample_frame

WIDTH = 160
HEIGHT = 120


@pytest.fixture(scope='module')
def frames():
    """Two small frames of the bundled sample sequence."""
    return [sample_frame(i, width=WIDTH, height=HEIGHT) for i in (0, 1)]


@pytest.fixture
def depth_files(tmp_path, frames):
    """Write the frames' raw depth as 16-bit PNGs; return their paths as strings."""
    paths = []
    for frame in frames:
        path = tmp_path / f'frame_{frame.index:03d}.png'
        assert cv2.imwrite(str(path), frame.depth_mm)
        paths.append(str(path))
    return paths


def intrinsics_args(frame):
    """Return the --intrinsics arguments of a frame."""
    return ['--intrinsics'] + [repr(float(v)) for v in frame.intrinsics]


def read_rgb(path):
    """Read a PNG written by the CLI as RGB."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, f'{path} was not written'
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def expected_hha(depth, frame, **stage_kwargs):
    """HHA of ``depth`` from the CPU stage, the reference for the CLI's output."""
    return HhaStage(device='cpu', **stage_kwargs)(depth, Intrinsics(*frame.intrinsics))


def run_hha(depth, out_dir, frame, *extra):
    """Run ``rgbd-perception hha`` in-process; return its exit status."""
    return main(['hha', '--depth', *depth, '--out-dir', str(out_dir), *intrinsics_args(frame),
                 '--device', 'cpu', *extra])


def test_hha_writes_one_png_per_depth_file(tmp_path, frames, depth_files, capsys):
    """Two 16-bit depth PNGs give two HHA PNGs named by stem, equal to the CPU stage."""
    out_dir = tmp_path / 'out'
    assert run_hha(depth_files, out_dir, frames[0]) == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ['frame_000.png', 'frame_001.png']
    for frame in frames:
        written = read_rgb(out_dir / f'frame_{frame.index:03d}.png')
        assert written.shape == (HEIGHT, WIDTH, 3)
        np.testing.assert_array_equal(written, expected_hha(frame.depth_mm, frame))
    captured = capsys.readouterr()
    assert str(out_dir / 'frame_000.png') in captured.out
    assert str(out_dir / 'frame_001.png') in captured.out
    assert captured.err == ''


def test_hha_raw_depth_count_mismatch(tmp_path, frames, depth_files, capsys):
    """A --raw-depth list of another length exits 1 before writing anything."""
    out_dir = tmp_path / 'out'
    status = run_hha(depth_files, out_dir, frames[0], '--raw-depth', depth_files[0])
    assert status == 1
    err = capsys.readouterr().err
    assert '--raw-depth needs one file per --depth (2), got 1' in err
    assert not out_dir.exists()


def test_hha_raw_depth_used_as_mask(tmp_path, frames, depth_files):
    """--raw-depth files are passed to the stage as the missing-depth mask."""
    out_dir = tmp_path / 'out'
    filled = np.where(frames[0].depth_mm == 0, 2000, frames[0].depth_mm).astype(np.uint16)
    filled_path = tmp_path / 'filled.png'
    assert cv2.imwrite(str(filled_path), filled)
    assert run_hha([str(filled_path)], out_dir, frames[0], '--raw-depth', depth_files[0]) == 0
    expected = HhaStage(device='cpu')(filled, Intrinsics(*frames[0].intrinsics),
                                      raw_depth=frames[0].depth_mm)
    np.testing.assert_array_equal(read_rgb(out_dir / 'filled.png'), expected)


def test_hha_missing_file_among_good_ones(tmp_path, frames, depth_files, capsys):
    """A missing file is reported by name, the good files are still written, exit 1."""
    out_dir = tmp_path / 'out'
    missing = str(tmp_path / 'missing.png')
    status = run_hha([depth_files[0], missing, depth_files[1]], out_dir, frames[0])
    assert status == 1
    assert sorted(p.name for p in out_dir.iterdir()) == ['frame_000.png', 'frame_001.png']
    np.testing.assert_array_equal(read_rgb(out_dir / 'frame_001.png'),
                                  expected_hha(frames[1].depth_mm, frames[1]))
    err = capsys.readouterr().err
    assert f'{missing}: no such file' in err
    assert '1 of 3 frames failed' in err
    assert 'frame_000' not in err and 'Traceback' not in err


def test_hha_8bit_png_rejected(tmp_path, frames, capsys):
    """An 8-bit PNG exits 1 with a message naming the file and the expected format."""
    path = tmp_path / 'eight_bit.png'
    assert cv2.imwrite(str(path), (frames[0].depth_mm // 256).astype(np.uint8))
    assert run_hha([str(path)], tmp_path / 'out', frames[0]) == 1
    err = capsys.readouterr().err
    assert str(path) in err
    assert 'single-channel 16-bit' in err
    assert 'uint8' in err


def test_hha_npy_float_metres(tmp_path, frames, capsys):
    """A float32 .npy in metres is read unscaled and gives the stage's output for it."""
    frame = frames[0]
    metres = frame.depth_mm.astype(np.float32) / np.float32(1000.0)
    path = tmp_path / 'metres.npy'
    np.save(path, metres)
    out_dir = tmp_path / 'out'
    # --depth-scale applies to 16-bit files only; a wrong one must not change .npy input.
    assert run_hha([str(path)], out_dir, frame, '--depth-scale', '0.5') == 0
    written = read_rgb(out_dir / 'metres.png')
    np.testing.assert_array_equal(written, expected_hha(metres, frame))
    # Sanity: the result is close to the 16-bit path (the inputs differ only by rounding).
    from_png = expected_hha(frame.depth_mm, frame)
    assert np.mean(written == from_png) > 0.99


def test_hha_npy_nan_is_missing(tmp_path, frames):
    """A NaN in a .npy depth means missing, exactly like 0."""
    frame = frames[0]
    metres = frame.depth_mm.astype(np.float32) / np.float32(1000.0)
    with_nan = np.where(metres == 0, np.float32(np.nan), metres)
    np.save(tmp_path / 'zeros.npy', metres)
    np.save(tmp_path / 'nans.npy', with_nan)
    out_dir = tmp_path / 'out'
    assert run_hha([str(tmp_path / 'zeros.npy'), str(tmp_path / 'nans.npy')], out_dir,
                   frame) == 0
    np.testing.assert_array_equal(read_rgb(out_dir / 'zeros.png'),
                                  read_rgb(out_dir / 'nans.png'))


def test_hha_gravity_honoured(tmp_path, frames, depth_files):
    """--gravity fixes the gravity direction instead of estimating it."""
    frame = frames[0]
    out_dir = tmp_path / 'out'
    assert run_hha(depth_files[:1], out_dir, frame, '--gravity', '0', '1', '0') == 0
    written = read_rgb(out_dir / 'frame_000.png')
    np.testing.assert_array_equal(
        written, expected_hha(frame.depth_mm, frame, gravity=[0.0, 1.0, 0.0]))
    # The sample camera is pitched down ~27 degrees, so the estimate differs from (0, 1, 0).
    assert not np.array_equal(written, expected_hha(frame.depth_mm, frame))


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a machine without CUDA')
def test_hha_cuda_without_cuda(tmp_path, frames, depth_files, capsys):
    """--device cuda on a machine without CUDA exits 1 saying CUDA is not available."""
    status = main(['hha', '--depth', depth_files[0], '--out-dir', str(tmp_path / 'out'),
                   *intrinsics_args(frames[0]), '--device', 'cuda'])
    assert status == 1
    assert 'CUDA is not available' in capsys.readouterr().err
    assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('intrinsics', [['0', '100', '80', '60'], ['100', '-1', '80', '60'],
                                        ['100', '100', 'nan', '60']])
def test_hha_bad_intrinsics(tmp_path, depth_files, capsys, intrinsics):
    """Zero or negative focal lengths or NaN intrinsics exit 1 with a message."""
    status = main(['hha', '--depth', depth_files[0], '--out-dir', str(tmp_path / 'out'),
                   '--intrinsics', *intrinsics, '--device', 'cpu'])
    assert status == 1
    err = capsys.readouterr().err
    assert err.startswith('rgbd-perception hha: error: ')
    assert 'intrinsics' in err or 'focal lengths must be > 0' in err
    assert not (tmp_path / 'out').exists()


def test_help_lists_commands(capsys):
    """--help of the top-level parser lists every command and exits 0."""
    with pytest.raises(SystemExit) as info:
        main(['--help'])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert '{hha,complete,mono-depth,pose,node,bench,replay,demo}' in out
    for command in ('hha', 'complete', 'pose', 'node', 'bench', 'replay', 'demo'):
        assert re.search(rf'^ +{command} +\S', out, re.MULTILINE), f'no help line for {command}'


def test_missing_command_is_usage_error(capsys):
    """Running without a command is an argparse usage error (exit 2)."""
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert 'usage: rgbd-perception' in capsys.readouterr().err
