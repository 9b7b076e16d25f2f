"""
``python -m training feature-templates``: the ImageNet-feature template bank of rendered crops.

The bank of rgbd_perception.stages.feature_templates: every catalogue object's crops of BOP
render folders (the pose training's renders; tight visible boxes, no jitter, the pose stage's
context) described by a frozen ImageNet trunk, with their allocentric rotations.  No network
is trained; the renders are the only data (never real validation frames).
"""

from pathlib import Path

from safetensors.torch import save_file
import torch

from rgbd_perception.models.backbones import is_local_file, resolve_input_scaling
from rgbd_perception.runtime.weights import file_sha256
from rgbd_perception.stages.feature_templates import descriptor_trunk, FeatureTemplates
from rgbd_perception.stages.pose_templates import PoseTemplates
from training.framework.atomic import replace_atomically
from training.pose.data import object_crops

#: Crop side (pixels) of the bank: 12 x 12 map cells at stride 16 (see the README's table).
DEFAULT_CROP_SIZE = 192
#: Least visible share of a template's object: occluded views describe the occluder.
DEFAULT_MIN_VISIBLE = 0.7


def build_feature_templates(folders, object_ids, backbone, initial_weights,
                            input_scaling=None, crop_size=DEFAULT_CROP_SIZE,
                            min_visible=DEFAULT_MIN_VISIBLE, min_pixels=200, context=1.2,
                            limit=None, device='cpu'):
    """
    Return FeatureTemplates of the objects' crops in BOP folders (see the module docstring).

    object_ids: catalogue ids (bank head order); initial_weights: a torchvision weights name
    or a local state_dict file of ``backbone``; input_scaling: theirs (required for a file);
    min_visible, min_pixels: least visible share and pixels of a template's object; limit:
    most frames per folder.  Raises ValueError when no crop qualifies.
    """
    scaling = resolve_input_scaling(initial_weights, input_scaling)
    crops = object_crops(folders, object_ids, crop_size, context=context,
                         min_visible=min_visible, min_pixels=min_pixels, jitter=0.0,
                         limit=limit)
    if not len(crops['index']):
        raise ValueError(f'no object of {object_ids} seen at least {min_visible} visible in '
                         f'{[str(f) for f in folders]}')
    sha256 = file_sha256(initial_weights) if is_local_file(initial_weights) else initial_weights
    bank = FeatureTemplates(descriptor_trunk(backbone, initial_weights), crop_size,
                            scaling, object_ids, device=device,
                            meta={'backbone': backbone, 'initial_weights_sha256': sha256})
    bank.bank = PoseTemplates(bank.describe_templates(crops['rgb'], crops['mask']).cpu(),
                              torch.from_numpy(crops['rotation']),
                              torch.from_numpy(crops['index']), device)
    return bank


def write_feature_templates(bank, path):
    """Write a FeatureTemplates bank to a safetensors file atomically (folders made)."""
    tensors, metadata = bank.serialised()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    replace_atomically(path, lambda temp: save_file(tensors, str(temp), metadata=metadata))
