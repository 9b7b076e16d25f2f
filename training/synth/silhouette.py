"""
Full object silhouettes: the union of a posed mesh's projected triangles, occluders ignored.

A numpy rasteriser: a pixel belongs to a triangle when its centre (integer coordinates, as K)
lies inside or on the triangle. Triangles are grouped by the size of their pixel bounding box
(powers of two) and every group is tested against its boxes' pixel grids at once, so small and
large triangles both cost little.
"""

import numpy as np

#: Most (triangle, pixel) tests held in memory at once.
CHUNK_TESTS = 1 << 22


def rasterize_triangles(points, faces, shape, front_only=False):
    """
    Return the (H, W) bool coverage of 2-D triangles.

    points: (N, 2) float64 pixel coordinates (u, v); faces: (F, 3) vertex indices; shape:
    (H, W) of the canvas (pixels outside are dropped). Degenerate triangles cover nothing.
    front_only: draw only the faces that a camera sees from the front, as TinyRenderer does
    (counter-clockwise from outside is clockwise in the image, whose v axis points down);
    for a closed mesh they cover the same silhouette as all faces, at half the cost.
    """
    height, width = shape
    mask = np.zeros(shape, bool)
    corners = points[faces]
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    # Element-wise min / max over the three corners (a reduction over an axis of 3 is slow).
    lo = np.maximum(np.ceil(np.minimum(np.minimum(a, b), c)), 0).astype(np.int64)
    hi = np.minimum(np.floor(np.maximum(np.maximum(a, b), c)),
                    [width - 1, height - 1]).astype(np.int64)
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    extent = hi - lo + 1
    keep = (extent[:, 0] > 0) & (extent[:, 1] > 0) & ((area < 0) if front_only else (area != 0))
    extent = np.maximum(extent[:, 0], extent[:, 1])
    bucket = np.ceil(np.log2(np.maximum(extent, 1))).astype(np.int64)
    for level in np.unique(bucket[keep]):
        side = 1 << int(level)
        selected = np.nonzero(keep & (bucket == level))[0]
        step = max(1, CHUNK_TESTS // (side * side))
        for start in range(0, len(selected), step):
            _fill(mask, corners[selected[start:start + step]], lo[selected[start:start + step]],
                  np.sign(area[selected[start:start + step]]), side)
    return mask


def _fill(mask, corners, lo, orientation, side):
    """Set the pixels of a side x side grid at lo that lie in each triangle."""
    offsets = np.arange(side)
    u = lo[:, 0, None, None] + offsets[None, None, :]
    v = lo[:, 1, None, None] + offsets[None, :, None]
    inside = np.ones((len(corners), side, side), bool)
    for i in range(3):
        p, q = corners[:, i], corners[:, (i + 1) % 3]
        edge = ((q[:, 0] - p[:, 0])[:, None, None] * (v - p[:, 1, None, None])
                - (q[:, 1] - p[:, 1])[:, None, None] * (u - p[:, 0, None, None]))
        inside &= edge * orientation[:, None, None] >= 0
    height, width = mask.shape
    inside &= (u < width) & (v < height)
    mask[np.broadcast_to(v, inside.shape)[inside],
         np.broadcast_to(u, inside.shape)[inside]] = True
