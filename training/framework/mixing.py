"""
Training samples mixed from several sources by weight (config ``data.train_weights``).

A task whose samples come from several sources (folders of renders from different renderers
or randomisation levels, real datasets) may give each source a weight.  Every epoch then
holds the same number of samples as the dataset, of which source s supplies
round(share_s x length) with share_s = weight_s / sum of weights (largest-remainder rounding,
so the counts add up): its samples in a seeded random order, the order repeated (each time
reshuffled) when the source is smaller than its share and cut when larger.  The epoch's
samples are then shuffled together.  Everything is drawn from Generator([seed, epoch]), so an
epoch's order is a pure function of (seed, epoch), as the trainer's resumes need.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import ConcatDataset

from training.framework.config import ConfigError


@dataclass(frozen=True, eq=False)
class Mix:
    """
    Per-source sampling weights of a dataset.

    sources: (N,) int64 source of each sample (0 .. S-1); weights: (S,) float64 >= 0 with a
    positive sum; every source of positive weight has samples.
    """

    sources: np.ndarray
    weights: np.ndarray

    def counts(self):
        """Return (S,) int64 samples per epoch of each source, summing to N."""
        total = len(self.sources)
        exact = self.weights / self.weights.sum() * total
        counts = np.floor(exact).astype(np.int64)
        remainders = exact - counts
        counts[np.argsort(-remainders, kind='stable')[:total - counts.sum()]] += 1
        return counts

    def epoch_indices(self, seed, epoch):
        """Return the (N,) int64 sample indices of one epoch (see the module docstring)."""
        rng = np.random.default_rng([seed, epoch])
        parts = []
        for source, count in enumerate(self.counts()):
            members = np.flatnonzero(self.sources == source)
            if count:
                rounds = -(-count // len(members))
                parts.append(np.concatenate([rng.permutation(members)
                                             for _ in range(rounds)])[:count])
        return rng.permutation(np.concatenate(parts))


def train_mix(weights, sources, names):
    """
    Return the :class:`Mix` of the config's ``data.train_weights``, or None when it is empty.

    weights: the config list (empty: every sample equally often, no Mix); sources: (N,) int
    source of each sample; names: the S source names (for errors). Raises ConfigError for a
    wrong count, a negative weight, weights summing to 0 or a weighted source without samples.
    """
    if not weights:
        return None
    weights = np.asarray(weights, np.float64)
    if len(weights) != len(names):
        raise ConfigError(f'data.train_weights: {len(weights)} weights for {len(names)} '
                          f'training sources {names}')
    if np.any(weights < 0) or weights.sum() <= 0:
        raise ConfigError(f'data.train_weights: expected weights >= 0 with a positive sum, got '
                          f'{weights.tolist()}')
    sources = np.asarray(sources, np.int64)
    empty = [name for source, name in enumerate(names)
             if weights[source] > 0 and not np.any(sources == source)]
    if empty:
        raise ConfigError(f'data.train_weights: weighted sources without samples: {empty}')
    return Mix(sources, weights)


def folders_then_readers(data, synthetic_frames, real_frames):
    """
    Return a training set of synthetic folders, then real dataset readers (a config's data).

    data: the config's data section (train_dirs, downsample, real_train, real_train_size);
    synthetic_frames(folders, downsample) and real_frames(dataset, root, size, args) build the
    datasets (the synthetic one has ``sources``, the folder of each sample).  One part alone
    is returned as it is, several as a ConcatDataset.
    """
    parts = [real_frames(entry['dataset'], entry['root'], data['real_train_size'],
                         entry.get('args')) for entry in data['real_train']]
    if data['train_dirs']:
        parts.insert(0, synthetic_frames([Path(d) for d in data['train_dirs']],
                                         data['downsample']))
    return parts[0] if len(parts) == 1 else ConcatDataset(parts)


def folders_then_readers_mix(data, dataset):
    """
    Return the Mix of data.train_weights over a folders_then_readers set, or None.

    Sources: each data.train_dirs folder, then each data.real_train entry.
    """
    parts = list(dataset.datasets) if isinstance(dataset, ConcatDataset) else [dataset]
    synthetic = [parts.pop(0).sources] if data['train_dirs'] else []
    sources = synthetic + [np.full(len(part), len(data['train_dirs']) + index)
                           for index, part in enumerate(parts)]
    names = data['train_dirs'] + [entry['dataset'] for entry in data['real_train']]
    return train_mix(data['train_weights'], np.concatenate(sources), names)
