"""
The bundled sample: one fixed tabletop scene seen by a camera moving along an arc, in BOP.

``python -m training sample`` (:func:`write_sample`) renders a short RGB-D sequence with the
synthetic world's renderer: a room (floor, four walls, ceiling), a table and the demo's
objects on it (the catalogue's procedural shapes and pybullet_data's duck), all fixed, with
placement, colours and textures drawn once from the seed. Frame i is seen from
:func:`camera_pose` (i): 1.4 m above the floor, 1.0 m from the table centre horizontally,
looking at it, 2 degrees further along a circle around it per frame and rolled by up to
4 degrees, so consecutive frames form a smooth sequence and frame i does not depend on the
frame count. Depth noise of frame i comes from ``numpy.random.default_rng([seed, i])``.

Output (the layout of :mod:`training.synth.bop_writer`, one scene folder)::

    DIR/camera.json, DIR/objects.json, DIR/models/    the sample's objects
    DIR/000000/{rgb,depth,depth_clean,mask,mask_visib}/ and the per-scene JSON files
    DIR/sample.json                                   {"arguments": ..., "complete": bool}

depth/ holds the structured-light sensor model (holes, noise), depth_clean/ the exact depth.
The files are a function of the arguments alone, byte-identical for any worker count, and
sample.json, written last, makes a second call with the same arguments a no-op.
"""

from dataclasses import dataclass, replace
import json
import math
from pathlib import Path
import shutil
import tempfile
import time

import numpy as np

from training.synth.bop_writer import scene_dir, write_dataset_files, write_scene_files
from training.synth.camera import intrinsics_from_vfov, look_at
from training.synth.catalogue import build_catalogue
from training.synth.generate import map_frames, render_and_write
from training.synth.placement import Occupancy, place_resting, Rectangle
from training.synth.render import Renderer
from training.synth.scene import Body, Lighting, Scene, WHITE
from training.synth.shapes import box_mesh
from training.synth.textures import random_colour, random_texture

#: Bumped whenever the scene or its rendering changes, so that older samples are re-rendered.
SAMPLE_VERSION = 1
SAMPLE_FILE = 'sample.json'
SCENE_ID = 0
SENSOR = 'structured_light'
VFOV_DEG = 49.1
NEAR_M, FAR_M = 0.05, 20.0

ROOM_HALF_M = (2.2, 2.0)
ROOM_HEIGHT_M = 2.7
WALL_M = 0.05
TABLE_HALF_M = (0.5, 0.35)
TABLE_HEIGHT_M = 0.75
TABLE_TOP_M = 0.04
TABLE_LEG_M = 0.05

CAMERA_HEIGHT_M = 1.4
ARC_RADIUS_M = 1.0
ARC_START_DEG = -90.0
ARC_STEP_DEG = 2.0
ROLL_DEG = 4.0
ROLL_PERIOD_FRAMES = 60

#: Base colours (RGB, 0-1) that the random textures of the room and the table are muted to.
FLOOR_RGB = (0.72, 0.68, 0.6)
WALL_RGB = (0.88, 0.87, 0.82)
TABLE_RGB = (0.62, 0.46, 0.3)

#: The pybullet_data model of the sample besides the procedural shapes.
SAMPLE_MESH_OBJECT = 'duck'
GLOSSY_OBJECTS = ('ball', 'can')
LIGHTING = Lighting(direction=(0.37, -0.28, 0.89), colour=(1.0, 1.0, 1.0), distance=4.0,
                    ambient=0.5, diffuse=0.55, specular=0.3, shadow=False)


class SampleFolderError(ValueError):
    """Raised for an output folder that holds something other than a sample."""


@dataclass(frozen=True)
class SampleConfig:
    """Arguments of a sample: out folder, frame count, image size (px), seed."""

    out: str
    frames: int = 30
    width: int = 640
    height: int = 480
    seed: int = 0

    @property
    def k(self):
        """Return the (3, 3) camera matrix."""
        return intrinsics_from_vfov(self.width, self.height, VFOV_DEG)

    def arguments(self):
        """Return what determines the files: the sample.json record of the arguments."""
        return {'version': SAMPLE_VERSION, 'frames': self.frames, 'width': self.width,
                'height': self.height, 'seed': self.seed}


def sample_objects(catalogue):
    """Return the sample's ObjectModels: the procedural shapes and the duck of a catalogue."""
    return [m for m in catalogue if m.source == 'procedural'
            or (m.source == 'pybullet_data' and m.name == SAMPLE_MESH_OBJECT)]


def _muted_texture(rng, colour, weight):
    """Return a random texture (h, w, 3) uint8 blended with `weight` of an RGB colour (0-1)."""
    blend = (1.0 - weight) * random_texture(rng) + weight * 255.0 * np.asarray(colour)
    return np.round(blend).astype(np.uint8)


def _box(key, size, centre, rgba=WHITE, texture=None, tile=None):
    """Return a fixed axis-aligned box body; a texture is part of its (kept) mesh."""
    mesh = replace(box_mesh(size, tile), texture=texture)
    return Body(mesh, np.eye(3), np.asarray(centre, np.float64), rgba, cache_key=key)


def _room(rng):
    """Return the bodies of the floor, the four walls and the ceiling (textured boxes)."""
    (hx, hy), height = ROOM_HALF_M, ROOM_HEIGHT_M
    span = (2 * hx + 2 * WALL_M, 2 * hy + 2 * WALL_M)
    bodies = [_box('sample:floor', (*span, WALL_M), (0.0, 0.0, -WALL_M / 2),
                   texture=_muted_texture(rng, FLOOR_RGB, 0.6), tile=0.5)]
    for index, (size, centre) in enumerate((
            ((WALL_M, span[1], height), (-hx - WALL_M / 2, 0.0, height / 2)),
            ((WALL_M, span[1], height), (hx + WALL_M / 2, 0.0, height / 2)),
            ((span[0], WALL_M, height), (0.0, -hy - WALL_M / 2, height / 2)),
            ((span[0], WALL_M, height), (0.0, hy + WALL_M / 2, height / 2)))):
        bodies.append(_box(f'sample:wall:{index}', size, centre,
                           texture=_muted_texture(rng, WALL_RGB, 0.75), tile=1.0))
    bodies.append(_box('sample:ceiling', (*span, WALL_M), (0.0, 0.0, height + WALL_M / 2),
                       (*WALL_RGB, 1.0)))
    return bodies


def _table(rng):
    """Return (bodies, top rectangle) of the table: a textured top and four legs at 0, 0."""
    (hx, hy), leg_height = TABLE_HALF_M, TABLE_HEIGHT_M - TABLE_TOP_M
    bodies = [_box('sample:table', (2 * hx, 2 * hy, TABLE_TOP_M),
                   (0.0, 0.0, TABLE_HEIGHT_M - TABLE_TOP_M / 2),
                   texture=_muted_texture(rng, TABLE_RGB, 0.55), tile=0.4)]
    leg_rgba = (*random_colour(rng, value=(0.2, 0.6)), 1.0)
    leg = box_mesh((TABLE_LEG_M, TABLE_LEG_M, leg_height))
    for sx in (-1.0, 1.0):
        for sy in (-1.0, 1.0):
            centre = (sx * (hx - TABLE_LEG_M), sy * (hy - TABLE_LEG_M), leg_height / 2)
            bodies.append(Body(leg, np.eye(3), np.array(centre), leg_rgba,
                               cache_key='sample:leg'))
    return bodies, Rectangle((0.0, 0.0), 0.0, TABLE_HALF_M, TABLE_HEIGHT_M)


def _objects(rng, objects, top):
    """Return the bodies of the objects resting on the table top (ground truth)."""
    occupancy = Occupancy()
    bodies = []
    for model in objects:
        pose = place_resting(rng, model.mesh, top, occupancy)
        if pose is None:
            raise RuntimeError(f'no free place on the table for {model.name}')
        rgba = WHITE if model.has_own_appearance else \
            (*random_colour(rng, saturation=(0.6, 1.0), value=(0.45, 0.95)), 1.0)
        bodies.append(Body(model.mesh, pose[0], pose[1], rgba, None,
                           model.name in GLOSSY_OBJECTS, model.obj_id, f'object:{model.obj_id}'))
    return bodies


def tabletop_bodies(seed, objects):
    """
    Return the sample scene's bodies (tuple of Body): room, table, then the objects.

    objects: ObjectModels (:func:`sample_objects`), placed in this order; textures, colours
    and placement come from ``numpy.random.default_rng(seed)``.
    """
    rng = np.random.default_rng(seed)
    room = _room(rng)
    table, top = _table(rng)
    return tuple(room + table + _objects(rng, objects, top))


def camera_pose(index):
    """Return (R_w2c (3, 3), t_w2c (3,) m) of frame `index` on the arc around the table."""
    azimuth = math.radians(ARC_START_DEG + ARC_STEP_DEG * index)
    eye = (ARC_RADIUS_M * math.cos(azimuth), ARC_RADIUS_M * math.sin(azimuth), CAMERA_HEIGHT_M)
    roll = math.radians(ROLL_DEG) * math.sin(2.0 * math.pi * index / ROLL_PERIOD_FRAMES)
    return look_at(eye, (0.0, 0.0, TABLE_HEIGHT_M), roll)


class SequenceWriter:
    """Renders, annotates and writes frames of the sample; one per process (owns pybullet)."""

    def __init__(self, config, bodies, texture_dir):
        """Connect a renderer for the config's image size; bodies: :func:`tabletop_bodies`."""
        self.config = config
        self.bodies = bodies
        self.renderer = Renderer(config.width, config.height, config.k, NEAR_M, FAR_M,
                                 texture_dir)

    def __call__(self, index):
        """Render frame `index`, write its images; return its per-scene JSON entries."""
        rotation_w2c, translation_w2c = camera_pose(index)
        scene = Scene(self.bodies, rotation_w2c, translation_w2c, LIGHTING)
        rng = np.random.default_rng([self.config.seed, index])
        return render_and_write(self.renderer, scene, self.config.k, SENSOR, rng,
                                scene_dir(self.config.out, SCENE_ID), index)


def _record(config, complete):
    path = Path(config.out) / SAMPLE_FILE
    path.write_text(json.dumps({'arguments': config.arguments(), 'complete': complete},
                               sort_keys=True) + '\n')


def is_complete(config):
    """Return whether config.out holds a complete sample made with the same arguments."""
    path = Path(config.out) / SAMPLE_FILE
    if not path.is_file():
        return False
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError:
        return False
    return record == {'arguments': config.arguments(), 'complete': True}


def _clear(out):
    """
    Make `out` ready for a new sample: create it, or remove an earlier sample's files.

    Raises SampleFolderError for a folder that is not empty and holds no sample.json.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SampleFolderError(f'{out} exists and is not a folder')
    if not out.exists() or not any(out.iterdir()):
        out.mkdir(parents=True, exist_ok=True)
        return
    if not (out / SAMPLE_FILE).is_file():
        raise SampleFolderError(f'{out} is not empty and holds no {SAMPLE_FILE}')
    for folder in (scene_dir(out, SCENE_ID), out / 'models'):
        shutil.rmtree(folder, ignore_errors=True)
    for name in ('camera.json', 'objects.json'):
        (out / name).unlink(missing_ok=True)


def write_sample(config, workers=1):
    """
    Write the sample of a SampleConfig; return the seconds it took, None if already there.

    workers: processes rendering frames (1: in this process); the files do not depend on it.
    Raises SampleFolderError when config.out holds something else.
    """
    if is_complete(config):
        return None
    start = time.perf_counter()
    _clear(config.out)
    _record(config, complete=False)
    objects = sample_objects(build_catalogue(sources=('pybullet_data', 'procedural')))
    bodies = tabletop_bodies(config.seed, objects)
    write_dataset_files(config.out, objects, config.k, config.width, config.height)
    workers = min(workers, config.frames)
    with tempfile.TemporaryDirectory(prefix='sample_textures_') as texture_dir:
        entries = list(map_frames(SequenceWriter, (config, bodies, texture_dir),
                                  range(config.frames), workers))
    write_scene_files(scene_dir(config.out, SCENE_ID), dict(enumerate(entries)))
    _record(config, complete=True)
    return time.perf_counter() - start
