"""
Mesh helpers only the synthetic world needs (meshes in metres, rgbd_perception.geometry.meshes).

Moving a mesh, texture coordinates for a mesh without them, a vertex-colour atlas for
TinyRenderer, and PLY output of the BOP models folder.
"""

from dataclasses import replace
from pathlib import Path

import numpy as np

from rgbd_perception.geometry.meshes import Mesh


def translated(mesh, offset):
    """Return the mesh with every vertex moved by the (3,) offset in metres."""
    return replace(mesh, vertices=mesh.vertices + np.asarray(offset, np.float64))


def planar_uvs(mesh, tile):
    """
    Return the mesh with texture coordinates projected along each vertex's main normal axis.

    A vertex whose normal is mostly along axis a gets the two other coordinates divided by
    tile (metres), so a texture repeats every tile metres on the faces facing that axis (faces
    between axes are stretched). Vertices, faces and normals are unchanged.
    """
    axis = np.argmax(np.abs(mesh.normals), axis=1)
    others = np.array([[1, 2], [0, 2], [0, 1]])[axis]
    uvs = np.take_along_axis(mesh.vertices, others, axis=1) / tile
    return replace(mesh, uvs=uvs)


def face_colour_atlas(mesh):
    """
    Return a textured copy of a vertex-coloured mesh that TinyRenderer can draw.

    TinyRenderer has no vertex colours, so every face gets the mean colour of its three
    vertices as one texel of a square atlas, and its three corners become vertices of their
    own whose uv is that texel's centre (so the whole face samples the one texel). Normals stay
    smooth. The result has 3F vertices.
    """
    faces = mesh.faces
    side = int(np.ceil(np.sqrt(len(faces))))
    face_colours = mesh.colours[faces].astype(np.float64).mean(axis=1)
    atlas = np.zeros((side * side, 3), np.uint8)
    atlas[:len(faces)] = np.round(face_colours).astype(np.uint8)
    index = np.arange(len(faces))
    texel_uv = np.stack([(index % side + 0.5) / side, 1.0 - (index // side + 0.5) / side], 1)
    corners = faces.reshape(-1)
    return Mesh(vertices=mesh.vertices[corners],
                faces=np.arange(3 * len(faces), dtype=np.int64).reshape(-1, 3),
                normals=mesh.normals[corners], uvs=np.repeat(texel_uv, 3, axis=0),
                texture=atlas.reshape(side, side, 3))


def write_ply(path, mesh, scale=1000.0):
    """
    Write a binary little-endian PLY: vertices and normals (x scale, default metres to mm).

    Vertex colours are written when the mesh has them; uvs and textures are not.
    """
    fields = [(k, '<f4') for k in ('x', 'y', 'z', 'nx', 'ny', 'nz')]
    if mesh.colours is not None:
        fields += [(k, 'u1') for k in ('red', 'green', 'blue')]
    vertex = np.zeros(len(mesh.vertices), np.dtype(fields))
    for k, column in zip('xyz', (mesh.vertices * scale).T):
        vertex[k] = column
    for k, column in zip(('nx', 'ny', 'nz'), mesh.normals.T):
        vertex[k] = column
    if mesh.colours is not None:
        for k, column in zip(('red', 'green', 'blue'), mesh.colours.T):
            vertex[k] = column
    face = np.zeros(len(mesh.faces), np.dtype([('n', 'u1'), ('i', '<i4', (3,))]))
    face['n'] = 3
    face['i'] = mesh.faces
    header = ['ply', 'format binary_little_endian 1.0', f'element vertex {len(vertex)}']
    header += [f"property {'float' if t == '<f4' else 'uchar'} {k}" for k, t in fields]
    header += [f'element face {len(face)}', 'property list uchar int vertex_indices',
               'end_header']
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'wb') as stream:
        stream.write(('\n'.join(header) + '\n').encode('ascii'))
        stream.write(vertex.tobytes())
        stream.write(face.tobytes())
