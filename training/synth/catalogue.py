"""
The objects the synthetic world places on the table, with their BOP object ids.

Object ids:

* given meshes (``--objects DIR``, ``*.ply`` / ``*.obj``): a file named ``obj_000005.ply``
  keeps its BOP id 5; other file names get ids from 2000 upward in sorted order. Their model
  frame is the file's frame; symmetries come from ``models_info.json`` beside them if present.
* pybullet_data models (:data:`PYBULLET_DATA_OBJECTS`): ids 1000-1099, scaled by their URDF's
  mesh scale and moved so that their bounding-box centre is the model origin.
* procedural shapes (:data:`PROCEDURAL_OBJECTS`): ids 1100 upward, fixed dimensions (an id
  is one rigid model), random colour or texture per frame.

``symmetric`` is the shape's symmetry (texture ignored); the BOP ``symmetries_discrete`` /
``symmetries_continuous`` entries of :meth:`ObjectModel.info` spell it out.
"""

from dataclasses import dataclass, field
import itertools
from pathlib import Path
import re

import numpy as np
import pybullet_data

from rgbd_perception.geometry.meshes import diameter, load_mesh, Mesh
from rgbd_perception.io.bop import read_models_info
from training.synth.mesh_tools import translated
from training.synth.shapes import box_mesh, cylinder_mesh, sphere_mesh

SOURCES = ('given', 'pybullet_data', 'procedural')
FIRST_UNNAMED_ID = 2000

#: (obj_id, name, file under pybullet_data, URDF mesh scale, shape symmetry)
PYBULLET_DATA_OBJECTS = (
    (1000, 'duck', 'duck.obj', 0.05, None),
    (1001, 'teddy', 'teddy2_VHACD_CHs.obj', 0.1, None),
    (1002, 'cube', 'cube.obj', 0.05, 'cube'),
    (1003, 'textured_sphere', 'textured_sphere_smooth.obj', 0.03, 'sphere'),
    (1004, 'soccerball', 'soccerball.obj', 0.1, 'sphere'),
    (1005, 'bunny', 'bunny.obj', 0.07, None),
    (1006, 'mug', 'objects/mug.obj', 1.0, None),
)

#: (obj_id, name, shape, parameters in metres)
PROCEDURAL_OBJECTS = (
    (1100, 'box', 'box', {'size': (0.12, 0.08, 0.05)}),
    (1101, 'bar', 'box', {'size': (0.2, 0.05, 0.04)}),
    (1102, 'can', 'cylinder', {'radius': 0.035, 'height': 0.12}),
    (1103, 'disc', 'cylinder', {'radius': 0.06, 'height': 0.03}),
    (1104, 'ball', 'sphere', {'radius': 0.04}),
)

#: Distractors (never annotated): pybullet_data's random_urdfs/NNN/NNN.obj at their URDF scale,
#: the first DISTRACTOR_COUNT of them (each worker loads and keeps the ones it draws).
DISTRACTOR_COUNT = 100
DISTRACTOR_SCALE = 0.015


class CatalogueError(ValueError):
    """Raised for object files or options that cannot make a catalogue."""


@dataclass(frozen=True, eq=False)
class ObjectModel:
    """
    One object of the catalogue.

    mesh: the model in metres (its frame is the BOP model frame of the ground truth);
    source: one of :data:`SOURCES`; path: the source file (None for procedural shapes);
    unit_scale: source units to metres; offset: (3,) metres added after scaling;
    shape: procedural parameters or None; symmetries: BOP models_info symmetry entries.
    """

    obj_id: int
    name: str
    source: str
    mesh: Mesh
    path: str | None = None
    unit_scale: float = 1.0
    offset: tuple = (0.0, 0.0, 0.0)
    shape: dict | None = None
    symmetries: dict = field(default_factory=dict)

    @property
    def symmetric(self):
        """Return whether the shape has a discrete or continuous symmetry."""
        return bool(self.symmetries)

    @property
    def has_own_appearance(self):
        """Return whether colours belong to the object (texture or vertex colours)."""
        return self.mesh.texture is not None or self.mesh.colours is not None

    def info(self):
        """Return the BOP models_info.json entry (millimetres)."""
        lo = self.mesh.vertices.min(axis=0) * 1000.0
        size = np.ptp(self.mesh.vertices, axis=0) * 1000.0
        entry = {'diameter': diameter(self.mesh.vertices) * 1000.0}
        entry.update({f'min_{a}': float(v) for a, v in zip('xyz', lo)})
        entry.update({f'size_{a}': float(v) for a, v in zip('xyz', size)})
        entry.update(self.symmetries)
        return entry

    def description(self):
        """Return the objects.json entry: source, mesh file, units, diameter, symmetry."""
        return {'name': self.name, 'source': self.source, 'mesh_path': self.path,
                'unit_scale_to_m': self.unit_scale, 'offset_m': list(self.offset),
                'shape': self.shape, 'model': f'models/obj_{self.obj_id:06d}.ply',
                'diameter_mm': self.info()['diameter'], 'symmetric': self.symmetric}


def _rotation_entries(rotations):
    """Return BOP discrete symmetries: 4x4 row-major transforms of (3, 3) rotations."""
    entries = []
    for rotation in rotations:
        transform = np.eye(4)
        transform[:3, :3] = rotation
        entries.append([float(v) for v in transform.reshape(-1)])
    return entries


def _half_turns(axes):
    """Return the 180-degree rotations about the given coordinate axes (0, 1, 2)."""
    return [np.diag([1.0 if i == a else -1.0 for i in range(3)]) for a in axes]


def shape_symmetries(kind, size=None):
    """
    Return the BOP symmetry entries of a shape kind: 'box', 'cube', 'cylinder', 'sphere'.

    box: the three half-turns (all sides different: size is checked); cube: the 23 proper
    rotations of the cube; cylinder: continuous about z plus a half-turn about x; sphere:
    continuous about z and x.
    """
    if kind == 'box':
        if size is not None and len(set(np.round(size, 9))) < 3:
            raise CatalogueError('box symmetries assume three different side lengths')
        return {'symmetries_discrete': _rotation_entries(_half_turns((0, 1, 2)))}
    if kind == 'cube':
        rotations = []
        for order in itertools.permutations(range(3)):
            for signs in itertools.product((1.0, -1.0), repeat=3):
                rotation = np.eye(3)[list(order)] * np.array(signs)[:, None]
                if np.linalg.det(rotation) > 0 and not np.allclose(rotation, np.eye(3)):
                    rotations.append(rotation)
        return {'symmetries_discrete': _rotation_entries(rotations)}
    axis = {'axis': [0.0, 0.0, 1.0], 'offset': [0.0, 0.0, 0.0]}
    if kind == 'cylinder':
        return {'symmetries_continuous': [axis],
                'symmetries_discrete': _rotation_entries(_half_turns((0,)))}
    if kind == 'sphere':
        return {'symmetries_continuous': [axis, {'axis': [1.0, 0.0, 0.0],
                                                 'offset': [0.0, 0.0, 0.0]}]}
    raise CatalogueError(f'unknown shape kind {kind}')


def given_models(directory, unit='auto'):
    """Return the ObjectModels of every .ply / .obj file in a directory (see module doc)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CatalogueError(f'{directory}: no such directory')
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in ('.ply', '.obj'))
    if not files:
        raise CatalogueError(f'{directory}: no .ply or .obj meshes')
    info_path = directory / 'models_info.json'
    infos = read_models_info(info_path) if info_path.is_file() else {}
    models, next_id = [], FIRST_UNNAMED_ID
    for path in files:
        match = re.fullmatch(r'obj_(\d+)', path.stem)
        if match:
            obj_id = int(match.group(1))
        else:
            obj_id, next_id = next_id, next_id + 1
        mesh, scale = load_mesh(path, unit)
        info = infos.get(obj_id, {})
        symmetries = {k: v for k, v in info.items() if k.startswith('symmetries_')}
        models.append(ObjectModel(obj_id, path.stem, 'given', mesh, str(path.resolve()), scale,
                                  symmetries=symmetries))
    return models


def pybullet_data_models():
    """Return the ObjectModels of :data:`PYBULLET_DATA_OBJECTS`, centred on their boxes."""
    root = Path(pybullet_data.getDataPath())
    models = []
    for obj_id, name, file_name, scale, symmetry in PYBULLET_DATA_OBJECTS:
        mesh, _ = load_mesh(root / file_name, scale=scale)
        centre = 0.5 * (mesh.vertices.min(axis=0) + mesh.vertices.max(axis=0))
        symmetries = shape_symmetries(symmetry) if symmetry else {}
        models.append(ObjectModel(obj_id, name, 'pybullet_data', translated(mesh, -centre),
                                  str(root / file_name), scale, tuple(-centre),
                                  symmetries=symmetries))
    return models


def procedural_models():
    """Return the ObjectModels of :data:`PROCEDURAL_OBJECTS`."""
    builders = {'box': box_mesh, 'cylinder': cylinder_mesh, 'sphere': sphere_mesh}
    models = []
    for obj_id, name, kind, parameters in PROCEDURAL_OBJECTS:
        mesh = builders[kind](**parameters)
        shape = {'kind': kind, **{k: list(v) if isinstance(v, tuple) else v
                                  for k, v in parameters.items()}}
        models.append(ObjectModel(obj_id, name, 'procedural', mesh, shape=shape,
                                  symmetries=shape_symmetries(kind, parameters.get('size'))))
    return models


def build_catalogue(objects_dir=None, mesh_unit='auto', sources=SOURCES):
    """
    Return the catalogue: ObjectModels of the chosen sources, sorted by object id.

    'given' needs objects_dir and is skipped without it. Raises CatalogueError for an
    empty catalogue or duplicate ids.
    """
    unknown = set(sources) - set(SOURCES)
    if unknown:
        raise CatalogueError(f'unknown object sources {sorted(unknown)}; choose from {SOURCES}')
    models = []
    if 'given' in sources and objects_dir is not None:
        models += given_models(objects_dir, mesh_unit)
    if 'pybullet_data' in sources:
        models += pybullet_data_models()
    if 'procedural' in sources:
        models += procedural_models()
    if not models:
        raise CatalogueError('no objects: give --objects DIR or choose other sources')
    ids = [m.obj_id for m in models]
    if len(set(ids)) != len(ids):
        raise CatalogueError(f'duplicate object ids in {sorted(ids)}')
    return sorted(models, key=lambda m: m.obj_id)


def distractor_path(index):
    """Return the path of pybullet_data's random_urdfs mesh number `index` (0-999)."""
    return Path(pybullet_data.getDataPath()) / 'random_urdfs' / f'{index:03d}' / f'{index:03d}.obj'
