"""Torchvision trunks by name, their initial weights and input scaling, PoseNet's backbones."""

from pathlib import Path

import pytest
import torch
import torchvision

from rgbd_perception.models.backbones import (build_trunk, INPUT_SCALINGS, load_initial_weights,
                                              resolve_input_scaling, weights_enum)
from rgbd_perception.models.pose import PoseNet

SHARED = Path(__file__).resolve().parents[2] / 'shared' / 'pretrained'
MOBILENET = SHARED / 'mobilenet_v2_imagenet.pth'
needs_shared = pytest.mark.skipif(not MOBILENET.is_file(), reason='no ../shared/pretrained')


@pytest.mark.parametrize('input_mode, channels', [('rgb', 3), ('rgbd', 4)])
def test_mobilenet_posenet_forward_shapes(input_mode, channels):
    """A MobileNetV2 PoseNet maps (B, C, S, S) crops to the usual heads' shapes."""
    torch.manual_seed(0)
    model = PoseNet(3, input_mode, embedding=16, crop_size=32, backbone='mobilenet_v2').eval()
    out = model(torch.rand(2, channels, 32, 32))
    assert model.features(torch.rand(2, channels, 32, 32)).shape == (2, 1280)
    assert out['embedding'].shape == (2, 16) and out['logits'].shape == (2, 3)
    assert out['rotation'].shape == (2, 3, 3, 3) and out['raw'].shape == (2, 3, 6)


def test_default_posenet_keeps_the_resnet18_parameters():
    """The default trunk is torchvision's ResNet-18 under 'trunk.', conv1 widened, no fc."""
    state = PoseNet(6).state_dict()
    reference = {f'trunk.{key}': value.shape for key, value in
                 torchvision.models.resnet18().state_dict().items()
                 if not key.startswith('fc.')}
    reference['trunk.conv1.weight'] = (64, 4, 7, 7)
    trunk = {key: value.shape for key, value in state.items() if key.startswith('trunk.')}
    assert trunk == reference
    assert state['classifier.weight'].shape == (6, 512)
    assert state['embedding.0.weight'].shape == (512, 512)
    model = PoseNet(6)
    assert torch.equal(model.mean.flatten(), torch.tensor(INPUT_SCALINGS['imagenet'][0]))


def test_input_scaling_resolution():
    """Torchvision names and random starts: ImageNet; a local file must state its scaling."""
    assert resolve_input_scaling(None) == 'imagenet'
    assert resolve_input_scaling('MobileNet_V2_Weights.IMAGENET1K_V1') == 'imagenet'
    with pytest.raises(ValueError, match='state the input scaling'):
        resolve_input_scaling(str(MOBILENET))
    assert resolve_input_scaling(str(MOBILENET), 'minus_one_one') == 'minus_one_one'
    assert INPUT_SCALINGS['minus_one_one'] != INPUT_SCALINGS['imagenet']
    with pytest.raises(ValueError, match='unknown input scaling'):
        resolve_input_scaling(None, 'other')
    # x / 127.5 - 1 of 8-bit RGB is (x / 255 - 0.5) / 0.5.
    mean, std = (torch.tensor(v) for v in INPUT_SCALINGS['minus_one_one'])
    x = torch.tensor([0.0, 51.0, 255.0])
    torch.testing.assert_close((x / 255 - mean) / std, x / 127.5 - 1)


def test_torchvision_weights_names_resolve_without_download():
    """A weights name resolves to its torchvision enum and must fit the backbone."""
    member = weights_enum('mobilenet_v2', 'MobileNet_V2_Weights.IMAGENET1K_V1')
    assert member is torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1
    assert weights_enum('resnet18', 'ResNet18_Weights.DEFAULT') is \
        torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    with pytest.raises(ValueError, match='not weights of resnet18'):
        weights_enum('resnet18', 'MobileNet_V2_Weights.IMAGENET1K_V1')
    with pytest.raises(ValueError, match='unknown backbone'):
        build_trunk('vgg99')


@needs_shared
def test_shared_mobilenet_trunk_equals_torchvision_features():
    """The shared .pth gives torchvision's MobileNetV2 features; a depth channel starts unseen."""
    state = torch.load(MOBILENET, map_location='cpu', weights_only=True)
    reference = torchvision.models.mobilenet_v2()
    reference.load_state_dict(state, strict=True)
    reference.classifier = torch.nn.Identity()
    trunk, width = build_trunk('mobilenet_v2')
    load_initial_weights(trunk, 'mobilenet_v2', str(MOBILENET))
    rgbd, _ = build_trunk('mobilenet_v2', 4)
    load_initial_weights(rgbd, 'mobilenet_v2', str(MOBILENET))
    torch.manual_seed(0)
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        expected = reference.eval()(images)
        assert width == 1280 and expected.shape == (2, 1280)
        torch.testing.assert_close(trunk.eval()(images), expected)
        depth = torch.rand(2, 1, 64, 64)
        torch.testing.assert_close(rgbd.eval()(torch.cat([images, depth], 1)), expected)
    with pytest.raises(RuntimeError):     # strict: a ResNet-18 does not take these weights
        load_initial_weights(build_trunk('resnet18')[0], 'resnet18', str(MOBILENET))


def test_frozen_trunk_keeps_its_weights_and_batch_norm_statistics():
    """freeze_trunk: no trunk gradients, trunk batch norm in eval() even after train()."""
    model = PoseNet(2, 'rgb', embedding=8, crop_size=32, backbone='mobilenet_v2')
    model.freeze_trunk()
    model.train()
    assert model.training and not model.trunk.training
    assert not any(p.requires_grad for p in model.trunk.parameters())
    assert all(p.requires_grad for p in model.classifier.parameters())
    before = model.trunk.features[1].conv[0][1].running_mean.clone()
    model(torch.rand(4, 3, 32, 32))['logits'].sum().backward()
    assert torch.equal(model.trunk.features[1].conv[0][1].running_mean, before)


def test_frozen_batch_norm_keeps_statistics_while_convolutions_train():
    """freeze_trunk_batchnorm: trunk BN stays in eval() and fixed; convolutions get gradients."""
    torch.manual_seed(0)
    model = PoseNet(3, embedding=16, crop_size=32, backbone='mobilenet_v2', mask_head=True)
    model.freeze_trunk_batchnorm()
    model.train()
    norms = [m for m in model.trunk.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    before = [m.running_mean.clone() for m in norms]
    out = model(torch.rand(4, 4, 32, 32))
    (out['raw'].sum() + out['mask_logits'].mean()).backward()
    assert all(not m.training and m.weight.grad is None for m in norms)
    assert all(torch.equal(m.running_mean, b) for m, b in zip(norms, before))
    assert model.trunk.features[0][0].weight.grad is not None
    assert model.mask_head[1].training  # the heads' own batch norm still trains
