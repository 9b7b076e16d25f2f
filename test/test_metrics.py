"""Tests for training.metrics against hand-computed values and brute-force references."""

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
import torch

from training.metrics import (add, add_s_accuracy, adds, depth_metrics, geodesic_distance_deg,
                              mean_euler_error_deg, pose_add_or_adds, rotation_error_deg,
                              top1_accuracy, translation_error)

# pred [1, 2, 4], gt [1, 1, 2] metres: diff [0, 1, 2], ratio max(p/g, g/p) = [1, 2, 2],
# inverse depth 1000 / d in 1/km: pred [1000, 500, 250], gt [1000, 1000, 500], diff
# [0, -500, -250].
HAND_PRED = [[1.0, 2.0, 4.0]]
HAND_GT = [[1.0, 1.0, 2.0]]
HAND_METRICS = {
    'rmse': math.sqrt((0 + 1 + 4) / 3),
    'mae': (0 + 1 + 2) / 3,
    'irmse': math.sqrt((0 + 500 ** 2 + 250 ** 2) / 3),
    'imae': (0 + 500 + 250) / 3,
    'abs_rel': (0 / 1 + 1 / 1 + 2 / 2) / 3,
    'sq_rel': (0 / 1 + 1 / 1 + 4 / 2) / 3,
    'rmse_log': math.sqrt((0 + math.log(2) ** 2 + math.log(2) ** 2) / 3),
    # Only the first ratio (1) is below 1.25, 1.5625 and 1.953125; 2 is above all three.
    'delta1': 1 / 3,
    'delta2': 1 / 3,
    'delta3': 1 / 3,
    'count': 3,
}


def assert_metrics(metrics, expected):
    """Assert every expected key of ``metrics`` matches to 1e-12 relative."""
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name


def rotation_z(angle_deg):
    """Return the (3, 3) rotation by ``angle_deg`` about z, written out by hand."""
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


# --- depth ------------------------------------------------------------------------------

def test_depth_metrics_hand_computed():
    """All metrics on pred [1, 2, 4] vs gt [1, 1, 2] match the arithmetic above."""
    metrics = depth_metrics(np.array(HAND_PRED), np.array(HAND_GT))
    assert set(metrics) == set(HAND_METRICS)
    assert_metrics(metrics, HAND_METRICS)
    assert isinstance(metrics['rmse'], float) and isinstance(metrics['count'], int)


def test_depth_metrics_accept_torch_tensors():
    """Torch float32 inputs give the numpy float64 values (all inputs are exact in float32)."""
    metrics = depth_metrics(torch.tensor(HAND_PRED), torch.tensor(HAND_GT))
    assert_metrics(metrics, HAND_METRICS)


def test_invalid_and_masked_pixels_are_excluded():
    """Ground truth 0, NaN, inf and mask-False pixels drop out, leaving the hand-computed three."""
    pred = np.array([HAND_PRED[0], [7.0, 8.0, 9.0], [5.0, 5.0, 5.0]])
    gt = np.array([HAND_GT[0], [0.0, np.nan, np.inf], [1.0, 2.0, 3.0]])
    mask = np.array([[True] * 3, [True] * 3, [False] * 3])
    assert_metrics(depth_metrics(pred, gt, mask=mask), HAND_METRICS)
    assert_metrics(depth_metrics(torch.tensor(pred), torch.tensor(gt), mask=torch.tensor(mask)),
                   HAND_METRICS)


def test_batch_pools_pixels_over_images():
    """(N, H, W): metrics pool pixels; one exact image and the hand image give mae 3 / 6."""
    pred = np.array([HAND_PRED, [[3.0, 3.0, 3.0]]])
    gt = np.array([HAND_GT, [[3.0, 3.0, 3.0]]])
    metrics = depth_metrics(pred, gt)
    # Absolute errors [0, 1, 2, 0, 0, 0]; squared [0, 1, 4, 0, 0, 0].
    assert_metrics(metrics, {'mae': 3 / 6, 'rmse': math.sqrt(5 / 6), 'count': 6})


def test_delta_thresholds_are_strict_at_the_boundary():
    """Ratios exactly 1.25 and 1.5625 (= 1.25^2, exact in binary) are not below their bound."""
    # ratios: 1.25 / 1 = 1.25, 1.5625 / 1 = 1.5625, gt / pred = 1.25 / 1 = 1.25.
    metrics = depth_metrics(np.array([[1.25, 1.5625, 1.0]]), np.array([[1.0, 1.0, 1.25]]))
    # delta1: none < 1.25; delta2: 1.25, 1.25 < 1.5625; delta3: all < 1.953125.
    assert_metrics(metrics, {'delta1': 0.0, 'delta2': 2 / 3, 'delta3': 1.0})


def test_nonpositive_prediction_is_clamped_to_min_depth():
    """Prediction -1 becomes min_depth 1e-3: abs_rel ((1 - 0.001) / 1 + 0) / 2, all finite."""
    metrics = depth_metrics(np.array([[-1.0, 2.0]]), np.array([[1.0, 2.0]]))
    assert metrics['abs_rel'] == pytest.approx((1 - 0.001) / 2, rel=1e-12)
    # inverse: 1000 / 0.001 - 1000 / 1 = 999000 1/km on one of two pixels.
    assert metrics['imae'] == pytest.approx(999000 / 2, rel=1e-12)
    assert all(math.isfinite(value) for value in metrics.values())


def test_max_depth_excludes_far_gt_and_clamps_pred():
    """Ground truth 10 > max_depth 5 drops out; pred 9 clamps to 5: mae (0 + 3) / 2 = 1.5."""
    metrics = depth_metrics(np.array([[1.0, 9.0, 20.0]]), np.array([[1.0, 2.0, 10.0]]),
                            max_depth=5.0)
    assert_metrics(metrics, {'mae': 1.5, 'count': 2})


@pytest.mark.parametrize('alignment', ['median', 'least_squares_scale',
                                       'least_squares_scale_shift'])
def test_scaled_prediction_has_zero_error_after_alignment(alignment):
    """Prediction 2 gt: rmse 0 after any alignment, but rmse = rms(gt) without it."""
    gt = np.array([[1.0, 2.0, 3.0, 4.0]])
    # Without alignment: diff = gt, rmse = sqrt((1 + 4 + 9 + 16) / 4).
    assert depth_metrics(2 * gt, gt)['rmse'] == pytest.approx(math.sqrt(30 / 4), rel=1e-12)
    metrics = depth_metrics(2 * gt, gt, alignment=alignment)
    assert metrics['rmse'] == pytest.approx(0.0, abs=1e-12)
    assert metrics['delta1'] == 1.0


def test_scale_shift_recovers_affine_prediction():
    """Prediction 0.5 gt + 1 is undone only by scale-and-shift alignment."""
    gt = np.array([[1.0, 2.0, 3.0, 5.0]])
    pred = 0.5 * gt + 1.0
    assert depth_metrics(pred, gt, alignment='least_squares_scale_shift')['rmse'] == \
        pytest.approx(0.0, abs=1e-12)
    assert depth_metrics(pred, gt, alignment='least_squares_scale')['rmse'] > 0.1


def test_median_and_least_squares_scale_hand_computed():
    """Prediction [1, 2, 4], gt [1, 1, 2]: median scale 1/2, least-squares scale 11/21."""
    pred, gt = np.array(HAND_PRED), np.array(HAND_GT)
    # median: s = median(gt) / median(pred) = 1 / 2 -> [0.5, 1, 2], diff [-0.5, 0, 0].
    median = depth_metrics(pred, gt, alignment='median')
    assert median['rmse'] == pytest.approx(math.sqrt(0.25 / 3), rel=1e-12)
    # least squares: s = <p, g> / <p, p> = (1 + 2 + 8) / (1 + 4 + 16) = 11 / 21.
    scale = 11 / 21
    diff = [scale * 1 - 1, scale * 2 - 1, scale * 4 - 2]
    least_squares = depth_metrics(pred, gt, alignment='least_squares_scale')
    assert least_squares['mae'] == pytest.approx(sum(map(abs, diff)) / 3, rel=1e-12)


def test_alignment_is_fitted_per_image():
    """Images scaled by 2 and by 3 both align exactly; one shared scale could not do that."""
    gt = np.array([[[1.0, 2.0]], [[3.0, 4.0]]])
    pred = gt * np.array([2.0, 3.0])[:, None, None]
    assert depth_metrics(pred, gt, alignment='median')['rmse'] == pytest.approx(0.0, abs=1e-12)


def test_depth_errors_are_raised():
    """Shape mismatch, bad mask, no valid pixel, 1-D input and an unknown alignment raise."""
    gt = np.ones((2, 3))
    with pytest.raises(ValueError, match='shape'):
        depth_metrics(np.ones((3, 2)), gt)
    with pytest.raises(ValueError, match='shape'):
        depth_metrics(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match='mask'):
        depth_metrics(gt, gt, mask=np.ones((3, 2), dtype=bool))
    with pytest.raises(ValueError, match='no valid'):
        depth_metrics(gt, np.array([[0.0, np.nan, -1.0], [0.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match='no valid'):
        depth_metrics(gt, gt, mask=np.zeros((2, 3), dtype=bool))
    with pytest.raises(ValueError, match='alignment'):
        depth_metrics(gt, gt, alignment='mean')


# --- pose -------------------------------------------------------------------------------

SQUARE = np.array([[1.0, 1.0, 0.0], [-1.0, 1.0, 0.0], [-1.0, -1.0, 0.0], [1.0, -1.0, 0.0]])


def test_add_of_pure_translation_offset():
    """Identity vs a 0.1 translation: every point moves 0.1, so ADD and te are both 0.1."""
    identity, zero = np.eye(3), np.zeros(3)
    offset = np.array([0.0, 0.1, 0.0])
    assert add(identity, offset, identity, zero, SQUARE) == pytest.approx(0.1, rel=1e-12)
    assert translation_error(offset, zero) == pytest.approx(0.1, rel=1e-12)


def test_symmetric_square_rotated_180_about_z():
    """(x, y) -> (-x, -y): each corner moves 2 sqrt(2) (ADD) yet lands on a corner (ADD-S 0)."""
    identity, zero = np.eye(3), np.zeros(3)
    flipped = rotation_z(180.0)
    assert add(flipped, zero, identity, zero, SQUARE) == pytest.approx(2 * math.sqrt(2))
    assert adds(flipped, zero, identity, zero, SQUARE) == pytest.approx(0.0, abs=1e-12)
    assert pose_add_or_adds(flipped, zero, identity, zero, SQUARE, symmetric=False) == \
        pytest.approx(2 * math.sqrt(2))
    assert pose_add_or_adds(flipped, zero, identity, zero, SQUARE, symmetric=True) == \
        pytest.approx(0.0, abs=1e-12)


def test_pose_metrics_accept_torch_tensors():
    """Torch rotation, translation and points give the numpy result."""
    zero = torch.zeros(3, dtype=torch.float64)
    value = add(torch.tensor(rotation_z(180.0)), zero, torch.eye(3), zero, torch.tensor(SQUARE))
    assert value == pytest.approx(2 * math.sqrt(2))


@pytest.mark.parametrize('seed', range(3))
def test_add_and_adds_match_brute_force(seed):
    """ADD and ADD-S equal an O(N^2) numpy reference (BOP direction: mean over gt points)."""
    rng = np.random.default_rng(seed)
    points = rng.standard_normal((300, 3))
    rotation_est, rotation_gt = Rotation.random(2, random_state=seed).as_matrix()
    translation_est, translation_gt = rng.standard_normal((2, 3))
    posed_est = points @ rotation_est.T + translation_est
    posed_gt = points @ rotation_gt.T + translation_gt
    pairwise = np.linalg.norm(posed_gt[:, None, :] - posed_est[None, :, :], axis=2)
    expected_add = np.mean(np.linalg.norm(posed_est - posed_gt, axis=1))
    expected_adds = pairwise.min(axis=1).mean()
    args = (rotation_est, translation_est, rotation_gt, translation_gt, points)
    assert add(*args) == pytest.approx(expected_add, rel=1e-12)
    assert adds(*args) == pytest.approx(expected_adds, rel=1e-12)
    # The opposite direction (mean over estimated points) differs, so the check pins BOP's.
    assert adds(*args) != pytest.approx(pairwise.min(axis=0).mean(), rel=1e-9)


@pytest.mark.parametrize('angle', [0.0, 30.0, 90.0, 180.0])
def test_rotation_error_of_known_angle(angle):
    """A rotation by ``angle`` about z is ``angle`` from identity in both forms."""
    assert rotation_error_deg(rotation_z(angle), np.eye(3)) == pytest.approx(angle, abs=1e-6)
    assert geodesic_distance_deg(rotation_z(angle), np.eye(3)) == pytest.approx(angle, abs=1e-6)


def test_geodesic_forms_agree_on_random_rotations():
    """The arccos and 2 asin forms agree with each other and with scipy's magnitude."""
    rotations_est = Rotation.random(50, random_state=7)
    rotations_gt = Rotation.random(50, random_state=8)
    expected = np.degrees((rotations_est.inv() * rotations_gt).magnitude())
    for rotation_est, rotation_gt, angle in zip(rotations_est.as_matrix(),
                                                rotations_gt.as_matrix(), expected):
        assert rotation_error_deg(rotation_est, rotation_gt) == pytest.approx(angle, abs=1e-6)
        assert geodesic_distance_deg(rotation_est, rotation_gt) == pytest.approx(angle, abs=1e-9)


def test_geodesic_distance_keeps_precision_for_tiny_angles():
    """A 1e-6 degree rotation is resolved to 1e-6 relative by the asin form."""
    assert geodesic_distance_deg(rotation_z(1e-6), np.eye(3)) == pytest.approx(1e-6, rel=1e-6)


def test_euler_error_wraps_around():
    """Extrinsic xyz angles (179, 21, -179) vs (-179, 19, 179): each differs by 2 deg, not 358."""
    rotation_est = Rotation.from_euler('xyz', [179.0, 21.0, -179.0], degrees=True).as_matrix()
    rotation_gt = Rotation.from_euler('xyz', [-179.0, 19.0, 179.0], degrees=True).as_matrix()
    assert mean_euler_error_deg(rotation_est, rotation_gt) == pytest.approx(2.0, abs=1e-9)


def test_euler_error_of_single_axis_rotation_and_batch():
    """30 degrees about z: errors (0, 0, 30) -> mean 10; a batch of it twice is still 10."""
    assert mean_euler_error_deg(rotation_z(30.0), np.eye(3)) == pytest.approx(10.0, abs=1e-9)
    batch_est = np.stack([rotation_z(30.0)] * 2)
    batch_gt = np.stack([np.eye(3)] * 2)
    assert mean_euler_error_deg(batch_est, batch_gt) == pytest.approx(10.0, abs=1e-9)


def test_add_s_accuracy_counts_strictly_below_threshold():
    """Diameter 10, threshold 0.1 -> bound 1.0: errors 0.5 pass, 1.0 and 1.5 do not."""
    assert add_s_accuracy([0.5, 1.0, 1.5], 10.0) == pytest.approx(1 / 3)
    # Per-pose diameters [10, 20, 10]: bounds [1, 2, 1] -> 0.5 and 1.0 pass.
    assert add_s_accuracy(np.array([0.5, 1.0, 1.5]), np.array([10.0, 20.0, 10.0])) == \
        pytest.approx(2 / 3)
    # Diameter 4, threshold 0.375 -> bound 1.5 (exact in binary): 0.5 and 1.0 pass.
    assert add_s_accuracy(torch.tensor([0.5, 1.0, 1.5]), 4.0, threshold=0.375) == \
        pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        add_s_accuracy([], 10.0)


# --- classification ---------------------------------------------------------------------

def test_top1_accuracy_from_scores_and_labels():
    """Scores argmax to [1, 0, 1] vs targets [1, 0, 0]: 2 of 3 right, as labels too."""
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    targets = np.array([1, 0, 0])
    assert top1_accuracy(scores, targets) == pytest.approx(2 / 3)
    assert top1_accuracy(torch.tensor(scores), torch.tensor(targets)) == pytest.approx(2 / 3)
    assert top1_accuracy(np.array([1, 0, 1]), targets) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        top1_accuracy(scores, np.array([1, 0]))
