"""
Object candidates from depth alone: remove the large planes, cluster what is left.

The built-in detector of the pose stage when no detections are given: up to ``max_planes``
dominant planes (table, floor, walls) found by RANSAC are removed when they hold at least
``min_plane_share`` of the points; the remaining pixels are split at depth discontinuities
and grouped into connected components; components of a plausible size become candidates
(identity is decided later by the learned classifier).  The same split finds the object a
2D detector's box frames (box_object_mask), for boxes without a mask.  numpy + OpenCV.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from rgbd_perception.geometry.camera import back_project, depth_edges
from rgbd_perception.geometry.point_cloud import fit_plane_ransac


@dataclass(frozen=True)
class Candidate:
    """A segmented object: bbox (x, y, w, h) pixels, mask (H, W) bool, extent metres."""

    bbox: tuple
    mask: np.ndarray
    extent: float


def plane_pixels(depth, intrinsics, threshold=0.012, max_planes=4, min_plane_share=0.08,
                 rng=None):
    """
    Return the (H, W) bool mask of the pixels on large planes.

    depth: (H, W) metres, 0 = missing.  A plane is removed while it holds at least
    min_plane_share of the valid pixels; threshold: inlier distance, metres.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    valid = depth > 0
    rows, cols = np.nonzero(valid)
    points = back_project(depth, intrinsics)
    on_plane = np.zeros(len(points), bool)
    for _ in range(max_planes):
        remaining = np.flatnonzero(~on_plane)
        if len(remaining) < 3:
            break
        _, _, inliers = fit_plane_ransac(points[remaining], threshold, rng=rng)
        if inliers.sum() < min_plane_share * len(points):
            break
        on_plane[remaining[inliers]] = True
    mask = np.zeros(depth.shape, bool)
    mask[rows[on_plane], cols[on_plane]] = True
    return mask


def object_free_pixels(depth, intrinsics, rng=None):
    """
    Return the (H, W) bool pixels that may belong to objects: valid, off planes and edges.

    depth: (H, W) metres, 0 = missing.  Off the large planes of plane_pixels and off depth
    discontinuities, opened by a 3x3 square so that one-pixel bridges do not join objects.
    """
    free = (depth > 0) & ~plane_pixels(depth, intrinsics, rng=rng) & ~depth_edges(depth)
    return cv2.morphologyEx(free.astype(np.uint8), cv2.MORPH_OPEN,
                            np.ones((3, 3), np.uint8)).astype(bool)


def box_object_mask(depth, free, bbox, diameter, min_pixels=20):
    """
    Return the (H, W) bool pixels of the object a 2D box frames, or None when none is found.

    depth: (H, W) metres, 0 = missing; free: object_free_pixels of the frame; bbox: (x, y, w,
    h) pixels; diameter: the object's, metres.  Inside the box the free pixels are split into
    4-connected components; the one with most pixels in the box's central half (a detector
    centres its box on the object; the table, walls and neighbours at the box's border are
    mostly off it) is the object, together with every free pixel of the box within half a
    diameter of its median depth (parts cut off by the object's own depth edges).  None when
    that component has fewer than min_pixels pixels.
    """
    height, width = depth.shape
    x, y, w, h = (int(round(v)) for v in bbox)
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
    inside, box_depth = free[y0:y1, x0:x1], depth[y0:y1, x0:x1]  # views of the box only
    count, labels = cv2.connectedComponents(inside.astype(np.uint8), connectivity=4)
    if count < 2:
        return None
    rows, cols = labels.shape
    central = labels[rows // 4:rows - rows // 4, cols // 4:cols - cols // 4]
    votes = np.bincount(central.ravel(), minlength=count)[1:]
    if votes.max() == 0:
        votes = np.bincount(labels.ravel(), minlength=count)[1:]
    component = labels == 1 + int(np.argmax(votes))
    if component.sum() < min_pixels:
        return None
    near = np.median(box_depth[component])
    mask = np.zeros(depth.shape, bool)
    mask[y0:y1, x0:x1] = component | inside & (np.abs(box_depth - near) < 0.5 * diameter)
    return mask


def segment_candidates(depth, intrinsics, min_pixels=150, min_extent=0.02, max_extent=0.5,
                       rng=None):
    """
    Return the object Candidates of a depth image, largest first.

    depth: (H, W) float metres, 0 = missing; min_pixels: smallest component; min_extent,
    max_extent: bounds on a component's largest 3D bounding-box side, metres.
    """
    free = object_free_pixels(depth, intrinsics, rng=rng).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(free, connectivity=4)
    candidates = []
    for label in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[label])
        if area < min_pixels:
            continue
        mask = labels == label
        points = back_project(depth, intrinsics, mask)
        extent = float(np.ptp(points, axis=0).max())
        if min_extent <= extent <= max_extent:
            candidates.append((area, Candidate((x, y, w, h), mask, extent)))
    return [candidate for _, candidate in sorted(candidates, key=lambda item: -item[0])]
