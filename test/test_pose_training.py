"""Pose training pieces: crops and partners, losses, occluders, the two tasks end to end."""

import json
from pathlib import Path

from conftest import small_renders
import numpy as np
import pytest
import roma
import torch
import torchvision

from rgbd_perception.geometry.crops import DEPTH_CLIP, square_window, window_ray
from rgbd_perception.geometry.detections import Detection
from rgbd_perception.geometry.pose import allocentric_rotation
from rgbd_perception.io.catalogue import load_catalogue
from rgbd_perception.io.data_paths import share_path
from rgbd_perception.models.pose import PoseNet
from rgbd_perception.runtime.weights import ExportError
from rgbd_perception.stages.feature_templates import FeatureTemplates
from rgbd_perception.stages.pose import PoseStage
from rgbd_perception.stages.pose_templates import PoseTemplates, templates_path
from training.cli import main
from training.framework.config import default_config, resolve_config
from training.pose.augment import add_occluders, drop_depth
from training.pose.data import ground_truth, nearest_view_partners, object_crops, PoseCrops
from training.pose.evaluation import evaluate_poses
from training.pose.losses import (feature_pose_loss, quaternion_distance,
                                  rotation_regression_loss, viewpoint_contrastive_loss)
from training.pose.task import PoseTask
from training.synth.catalogue import build_catalogue

DEMO_IDS = [1000, 1100, 1101, 1102, 1103, 1104]
SHARED_MOBILENET = (Path(__file__).resolve().parents[2] / 'shared' / 'pretrained' /
                    'mobilenet_v2_imagenet.pth')
#: sha256 of SHARED_MOBILENET (../shared/pretrained/README.md).
MOBILENET_SHA256 = '6737be4f187ef7d7782e8659085a0af3be12a43185d26b9bbc347bc581bec003'


@pytest.fixture(scope='module')
def demo_scenes(tmp_path_factory):
    """Return (train, heldout) folders of small renders of the demo catalogue's meshes."""
    catalogue = build_catalogue(share_path('config', 'objects', 'demo_meshes'), 'mm',
                                sources=('given',))
    return small_renders(tmp_path_factory.mktemp('pose'), catalogue,
                         [('train', 6, 1), ('heldout', 2, 2)])


def test_crops_carry_allocentric_labels_and_near_partners(demo_scenes):
    """Crops are seeded (same twice), labels are rotations, partners share the object."""
    first = object_crops([demo_scenes[0]], DEMO_IDS, 32, min_pixels=30)
    again = object_crops([demo_scenes[0]], DEMO_IDS, 32, min_pixels=30)
    assert np.array_equal(first['rgb'], again['rgb']) and len(first['index']) >= 6
    assert first['rgb'].shape[1:] == (32, 32, 3) and first['depth'].shape[1:] == (32, 32)
    assert np.abs(first['depth']).max() <= DEPTH_CLIP
    # the visible-mask crops: shares in [0, 1], the object in the middle of its crop
    masks = first['mask'].astype(np.float32)
    assert masks.shape == first['depth'].shape and 0.0 <= masks.min() and masks.max() <= 1.0
    assert (masks[:, 12:20, 12:20].mean(axis=(1, 2)) > masks[:, :4, :4].mean(axis=(1, 2))).all()
    rotations = first['rotation'].astype(np.float64)
    np.testing.assert_allclose(rotations @ rotations.transpose(0, 2, 1),
                               np.broadcast_to(np.eye(3), rotations.shape), atol=1e-5)
    crops = PoseCrops(first, 'rgbd')
    item = crops[0]
    assert item['crop'].shape == (4, 32, 32) and item['index'] == item['partner_index']
    assert item['mask'].shape == item['partner_mask'].shape == (32, 32)
    assert PoseCrops(first, 'rgb')[0]['crop'].shape == (3, 32, 32)


def test_nearest_view_partner_is_the_closest_rotation_of_the_same_object():
    """Among rotations about z of 0, 10, 50 degrees the partners are 10<->0 and 50->10."""
    angles = np.radians([0.0, 10.0, 50.0, 5.0])
    rotations = roma.rotvec_to_rotmat(torch.tensor(
        [[0.0, 0.0, a] for a in angles])).numpy()
    partners, degrees = nearest_view_partners(np.array([0, 0, 0, 1]), rotations)
    assert partners.tolist() == [1, 0, 1, 3]
    np.testing.assert_allclose(degrees, [10, 10, 40, 0], atol=1e-4)


def test_rotation_losses():
    """Quaternion loss ignores the sign; shape match is 0 for a symmetric-equivalent pose."""
    q = roma.random_unitquat(4, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(quaternion_distance(q, -q), torch.zeros(4), atol=1e-6)
    target = roma.unitquat_to_rotmat(q)
    turn = roma.rotvec_to_rotmat(torch.tensor([0.0, 0.0, np.pi]))   # box: 180 deg about z
    box = torch.tensor([[sx * 0.06, sy * 0.04, sz * 0.025] for sx in (-1, 1) for sy in (-1, 1)
                        for sz in (-1, 1)])
    points = box.expand(4, 8, 3)
    symmetric = torch.tensor([True, True, False, False])
    turned = target @ turn
    loss = rotation_regression_loss(-q, turned, target, 'quaternion', symmetric[:2].repeat(2),
                                    points, torch.full((4,), 0.15))
    assert loss < 1e-6
    wrong = rotation_regression_loss(q, turned, target, '6d', symmetric, points,
                                     torch.full((4,), 0.15))
    assert wrong > 1.0     # the asymmetric ones are 180 degrees off: |R - R'|^2 = 8


def test_feature_pose_and_contrastive_losses():
    """Features spaced like their poses give 0; near views are not contrastive negatives."""
    rotation = roma.rotvec_to_rotmat(torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.5]]))
    q = roma.rotmat_to_unitquat(rotation)
    distance = 2 * quaternion_distance(q[0], q[1])
    angle = torch.arccos(1 - distance / 2)
    features = torch.stack([torch.tensor([1.0, 0.0]),
                            torch.stack([torch.cos(angle), torch.sin(angle)])])
    index, asymmetric = torch.zeros(2, dtype=torch.long), torch.zeros(2, dtype=torch.bool)
    assert feature_pose_loss(features, rotation, index, asymmetric) < 1e-10
    collapsed = features[:1].expand(2, 2)
    assert feature_pose_loss(collapsed, rotation, index, asymmetric) == \
        pytest.approx(float(distance) ** 2, rel=1e-5)
    anchors = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.1]]), dim=1)
    near = viewpoint_contrastive_loss(anchors, anchors, rotation, rotation, index, index,
                                      near_degrees=45.0)
    far = viewpoint_contrastive_loss(anchors, anchors, rotation, rotation, index, index,
                                     near_degrees=1.0)
    assert near < 1e-6 < far


def test_occluders_cover_a_rectangle_in_front():
    """An occluded crop changes only in one rectangle, whose depth lies in front."""
    torch.manual_seed(0)
    crops = torch.zeros(8, 4, 32, 32)
    occluded, which, covered = add_occluders(crops, probability=1.0)
    assert which.all()
    changed = (occluded != crops).any(dim=1)
    assert torch.equal(changed, covered)
    for index in range(8):
        rows, cols = torch.nonzero(changed[index], as_tuple=True)
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert len(rows) == box and 0.05 * 1024 <= len(rows) <= 0.6 * 1024
        assert (occluded[index, 3][changed[index]] <= -0.5).all()
    unchanged, which, covered = add_occluders(crops, probability=0.0)
    assert torch.equal(unchanged, crops) and not which.any() and not covered.any()


def test_depth_dropout_zeroes_whole_depth_channels_only():
    """Dropped crops lose all their depth and nothing else; RGB crops pass unchanged."""
    torch.manual_seed(0)
    crops = torch.rand(200, 4, 8, 8) + 0.1
    dropped = drop_depth(crops, 0.3)
    gone = (dropped[:, 3] == 0).all(dim=(1, 2))
    assert torch.equal(dropped[:, :3], crops[:, :3])
    assert torch.equal(dropped[~gone], crops[~gone]) and 40 <= int(gone.sum()) <= 80
    assert torch.equal(drop_depth(crops[:, :3], 1.0), crops[:, :3])
    assert torch.equal(drop_depth(crops, 0.0), crops)


def test_selfsup_then_pose_train_evaluate_and_export(demo_scenes, tmp_path):
    """pose-selfsup exports weights that start pose; eval reports ADD(-S) per object."""
    train, heldout = demo_scenes
    common = [f'data.train_dirs=[{train}]', f'data.eval_dir={heldout}', 'data.eval_frames=2',
              'data.min_pixels=30', 'model.crop_size=32', 'model.embedding=16',
              'train.steps=2', 'train.batch_size=4']
    assert main(['pose-selfsup', '--run-dir', str(tmp_path / 'selfsup'), *common]) == 0
    assert main(['eval', '--checkpoint', str(tmp_path / 'selfsup'), '--out',
                 str(tmp_path / 'selfsup_eval')]) == 0
    retrieval = json.loads((tmp_path / 'selfsup_eval' / 'metrics.json').read_text())
    assert 'nearest_neighbour' in retrieval['metrics']
    pretrained = tmp_path / 'selfsup.safetensors'
    assert main(['export', '--checkpoint', str(tmp_path / 'selfsup'), '--out',
                 str(pretrained)]) == 0
    assert main(['pose', '--run-dir', str(tmp_path / 'pose'), *common,
                 f'pretrained.init_weights={pretrained}', 'model.rotation=quaternion']) == 0
    assert main(['eval', '--checkpoint', str(tmp_path / 'pose'), '--out',
                 str(tmp_path / 'eval')]) == 0
    metrics = json.loads((tmp_path / 'eval' / 'metrics.json').read_text())['metrics']
    assert {'given_refined', 'given_unrefined', 'boxes_refined', 'built_in_refined',
            'given_nearest_neighbour_refined', 'given_rgb_only'} <= set(metrics)
    assert metrics['boxes_refined']['poses'] == metrics['given_refined']['poses']
    summary = metrics['given_refined']
    assert 0.0 <= summary['mean_add_s_accuracy'] <= 1.0 and summary['poses'] >= 1
    weights = tmp_path / 'pose.safetensors'
    assert main(['export', '--checkpoint', str(tmp_path / 'pose'), '--out', str(weights)]) == 0
    manifest = json.loads(weights.with_suffix('.json').read_text())
    assert manifest['model_kwargs']['num_objects'] == 6
    assert manifest['data']['object_ids'] == DEMO_IDS


def test_template_bank_command_and_nearest_neighbour_stage(demo_scenes, tmp_path):
    """`templates` embeds the training crops; the stage then takes rotations from the bank."""
    train, heldout = demo_scenes
    assert main(['pose', '--run-dir', str(tmp_path / 'pose'), f'data.train_dirs=[{train}]',
                 f'data.eval_dir={heldout}', 'data.min_pixels=30', 'model.crop_size=32',
                 'model.embedding=16', 'train.steps=1', 'train.batch_size=4']) == 0
    weights = tmp_path / 'pose.safetensors'
    assert main(['export', '--checkpoint', str(tmp_path / 'pose'), '--out', str(weights)]) == 0
    assert main(['templates', '--weights', str(weights)]) == 0
    bank_file = templates_path(weights)
    crops = object_crops([train], DEMO_IDS, 32, min_pixels=30)
    manifest = json.loads(weights.with_suffix('.json').read_text())
    bank = PoseTemplates.load(bank_file, manifest['weights_sha256'])
    assert len(bank.head) == len(crops['index'])
    assert torch.equal(bank.head, torch.from_numpy(np.sort(crops['index'])))
    with pytest.raises(ExportError, match='other weights'):
        PoseTemplates.load(bank_file, '0' * 64)
    catalogue = load_catalogue(share_path('config', 'objects', 'demo.yaml'))
    stage = PoseStage(catalogue, weights, device='cpu', refine=False,
                      rotation_source='nearest_neighbour')
    regression = PoseStage(catalogue, weights, device='cpu', refine=False)
    rgb, depth, intrinsics, objects = next(ground_truth(heldout, set(DEMO_IDS), min_pixels=30))
    detections = [Detection(o[0], o[3], o[4]) for o in objects]
    found = stage(rgb, depth, intrinsics, detections)
    assert [e.obj_id for e in found] == [o[0] for o in objects]
    for estimate, reference, obj in zip(found, regression(rgb, depth, intrinsics, detections),
                                        objects):
        # Seen along its crop's ray, the estimate is one of the bank's rotations of its object.
        ray = torch.from_numpy(window_ray(square_window(obj[3]), intrinsics))
        seen = allocentric_rotation(torch.from_numpy(estimate.rotation), ray).float()
        own = bank.rotation[bank.head == DEMO_IDS.index(obj[0])]
        assert (seen - own).abs().amax(dim=(1, 2)).min() < 1e-4
        assert not np.allclose(estimate.rotation, reference.rotation, atol=1e-3)
    assert main(['templates', '--weights', str(tmp_path / 'missing.safetensors')]) == 2


def test_templates_pick_the_nearest_template_of_the_same_object():
    """The nearest embedding wins, but only among the templates of the crop's own object."""
    rotations = roma.rotvec_to_rotmat(torch.tensor([[0.0, 0.0, a] for a in (0.1, 0.2, 0.3)]))
    embedding = torch.eye(3)
    bank = PoseTemplates(embedding, rotations, torch.tensor([0, 0, 1]))
    query = torch.nn.functional.normalize(torch.tensor([[0.2, 1.0, 0.9], [1.0, 0.0, 0.0]]), dim=1)
    found = bank.rotations(query, torch.tensor([0, 1]))
    assert torch.allclose(found[0], rotations[1]) and torch.allclose(found[1], rotations[2])
    with pytest.raises(ExportError, match='no template'):
        bank.rotations(query[:1], torch.tensor([2]))


def test_distinct_rotations_skip_near_duplicates_and_other_objects():
    """Nearest first, a template within 30 degrees of a taken one is skipped, heads kept."""
    angles = torch.deg2rad(torch.tensor([0.0, 10.0, 40.0, 90.0, 5.0]))
    rotations = roma.rotvec_to_rotmat(torch.stack([torch.zeros(5), torch.zeros(5), angles], 1))
    embedding = torch.nn.functional.normalize(torch.tensor(
        [[1.0, 0.0], [0.99, 0.1], [0.9, 0.4], [0.5, 0.8], [1.0, 0.01]]), dim=1)
    bank = PoseTemplates(embedding, rotations, torch.tensor([0, 0, 0, 0, 1]))
    (found,) = bank.distinct_rotations(torch.tensor([[1.0, 0.0]]), torch.tensor([0]), 3)
    assert len(found) == 3
    for rotation, expected in zip(found, (0, 2, 3)):
        assert torch.allclose(rotation, rotations[expected])
    (two,) = bank.distinct_rotations(torch.tensor([[1.0, 0.0]]), torch.tensor([0]), 2)
    assert len(two) == 2 and torch.allclose(two[1], rotations[2])


@pytest.mark.skipif(not SHARED_MOBILENET.is_file(), reason='no ../shared/pretrained')
def test_backbone_weights_are_recorded_in_the_manifest(demo_scenes, tmp_path):
    """A MobileNetV2 pose run from the shared weights records their sha256 and scaling."""
    train, heldout = demo_scenes
    assert main(['pose', '--run-dir', str(tmp_path / 'pose'), f'data.train_dirs=[{train}]',
                 f'data.eval_dir={heldout}', 'data.min_pixels=30', 'model.crop_size=32',
                 'model.embedding=16', 'train.steps=1', 'train.batch_size=2',
                 'model.backbone=mobilenet_v2', 'model.input_scaling=minus_one_one',
                 f'pretrained.backbone_weights={SHARED_MOBILENET}',
                 'finetune.freeze_backbone=true']) == 0
    weights = tmp_path / 'pose.safetensors'
    assert main(['export', '--checkpoint', str(tmp_path / 'pose'), '--out', str(weights)]) == 0
    manifest = json.loads(weights.with_suffix('.json').read_text())
    assert manifest['provenance']['init_weights']['pretrained.backbone_weights'] == {
        'path': str(SHARED_MOBILENET), 'sha256': MOBILENET_SHA256}
    assert manifest['model_kwargs']['backbone'] == 'mobilenet_v2'
    assert manifest['model_kwargs']['input_scaling'] == 'minus_one_one'


@pytest.mark.skipif(not SHARED_MOBILENET.is_file(), reason='no ../shared/pretrained')
def test_lmo_mobilenet_recipe_builds_an_imagenet_posenet_with_a_mask_head(shared_data):
    """pose_lmo_mobilenet.yaml: shared MobileNetV2 weights, mask head, batch norm kept in eval."""
    shared_data('lmo_models', 'models')  # its catalogue's meshes
    root = Path(__file__).resolve().parents[1]
    config = resolve_config(default_config('pose.yaml'),
                            root / 'training' / 'configs' / 'pose_lmo_mobilenet.yaml',
                            [f'pretrained.backbone_weights={SHARED_MOBILENET}'])
    model = PoseTask(config).build_model().train()
    assert model.backbone == 'mobilenet_v2' and model.mask_head is not None
    shared = torch.load(SHARED_MOBILENET, weights_only=True)
    first_conv = model.trunk.state_dict()['features.0.0.weight']
    assert torch.equal(first_conv[:, :3], shared['features.0.0.weight'])
    batchnorms = [m for m in model.trunk.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert batchnorms and not any(m.training or m.weight.requires_grad for m in batchnorms)
    assert model.mask_head.training


def test_rgb_input_weights_are_evaluated_with_depth_for_translation(demo_scenes):
    """
    RGB-input PoseNet: the rows with depth get it (translation, ICP, built-in detector).

    Only the rgb_only row runs without depth; the built-in detector needs depth.
    """
    _, heldout = demo_scenes
    catalogue = load_catalogue(share_path('config', 'objects', 'demo.yaml'))
    torch.manual_seed(0)
    net = PoseNet(len(catalogue.ids), crop_size=32, input_mode='rgb').eval()
    result = evaluate_poses((net, catalogue.ids), catalogue, heldout, limit=1,
                            detectors=('given', 'built_in'), refinements=(False,), rgb_only=True)
    assert set(result) == {'given_unrefined', 'built_in_unrefined', 'given_rgb_only'}
    assert result['given_unrefined']['poses'] == result['given_rgb_only']['poses'] > 0


def test_feature_template_bank_command_stage_and_evaluation(demo_scenes, tmp_path):
    """
    `feature-templates` describes the renders' crops; the stage takes rotations from them.

    The ImageNet weights are stood in by a seeded untrained MobileNetV2 state_dict file.
    """
    train, heldout = demo_scenes
    torch.manual_seed(0)
    weights = tmp_path / 'mobilenet.pth'
    torch.save(torchvision.models.mobilenet_v2().state_dict(), weights)
    bank_file = tmp_path / 'bank.safetensors'
    command = ['feature-templates', '--renders', str(train), '--catalogue',
               'config/objects/demo.yaml', '--initial-weights', str(weights),
               '--crop-size', '32', '--min-visible', '0.3', '--min-pixels', '30', '--out',
               str(bank_file)]
    assert main(command) == 2  # a local file needs its input scaling
    assert main(command + ['--input-scaling', 'minus_one_one']) == 0
    bank = FeatureTemplates.load(bank_file)
    crops = object_crops([train], DEMO_IDS, 32, min_visible=0.3, min_pixels=30, jitter=0.0)
    assert set(crops['index']) == set(range(len(DEMO_IDS)))
    assert torch.equal(bank.bank.head, torch.from_numpy(np.sort(crops['index'])))
    catalogue = load_catalogue(share_path('config', 'objects', 'demo.yaml'))
    network = (PoseNet(len(DEMO_IDS), crop_size=32).eval(), DEMO_IDS)
    with pytest.raises(ValueError, match='feature template bank'):
        PoseStage(catalogue, network=network, rotation_source='feature_templates')
    stage = PoseStage(catalogue, network=network, refine=False,
                      rotation_source='feature_templates', feature_templates=bank)
    rgb, depth, intrinsics, objects = next(ground_truth(heldout, set(DEMO_IDS), min_pixels=30))
    detections = [Detection(o[0], o[3], o[4]) for o in objects]
    for estimate, obj in zip(stage(rgb, depth, intrinsics, detections), objects, strict=True):
        ray = torch.from_numpy(window_ray(square_window(obj[3]), intrinsics))
        seen = allocentric_rotation(torch.from_numpy(estimate.rotation), ray).float()
        own = bank.bank.rotation[bank.bank.head == bank.object_ids.index(obj[0])]
        assert (seen - own).abs().amax(dim=(1, 2)).min() < 1e-4
    result = evaluate_poses(network, catalogue, heldout, limit=1, detectors=('given',),
                            refinements=(True,), feature_templates=bank)
    assert set(result) == {'given_refined', 'given_feature_templates_refined'}
    assert result['given_feature_templates_refined']['poses'] == result['given_refined']['poses']
