"""Pose stage plumbing with untrained weights: given detections, built-in detector, RGB only."""

import json

import numpy as np
import pytest
import torch

from rgbd_perception.geometry.detections import Detection, DetectionError
from rgbd_perception.geometry.pose import box_mask
from rgbd_perception.io.catalogue import load_catalogue
from rgbd_perception.io.data_paths import share_path
from rgbd_perception.models.pose import PoseNet
from rgbd_perception.stages.depth_input import DepthError
from rgbd_perception.stages.pose import PoseStage


@pytest.fixture(scope='module')
def catalogue():
    """Return the demo catalogue."""
    return load_catalogue(share_path('config', 'objects', 'demo.yaml'))


def test_translation_from_depth_and_icp_finds_the_ball(catalogue, untrained_pose_weights,
                                                       ball_frame):
    """A sphere's pose is its centre: depth + ICP put it within 3 mm, box or mask."""
    rgb, depth, k, _, t, bbox, mask = ball_frame
    stage = PoseStage(catalogue, untrained_pose_weights['rgbd'], device='cpu')
    for detection in (Detection(1104, bbox, mask), Detection(1104, bbox)):
        (estimate,) = stage(rgb, depth.astype(np.float32), k, [detection])
        assert estimate.obj_id == 1104
        assert np.linalg.norm(estimate.translation - t) < 0.003
        np.testing.assert_allclose(estimate.rotation @ estimate.rotation.T, np.eye(3),
                                   atol=1e-6)
        assert 0.5 < estimate.score <= 1.0


def test_rgb_only_distance_from_the_box(catalogue, untrained_pose_weights, ball_frame):
    """Without depth, t lies on the box's ray at the distance the ball's size implies."""
    rgb, _, k, _, t, bbox, _ = ball_frame
    stage = PoseStage(catalogue, untrained_pose_weights['rgb'], device='cpu')
    (estimate,) = stage(rgb, None, k, [Detection(1104, bbox)])
    assert abs(estimate.translation[2] - t[2]) < 0.1 * t[2]
    direction = estimate.translation / np.linalg.norm(estimate.translation)
    assert np.degrees(np.arccos(direction @ (t / np.linalg.norm(t)))) < 2.0


def test_rgb_only_distance_from_the_mask(catalogue, untrained_pose_weights, ball_frame):
    """With a mask, RGB-only t lies at the distance where the ball's area matches the mask's."""
    rgb, _, k, _, t, bbox, mask = ball_frame
    stage = PoseStage(catalogue, untrained_pose_weights['rgb'], device='cpu')
    (estimate,) = stage(rgb, None, k, [Detection(1104, bbox, mask)])
    assert abs(estimate.translation[2] - t[2]) < 0.05 * t[2]


def test_box_only_detections_use_the_predicted_mask(catalogue, ball_frame):
    """
    Without a given mask the mask head's mask (inside the box) is the object's pixels.

    The head is rigged: zero weights and a bias of +10 predict the whole crop visible, so
    the mask is the box; -10 predicts nothing, so the stage falls back to the box alone
    (no mask).  A given mask always wins; predicted_masks=False keeps the box.  (The depth
    segmentation of box-only detections is off here: tested below.)
    """
    rgb, depth, k, _, t, bbox, mask = ball_frame
    torch.manual_seed(0)
    net = PoseNet(len(catalogue.ids), crop_size=64, mask_head=True).eval()
    last = net.mask_head[-1]
    torch.nn.init.zeros_(last.weight)
    stage = PoseStage(catalogue, network=(net, catalogue.ids), device='cpu',
                      segment_boxes=False)
    for bias, expected in ((10.0, box_mask(bbox, depth.shape)), (-10.0, None)):
        torch.nn.init.constant_(last.bias, bias)
        (estimate,) = stage(rgb, depth, k, [Detection(1104, bbox)])
        assert (estimate.mask is None if expected is None else
                np.array_equal(estimate.mask, expected))
        assert np.linalg.norm(estimate.translation - t) < 0.003
    (estimate,) = stage(rgb, depth, k, [Detection(1104, bbox, mask)])
    assert np.array_equal(estimate.mask, mask)
    torch.nn.init.constant_(last.bias, 10.0)
    boxed = PoseStage(catalogue, network=(net, catalogue.ids), device='cpu',
                      predicted_masks=False, segment_boxes=False)
    (estimate,) = boxed(rgb, depth, k, [Detection(1104, bbox)])
    assert estimate.mask is None


def test_box_only_detections_without_a_mask_head_segment_the_box_from_depth(
        catalogue, untrained_pose_weights, ball_frame):
    """
    Weights without a mask head: the object's pixels are segmented from depth in the box.

    They lie on the ball (almost none off its visible mask) and give its centre within
    3 mm; segment_boxes=False keeps the box (no mask); without depth nothing changes.
    """
    rgb, depth, k, _, t, bbox, mask = ball_frame
    stage = PoseStage(catalogue, untrained_pose_weights['rgbd'], device='cpu')
    (estimate,) = stage(rgb, depth, k, [Detection(1104, bbox)])
    assert estimate.mask is not None
    assert (estimate.mask & mask).sum() > 0.95 * estimate.mask.sum()
    assert (estimate.mask & mask).sum() > 0.5 * mask.sum()
    assert np.linalg.norm(estimate.translation - t) < 0.003
    boxed = PoseStage(catalogue, untrained_pose_weights['rgbd'], device='cpu',
                      segment_boxes=False)
    assert boxed(rgb, depth, k, [Detection(1104, bbox)])[0].mask is None
    rgb_only = PoseStage(catalogue, untrained_pose_weights['rgb'], device='cpu')
    assert rgb_only(rgb, None, k, [Detection(1104, bbox)])[0].mask is None


def test_rgbd_weights_trained_with_depth_dropout_also_run_on_colour(
        catalogue, untrained_pose_weights, ball_frame, tmp_path):
    """RGB-D weights whose manifest says depth dropout take colour alone (t from the box)."""
    rgb, _, k, _, t, bbox, _ = ball_frame
    source = untrained_pose_weights['rgbd']
    dropout = tmp_path / 'dropout.safetensors'
    dropout.write_bytes(source.read_bytes())
    manifest = json.loads(source.with_suffix('.json').read_text())
    manifest['config'] = {'augment': {'depth_dropout': 0.3}}
    dropout.with_suffix('.json').write_text(json.dumps(manifest))
    stage = PoseStage(catalogue, dropout, device='cpu')
    assert stage.uses_depth and stage.rgb_only
    (estimate,) = stage(rgb, None, k, [Detection(1104, bbox)])
    assert abs(estimate.translation[2] - t[2]) < 0.1 * t[2]
    with pytest.raises(DepthError, match='not trained without depth'):
        PoseStage(catalogue, source, device='cpu')(rgb, None, k, [Detection(1104, bbox)])


def test_built_in_detector_and_bad_inputs(catalogue, untrained_pose_weights, ball_frame):
    """Without detections the segmentation finds the ball; bad detections raise clearly."""
    rgb, depth, k, _, _, bbox, mask = ball_frame
    stage = PoseStage(catalogue, untrained_pose_weights['rgbd'], device='cpu', min_score=0.0)
    estimates = stage(rgb, depth, k)     # untrained: any identity, so only the mask counts
    assert any((e.mask & mask).sum() > 0.7 * (e.mask | mask).sum() for e in estimates)
    with pytest.raises(DetectionError, match='unknown object 7'):
        stage(rgb, depth, k, [Detection(7, bbox)])
    with pytest.raises(DetectionError, match='outside'):
        stage(rgb, depth, k, [Detection(1104, (700, 10, 5, 5))])
    with pytest.raises(DepthError, match='RGB-D crops'):
        stage(rgb, None, k, [Detection(1104, bbox)])
    rgb_stage = PoseStage(catalogue, untrained_pose_weights['rgb'], device='cpu')
    with pytest.raises(DetectionError, match='needs detections'):
        rgb_stage(rgb, None, k)
    assert stage(rgb, depth, k, []) == []


@pytest.mark.parametrize('mode', ['rgbd', 'rgb'])
def test_warm_up_leaves_the_poses_as_they_were(catalogue, untrained_pose_weights, ball_frame,
                                               mode):
    """warm_up runs the network (RGB-D or RGB crops) and changes no later estimate."""
    rgb, depth, k, _, _, bbox, _ = ball_frame
    depth = depth.astype(np.float32) if mode == 'rgbd' else None
    cold = PoseStage(catalogue, untrained_pose_weights[mode], device='cpu')
    warm = PoseStage(catalogue, untrained_pose_weights[mode], device='cpu')
    warm.warm_up()
    (expected,), (estimate,) = (s(rgb, depth, k, [Detection(1104, bbox)]) for s in (cold, warm))
    np.testing.assert_array_equal(estimate.rotation, expected.rotation)
    np.testing.assert_array_equal(estimate.translation, expected.translation)


def test_cli_pose_writes_the_poses_json(untrained_pose_weights, ball_frame, tmp_path, capsys):
    """`rgbd-perception pose` with a BOP-style detection and mask file; errors exit 1."""
    import cv2

    from rgbd_perception.cli import main
    from rgbd_perception.io.images import write_depth_png, write_rgb

    rgb, depth, k, _, t, bbox, mask = ball_frame
    write_rgb(tmp_path / 'c.png', rgb)
    write_depth_png(tmp_path / 'd.png', np.round(depth * 1000))
    cv2.imwrite(str(tmp_path / 'm.png'), mask.astype(np.uint8) * 255)
    (tmp_path / 'det.json').write_text(json.dumps(
        [{'obj_id': 1104, 'bbox': list(bbox), 'mask': 'm.png'}]))
    common = ['pose', '--rgb', str(tmp_path / 'c.png'), '--objects',
              str(share_path('config', 'objects', 'demo.yaml')), '--weights',
              str(untrained_pose_weights['rgbd']), '--intrinsics', *map(str, k),
              '--device', 'cpu']
    assert main([*common, '--depth', str(tmp_path / 'd.png'), '--detections',
                 str(tmp_path / 'det.json'), '--out', str(tmp_path / 'poses.json')]) == 0
    (pose,) = json.loads((tmp_path / 'poses.json').read_text())
    assert pose['obj_id'] == 1104 and 0 < pose['score'] <= 1
    assert np.linalg.norm(np.array(pose['t']) - t) < 0.004
    assert np.asarray(pose['R']).shape == (3, 3)
    (tmp_path / 'bad.json').write_text('[{"obj_id": 1104}]')
    assert main([*common, '--depth', str(tmp_path / 'd.png'), '--detections',
                 str(tmp_path / 'bad.json'), '--out', str(tmp_path / 'x.json')]) == 1
    assert 'needs "obj_id" and "bbox"' in capsys.readouterr().err
    assert main([*common, '--depth', str(tmp_path / 'd.png'), str(tmp_path / 'd.png'),
                 '--out', str(tmp_path / 'x.json')]) == 1
    assert '--depth needs one file per --rgb' in capsys.readouterr().err


def test_bench_pose_times_frames_and_objects(untrained_pose_weights, ball_scene, capsys):
    """`rgbd-perception bench pose` prints per-frame and per-object latencies."""
    from rgbd_perception.cli import main

    assert main(['bench', 'pose', '--sample-dir', str(ball_scene), '--weights',
                 str(untrained_pose_weights['rgbd']), '--frames', '2', '--warmup', '0',
                 '--device', 'cpu']) == 0
    out = capsys.readouterr().out
    assert '1.0 objects per frame' in out
    assert out.count('given detections, ICP, torch, per object') == 1
    assert 'built-in detector, ICP, torch, frame' in out
    assert 'given detections, no ICP, torch, per object' in out
