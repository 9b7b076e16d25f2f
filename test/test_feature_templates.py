"""ImageNet-feature template matching (rgbd_perception/stages/feature_templates.py)."""

from pathlib import Path

import numpy as np
import pytest
import roma
import torch
import torchvision

from rgbd_perception.runtime.weights import ExportError
from rgbd_perception.stages.feature_templates import descriptor_trunk, FeatureTemplates
from rgbd_perception.stages.pose_templates import PoseTemplates, save_templates
from training.pose.feature_template_bank import write_feature_templates

SHARED_MOBILENET = (Path(__file__).resolve().parents[2] / 'shared' / 'pretrained' /
                    'mobilenet_v2_imagenet.pth')
#: Stride-16 map of a 64-pixel crop: 4 x 4 cells of 96 channels (MobileNetV2 features.13).
SIDE, CHANNELS = 4, 96


@pytest.fixture(scope='module')
def untrained():
    """Return FeatureTemplates of a seeded untrained MobileNetV2 trunk, objects 7 and 9."""
    torch.manual_seed(0)
    return FeatureTemplates(descriptor_trunk('mobilenet_v2'), 64, 'minus_one_one', [7, 9])


@pytest.fixture(scope='module')
def crops():
    """Return three seeded (64, 64, 3) uint8 crops."""
    return np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)


def test_template_similarity_is_the_mean_cosine_over_the_objects_cells(untrained, crops):
    """Only the cells the object covers count, each equally; an unseen object is all zero."""
    visible = np.zeros((3, 64, 64), np.float32)
    visible[0] = 1.0
    visible[1, :32, :32] = 1.0  # the top-left 2 x 2 cells
    templates = untrained.describe_templates(crops, visible)
    queries = untrained.describe(crops)
    assert templates.shape == queries.shape == (3, SIDE * SIDE * CHANNELS)
    assert not templates[2].any()
    cells = templates[1].view(SIDE, SIDE, CHANNELS)
    assert not cells[2:].any() and not cells[:, 2:].any()
    assert torch.allclose(cells[:2, :2].norm(dim=-1), torch.full((2, 2), 0.25))
    query = queries[0].view(SIDE, SIDE, CHANNELS)[:2, :2]
    own = queries[1].view(SIDE, SIDE, CHANNELS)[:2, :2]
    expected = (query * own).sum(dim=-1).mean()
    assert torch.allclose(queries[0] @ templates[1], expected, atol=1e-6)
    similarity = queries @ templates.T
    assert torch.allclose(similarity.diagonal()[:2], torch.ones(2), atol=1e-5)


def test_bank_round_trip_and_lookup(untrained, crops, tmp_path):
    """Saved and loaded, the bank describes alike and finds a crop's own template's rotation."""
    rotations = roma.rotvec_to_rotmat(torch.tensor([[0.3, 0.0, 0.0], [0.0, 0.6, 0.0],
                                                    [0.0, 0.0, 0.9]]))
    visible = np.ones((3, 64, 64), np.float32)
    untrained.bank = PoseTemplates(untrained.describe_templates(crops, visible), rotations,
                                   torch.tensor([0, 0, 1]))
    untrained.meta = {'backbone': 'mobilenet_v2'}
    path = tmp_path / 'bank.safetensors'
    write_feature_templates(untrained, path)
    loaded = FeatureTemplates.load(path)
    assert loaded.crop_size == 64 and loaded.object_ids == [7, 9]
    assert torch.allclose(loaded.describe(crops), untrained.describe(crops), atol=1e-5)
    heads = loaded.heads([7, 7, 9])
    assert heads.tolist() == [0, 0, 1]
    found = loaded.bank.rotations(loaded.describe(crops), heads)
    assert torch.allclose(found, rotations, atol=1e-6)
    with pytest.raises(ExportError, match=r'no templates of objects \[5\]'):
        loaded.heads([7, 5])


def test_loading_refuses_missing_and_foreign_files(tmp_path):
    """A missing path and a learned-feature bank both raise ExportError naming the problem."""
    with pytest.raises(ExportError, match='not found'):
        FeatureTemplates.load(tmp_path / 'absent.safetensors')
    other = tmp_path / 'learned.safetensors'
    save_templates(other, torch.eye(2), torch.eye(3).expand(2, 3, 3), torch.tensor([0, 1]),
                   '0' * 64)
    with pytest.raises(ExportError, match='not a feature template bank'):
        FeatureTemplates.load(other)


def test_unsupported_backbone_is_refused():
    """Only backbones with a stride-16 tap describe crops."""
    with pytest.raises(ValueError, match='mobilenet_v3_small'):
        descriptor_trunk('mobilenet_v3_small')


@pytest.mark.skipif(not SHARED_MOBILENET.is_file(), reason='no ../shared/pretrained')
def test_imagenet_trunk_is_the_pretrained_network_cut_at_stride_16():
    """The descriptor trunk's map is that of the whole ImageNet MobileNetV2's features[:14]."""
    trunk = descriptor_trunk('mobilenet_v2', str(SHARED_MOBILENET))
    whole = torchvision.models.mobilenet_v2()
    whole.load_state_dict(torch.load(SHARED_MOBILENET, weights_only=True))
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        assert torch.equal(trunk(images)['map'], whole.eval().features[:14](images))


def test_bank_groups_templates_by_object_and_compares_within_the_object():
    """Templates given in any order are kept grouped by head; other heads never match."""
    rotations = roma.rotvec_to_rotmat(torch.tensor([[0.1 * i, 0.0, 0.0] for i in range(4)]))
    embedding = torch.eye(4)
    bank = PoseTemplates(embedding, rotations, torch.tensor([1, 0, 1, 0]))
    assert bank.head.tolist() == [0, 0, 1, 1]
    found = bank.rotations(torch.eye(4), torch.tensor([1, 0, 1, 1]))
    assert torch.allclose(found[0], rotations[0]) and torch.allclose(found[1], rotations[1])
    assert torch.allclose(found[2], rotations[2])
    # the query most like object 0's template 3 but of head 1 takes head 1's best (0 or 2)
    assert any(torch.allclose(found[3], rotations[i]) for i in (0, 2))
