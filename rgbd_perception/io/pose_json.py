"""
The pose command's files: BOP-style detections in, poses out (DESIGN.md, offline CLI).

Detections: ``[{"obj_id": 5, "bbox": [x, y, w, h], "mask": "path.png"}, ...]`` in pixels;
the optional mask is an 8-bit image (non-zero = object) whose path is relative to the JSON
file.  Poses: ``[{"obj_id": 5, "R": [[...], [...], [...]], "t": [x, y, z], "score": s}, ...]``,
R maps model to camera coordinates, t in metres, camera optical frame.
"""

import json
from pathlib import Path

import cv2

from rgbd_perception.errors import InputError
from rgbd_perception.geometry.detections import Detection


class DetectionFileError(InputError):
    """Raised for a detections file that cannot be read or has malformed entries."""


def read_detections(path, shape):
    """Return the list of Detection of a JSON file for an image of ``shape`` (H, W)."""
    path = Path(path)
    try:
        entries = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DetectionFileError(f'{path}: cannot read detections: {exc}') from exc
    if not isinstance(entries, list):
        raise DetectionFileError(f'{path}: expected a JSON list of detections')
    detections = []
    for index, entry in enumerate(entries):
        where = f'{path}: detection {index}'
        if not isinstance(entry, dict) or 'obj_id' not in entry or 'bbox' not in entry:
            raise DetectionFileError(f'{where}: needs "obj_id" and "bbox"')
        bbox = entry['bbox']
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)):
            raise DetectionFileError(f'{where}: "bbox" must be [x, y, w, h] numbers')
        if not isinstance(entry['obj_id'], int) or isinstance(entry['obj_id'], bool):
            raise DetectionFileError(f'{where}: "obj_id" must be an integer')
        mask = None
        if entry.get('mask'):
            mask_path = path.parent / entry['mask']
            image = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise DetectionFileError(f'{where}: cannot read mask {mask_path}')
            if image.shape != tuple(shape):
                raise DetectionFileError(f'{where}: mask {mask_path} is {image.shape[1]}x'
                                         f'{image.shape[0]}, the image {shape[1]}x{shape[0]}')
            mask = image > 0
        detections.append(Detection(entry['obj_id'], tuple(float(v) for v in bbox), mask))
    return detections


def poses_to_json(estimates):
    """Return the JSON-serialisable list of PoseEstimates (see the module docstring)."""
    return [{'obj_id': int(e.obj_id), 'R': [[float(v) for v in row] for row in e.rotation],
             't': [float(v) for v in e.translation], 'score': float(e.score)}
            for e in estimates]
