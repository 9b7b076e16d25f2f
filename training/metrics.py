"""
Evaluation metrics: depth (KITTI / NYU protocol), 6-DoF pose (BOP toolkit), top-1 accuracy.

Every function accepts numpy arrays or torch tensors (any device, any dtype), computes in
float64 numpy and returns Python floats (``count`` is an int).
"""

import math

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation
import torch

DEPTH_ALIGNMENTS = ('none', 'median', 'least_squares_scale', 'least_squares_scale_shift')


def to_numpy(values, dtype=np.float64):
    """Return ``values`` (numpy array, torch tensor or sequence) as a numpy array of ``dtype``."""
    if isinstance(values, torch.Tensor):
        values = values.detach().to('cpu', torch.float64).numpy()
    return np.asarray(values, dtype=dtype)


# --- depth ------------------------------------------------------------------------------

def align_depth(pred, gt, alignment):
    """
    Return ``pred`` aligned to ``gt``; both (M,) float64 metres over valid pixels only.

    'none' returns ``pred``; 'median' scales it by median(gt) / median(pred);
    'least_squares_scale' by the s minimising ||s * pred - gt||^2, i.e. <pred, gt> / <pred, pred>;
    'least_squares_scale_shift' maps it to s * pred + t with (s, t) minimising
    ||s * pred + t - gt||^2.
    """
    if alignment == 'none':
        return pred
    if alignment == 'median':
        return pred * (np.median(gt) / np.median(pred))
    if alignment == 'least_squares_scale':
        return pred * (pred @ gt / (pred @ pred))
    if alignment == 'least_squares_scale_shift':
        design = np.stack([pred, np.ones_like(pred)], axis=1)
        (scale, shift), *_ = np.linalg.lstsq(design, gt, rcond=None)
        return scale * pred + shift
    raise ValueError(f'unknown alignment {alignment!r}, expected one of {DEPTH_ALIGNMENTS}')


def depth_errors(pred, gt):
    """
    Return the depth metrics of (M,) positive ``pred`` against (M,) positive ``gt`` (metres).

    rmse, mae in metres; irmse, imae in 1/km on inverse depth 1000 / depth_m (KITTI depth
    completion); abs_rel = mean(|pred - gt| / gt); sq_rel = mean((pred - gt)^2 / gt);
    rmse_log on natural logs; deltaK = fraction with max(pred / gt, gt / pred) < 1.25^K;
    count = M.
    """
    diff = pred - gt
    inverse_diff = 1000.0 / pred - 1000.0 / gt
    log_diff = np.log(pred) - np.log(gt)
    ratio = np.maximum(pred / gt, gt / pred)
    metrics = {
        'rmse': np.sqrt(np.mean(diff ** 2)),
        'mae': np.mean(np.abs(diff)),
        'irmse': np.sqrt(np.mean(inverse_diff ** 2)),
        'imae': np.mean(np.abs(inverse_diff)),
        'abs_rel': np.mean(np.abs(diff) / gt),
        'sq_rel': np.mean(diff ** 2 / gt),
        'rmse_log': np.sqrt(np.mean(log_diff ** 2)),
    }
    metrics.update({f'delta{k}': np.mean(ratio < 1.25 ** k) for k in (1, 2, 3)})
    return {**{name: float(value) for name, value in metrics.items()}, 'count': int(gt.size)}


def depth_metrics(pred, gt, mask=None, alignment='none', min_depth=1e-3, max_depth=None):
    """
    Return the depth metrics (see ``depth_errors``) of ``pred`` against ``gt``.

    ``pred``, ``gt``: (H, W) or (N, H, W) metres. Valid pixels have finite ``gt`` > 0, ``mask``
    True (optional, same shape, bool) and ``gt`` <= ``max_depth`` when given; metrics are pooled
    over all valid pixels of the batch. ``alignment`` (one of DEPTH_ALIGNMENTS, see
    ``align_depth``) is fitted per image on its valid pixels. The aligned prediction is then
    clamped to [``min_depth``, ``max_depth``] metres, so a prediction <= 0 becomes ``min_depth``
    (default 1 mm) and logs and inverses stay finite; non-finite predictions propagate as NaN.
    Raise ValueError on a shape mismatch or when no pixel is valid.
    """
    pred, gt = to_numpy(pred), to_numpy(gt)
    if pred.shape != gt.shape or gt.ndim not in (2, 3):
        raise ValueError(f'pred {pred.shape} and gt {gt.shape} must share shape (H, W) or '
                         '(N, H, W)')
    valid = np.isfinite(gt) & (gt > 0)
    if mask is not None:
        mask = to_numpy(mask, dtype=bool)
        if mask.shape != gt.shape:
            raise ValueError(f'mask {mask.shape} does not match gt {gt.shape}')
        valid &= mask
    if max_depth is not None:
        valid &= gt <= max_depth
    if not valid.any():
        raise ValueError('no valid ground-truth pixel')
    image_shape = gt.shape[-2:]
    images = zip(pred.reshape(-1, *image_shape), gt.reshape(-1, *image_shape),
                 valid.reshape(-1, *image_shape))
    aligned = np.concatenate([align_depth(image_pred[image_valid], image_gt[image_valid],
                                          alignment)
                              for image_pred, image_gt, image_valid in images
                              if image_valid.any()])
    return depth_errors(np.clip(aligned, min_depth, max_depth), gt[valid])


# --- pose -------------------------------------------------------------------------------
# Rotations are (3, 3) matrices mapping model to camera coordinates; translations are (3,) in
# the SAME unit as the model points (metres everywhere, or millimetres everywhere as in BOP
# models); distance errors come out in that unit.

def transform_points(rotation, translation, points):
    """Return (N, 3) float64 model ``points`` mapped to the camera: rotation @ x + translation."""
    rotation, points = to_numpy(rotation), to_numpy(points)
    return points @ rotation.T + to_numpy(translation).reshape(3)


def add(rotation_est, translation_est, rotation_gt, translation_gt, points):
    """Return ADD: mean distance between corresponding estimated and true model points (BOP)."""
    points_est = transform_points(rotation_est, translation_est, points)
    points_gt = transform_points(rotation_gt, translation_gt, points)
    return float(np.linalg.norm(points_est - points_gt, axis=1).mean())


def adds(rotation_est, translation_est, rotation_gt, translation_gt, points):
    """
    Return ADD-S (BOP 'adi'): mean closest-point distance for symmetric objects.

    As in bop_toolkit_lib/pose_error.py, the mean runs over the ground-truth-posed points, each
    taking its distance to the closest estimated-pose point (a KD-tree on the estimated points).
    """
    points_est = transform_points(rotation_est, translation_est, points)
    points_gt = transform_points(rotation_gt, translation_gt, points)
    distances, _ = cKDTree(points_est).query(points_gt, k=1)
    return float(distances.mean())


def pose_add_or_adds(rotation_est, translation_est, rotation_gt, translation_gt, points,
                     symmetric):
    """Return ADD-S for a ``symmetric`` object, ADD otherwise (the ADD(-S) metric)."""
    error = adds if symmetric else add
    return error(rotation_est, translation_est, rotation_gt, translation_gt, points)


def add_s_accuracy(errors, diameters, threshold=0.1):
    """
    Return the fraction of poses whose ADD(-S) error < ``threshold`` * diameter (ADD(-S)@0.1d).

    ``errors``: (N,) in model units; ``diameters``: scalar or (N,) object diameters, same unit.
    """
    errors = to_numpy(errors).reshape(-1)
    if errors.size == 0:
        raise ValueError('no pose errors given')
    return float(np.mean(errors < threshold * to_numpy(diameters)))


def rotation_error_deg(rotation_est, rotation_gt):
    """Return BOP 're': arccos((trace(R_est^T R_gt) - 1) / 2) in degrees, argument clipped."""
    cosine = (np.trace(to_numpy(rotation_est).T @ to_numpy(rotation_gt)) - 1.0) / 2.0
    return math.degrees(math.acos(np.clip(cosine, -1.0, 1.0)))


def symmetry_rotations(info, max_step=0.01):
    """
    Return the (K, 3, 3) float64 rotations of an object's symmetries, the identity first.

    info: the object's BOP models_info.json entry; its ``symmetries_discrete`` (4 x 4
    row-major model transforms, translation in mm, ignored here) and ``symmetries_continuous``
    (``axis``, ``offset``) as bop_toolkit_lib/misc.get_symmetry_transformations reads them: a
    continuous symmetry is sampled every 2 pi / ceil(pi / max_step) radians about its axis
    and every discrete one (and the identity) is combined with every sample, R_disc @ R_cont.
    An object without symmetries gives the identity alone.
    """
    discrete = [np.eye(3)] + [np.reshape(np.asarray(matrix, np.float64), (4, 4))[:3, :3]
                              for matrix in info.get('symmetries_discrete', [])]
    continuous = [np.eye(3)]
    for symmetry in info.get('symmetries_continuous', []):
        axis = np.asarray(symmetry['axis'], np.float64)
        steps = int(np.ceil(np.pi / max_step))
        angles = 2.0 * np.pi * np.arange(1, steps) / steps
        continuous += list(Rotation.from_rotvec(angles[:, None] * axis / np.linalg.norm(axis))
                           .as_matrix())
    return np.stack([d @ c for d in discrete for c in continuous])


def symmetric_rotation_error_deg(rotation_est, rotation_gt, symmetries):
    """
    Return the smallest BOP 're' of ``rotation_est`` against the symmetric ground truths.

    symmetries: (K, 3, 3) model-frame symmetry rotations (``symmetry_rotations``); the
    candidates are rotation_gt @ S_k, each as good a ground truth as rotation_gt itself.
    """
    rotation_gt = to_numpy(rotation_gt)
    return min(rotation_error_deg(rotation_est, rotation_gt @ symmetry)
               for symmetry in to_numpy(symmetries))


def geodesic_distance_deg(rotation_a, rotation_b):
    """
    Return the geodesic angle between two rotations in degrees, robust near 0.

    Uses ||R_a - R_b||_F = 2 sqrt(2) sin(angle / 2), i.e. angle = 2 asin(||R_a - R_b||_F /
    (2 sqrt(2))), which keeps full precision for small angles where arccos does not.
    """
    chord = np.linalg.norm(to_numpy(rotation_a) - to_numpy(rotation_b)) / (2.0 * math.sqrt(2.0))
    return math.degrees(2.0 * math.asin(min(chord, 1.0)))


def translation_error(translation_est, translation_gt):
    """Return BOP 'te': Euclidean distance between (3,) translations, in their unit."""
    return float(np.linalg.norm(to_numpy(translation_est).reshape(3)
                                - to_numpy(translation_gt).reshape(3)))


def mean_euler_error_deg(rotation_est, rotation_gt, convention='xyz'):
    """
    Return the mean absolute Euler-angle difference in degrees (Siamese pose regression).

    ``rotation_est``, ``rotation_gt``: (3, 3) or (N, 3, 3); ``convention`` as in scipy's
    Rotation.as_euler (lower case extrinsic, upper case intrinsic). Each difference is wrapped
    into [-180, 180) before the absolute value; the mean runs over all angles of all poses.
    """
    angles_est = Rotation.from_matrix(to_numpy(rotation_est)).as_euler(convention, degrees=True)
    angles_gt = Rotation.from_matrix(to_numpy(rotation_gt)).as_euler(convention, degrees=True)
    wrapped = (angles_est - angles_gt + 180.0) % 360.0 - 180.0
    return float(np.abs(wrapped).mean())


# --- classification ---------------------------------------------------------------------

def top1_accuracy(scores_or_labels, targets):
    """Return the top-1 accuracy of (N, C) scores or (N,) predicted labels vs (N,) targets."""
    predicted, targets = to_numpy(scores_or_labels), to_numpy(targets)
    if predicted.ndim == 2:
        predicted = predicted.argmax(axis=1)
    if predicted.shape != targets.shape or targets.ndim != 1 or targets.size == 0:
        raise ValueError(f'predictions {predicted.shape} do not match targets {targets.shape}')
    return float(np.mean(predicted == targets))
