"""
Writing the synthetic world in the BOP format (https://bop.felk.cvut.cz/datasets/).

Layout of an output folder DIR (like a BOP ``train_pbr`` split)::

    DIR/camera.json                     K, image size, depth_scale
    DIR/objects.json                    per object id: source, mesh path, units, diameter, symmetry
    DIR/models/obj_{obj_id:06d}.ply     every catalogue model in mm (binary PLY)
    DIR/models/models_info.json         BOP models_info (diameter, extents, symmetries)
    DIR/{scene_id:06d}/rgb/{im_id:06d}.png
    DIR/{scene_id:06d}/depth/{im_id:06d}.png          sensor depth (uint16, see below)
    DIR/{scene_id:06d}/depth_clean/{im_id:06d}.png    noise-free depth, same units
    DIR/{scene_id:06d}/mask/{im_id:06d}_{gt_idx:06d}.png        full silhouette (0 / 255)
    DIR/{scene_id:06d}/mask_visib/{im_id:06d}_{gt_idx:06d}.png  visible part (0 / 255)
    DIR/{scene_id:06d}/scene_gt.json        cam_R_m2c (row-major 9), cam_t_m2c (mm), obj_id
    DIR/{scene_id:06d}/scene_camera.json    cam_K (row-major 9), depth_scale,
                                            cam_R_w2c (row-major 9), cam_t_w2c (mm)
    DIR/{scene_id:06d}/scene_gt_info.json   bbox_obj, bbox_visib, px_count_*, visib_fract
    DIR/{scene_id:06d}/gravity.json         [gx, gy, gz]: gravity (down), unit, camera frame

Depth PNGs hold depth_mm / depth_scale with depth_scale = :data:`DEPTH_SCALE_MM` = 0.1 (as BOP's
PBR renders): units of 0.1 mm, so depth_mm = value * depth_scale, up to 6.5535 m; a frame whose
exact depth reaches farther (room views) is written in :data:`FAR_DEPTH_SCALE_MM` = 1 mm units
(up to 65.535 m), its own depth_scale in scene_camera.json. Missing pixels are 0. Keys of the
per-scene files are im_id strings.
"""

import json
from pathlib import Path

import cv2
import numpy as np

from rgbd_perception.io.images import to_depth_mm, write_depth_png, write_rgb
from training.framework.atomic import replace_atomically, sync_file
from training.synth.mesh_tools import write_ply

DEPTH_SCALE_MM = 0.1
FAR_DEPTH_SCALE_MM = 1.0
SCENE_FILES = ('scene_gt.json', 'scene_camera.json', 'scene_gt_info.json', 'gravity.json')


def depth_to_png(depth_m, depth_scale=DEPTH_SCALE_MM):
    """
    Return (H, W) uint16 depth units (mm / depth_scale) of (H, W) metres; out of range -> 0.

    The REP 118 rule of :func:`rgbd_perception.io.images.to_depth_mm` (rounding halves to
    even, unrepresentable values missing) at depth_scale millimetres per unit, in float64.
    """
    return to_depth_mm(np.asarray(depth_m, np.float64), 1000.0 / depth_scale)


def frame_depth_scale(depth_clean_m):
    """Return the depth_scale of a frame: DEPTH_SCALE_MM, or FAR_DEPTH_SCALE_MM beyond 6.5 m."""
    return DEPTH_SCALE_MM if float(depth_clean_m.max(initial=0.0)) <= 6.5 else FAR_DEPTH_SCALE_MM


def scene_dir(out, scene_id):
    """Return the folder of a scene: DIR/{scene_id:06d}."""
    return Path(out) / f'{scene_id:06d}'


def _write_mask(path, mask):
    if not cv2.imwrite(str(path), mask.astype(np.uint8) * 255):
        raise OSError(f'{path}: could not write image')


def write_frame_images(folder, im_id, rgb, depth_m, depth_clean_m, annotations,
                       depth_scale=DEPTH_SCALE_MM):
    """
    Write a frame's rgb, depth, depth_clean (units of depth_scale mm) and masks.

    Every file is on disk (fsync) when this returns, so a record written afterwards that the
    frame is done (training.synth.resume) never outlives its images.
    """
    folder = Path(folder)
    name = f'{im_id:06d}'
    paths = [folder / kind / f'{name}.png' for kind in ('rgb', 'depth', 'depth_clean')]
    write_rgb(paths[0], rgb)
    write_depth_png(paths[1], depth_to_png(depth_m, depth_scale))
    write_depth_png(paths[2], depth_to_png(depth_clean_m, depth_scale))
    for kind in ('mask', 'mask_visib'):
        (folder / kind).mkdir(parents=True, exist_ok=True)
    for gt_index, annotation in enumerate(annotations):
        for kind, mask in (('mask', annotation.mask), ('mask_visib', annotation.mask_visib)):
            paths.append(folder / kind / f'{name}_{gt_index:06d}.png')
            _write_mask(paths[-1], mask)
    for path in paths:
        sync_file(path)


def frame_entries(k, rotation_w2c, translation_w2c, gravity, annotations,
                  depth_scale=DEPTH_SCALE_MM):
    """
    Return a frame's entries of the four per-scene files, keyed like :data:`SCENE_FILES`.

    Translations are written in millimetres, rotations row-major; depth_scale: the frame's.
    """
    return {
        'scene_gt.json': [{'cam_R_m2c': _flat(a.rotation_m2c),
                           'cam_t_m2c': _flat(1000.0 * a.translation_m2c),
                           'obj_id': int(a.obj_id)} for a in annotations],
        'scene_camera.json': {'cam_K': _flat(k), 'depth_scale': depth_scale,
                              'cam_R_w2c': _flat(rotation_w2c),
                              'cam_t_w2c': _flat(1000.0 * translation_w2c)},
        'scene_gt_info.json': [a.info for a in annotations],
        'gravity.json': _flat(gravity),
    }


def _flat(array):
    return [float(v) for v in np.asarray(array).reshape(-1)]


def write_json(path, data):
    """
    Write a dict as JSON the way the BOP toolkit does: one line per top-level key; atomically.

    Keys that are numbers are ordered numerically; values are compact with sorted keys, so
    equal data gives identical bytes.
    """
    keys = sorted(data, key=lambda key: (0, int(key), '') if key.isdigit() else (1, 0, key))
    lines = [f'  {json.dumps(key)}: {json.dumps(data[key], sort_keys=True)}' for key in keys]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    text = '{\n' + ',\n'.join(lines) + '\n}\n'
    replace_atomically(path, lambda temp: temp.write_text(text))


def write_scene_files(folder, entries_by_im_id):
    """Write the four per-scene JSON files of {im_id: frame_entries(...)}."""
    for file_name in SCENE_FILES:
        data = {str(im_id): entries[file_name]
                for im_id, entries in sorted(entries_by_im_id.items())}
        write_json(Path(folder) / file_name, data)


def write_dataset_files(out, catalogue, k, width, height):
    """Write camera.json, objects.json, models/*.ply and models/models_info.json."""
    out = Path(out)
    write_json(out / 'camera.json', {
        'cx': float(k[0, 2]), 'cy': float(k[1, 2]), 'fx': float(k[0, 0]), 'fy': float(k[1, 1]),
        'width': width, 'height': height, 'depth_scale': DEPTH_SCALE_MM})
    write_json(out / 'objects.json', {str(m.obj_id): m.description() for m in catalogue})
    write_json(out / 'models' / 'models_info.json', {str(m.obj_id): m.info() for m in catalogue})
    for model in catalogue:
        replace_atomically(out / 'models' / f'obj_{model.obj_id:06d}.ply',
                           lambda temp, mesh=model.mesh: write_ply(temp, mesh))
