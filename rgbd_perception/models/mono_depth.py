"""
Monocular metric depth (seed 002): an RGB autoencoder aligned to an RGB-D autoencoder.

Two architectures, both predicting *canonical inverse depth* y in (0, 1) (sigmoid) of a
(B, 3, H, W) RGB image in [0, 1]:

- 'thesis' (the seed's): two autoencoders without skip connections.  Encoder: a 7x7 stride-4
  conv stem, then per scale (strides 8, 16, 32) a strided 3x3 conv, two DenseBlocks and CBAM
  attention, GroupNorm + GELU throughout, a linear 1x1 conv to a C-channel latent (C = 192;
  384 x 768 in -> 12 x 24 latent).  Decoder: the mirror image with 2x2 transposed convs and a
  last 4x4 stride-4 transposed conv.  The RGB-D branch (training only) sees RGB plus the
  sparse inverse depth added to every colour channel (thesis §7); a LatentAlignment variant
  couples the latents.  Only the RGB branch is exported and runs at inference.
- 'unet' (the product variant): a torchvision RGB encoder (ImageNet weights where given,
  rgbd_perception.models.depth_completion.RgbEncoder) and a skip-connected decoder.

Metric scale for any camera (canonical camera model): a network sees the scene as if through
a camera of focal length CANONICAL_FOCAL_PX at its input resolution; an object at depth d seen
with focal f looks as one at d * CANONICAL_FOCAL_PX / f does with the canonical focal, so
canonical depth d_c = d * CANONICAL_FOCAL_PX / f and y = NEAR_M / d_c (clipped to (0, 1]).
inverse_to_metres / metres_to_inverse convert with the focal length f in pixels *at the
network's input resolution*.
"""

import torch
from torch import nn
import torch.nn.functional as F

from rgbd_perception.models.backbones import INPUT_SCALINGS
from rgbd_perception.models.depth_completion import conv_block, RgbEncoder
from rgbd_perception.models.latent_alignment import LatentAlignment, SpatialMap

ARCHITECTURES = ('thesis', 'unet')
#: Focal length (pixels at the network input) of the canonical camera the networks learn.
CANONICAL_FOCAL_PX = 500.0
#: Canonical depth (metres) of inverse depth 1; nearer is clipped to it.
NEAR_M = 0.1


def _inverse_depth_metres(focal_px):
    """Return (B, 1, 1, 1) metres of inverse depth 1 for (B,) focal lengths in pixels."""
    return (NEAR_M * focal_px.float() / CANONICAL_FOCAL_PX).view(-1, 1, 1, 1)


def metres_to_inverse(depth, focal_px):
    """
    Return canonical inverse depth y in [0, 1] of metric depth (0 = unknown stays 0).

    depth: (B, 1, H, W) metres; focal_px: (B,) focal length in pixels at this resolution.
    """
    scale = _inverse_depth_metres(focal_px)
    return torch.where(depth > 0, (scale / depth.clamp(min=1e-6)).clamp(max=1.0),
                       torch.zeros_like(depth))


def inverse_to_metres(inverse, focal_px, far_m=80.0):
    """Return (B, 1, H, W) metres of canonical inverse depth, at most far_m; see the docstring."""
    return (_inverse_depth_metres(focal_px) / inverse.float().clamp(min=1e-6)).clamp(max=far_m)


def group_norm(channels):
    """Return GroupNorm with 8 groups (fewer where ``channels`` is not divisible by 8)."""
    groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


class Cbam(nn.Module):
    """CBAM (Woo et al. 2018): channel attention (reduction 8) then 7x7 spatial attention."""

    def __init__(self, channels, reduction=8):
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.channel = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.GELU(),
                                     nn.Conv2d(hidden, channels, 1))
        self.spatial = SpatialMap()

    def forward(self, x):
        x = x * torch.sigmoid(self.channel(x.mean(dim=(2, 3), keepdim=True))
                              + self.channel(x.amax(dim=(2, 3), keepdim=True)))
        return x * self.spatial(x)


class DenseBlock(nn.Module):
    """
    DenseNet block (Huang et al. 2017) with a 1x1 transition conv back to ``channels``.

    ``layers`` x (GroupNorm, GELU, 3x3 conv of ``growth`` channels), each seeing all earlier
    outputs.
    """

    def __init__(self, channels, growth=16, layers=4):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(group_norm(channels + i * growth), nn.GELU(),
                          nn.Conv2d(channels + i * growth, growth, 3, padding=1, bias=False))
            for i in range(layers))
        self.transition = nn.Conv2d(channels + layers * growth, channels, 1)

    def forward(self, x):
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, dim=1)))
        return self.transition(torch.cat(features, dim=1))


def _scale(channels, growth, layers):
    """Return two DenseBlocks and CBAM at one scale (the thesis's RGB branch)."""
    return nn.Sequential(DenseBlock(channels, growth, layers),
                         DenseBlock(channels, growth, layers), Cbam(channels))


class ThesisEncoder(nn.Module):
    """(B, 3, H, W) -> (B, latent, H / 32, W / 32); H, W divisible by 32."""

    def __init__(self, widths=(48, 96, 144, 192), latent=192, growth=16, layers=4):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 7, stride=4, padding=3),
                                  group_norm(widths[0]), nn.GELU())
        self.scales = nn.ModuleList(
            nn.Sequential(nn.Conv2d(w_in, w_out, 3, stride=2, padding=1), group_norm(w_out),
                          nn.GELU(), _scale(w_out, growth, layers))
            for w_in, w_out in zip(widths, widths[1:]))
        self.latent = nn.Conv2d(widths[-1], latent, 1)

    def forward(self, x):
        x = self.stem(x)
        for scale in self.scales:
            x = scale(x)
        return self.latent(x)


class ThesisDecoder(nn.Module):
    """(B, latent, h, w) -> (B, 1, 32 h, 32 w) inverse depth in (0, 1); no skips."""

    def __init__(self, widths=(48, 96, 144, 192), latent=192, growth=16, layers=4):
        super().__init__()
        widths = widths[::-1]
        self.entry = nn.Sequential(nn.Conv2d(latent, widths[0], 1), group_norm(widths[0]),
                                   nn.GELU())
        self.scales = nn.ModuleList(
            nn.Sequential(nn.ConvTranspose2d(w_in, w_out, 2, stride=2), group_norm(w_out),
                          nn.GELU(), _scale(w_out, growth, layers))
            for w_in, w_out in zip(widths, widths[1:]))
        self.head = nn.ConvTranspose2d(widths[-1], 1, 4, stride=4)

    def forward(self, latent):
        x = self.entry(latent)
        for scale in self.scales:
            x = scale(x)
        return torch.sigmoid(self.head(x))


class UnetDecoder(nn.Module):
    """Skip-connected decoder over RgbEncoder's four maps (strides 4..32) -> (B, 1, H, W)."""

    def __init__(self, encoder_channels, widths=(128, 64, 48, 32)):
        super().__init__()
        ins = [encoder_channels[3]] + list(widths[:2])
        skips = encoder_channels[2::-1]
        self.blocks = nn.ModuleList(conv_block(i + s, w)
                                    for i, s, w in zip(ins, skips, widths[:3]))
        self.head = nn.Sequential(conv_block(widths[2], widths[3]),
                                  nn.Conv2d(widths[3], 1, 3, padding=1))

    def forward(self, features, size):
        x = features[3]
        for block, skip in zip(self.blocks, features[2::-1]):
            x = F.interpolate(x, size=skip.shape[-2:], mode='bilinear', align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        x = F.interpolate(self.head[0](x), size=size, mode='bilinear', align_corners=False)
        return torch.sigmoid(self.head[1](x))


class MonoDepthNet(nn.Module):
    """
    Monocular depth network; see the module docstring.

    architecture: 'thesis' or 'unet'.  alignment, rotation_dim: LatentAlignment of the
    thesis branches.  rgbd_branch: build the RGB-D autoencoder (training only; exported
    weights hold the RGB branch alone).  widths, latent, growth, dense_layers: thesis sizes.
    backbone, input_scaling: the unet's torchvision encoder and its input normalisation.
    forward(rgb (B, 3, H, W) in [0, 1], H and W divisible by 32) -> (B, 1, H, W) canonical
    inverse depth in (0, 1).
    """

    def __init__(self, architecture='thesis', alignment='rotation', rotation_dim=3,
                 rgbd_branch=True, widths=(48, 96, 144, 192), latent=192, growth=16,
                 dense_layers=4, backbone='mobilenet_v2', input_scaling='imagenet'):
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f'unknown architecture {architecture!r}, expected one of '
                             f'{ARCHITECTURES}')
        self.architecture = architecture
        if architecture == 'unet':
            self.encoder = RgbEncoder(backbone)
            self.decoder = UnetDecoder(self.encoder.channels)
            mean, std = INPUT_SCALINGS[input_scaling]
            self.register_buffer('mean', torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
            self.register_buffer('std', torch.tensor(std).view(1, 3, 1, 1), persistent=False)
            self.rgbd_encoder = None
            return
        sizes = {'widths': tuple(widths), 'latent': latent, 'growth': growth,
                 'layers': dense_layers}
        self.encoder, self.decoder = ThesisEncoder(**sizes), ThesisDecoder(**sizes)
        self.alignment = LatentAlignment(alignment, latent, rotation_dim)
        self.rgbd_encoder = ThesisEncoder(**sizes) if rgbd_branch else None
        # CORAL trains one decoder on both latents (thesis §7.5).
        self.rgbd_decoder = (None if not rgbd_branch else
                             self.decoder if alignment == 'coral' else ThesisDecoder(**sizes))

    def forward(self, rgb):
        if self.architecture == 'unet':
            return self.decoder(self.encoder((rgb - self.mean) / self.std), rgb.shape[-2:])
        return self.decoder(self.alignment.rgb(self.encoder(rgb)))

    def branches(self, rgb, sparse_inverse):
        """
        Return the training outputs of both thesis branches.

        rgb: (B, 3, H, W) in [0, 1]; sparse_inverse: (B, 1, H, W) canonical inverse depth,
        0 where unknown, added to every colour channel of the RGB-D input.  Returns
        {'rgb', 'rgbd', 'stitched': (B, 1, H, W) inverse depth (stitched: the RGB-D decoder
        on the RGB side's latent), 'alignment': scalar loss}.
        """
        if self.rgbd_encoder is None:
            raise ValueError('this MonoDepthNet has no RGB-D branch (architecture unet or '
                             'rgbd_branch false)')
        rgb_in, rgbd_in, stitched_in, loss = self.alignment.pair(
            self.encoder(rgb), self.rgbd_encoder(rgb + sparse_inverse))
        return {'rgb': self.decoder(rgb_in), 'rgbd': self.rgbd_decoder(rgbd_in),
                'stitched': self.rgbd_decoder(stitched_in), 'alignment': loss}
