"""Depth-only object candidates: large planes removed, the rest clustered (synthetic frames)."""

import numpy as np
import pytest

from rgbd_perception.geometry.camera import depth_edges
from rgbd_perception.geometry.segmentation import segment_candidates
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
