"""Vanishing Depth model pieces: positional depth encoding, network, IP-Basic, pooling."""

import numpy as np
import pytest
from test_backbones import MOBILENET, needs_shared
import torch

from rgbd_perception.geometry.depth_pooling import masked_mean_pool
from rgbd_perception.geometry.ip_basic import ip_basic_complete
from rgbd_perception.models import ARCHITECTURES
from rgbd_perception.models.backbones import INPUT_SCALINGS
from rgbd_perception.models.depth_completion import RgbEncoder, VanishingDepthNet
from rgbd_perception.models.positional_depth_encoding import (MISSING_VALUE,
                                                              PositionalDepthEncoding)
from rgbd_perception.runtime.weights import load_exported
from rgbd_perception.stages.completion import BUNDLED_WEIGHTS

#: Wavelengths in mm of the 32-channel PDE for 15 m listed in Koch et al. 2025, appendix A.2.
PAPER_WAVELENGTHS_MM = (15000.0, 9034.65, 5441.66, 3277.5664, 1974.111, 1189.0267, 716.1628,
                        431.352, 259.8076, 156.4847, 94.2523, 56.7691, 34.1926, 20.5945,
                        12.4043, 7.4712)


def test_pde_wavelengths_are_the_papers():
    """Channel k has wavelength d_max * T^(2k/C): the paper's table for C = 32, 15 m."""
    encoding = PositionalDepthEncoding(32, 3e-4)
    wavelengths_mm = 15000.0 / encoding.frequencies.double()
    np.testing.assert_allclose(wavelengths_mm.numpy(), PAPER_WAVELENGTHS_MM, rtol=1e-5)


def test_pde_values_and_missing_pixels():
    """sin/cos of the scaled depth in [-1, 1]; missing pixels hold MISSING_VALUE."""
    encoding = PositionalDepthEncoding(8, 1e-2)
    depth = torch.tensor([[[[0.5, 0.0]]]])
    out = encoding(depth, depth > 0)
    assert out.shape == (1, 8, 1, 2)
    frequencies = 1e-2 ** -(torch.arange(4) * 2 / 8)
    np.testing.assert_allclose(out[0, :4, 0, 0], torch.sin(0.5 * frequencies), rtol=1e-6)
    np.testing.assert_allclose(out[0, 4:, 0, 0], torch.cos(0.5 * frequencies), rtol=1e-6)
    assert torch.all(out[0, :, 0, 1] == MISSING_VALUE)
    with pytest.raises(ValueError, match='even'):
        PositionalDepthEncoding(7)


@pytest.fixture(scope='module')
def small_net():
    """Return a seeded small network in eval mode."""
    torch.manual_seed(0)
    return VanishingDepthNet('small', bins=16).eval()


def test_network_shapes_and_positive_metric_output(small_net):
    """Full-size output (any size), four scales in training mode, depth > 0."""
    rgb, depth = torch.rand(2, 3, 50, 70), 3 * torch.rand(2, 1, 50, 70)
    with torch.no_grad():
        out = small_net(rgb, depth)
        scales = small_net(rgb, depth, all_scales=True)
    assert out.shape == (2, 1, 50, 70)
    assert torch.all(out > 0) and torch.isfinite(out).all()
    assert [tuple(s.shape[-2:]) for s in scales] == [(50, 70), (25, 35), (13, 18), (7, 9)]
    torch.testing.assert_close(scales[0], out)


@pytest.mark.parametrize('scale_quantile', [1.0, 0.5])
def test_network_is_equivariant_to_depth_scale(scale_quantile):
    """Depth is normalised per image: scaling the input depth scales the output alike."""
    torch.manual_seed(1)
    net = VanishingDepthNet('small', bins=16, scale_quantile=scale_quantile).eval()
    rgb = torch.rand(1, 3, 32, 48)
    depth = (1 + torch.rand(1, 1, 32, 48)) * (torch.rand(1, 1, 32, 48) > 0.5)
    with torch.no_grad():
        torch.testing.assert_close(net(rgb, 4.0 * depth), 4.0 * net(rgb, depth),
                                   rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('name, channels', [
    ('mobilenet_v3_small', (16, 24, 48, 96)), ('mobilenet_v2', (24, 32, 96, 320)),
    ('resnet18', (64, 128, 256, 512)), ('resnet34', (64, 128, 256, 512))])
def test_rgb_encoder_stages_have_strides_4_to_32(name, channels):
    """Each backbone's four feature maps: strides 4, 8, 16, 32 with their channel counts."""
    torch.manual_seed(0)
    encoder = RgbEncoder(name).eval()
    with torch.no_grad():
        features = encoder(torch.rand(1, 3, 64, 96))
    assert encoder.channels == channels
    assert [tuple(f.shape) for f in features] == [
        (1, c, 64 // stride, 96 // stride) for c, stride in zip(channels, (4, 8, 16, 32))]
    with pytest.raises(ValueError, match='unknown RGB backbone'):
        RgbEncoder('vgg16')


def test_default_model_keeps_its_parameters_and_imagenet_scaling():
    """Bundled weights load strictly into today's model; other encoders and scalings apply."""
    state, manifest = load_exported(BUNDLED_WEIGHTS)
    assert 'rgb_backbone' not in manifest['model_kwargs']   # an old manifest: the defaults
    net = VanishingDepthNet(**manifest['model_kwargs'])
    net.load_state_dict(state, strict=True)
    assert net.rgb_encoder.name == 'mobilenet_v3_small'
    mean, std = INPUT_SCALINGS['imagenet']
    assert torch.equal(net.rgb_mean.flatten(), torch.tensor(mean))
    assert torch.equal(net.rgb_std.flatten(), torch.tensor(std))
    other = VanishingDepthNet('small', bins=8, rgb_backbone='mobilenet_v2',
                              input_scaling='minus_one_one')
    assert other.rgb_encoder.channels == (24, 32, 96, 320)
    assert torch.equal(other.rgb_mean.flatten(), torch.full((3,), 0.5))
    assert not {'rgb_mean', 'rgb_std'} & set(other.state_dict())  # not saved: files unchanged


def test_rgb_encoder_loads_a_local_torchvision_state_dict(tmp_path):
    """A .pt of the whole torchvision MobileNetV3-Small loads into the small encoder."""
    import torchvision

    torch.manual_seed(2)
    backbone = torchvision.models.mobilenet_v3_small()
    torch.save(backbone.state_dict(), tmp_path / 'mobilenet.pt')
    net = VanishingDepthNet('small', bins=8)
    net.rgb_encoder.load_initial_weights(tmp_path / 'mobilenet.pt')
    loaded = net.rgb_encoder.state_dict()
    for key in ('0.0.0.weight', '3.11.block.0.1.running_var'):  # features.0, features.11
        torch.testing.assert_close(loaded[f'stages.{key}'],
                                   backbone.state_dict()[f'features.{key[2:]}'])


@needs_shared
def test_shared_mobilenet_initialises_a_frozen_rgb_encoder():
    """The shared MobileNetV2 .pth loads strictly; frozen, it keeps weights and batch norm."""
    state = torch.load(MOBILENET, map_location='cpu', weights_only=True)
    torch.manual_seed(3)
    net = VanishingDepthNet('small', bins=8, rgb_backbone='mobilenet_v2',
                            input_scaling='minus_one_one')
    net.rgb_encoder.load_initial_weights(str(MOBILENET))
    encoder = net.rgb_encoder
    loaded = encoder.state_dict()
    assert torch.equal(loaded['stages.0.0.0.weight'], state['features.0.0.weight'])
    assert torch.equal(loaded['stages.3.17.conv.2.weight'], state['features.17.conv.2.weight'])
    encoder.freeze()
    net.train()
    assert net.training and not encoder.training
    assert not any(module.training for module in encoder.modules())
    assert not any(p.requires_grad for p in encoder.parameters())
    assert all(p.requires_grad for p in net.stem.parameters())
    batch_norm = encoder.stages[1][0].conv[0][1]  # features.4's first batch norm
    before = batch_norm.running_mean.clone()
    rgb, depth = torch.rand(2, 3, 32, 48), 1 + torch.rand(2, 1, 32, 48)
    net(rgb, depth, all_scales=True)[0].mean().backward()
    assert torch.equal(batch_norm.running_mean, before)
    assert all(p.grad is None for p in encoder.parameters())


def test_architecture_registry_and_sizes():
    """Manifests name VanishingDepthNet; unknown sizes are refused."""
    assert ARCHITECTURES['VanishingDepthNet'] is VanishingDepthNet
    with pytest.raises(ValueError, match='unknown size'):
        VanishingDepthNet('huge')


def test_masked_mean_pool_ignores_missing_pixels():
    """Blocks average their valid pixels only; empty blocks stay 0; odd sizes round up."""
    depth = torch.tensor([[[[1.0, 0.0, 2.0], [3.0, 0.0, 0.0], [0.0, 0.0, 5.0]]]])
    pooled = masked_mean_pool(depth, 2)
    torch.testing.assert_close(pooled, torch.tensor([[[[2.0, 2.0], [0.0, 5.0]]]]))
    assert masked_mean_pool(depth, 1) is depth


def _plane(height=120, width=160):
    rows, cols = np.mgrid[0:height, 0:width]
    return (1.0 + rows / height + 0.5 * cols / width).astype(np.float32)


def test_ip_basic_fills_every_hole_close_to_a_plane():
    """Random 90 % removal of a slanted plane: hole-free, errors of a few centimetres."""
    truth = _plane()
    rng = np.random.default_rng(0)
    sparse = np.where(rng.random(truth.shape) < 0.1, truth, 0).astype(np.float32)
    completed = ip_basic_complete(sparse)
    assert completed.shape == truth.shape and completed.dtype == np.float32
    assert np.all(completed > 0)
    assert np.sqrt(np.mean((completed - truth) ** 2)) < 0.05


def test_ip_basic_prefers_the_nearer_surface():
    """Dilation on inverted depth: a gap between a near and a far region takes the near."""
    depth = np.zeros((40, 40), np.float32)
    depth[:, :19] = 1.0
    depth[:, 21:] = 3.0
    completed = ip_basic_complete(depth)
    assert np.all(completed[20, 19:21] < 2.0)  # nearer to 1 m than to 3 m (edges blurred)
    mirrored = ip_basic_complete(depth[:, ::-1].copy())
    assert np.all(mirrored[20, 19:21] < 2.0)


def test_ip_basic_fills_large_holes_and_refuses_empty_frames():
    """One valid pixel fills the frame; an empty frame is an error."""
    depth = np.zeros((100, 100), np.float32)
    depth[80, 30] = 2.0
    np.testing.assert_allclose(ip_basic_complete(depth), 2.0, atol=1e-4)
    with pytest.raises(ValueError, match='at least one valid'):
        ip_basic_complete(np.zeros((10, 10), np.float32))


def test_depth_scale_is_the_quantile_of_valid_depth():
    """Missing pixels do not count; 1.0 is the largest value; (0, 1] is enforced."""
    depth = torch.tensor([[0.0, 4.0, 1.0, 0.0, 3.0, 2.0, 0.0, 5.0]]).view(1, 1, 2, 4)
    depth = torch.cat([depth, 2 * depth])
    largest = VanishingDepthNet('small', bins=8).depth_scale(depth)
    torch.testing.assert_close(largest.flatten(), torch.tensor([5.0, 10.0]))
    net = VanishingDepthNet('small', bins=8, scale_quantile=0.5).eval()
    torch.testing.assert_close(net.depth_scale(depth).flatten(), torch.tensor([3.0, 6.0]))
    with pytest.raises(ValueError, match='scale_quantile'):
        VanishingDepthNet('small', scale_quantile=0.0)
