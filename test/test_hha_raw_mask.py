"""
HHA with the missing-pixel mask of raw depth: each rounding-decided fit against the reference.

The oracle is test/matlab_normals.py, MATLAB's computeNormalsSquareSupport re-derived in
numpy. Windows whose valid pixels lie on one image line have singular normal equations,
so their "normal" is rounding noise: only the reference's own terms, summed in its order,
give its value. Each kind of such window is tested on its own on a synthetic frame, then
everything on a real NYU frame with its raw depth.
"""

from matlab_normals import matlab_normals
import numpy as np
import pytest
import torch

from rgbd_perception.geometry.box_filter import box_sum
from rgbd_perception.geometry.camera import Intrinsics
from rgbd_perception.geometry.hha import FitRays, GRAVITY_NORMAL_RADIUS, HhaEncoder, \
    TorchHhaKernels
from rgbd_perception.geometry.normals import oriented_normals, window_sums
from rgbd_perception.stages.depth_input import depth_to_metres
from rgbd_perception.stages.hha import HhaStage

NYU = Intrinsics(518.85790117450188, 519.46961112127485, 325.58244941119034,
                 253.73616633400465, pixel_origin=1)
SMALL = Intrinsics(80.37, 80.91, 50.73, 40.29, pixel_origin=1)
#: Normals agree to an ulp: torch's float64 sqrt is not always correctly rounded.
ULP = 4e-16


def synthetic_raw_frame():
    """
    Return (filled depth m, missing mask, {kind: (rows, cols)}) of an 80 x 100 tilted plane.

    Holes are cut so that 7x7 windows hold valid pixels of one kind only: one row (below a
    hole's straight top edge), one column (beside its left edge), a diagonal line, two
    pixels, one pixel, none.
    """
    height, width = 80, 100
    v, u = np.mgrid[0:height, 0:width]
    depth = (150.0 + 0.8 * u + 0.5 * v + 0.01 * (u * v % 7)) / 100.0
    missing = np.zeros((height, width), bool)
    missing[20:45, 15:40] = True            # hole A: straight top and left edges
    missing[50:76, 50:95] = True            # hole B: a diagonal line of valid pixels inside
    for k in range(15):
        missing[55 + k, 60 + k] = False
    missing[2:17, 50:95] = True             # hole C: islands of two pixels and of one
    missing[8, 62] = missing[9, 64] = False
    missing[9, 85] = False
    kinds = {'one row': ([22] * 15, list(range(19, 34))),
             'one column': (list(range(25, 40)), [17] * 15),
             'diagonal line': ([58 + k for k in range(8)], [59 + k for k in range(8)]),
             'two pixels': ([8, 9, 10], [63, 63, 64]),
             'one pixel': ([8, 9, 10], [85, 86, 84]),
             'no pixel': ([30, 32, 40], [25, 28, 30])}
    return depth, missing, kinds


def torch_normals(depth_m, missing, camera, radius):
    """Return the torch path's (3, H, W) oriented normals of a (2r+1)^2 window, as numpy."""
    depth = torch.from_numpy(depth_m)
    depth_cm, a, b, planes, reference = TorchHhaKernels().fit_inputs(
        depth, torch.from_numpy(missing), FitRays.of(camera, depth_m.shape, 'cpu'))
    points = torch.stack((a * depth_cm, b * depth_cm, depth_cm))
    return oriented_normals(window_sums(planes, radius, reference), points).numpy()


def reference_normals(depth_m, missing, camera, radius):
    """Return the oracle's normals of the same frame (MATLAB's arithmetic and order)."""
    return matlab_normals(depth_m * 100, missing, radius, camera.cx, camera.cy, camera.fx,
                          camera.fy)


def angle_levels(normals, gravity):
    """Return the reference angle channel: uint8(acosd(clamp(n . g)) + 128 - 90), NaN -> 180."""
    cosine = np.einsum('chw,c->hw', normals, gravity)
    degrees = np.degrees(np.arccos(np.clip(np.nan_to_num(cosine, nan=-1.0), -1.0, 1.0)))
    return np.clip(np.floor(degrees + 38.0 + 0.5), 0, 255).astype(np.uint8)


@pytest.mark.parametrize('kind', ['one row', 'one column', 'diagonal line', 'two pixels',
                                  'one pixel', 'no pixel'])
def test_each_rounding_decided_window_follows_the_reference(kind):
    """Each kind of degenerate 7x7 window: the reference's normal (or NaN) and angle level."""
    depth, missing, kinds = synthetic_raw_frame()
    rows, cols = kinds[kind]
    expected = reference_normals(depth, missing, SMALL, 3)[:, rows, cols]
    found = torch_normals(depth, missing, SMALL, 3)[:, rows, cols]
    if kind == 'no pixel':
        assert np.isnan(expected).all() and np.isnan(found).all()
    else:  # even one pixel: its singular equations still round to some "normal"
        assert not np.isnan(expected).any()
        np.testing.assert_allclose(found, expected, rtol=0, atol=ULP)
    gravity = np.array([0.05, 0.99, -0.12]) / np.linalg.norm([0.05, 0.99, -0.12])
    levels = angle_levels(reference_normals(depth, missing, SMALL, 3), gravity)
    for use_numba in (True, False):
        image = HhaEncoder(use_numba=use_numba)(
            torch.from_numpy(depth), SMALL, missing=torch.from_numpy(missing),
            gravity=gravity).image.numpy()
        assert np.array_equal(image[rows, cols, 2], levels[rows, cols]), use_numba


def test_running_sums_would_miss_the_reference_on_one_row():
    """The rule matters: box sums of the slope terms give other noise on one-row windows."""
    depth, missing, kinds = synthetic_raw_frame()
    rows, cols = kinds['one row']
    depth_cm, a, b, planes, _ = TorchHhaKernels().fit_inputs(
        torch.from_numpy(depth), torch.from_numpy(missing), FitRays.of(SMALL, depth.shape, 'cpu'))
    points = torch.stack((a * depth_cm, b * depth_cm, depth_cm))
    running = oriented_normals(box_sum(planes, 3), points).numpy()[:, rows, cols]
    expected = reference_normals(depth, missing, SMALL, 3)[:, rows, cols]
    assert np.abs(running - expected).max() > 1e-3


def test_gravity_normals_of_degenerate_windows_follow_the_reference():
    """The numba 21x21 fits (sign-free, NaN as 0) equal the reference on sparse windows."""
    hha_cpu = pytest.importorskip('rgbd_perception.geometry.hha_cpu')
    depth, missing, _ = synthetic_raw_frame()
    kernels = HhaEncoder().numba_kernels
    inputs = kernels.fit_inputs(torch.from_numpy(depth), torch.from_numpy(missing),
                                FitRays.of(SMALL, depth.shape, 'cpu'))
    flat = np.asarray(kernels.gravity_normals(inputs)[0]).reshape(3, *depth.shape)
    expected = np.nan_to_num(reference_normals(depth, missing, SMALL, GRAVITY_NORMAL_RADIUS))
    count = box_sum(torch.from_numpy((~missing).astype(np.float64))[None],
                    GRAVITY_NORMAL_RADIUS)[0].numpy()
    sparse = count <= 2 * GRAVITY_NORMAL_RADIUS + 1
    assert sparse.sum() > 100 and hha_cpu is not None
    signs = np.where((flat * expected).sum(0) < 0, -1.0, 1.0)  # these fits are unoriented
    assert np.array_equal((flat * signs)[:, sparse], expected[:, sparse])


def test_uint16_depth_is_divided_as_matlab_does():
    """Millimetres / 1000 (and 1 / 5000, 1 / 10000 units): MATLAB's double(D) / N, not * scale."""
    raw = np.array([[1234, 4097, 65535, 7]], dtype=np.uint16)
    for scale, per_metre in ((0.001, 1000), (0.0002, 5000), (0.0001, 10000)):
        assert np.array_equal(depth_to_metres(raw, scale), raw.astype(np.float64) / per_metre)
    assert depth_to_metres(np.array([[1234]], np.uint16), 0.001)[0, 0] == 1.234
    assert depth_to_metres(np.array([[3]], np.uint16), 0.3)[0, 0] == 3 * 0.3


def test_real_nyu_frame_with_its_raw_depth_follows_the_reference(shared_data):
    """hha_reference 0.png with 0_raw.png: the fits equal the reference's, the image too."""
    import cv2

    folder = shared_data('hha_reference')
    filled = cv2.imread(str(folder / '0.png'), cv2.IMREAD_UNCHANGED)
    raw = cv2.imread(str(folder / '0_raw.png'), cv2.IMREAD_UNCHANGED)
    depth, missing = depth_to_metres(filled, 1e-4), raw == 0
    expected = reference_normals(depth, missing, NYU, 3)
    found = torch_normals(depth, missing, NYU, 3)
    count = box_sum(torch.from_numpy((~missing).astype(np.float64))[None], 3)[0].numpy()
    sparse = count <= 7
    assert sparse.sum() > 10000  # holes: many rounding-decided windows
    np.testing.assert_allclose(found[:, sparse], expected[:, sparse], rtol=0, atol=ULP)
    np.testing.assert_allclose(found[:, ~sparse], expected[:, ~sparse], rtol=0, atol=1e-5)
    stage = HhaStage(device='cpu')
    image = stage(filled, NYU, raw_depth=raw, depth_scale=1e-4)
    gravity = stage.last_gravity
    levels = angle_levels(expected, gravity)
    assert (image[..., 2] == levels).mean() > 0.9999
