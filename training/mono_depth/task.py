"""
``python -m training mono-depth``: train MonoDepthNet (seed 002) on synthetic and real frames.

Batches are whole frames at the working size; the loss zooms, crops and flips them (the
focal length follows, so targets stay in the canonical camera), jitters colour, and scores
the RGB branch (the main loss) and, for the thesis architecture, the RGB-D branch on
sparsified sensor depth, each with the infinity loss, plus the latent alignment loss; the
secondary losses are rescaled to the main loss's size and weighted by one-cycle schedules
(dynamic loss weighting, thesis §6).  evaluate() reports held-out synthetic and real frames
(metric and median-scaled), and zero-shot stitching for the thesis architecture.
"""

from pathlib import Path

import torch

from rgbd_perception.models.backbones import resolve_input_scaling
from rgbd_perception.models.mono_depth import metres_to_inverse, MonoDepthNet
from training.completion.data import synthetic_frames
from training.completion.randomise import jitter_colour
from training.framework.base_task import Task
from training.framework.mixing import folders_then_readers, folders_then_readers_mix
from training.mono_depth.augment import random_zoom_crop, sparsify
from training.mono_depth.data import RealMonoFrames, synthetic_focal, SyntheticMonoFrames
from training.mono_depth.evaluation import evaluate_frames, real_mono_groups
from training.mono_depth.loss import adjusted, infinity_loss, inverse_depth_error, one_cycle


class _StitchedModel(torch.nn.Module):
    """The RGB encoder and alignment feeding the RGB-D decoder (zero-shot stitching)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, rgb):
        return self.model.rgbd_decoder(self.model.alignment.rgb(self.model.encoder(rgb)))


class MonoDepthTask(Task):
    """Monocular depth (seed 002); see the module docstring and configs/mono_depth.yaml."""

    name = 'mono-depth'
    config_name = 'mono_depth.yaml'
    model_class = MonoDepthNet

    def model_kwargs(self):
        """Return the model section, input_scaling resolved from the unet's initial weights."""
        model = self.config['model']
        scaling = resolve_input_scaling(self.config['pretrained']['backbone_weights'],
                                        model['input_scaling'])
        return {**model, 'widths': list(model['widths']), 'input_scaling': scaling}

    def exported_model_kwargs(self):
        """Return model_kwargs without the RGB-D branch (it only serves training)."""
        return {**self.model_kwargs(), 'rgbd_branch': False}

    def exported_tensors(self, state_dict):
        """Return the RGB branch's tensors in fp16 (the RGB-D branch is not exported)."""
        return {name: value.half() if value.is_floating_point() else value
                for name, value in state_dict.items() if not name.startswith('rgbd_')}

    def build_model(self):
        """
        Return a new model; pretrained.backbone_weights initialise the unet's encoder.

        With finetune.freeze_encoder those weights stay fixed, batch-norm statistics included.
        """
        model = super().build_model()
        weights = self.config['pretrained']['backbone_weights']
        if weights and self.config['model']['architecture'] == 'unet':
            model.encoder.load_initial_weights(weights)
            if self.config['finetune']['freeze_encoder']:
                model.encoder.freeze()
        return model

    def train_dataset(self):
        """Return the synthetic (data.train_dirs) and real (data.real_train) training frames."""
        return folders_then_readers(self.config['data'], SyntheticMonoFrames, RealMonoFrames)

    def train_mix(self, dataset):
        """Return the mix of data.train_weights over train_dirs, then real_train sources."""
        return folders_then_readers_mix(self.config['data'], dataset)

    def eval_dataset(self):
        """Return the held-out synthetic frames (data.eval_dirs) at the working size."""
        data = self.config['data']
        return SyntheticMonoFrames([Path(d) for d in data['eval_dirs']], data['downsample'])

    def data_description(self):
        """Return the training and evaluation data, how it was made and what goes in and out."""
        data = self.config['data']
        return {key: data[key] for key in ('train_dirs', 'real_train', 'train_weights',
                                           'eval_dirs', 'real_dir', 'generated_by',
                                           'input_width')} | {
            'input': 'rgb (3, H, W) float in [0, 1], H and W divisible by 32',
            'output': 'canonical inverse depth in (0, 1) (rgbd_perception.models.mono_depth)',
            'target': 'exact synthetic depth (depth_clean/), metres'}

    def loss(self, model, batch):
        """Return the dynamically weighted thesis loss on a randomised batch."""
        augment, weights = self.config['augment'], self.config['loss']
        sky_known = batch['sky_known'].view(-1, 1, 1, 1)
        batch = random_zoom_crop(batch, tuple(augment['crop']), augment['max_zoom'])
        rgb = jitter_colour(batch['rgb'], augment['colour_jitter'])
        target = metres_to_inverse(batch['clean'], batch['focal'])
        valid, sky = batch['clean'] > 0, (batch['clean'] <= 0) & sky_known
        threshold = weights['infinity_threshold']
        kind = weights['depth']
        schedule = {name: one_cycle(self.progress, *weights[name], weights['peak_at'])
                    for name in ('infinity', 'alignment')}
        if getattr(model, 'rgbd_encoder', None) is None:
            prediction = model(rgb)
            main = inverse_depth_error(prediction, target, valid, kind)
            return main + schedule['infinity'] * adjusted(
                main, infinity_loss(prediction, sky, valid, threshold))
        sparse = metres_to_inverse(sparsify(batch['depth'], *augment['sparse_keep']),
                                   batch['focal'])
        outputs = model.branches(rgb, sparse)
        main = inverse_depth_error(outputs['rgb'], target, valid, kind)
        depth_branch = inverse_depth_error(outputs['rgbd'], target, valid, kind)
        total = main + weights['rgbd'] * depth_branch
        for prediction, scale in ((outputs['rgb'], main), (outputs['rgbd'], depth_branch)):
            total = total + schedule['infinity'] * adjusted(
                scale, infinity_loss(prediction, sky, valid, threshold))
        if model.alignment.kind != 'none' and outputs['alignment'].requires_grad:
            total = total + schedule['alignment'] * adjusted(main, outputs['alignment'])
        return total

    def evaluate(self, model, device, out_dir):
        """Return metric and median-scaled errors on held-out synthetic and real frames."""
        data = self.config['data']
        width = data['input_width']
        models = {'rgb': model}
        if getattr(model, 'rgbd_encoder', None) is not None:
            models['stitched'] = _StitchedModel(model)
        synthetic = [(name, rgb, clean, synthetic_focal(folder))
                     for folder in data['eval_dirs']
                     for name, rgb, _, clean in synthetic_frames(folder, data['eval_frames'])]
        metrics = {'synthetic': {name: evaluate_frames(synthetic, branch, width)
                                 for name, branch in models.items()}}
        real_dir = Path(data['real_dir'])
        if real_dir.is_dir():
            metrics['real'] = {group: evaluate_frames(frames, model, width)
                               for group, frames in real_mono_groups(real_dir).items()}
        return metrics
