"""The numba HHA kernels (geometry.hha_cpu) against the torch path they replace on the CPU."""

import math

import numpy as np
import pytest
import torch

from rgbd_perception.geometry import hha as hha_module
from rgbd_perception.geometry.camera import Intrinsics
from rgbd_perception.geometry.hha import HhaEncoder

hha_cpu = pytest.importorskip('rgbd_perception.geometry.hha_cpu')
numba = pytest.importorskip('numba')

PRIMESENSE = Intrinsics(525.0, 525.0, 319.5, 239.5)  # the rgbd_samples' usual stand-in


def encode_both(depth_m, intrinsics, missing=None, gravity=None):
    """Return (numba result, torch result) of one (H, W) float64 depth in metres."""
    depth = torch.from_numpy(np.ascontiguousarray(depth_m, dtype=np.float64))
    if missing is not None:
        missing = torch.from_numpy(missing)
    fast = HhaEncoder()
    assert fast.numba_kernels is not None
    return (fast(depth, intrinsics, missing=missing, gravity=gravity),
            HhaEncoder(use_numba=False)(depth, intrinsics, missing=missing, gravity=gravity))


def assert_same_hha(fast, reference):
    """Assert identical images and gravity estimates equal to rounding of their sums."""
    assert np.array_equal(fast.image.numpy(), reference.image.numpy())
    np.testing.assert_allclose(fast.gravity, reference.gravity, rtol=0, atol=1e-12)


def real_frames(shared_data):
    """[(name, (H, W) float64 depth in metres)] of the real sample frames (four sensors)."""
    from training.completion.data import real_sample_frames, slambook_kinect_frames

    root = shared_data('rgbd_samples')
    frames = [(name, depth) for name, _, depth in real_sample_frames(root)]
    frames += [(name, depth) for name, _, depth in slambook_kinect_frames(root)[:2]]
    return [(name, depth.astype(np.float64)) for name, depth in frames]


def test_real_frames_give_the_torch_image(shared_data):
    """TUM, SUN RGB-D, raw NYU and Kinect frames (with real holes): identical HHA images."""
    frames = real_frames(shared_data)
    assert len(frames) == 5
    for name, depth in frames:
        assert 0.05 < (depth == 0).mean() < 0.5, name  # real holes: the hard windows
        assert_same_hha(*encode_both(depth, PRIMESENSE))


def test_raw_depth_mask_gives_the_torch_image(shared_data):
    """A mask from other (raw) depth than the encoded one: identical images too."""
    (_, depth), (_, other) = real_frames(shared_data)[:2]
    filled = np.where(depth > 0, depth, 2.5)
    assert_same_hha(*encode_both(filled, PRIMESENSE, missing=other == 0))


def synthetic_depth(shape, seed, hole_fraction):
    """Return a tilted noisy plane (1-3 m) with random holes and a few isolated valid pixels."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    depth = 1.0 + 2.0 * rows / shape[0] + 0.3 * cols / shape[1]
    depth += rng.normal(scale=0.01, size=shape)
    depth[rng.random(shape) < hole_fraction] = 0.0
    depth[:shape[0] // 2, :shape[1] // 2] = 0.0  # a large hole: empty 7x7 windows ...
    corner = depth[:shape[0] // 2, :shape[1] // 2]
    corner[::9, ::11] = 1.5                       # ... and windows of one or two pixels
    return depth


@pytest.mark.parametrize('shape', [(60, 80), (25, 9), (9, 30), (5, 3), (1, 1)])
@pytest.mark.parametrize('hole_fraction', [0.0, 0.3, 0.9])
def test_synthetic_frames_give_the_torch_image(shape, hole_fraction):
    """
    Sizes below the 21x21 window, empty and sparse windows: identical images.

    Gravity is given: estimated from a few dozen normals it is ill-conditioned, and the two
    paths sum the wall and floor moments in different orders (compared on real frames).
    """
    depth = synthetic_depth(shape, seed=shape[0] + int(10 * hole_fraction),
                            hole_fraction=hole_fraction)
    depth[0, 0] = 1.0
    intrinsics = Intrinsics(1.2 * shape[1], 1.2 * shape[1], shape[1] / 2.0, shape[0] / 2.0)
    fast, reference = encode_both(depth, intrinsics, gravity=(0.1, 0.9, -0.3))
    assert np.array_equal(fast.image.numpy(), reference.image.numpy())


def test_thread_count_does_not_change_the_image():
    """One thread and all threads (different column chunks) give the same bytes."""
    depth = torch.from_numpy(synthetic_depth((70, 90), seed=5, hole_fraction=0.3))
    intrinsics = Intrinsics(100.0, 100.0, 45.0, 35.0)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = HhaEncoder()(depth, intrinsics)
    finally:
        numba.set_num_threads(threads)
    multi = HhaEncoder()(depth, intrinsics)
    assert np.array_equal(single.image.numpy(), multi.image.numpy())
    assert np.array_equal(single.gravity, multi.gravity)


def test_without_numba_the_torch_path_runs(monkeypatch):
    """A ROS install without python3-numba encodes with the torch kernels."""
    monkeypatch.setattr(hha_module, 'hha_cpu', None)
    encoder = HhaEncoder()
    assert encoder.numba_kernels is None
    depth = torch.from_numpy(synthetic_depth((30, 40), seed=1, hole_fraction=0.1))
    assert encoder(depth, Intrinsics(50.0, 50.0, 20.0, 15.0)).image.shape == (30, 40, 3)


def acos_levels(cosines):
    """Return the angle channel by the formula the thresholds replace (one acos per value)."""
    return np.array([hha_cpu.angle_level(c) for c in cosines])


def lookup_levels(cosines):
    """Return the angle channel by the kernel's table lookup."""
    levels, inside = hha_cpu.angle_lookup()
    return np.array([hha_cpu._level_from_lookup(c, levels, inside) for c in cosines])


def test_angle_thresholds_equal_acos():
    """Random cosines, the ends, each threshold and bucket edge and their neighbours: one level."""
    thresholds = hha_cpu.angle_thresholds()
    assert thresholds.shape == (180,) and (np.diff(thresholds) < 0).all()
    rng = np.random.default_rng(0)
    edges = np.linspace(-1.0, 1.0, hha_cpu.ANGLE_BUCKETS + 1)
    near = np.concatenate([values for points in (thresholds, edges) for values in (
        points, np.nextafter(points, 2.0), np.nextafter(points, -2.0))])
    cosines = np.concatenate([rng.uniform(-1.0, 1.0, 2000), near, [-1.0, 0.0, 1.0]])
    cosines = np.clip(cosines, -1.0, 1.0)
    assert np.array_equal(lookup_levels(cosines), acos_levels(cosines))
    assert acos_levels([1.0, -1.0]).tolist() == [38, 218]
    assert hha_cpu.angle_level(math.cos(math.radians(90.0))) == 128


@pytest.mark.parametrize('width, chunks', [(640, 2), (640, 1), (3, 2), (1, 4), (100, 7)])
def test_column_chunks_cover_the_row_in_order(width, chunks):
    """Boundaries start at 0, end at the width, never decrease; later chunks are narrower."""
    bounds = hha_cpu.column_chunks(width, chunks)
    assert bounds.shape == (chunks + 1,) and bounds[0] == 0 and bounds[-1] == width
    assert (np.diff(bounds) >= 0).all()
    if width >= 10 * chunks and chunks > 1:
        sizes = np.diff(bounds)
        assert (np.diff(sizes) <= 1).all() and sizes[0] > sizes[-1]


def _encode_in_child(queue):
    """Run in a forked child: collect garbage, encode a small frame, report its image sum."""
    import gc

    gc.collect()
    depth = torch.from_numpy(synthetic_depth((30, 40), seed=2, hole_fraction=0.2))
    queue.put(int(HhaEncoder()(depth, Intrinsics(50.0, 50.0, 20.0, 15.0)).image.sum()))


def test_a_process_forked_after_the_kernels_ran_can_use_them():
    """DataLoader-style fork after an encode: the child encodes the same image, no crash."""
    import multiprocessing

    depth = torch.from_numpy(synthetic_depth((30, 40), seed=2, hole_fraction=0.2))
    expected = int(HhaEncoder()(depth, Intrinsics(50.0, 50.0, 20.0, 15.0)).image.sum())
    context = multiprocessing.get_context('fork')
    queue = context.Queue()
    child = context.Process(target=_encode_in_child, args=(queue,))
    child.start()
    child.join(timeout=120)
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0
    assert queue.get(timeout=5) == expected
