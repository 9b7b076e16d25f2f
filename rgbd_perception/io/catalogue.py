"""
Object catalogues: the known objects of the pose stage, one YAML file per object set.

A catalogue file (``config/objects/*.yaml``)::

    name: lmo
    mesh_dir: ../../../shared/data/lmo_models/models   # relative to this file
    mesh_unit: mm                                      # mm | m | auto, per object overridable
    weights: pose_lmo.safetensors                      # relative to rgbd_perception/weights/
    objects:
      - {id: 1, name: ape, mesh: obj_000001.ply}
      - {id: 10, name: eggbox, mesh: obj_000010.ply, symmetric: true}

Ids are positive integers (the instance-label value and the BOP obj_id); ``symmetric`` objects
are scored with ADD-S.  ``mesh_dir`` given to :func:`load_catalogue` (the CLI's ``--mesh-dir``,
the node's ``mesh_dir`` parameter) replaces the file's.  Meshes are read once, in metres.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from rgbd_perception.geometry.meshes import diameter, load_mesh, Mesh, MeshError
from rgbd_perception.io.data_paths import bundled_weights

MESH_UNITS = ('mm', 'm', 'auto')


class CatalogueError(ValueError):
    """Raised for a catalogue file that cannot be read or names a mesh that cannot be loaded."""


@dataclass(frozen=True, eq=False)
class CatalogueObject:
    """
    One known object.

    obj_id: positive id; name: label; mesh: the model in metres (its frame is the pose's
    model frame); diameter: largest vertex distance, metres; symmetric: score with ADD-S;
    mesh_path: the file; mesh_scale: its units to metres (RViz mesh markers use both).
    """

    obj_id: int
    name: str
    mesh: Mesh
    diameter: float
    symmetric: bool
    mesh_path: Path
    mesh_scale: float

    @property
    def extent(self):
        """Return the (3,) size of the model's axis-aligned bounding box, metres."""
        return np.ptp(self.mesh.vertices, axis=0)


@dataclass(frozen=True, eq=False)
class ObjectCatalogue:
    """The objects of one set, by id; weights: exported pose weights (Path) or None."""

    name: str
    objects: dict
    weights: Path | None
    path: Path

    def __getitem__(self, obj_id):
        """Return the object with id ``obj_id`` or raise CatalogueError naming the known ids."""
        try:
            return self.objects[int(obj_id)]
        except KeyError:
            raise CatalogueError(f'{self.path}: no object with id {obj_id} '
                                 f'(known: {sorted(self.objects)})') from None

    @property
    def ids(self):
        """Return the object ids in increasing order."""
        return sorted(self.objects)


def _require(entry, key, kind, where):
    if key not in entry:
        raise CatalogueError(f'{where}: missing {key!r}')
    if not isinstance(entry[key], kind) or isinstance(entry[key], bool) and kind is not bool:
        raise CatalogueError(f'{where}: {key!r} must be {kind.__name__}, got {entry[key]!r}')
    return entry[key]


def load_catalogue(path, mesh_dir=None):
    """
    Return the :class:`ObjectCatalogue` of a catalogue YAML file.

    mesh_dir: folder of the meshes, replacing the file's ``mesh_dir``.  Raises
    CatalogueError naming the file and the problem (unreadable YAML, missing or mistyped
    keys, duplicate ids, a mesh that is absent or unreadable).
    """
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueError(f'{path}: cannot read the catalogue: {exc}') from exc
    if not isinstance(document, dict):
        raise CatalogueError(f'{path}: a catalogue is a mapping with name and objects')
    name = _require(document, 'name', str, path)
    folder = Path(mesh_dir) if mesh_dir is not None else \
        path.parent / document.get('mesh_dir', '.')
    default_unit = document.get('mesh_unit', 'auto')
    weights = document.get('weights')
    objects = {}
    for index, entry in enumerate(_require(document, 'objects', list, path)):
        where = f'{path}: objects[{index}]'
        if not isinstance(entry, dict):
            raise CatalogueError(f'{where}: expected a mapping, got {entry!r}')
        obj_id = _require(entry, 'id', int, where)
        if obj_id <= 0 or obj_id in objects:
            raise CatalogueError(f'{where}: id {obj_id} is not positive or not unique')
        unit = entry.get('unit', default_unit)
        if unit not in MESH_UNITS:
            raise CatalogueError(f'{where}: unit must be one of {MESH_UNITS}, got {unit!r}')
        mesh_path = folder / _require(entry, 'mesh', str, where)
        if not mesh_path.is_file():
            raise CatalogueError(f'{where}: mesh {mesh_path} not found (set the mesh folder '
                                 'with --mesh-dir / the mesh_dir parameter)')
        try:
            mesh, scale = load_mesh(mesh_path, unit)
        except (MeshError, OSError) as exc:
            raise CatalogueError(f'{where}: {exc}') from exc
        objects[obj_id] = CatalogueObject(obj_id, str(entry.get('name', obj_id)), mesh,
                                          diameter(mesh.vertices),
                                          bool(entry.get('symmetric', False)),
                                          mesh_path.resolve(), scale)
    if not objects:
        raise CatalogueError(f'{path}: the catalogue lists no objects')
    return ObjectCatalogue(name, objects, bundled_weights(weights) if weights else None, path)
