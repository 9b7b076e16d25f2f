"""
``python -m training pose-selfsup`` and ``python -m training pose``: PoseNet from renders.

Both train on crops of synthetic scenes rendered from the catalogue's meshes
(training.pose.data); a batch holds crops and their near-view partners, colour-jittered,
partly with synthetic occluders.  The loss weights (config ``loss``) select the terms:

* pose-selfsup (Khan 2025): the relative-viewpoint contrastive loss alone trains the ResNet-18
  and its embedding; no rotation label enters the loss, only which renders are near views;
* pose (Doumanoglou et al. 2016; Khan 2025): rotation regression + feature-pose distance +
  occlusion + identity classification + the visible mask (model.mask_head), optionally
  starting from pose-selfsup's weights (pretrained.init_weights).

Both build the trunk model.backbone, optionally from ImageNet weights
(pretrained.backbone_weights: a torchvision weights name or a local state_dict, see
rgbd_perception.models.backbones) normalised by model.input_scaling, and frozen when
finetune.freeze_backbone.

evaluate() runs the pose stage on the held-out scenes (training.pose.evaluation), with the
rotation head and with nearest-neighbour templates of the training crops.
"""

from pathlib import Path

import numpy as np
import roma
from safetensors.torch import load_file
import torch
import torch.nn.functional as F

from rgbd_perception.io.catalogue import load_catalogue
from rgbd_perception.io.data_paths import data_file
from rgbd_perception.models.backbones import load_initial_weights, resolve_input_scaling
from rgbd_perception.models.pose import PoseNet
from training.framework.base_task import Task
from training.framework.mixing import train_mix
from training.pose.augment import add_occluders, drop_depth, jitter_crops
from training.pose.data import object_crops, PoseCrops
from training.pose.evaluation import evaluate_poses
from training.pose.losses import (feature_pose_loss, occlusion_loss, rotation_regression_loss,
                                  viewpoint_contrastive_loss, visible_mask_loss)
from training.pose.templates import build_templates, embed_crops
from training.simsiam.transfer import load_simsiam_trunk

#: Model points per object for the symmetric shape-match loss (a seeded subset).
LOSS_POINTS = 256


class PoseTask(Task):
    """Rotation, identity and embedding of catalogue objects; see the module docstring."""

    name = 'pose'
    config_name = 'pose.yaml'
    model_class = PoseNet

    def __init__(self, config):
        super().__init__(config)
        objects = config['objects']
        self.catalogue = load_catalogue(data_file(objects['catalogue']), objects['mesh_dir'])
        rng = np.random.default_rng(0)
        points, symmetric, diameters = [], [], []
        for obj_id in self.catalogue.ids:
            obj = self.catalogue[obj_id]
            vertices = obj.mesh.vertices
            points.append(vertices[rng.choice(len(vertices), LOSS_POINTS)])
            symmetric.append(obj.symmetric)
            diameters.append(obj.diameter)
        self.points = torch.tensor(np.stack(points), dtype=torch.float32)
        self.symmetric = torch.tensor(symmetric)
        self.diameters = torch.tensor(diameters, dtype=torch.float32)

    def model_kwargs(self):
        """
        Return the model section plus num_objects, the catalogue's size.

        A null model.input_scaling becomes that of pretrained.backbone_weights (see
        backbones.resolve_input_scaling), so the manifest records the one trained with.
        """
        model = self.config['model']
        scaling = resolve_input_scaling(self.config['pretrained']['backbone_weights'],
                                        model['input_scaling'])
        return {**model, 'input_scaling': scaling, 'num_objects': len(self.catalogue.ids)}

    def build_model(self):
        """
        Return a new PoseNet from the pretrained section's weights, frozen if configured.

        pretrained.backbone_weights initialise the trunk, or pretrained.simsiam_weights (the RGB
        trunk of SimSiam pre-training, training.simsiam); pretrained.init_weights then load
        its trunk and embedding, what pose-selfsup trains; the classifier and rotation heads
        start anew (their sizes may differ: other representation or objects).
        finetune.freeze_backbone stops the trunk's training, finetune.freeze_batchnorm only
        its batch norm's.
        """
        model = super().build_model()
        pretrained = self.config['pretrained']
        if pretrained['backbone_weights']:
            load_initial_weights(model.trunk, model.backbone, pretrained['backbone_weights'])
        if pretrained['simsiam_weights']:
            load_simsiam_trunk(model.trunk, model.backbone, self.model_kwargs()['input_scaling'],
                               pretrained['simsiam_weights'])
        if self.config['finetune']['freeze_backbone']:
            model.freeze_trunk()
        elif self.config['finetune']['freeze_batchnorm']:
            model.freeze_trunk_batchnorm()
        init = pretrained['init_weights']
        if init:
            state = {key: value for key, value in load_file(init).items()
                     if key.startswith(('trunk.', 'embedding.'))}
            model.load_state_dict(state, strict=False)
        return model

    def _crops(self, folders, limit=None):
        data = self.config['data']
        return object_crops([Path(f) for f in folders], self.catalogue.ids,
                            self.config['model']['crop_size'], data['context'],
                            data['min_visible'], data['min_pixels'], data['jitter'],
                            data['seed'], limit)

    def train_dataset(self):
        """Return the crops of data.train_dirs with their near-view partners."""
        return PoseCrops(self._crops(self.config['data']['train_dirs']),
                         self.config['model']['input_mode'])

    def train_mix(self, dataset):
        """Return the mix of data.train_weights over the data.train_dirs folders, or None."""
        data = self.config['data']
        return train_mix(data['train_weights'], dataset.crops['folder'], data['train_dirs'])

    def eval_dataset(self):
        """Return the crops of data.eval_dir (the evaluation itself runs the stage)."""
        data = self.config['data']
        return PoseCrops(self._crops([data['eval_dir']], data['eval_frames']),
                         self.config['model']['input_mode'])

    def data_description(self):
        """Return the data, how it was made, and the object ids in head order."""
        data = self.config['data']
        return {'object_ids': self.catalogue.ids, 'catalogue': self.config['objects'],
                'train_dirs': data['train_dirs'], 'train_weights': data['train_weights'],
                'eval_dir': data['eval_dir'],
                'generated_by': data['generated_by'],
                'input': f"{self.config['model']['input_mode']} crop (see "
                         'rgbd_perception.geometry.crops)',
                'target': 'allocentric rotation, object identity'}

    def loss(self, model, batch):
        """Return the weighted sum of the configured loss terms on a randomised batch."""
        weights, augment = self.config['loss'], self.config['augment']
        crops = torch.cat([batch['crop'], batch['partner']])
        index = torch.cat([batch['index'], batch['partner_index']])
        rotation = torch.cat([batch['rotation'], batch['partner_rotation']])
        clean = jitter_crops(crops, augment['colour'])
        seen, occluded, covered = add_occluders(clean, augment['occluder_probability'])
        seen = drop_depth(seen, augment['depth_dropout'])
        count = len(seen)
        # One forward pass (DDP wants one): the clean versions of the occluded crops ride
        # along for the occlusion term.
        out = model(torch.cat([seen, clean[occluded]]) if weights['occlusion'] else seen)
        reference = out['embedding'][count:]
        out = {key: value[:count] for key, value in out.items()}
        device = crops.device
        total = torch.zeros((), device=device)
        half = len(batch['crop'])
        if weights['contrastive']:
            total = total + weights['contrastive'] * viewpoint_contrastive_loss(
                out['embedding'][:half], out['embedding'][half:], rotation[:half],
                rotation[half:], index[:half], index[half:], weights['temperature'],
                self.config['data']['near_degrees'])
        symmetric = self.symmetric.to(device)[index]
        if weights['regression']:
            rows = torch.arange(len(index), device=device)
            total = total + weights['regression'] * rotation_regression_loss(
                out['raw'][rows, index], out['rotation'][rows, index], rotation,
                model_rotation(model), symmetric, self.points.to(device)[index],
                self.diameters.to(device)[index])
        if weights['feature_pose']:
            total = total + weights['feature_pose'] * feature_pose_loss(
                out['embedding'], rotation, index, symmetric)
        if weights['occlusion'] and len(reference):
            total = total + weights['occlusion'] * occlusion_loss(out['embedding'][occluded],
                                                                  reference)
        if weights['classification']:
            total = total + weights['classification'] * F.cross_entropy(out['logits'], index)
        if weights['mask']:
            visible = torch.cat([batch['mask'], batch['partner_mask']]) * ~covered
            total = total + weights['mask'] * visible_mask_loss(out['mask_logits'], visible)
        return total

    def evaluate(self, model, device, out_dir):
        """Return the pose stage's metrics on the held-out scenes (see evaluation)."""
        data = self.config['data']
        return evaluate_poses((model, self.catalogue.ids), self.catalogue,
                              Path(data['eval_dir']), device, data['eval_frames'],
                              templates=build_templates(model, self.train_dataset(), device),
                              rgb_only=self.config['model']['input_mode'] == 'rgb' or
                              self.config['augment']['depth_dropout'] > 0,
                              hypotheses=data['eval_hypotheses'],
                              segment_boxes=data['eval_segment_boxes'])


def model_rotation(model):
    """Return the rotation representation of a PoseNet, also when DDP wraps it."""
    return getattr(model, 'module', model).rotation


class PoseSelfSupervisedTask(PoseTask):
    """Relative-viewpoint contrastive pre-training (Khan 2025); configs/pose_selfsup.yaml."""

    name = 'pose-selfsup'
    config_name = 'pose_selfsup.yaml'

    def evaluate(self, model, device, out_dir):
        """
        Return nearest-neighbour viewpoint retrieval on held-out crops, per object.

        Each held-out crop takes the rotation of the training crop of the same object whose
        embedding is nearest (cosine); reported: mean rotation error and the shares under 15
        and 30 degrees (asymmetric objects).
        """
        templates = build_templates(model, self.train_dataset(), device)
        held_out = self.eval_dataset()
        heads = torch.from_numpy(held_out.crops['index'])
        found = templates.rotations(embed_crops(model, held_out, device).to(device),
                                    heads.to(device)).cpu()
        errors_all = torch.rad2deg(roma.rotmat_geodesic_distance(
            found, torch.from_numpy(held_out.crops['rotation']))).numpy()
        results = {}
        for position, obj_id in enumerate(self.catalogue.ids):
            queries = np.flatnonzero(held_out.crops['index'] == position)
            if self.catalogue[obj_id].symmetric or not len(queries):
                continue
            errors = errors_all[queries]
            results[str(obj_id)] = {'count': len(queries),
                                    'rotation_error_deg': float(errors.mean()),
                                    'within_15_deg': float((errors < 15).mean()),
                                    'within_30_deg': float((errors < 30).mean())}
        return {'nearest_neighbour': results}
