"""
Object pose network: a CNN trunk on an object-centred crop (papers: docs/references.md).

Input: a square crop centred on the object (no aspect distortion), RGB-D (Doumanoglou et al.
2016: colour plus depth relative to the object's depth) or RGB only (Khan 2025).  The trunk
is a torchvision backbone (rgbd_perception.models.backbones; default a ResNet-18, 512-d
feature) whose feature feeds three heads, and optionally a fourth on its stride-8 map:

* ``embedding``: a unit-length feature f (64-128 d) for the relative-viewpoint contrastive
  pre-training (Khan 2025), the feature-pose distance loss (Doumanoglou et al. 2016) and
  nearest-neighbour template matching;
* ``classifier``: object identity logits (the built-in detector's classifier);
* ``rotation``: two FC layers (Khan 2025) regressing one rotation per catalogue object, as a
  quaternion, a 6D Gram-Schmidt or a 9D Procrustes representation (RoMa);
* ``mask`` (``mask_head=True``): the object's visible pixels in the crop, as logits of a
  small convolutional head on the trunk's stride-8 features, bilinearly upsampled to the
  crop (so the pose stage can do without a detector's mask: only a box).

The rotation is allocentric: relative to the camera ray through the crop centre (what a
crop's appearance determines); :func:`rgbd_perception.geometry.pose.egocentric_rotation` turns it
into the model-to-camera rotation.
"""

import roma
import torch
from torch import nn
import torch.nn.functional as F

from rgbd_perception.models.backbones import (build_trunk, FrozenTrunk, INPUT_SCALINGS,
                                              pooled_and_stride8, STRIDE8_TAPS)

ROTATION_DIMS = {'quaternion': 4, '6d': 6, '9d': 9}
INPUT_CHANNELS = {'rgbd': 4, 'rgb': 3}


def rotation_matrices(output, representation):
    """
    Return (..., 3, 3) rotation matrices of (..., D) network outputs.

    representation: 'quaternion' (XYZW, normalised), '6d' (two columns, Gram-Schmidt) or
    '9d' (a 3 x 3 matrix projected onto SO(3) by special Procrustes).
    """
    if representation == 'quaternion':
        return roma.unitquat_to_rotmat(F.normalize(output, dim=-1))
    if representation == '6d':
        return roma.special_gramschmidt(output.unflatten(-1, (3, 2)))
    if representation == '9d':
        return roma.special_procrustes(output.unflatten(-1, (3, 3)))
    raise ValueError(f'unknown rotation representation {representation!r}, expected one of '
                     f'{sorted(ROTATION_DIMS)}')


class PoseNet(FrozenTrunk, nn.Module):
    """
    Pose network over (B, C, S, S) crops; see the module docstring.

    num_objects: catalogue size K (heads are indexed by catalogue position); input_mode:
    'rgbd' (C = 4: RGB in [0, 1] and relative depth, see the pose stage) or 'rgb' (C = 3);
    rotation: a key of ROTATION_DIMS; embedding: size of f; crop_size: S (pixels, recorded
    for the stage); backbone: a key of backbones.BACKBONES (the trunk, width W);
    input_scaling: a key of backbones.INPUT_SCALINGS, how RGB is normalised for the trunk
    (that of its initial weights); mask_head: whether to predict the visible mask.  forward()
    returns {'embedding': (B, E) unit, 'logits': (B, K), 'rotation': (B, K, 3, 3) allocentric
    rotations, 'raw': (B, K, D) the head's outputs} and with the mask head 'mask_logits':
    (B, 1, S, S), positive where the object is visible.
    """

    def __init__(self, num_objects, input_mode='rgbd', rotation='6d', embedding=128,
                 crop_size=128, backbone='resnet18', input_scaling='imagenet', mask_head=False):
        super().__init__()
        if input_mode not in INPUT_CHANNELS:
            raise ValueError(f'unknown input_mode {input_mode!r}, expected one of '
                             f'{sorted(INPUT_CHANNELS)}')
        if rotation not in ROTATION_DIMS:
            raise ValueError(f'unknown rotation {rotation!r}, expected one of '
                             f'{sorted(ROTATION_DIMS)}')
        self.num_objects, self.input_mode, self.rotation = num_objects, input_mode, rotation
        self.crop_size, self.backbone = crop_size, backbone
        self.trunk, width = build_trunk(backbone, INPUT_CHANNELS[input_mode])
        mean, std = INPUT_SCALINGS[input_scaling]
        self.register_buffer('mean', torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.embedding = nn.Sequential(nn.Linear(width, 512), nn.BatchNorm1d(512),
                                       nn.ReLU(inplace=True), nn.Linear(512, embedding))
        self.classifier = nn.Linear(width, num_objects)
        self.rotation_head = nn.Sequential(nn.Linear(width, 256), nn.ReLU(inplace=True),
                                           nn.Linear(256, 256), nn.ReLU(inplace=True),
                                           nn.Linear(256, num_objects * ROTATION_DIMS[rotation]))
        self.mask_head = None
        if mask_head:
            channels = STRIDE8_TAPS[backbone][1]
            self.mask_head = nn.Sequential(nn.Conv2d(channels, 64, 3, padding=1, bias=False),
                                           nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                                           nn.Conv2d(64, 1, 1))

    def _normalised(self, crops):
        rgb = (crops[:, :3] - self.mean) / self.std
        return torch.cat([rgb, crops[:, 3:]], dim=1)

    def features(self, crops):
        """Return the (B, W) trunk features of (B, C, S, S) crops."""
        return self.trunk(self._normalised(crops))

    def forward(self, crops):
        """Return the embedding, identity logits, rotations (and mask); see the class."""
        if self.mask_head is None:
            features = self.features(crops)
        else:
            features, stride8 = pooled_and_stride8(self.trunk, self.backbone,
                                                   self._normalised(crops))
        raw = self.rotation_head(features).unflatten(1, (self.num_objects, -1))
        out = {'embedding': F.normalize(self.embedding(features), dim=1),
               'logits': self.classifier(features),
               'rotation': rotation_matrices(raw, self.rotation), 'raw': raw}
        if self.mask_head is not None:
            out['mask_logits'] = F.interpolate(self.mask_head(stride8), size=crops.shape[-2:],
                                               mode='bilinear', align_corners=False)
        return out
