"""
VOID depth completion (Wong et al., RA-L 2020): RealSense D435i sequences, 640 x 480.

Sparse visual-inertial depth at 150 / 500 / 1500 points, active-stereo ground truth.

On-disk layout (``root`` = void_release)::

    void_<density>/<split>_image.txt          one relative path per line, same order in all
    void_<density>/<split>_sparse_depth.txt
    void_<density>/<split>_ground_truth.txt
    void_<density>/<split>_intrinsics.txt
    void_<density>/data/<sequence>/{image,sparse_depth,ground_truth}/<t>.png, K.txt

Depth PNGs are uint16 with depth = v / 256 m, 0 = missing (the release's ``data_utils.py``).
Splits: 'train', 'test'.  Densities: 150, 500, 1500.

Assumption on the listed paths: the release writes them relative to the directory its scripts
ran in (e.g. 'data/void_release/void_150/data/<sequence>/image/<t>.png'), so an entry is resolved
from its part after the 'void_<density>' component, against ``root``/void_<density>; an entry
without that component is taken relative to ``root``/void_<density>.

K: the listed intrinsics file, 3 x 3: ``.npy`` (as written by the authors' setup scripts) or a
numpy text file (the release's K.txt); the release's images are used as stored (0-based OpenCV
convention).  Sample fields: rgb, depth = sparse depth, depth_gt = ground truth, K; name = the
image path relative to void_<density>.
"""

from pathlib import Path, PurePosixPath

import numpy as np
import torch

from rgbd_perception.io.images import DatasetLayoutError, require
from training.datasets.sample import read_colour, read_depth_png, RgbdSample

METRES_PER_UNIT = 1.0 / 256.0
LISTS = ('image', 'sparse_depth', 'ground_truth', 'intrinsics')


def read_intrinsics(path):
    """Return the (3, 3) float64 K stored in a .npy or numpy text file."""
    path = require(path, 'intrinsics file')
    return (np.load(path) if path.suffix == '.npy' else np.loadtxt(path)).reshape(3, 3)


class VoidDepth(torch.utils.data.Dataset):
    """VOID depth completion frames as RgbdSamples (see the module docstring)."""

    def __init__(self, root, density=150, split='train'):
        """Read the ``split`` ('train' or 'test') lists of ``root``/void_<density>."""
        if split not in ('train', 'test'):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        self.folder = f'void_{density}'
        self.base = require(Path(root) / self.folder, 'VOID density folder')
        columns = [[self.resolve(line) for line in require(
            self.base / f'{split}_{kind}.txt', 'file list').read_text().split()]
            for kind in LISTS]
        if len({len(c) for c in columns}) != 1:
            raise DatasetLayoutError(f'{self.base}: {split} lists {LISTS} differ in length '
                                     f'{[len(c) for c in columns]}')
        self.frames = list(zip(*columns))

    def resolve(self, entry):
        """Return the path of a list entry (see the module docstring)."""
        parts = PurePosixPath(entry).parts
        tail = parts[parts.index(self.folder) + 1:] if self.folder in parts else parts
        return self.base.joinpath(*tail)

    def __len__(self):
        """Return the number of frames of the split."""
        return len(self.frames)

    def __getitem__(self, index):
        """Return frame ``index`` as an RgbdSample."""
        image, sparse, ground_truth, intrinsics = self.frames[index]
        return RgbdSample(rgb=read_colour(image),
                          depth=read_depth_png(sparse, METRES_PER_UNIT),
                          depth_gt=read_depth_png(ground_truth, METRES_PER_UNIT),
                          K=read_intrinsics(intrinsics),
                          name=image.relative_to(self.base).as_posix())
