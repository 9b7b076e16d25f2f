"""
Evaluation of the pose stage on held-out synthetic BOP frames, per object (bop_toolkit metrics).

The stage runs as the node runs it, on every frame: with the ground-truth detections
(visible box and mask of each object seen well enough), with their boxes alone (``boxes``:
a 2D detector's output, the mask then the mask head's where the weights have one, else the
object segmented from depth in the box) and with its built-in detector,
each with and without ICP refinement; with the given detections also from colour alone
(``given_rgb_only``: no depth, translation from the box; for weights that run RGB-only) and,
given a template bank, with the nearest-neighbour rotation on learned features, and given a
feature template bank, with the nearest rendered template on ImageNet features.  Per object:
ADD(-S) accuracy at 10 % of the diameter (ADD-S for symmetric objects), mean rotation error
and mean Euler-angle error in degrees (asymmetric objects only: a symmetric one has no unique
rotation).  With the built-in detector an object counts as missed (wrong) when no estimate of
its id lies within its diameter of it; rotation errors then cover the found ones.
"""

import numpy as np

from rgbd_perception.geometry.detections import Detection
from rgbd_perception.stages.pose import PoseStage
from training.metrics import (add_s_accuracy, mean_euler_error_deg, pose_add_or_adds,
                              rotation_error_deg)
from training.pose.data import ground_truth


def _summary(records, catalogue):
    """Return per-object and overall metrics of [(obj_id, error m or None, R_est, R_gt)]."""
    per_object = {}
    for obj_id in sorted({r[0] for r in records}):
        rows = [r for r in records if r[0] == obj_id]
        obj = catalogue[obj_id]
        errors = np.array([np.inf if r[1] is None else r[1] for r in rows])
        entry = {'count': len(rows), 'add_s_accuracy': add_s_accuracy(errors, obj.diameter),
                 'symmetric': obj.symmetric}
        found = [r for r in rows if r[1] is not None]
        if found and not obj.symmetric:
            entry['rotation_error_deg'] = float(np.mean([rotation_error_deg(r[2], r[3])
                                                         for r in found]))
            entry['mean_euler_error_deg'] = float(np.mean([mean_euler_error_deg(r[2], r[3])
                                                           for r in found]))
        per_object[str(obj_id)] = entry
    accuracies = [e['add_s_accuracy'] for e in per_object.values()]
    return {'objects': per_object, 'mean_add_s_accuracy': float(np.mean(accuracies)),
            'poses': len(records)}


def evaluate_poses(network, catalogue, folder, device='cpu', limit=None, detectors=(
        'given', 'boxes', 'built_in'), refinements=(True, False), templates=None, rgb_only=False,
        hypotheses=4, segment_boxes=True, feature_templates=None):
    """
    Return {'<detector>_<refined|unrefined>': summary} on a held-out BOP folder.

    network: (PoseNet, object ids of its heads); catalogue: the ObjectCatalogue whose meshes
    score the poses; limit: most frames; templates: a PoseTemplates bank adding
    'given_nearest_neighbour_<refined|unrefined>'; rgb_only: add 'given_rgb_only' (RGB-D
    weights trained with depth dropout, or RGB weights); hypotheses: the stage's ICP starts;
    segment_boxes: the stage's (box-only detections segmented from depth, or the whole box);
    feature_templates: a FeatureTemplates bank (or path) adding
    '<detector>_feature_templates_<refined|unrefined>' for each detector.  Summaries as
    _summary (per object and the mean of the per-object ADD(-S) accuracies).
    """
    runs = [(detector, refine, 'regression') for detector in detectors
            for refine in refinements]
    if templates is not None:
        runs += [('given', refine, 'nearest_neighbour') for refine in refinements]
    if feature_templates is not None:
        runs += [(detector, refine, 'feature_templates') for detector in detectors
                 for refine in refinements]
    if rgb_only:
        runs.append(('given', False, 'rgb_only'))
    stages = {(refine, source): PoseStage(
        catalogue, device=device, refine=refine, network=network, templates=templates,
        rotation_source='regression' if source == 'rgb_only' else source,
        rgb_only=rgb_only, hypotheses=hypotheses, segment_boxes=segment_boxes,
        feature_templates=feature_templates if source == 'feature_templates' else None)
        for _, refine, source in runs}
    points = {obj_id: obj.mesh.vertices for obj_id, obj in catalogue.objects.items()}
    records = {run: [] for run in runs}
    for rgb, depth, intrinsics, objects in ground_truth(folder, set(catalogue.ids),
                                                        limit=limit):
        for run in runs:
            detector, refine, source = run
            given = None if detector == 'built_in' else [
                Detection(o[0], o[3], o[4] if detector == 'given' else None) for o in objects]
            stage = stages[(refine, source)]
            estimates = stage(rgb, None if source == 'rgb_only' else depth, intrinsics, given)
            for position, (obj_id, rotation, translation, _, _) in enumerate(objects):
                obj = catalogue[obj_id]
                if given is not None:
                    estimate = estimates[position]
                else:
                    same = [e for e in estimates if e.obj_id == obj_id and np.linalg.norm(
                        e.translation - translation) < obj.diameter]
                    estimate = min(same, key=lambda e: np.linalg.norm(
                        e.translation - translation), default=None)
                error = None if estimate is None else pose_add_or_adds(
                    estimate.rotation, estimate.translation, rotation, translation,
                    points[obj_id], obj.symmetric)
                records[run].append(
                    (obj_id, error, None if estimate is None else estimate.rotation,
                     rotation))
    return {_run_name(*run): _summary(rows, catalogue) for run, rows in records.items() if rows}


def _run_name(detector, refine, source):
    """Return e.g. 'given_refined' or 'given_nearest_neighbour_unrefined'."""
    if source == 'rgb_only':
        return f'{detector}_rgb_only'
    middle = '' if source == 'regression' else f'_{source}'
    return f'{detector}{middle}_{"refined" if refine else "unrefined"}'
