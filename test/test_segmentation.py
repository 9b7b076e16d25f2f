"""Depth-only object candidates: large planes removed, the rest clustered (synthetic frames)."""

import json

import numpy as np
import pytest

from rgbd_perception.geometry.segmentation import depth_edges, segment_candidates
from rgbd_perception.io.images import read_depth
from training.datasets.sample import read_mask
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
    cameras = json.loads((tabletop / 'scene_camera.json').read_text())
    infos = json.loads((tabletop / 'scene_gt_info.json').read_text())
    found = total = 0
    for key, camera in cameras.items():
        im_id = int(key)
        depth = read_depth(tabletop / 'depth' / f'{im_id:06d}.png') \
            * camera['depth_scale'] / 1000.0
        k = camera['cam_K']
        candidates = segment_candidates(depth, (k[0], k[4], k[2], k[5]))
        for index, info in enumerate(infos[key]):
            if info['px_count_visib'] < 800 or info['visib_fract'] < 0.7:
                continue
            visible = read_mask(tabletop / 'mask_visib' / f'{im_id:06d}_{index:06d}.png')
            total += 1
            found += any((c.mask & visible).sum() / (c.mask | visible).sum() > 0.5
                         for c in candidates)
    assert total >= 5
    assert found / total >= 0.7, (found, total)
