"""
Ground truth of a rendered scene in BOP terms: poses, masks and visibility statistics.

mask_visib: the object's pixels in TinyRenderer's segmentation buffer (what the camera sees).
mask (full silhouette, occluders ignored): the posed model's triangles projected with K and
rasterised (:mod:`training.synth.silhouette`) on a canvas up to three times the image size
centred on it, so truncated parts count, then united with mask_visib (the two rasterisers may
disagree on pixels whose centre lies on a triangle edge; the union keeps mask_visib inside
mask). bbox_obj and px_count_all come from that canvas (bbox_obj may leave the image, as in BOP);
px_count_valid counts silhouette pixels inside the image with non-zero sensor depth.
"""

from dataclasses import dataclass

import numpy as np

from rgbd_perception.geometry.camera import project
from training.synth.silhouette import rasterize_triangles


@dataclass(frozen=True, eq=False)
class ObjectAnnotation:
    """
    Ground truth of one object instance in one image.

    rotation_m2c: (3, 3); translation_m2c: (3,) metres; mask, mask_visib: (H, W) bool;
    info: the BOP scene_gt_info entry.
    """

    obj_id: int
    rotation_m2c: np.ndarray
    translation_m2c: np.ndarray
    mask: np.ndarray
    mask_visib: np.ndarray
    info: dict


def bounding_box(mask, offset=(0, 0)):
    """Return the BOP box [x, y, w, h] of a bool mask (minus offset), [-1] * 4 if empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    columns = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return [-1, -1, -1, -1]
    return [int(columns[0] - offset[0]), int(rows[0] - offset[1]),
            int(columns[-1] - columns[0] + 1), int(rows[-1] - rows[0] + 1)]


def _union_box(first, second):
    """Return the BOP box [x, y, w, h] around two boxes (either may be [-1] * 4)."""
    boxes = [b for b in (first, second) if b[2] > 0]
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    return [x0, y0, x1 - x0, y1 - y0]


def full_silhouette(mesh, rotation_m2c, translation_m2c, k, shape):
    """
    Return the silhouette of a posed mesh around the image: (mask, (x0, y0)).

    mask: bool, the silhouette's pixels within the bounding box of the projected vertices
    clipped to a canvas of three times the image size centred on the image; (x0, y0): image
    coordinates of the mask's top-left pixel. Every vertex must lie in front of the camera.
    """
    height, width = shape
    points = mesh.vertices @ rotation_m2c.T + translation_m2c
    if np.any(points[:, 2] <= 0):
        raise ValueError('the silhouette needs every vertex in front of the camera')
    pixels = project(points, k)
    lo = np.clip(np.floor(pixels.min(axis=0)), [-width, -height], [2 * width, 2 * height])
    hi = np.clip(np.ceil(pixels.max(axis=0)) + 1, [-width, -height], [2 * width, 2 * height])
    size = (hi - lo).astype(int)
    mask = rasterize_triangles(pixels - lo, mesh.faces, (size[1], size[0]), front_only=True)
    return mask, (int(lo[0]), int(lo[1]))


def _paste(mask, origin, shape):
    """Return the (H, W) bool image part of a mask whose top-left pixel is at origin."""
    image = np.zeros(shape, bool)
    x0, y0 = origin
    xs, ys = max(x0, 0), max(y0, 0)
    xe, ye = min(x0 + mask.shape[1], shape[1]), min(y0 + mask.shape[0], shape[0])
    if xe > xs and ye > ys:
        image[ys:ye, xs:xe] = mask[ys - y0:ye - y0, xs - x0:xe - x0]
    return image


def annotate(scene, labels, k, sensor_depth):
    """
    Return the ObjectAnnotations of the scene's annotated bodies, in scene order.

    labels: (H, W) int32 body index per pixel (RenderedFrame.labels); k: (3, 3);
    sensor_depth: (H, W) float32 metres (0 = missing).
    """
    height, width = labels.shape
    annotations = []
    for index in scene.annotated():
        body = scene.bodies[index]
        rotation = scene.rotation_w2c @ body.rotation
        translation = scene.rotation_w2c @ body.translation + scene.translation_w2c
        visible = labels == index
        silhouette, origin = full_silhouette(body.mesh, rotation, translation, k,
                                             (height, width))
        inside = _paste(silhouette, origin, (height, width))
        added = visible & ~inside  # pixels only TinyRenderer drew (edge rule differences)
        inside |= visible
        px_all = int(silhouette.sum() + added.sum())
        px_visib = int(visible.sum())
        box = bounding_box(silhouette, (-origin[0], -origin[1]))
        if added.any():
            box = _union_box(box, bounding_box(added))
        info = {'bbox_obj': box,
                'bbox_visib': bounding_box(visible),
                'px_count_all': px_all,
                'px_count_valid': int((inside & (sensor_depth > 0)).sum()),
                'px_count_visib': px_visib,
                'visib_fract': px_visib / px_all if px_all else 0.0}
        annotations.append(ObjectAnnotation(body.obj_id, rotation, translation, inside,
                                            visible, info))
    return annotations
