"""
IP-Basic classical depth completion (Ku, Harakeh and Waslander, CRV 2018, "fill_in_fast").

Morphological filling on inverted depth, so that dilation prefers the nearer surface: diamond
5x5 dilation, 5x5 closing, 7x7 fill of empty pixels, each column's topmost value extended
upwards, a 31x31 fill, 5x5 median and 5x5 bilateral filters (the paper's kernels, in pixels).
One change for a hole-free output: the 31x31 fill repeats until no pixel is empty (the paper
leaves what remains).  The depth comparison point of the learned completion and its fast CPU
fallback.
"""

import cv2
import numpy as np

EMPTY = 0.1  # inverted depth at or below this is empty, metres (the paper's threshold)
DIAMOND_5 = np.array([[0, 0, 1, 0, 0],
                      [0, 1, 1, 1, 0],
                      [1, 1, 1, 1, 1],
                      [0, 1, 1, 1, 0],
                      [0, 0, 1, 0, 0]], dtype=np.uint8)


def _fill_empty(inverted, size):
    """Replace the empty pixels of ``inverted`` (in place) by its size x size dilation."""
    empty = inverted < EMPTY
    dilated = cv2.dilate(inverted, np.ones((size, size), np.uint8))
    inverted[empty] = dilated[empty]


def _extend_columns_upwards(inverted):
    """Copy each column's topmost non-empty value to the empty pixels above it (in place)."""
    filled = inverted >= EMPTY
    top_rows = np.argmax(filled, axis=0)
    has_value = filled.any(axis=0)
    top_values = inverted[top_rows, np.arange(inverted.shape[1])]
    above = np.arange(inverted.shape[0])[:, None] < top_rows[None, :]
    above &= has_value[None, :]
    inverted[above] = np.broadcast_to(top_values, inverted.shape)[above]


def ip_basic_complete(depth, max_fill_iterations=20):
    """
    Return (H, W) float32 completed depth in metres for (H, W) float depth (0 = missing).

    Measured pixels stay close to their input (smoothed by the median and bilateral
    filters, as in the paper); raise ValueError for a frame without any valid depth.
    """
    depth = np.asarray(depth, dtype=np.float32)
    valid = depth > 0
    if not valid.any():
        raise ValueError('IP-Basic needs at least one valid depth pixel')
    max_depth = float(depth[valid].max()) + 1.0
    inverted = np.where(valid, max_depth - depth, 0).astype(np.float32)
    inverted = cv2.dilate(inverted, DIAMOND_5)
    inverted = cv2.morphologyEx(inverted, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    _fill_empty(inverted, 7)
    _extend_columns_upwards(inverted)
    for _ in range(max_fill_iterations):
        _fill_empty(inverted, 31)
        if not (inverted < EMPTY).any():
            break
    inverted = cv2.medianBlur(inverted, 5)
    inverted = cv2.bilateralFilter(inverted, 5, 1.5, 2.0)
    completed = max_depth - inverted
    completed[inverted < EMPTY] = 0.0
    return completed.astype(np.float32)
