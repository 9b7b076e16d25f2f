"""
Rotation by matching a crop's ImageNet features against rendered templates (no pose training).

Template matching on the local features of a frozen ImageNet-pretrained trunk (Nguyen et al.,
"Templates for 3D Object Pose Estimation Revisited", CVPR 2022): a crop's descriptor is the
trunk's stride-16 feature map (backbones.STRIDE16_TAPS) with every location's C-vector scaled
to unit length, flattened to (L * C,).  A template is the same of a rendered training crop,
kept only at the L' locations where the object is visible (the crop's visible share, pooled
to the map, above 0.5) and divided by L'.  The dot product of a query and a template is then
the mean cosine over the template's object locations: the query's background and occluders
outside the object's silhouette do not count.  The nearest same-object template's allocentric
rotation is the crop's (rgbd_perception.stages.pose_templates.PoseTemplates does the lookup).

Why besides the learned PoseNet bank: features learnt from real photographs transfer to real
cameras where heads trained on renders do not (real LM-O, true boxes, RGB only: median
rotation error 24.4 degrees against the regression head's 100.5; README).  The price is size:
a bank holds one (L * C) descriptor per template (LM-O: 14631 templates of 12 x 12 x 96,
~400 MB in fp16), so banks are built by ``python -m training feature-templates`` from
renders, not bundled.

Bank file (safetensors, never unpickled): 'embedding' (N, L * C) fp16 template descriptors,
'rotation' (N, 3, 3) allocentric, 'head' (N,) int64 positions in the bank's object ids, and
the trunk's weights up to its tap as 'trunk.<torchvision name>'; metadata: backbone, crop
size (pixels), input scaling, object ids (JSON), the initial weights' sha256.
"""

import json
from pathlib import Path

import numpy as np
from safetensors import safe_open
import torch
import torch.nn.functional as F
from torchvision.models.feature_extraction import create_feature_extractor

from rgbd_perception.geometry.crops import crop_rgb
from rgbd_perception.models.backbones import (build_trunk, INPUT_SCALINGS,
                                              load_initial_weights, STRIDE16_TAPS)
from rgbd_perception.runtime.weights import ExportError
from rgbd_perception.stages.pose_templates import PoseTemplates

#: Share of a template's map cell the object must cover for the cell to count.
MIN_CELL_VISIBLE = 0.5


def descriptor_trunk(backbone, initial_weights=None):
    """
    Return a torchvision ``backbone`` trunk (build_trunk) cut at its stride-16 tap.

    It maps (B, 3, S, S) normalised images to {'map': (B, C, S / 16, S / 16)}; its
    state_dict keys are torchvision's (e.g. 'features.0.0.weight').  initial_weights: loaded
    by backbones.load_initial_weights (a torchvision weights name or a local file); None:
    random.
    """
    if backbone not in STRIDE16_TAPS:
        raise ValueError(f'feature templates support backbones {sorted(STRIDE16_TAPS)}, '
                         f'not {backbone!r}')
    trunk, _ = build_trunk(backbone)
    if initial_weights is not None:
        load_initial_weights(trunk, backbone, initial_weights)
    return create_feature_extractor(trunk, {STRIDE16_TAPS[backbone]: 'map'}).eval()


class FeatureTemplates:
    """
    A descriptor trunk and its template bank; see the module docstring.

    trunk: descriptor_trunk(backbone) with its weights; crop_size: S (pixels) of query and
    template crops; input_scaling: a key of INPUT_SCALINGS; object_ids: catalogue ids in
    bank head order; bank: PoseTemplates of (N, L * C) template descriptors, or None while
    building one.  meta: the bank's provenance (backbone, initial weights' sha256).
    """

    def __init__(self, trunk, crop_size, input_scaling, object_ids, bank=None, meta=None,
                 device='cpu'):
        self.trunk = trunk.to(device).eval()
        self.crop_size, self.input_scaling = int(crop_size), input_scaling
        self.object_ids = [int(i) for i in object_ids]
        mean, std = INPUT_SCALINGS[input_scaling]
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1)
        self.bank, self.meta, self.device = bank, dict(meta or {}), device

    @torch.inference_mode()
    def _unit_maps(self, crops):
        """Return (B, L, C) unit feature vectors of (B, S, S, 3) uint8 crops, in batches."""
        maps = []
        for start in range(0, len(crops), 64):
            images = torch.from_numpy(np.ascontiguousarray(crops[start:start + 64]))
            images = images.to(self.device).permute(0, 3, 1, 2).float() / 255.0
            features = self.trunk((images - self.mean) / self.std)['map']
            maps.append(F.normalize(features.float(), dim=1).flatten(2).transpose(1, 2))
        return torch.cat(maps)

    def describe(self, crops):
        """Return (B, L * C) query descriptors of (B, S, S, 3) uint8 crops."""
        return self._unit_maps(crops).flatten(1)

    def describe_templates(self, crops, visible):
        """
        Return (B, L * C) template descriptors of crops and their (B, S, S) visible shares.

        Locations where the object covers under MIN_CELL_VISIBLE of the cell are zero, the
        others divided by their count (a template without such a cell is all zero).
        """
        maps = self._unit_maps(crops)
        side = int(round(maps.shape[1] ** 0.5))
        share = torch.as_tensor(np.asarray(visible, np.float32), device=maps.device)
        cells = (F.adaptive_avg_pool2d(share[:, None], side).flatten(1) > MIN_CELL_VISIBLE)
        weights = cells.float() / cells.sum(dim=1, keepdim=True).clamp(min=1)
        return (maps * weights[..., None]).flatten(1)

    def crops(self, rgb, windows):
        """Return the (B, S, S, 3) uint8 crops of (H, W, 3) colour in square windows."""
        return np.stack([crop_rgb(rgb, window, self.crop_size) for window in windows])

    def heads(self, obj_ids):
        """Return (B,) int64 bank heads of catalogue ids (ExportError for unknown ones)."""
        missing = sorted(set(obj_ids) - set(self.object_ids))
        if missing:
            raise ExportError(f'the feature template bank has no templates of objects '
                              f'{missing} (it holds {self.object_ids})')
        return torch.tensor([self.object_ids.index(i) for i in obj_ids], device=self.device)

    def serialised(self):
        """
        Return (tensors, metadata) of the bank file (needs ``bank``); see the module docstring.

        The training package writes them atomically (training.pose.feature_template_bank).
        """
        tensors = {f'trunk.{key}': value.detach().cpu().contiguous()
                   for key, value in self.trunk.state_dict().items()}
        tensors.update(embedding=self.bank.embedding.to(torch.float16).cpu().contiguous(),
                       rotation=self.bank.rotation.float().cpu().contiguous(),
                       head=self.bank.head.cpu().contiguous())
        metadata = {**{key: str(value) for key, value in self.meta.items()},
                    'kind': 'feature_templates', 'crop_size': str(self.crop_size),
                    'input_scaling': self.input_scaling,
                    'object_ids': json.dumps(self.object_ids)}
        return tensors, metadata

    @classmethod
    def load(cls, path, device='cpu'):
        """Return the FeatureTemplates of a bank file; ExportError when missing or foreign."""
        path = Path(path)
        if not path.is_file():
            raise ExportError(f'feature template bank {path} not found (build it with '
                              '`python -m training feature-templates`)')
        with safe_open(str(path), framework='pt') as bank:
            meta = bank.metadata() or {}
            if meta.get('kind') != 'feature_templates':
                raise ExportError(f'{path} is not a feature template bank')
            trunk = descriptor_trunk(meta['backbone'])
            trunk.load_state_dict({key[len('trunk.'):]: bank.get_tensor(key)
                                   for key in bank.keys() if key.startswith('trunk.')})
            templates = PoseTemplates(*(bank.get_tensor(name) for name in
                                        ('embedding', 'rotation', 'head')), device=device)
        return cls(trunk, int(meta['crop_size']), meta['input_scaling'],
                   json.loads(meta['object_ids']), templates,
                   {key: meta[key] for key in ('backbone', 'initial_weights_sha256')
                    if key in meta}, device)
