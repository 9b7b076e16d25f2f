"""Draw pose estimates onto the colour image: projected 3D boxes, axes and labels (OpenCV)."""

import cv2
import numpy as np

from rgbd_perception.geometry.camera import project

#: Box edges between the corners of box_corners() (indices into its 8 rows).
BOX_EDGES = ((0, 1), (1, 3), (3, 2), (2, 0), (4, 5), (5, 7), (7, 6), (6, 4), (0, 4), (1, 5),
             (2, 6), (3, 7))
AXIS_COLOURS = ((255, 0, 0), (0, 255, 0), (0, 0, 255))  # x red, y green, z blue (RGB)


def box_corners(vertices):
    """Return the (8, 3) corners of the axis-aligned bounding box of (N, 3) model vertices."""
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    return np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1])
                     for z in (low[2], high[2])])


def _pixel(point):
    return int(round(float(point[0]))), int(round(float(point[1])))


def draw_poses(rgb, estimates, catalogue, intrinsics, thickness=2):
    """
    Return a copy of (H, W, 3) uint8 RGB with every estimate drawn.

    Each object: its model box projected (yellow), its axes (x red, y green, z blue, half
    the diameter long) and its name with the score.  Estimates behind the camera are skipped.
    """
    canvas = np.ascontiguousarray(rgb).copy()
    for estimate in estimates:
        obj = catalogue[estimate.obj_id]
        rotation, translation = estimate.rotation, estimate.translation
        corners = box_corners(obj.mesh.vertices) @ rotation.T + translation
        axes = np.vstack([np.zeros(3), 0.5 * obj.diameter * np.eye(3)]) @ rotation.T + \
            translation
        if (corners[:, 2] <= 1e-3).any() or (axes[:, 2] <= 1e-3).any():
            continue
        box, axis_pixels = project(corners, intrinsics), project(axes, intrinsics)
        for a, b in BOX_EDGES:
            cv2.line(canvas, _pixel(box[a]), _pixel(box[b]), (255, 220, 0), thickness,
                     cv2.LINE_AA)
        for end, colour in zip(axis_pixels[1:], AXIS_COLOURS):
            cv2.line(canvas, _pixel(axis_pixels[0]), _pixel(end), colour, thickness,
                     cv2.LINE_AA)
        top = box[np.argmin(box[:, 1])]
        cv2.putText(canvas, f'{obj.name} {estimate.score:.2f}', _pixel(top - [0, 6]),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas
