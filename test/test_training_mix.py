"""Training data mixed from several sources by weight (data.train_weights)."""

import numpy as np
import pytest
import torch
from torch.utils.data import ConcatDataset, TensorDataset

from training.completion.task import CompletionTask
from training.framework.config import ConfigError, default_config, resolve_config
from training.framework.mixing import Mix, train_mix
from training.framework.trainer import ResumableSampler
from training.pose.task import PoseTask

#: Three sources of 100, 20 and 80 samples.
SOURCES = np.repeat([0, 1, 2], [100, 20, 80])


def test_epochs_follow_the_weights_exactly_and_are_seeded():
    """Shares per epoch are the weights; a small source repeats evenly; (seed, epoch) order."""
    mix = Mix(SOURCES, np.array([2.0, 1.0, 1.0]))
    np.testing.assert_array_equal(mix.counts(), [100, 50, 50])
    epoch = mix.epoch_indices(0, 0)
    assert len(epoch) == len(SOURCES)
    np.testing.assert_array_equal(np.bincount(SOURCES[epoch]), [100, 50, 50])
    uses = np.bincount(epoch, minlength=len(SOURCES))
    assert set(uses[SOURCES == 1]) == {2, 3}  # 50 draws of 20 samples: 2 or 3 each
    assert np.all(uses[SOURCES == 0] == 1)
    np.testing.assert_array_equal(epoch, mix.epoch_indices(0, 0))
    assert not np.array_equal(epoch, mix.epoch_indices(0, 1))
    assert not np.array_equal(epoch, mix.epoch_indices(1, 0))
    np.testing.assert_array_equal(Mix(SOURCES, np.array([1.0, 0.0, 3.0])).counts(),
                                  [50, 0, 150])
    single = Mix(np.zeros(7, np.int64), np.array([1.0]))
    assert sorted(single.epoch_indices(3, 0)) == list(range(7))


def test_sampler_splits_a_mixed_epoch_between_processes():
    """Two ranks take disjoint halves of the mixed epoch; a resumed epoch skips its start."""
    dataset = TensorDataset(torch.arange(len(SOURCES)))
    mix = Mix(SOURCES, np.array([0.0, 1.0, 1.0]))
    shards = []
    for rank in (0, 1):
        sampler = ResumableSampler(dataset, num_replicas=2, rank=rank, shuffle=True, seed=5,
                                   drop_last=True, mix=mix)
        sampler.set_epoch(3)
        shards.append(list(sampler))
    epoch = mix.epoch_indices(5, 3)
    assert sorted(shards[0] + shards[1]) == sorted(epoch.tolist())
    assert shards[0] == epoch[0::2].tolist() and not np.any(SOURCES[shards[0]] == 0)
    sampler.start = 7
    assert list(sampler) == shards[1][7:]
    plain = ResumableSampler(dataset, num_replicas=1, rank=0, shuffle=True, seed=5,
                             drop_last=True)
    assert sorted(plain) == list(range(len(SOURCES)))  # no mix: every sample once


def test_weights_are_checked():
    """Empty weights mean no mix; wrong counts, signs, sums and empty sources are errors."""
    names = ['a', 'b', 'c']
    assert train_mix([], SOURCES, names) is None
    assert train_mix([1, 1, 2], SOURCES, names).counts().tolist() == [50, 50, 100]
    for weights, message in (([1, 1], '2 weights for 3'), ([1, -1, 1], '>= 0'),
                             ([0, 0, 0], 'positive sum')):
        with pytest.raises(ConfigError, match=message):
            train_mix(weights, SOURCES, names)
    with pytest.raises(ConfigError, match=r"without samples: \['d'\]"):
        train_mix([1, 1, 1, 1], SOURCES, names + ['d'])


class _Frames(TensorDataset):
    """Stands in for SyntheticCompletionFrames: frames with their folder index."""

    def __init__(self, sources):
        super().__init__(torch.zeros(len(sources)))
        self.sources = np.asarray(sources)


def test_completion_mixes_folders_then_real_datasets():
    """data.train_weights: one weight per train_dirs folder, then per real_train entry."""
    overrides = ['data.train_dirs=[render_a, render_b]', 'data.train_weights=[1, 2, 1]',
                 'data.real_train=[{dataset: tum, root: /absent}]']
    task = CompletionTask(resolve_config(default_config('completion.yaml'), None, overrides))
    dataset = ConcatDataset([_Frames([0] * 30 + [1] * 10), TensorDataset(torch.zeros(40))])
    mix = task.train_mix(dataset)
    np.testing.assert_array_equal(mix.sources, np.repeat([0, 1, 2], [30, 10, 40]))
    np.testing.assert_array_equal(mix.counts(), [20, 40, 20])
    default = CompletionTask(resolve_config(default_config('completion.yaml')))
    assert default.train_mix(_Frames([0] * 4)) is None


def test_pose_mixes_its_folders():
    """Pose crops carry their folder; train_weights give each folder's share of an epoch."""
    overrides = ['data.train_dirs=[tiny, cycles]', 'data.train_weights=[0.5, 0.5]']
    task = PoseTask(resolve_config(default_config('pose.yaml'), None, overrides))
    crops = type('Crops', (), {'crops': {'folder': np.repeat([0, 1], [90, 10])}})()
    mix = task.train_mix(crops)
    np.testing.assert_array_equal(np.bincount(mix.sources[mix.epoch_indices(0, 0)]), [50, 50])
