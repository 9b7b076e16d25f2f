"""Depth-only object candidates: large planes removed, the rest clustered (synthetic frames)."""

import numpy as np
import pytest

from rgbd_perception.geometry.camera import back_project, depth_edges
from rgbd_perception.geometry.pose import box_mask
from rgbd_perception.geometry.segmentation import (box_object_mask, object_free_pixels,
                                                   segment_candidates)
from rgbd_perception.io.bop import BopScene
from training.synth.catalogue import build_catalogue
from training.synth.generate import generate, SynthConfig
from training.synth.scene import SceneOptions


@pytest.fixture(scope='module')
def tabletop(tmp_path_factory):
    """Return the folder of 3 VGA tabletop frames with exact depth and 3-5 objects each."""
    out = tmp_path_factory.mktemp('segmentation') / 'frames'
    options = SceneOptions(min_objects=3, max_objects=5, max_distractors=0,
                           occluder_probability=0.0)
    generate(SynthConfig(out=str(out), frames=3, seed=21, sensor='none', scene=options),
             build_catalogue(sources=('procedural', 'pybullet_data')), workers=1)
    return out / '000000'


def test_depth_edges_mark_both_sides_of_a_jump():
    """A step from 1 m to 2 m marks the columns on either side, nothing on flat parts."""
    depth = np.ones((5, 8), np.float32)
    depth[:, 4:] = 2.0
    edges = depth_edges(depth)
    assert edges[:, 3:5].all() and not edges[:, :3].any() and not edges[:, 5:].any()


def test_candidates_find_the_objects_on_the_table(tabletop):
    """Most well-visible objects get a candidate overlapping their visible mask (IoU > 0.5)."""
    scene = BopScene(tabletop)
    found = total = 0
    for im_id in scene.image_ids:
        candidates = segment_candidates(scene.read_depth_metres(im_id), scene.intrinsics(im_id))
        for _, _, visible in scene.visible_objects(im_id, min_visible=0.7, min_pixels=800):
            total += 1
            found += any((c.mask & visible).sum() / (c.mask | visible).sum() > 0.5
                         for c in candidates)
    assert total >= 5
    assert found / total >= 0.7, (found, total)


def precision_recall(selected, visible):
    """Share of the selected pixels on the object, share of the object's pixels selected."""
    if selected is None:
        return 0.0, 0.0
    hits = (selected & visible).sum()
    return hits / max(selected.sum(), 1), hits / visible.sum()


def test_box_object_mask_finds_the_object_a_visible_box_frames(tabletop):
    """
    Given only the true visible box, the depth-segmented object is mostly the object.

    Far more of its pixels are the object's than of the box's depth pixels within one
    diameter of their median (the stage's rule without a mask), which keep the table and
    neighbours inside the box, while most of the object's pixels stay.
    """
    scene = BopScene(tabletop)
    segmented, median_rule = [], []
    for im_id in scene.image_ids:
        depth, intrinsics = scene.read_depth_metres(im_id), scene.intrinsics(im_id)
        free = object_free_pixels(depth, intrinsics)
        for _, info, visible in scene.visible_objects(im_id, min_visible=0.3, min_pixels=200):
            visible = visible & (depth > 0)
            diameter = 1.2 * np.ptp(back_project(depth, intrinsics, visible), axis=0).max()
            bbox = info['bbox_visib']
            segmented.append(precision_recall(box_object_mask(depth, free, bbox, diameter),
                                              visible))
            in_box = box_mask(bbox, depth.shape) & (depth > 0)
            near = np.abs(depth - np.median(depth[in_box])) < diameter
            median_rule.append(precision_recall(in_box & near, visible))
    (precision, recall), (old_precision, _) = np.mean(segmented, 0), np.mean(median_rule, 0)
    assert len(segmented) >= 8
    assert precision > old_precision + 0.1 and precision > 0.8, (precision, old_precision)
    assert recall > 0.6, recall


def test_box_object_mask_is_none_without_free_pixels():
    """A box on a bare plane (nothing off it) gives no object."""
    depth = np.full((60, 80), 1.0, np.float32)
    free = np.zeros(depth.shape, bool)
    assert box_object_mask(depth, free, (10, 10, 30, 20), 0.1) is None
