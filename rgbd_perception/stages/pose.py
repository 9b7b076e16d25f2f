"""
Object pose stage: colour (+ depth) and intrinsics in, 6-DoF poses of catalogue objects out.

Per frame: candidates come from the given detections (obj_id, box, optional mask) or, without
them, from the depth-only segmentation (rgbd_perception.geometry.segmentation) with the
identity from the network's classifier.  Each candidate's square crop goes through PoseNet
(one batch per frame) for an allocentric rotation, turned egocentric along the crop's ray:
the rotation head's (``rotation_source='regression'``), that of the nearest template on the
learned features (``'nearest_neighbour'``, rgbd_perception.stages.pose_templates), or that of
the nearest rendered template on a frozen ImageNet trunk's local features
(``'feature_templates'``, rgbd_perception.stages.feature_templates: the one that transfers to
real cameras; PoseNet still gives identity and mask).
The object's pixels: the detection's mask, else the network's visible mask (weights with a
mask head; inside the box), else with depth the object segmented in the box from depth alone
(rgbd_perception.geometry.segmentation.box_object_mask: off planes and depth edges, the
component at the box's centre), else the box.  Translation: with depth, the object's points
(without a given mask those within one diameter of their median depth) minus the rotated
centroid of the model's camera-facing vertices, then ICP against the mesh (optional),
started from the network's rotation and, with a template bank, from up to
``hypotheses - 1`` more rotations of distinct nearest templates, keeping the fit with the
largest inlier share; without depth, along the ray at the distance where the rotated
model's projected size matches the mask's (convex-hull areas) or, without one, the box's.
"""

from pathlib import Path

import numpy as np
import torch

from rgbd_perception.geometry.camera import as_intrinsics, back_project
from rgbd_perception.geometry.crops import crop_tensor_input, paste_crop, square_window, \
    window_ray
from rgbd_perception.geometry.detections import DetectionError, PoseEstimate
from rgbd_perception.geometry.meshes import surface_points
from rgbd_perception.geometry.point_cloud import icp, inlier_shares, NearestModelPoints
from rgbd_perception.geometry.pose import (box_mask, depth_translation, distance_from_box,
                                           distance_from_mask, egocentric_rotation,
                                           reference_depth, subset)
from rgbd_perception.geometry.segmentation import (box_object_mask, object_free_pixels,
                                                   segment_candidates)
from rgbd_perception.runtime.device import resolve_device
from rgbd_perception.runtime.onnx_models import check_runtime, OnnxModel
from rgbd_perception.runtime.weights import build_exported
from rgbd_perception.stages.depth_input import check_colour, depth_to_metres, DepthError
from rgbd_perception.stages.feature_templates import FeatureTemplates
from rgbd_perception.stages.pose_templates import PoseTemplates, templates_path

#: Model surface points (seeded, area-weighted), most object points and iterations of ICP.
#: 500 object points gave the held-out ADD(-S) of 2000 within 0.4 points (README, Speed).
ICP_MODEL_POINTS = 1500
ICP_SCENE_POINTS = 500
ICP_ITERATIONS = 20
ROTATION_SOURCES = ('regression', 'nearest_neighbour', 'feature_templates')
#: Fewest pixels of a predicted mask that replace the box.
MIN_MASK_PIXELS = 20


class PoseStage:
    """
    6-DoF poses of the objects of one catalogue; the one implementation every caller uses.

    catalogue: an ObjectCatalogue; weights: exported PoseNet weights (None: the
    catalogue's); device: 'auto', 'cpu', 'cuda' or 'cuda:N'; refine: ICP when depth is
    there; min_score: candidates of the built-in detector below this identity probability
    are dropped; context: crop side / box side.  network: (PoseNet, object ids of its heads)
    in memory instead of weights (training's evaluation).  rotation_source: one of
    ROTATION_SOURCES; templates: the template bank (a path or PoseTemplates; None:
    <weights stem>_templates.safetensors beside the weights, required for
    'nearest_neighbour', used for hypotheses where it exists); hypotheses: starting rotations
    of the ICP refinement (1: the network's only; more need the bank).  rgb_only: whether
    RGB-D weights may run without depth (their depth channel all missing); None: when they
    were trained with depth dropout (manifest config augment.depth_dropout > 0).
    predicted_masks: whether box-only detections use the mask head's mask (where the weights
    have one); False: the box alone, as for weights without a mask head.  segment_boxes:
    whether box-only detections without such a mask use the object segmented in the box
    from depth (box_object_mask); False: every depth pixel of the box near its median.
    feature_templates: the ImageNet-feature template bank (a path or FeatureTemplates) of
    ``rotation_source='feature_templates'``, which then also gives the ICP hypotheses.
    runtime: 'torch', 'onnxruntime' or 'openvino' (the network exported to ONNX and run by
    that runtime; CPU, fp32, exported weights only; see rgbd_perception.runtime.onnx_models).
    """

    def __init__(self, catalogue, weights=None, device='auto', refine=True, min_score=0.5,
                 context=1.2, network=None, rotation_source='regression', templates=None,
                 rgb_only=None, hypotheses=4, predicted_masks=True, segment_boxes=True,
                 feature_templates=None, runtime='torch'):
        if rotation_source not in ROTATION_SOURCES:
            raise ValueError(f'unknown rotation_source {rotation_source!r}, expected one of '
                             f'{ROTATION_SOURCES}')
        self.catalogue = catalogue
        self.device = resolve_device(device)
        check_runtime(runtime, self.device)
        if network is not None and runtime != 'torch':
            raise ValueError(f'runtime {runtime} needs exported weights, not a network in '
                             'memory')
        if network is None:
            weights = weights or catalogue.weights
            if weights is None:
                raise ValueError(f'{catalogue.path}: the catalogue names no pose weights; '
                                 'pass exported PoseNet weights')
            self.model, self.manifest = build_exported(weights, self.device)
            network = (self.model, self.manifest['data']['object_ids'])
        else:
            self.model, self.manifest = network[0].to(self.device).eval(), None
        self.network = self.model if runtime == 'torch' else OnnxModel(
            self.model, self.manifest, weights, runtime)
        self.rotation_source, self.hypotheses = rotation_source, max(1, int(hypotheses))
        self.templates = templates if isinstance(templates, PoseTemplates) else None
        if self.templates is None and self.manifest is not None:
            bank = Path(templates or templates_path(weights))
            if rotation_source == 'nearest_neighbour' or bank.is_file() and self.hypotheses > 1:
                self.templates = PoseTemplates.load(bank, self.manifest['weights_sha256'],
                                                    self.device)
        if rotation_source == 'nearest_neighbour' and self.templates is None:
            raise ValueError('nearest_neighbour rotations need a template bank')
        self.feature_templates = None
        if rotation_source == 'feature_templates':
            if feature_templates is None:
                raise ValueError('feature_templates rotations need a feature template bank '
                                 '(python -m training feature-templates)')
            self.feature_templates = (
                feature_templates if isinstance(feature_templates, FeatureTemplates)
                else FeatureTemplates.load(feature_templates, self.device))
        trained_on = [int(i) for i in network[1]]
        missing = sorted(set(catalogue.ids) - set(trained_on))
        if missing:
            raise ValueError(f'the pose network was trained on objects {trained_on}, not on '
                             f'{missing} of {catalogue.path}')
        self.head_of = {obj_id: trained_on.index(obj_id) for obj_id in catalogue.ids}
        self.object_of_head = dict(enumerate(trained_on))
        self.uses_depth = self.model.input_mode == 'rgbd'
        if rgb_only is None:
            config = (self.manifest or {}).get('config', {})
            rgb_only = config.get('augment', {}).get('depth_dropout', 0.0) > 0
        self.rgb_only = not self.uses_depth or bool(rgb_only)
        self.refine, self.min_score, self.context = bool(refine), float(min_score), context
        self.predicted_masks = bool(predicted_masks)
        self.segment_boxes = bool(segment_boxes)
        rng = np.random.default_rng(0)
        self.model_points = {obj_id: surface_points(obj.mesh, ICP_MODEL_POINTS, rng)
                             for obj_id, obj in catalogue.objects.items()}
        self.nearest_model_points = {
            obj_id: NearestModelPoints(torch.from_numpy(points).to(self.device))
            for obj_id, points in self.model_points.items()}

    def _candidates(self, depth, intrinsics, detections):
        if detections is not None:
            return [(d.obj_id, d.bbox, d.mask) for d in detections]
        if depth is None:
            raise DetectionError('without depth the pose stage needs detections')
        largest = max(obj.diameter for obj in self.catalogue.objects.values())
        return [(None, c.bbox, c.mask) for c in
                segment_candidates(depth, intrinsics, max_extent=1.5 * largest)]

    @torch.inference_mode()
    def __call__(self, rgb, depth, intrinsics, detections=None, depth_scale=0.001):
        """
        Estimate the poses in one frame; returns a list of PoseEstimate.

        rgb: (H, W, 3) uint8; depth: (H, W) uint16 (units of depth_scale m) or float metres,
        registered to the colour, or None (RGB only: needs detections and RGB-capable
        weights); intrinsics: Intrinsics (either pixel origin), or (fx, fy, cx, cy) / K with a
        0-based principal point; detections: list of Detection or None (built-in detector).
        Raises DepthError, ColourError or DetectionError for unusable input.
        """
        rgb, intrinsics = np.asarray(rgb), as_intrinsics(intrinsics)
        metres = None
        if depth is not None:
            metres = depth_to_metres(depth, depth_scale)
            rgb = check_colour(rgb, metres.shape)
        else:
            rgb = check_colour(rgb, rgb.shape[:2])
        if metres is None and not self.rgb_only:
            raise DepthError('these pose weights take RGB-D crops and were not trained without '
                             'depth; give depth, or RGB (or depth-dropout) weights')
        candidates = [self._checked(c, rgb.shape[:2]) for c in
                      self._candidates(metres, intrinsics, detections)]
        if not candidates:
            return []
        windows = [square_window(bbox, self.context) for _, bbox, _ in candidates]
        size = self.model.crop_size
        crops = np.stack([crop_tensor_input(
            rgb, metres if self.uses_depth else None, window, size,
            reference_depth(metres, bbox, mask), channels=4 if self.uses_depth else 3)
            for window, (_, bbox, mask) in zip(windows, candidates)])
        out = self.network(torch.from_numpy(crops).to(self.device))
        probabilities = torch.softmax(out['logits'], dim=1).cpu().numpy()
        rays = np.stack([window_ray(w, intrinsics) for w in windows])
        heads = [self.head_of[obj_id] if obj_id is not None else
                 int(np.argmax(probabilities[index]))
                 for index, (obj_id, _, _) in enumerate(candidates)]
        allocentric = self._allocentric(out, heads, rgb, windows)
        predicted = self._predicted_masks(out, windows, candidates, rgb.shape[:2])
        if metres is not None and self.segment_boxes:
            predicted = self._segmented_boxes(metres, intrinsics, candidates, predicted)
        estimates = []
        for index, (obj_id, bbox, mask) in enumerate(candidates):
            score = 1.0
            if obj_id is None:
                obj_id = self.object_of_head[heads[index]]
                score = float(probabilities[index, heads[index]])
                if score < self.min_score or obj_id not in self.catalogue.objects:
                    continue
            rotations = egocentric_rotation(torch.stack(allocentric[index]).double().cpu(),
                                            torch.from_numpy(rays[index])).numpy()
            rotation, translation, score = self._translate(
                obj_id, rotations, rays[index], bbox, mask, predicted[index], metres,
                intrinsics, score)
            estimates.append(PoseEstimate(obj_id, rotation, translation, score, bbox,
                                          predicted[index] if mask is None else mask))
        return estimates

    @torch.inference_mode()
    def warm_up(self):
        """Run the network on a blank crop so that the first real frame is not slowed by set-up."""
        channels = 4 if self.uses_depth else 3
        size = self.model.crop_size
        self.network(torch.zeros((1, channels, size, size), device=self.device))

    def _allocentric(self, out, heads, rgb, windows):
        """
        Return per crop the list of its allocentric (3, 3) starting rotations, best first.

        The first is the rotation source's (head or nearest template); with refinement and a
        template bank, distinct nearest templates of that bank follow, up to ``hypotheses``.
        heads: PoseNet heads of the crops; rgb, windows: the frame and the crops' windows.
        """
        heads = torch.tensor(heads, device=out['rotation'].device)
        bank, embedding = self.templates, out['embedding']
        if self.feature_templates is not None:
            features = self.feature_templates
            bank, embedding = features.bank, features.describe(features.crops(rgb, windows))
            heads = features.heads([self.object_of_head[int(head)] for head in heads])
        if self.rotation_source == 'regression':
            first = out['rotation'][torch.arange(len(heads), device=heads.device), heads]
        else:
            first = bank.rotations(embedding, heads)
        if not self.refine or bank is None or self.hypotheses == 1:
            return [[rotation] for rotation in first]
        more = bank.distinct_rotations(embedding, heads, self.hypotheses)
        return [[rotation] + [r for r in others if not torch.equal(r, rotation)]
                [:self.hypotheses - 1] for rotation, others in zip(first, more)]

    def _predicted_masks(self, out, windows, candidates, shape):
        """
        Return per candidate its (H, W) bool visible mask from the mask head, or None.

        Only for candidates without a mask, from weights with a mask head: the crop's
        probabilities pasted back into the image, above 0.5 and inside the box; None when
        fewer than MIN_MASK_PIXELS remain.
        """
        if 'mask_logits' not in out or not self.predicted_masks:
            return [None] * len(candidates)
        probabilities = torch.sigmoid(out['mask_logits'][:, 0]).float().cpu().numpy()
        masks = []
        for crop, window, (_, bbox, mask) in zip(probabilities, windows, candidates):
            region = None
            if mask is None:
                region = (paste_crop(crop, window, shape) > 0.5) & box_mask(bbox, shape)
                region = region if region.sum() >= MIN_MASK_PIXELS else None
            masks.append(region)
        return masks

    def _segmented_boxes(self, depth, intrinsics, candidates, predicted):
        """
        Return predicted with the depth-segmented object filled in for box-only candidates.

        Candidates with a given or predicted mask keep theirs; the frame's planes are found
        once, and only when some candidate needs them.
        """
        todo = [index for index, ((_, _, mask), region) in enumerate(zip(candidates, predicted))
                if mask is None and region is None]
        if not todo:
            return predicted
        free = object_free_pixels(depth, intrinsics)
        predicted = list(predicted)
        for index in todo:
            obj_id, bbox, _ = candidates[index]
            predicted[index] = box_object_mask(depth, free, bbox,
                                               self.catalogue[obj_id].diameter)
        return predicted

    def _checked(self, candidate, shape):
        obj_id, bbox, mask = candidate
        if obj_id is not None and obj_id not in self.catalogue.objects:
            raise DetectionError(f'detection of unknown object {obj_id} (catalogue '
                                 f'{self.catalogue.name}: {self.catalogue.ids})')
        x, y, w, h = bbox
        if w <= 0 or h <= 0 or x >= shape[1] or y >= shape[0] or x + w <= 0 or y + h <= 0:
            raise DetectionError(f'detection box {list(bbox)} is empty or outside the '
                                 f'{shape[1]}x{shape[0]} image')
        if mask is not None and mask.shape != shape:
            raise DetectionError(f'detection mask {mask.shape} differs from the image {shape}')
        return candidate

    def _translate(self, obj_id, rotations, ray, bbox, mask, predicted, depth, intrinsics,
                   score):
        """
        Return (R, t, score) from depth (+ ICP) or, without depth, from the mask or box size.

        rotations: (K, 3, 3) egocentric starting rotations, the first the network's; without
        refinement only the first is used.  mask: the detection's (trusted); predicted: the
        mask head's or the depth-segmented one (None: none), used without a given mask.
        """
        rotation = rotations[0]
        vertices = self.model_points[obj_id]
        region = mask if mask is not None else predicted
        points = None
        if depth is not None:
            points = back_project(depth, intrinsics,
                                  box_mask(bbox, depth.shape) if region is None else region)
            if mask is None and len(points):
                near = np.median(points[:, 2])
                points = points[np.abs(points[:, 2] - near) < self.catalogue[obj_id].diameter]
        if points is None or len(points) < 10:
            distance = (distance_from_box(vertices, rotation, ray, bbox, intrinsics)
                        if region is None else
                        distance_from_mask(vertices, rotation, ray, region, intrinsics))
            return rotation, distance * ray, score
        if not self.refine:
            return rotation, depth_translation(vertices, rotation, points), score
        scene = subset(points, ICP_SCENE_POINTS, np.random.default_rng(0))
        limit = 0.1 * self.catalogue[obj_id].diameter  # the ADD(-S) threshold
        nearest = self.nearest_model_points[obj_id]
        starts = np.stack([depth_translation(vertices, start, points) for start in rotations])
        scene, rotations, starts = (torch.from_numpy(np.asarray(array, np.float64)).to(
            self.device) for array in (scene, rotations, starts))
        fitted, translations = icp(nearest, scene, rotations, starts, ICP_ITERATIONS,
                                   max_distance=3 * limit)
        shares = inlier_shares(nearest, scene, fitted, translations, limit)
        best = int(torch.argmax(shares))  # the first of equal shares: the network's rotation
        rotation, translation = fitted[best].cpu().numpy(), translations[best].cpu().numpy()
        share = float(shares[best])
        return rotation, translation, score * share
