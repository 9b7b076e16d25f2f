"""
Triangle meshes: reading PLY and OBJ files, units, normals, surface samples, diameters.

Every :class:`Mesh` is in metres (the synthetic world renders them, object catalogues load
them). Files are read in their own units and scaled by :func:`unit_scale`: ``'mm'``
(x 0.001), ``'m'`` (x 1) or ``'auto'``, which takes a file whose largest bounding-box side
exceeds :data:`AUTO_MM_EXTENT` units as millimetres (a tabletop object is neither larger than
10 m nor smaller than 10 mm). The BOP LM-O models are millimetres with per-vertex colours and
normals; pybullet_data's OBJ files are in their own units and get the scale of their URDF.
"""

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial import ConvexHull
from scipy.spatial.distance import pdist

#: 'auto' units: a mesh whose largest bounding-box side exceeds this many units is millimetres.
AUTO_MM_EXTENT = 10.0
UNIT_SCALES = {'mm': 0.001, 'm': 1.0}

_PLY_TYPES = {
    'char': 'i1', 'int8': 'i1', 'uchar': 'u1', 'uint8': 'u1', 'short': 'i2', 'int16': 'i2',
    'ushort': 'u2', 'uint16': 'u2', 'int': 'i4', 'int32': 'i4', 'uint': 'u4', 'uint32': 'u4',
    'float': 'f4', 'float32': 'f4', 'double': 'f8', 'float64': 'f8'}
_PLY_ENDIAN = {'ascii': '<', 'binary_little_endian': '<', 'binary_big_endian': '>'}


class MeshError(ValueError):
    """Raised for a mesh file that cannot be read."""


@dataclass(frozen=True, eq=False)
class Mesh:
    """
    Triangle mesh in its model frame, in metres.

    vertices: (N, 3) float64 metres; faces: (F, 3) int64 vertex indices, counter-clockwise
    seen from outside (pybullet's TinyRenderer culls back faces); normals: (N, 3) float64
    unit vertex normals; uvs: (N, 2) float64 texture coordinates (OBJ convention: v = 0 is the
    bottom row of the texture) or None; texture: (h, w, 3) uint8 RGB or None; colours:
    (N, 3) uint8 RGB vertex colours or None.
    """

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    uvs: np.ndarray | None = None
    texture: np.ndarray | None = None
    colours: np.ndarray | None = None


def vertex_normals(vertices, faces):
    """Return (N, 3) area-weighted unit vertex normals of (N, 3) vertices and (F, 3) faces."""
    corners = vertices[faces]
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.zeros_like(vertices, dtype=np.float64)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_normals)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)


def unit_scale(vertices, unit):
    """Return the factor from file units to metres: unit is 'mm', 'm' or 'auto'."""
    if unit != 'auto':
        return UNIT_SCALES[unit]
    extent = float(np.ptp(vertices, axis=0).max())
    return UNIT_SCALES['mm'] if extent > AUTO_MM_EXTENT else UNIT_SCALES['m']


def fan_triangles(polygons):
    """Return (F * (k - 2), 3) triangles of (F, k) convex polygons (fan triangulation)."""
    k = polygons.shape[1]
    return np.concatenate([polygons[:, [0, i, i + 1]] for i in range(1, k - 1)])


def _ply_header(data, path):
    end = data.find(b'end_header')
    if not data.startswith(b'ply') or end < 0:
        raise MeshError(f'{path}: not a PLY file')
    body_start = data.index(b'\n', end) + 1
    fmt, elements = None, []
    for line in data[:end].decode('ascii', 'replace').splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == 'format':
            fmt = words[1]
        elif words[0] == 'element':
            elements.append((words[1], int(words[2]), []))
        elif words[0] == 'property' and words[1] == 'list':
            elements[-1][2].append((words[4], _PLY_TYPES[words[2]], _PLY_TYPES[words[3]]))
        elif words[0] == 'property':
            elements[-1][2].append((words[2], _PLY_TYPES[words[1]], None))
    if fmt not in _PLY_ENDIAN:
        raise MeshError(f'{path}: unsupported PLY format {fmt}')
    return fmt, elements, body_start


def _ply_binary_element(data, offset, count, properties, endian, path):
    """Read one binary element block whose list properties all have one length."""
    lists = [p for p in properties if p[2] is not None]
    length = 0
    if lists and count:
        length = int(np.frombuffer(data, endian + lists[0][1], 1, offset)[0])
    fields = []
    for name, first, second in properties:
        if second is None:
            fields.append((name, endian + first))
        else:
            fields += [(name + '_count', endian + first), (name, endian + second, (length,))]
    dtype = np.dtype(fields)
    if offset + count * dtype.itemsize > len(data):
        raise MeshError(f'{path}: truncated PLY data (or faces of different vertex counts)')
    block = np.frombuffer(data, dtype, count, offset)
    for name, _, second in properties:
        if second is not None and np.any(block[name + '_count'] != length):
            raise MeshError(f'{path}: faces with different vertex counts are not supported')
    return block, offset + count * dtype.itemsize


def _ply_ascii_element(lines, start, count, properties, path):
    """Read one ASCII element block of uniform rows; return {name: array}, next line."""
    rows = lines[start:start + count]
    table = np.array(b' '.join(rows).split(), dtype=np.float64)
    if count == 0:
        return {p[0]: np.zeros((0, 3)) for p in properties}, start
    if table.size % count:
        raise MeshError(f'{path}: faces with different vertex counts are not supported')
    table = table.reshape(count, -1)
    block, column = {}, 0
    for name, _, second in properties:
        if second is None:
            block[name] = table[:, column]
            column += 1
        else:
            length = int(table[0, column])
            if np.any(table[:, column] != length):
                raise MeshError(f'{path}: faces with different vertex counts are not supported')
            block[name] = table[:, column + 1:column + 1 + length].astype(np.int64)
            column += 1 + length
    return block, start + count


def read_ply(path):
    """
    Read a PLY triangle mesh (ASCII or binary) in its file units.

    Returns (vertices (N, 3) float64, faces (F, 3) int64, normals (N, 3) or None, colours
    (N, 3) uint8 or None). Polygons of one vertex count are fan-triangulated.
    """
    data = Path(path).read_bytes()
    fmt, elements, offset = _ply_header(data, path)
    blocks = {}
    lines = data[offset:].splitlines() if fmt == 'ascii' else None
    line = 0
    for name, count, properties in elements:
        if fmt == 'ascii':
            blocks[name], line = _ply_ascii_element(lines, line, count, properties, path)
        else:
            blocks[name], offset = _ply_binary_element(
                data, offset, count, properties, _PLY_ENDIAN[fmt], path)
    if 'vertex' not in blocks or 'face' not in blocks:
        raise MeshError(f'{path}: a PLY mesh needs vertex and face elements')
    vertex, face = blocks['vertex'], blocks['face']
    vertices = np.stack([np.asarray(vertex[k], np.float64) for k in 'xyz'], axis=1)
    index_name = 'vertex_indices' if 'vertex_indices' in _names(face) else 'vertex_index'
    faces = fan_triangles(np.asarray(face[index_name], np.int64))
    normals = colours = None
    if {'nx', 'ny', 'nz'} <= _names(vertex):
        normals = np.stack([np.asarray(vertex[k], np.float64) for k in ('nx', 'ny', 'nz')], 1)
    if {'red', 'green', 'blue'} <= _names(vertex):
        colours = np.stack([np.asarray(vertex[k]) for k in ('red', 'green', 'blue')], 1)
        colours = colours.astype(np.uint8)
    return vertices, faces, normals, colours


def _names(block):
    return set(block.dtype.names) if isinstance(block, np.ndarray) else set(block)


def _obj_texture(obj_path, mtl_name, material):
    """Return the RGB diffuse texture of `material` in the OBJ's .mtl file, or None."""
    mtl_path = obj_path.parent / mtl_name
    if not mtl_path.is_file():
        return None
    current = None
    for line in mtl_path.read_text(errors='replace').splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == 'newmtl':
            current = words[1]
        elif len(words) >= 2 and words[0] == 'map_Kd' and material in (None, current):
            image = cv2.imread(str(mtl_path.parent / words[-1]), cv2.IMREAD_COLOR)
            return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return None


def _obj_corners(polygons, counts):
    """
    Return (T, 3, 3) 0-based (v, vt, vn) indices of the fan triangles of OBJ polygons.

    polygons: lists of corner tokens 'v', 'v/vt', 'v//vn' or 'v/vt/vn'; counts: the numbers
    of v, vt and vn entries (negative OBJ indices count from the end); -1 = absent.
    """
    sizes = np.array([len(p) for p in polygons])
    fields = np.array([(t + '//').split('/')[:3] for p in polygons for t in p])
    fields[fields == ''] = '0'
    index = fields.astype(np.int64)
    index = np.where(index > 0, index - 1, np.where(index < 0, index + np.array(counts), -1))
    fans = sizes - 2
    polygon = np.repeat(np.arange(len(sizes)), fans)
    step = np.arange(fans.sum()) - np.repeat(np.cumsum(fans) - fans, fans) + 1
    first = (np.cumsum(sizes) - sizes)[polygon]
    return index[np.stack([first, first + step, first + step + 1], axis=1)]


def read_obj(path):
    """
    Read a Wavefront OBJ mesh in its file units.

    Every distinct (position, uv, normal) corner becomes one vertex; polygons are
    fan-triangulated. Returns (vertices (N, 3) float64, faces (F, 3) int64, normals (N, 3) or
    None, uvs (N, 2) or None, texture (h, w, 3) uint8 RGB of the first material or None).
    """
    path = Path(path)
    rows = {'v': [], 'vt': [], 'vn': [], 'f': [], 'mtllib': [], 'usemtl': []}
    for line in path.read_text(errors='replace').splitlines():
        words = line.split()
        if words and words[0] in rows:
            rows[words[0]].append(words[1:])
    if not rows['v'] or not rows['f']:
        raise MeshError(f'{path}: an OBJ mesh needs vertices and faces')
    positions = np.array([r[:3] for r in rows['v']], np.float64)
    uvs = np.array([r[:2] for r in rows['vt']], np.float64).reshape(-1, 2)
    normals = np.array([r[:3] for r in rows['vn']], np.float64).reshape(-1, 3)
    triangles = _obj_corners(rows['f'], (len(positions), len(uvs), len(normals)))
    corners, inverse = np.unique(triangles.reshape(-1, 3), axis=0, return_inverse=True)
    vertices = positions[corners[:, 0]]
    faces = inverse.reshape(-1, 3).astype(np.int64)
    vertex_uvs = uvs[corners[:, 1]] if len(uvs) and np.all(corners[:, 1] >= 0) else None
    corner_normals = normals[corners[:, 2]] if len(normals) and np.all(corners[:, 2] >= 0) \
        else None
    texture = None
    if rows['mtllib'] and vertex_uvs is not None:
        material = rows['usemtl'][0][0] if rows['usemtl'] else None
        texture = _obj_texture(path, rows['mtllib'][0][0], material)
    return vertices, faces, corner_normals, vertex_uvs, texture


def load_mesh(path, unit='auto', scale=None):
    """
    Load a PLY or OBJ file as a :class:`Mesh` in metres.

    unit: 'mm', 'm' or 'auto' (see the module docstring); scale, when given, replaces the
    unit's factor (file units to metres, e.g. a URDF's mesh scale). Returns (mesh, factor).
    """
    path = Path(path)
    uvs = texture = colours = None
    if path.suffix.lower() == '.ply':
        vertices, faces, normals, colours = read_ply(path)
    elif path.suffix.lower() == '.obj':
        vertices, faces, normals, uvs, texture = read_obj(path)
    else:
        raise MeshError(f'{path}: meshes must be .ply or .obj files')
    factor = float(scale) if scale is not None else unit_scale(vertices, unit)
    vertices = vertices * factor
    if normals is None:
        normals = vertex_normals(vertices, faces)
    return Mesh(vertices, faces, normals, uvs, texture, colours), factor


def surface_points(mesh, count, rng):
    """
    Return (count, 3) points drawn uniformly over a mesh's surface (area-weighted), metres.

    rng: a numpy Generator.  Unlike the vertices, these cover a coarse mesh's faces too (a
    box of 8 corners), which point-to-point ICP needs.
    """
    corners = mesh.vertices[mesh.faces]                                   # (F, 3, 3)
    areas = 0.5 * np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0],
                                          corners[:, 2] - corners[:, 0]), axis=1)
    faces = rng.choice(len(areas), count, p=areas / areas.sum())
    u, v = rng.random((2, count))
    flip = u + v > 1.0
    u, v = np.where(flip, 1.0 - u, u), np.where(flip, 1.0 - v, v)
    a, b, c = (corners[faces, k] for k in range(3))
    return a + u[:, None] * (b - a) + v[:, None] * (c - a)


def diameter(vertices):
    """Return the largest distance between two (N, 3) vertices (via their convex hull)."""
    hull = ConvexHull(vertices)
    return float(pdist(vertices[hull.vertices]).max())
