"""
Object-centred RGB(-HHA) crops of BOP folders and of dataset readers, cached as .npz.

A crop is the square window (rgbd_perception.geometry.crops.square_window, context 1.2) around
an annotation's visible box ``bbox_visib`` (x, y, w, h pixels), resampled to S x S; samples of
a training.datasets reader are cut around their instance masks' boxes (label: object id), as
one whole-image window when they carry an image label only (Washington RGB-D's object crops),
else as a fixed grid of windows (:data:`GRID_WINDOWS`, label -1: a recording, NYU, ...).
Its HHA is cut from the HHA of the whole frame (the encoding needs the frame's camera and gravity):
``hha='raw'`` encodes the sensor depth with its holes, ``'completed'`` the depth completed by
the bundled completion model (CompletionStage) first, None skips depth.

CropSet arrays: rgb (N, S, S, 3) uint8; hha (N, S, S, 3) uint8 or None; labels (N,) int64
obj_id; frames (N,) int64 index of the source frame in reading order (so callers can split
by frame).
"""

from dataclasses import dataclass
import hashlib
import json
from pathlib import Path

import numpy as np

from rgbd_perception.geometry.crops import crop_rgb, square_window
from rgbd_perception.io.bop import BopScene, intrinsics_from_cam_k, SCENE_CAMERA
from rgbd_perception.io.images import DatasetLayoutError, to_depth_mm
from training.datasets.washington import leave_one_instance_out, WashingtonRgbdObject
from training.framework.atomic import replace_atomically

HHA_SOURCES = (None, 'raw', 'completed')
CONTEXT = 1.2
#: Windows of an unlabelled frame: (centre u, centre v, side) as fractions of (W, H, min(W, H)).
GRID_WINDOWS = tuple((u, v, 0.5) for v in (0.35, 0.65) for u in (0.25, 0.5, 0.75))


@dataclass
class CropSet:
    """Crops of one source (see the module docstring for the arrays)."""

    rgb: np.ndarray
    hha: np.ndarray
    labels: np.ndarray
    frames: np.ndarray

    def __len__(self):
        return len(self.labels)

    def subset(self, keep):
        """Return the CropSet of the crops where the (N,) bool ``keep`` is true."""
        return CropSet(self.rgb[keep], None if self.hha is None else self.hha[keep],
                       self.labels[keep], self.frames[keep])


def scene_folders(root):
    """Return the BOP scene folders (holding scene_camera.json) at or below ``root``, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f'{root}: not a directory')
    folders = sorted(path.parent for path in root.rglob(SCENE_CAMERA))
    if not folders:
        raise DatasetLayoutError(f'{root}: no BOP scene folder (no {SCENE_CAMERA} below it)')
    return folders


class FrameHha:
    """The HHA image of a whole frame from its sensor depth ('raw') or completed depth."""

    def __init__(self, source):
        # Imported here: the stages load torch models and are only needed with depth.
        from rgbd_perception.stages.completion import CompletionStage
        from rgbd_perception.stages.hha import HhaStage

        if source not in HHA_SOURCES[1:]:
            raise ValueError(f'hha source must be one of {HHA_SOURCES[1:]}, got {source!r}')
        self.hha = HhaStage(device='cpu')
        self.completion = CompletionStage(device='cpu') if source == 'completed' else None

    def __call__(self, rgb, depth_mm, intrinsics):
        """Return (H, W, 3) uint8 HHA of (H, W) uint16 mm depth (0 = missing) and colour."""
        depth = depth_mm if self.completion is None else self.completion(rgb, depth_mm)
        return self.hha(depth, intrinsics)


def _crop_frame(rgb, hha, windows, size):
    crops = [crop_rgb(rgb, window, size) for window in windows]
    hha_crops = None if hha is None else [crop_rgb(hha, window, size) for window in windows]
    return crops, hha_crops


def _collect(frames, size, hha_source):
    """Return the CropSet of frames: iterable of (rgb, depth_mm or None, K, [(label, window)])."""
    encode = None if hha_source is None else FrameHha(hha_source)
    rgb, hha, labels, frame_index = [], [], [], []
    for index, (image, depth_mm, intrinsics, items) in enumerate(frames):
        if not items:
            continue
        frame_hha = None
        if encode is not None:
            if depth_mm is None:
                raise DatasetLayoutError('HHA crops need depth; this source has none')
            frame_hha = encode(image, depth_mm, intrinsics)
        crops, hha_crops = _crop_frame(image, frame_hha, [w for _, w in items], size)
        rgb += crops
        hha += hha_crops or []
        labels += [label for label, _ in items]
        frame_index += [index] * len(items)
    if not labels:
        raise DatasetLayoutError('no crops: no annotation passed the filters')
    return CropSet(np.stack(rgb), np.stack(hha) if encode is not None else None,
                   np.asarray(labels, np.int64), np.asarray(frame_index, np.int64))


def _bop_frames(root, min_visib, with_depth):
    for folder in scene_folders(root):
        scene = BopScene(folder)
        for im_id in scene.image_ids:
            items = [(truth.obj_id, square_window(info['bbox_visib'], CONTEXT))
                     for truth, info in zip(scene.ground_truth(im_id), scene.gt_info(im_id))
                     if info['visib_fract'] >= min_visib and min(info['bbox_visib'][2:]) > 0]
            depth = scene.read_depth_mm(im_id) if with_depth and items else None
            yield scene.read_rgb(im_id) if items else None, depth, scene.intrinsics(im_id), items


def bop_crops(root, size=96, min_visib=0.3, hha=None):
    """Return the CropSet of every annotation with visib_fract >= min_visib below ``root``."""
    return _collect(_bop_frames(root, min_visib, hha is not None), size, hha)


def grid_items(height, width):
    """Return [(-1, window)] of :data:`GRID_WINDOWS` for an H x W frame (unlabelled)."""
    side = min(height, width)
    return [(-1, (u * width - 0.5, v * height - 0.5, s * side)) for u, v, s in GRID_WINDOWS]


def mask_box(mask):
    """Return the (x, y, w, h) pixel box of an (H, W) bool mask, or None when it is empty."""
    rows, columns = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if not len(rows):
        return None
    return columns[0], rows[0], columns[-1] - columns[0] + 1, rows[-1] - rows[0] + 1


def sample_items(sample):
    """Return [(label, window)] of a reader's RgbdSample (see the module docstring)."""
    height, width = sample.depth.shape
    if sample.masks is not None and sample.object_ids is not None:
        boxes = [(int(obj_id), mask_box(mask))
                 for obj_id, mask in zip(sample.object_ids, sample.masks)]
        return [(obj_id, square_window(box, CONTEXT)) for obj_id, box in boxes if box]
    if sample.label is not None:
        return [(int(sample.label), ((width - 1) / 2.0, (height - 1) / 2.0, max(height, width)))]
    return grid_items(height, width)


def reader_crops(reader, size=96, hha=None):
    """Return the CropSet of a training.datasets reader's samples (see sample_items)."""
    return _collect(((s.rgb, to_depth_mm(s.depth), intrinsics_from_cam_k(s.K.reshape(-1)),
                      sample_items(s)) for s in reader), size, hha)


def _cache_file(cache_dir, description):
    digest = hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir) / f'crops_{digest}.npz'


def cached(cache_dir, description, build):
    """
    Return the CropSet cached under ``cache_dir`` for ``description``, building it once.

    description: JSON-serialisable dict naming the source and options (its hash names the
    file); build: function returning the CropSet.  The file is written atomically.
    """
    path = _cache_file(cache_dir, description)
    if path.is_file():
        with np.load(path) as stored:
            arrays = {key: stored[key] for key in stored.files}
        return CropSet(arrays['rgb'], arrays.get('hha'), arrays['labels'], arrays['frames'])
    crops = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {'rgb': crops.rgb, 'labels': crops.labels, 'frames': crops.frames}
    if crops.hha is not None:
        arrays['hha'] = crops.hha

    def write(temporary):
        with open(temporary, 'wb') as handle:
            np.savez(handle, **arrays)
    replace_atomically(path, write)
    return crops


def cached_bop_crops(root, cache_dir, size=96, min_visib=0.3, hha=None):
    """
    Return bop_crops(...) through :func:`cached`.

    Keyed by the resolved root, the options and each scene's scene_camera.json modification
    time, so a folder written again is cut again.
    """
    scenes = [(str(folder.resolve()), (folder / SCENE_CAMERA).stat().st_mtime_ns)
              for folder in scene_folders(root)]
    description = {'source': str(Path(root).resolve()), 'scenes': scenes, 'size': size,
                   'min_visib': min_visib, 'hha': hha, 'context': CONTEXT}
    return cached(cache_dir, description, lambda: bop_crops(root, size, min_visib, hha))


def cached_washington_split(root, cache_dir, seed=0, size=96, hha=None):
    """
    Return (train, test) CropSets of the seed's instance protocol on Washington RGB-D Object.

    Labels are categories; test holds the frames of one instance per category
    (training.datasets.washington.leave_one_instance_out with ``seed``), train every other
    frame.  Cached through :func:`cached` keyed by the root, its frame count, seed and options.
    """
    dataset = WashingtonRgbdObject(root)
    train, test = leave_one_instance_out(dataset, seed)
    description = {'source': 'washington', 'root': str(Path(root).resolve()),
                   'frames': len(dataset), 'seed': seed, 'size': size, 'hha': hha,
                   'context': CONTEXT}
    crops = cached(cache_dir, description, lambda: reader_crops(
        (dataset[i] for i in train + test), size, hha))
    return crops.subset(crops.frames < len(train)), crops.subset(crops.frames >= len(train))
