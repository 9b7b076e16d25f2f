"""
Detections and pose estimates of catalogue objects: the pose stage's input and output types.

Pixel convention: boxes (x, y, w, h) and masks in image pixels (0-based, x right, y down);
rotations map model to camera optical-frame coordinates, translations in metres.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from rgbd_perception.errors import InputError


class DetectionError(InputError):
    """Raised for a detection that does not fit the image or names an unknown object."""

    input_name = 'detections'


@dataclass(frozen=True)
class Detection:
    """A given detection: obj_id, bbox (x, y, w, h) pixels, optional (H, W) bool mask."""

    obj_id: int
    bbox: tuple
    mask: np.ndarray | None = None


def detections_from_labels(labels, shape, catalogue, min_pixels=20):
    """
    Return the Detections of an (H, W) instance-label image (pixel = object id, 0 = none).

    Each connected region of one id of at least min_pixels pixels is one detection (box and
    mask).  Raises DetectionError for a size other than ``shape`` or an id the catalogue
    does not know.
    """
    labels = np.asarray(labels)
    if labels.shape != tuple(shape):
        raise DetectionError(f'label image {labels.shape[1]}x{labels.shape[0]} differs from '
                             f'the colour image {shape[1]}x{shape[0]}')
    detections = []
    for obj_id in (int(v) for v in np.unique(labels) if v != 0):
        if obj_id not in catalogue.objects:
            raise DetectionError(f'label {obj_id} is no object of catalogue {catalogue.name} '
                                 f'({catalogue.ids})')
        count, regions, stats, _ = cv2.connectedComponentsWithStats(
            (labels == obj_id).astype(np.uint8), connectivity=8)
        for region in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[region])
            if area >= min_pixels:
                detections.append(Detection(obj_id, (x, y, w, h), regions == region))
    return detections


@dataclass(frozen=True, eq=False)
class PoseEstimate:
    """
    One object's pose: R (3, 3) maps model to camera coordinates, t (3,) metres.

    score: identity probability (1 for given detections) times the ICP inlier share when
    refined; bbox (x, y, w, h): the candidate's; mask (H, W) bool or None: the candidate's, or
    for a box-only detection the network's predicted visible mask (None without a mask head).
    """

    obj_id: int
    rotation: np.ndarray
    translation: np.ndarray
    score: float
    bbox: tuple
    mask: np.ndarray | None
