"""
Torchvision RGB trunks by name, their input scaling, and their initial weights.

A trunk is a torchvision classifier whose classification layer is an identity: it maps
(B, C, H, W) images to (B, width) pooled features.  For C != 3 (RGB-D) the first convolution
is widened; pretrained RGB filters are kept and the extra channels' filters start at zero, so
a pretrained trunk initially sees only the colour.

Initial weights (:func:`load_initial_weights`) are either a torchvision weights name such as
``'MobileNet_V2_Weights.IMAGENET1K_V1'`` (torchvision downloads them: needs internet) or a
local file: a torchvision state_dict as ``.pth`` / ``.pt`` (read with
``torch.load(weights_only=True)``) or ``.safetensors``.  Both load strictly into the whole
torchvision model, classifier included, so a file of another architecture fails loudly.

Input scaling (INPUT_SCALINGS) is what the initial weights were trained with, RGB in [0, 1]:
'imagenet' (torchvision's weights: ImageNet mean / std) or 'minus_one_one' (x / 127.5 - 1 of
8-bit RGB, TensorFlow's MobileNets, e.g. the shared ImageNet MobileNetV2 of
../shared/pretrained).  :func:`resolve_input_scaling` gives a torchvision name's 'imagenet'
and requires a local file's scaling to be stated: a state_dict does not say it.
"""

from pathlib import Path

from safetensors.torch import load_file
import torch
from torch import nn
import torchvision

#: name -> (constructor, classifier attribute, first convolution's dotted path).
BACKBONES = {
    'resnet18': (torchvision.models.resnet18, 'fc', 'conv1'),
    'resnet34': (torchvision.models.resnet34, 'fc', 'conv1'),
    'resnet50': (torchvision.models.resnet50, 'fc', 'conv1'),
    'mobilenet_v2': (torchvision.models.mobilenet_v2, 'classifier', 'features.0.0'),
    'mobilenet_v3_small': (torchvision.models.mobilenet_v3_small, 'classifier',
                           'features.0.0'),
}
#: name -> (dotted path, channels) of the trunk's last stride-8 feature map (dense heads).
STRIDE8_TAPS = {
    'resnet18': ('layer2', 128),
    'resnet34': ('layer2', 128),
    'resnet50': ('layer2', 512),
    'mobilenet_v2': ('features.6', 32),
    'mobilenet_v3_small': ('features.3', 24),
}
#: name -> dotted path of the trunk's last stride-16 feature map (local descriptors).
STRIDE16_TAPS = {
    'resnet18': 'layer3',
    'mobilenet_v2': 'features.13',
}
#: scaling -> (mean, std) per RGB channel applied as (rgb - mean) / std to RGB in [0, 1].
INPUT_SCALINGS = {
    'imagenet': ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    'minus_one_one': ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}
LOCAL_SUFFIXES = ('.pth', '.pt', '.safetensors')


def _check_name(name):
    if name not in BACKBONES:
        raise ValueError(f'unknown backbone {name!r}, expected one of {sorted(BACKBONES)}')


def build_trunk(name, in_channels=3):
    """
    Return (trunk, width): a randomly initialised torchvision trunk and its feature size.

    trunk maps (B, in_channels, H, W) images to (B, width) features; its parameter names are
    torchvision's (minus the classifier's), e.g. resnet18: 'conv1.weight', width 512.
    """
    _check_name(name)
    constructor, head, first = BACKBONES[name]
    trunk = constructor()
    width = next(module for module in getattr(trunk, head).modules()
                 if isinstance(module, nn.Linear)).in_features
    setattr(trunk, head, nn.Identity())
    if in_channels != 3:
        parent_path, _, attribute = first.rpartition('.')
        parent = trunk.get_submodule(parent_path)
        conv = getattr(parent, attribute)
        setattr(parent, attribute, nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size,
                                             conv.stride, conv.padding, bias=False))
    return trunk, width


def pooled_and_stride8(trunk, name, images):
    """
    Return ((B, W) pooled features, (B, C, ceil(H / 8), ceil(W / 8)) stride-8 feature map).

    One pass of a build_trunk(name) trunk over (B, C_in, H, W) images; the map is that of
    STRIDE8_TAPS[name] (C its channels), kept by a forward hook for the call's duration.
    """
    kept = []
    tap = trunk.get_submodule(STRIDE8_TAPS[name][0])
    handle = tap.register_forward_hook(lambda module, inputs, output: kept.append(output))
    try:
        pooled = trunk(images)
    finally:
        handle.remove()
    return pooled, kept[0]


def weights_enum(name, weights):
    """
    Return the torchvision Weights enum member of a weights name, checked against a backbone.

    E.g. ('mobilenet_v2', 'MobileNet_V2_Weights.IMAGENET1K_V1'); nothing is downloaded.
    """
    _check_name(name)
    member = torchvision.models.get_weight(weights)
    if not isinstance(member, torchvision.models.get_model_weights(name)):
        raise ValueError(f'{weights} are not weights of {name}')
    return member


def is_local_file(weights):
    """Return whether initial weights name a local file (by suffix) rather than torchvision's."""
    return Path(weights).suffix in LOCAL_SUFFIXES


def resolve_input_scaling(weights, scaling=None):
    """
    Return the key of INPUT_SCALINGS for initial weights (None: random start).

    scaling (None: from the weights) wins when given.  A torchvision weights name or a random
    start gives 'imagenet'; a local file needs an explicit scaling (ValueError otherwise).
    """
    if scaling is not None:
        if scaling not in INPUT_SCALINGS:
            raise ValueError(f'unknown input scaling {scaling!r}, expected one of '
                             f'{sorted(INPUT_SCALINGS)}')
        return scaling
    if weights and is_local_file(weights):
        raise ValueError(f'state the input scaling of {weights} (one of '
                         f'{sorted(INPUT_SCALINGS)}): a state_dict does not record it')
    return 'imagenet'


def read_state_dict(name, weights):
    """Return the torchvision state_dict of initial weights: a name (downloads) or a file."""
    if not is_local_file(weights):
        return weights_enum(name, weights).get_state_dict(progress=False)
    if Path(weights).suffix == '.safetensors':
        return load_file(weights)
    return torch.load(weights, map_location='cpu', weights_only=True)


def load_initial_weights(trunk, name, weights):
    """
    Load initial weights into a trunk of build_trunk(name, C) in place; see the module.

    The state_dict must fit the whole torchvision model (strict); the classifier's entries
    are then dropped.  For C > 3 the first convolution keeps the RGB filters and its other
    input channels' filters are zero.
    """
    constructor, head, _ = BACKBONES[name]
    state = read_state_dict(name, weights)
    constructor().load_state_dict(state, strict=True)
    load_trunk_state(trunk, name, {key: value for key, value in state.items()
                                   if not key.startswith(f'{head}.')})


def load_trunk_state(trunk, name, state):
    """
    Load an RGB trunk's state_dict (classifier excluded) into a build_trunk(name, C) trunk.

    Strict; for C > 3 the first convolution keeps the RGB filters and its other input
    channels' filters are zero (so a trunk of RGB-D crops starts by seeing colour only).
    """
    first = BACKBONES[name][2]
    state = dict(state)
    key = f'{first}.weight'
    target = trunk.get_submodule(first).weight
    if target.shape != state[key].shape:
        widened = torch.zeros_like(target)
        widened[:, :3] = state[key]
        state[key] = widened
    trunk.load_state_dict(state, strict=True)


class FrozenTrunk:
    """
    Mixin that freezes the ``trunk`` attribute wholly or only its batch norm.

    freeze_trunk() stops the trunk's training, batch norm included;
    freeze_trunk_batchnorm() only keeps its batch-norm layers in eval() (their statistics and
    affine parameters fixed) while the convolutions fine-tune, for initial weights whose batch
    norm must not be re-estimated from small batches (the shared MobileNetV2's are identities
    carrying folded statistics: batch statistics would rescale every layer).
    """

    trunk_frozen = False
    trunk_batchnorm_frozen = False

    def freeze_trunk(self):
        """Set the trunk's requires_grad False and keep it in eval() from now on."""
        self.trunk.requires_grad_(False)
        self.trunk_frozen = True
        self.train(self.training)

    def freeze_trunk_batchnorm(self):
        """Keep the trunk's batch-norm layers in eval(), their parameters fixed, from now on."""
        for module in self._trunk_batchnorms():
            module.requires_grad_(False)
        self.trunk_batchnorm_frozen = True
        self.train(self.training)

    def _trunk_batchnorms(self):
        return [module for module in self.trunk.modules()
                if isinstance(module, nn.modules.batchnorm._BatchNorm)]

    def train(self, mode=True):
        """Set train / eval mode (nn.Module.train); frozen parts stay in eval()."""
        super().train(mode)
        if self.trunk_frozen:
            self.trunk.eval()
        elif self.trunk_batchnorm_frozen:
            for module in self._trunk_batchnorms():
                module.eval()
        return self
