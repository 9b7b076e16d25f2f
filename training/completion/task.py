"""
``python -m training completion``: train VanishingDepthNet on synthetic (and real) RGB-D frames.

Training batches are whole frames at the model's working size; the loss crops, flips and
colour-jitters them, randomises the depth distribution, removes 1-99 % of the valid input
depth (curriculum from reconstruction to balanced) and scores every decoder scale with the
balanced scale-invariant loss.  The RGB encoder (model.rgb_backbone) may start from ImageNet
weights (pretrained.backbone_weights: a torchvision weights name or a local state_dict, see
rgbd_perception.models.backbones) normalised by model.input_scaling, frozen when
finetune.freeze_backbone (as Vanishing Depth does); pretrained.init_weights starts the whole
model from exported weights instead, e.g. the bundled ones when a user adapts completion to
their sensor from a recording (data.real_train: [{dataset: recording, root: BAG}]; the target
is depth removed from the sensor's own frames, no labels).  evaluate() compares the model with
IP-Basic on held-out synthetic frames and on the real sample frames (when present) at fixed
removal rates.
"""

from pathlib import Path

from rgbd_perception.models.backbones import resolve_input_scaling
from rgbd_perception.models.depth_completion import VanishingDepthNet
from rgbd_perception.runtime.weights import load_exported
from training.completion.data import (real_sample_groups, RealCompletionFrames,
                                      synthetic_frames, SyntheticCompletionFrames)
from training.completion.evaluation import evaluate_removal, plot_examples
from training.completion.loss import multiscale_balanced_loss
from training.completion.randomise import (jitter_colour, random_crop_and_flip,
                                           randomise_distribution, removal_fractions,
                                           remove_depth)
from training.framework.base_task import Task
from training.framework.config import ConfigError
from training.framework.mixing import folders_then_readers, folders_then_readers_mix


class CompletionTask(Task):
    """Depth completion (Vanishing Depth); see the module docstring and configs/completion.yaml."""

    name = 'completion'
    config_name = 'completion.yaml'
    model_class = VanishingDepthNet

    def model_kwargs(self):
        """
        Return the model section, model.input_scaling resolved.

        A null model.input_scaling becomes that of pretrained.backbone_weights (see
        backbones.resolve_input_scaling), so the manifest records the one trained with.
        """
        model = self.config['model']
        scaling = resolve_input_scaling(self.config['pretrained']['backbone_weights'],
                                        model['input_scaling'])
        return {**model, 'input_scaling': scaling}

    def build_model(self):
        """
        Return a new model; pretrained.backbone_weights initialise its RGB encoder.

        With finetune.freeze_backbone those weights stay fixed, batch-norm statistics
        included; a randomly initialised encoder (no backbone_weights) always trains.
        pretrained.init_weights (exported VanishingDepthNet weights of the same model section)
        then replace every weight.
        """
        model = super().build_model()
        pretrained = self.config['pretrained']
        weights = pretrained['backbone_weights']
        if weights:
            model.rgb_encoder.load_initial_weights(weights)
            if self.config['finetune']['freeze_backbone']:
                model.rgb_encoder.freeze()
        if pretrained['init_weights']:
            state, manifest = load_exported(pretrained['init_weights'])
            kwargs = self.model_kwargs()
            differing = {key: value for key, value in manifest['model_kwargs'].items()
                         if kwargs.get(key) != value}
            if differing:
                raise ConfigError(f"pretrained.init_weights {pretrained['init_weights']} was "
                                  f'trained with model settings {differing}; set them in the '
                                  'config')
            model.load_state_dict({key: value.float() for key, value in state.items()})
        return model

    def train_dataset(self):
        """Return the synthetic (data.train_dirs) and real (data.real_train) training frames."""
        return folders_then_readers(self.config['data'], SyntheticCompletionFrames,
                                    RealCompletionFrames)

    def train_mix(self, dataset):
        """Return the mix of data.train_weights over train_dirs, then real_train sources."""
        return folders_then_readers_mix(self.config['data'], dataset)

    def eval_dataset(self):
        """Return the held-out synthetic frames (data.eval_dir) at the working size."""
        data = self.config['data']
        return SyntheticCompletionFrames([Path(data['eval_dir'])], data['downsample'])

    def data_description(self):
        """Return the training and evaluation data, how it was made and what goes in and out."""
        data = self.config['data']
        return {'train_dirs': data['train_dirs'], 'real_train': data['real_train'],
                'train_weights': data['train_weights'],
                'eval_dir': data['eval_dir'],
                'eval_frames': data['eval_frames'], 'real_dir': data['real_dir'],
                'generated_by': data['generated_by'], 'working_downsample': data['downsample'],
                'input': 'rgb (3, H, W) float in [0, 1] + depth (1, H, W) metres, 0 = missing',
                'target': 'exact synthetic depth (depth_clean/), metres'}

    def loss(self, model, batch):
        """Return the multi-scale balanced scale-invariant loss on a randomised batch."""
        augment = self.config['augment']
        height, width = augment['crop']
        batch = random_crop_and_flip(batch, height, width, augment.get('vertical_flip', 0.0))
        depth, clean = randomise_distribution(batch['depth'], batch['clean'], augment['bins'],
                                              augment['metric_probability'])
        fractions = removal_fractions(len(depth), self.progress, augment['curriculum_warm_up'])
        holed, _ = remove_depth(depth, fractions, augment['mask_kinds'])
        predictions = model(jitter_colour(batch['rgb']), holed, all_scales=True)
        return multiscale_balanced_loss(predictions, clean, holed > 0)

    def evaluate(self, model, device, out_dir):
        """Return model and IP-Basic metrics per removal rate; write example PNGs."""
        data = self.config['data']
        fractions = data['eval_removal']
        frames = [(name, rgb, depth, clean) for name, rgb, depth, clean in
                  synthetic_frames(data['eval_dir'], data['eval_frames'])]
        synthetic, examples = evaluate_removal(frames, fractions, model, device,
                                               data['downsample'], seed=data['eval_seed'])
        plot_examples(examples, out_dir / 'synthetic_examples.png')
        metrics = {'synthetic': synthetic}
        real_dir = Path(data['real_dir'])
        if real_dir.is_dir():
            real = {}
            for name, frames in real_sample_groups(real_dir).items():
                real[name], examples = evaluate_removal(
                    [(frame, rgb, depth, depth) for frame, rgb, depth in frames], fractions,
                    model, device, data['downsample'], seed=data['eval_seed'],
                    repeats=data['real_repeats'])
                plot_examples(examples, out_dir / f'real_{name}_examples.png')
            metrics['real'] = real
        return metrics
