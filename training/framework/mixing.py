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

import numpy as np

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
