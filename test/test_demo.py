"""The main job end to end: the four nodes in their own processes on two sample frames."""

import numpy as np
import pytest
from rosbags.highlevel import AnyReader

from rgbd_perception.io.bop import read_bop_sequence
from rgbd_perception.io.images import read_rgb
from rgbd_perception.tools.demo import run_demo
from training.synth.sequence import SampleConfig, write_sample


@pytest.mark.ros
@pytest.mark.slow
def test_demo_runs_hha_completion_pose_and_mono_depth_nodes_over_topics(tmp_path):
    """Every output folder gets each frame; the pose overlay draws on the colour image."""
    write_sample(SampleConfig(out=str(tmp_path / 'sample'), frames=2), workers=1)
    frames = read_bop_sequence(tmp_path / 'sample' / '000000')
    out = tmp_path / 'demo_output'
    received = run_demo(out, frames, device='cpu', timeout=120.0)
    assert all(len(images) == 2 for images in received.values())
    for folder in ('rgb', 'depth', 'completed', 'hha', 'hha_completed', 'pose_overlay',
                   'mono'):
        assert sorted(p.name for p in (out / folder).iterdir()) == ['0000.png', '0001.png']
    for frame in frames:
        overlay = read_rgb(out / 'pose_overlay' / f'{frame.index:04d}.png')
        changed = (overlay != frame.rgb).any(axis=2).mean()
        assert 0.001 < changed < 0.5   # boxes and axes drawn, the image itself kept
    completed = received['depth/completed'][1]
    assert completed.dtype == np.float32 and (completed > 0).all()
    mono = received['depth/mono'][1]
    assert mono.shape == completed.shape and (mono > 0).all()
    assert (out / 'contact_sheet.png').is_file()
    with AnyReader([out / 'demo.mcap']) as recording:
        counts = {c.topic: c.msgcount for c in recording.connections}
    assert counts == {f'/demo_camera/{topic}': 2 for topic in (
        'rgb/image_raw', 'depth/image_raw', 'rgb/camera_info', *received)}
