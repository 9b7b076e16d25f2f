"""
Vanishing Depth completion network (Koch et al. 2025): RGB + sparse depth -> dense metric depth.

A torchvision RGB encoder (rgbd_perception.models.backbones) and a depth encoder over the
positional depth encoding run side by side; squeeze-and-excitation fusion adds the RGB
features into the depth branch at the four encoder stages (strides 4, 8, 16, 32); a U-Net
decoder with four heads (strides 8, 4, 2, 1) decodes adaptive depth bins (after AdaBins) into
depth.  The last decoder stage sees the normalised depth, its validity and the RGB at full
resolution (not the PDE: a third of the cost for the same edges).  Depth is normalised per
image by a quantile of its valid values (the largest by default; a lower quantile keeps a few
far pixels from rescaling the whole image), so one network serves any depth range; the output
is metric again.
"""

import torch
from torch import nn
import torch.nn.functional as F
from torchvision.ops import SqueezeExcitation

from rgbd_perception.models.backbones import build_trunk, INPUT_SCALINGS, load_initial_weights
from rgbd_perception.models.positional_depth_encoding import PositionalDepthEncoding

#: RGB backbone (a key of backbones.BACKBONES) -> (output channels of its four stages, at
#: strides 4, 8, 16 and 32; where a MobileNet's ``features`` are cut into them, or None: a
#: ResNet's stem + layer1, layer2, layer3, layer4).  Later layers are left out.
RGB_BACKBONES = {
    'mobilenet_v3_small': ((16, 24, 48, 96), (0, 2, 4, 9, 12)),
    'mobilenet_v2': ((24, 32, 96, 320), (0, 4, 7, 14, 18)),
    'resnet18': ((64, 128, 256, 512), None),
    'resnet34': ((64, 128, 256, 512), None),
    'resnet50': ((256, 512, 1024, 2048), None),
}

#: Per size: default RGB backbone, depth encoder channels at strides 4..32, decoder channels
#: at strides 16, 8, 4, 2, 1.
SIZES = {
    'small': {'backbone': 'mobilenet_v3_small', 'encoder': (24, 32, 64, 96),
              'decoder': (64, 48, 32, 24, 16)},
    'large': {'backbone': 'resnet18', 'encoder': (64, 128, 192, 256),
              'decoder': (192, 128, 64, 48, 32)},
}


def conv_block(in_channels, out_channels, stride=1):
    """Return two 3x3 conv + BatchNorm + ReLU layers, the first with ``stride``."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def cut_stages(name, trunk):
    """Return the four stages (nn.ModuleList) of a backbones.build_trunk(name) trunk."""
    bounds = RGB_BACKBONES[name][1]
    if bounds is None:
        return nn.ModuleList([
            nn.Sequential(trunk.conv1, trunk.bn1, trunk.relu, trunk.maxpool, trunk.layer1),
            trunk.layer2, trunk.layer3, trunk.layer4])
    return nn.ModuleList(trunk.features[start:end] for start, end in zip(bounds, bounds[1:]))


class RgbEncoder(nn.Module):
    """
    A torchvision backbone cut into four stages of strides 4, 8, 16 and 32.

    name: a key of RGB_BACKBONES, e.g. 'mobilenet_v3_small' (channels 16, 24, 48, 96),
    'mobilenet_v2' (24, 32, 96, 320) or 'resnet18' (64, 128, 256, 512); ``channels`` holds
    them.  Input (B, 3, H, W) RGB normalised by the input scaling of its weights; output a
    list of four feature maps.
    """

    def __init__(self, name):
        super().__init__()
        if name not in RGB_BACKBONES:
            raise ValueError(f'unknown RGB backbone {name!r}, expected one of '
                             f'{sorted(RGB_BACKBONES)}')
        self.name = name
        self.channels = RGB_BACKBONES[name][0]
        self.stages = cut_stages(name, build_trunk(name)[0])
        self.frozen = False

    def load_initial_weights(self, weights):
        """
        Load initial weights: a torchvision weights name or a local .pth / .safetensors file.

        They must fit the whole torchvision model (strict, see backbones.load_initial_weights);
        the layers after the four stages are dropped.
        """
        trunk, _ = build_trunk(self.name)
        load_initial_weights(trunk, self.name, weights)
        self.stages.load_state_dict(cut_stages(self.name, trunk).state_dict())

    def freeze(self):
        """Stop training the encoder: no gradients, and eval() from now on (batch norm fixed)."""
        self.requires_grad_(False)
        self.frozen = True
        self.eval()

    def train(self, mode=True):
        """Switch modes; a frozen encoder stays in eval mode (BatchNorm statistics fixed)."""
        return super().train(mode and not self.frozen)

    def forward(self, rgb):
        """Return the four (B, C_i, H / 2^(i+2), W / 2^(i+2)) feature maps."""
        features = []
        for stage in self.stages:
            rgb = stage(rgb)
            features.append(rgb)
        return features


class SqueezeExcitationFusion(nn.Module):
    """Fuse RGB into depth features: SE(depth) + SE(1x1 conv(RGB)), both (B, C, h, w)."""

    def __init__(self, depth_channels, rgb_channels):
        super().__init__()
        squeeze = max(depth_channels // 4, 4)
        self.project = nn.Conv2d(rgb_channels, depth_channels, 1)
        self.excite_depth = SqueezeExcitation(depth_channels, squeeze)
        self.excite_rgb = SqueezeExcitation(depth_channels, squeeze)

    def forward(self, depth_features, rgb_features):
        """Return the fused (B, C_depth, h, w) features."""
        return (self.excite_depth(depth_features)
                + self.excite_rgb(self.project(rgb_features)))


class AdaptiveBinsHead(nn.Module):
    """
    Per-pixel depth as the expectation over image-adaptive bins (after AdaBins).

    The bin widths come from the image's global feature; each pixel's bin probabilities
    from its decoder features.  Depth is in normalised units in (0, depth_range).
    """

    def __init__(self, in_channels, bins):
        super().__init__()
        self.logits = nn.Conv2d(in_channels, bins, 1)

    def forward(self, features, centres):
        """Return (B, 1, h, w) normalised depth for (B, C, h, w) features, (B, bins) centres."""
        probabilities = torch.softmax(self.logits(features), dim=1)
        return (probabilities * centres[:, :, None, None]).sum(dim=1, keepdim=True)


class VanishingDepthNet(nn.Module):
    """
    Depth completion: (B, 3, H, W) RGB in [0, 1] + (B, 1, H, W) depth in metres (0 = missing).

    size: 'small' (MobileNetV3-Small RGB encoder, for CPUs) or 'large' (ResNet-18, GPUs).
    rgb_backbone: a key of RGB_BACKBONES replacing the size's RGB encoder (None: the size's).
    input_scaling: a key of backbones.INPUT_SCALINGS, how RGB is normalised for the encoder
    (that of its initial weights; the last decoder stage sees the same normalised RGB).
    pde_channels / pde_temperature: the PositionalDepthEncoding.  bins: adaptive depth bins.
    depth_range: the bins span (0, depth_range) times the image's depth scale, the
    ``scale_quantile`` quantile of its valid depth (1.0: the largest).
    forward() returns (B, 1, H, W) metres, or with all_scales=True a list of four maps at
    strides 1, 2, 4 and 8 (the training loss uses all of them).  Frames without any valid
    depth are undefined (callers reject them).
    """

    def __init__(self, size='small', pde_channels=32, pde_temperature=3e-4, bins=64,
                 depth_range=1.5, scale_quantile=1.0, rgb_backbone=None,
                 input_scaling='imagenet'):
        super().__init__()
        if size not in SIZES:
            raise ValueError(f'unknown size {size!r}, expected one of {sorted(SIZES)}')
        spec = SIZES[size]
        enc, dec = spec['encoder'], spec['decoder']
        if not 0.0 < scale_quantile <= 1.0:
            raise ValueError(f'scale_quantile must lie in (0, 1], got {scale_quantile}')
        self.depth_range = depth_range
        self.scale_quantile = scale_quantile
        mean, std = INPUT_SCALINGS[input_scaling]
        self.register_buffer('rgb_mean', torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('rgb_std', torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.encoding = PositionalDepthEncoding(pde_channels, pde_temperature)
        self.rgb_encoder = RgbEncoder(rgb_backbone or spec['backbone'])
        self.stem = conv_block(pde_channels, dec[3], stride=2)
        self.depth_stages = nn.ModuleList(
            conv_block(c_in, c_out, stride=2) for c_in, c_out in zip((dec[3],) + enc[:-1], enc))
        self.fusions = nn.ModuleList(SqueezeExcitationFusion(c, r) for c, r in zip(
            enc, self.rgb_encoder.channels))
        skips = (enc[2], enc[1], enc[0], dec[3], 5)
        self.up_blocks = nn.ModuleList(conv_block(c_in + skip, c_out) for c_in, skip, c_out in
                                       zip((enc[3],) + dec[:-1], skips, dec))
        self.bin_widths = nn.Sequential(nn.Linear(enc[3], 128), nn.ReLU(inplace=True),
                                        nn.Linear(128, bins))
        self.heads = nn.ModuleList(AdaptiveBinsHead(c, bins) for c in dec[1:])

    def bin_centres(self, deepest):
        """Return (B, bins) normalised bin centres from the (B, C, h, w) deepest features."""
        widths = torch.softmax(self.bin_widths(deepest.mean(dim=(2, 3))), dim=1)
        edges = torch.cumsum(widths, dim=1) * self.depth_range
        return edges - 0.5 * widths * self.depth_range

    def depth_scale(self, depth):
        """
        Return (B, 1, 1, 1) metres: the scale_quantile quantile of each image's valid depth.

        depth: (B, 1, H, W) metres, 0 = missing.  Sorting puts the missing pixels (0) first;
        the quantile is the lower of the two values around it (no interpolation).
        """
        values = depth.flatten(1)
        if self.scale_quantile == 1.0:  # the same value as below, without a full sort
            return values.amax(dim=1).clamp_min(1e-3).view(-1, 1, 1, 1)
        ordered = values.sort(dim=1).values
        valid_count = (values > 0).sum(dim=1)
        index = values.shape[1] - valid_count + (
            (valid_count - 1).clamp_min(0) * self.scale_quantile).long()
        index = index.clamp_max(values.shape[1] - 1)  # no valid pixel: 0, as amax gives
        return ordered.gather(1, index[:, None]).clamp_min(1e-3).view(-1, 1, 1, 1)

    def forward(self, rgb, depth, all_scales=False):
        """Return completed depth in metres; see the class docstring."""
        valid = depth > 0
        scale = self.depth_scale(depth)
        encoded = self.encoding(depth / scale, valid)
        rgb = (rgb - self.rgb_mean) / self.rgb_std
        rgb_features = self.rgb_encoder(rgb)
        features = [self.stem(encoded)]
        for stage, fusion, rgb_feature in zip(self.depth_stages, self.fusions, rgb_features):
            features.append(fusion(stage(features[-1]), rgb_feature))
        centres = self.bin_centres(features[-1])
        full_resolution = torch.cat([depth / scale, valid.to(depth.dtype), rgb], dim=1)
        skips = features[3:0:-1] + [features[0], full_resolution]
        x = features[-1]
        outputs = []
        for index, (block, skip) in enumerate(zip(self.up_blocks, skips)):
            x = F.interpolate(x, size=skip.shape[-2:], mode='bilinear', align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
            if index >= 1 and (all_scales or index == len(self.up_blocks) - 1):
                outputs.append(self.heads[index - 1](x, centres) * scale)
        return outputs[::-1] if all_scales else outputs[-1]
