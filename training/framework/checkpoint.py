"""
Checkpoints of a run directory: atomic writes, the latest.pt pointer, RNG states, pruning.

A checkpoint is a dict of tensors and plain Python values (no numpy arrays, no classes), so it
loads with torch.load(weights_only=True).  It is written to a temporary file in the same
directory, flushed and fsync'ed, then renamed over its final name: a crash or an interruption
mid-write leaves every earlier checkpoint intact.  latest.pt is a hard link to the newest
checkpoints/step_XXXXXX.pt, swapped in atomically the same way.
"""

import os
from pathlib import Path
import random
import re

import numpy as np
import torch

from training.framework.atomic import replace_atomically

CHECKPOINT_DIR = 'checkpoints'
LATEST = 'latest.pt'
STEP_PATTERN = re.compile(r'step_(\d{6,})\.pt')


def step_path(run_dir, step):
    """Return the path of the checkpoint of ``step`` in ``run_dir``."""
    return Path(run_dir) / CHECKPOINT_DIR / f'step_{step:06d}.pt'


def save_atomic(state, path):
    """Write the dict ``state`` to ``path`` with torch.save so that ``path`` is never partial."""
    replace_atomically(path, lambda temp: torch.save(state, temp))


def save_step(state, run_dir, step, keep):
    """
    Write ``state`` as the checkpoint of ``step`` in ``run_dir`` and point latest.pt at it.

    Only the ``keep`` newest step checkpoints are kept (all of them when keep is 0).  Return
    the path written.
    """
    path = step_path(run_dir, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_atomic(state, path)
    latest = Path(run_dir) / LATEST
    replace_atomically(latest, lambda temp: os.link(path, temp))
    if keep > 0:
        for old in step_checkpoints(run_dir)[:-keep]:
            old.unlink()
    return path


def step_checkpoints(run_dir):
    """Return the step checkpoints of ``run_dir``, oldest first."""
    directory = Path(run_dir) / CHECKPOINT_DIR
    if not directory.is_dir():
        return []
    found = [(int(match.group(1)), path) for path in directory.iterdir()
             if (match := STEP_PATTERN.fullmatch(path.name))]
    return [path for _, path in sorted(found)]


def latest_checkpoint(run_dir):
    """Return the path of the latest checkpoint of ``run_dir``, or None when it has none."""
    latest = Path(run_dir) / LATEST
    return latest if latest.is_file() else None


def resolve_checkpoint(path):
    """Return ``path`` itself for a checkpoint file, or the latest checkpoint of a run dir."""
    path = Path(path)
    if path.is_dir():
        latest = latest_checkpoint(path)
        if latest is None:
            raise FileNotFoundError(f'run directory {path} has no {LATEST}')
        return latest
    if not path.is_file():
        raise FileNotFoundError(f'checkpoint not found: {path}')
    return path


def load(path, map_location='cpu'):
    """Return the checkpoint dict stored at ``path`` (a file or a run dir), weights only."""
    return torch.load(resolve_checkpoint(path), map_location=map_location, weights_only=True)


def rng_state():
    """Return the torch (CPU and CUDA), numpy and Python RNG states as weights-only values."""
    version, mt_state, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        'torch': torch.get_rng_state(),
        'cuda': torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        'numpy': {'name': name, 'keys': torch.from_numpy(keys.astype(np.int64)), 'pos': pos,
                  'has_gauss': has_gauss, 'cached_gaussian': cached},
        'python': {'version': version, 'state': list(mt_state), 'gauss': gauss},
    }


def set_rng_state(state):
    """Restore the RNG states captured by rng_state()."""
    torch.set_rng_state(state['torch'])
    if state['cuda'] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])
    numpy_state = state['numpy']
    np.random.set_state((numpy_state['name'], numpy_state['keys'].numpy().astype(np.uint32),
                         numpy_state['pos'], numpy_state['has_gauss'],
                         numpy_state['cached_gaussian']))
    python_state = state['python']
    random.setstate((python_state['version'], tuple(python_state['state']),
                     python_state['gauss']))
