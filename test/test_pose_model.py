"""Pose network pieces: rotation representations, allocentric rotations, crops, the network."""

import numpy as np
import pytest
import roma
import torch

from rgbd_perception.geometry.crops import (crop_mask, crop_relative_depth, crop_rgb,
                                            crop_tensor_input, DEPTH_CLIP, paste_crop,
                                            square_window, window_ray)
from rgbd_perception.geometry.pose import allocentric_rotation, egocentric_rotation, ray_rotation
from rgbd_perception.models.pose import PoseNet, ROTATION_DIMS, rotation_matrices


@pytest.mark.parametrize('representation', sorted(ROTATION_DIMS))
def test_every_representation_gives_rotations(representation):
    """Any raw output maps to a proper rotation (orthonormal, det +1)."""
    torch.manual_seed(0)
    rotations = rotation_matrices(torch.randn(5, 2, ROTATION_DIMS[representation]),
                                  representation)
    assert rotations.shape == (5, 2, 3, 3)
    eye = torch.eye(3).expand(5, 2, 3, 3)
    torch.testing.assert_close(rotations @ rotations.transpose(-1, -2), eye, atol=1e-5,
                               rtol=0)
    torch.testing.assert_close(torch.linalg.det(rotations), torch.ones(5, 2), atol=1e-5,
                               rtol=0)
    with pytest.raises(ValueError, match='unknown rotation'):
        rotation_matrices(torch.zeros(1, 4), 'euler')


def test_representations_reproduce_a_known_rotation():
    """A rotation's quaternion, first two columns and matrix all map back onto it."""
    rotation = roma.rotvec_to_rotmat(torch.tensor([0.4, -0.7, 0.2]))
    torch.testing.assert_close(rotation_matrices(roma.rotmat_to_unitquat(rotation),
                                                 'quaternion'), rotation)
    torch.testing.assert_close(rotation_matrices(-roma.rotmat_to_unitquat(rotation),
                                                 'quaternion'), rotation)
    torch.testing.assert_close(rotation_matrices(rotation[:, :2].reshape(6), '6d'), rotation)
    torch.testing.assert_close(rotation_matrices(rotation.reshape(9), '9d'), rotation)


def test_ray_rotation_and_allocentric_round_trip():
    """The ray rotation takes +z onto the ray; allocentric and egocentric invert each other."""
    rays = torch.tensor([[0.0, 0.0, 1.0], [0.3, -0.2, 1.0], [-1.0, 0.5, 0.4]],
                        dtype=torch.float64)
    turned = ray_rotation(rays) @ torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(turned, rays / rays.norm(dim=1, keepdim=True))
    generator = torch.Generator().manual_seed(1)
    rotation = roma.random_rotmat(3, dtype=torch.float64, generator=generator)
    torch.testing.assert_close(egocentric_rotation(allocentric_rotation(rotation, rays), rays),
                               rotation)


def test_square_crops_keep_the_aspect_and_centre_the_box():
    """A bright 20 x 10 box crops into the middle of a 64 x 64 crop, scaled isotropically."""
    rgb = np.zeros((120, 160, 3), np.uint8)
    rgb[50:60, 70:90] = 255                       # rows 50-59, columns 70-89
    window = square_window((70, 50, 20, 10), context=2.0)
    assert window == (79.5, 54.5, 40.0)
    crop = crop_rgb(rgb, window, 64)
    rows, cols = np.nonzero(crop[:, :, 0] > 127)
    assert cols.min() == 16 and cols.max() == 47 and rows.min() == 24 and rows.max() == 39
    ray = window_ray(window, (100.0, 100.0, 79.5, 54.5))
    np.testing.assert_allclose(ray, [0.0, 0.0, 1.0])
    depth = np.zeros((120, 160), np.float32)
    depth[40:70, 60:100] = 1.0
    depth[50:60, 70:90] = 0.95
    relative = crop_relative_depth(depth, window, 64, reference=1.0)
    assert relative[32, 32] == pytest.approx(-0.5) and relative[20, 20] == 0.0
    far = crop_relative_depth(depth * 10, window, 64, reference=1.0)
    assert far.max() == DEPTH_CLIP
    assert crop_tensor_input(rgb, depth, window, 64, 1.0).shape == (4, 64, 64)
    assert crop_tensor_input(rgb, None, window, 64, 1.0).shape == (3, 64, 64)
    missing = crop_tensor_input(rgb, None, window, 64, 1.0, channels=4)
    assert missing.shape == (4, 64, 64) and not missing[3].any()
    np.testing.assert_array_equal(missing[:3], crop_tensor_input(rgb, None, window, 64, 1.0))


@pytest.mark.parametrize('input_mode, channels', [('rgbd', 4), ('rgb', 3)])
def test_pose_net_outputs(input_mode, channels):
    """Unit embedding, one logit and one rotation per object, any representation."""
    torch.manual_seed(0)
    net = PoseNet(3, input_mode=input_mode, rotation='quaternion', embedding=64).eval()
    with torch.no_grad():
        out = net(torch.rand(2, channels, 96, 96))
    assert out['embedding'].shape == (2, 64)
    torch.testing.assert_close(out['embedding'].norm(dim=1), torch.ones(2))
    assert out['logits'].shape == (2, 3) and out['rotation'].shape == (2, 3, 3, 3)
    assert out['raw'].shape == (2, 3, 4)
    with pytest.raises(ValueError, match='input_mode'):
        PoseNet(3, input_mode='depth')


@pytest.mark.parametrize('backbone', ['resnet18', 'mobilenet_v2'])
def test_mask_head_predicts_one_mask_per_crop(backbone):
    """With mask_head the net also gives (B, 1, S, S) mask logits; without, no mask key."""
    torch.manual_seed(0)
    crops = torch.rand(2, 4, 64, 64)
    with torch.no_grad():
        out = PoseNet(3, backbone=backbone, mask_head=True).eval()(crops)
        plain = PoseNet(3, backbone=backbone).eval()(crops)
    assert out['mask_logits'].shape == (2, 1, 64, 64)
    assert torch.isfinite(out['mask_logits']).all() and 'mask_logits' not in plain
    assert out['rotation'].shape == plain['rotation'].shape == (2, 3, 3, 3)


def test_a_mask_crop_pasted_back_covers_the_mask():
    """crop_mask then paste_crop gives the mask back (to a pixel along its border)."""
    mask = np.zeros((120, 160), bool)
    mask[30:70, 50:90] = True
    mask[40:50, 60:70] = False  # a hole
    window = square_window((50, 30, 40, 40), 1.2)
    crop = crop_mask(mask, window, 48)
    assert crop.shape == (48, 48) and 0.0 <= crop.min() and crop.max() <= 1.0
    back = paste_crop(crop, window, mask.shape) > 0.5
    assert (back != mask).sum() <= 0.05 * mask.sum()
    assert not back[:, :40].any() and not back[80:].any()
