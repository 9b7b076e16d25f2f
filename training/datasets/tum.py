"""
TUM RGB-D benchmark (Sturm et al., IROS 2012): Kinect v1 sequences, 640 x 480, 30 Hz.

On-disk layout: ``root`` is one sequence folder, or a folder of sequence folders::

    <sequence>/rgb.txt        lines 'timestamp filename', '#' comments
    <sequence>/depth.txt      same
    <sequence>/rgb/<t>.png    colour
    <sequence>/depth/<t>.png  uint16, depth = v / 5000 m, 0 = missing

Colour and depth frames are paired as the official ``associate.py``: candidate pairs closer
than ``max_difference`` (0.02 s) are taken greedily from the smallest time difference on, each
frame used at most once; pairs are ordered by colour timestamp.  No splits.

K: the calibrated colour intrinsics the benchmark publishes per camera, chosen by 'freiburg1' /
'freiburg2' / 'freiburg3' in the sequence folder name (0-based OpenCV convention), else the ROS
default 525 / 525 / 319.5 / 239.5.  Images are used as stored (fr1 / fr2 are not undistorted;
the depth is registered to the colour image by the recording driver).

Sample fields: rgb, depth, K; name = '<sequence>/<colour timestamp>'.
"""

import re

import numpy as np
import torch

from rgbd_perception.geometry.camera import Intrinsics
from rgbd_perception.io.images import DatasetLayoutError, require
from training.datasets.sample import read_colour, read_depth_png, RgbdSample

DEPTH_FACTOR = 5000.0  # PNG units per metre
MAX_DIFFERENCE_S = 0.02
INTRINSICS = {
    '1': (517.3, 516.5, 318.6, 255.3),
    '2': (520.9, 521.0, 325.1, 249.7),
    '3': (535.4, 539.2, 320.1, 247.6),
}
ROS_DEFAULT_INTRINSICS = (525.0, 525.0, 319.5, 239.5)


def read_file_list(path):
    """Return {timestamp: filename} of a TUM list file ('#' comments, ',' or tab separators)."""
    entries = {}
    for line in require(path, 'file list').read_text().splitlines():
        fields = line.replace(',', ' ').replace('\t', ' ').split()
        if fields and not fields[0].startswith('#'):
            entries[float(fields[0])] = fields[1]
    return entries


def associate(first, second, max_difference=MAX_DIFFERENCE_S):
    """
    Return the sorted (t_first, t_second) pairs of ``associate.py`` for two timestamp lists.

    Candidates closer than max_difference are matched greedily by increasing difference (ties
    by timestamps), each timestamp at most once.
    """
    first, second = np.sort(np.asarray(first)), np.sort(np.asarray(second))
    # A wider window than needed; the exact test is the strict comparison below.
    lo = np.searchsorted(second, first - 2 * max_difference)
    hi = np.searchsorted(second, first + 2 * max_difference)
    a = np.repeat(np.arange(len(first)), hi - lo)
    b = np.concatenate([np.arange(s, e) for s, e in zip(lo, hi)] or [np.zeros(0, int)])
    diff = np.abs(first[a] - second[b])
    keep = diff < max_difference
    a, b, diff = a[keep], b[keep], diff[keep]
    used_a, used_b, pairs = set(), set(), []
    for i in np.lexsort((second[b], first[a], diff)):
        if a[i] not in used_a and b[i] not in used_b:
            used_a.add(a[i])
            used_b.add(b[i])
            pairs.append((float(first[a[i]]), float(second[b[i]])))
    return sorted(pairs)


def sequence_intrinsics(name):
    """Return the (3, 3) K of a sequence from 'freiburgN' in its name (ROS default otherwise)."""
    match = re.search(r'freiburg([123])', name)
    return Intrinsics(*(INTRINSICS[match.group(1)] if match else ROS_DEFAULT_INTRINSICS)).matrix()


class TumRgbd(torch.utils.data.Dataset):
    """Associated colour / depth frames of TUM RGB-D sequences (see the module docstring)."""

    def __init__(self, root, max_difference=MAX_DIFFERENCE_S):
        """Index one sequence folder or every sequence folder directly under ``root``."""
        root = require(root, 'TUM RGB-D folder')
        sequences = [root] if (root / 'rgb.txt').is_file() else sorted(
            p.parent for p in root.glob('*/rgb.txt'))
        if not sequences:
            raise DatasetLayoutError(f'{root}: missing rgb.txt (no TUM RGB-D sequence)')
        self.frames = []
        for sequence in sequences:
            rgb, depth = (read_file_list(sequence / f) for f in ('rgb.txt', 'depth.txt'))
            self.frames += [(sequence, rgb[a], depth[b], a)
                            for a, b in associate(list(rgb), list(depth), max_difference)]

    def __len__(self):
        """Return the number of associated frames."""
        return len(self.frames)

    def __getitem__(self, index):
        """Return associated frame ``index`` as an RgbdSample."""
        sequence, rgb_file, depth_file, stamp = self.frames[index]
        return RgbdSample(rgb=read_colour(sequence / rgb_file),
                          depth=read_depth_png(sequence / depth_file, 1.0 / DEPTH_FACTOR),
                          K=sequence_intrinsics(sequence.name),
                          name=f'{sequence.name}/{stamp:.6f}')
