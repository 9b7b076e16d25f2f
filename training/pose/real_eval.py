"""
Pose errors of the pose stage on real BOP frames from colour alone, given the true boxes.

The transfer measurement of synthetic-only training: every annotated catalogue object of a
real scene folder (e.g. the 100 LM-O validation images, which have no depth) seen at least
``min_visible`` (scene_gt_info ``visib_fract``) is given to the stage as a detection with its
ground-truth visible box (``bbox_visib``, no mask); the stage runs without depth and without
refinement, the network's rotation head alone, its translation from the box (or the mask
head's mask) alone.  Its errors: BOP's 're' in degrees, the smallest over the object's
symmetries of models_info.json (``training.metrics``), per object and over all poses: the
median and the share of poses within 15 and 30 degrees; and ADD(-S) (ADD-S for the
catalogue's symmetric objects) over the object's diameter: the median and the share under 0.1
(ADD(-S)@0.1d) of the whole pose, translation included.  Chance
level: a uniformly random rotation of an asymmetric object is within 15 / 30 degrees with
probability 0.09 % / 0.75 % ((a - sin a) / pi), its median error is 132 degrees.
"""

import numpy as np

from rgbd_perception.geometry.detections import Detection
from rgbd_perception.geometry.meshes import surface_points
from rgbd_perception.io.bop import BopScene, read_models_info
from rgbd_perception.stages.pose import PoseStage
from training.metrics import pose_add_or_adds, symmetric_rotation_error_deg, symmetry_rotations

#: Rotation error thresholds (degrees) of the reported shares.
THRESHOLDS_DEG = (15, 30)
#: Model surface points of the ADD(-S) error (seeded).
ADD_POINTS = 1000


def catalogue_symmetries(catalogue):
    """
    Return {obj_id: (K, 3, 3) symmetry rotations} from models_info.json beside each mesh.

    An object without an entry there has only the identity; a catalogue-symmetric object
    without symmetries there raises ValueError (it would be scored as asymmetric).
    """
    symmetries = {}
    for obj_id, obj in catalogue.objects.items():
        path = obj.mesh_path.parent / 'models_info.json'
        info = read_models_info(path).get(obj_id, {}) if path.is_file() else {}
        symmetries[obj_id] = symmetry_rotations(info)
        if obj.symmetric and len(symmetries[obj_id]) == 1:
            raise ValueError(f'object {obj_id} is symmetric in {catalogue.path} but {path} '
                             'gives no symmetries for it')
    return symmetries


def real_targets(scene, im_id, object_ids, min_visible):
    """Return [(GroundTruth, bbox_visib)] of an image's catalogue objects seen well enough."""
    return [(truth, tuple(info['bbox_visib']))
            for truth, info in zip(scene.ground_truth(im_id), scene.gt_info(im_id))
            if truth.obj_id in object_ids and info['visib_fract'] >= min_visible
            and info['bbox_visib'][2] > 0 and info['bbox_visib'][3] > 0]


def pose_summary(errors):
    """
    Return the summary of (N, 2) errors: rotation (degrees), ADD(-S) / diameter.

    {'count', 'median_deg', 'within_15_deg', 'within_30_deg', 'median_add_s_d',
    'add_s_0.1d'}.
    """
    errors = np.asarray(errors, np.float64).reshape(-1, 2)
    rotations, adds = errors[:, 0], errors[:, 1]
    return {'count': len(errors), 'median_deg': float(np.median(rotations)),
            **{f'within_{t}_deg': float(np.mean(rotations < t)) for t in THRESHOLDS_DEG},
            'median_add_s_d': float(np.median(adds)), 'add_s_0.1d': float(np.mean(adds < 0.1))}


def evaluate_real_poses(stage, folder, min_visible=0.1, limit=None):
    """
    Return the pose errors of ``stage`` on a real BOP scene folder, RGB only, given boxes.

    stage: a callable as PoseStage (rgb, depth=None, intrinsics, detections) -> estimates in
    detection order, with a ``catalogue``; folder: one BOP scene folder (rgb/, scene_camera,
    scene_gt, scene_gt_info); limit: most images, in im_id order.  Returns {'overall':
    summary, 'objects': {obj_id str: summary}, 'images', 'min_visible'}, summaries as
    :func:`pose_summary`.
    """
    scene, catalogue = BopScene(folder), stage.catalogue
    symmetries = catalogue_symmetries(catalogue)
    rng = np.random.default_rng(0)
    points = {obj_id: surface_points(obj.mesh, ADD_POINTS, rng)
              for obj_id, obj in catalogue.objects.items()}
    errors, images = {}, 0
    for im_id in scene.image_ids[:limit]:
        targets = real_targets(scene, im_id, catalogue.objects, min_visible)
        if not targets:
            continue
        images += 1
        estimates = stage(scene.read_rgb(im_id), None, scene.intrinsics(im_id),
                          [Detection(truth.obj_id, bbox) for truth, bbox in targets])
        for (truth, _), estimate in zip(targets, estimates, strict=True):
            obj = catalogue[truth.obj_id]
            add_s = pose_add_or_adds(estimate.rotation, estimate.translation, truth.rotation,
                                     truth.translation, points[truth.obj_id], obj.symmetric)
            errors.setdefault(truth.obj_id, []).append((symmetric_rotation_error_deg(
                estimate.rotation, truth.rotation, symmetries[truth.obj_id]),
                add_s / obj.diameter))
    if not errors:
        raise ValueError(f'{folder}: no catalogue object seen at least {min_visible} visible')
    return {'overall': pose_summary(np.concatenate(list(errors.values()))),
            'objects': {str(obj_id): pose_summary(errors[obj_id]) for obj_id in
                        sorted(errors)},
            'images': images, 'min_visible': min_visible}


def real_pose_metrics(weights, folder, catalogue, device='cpu', min_visible=0.1, limit=None,
                      predicted_masks=True, feature_templates=None):
    """
    Return :func:`evaluate_real_poses` of exported weights as the RGB-only stage.

    predicted_masks: PoseStage's (False: translation from the box even with a mask head);
    feature_templates: a feature template bank path giving the rotations (None: the head).
    """
    source = 'regression' if feature_templates is None else 'feature_templates'
    stage = PoseStage(catalogue, weights, device=device, refine=False, rgb_only=True,
                      hypotheses=1, predicted_masks=predicted_masks, rotation_source=source,
                      feature_templates=feature_templates)
    return {**evaluate_real_poses(stage, folder, min_visible, limit),
            'weights': str(weights), 'predicted_masks': predicted_masks,
            'rotation_source': source,
            'feature_templates': None if feature_templates is None else str(feature_templates)}
