"""HHA exactness against the original MATLAB output on a real NYU Depth v2 frame."""

import cv2
import numpy as np
import pytest

from rgbd_perception.cli import main
from rgbd_perception.geometry import box_filter, normals
from rgbd_perception.geometry.camera import Intrinsics
from rgbd_perception.io.images import read_rgb
from rgbd_perception.stages.hha import HhaStage

# NYU Depth v2 colour camera as the toolbox and the reference MATLAB code give it (1-based),
# and the same camera in the OpenCV / ROS convention (cx, cy 1 smaller), as typed by a user.
NYU_NUMBERS = ('518.85790117450188', '519.46961112127485', '325.58244941119034',
               '253.73616633400465')
NYU_ZERO_BASED_NUMBERS = ('518.85790117450188', '519.46961112127485', '324.58244941119034',
                          '252.73616633400465')
NYU = Intrinsics(*(float(v) for v in NYU_NUMBERS), pixel_origin=1)
NYU_DEPTH_SCALE = 1e-4  # the reference PNGs store 0.1 mm units


@pytest.fixture
def reference(shared_data):
    """Return (filled depth uint16, raw depth uint16, MATLAB HHA (H, W, 3) RGB uint8)."""
    folder = shared_data('hha_reference')
    depth = cv2.imread(str(folder / '0.png'), cv2.IMREAD_UNCHANGED)
    raw = cv2.imread(str(folder / '0_raw.png'), cv2.IMREAD_UNCHANGED)
    matlab = cv2.cvtColor(cv2.imread(str(folder / 'matlab_hha.png')), cv2.COLOR_BGR2RGB)
    return depth, raw, matlab


def test_matches_matlab_pixel_for_pixel(reference):
    """Every pixel of every channel equals the MATLAB HHA (mask from the depth itself)."""
    depth, _, matlab = reference
    hha = HhaStage(device='cpu')(depth, NYU, depth_scale=NYU_DEPTH_SCALE)
    assert hha.dtype == np.uint8 and hha.shape == matlab.shape
    assert np.array_equal(hha, matlab)


def test_raw_depth_mask_changes_the_angle_channel(reference):
    """With the raw Kinect zeros as the mask, about half of the pixels differ (README)."""
    depth, raw, matlab = reference
    hha = HhaStage(device='cpu')(depth, NYU, raw_depth=raw, depth_scale=NYU_DEPTH_SCALE)
    differs = (hha != matlab).any(axis=-1).mean()
    assert 0.3 < differs < 0.7
    assert np.array_equal(hha[..., 0], matlab[..., 0])  # disparity does not use the mask


def test_cumsum_box_filter_gives_the_same_image(reference, monkeypatch):
    """The torch path with the CUDA box sums (prefix sums), run on the CPU, reproduces MATLAB."""
    depth, _, matlab = reference
    monkeypatch.setattr(normals, 'box_sum', box_filter.box_sum_cumsum)
    hha = HhaStage(device='cpu', use_numba=False)(depth, NYU, depth_scale=NYU_DEPTH_SCALE)
    assert np.array_equal(hha, matlab)


def test_given_gravity_is_used(reference):
    """A fixed gravity skips the estimate; the estimated one reproduces the reference."""
    depth, _, matlab = reference
    stage = HhaStage(device='cpu')
    stage(depth, NYU, depth_scale=NYU_DEPTH_SCALE)
    estimated = stage.last_gravity
    assert estimated[1] > 0.9  # camera roughly upright: gravity points down the image
    fixed = HhaStage(device='cpu', gravity=estimated)(depth, NYU, depth_scale=NYU_DEPTH_SCALE)
    assert np.array_equal(fixed, matlab)
    tilted = HhaStage(device='cpu', gravity=[0.0, 0.8, 0.6])(
        depth, NYU, depth_scale=NYU_DEPTH_SCALE)
    assert not np.array_equal(tilted[..., 1:], matlab[..., 1:])


@pytest.mark.slow
def test_compiled_kernels_match_matlab(reference):
    """torch.compile'd per-pixel kernels give the same exact image on the CPU."""
    pytest.importorskip('torch._inductor')
    depth, _, matlab = reference
    hha = HhaStage(device='cpu', compile_kernels=True)(depth, NYU, depth_scale=NYU_DEPTH_SCALE)
    assert np.array_equal(hha, matlab)


@pytest.mark.cuda
def test_cuda_matches_matlab(reference):
    """The CUDA path reproduces the MATLAB HHA as well."""
    depth, _, matlab = reference
    hha = HhaStage(device='cuda')(depth, NYU, depth_scale=NYU_DEPTH_SCALE)
    assert np.array_equal(hha, matlab)


def test_float_metres_input_equals_uint16_input(reference):
    """Depth given as float64 metres gives the same image as uint16 with a scale."""
    depth, _, matlab = reference
    metres = depth.astype(np.float64) * NYU_DEPTH_SCALE
    assert np.array_equal(HhaStage(device='cpu')(metres, NYU), matlab)


def test_missing_pixels_get_saturated_disparity():
    """Zero depth -> disparity 255 (31000 / 100 cm saturates), as in the reference."""
    depth = np.full((40, 50), 2000, np.uint16)
    depth[10:20, 10:20] = 0
    hha = HhaStage(device='cpu')(depth, Intrinsics(50.0, 50.0, 25.0, 20.0))
    assert (hha[10:20, 10:20, 0] == 255).all()
    assert (hha[30:, 30:, 0] == round(31000 / 200)).all()


def cli_hha(folder, out_dir, *options):
    """Run ``rgbd-perception hha`` on the reference depth; return the written (H, W, 3) RGB."""
    assert main(['hha', '--depth', str(folder / '0.png'), '--out-dir', str(out_dir),
                 '--depth-scale', str(NYU_DEPTH_SCALE), '--device', 'cpu', *options]) == 0
    return read_rgb(out_dir / '0.png')


@pytest.mark.parametrize('options', [
    ['--intrinsics', *NYU_NUMBERS, '--pixel-origin', '1'],
    ['--intrinsics', *NYU_ZERO_BASED_NUMBERS],
    ['--intrinsics', *NYU_ZERO_BASED_NUMBERS, '--pixel-origin', '0'],
], ids=['matlab_numbers', 'zero_based_default', 'zero_based_explicit'])
def test_cli_matches_matlab_in_either_convention(reference, shared_data, tmp_path, options):
    """The CLI reproduces MATLAB from its 1-based numbers and from the 0-based calibration."""
    _, _, matlab = reference
    assert np.array_equal(cli_hha(shared_data('hha_reference'), tmp_path, *options), matlab)


def test_cli_reads_intrinsics_as_zero_based_by_default(reference, shared_data, tmp_path):
    """Without --pixel-origin 1, MATLAB's numbers are a camera shifted by one pixel."""
    _, _, matlab = reference
    hha = cli_hha(shared_data('hha_reference'), tmp_path, '--intrinsics', *NYU_NUMBERS)
    assert np.array_equal(hha[..., 0], matlab[..., 0])  # disparity ignores the intrinsics
    assert not np.array_equal(hha, matlab)


@pytest.mark.ros
@pytest.mark.timeout(180)
def test_node_with_zero_based_camera_info_matches_matlab(reference, context, make_client):
    """
    hha_node given camera_info K = NYU minus 1 in cx, cy (ROS convention) publishes MATLAB's HHA.

    The depth travels as 64FC1 metres (value / 10000 in float64, as the reference computed
    it); 32FC1 would round it.
    """
    from ros_harness import image_message, info_message, make_node
    from sensor_msgs.msg import Image

    from rgbd_perception.ros.hha_node import HhaNode
    from rgbd_perception.io.ros_messages import image_to_numpy

    depth, _, matlab = reference
    node = make_node(HhaNode, context, '/hha_reference')
    client = make_client('/hha_reference', [node], outputs={'hha/image': Image})
    client.wait_matched()
    metres = depth.astype(np.float64) * NYU_DEPTH_SCALE
    zero_based = [float(v) for v in NYU_ZERO_BASED_NUMBERS]
    size = (depth.shape[1], depth.shape[0])
    # Resend with a newer stamp until one frame comes back (best-effort transport).
    for attempt in range(1, 6):
        client.publish('depth/image_raw', image_message(metres, '64FC1', attempt))
        client.publish('depth/camera_info', info_message(zero_based, size, attempt))
        if client.spin_until(lambda: client.messages('hha/image'), 10.0):
            break
    client.wait_for('hha/image')
    assert np.array_equal(image_to_numpy(client.messages('hha/image')[0], ['rgb8']), matlab)
