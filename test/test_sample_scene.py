"""Tests of the bundled synthetic RGB-D sample sequence (rgbd_perception.tools.sample_scene)."""

import numpy as np
import pytest

from rgbd_perception.tools.sample_scene import sample_frame, sample_sequence, SampleFrame

NUM_FRAMES = 3


@pytest.fixture(scope='module')
def sequence():
    """Return the first three VGA frames of the sample; few, so the tests stay fast."""
    return sample_sequence(NUM_FRAMES)


def heights_above_floor(frame):
    """Back-project the clean depth and return the (H, W) height of every pixel above floor."""
    fx, fy, cx, cy = frame.intrinsics
    z = frame.depth_clean_m.astype(np.float64)
    v, u = np.mgrid[0:z.shape[0], 0:z.shape[1]]
    points = np.stack([(u - cx) / fx * z, (v - cy) / fy * z, z], axis=-1)
    # Gravity points down, so moving along +gravity lowers the height.
    return frame.camera_height_m - points @ frame.gravity_camera


def assert_frames_equal(a, b):
    """Assert that two frames hold bit-identical data."""
    assert a.index == b.index
    assert a.intrinsics == b.intrinsics
    assert a.camera_height_m == b.camera_height_m
    for name in ('rgb', 'depth_mm', 'depth_clean_m', 'gravity_camera'):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_deterministic(sequence):
    """The same arguments give bit-identical frames, also between sample_frame and sequence."""
    assert_frames_equal(sample_frame(1, NUM_FRAMES), sample_frame(1, NUM_FRAMES))
    for frame in sequence:
        assert_frames_equal(sample_frame(frame.index, NUM_FRAMES), frame)


def test_frames_differ(sequence):
    """Different frame indices show the scene from different poses."""
    for a, b in zip(sequence, sequence[1:]):
        assert not np.array_equal(a.rgb, b.rgb)
        assert np.abs(a.depth_clean_m - b.depth_clean_m).mean() > 0.01
        assert not np.allclose(a.gravity_camera, b.gravity_camera)


def test_seed_only_changes_holes():
    """The seed moves the random holes of the raw depth but not the rendered scene."""
    a, b = sample_frame(0, NUM_FRAMES, seed=0), sample_frame(0, NUM_FRAMES, seed=1)
    np.testing.assert_array_equal(a.rgb, b.rgb)
    np.testing.assert_array_equal(a.depth_clean_m, b.depth_clean_m)
    assert not np.array_equal(a.depth_mm, b.depth_mm)


def test_shapes_and_dtypes(sequence):
    """Arrays have the documented shapes and dtypes, intrinsics the documented values."""
    for i, frame in enumerate(sequence):
        assert isinstance(frame, SampleFrame)
        assert frame.index == i
        assert frame.rgb.shape == (480, 640, 3) and frame.rgb.dtype == np.uint8
        assert frame.depth_mm.shape == (480, 640) and frame.depth_mm.dtype == np.uint16
        assert frame.depth_clean_m.shape == (480, 640)
        assert frame.depth_clean_m.dtype == np.float32
        assert frame.gravity_camera.shape == (3,) and frame.gravity_camera.dtype == np.float64
        assert frame.intrinsics == (525.0, 525.0, 319.5, 239.5)
        assert 1.2 <= frame.camera_height_m <= 1.6


def test_other_image_size_scales_intrinsics():
    """A QVGA frame has halved intrinsics (pixel-centre convention) and consistent geometry."""
    frame = sample_frame(0, NUM_FRAMES, width=320, height=240)
    assert frame.rgb.shape == (240, 320, 3) and frame.depth_mm.shape == (240, 320)
    np.testing.assert_allclose(frame.intrinsics, (262.5, 262.5, 159.5, 119.5))
    assert heights_above_floor(frame).min() > -0.02


def test_image_is_textured(sequence):
    """The colour image is not flat: many distinct colours and visible contrast."""
    for frame in sequence:
        assert frame.rgb.std() > 15.0
        assert len(np.unique(frame.rgb.reshape(-1, 3), axis=0)) > 500


def test_depth_ranges(sequence):
    """Raw depth has holes but is mostly valid; clean depth has none and a sane range."""
    for frame in sequence:
        valid = frame.depth_mm > 0
        assert not valid.all()
        assert valid.mean() > 0.8
        assert frame.depth_clean_m.min() > 0.3
        assert frame.depth_clean_m.max() < 10.0
        assert frame.depth_mm.max() <= 5000


def test_raw_depth_matches_clean(sequence):
    """Where the raw depth is valid it equals the clean depth rounded to millimetres."""
    for frame in sequence:
        valid = frame.depth_mm > 0
        clean_mm = frame.depth_clean_m[valid].astype(np.float64) * 1000.0
        assert np.abs(frame.depth_mm[valid] - clean_mm).max() <= 1.0


def test_raw_depth_drops_edges_and_far_range(sequence):
    """Pixels beyond 5 m and both sides of > 5 % depth jumps are missing in the raw depth."""
    for frame in sequence:
        z, raw = frame.depth_clean_m, frame.depth_mm
        assert np.all(raw[z > 5.0] == 0)
        jump = np.abs(np.diff(z, axis=1)) > 0.05 * np.minimum(z[:, 1:], z[:, :-1])
        assert jump.sum() > 100
        assert np.all(raw[:, 1:][jump] == 0) and np.all(raw[:, :-1][jump] == 0)


def test_gravity(sequence):
    """Gravity is a unit vector pointing mostly down-forward in the image, with a small roll."""
    for frame in sequence:
        g = frame.gravity_camera
        assert np.linalg.norm(g) == pytest.approx(1.0, abs=1e-12)
        # Pitched down 20-35 degrees: gravity has a positive forward (z) component.
        assert np.degrees(np.arcsin(g[2])) == pytest.approx(27.5, abs=7.5)
        assert g[1] > 0.8
    assert max(abs(frame.gravity_camera[0]) for frame in sequence) > 0.01


def test_floor_is_at_height_zero(sequence):
    """Back-projected points never go below the floor and the lowest ones lie on it."""
    for frame in sequence:
        h = heights_above_floor(frame)
        assert h.min() > -0.02
        assert abs(np.percentile(h, 5)) < 0.02
        assert (np.abs(h) < 0.01).mean() > 0.2  # a large part of the image sees the floor


def test_table_top_height(sequence):
    """A sizeable part of the image sees the 0.75 m high, level table top."""
    for frame in sequence:
        h = heights_above_floor(frame)
        assert (np.abs(h - 0.75) < 0.01).mean() > 0.05
