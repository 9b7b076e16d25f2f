"""
Random scene descriptions: a room with a table, objects resting on it, camera and lights.

A :class:`Scene` is plain data (meshes, poses, colours, textures, camera, lighting) drawn from
one numpy Generator, so a frame is a pure function of (seed, frame index). World frame: metres,
+z up (gravity along -z), the floor is z = 0.

Contents: floor, four walls and a ceiling (boxes); a table (a top and four legs) of random size
and height; 1-8 catalogue objects resting on the table top (ground truth); up to a few
distractors (pybullet_data's random_urdfs meshes, not annotated) on the table or the floor;
sometimes an occluder (a board standing on the floor between camera and table). The camera is
0.6-1.8 m above the floor (and at least 0.15 m above the table top), 0.3-1.4 m away
horizontally from a point on the table near the objects, looks at it and is rolled by up to
10 degrees. A room view (SceneOptions.room_view_probability) instead draws a larger room
(1-6 m half extents: offices, halls, corridors) with cabinets and shelves standing against the
walls, and a camera 0.8-1.8 m high anywhere in it looking across the room at a point 0.2-2 m
high, as a robot sees a room: depth up to about 12 m, the table and objects anywhere or
out of view. Materials: random colours, random textures (:mod:`training.synth.textures`), a
glossy flag per body (drives the specular holes of the sensor model). Lighting: direction,
colour and TinyRenderer's ambient / diffuse / specular coefficients, shadows sometimes.

Options beyond the default world (SceneOptions), drawn from a second generator so that the
default world's draws stay as they were: a randomisation level
(:mod:`training.synth.randomisation`: more distractors, new materials and light) and physics
(:mod:`training.synth.physics`: the objects and table distractors are dropped onto the table
and settle, leaning on and stacking over each other; those that fall off are left out).
"""

from dataclasses import dataclass, replace
import math

import numpy as np

from rgbd_perception.geometry.meshes import load_mesh, Mesh
from training.synth.camera import look_at
from training.synth.catalogue import DISTRACTOR_COUNT, distractor_path, DISTRACTOR_SCALE
from training.synth.physics import drop_poses, rests_on_table, settle
from training.synth.placement import (footprint, Occupancy, place_resting, Rectangle,
                                      yaw_rotation)
from training.synth.randomisation import LEVELS, PRIMITIVE_DISTRACTORS, vary_appearance
from training.synth.shapes import box_mesh
from training.synth.textures import random_colour, random_texture, WHITE


@dataclass(frozen=True, eq=False)
class Body:
    """
    One rigid body of a scene.

    mesh: model-frame mesh (m); rotation (3, 3) and translation (3,) m: world from model;
    rgba: colour (multiplies the texture); texture: (h, w, 3) uint8 RGB replacing the mesh's
    own, or None (the mesh's own texture, if any); glossy: specular surface; obj_id: the
    ground-truth object id, None for scenery and distractors; cache_key: a name under which
    the renderer keeps the mesh between frames (None: built for this frame only).
    """

    mesh: Mesh
    rotation: np.ndarray
    translation: np.ndarray
    rgba: tuple = WHITE
    texture: np.ndarray | None = None
    glossy: bool = False
    obj_id: int | None = None
    cache_key: str | None = None


@dataclass(frozen=True)
class Lighting:
    """
    TinyRenderer lighting.

    direction: (3,) unit vector from the scene towards the light (world); colour: (3,) RGB
    in [0, 1]; distance: m; ambient, diffuse, specular: coefficients; shadow: draw shadows.
    """

    direction: tuple
    colour: tuple
    distance: float
    ambient: float
    diffuse: float
    specular: float
    shadow: bool


@dataclass(frozen=True, eq=False)
class Scene:
    """
    A frame's world: bodies, camera pose (R_w2c (3, 3), t_w2c (3,) m) and lighting.

    look: the Cycles-only appearance (a training.synth.looks.Look, drawn separately) or None;
    TinyRenderer ignores it.
    """

    bodies: tuple
    rotation_w2c: np.ndarray
    translation_w2c: np.ndarray
    lighting: Lighting
    look: object = None

    def annotated(self):
        """Return the indices of the bodies with ground truth (obj_id not None), in order."""
        return [i for i, body in enumerate(self.bodies) if body.obj_id is not None]


@dataclass(frozen=True)
class SceneOptions:
    """
    Counts and probabilities of the random scene contents.

    near: the camera's near clipping plane (m); objects are kept beyond it.
    room_view_probability: share of frames that are room views (module docstring).
    randomisation: a key of randomisation.LEVELS ('none': the default world).
    physics: drop the objects and table distractors with rigid-body physics.
    """

    min_objects: int = 1
    max_objects: int = 8
    max_distractors: int = 3
    occluder_probability: float = 0.3
    shadow_probability: float = 0.0
    room_view_probability: float = 0.0
    near: float = 0.05
    randomisation: str = 'none'
    physics: bool = False


class DistractorMeshes:
    """The distractor meshes, each loaded from pybullet_data on first use."""

    def __init__(self):
        """Start with nothing loaded."""
        self._meshes = {}

    def get(self, index):
        """Return the mesh of random_urdfs number `index` (m)."""
        if index not in self._meshes:
            self._meshes[index] = load_mesh(distractor_path(index), scale=DISTRACTOR_SCALE)[0]
        return self._meshes[index]


def _appearance(rng, texture_probability, mesh_has_uvs=True, glossy_probability=0.0):
    """Return (rgba, texture or None, glossy) of a random material."""
    glossy = bool(rng.random() < glossy_probability)
    if mesh_has_uvs and rng.random() < texture_probability:
        return WHITE, random_texture(rng), glossy
    return (*random_colour(rng), 1.0), None, glossy


def _box_body(rng, size, centre, yaw, texture_probability, tile=None, glossy_probability=0.0):
    rgba, texture, glossy = _appearance(rng, texture_probability,
                                        glossy_probability=glossy_probability)
    return Body(box_mesh(size, tile), yaw_rotation(yaw), np.asarray(centre, np.float64),
                rgba, texture, glossy)


def _room(rng, half_range=(1.5, 2.5), height_range=(2.5, 3.0)):
    """Return (bodies, floor rectangle, half extents) of floor, walls and ceiling."""
    half = rng.uniform(*half_range, 2)
    height = rng.uniform(*height_range)
    thickness = 0.05
    bodies = [_box_body(rng, (2 * half[0] + 0.2, 2 * half[1] + 0.2, thickness),
                        (0, 0, -thickness / 2), 0.0, 0.8, rng.uniform(0.3, 1.0), 0.1)]
    for axis in (0, 1):
        for sign in (-1.0, 1.0):
            size = [2 * half[0] + 0.2, 2 * half[1] + 0.2, height]
            size[axis] = thickness
            centre = [0.0, 0.0, height / 2]
            centre[axis] = sign * (half[axis] + thickness / 2)
            bodies.append(_box_body(rng, size, centre, 0.0, 0.5, rng.uniform(0.5, 2.0)))
    bodies.append(_box_body(rng, (2 * half[0] + 0.2, 2 * half[1] + 0.2, thickness),
                            (0, 0, height + thickness / 2), 0.0, 0.0))
    floor = Rectangle((0.0, 0.0), 0.0, tuple(half - 0.05), 0.0)
    return bodies, floor, half


def _table(rng):
    """Return (bodies, top rectangle) of a table: a top and four legs at the origin area."""
    half = np.array([rng.uniform(0.4, 0.8), rng.uniform(0.3, 0.5)])
    height = rng.uniform(0.6, 0.8)
    thickness = rng.uniform(0.025, 0.05)
    centre = rng.uniform(-0.3, 0.3, 2)
    yaw = rng.uniform(0.0, np.pi)
    top = _box_body(rng, (2 * half[0], 2 * half[1], thickness),
                    (centre[0], centre[1], height - thickness / 2), yaw, 0.7,
                    rng.uniform(0.2, 0.6), 0.3)
    leg = rng.uniform(0.03, 0.06)
    rgba, _, _ = _appearance(rng, 0.0)
    rotation = yaw_rotation(yaw)
    bodies = [top]
    for sx in (-1.0, 1.0):
        for sy in (-1.0, 1.0):
            local = np.array([sx * (half[0] - leg), sy * (half[1] - leg)])
            xy = rotation[:2, :2] @ local + centre
            bodies.append(Body(box_mesh((leg, leg, height - thickness)), rotation,
                               np.array([xy[0], xy[1], (height - thickness) / 2]), rgba))
    return bodies, Rectangle(tuple(centre), yaw, tuple(half), height)


def _objects(rng, catalogue, table, occupancy, options):
    """Return bodies of catalogue objects resting on the table (ground truth)."""
    count = int(rng.integers(options.min_objects, options.max_objects + 1))
    chosen = rng.choice(len(catalogue), size=count, replace=count > len(catalogue))
    bodies = []
    for index in chosen:
        model = catalogue[index]
        pose = place_resting(rng, model.mesh, table, occupancy)
        if pose is None:
            continue
        if model.has_own_appearance:
            rgba, texture, glossy = WHITE, None, bool(rng.random() < 0.2)
        else:
            rgba, texture, glossy = _appearance(rng, 0.5, model.mesh.uvs is not None, 0.2)
        bodies.append(Body(model.mesh, pose[0], pose[1], rgba, texture, glossy,
                           model.obj_id, f'object:{model.obj_id}'))
    return bodies


def _distractors(rng, distractors, table, floor, occupancy, options):
    """
    Return (bodies, on table flags, floor occupancy) of unannotated distractor meshes.

    Each distractor rests on the table or the floor; the floor occupancy holds the table.
    """
    floor_occupancy = Occupancy([table.corners()])
    bodies, flags = [], []
    for _ in range(int(rng.integers(0, options.max_distractors + 1))):
        index = int(rng.integers(DISTRACTOR_COUNT))
        mesh = distractors.get(index)
        on_table = rng.random() < 0.5
        pose = place_resting(rng, mesh, table if on_table else floor,
                             occupancy if on_table else floor_occupancy)
        if pose is not None:
            rgba, _, glossy = _appearance(rng, 0.0, glossy_probability=0.2)
            bodies.append(Body(mesh, pose[0], pose[1], rgba, None, glossy, None,
                               f'distractor:{index}'))
            flags.append(on_table)
    return bodies, flags, floor_occupancy


def _more_distractors(rng, distractors, table, occupancy, count):
    """
    Return up to `count` more distractors resting on the table (randomisation levels).

    Each is a pybullet_data mesh or one of randomisation.PRIMITIVE_DISTRACTORS, equally often.
    """
    bodies = []
    for _ in range(int(rng.integers(0, count + 1))):
        if rng.random() < 0.5:
            index = int(rng.integers(DISTRACTOR_COUNT))
            mesh, key = distractors.get(index), f'distractor:{index}'
        else:
            index = int(rng.integers(len(PRIMITIVE_DISTRACTORS)))
            mesh, key = PRIMITIVE_DISTRACTORS[index], f'primitive:{index}'
        pose = place_resting(rng, mesh, table, occupancy)
        if pose is not None:
            rgba, _, glossy = _appearance(rng, 0.0, glossy_probability=0.2)
            bodies.append(Body(mesh, pose[0], pose[1], rgba, None, glossy, None, key))
    return bodies


def _settled(rng, bodies, table):
    """Return the bodies dropped onto the table and settled, less those that fell off."""
    meshes = [body.mesh for body in bodies]
    start = drop_poses(rng, meshes, [(b.rotation, b.translation) for b in bodies],
                       table.height)
    poses = settle(meshes, start, table)[0]
    return [replace(body, rotation=pose[0], translation=pose[1])
            for body, pose in zip(bodies, poses) if rests_on_table(body.mesh, pose, table)]


def _in_front(rotation_w2c, translation_w2c, objects, near):
    """Return whether every object's bounding sphere lies beyond the near plane."""
    for body in objects:
        radius = np.linalg.norm(body.mesh.vertices, axis=1).max()
        z = (rotation_w2c @ body.translation + translation_w2c)[2]
        if z - radius < near + 0.02:
            return False
    return True


def _camera(rng, table, floor_half, objects, near, tries=100):
    """Return (R_w2c, t_w2c, eye, target): a camera in the room looking at the table."""
    centre = np.mean([b.translation for b in objects], axis=0) if objects else \
        np.array([*table.centre, table.height])
    pose = None
    for _ in range(tries):
        target = np.array([*(centre[:2] + rng.normal(0.0, 0.05, 2)), table.height])
        height = rng.uniform(max(0.6, table.height + 0.15), 1.8)
        distance = rng.uniform(0.3, 1.4)
        azimuth = rng.uniform(0.0, 2.0 * np.pi)
        eye = target + [distance * math.cos(azimuth), distance * math.sin(azimuth), 0.0]
        eye[2] = height
        if np.any(np.abs(eye[:2]) > floor_half - 0.2):
            continue
        roll = math.radians(rng.uniform(-10.0, 10.0))
        pose = (*look_at(eye, target, roll), eye, target)
        if _in_front(pose[0], pose[1], objects, near):
            return pose
    if pose is None:
        raise RuntimeError('no camera position inside the room')
    return pose


def _furniture(rng, floor_half, floor_occupancy, count):
    """Return up to ``count`` boxes (cabinets, shelves) standing against the room's walls."""
    bodies = []
    for _ in range(count):
        width, depth = rng.uniform(0.4, 1.6), rng.uniform(0.3, 0.7)
        height = rng.uniform(0.4, 2.2)
        axis, sign = int(rng.integers(2)), float(rng.choice([-1.0, 1.0]))
        along = 1 - axis
        centre = np.zeros(2)
        centre[axis] = sign * (floor_half[axis] - depth / 2 - 0.01)
        centre[along] = rng.uniform(-1.0, 1.0) * max(floor_half[along] - width / 2, 0.0)
        yaw = 0.0 if axis == 1 else math.pi / 2
        corners = (np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]])
                   * np.array([width, depth]) / 2) @ yaw_rotation(yaw)[:2, :2].T + centre
        polygon = footprint(corners)
        if not floor_occupancy.is_free(polygon):
            continue
        floor_occupancy.add(polygon)
        bodies.append(_box_body(rng, (width, depth, height), (*centre, height / 2), yaw, 0.6,
                                rng.uniform(0.2, 0.8), 0.2))
    return bodies


def _room_camera(rng, floor_half, floor_occupancy, tries=100):
    """
    Return (R_w2c, t_w2c) of a camera standing in the free floor looking across the room.

    The camera looks at a random point of the room at least half the room's larger half
    extent away (horizontally), between 0.2 m and 2 m high, rolled by up to 10 degrees.
    """
    square = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]])
    for _ in range(tries):
        eye = np.array([*rng.uniform(-1.0, 1.0, 2) * (floor_half - 0.3),
                        rng.uniform(0.8, 1.8)])
        target = np.array([*rng.uniform(-1.0, 1.0, 2) * floor_half, rng.uniform(0.2, 2.0)])
        if np.linalg.norm(target[:2] - eye[:2]) < 0.5 * floor_half.max() or \
                not floor_occupancy.is_free(footprint(eye[:2] + square * 0.2)):
            continue
        return look_at(eye, target, math.radians(rng.uniform(-10.0, 10.0)))
    raise RuntimeError('no free camera position in the room')


def _occluder(rng, eye, target, floor_occupancy):
    """Return a board standing on the floor between camera and table, or None."""
    fraction = rng.uniform(0.3, 0.7)
    direction = target[:2] - eye[:2]
    side = np.array([-direction[1], direction[0]]) / np.linalg.norm(direction)
    xy = eye[:2] + fraction * direction + side * rng.uniform(-0.15, 0.15)
    sight = eye[2] + fraction * (target[2] - eye[2])
    size = (rng.uniform(0.05, 0.4), rng.uniform(0.02, 0.1),
            max(0.1, sight + rng.uniform(-0.2, 0.1)))
    yaw = math.atan2(side[1], side[0])
    corners = (np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * np.array(size[:2]) / 2) \
        @ yaw_rotation(yaw)[:2, :2].T + xy
    polygon = footprint(corners)
    eye_box = footprint(eye[:2] + np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * 0.1)
    if not (floor_occupancy.is_free(polygon) and Occupancy([polygon]).is_free(eye_box)):
        return None
    return _box_body(rng, size, (xy[0], xy[1], size[2] / 2), yaw, 0.5, rng.uniform(0.1, 0.5))


def _lighting(rng, options):
    elevation = math.radians(rng.uniform(30.0, 90.0))
    azimuth = rng.uniform(0.0, 2.0 * np.pi)
    direction = (math.cos(elevation) * math.cos(azimuth),
                 math.cos(elevation) * math.sin(azimuth), math.sin(elevation))
    colour = tuple(np.clip(1.0 + rng.normal(0.0, 0.08, 3), 0.7, 1.0))
    return Lighting(direction, colour, float(rng.uniform(2.0, 6.0)),
                    float(rng.uniform(0.3, 0.7)), float(rng.uniform(0.3, 0.7)),
                    float(rng.uniform(0.0, 0.5)), bool(rng.random() < options.shadow_probability))


def sample_scene(rng, catalogue, distractors, options=SceneOptions(), variation_rng=None):
    """
    Return a random :class:`Scene` drawn from rng (numpy Generator).

    catalogue: list of ObjectModel; distractors: a :class:`DistractorMeshes`;
    variation_rng: a second Generator, for the randomisation level and physics (needed only
    when options ask for either; the default world never draws from it).
    """
    randomisation = LEVELS[options.randomisation]
    if (randomisation is not None or options.physics) and variation_rng is None:
        raise ValueError('a randomisation level or physics needs variation_rng')
    # Drawn only when asked for, so that tabletop-only sequences stay as they were.
    room_view = options.room_view_probability > 0 and rng.random() < \
        options.room_view_probability
    room, floor, floor_half = _room(rng, (1.0, 6.0), (2.4, 3.2)) if room_view else _room(rng)
    table_bodies, table = _table(rng)
    occupancy = Occupancy()
    objects = _objects(rng, catalogue, table, occupancy, options)
    extra, table_flags, floor_occupancy = _distractors(rng, distractors, table, floor,
                                                       occupancy, options)
    if randomisation is not None:
        more = _more_distractors(variation_rng, distractors, table, occupancy,
                                 randomisation.extra_distractors)
        extra, table_flags = extra + more, table_flags + [True] * len(more)
    if options.physics:
        dropped = _settled(variation_rng,
                           objects + [b for b, t in zip(extra, table_flags) if t], table)
        objects = [b for b in dropped if b.obj_id is not None]
        extra = [b for b in dropped if b.obj_id is None] + \
            [b for b, t in zip(extra, table_flags) if not t]
    if room_view:
        extra += _furniture(rng, floor_half, floor_occupancy, int(rng.integers(2, 9)))
        rotation_w2c, translation_w2c = _room_camera(rng, floor_half, floor_occupancy)
    else:
        rotation_w2c, translation_w2c, eye, target = _camera(rng, table, floor_half, objects,
                                                             options.near)
    objects = [b for b in objects if _in_front(rotation_w2c, translation_w2c, [b], options.near)]
    bodies = room + table_bodies + objects + extra
    if not room_view and rng.random() < options.occluder_probability:
        occluder = _occluder(rng, eye, target, floor_occupancy)
        bodies += [occluder] if occluder is not None else []
    scene = Scene(tuple(bodies), rotation_w2c, translation_w2c, _lighting(rng, options))
    return scene if randomisation is None else vary_appearance(scene, randomisation,
                                                               variation_rng)
