"""Training from ROS 2 recordings: the bag reader and label-free completion adaptation."""

import numpy as np
import pytest

from rgbd_perception.io.recordings import (read_recording, RecordedFrame, RecordingError,
                                           write_recording)
from rgbd_perception.runtime.weights import build_exported
from rgbd_perception.stages.completion import BUNDLED_WEIGHTS
from rgbd_perception.tools.sample_scene import sample_frame
from training.cli import main
from training.completion.evaluation import evaluate_removal
from training.datasets import DATASETS

FRAMES, HELD_OUT = 16, 4


@pytest.fixture(scope='module')
def sample_frames():
    """Return RecordedFrames of the bundled sample sequence at 160 x 120, 10 Hz stamps."""
    return [RecordedFrame(f.rgb, f.depth_mm, f.intrinsics, 10 ** 9 + i * 10 ** 8)
            for i, f in enumerate(sample_frame(i, num_frames=FRAMES, width=160, height=120)
                                  for i in range(FRAMES))]


@pytest.fixture(scope='module')
def sample_bag(sample_frames, tmp_path_factory):
    """Return an MCAP recording of the sample frames on the package's default topics."""
    bag = tmp_path_factory.mktemp('bag') / 'sample'
    write_recording(bag, sample_frames)
    return bag


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_recording_round_trip(sample_frames, tmp_path, storage):
    """Frames written to either storage read back exactly, with their intrinsics."""
    bag = tmp_path / storage
    write_recording(bag, sample_frames[:3], storage=storage)
    frames = read_recording(bag)
    assert len(frames) == 3
    for written, read in zip(sample_frames, frames):
        assert np.array_equal(written.rgb, read.rgb)
        assert np.array_equal(written.depth_mm, read.depth_mm)
        assert read.intrinsics == pytest.approx(written.intrinsics)
        assert read.stamp_ns == written.stamp_ns


def test_recording_errors_name_the_problem(sample_bag, tmp_path):
    """A missing bag, or a topic the bag lacks, is a RecordingError saying which."""
    with pytest.raises(RecordingError, match='not found'):
        read_recording(tmp_path / 'absent')
    with pytest.raises(RecordingError, match=r"no messages on \['/camera/depth'\]"):
        read_recording(sample_bag, depth_topic='/camera/depth')


def test_recording_reader_selects_frames(sample_bag):
    """The training reader slices paired frames and gives metres and a 0-based K."""
    reader = DATASETS['recording'](sample_bag, start=FRAMES - HELD_OUT)
    assert len(reader) == HELD_OUT
    sample = reader[0]
    assert sample.rgb.shape == (120, 160, 3) and sample.depth.dtype == np.float32
    assert 0 < sample.depth[sample.depth > 0].min() and sample.K[2, 2] == 1.0


def _held_out_rmse(weights, frames):
    """Return the completion RMSE (m) at 50 % Perlin removal on frames' sensor depth."""
    model, _ = build_exported(weights)
    scored = [(str(i), f.rgb, f.depth_mm / 1000.0, f.depth_mm / 1000.0)
              for i, f in enumerate(frames)]
    results, _ = evaluate_removal(scored, [0.5], model, 'cpu', downsample=1, repeats=2)
    return results['removal_50']['model']['rmse']


@pytest.mark.slow
def test_completion_adapts_to_a_recording(sample_frames, sample_bag, tmp_path):
    """Fine-tuning the bundled model on a bag's first frames lowers the error on its last."""
    run, weights = tmp_path / 'run', tmp_path / 'adapted.safetensors'
    assert main(['completion', '--run-dir', str(run), 'data.train_dirs=[]',
                 f'data.real_train=[{{dataset: recording, root: {sample_bag}, '
                 f'args: {{stop: {FRAMES - HELD_OUT}}}}}]', 'data.real_train_size=[120, 160]',
                 f'pretrained.init_weights={BUNDLED_WEIGHTS}', 'augment.crop=[96, 128]',
                 'train.steps=60', 'train.batch_size=4', 'train.log_every=10',
                 'optim.lr=0.001']) == 0
    assert main(['export', '--checkpoint', str(run), '--out', str(weights)]) == 0
    held_out = sample_frames[FRAMES - HELD_OUT:]
    before, after = _held_out_rmse(BUNDLED_WEIGHTS, held_out), _held_out_rmse(weights, held_out)
    assert after < 0.9 * before, (before, after)
