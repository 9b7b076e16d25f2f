"""
Rendering a :class:`~training.synth.scene.Scene` with pybullet's TinyRenderer on the CPU.

Every mesh is drawn as a pybullet GEOM_MESH visual shape made from its own vertices, so what is
rendered is exactly the model of the ground truth. TinyRenderer has no vertex colours: meshes
with them are drawn through a per-face colour atlas (:func:`meshes.face_colour_atlas`);
meshes over pybullet's 131072 vertices per shape are drawn as several bodies.

Speed: creating a body copies its mesh (about 7 ms per 35k vertices), so bodies of meshes that
recur (cache_key) are kept between frames and parked when unused: alpha 0 (TinyRenderer skips
such objects) and far below the floor (out of the shadow pass's view). Per-frame meshes (room,
table) and random textures are created anew; the whole simulation is reset every
`reset_interval` frames to free them.

Determinism: a frame's pixels depend only on its scene, not on what a worker rendered before
(the tests render frames in different orders and processes). Two TinyRenderer details would
otherwise leak history into the pixels: it normalises stored vertex normals in place, in
float32, each time it draws them, which flips some normals between two roundings (hence
:func:`stable_normals`); and its drawing order decides between coincident surfaces (hence the
creation and removal order in :meth:`Renderer.render`).
"""

from dataclasses import dataclass, replace
import os
from pathlib import Path

import cv2
import numpy as np
import pybullet
from scipy.spatial.transform import Rotation

from rgbd_perception.geometry.meshes import Mesh
from training.synth.camera import metric_depth, projection_matrix, view_matrix
from training.synth.mesh_tools import face_colour_atlas

MAX_SHAPE_VERTICES = 131072
PARKED_POSITION = (0.0, 0.0, -1000.0)
HIDDEN = (1.0, 1.0, 1.0, 0.0)


@dataclass(frozen=True, eq=False)
class RenderedFrame:
    """
    TinyRenderer output of one scene (H x W).

    rgb: (H, W, 3) uint8; depth: (H, W) float32 optical-frame z in metres, 0 where nothing was
    hit; labels: (H, W) int32 index into scene.bodies of the visible body, -1 for none.
    """

    rgb: np.ndarray
    depth: np.ndarray
    labels: np.ndarray


def _tiny_squared_norm(normals):
    """Return x*x + y*y + z*z of (N, 3) float32 normals, summed in TinyRenderer's order."""
    x, y, z = normals[:, 0], normals[:, 1], normals[:, 2]
    return (x * x + y * y) + z * z


def stable_normals(normals, reach=2):
    """
    Return (N, 3) float32 unit normals that TinyRenderer's normalisation leaves unchanged.

    TinyRenderer normalises its stored vertex normals in place (float32) every time it reads
    them, and for some normals that rounds back and forth between two values, so a body's
    shading would depend on how often it had been rendered. A normal whose float32 squared
    norm is 1 or 1 + 2^-23 has a float32 norm of exactly 1 and never changes: each normal is
    moved by at most `reach` units in the last place per component to such a value (the
    smallest move first; none was ever missing one in the catalogue's meshes, and a normal
    without one stays rounded to float32). Zero normals become (0, 0, 1).
    """
    normals = np.asarray(normals, np.float64)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    unit = np.where(length > 0, normals / np.where(length > 0, length, 1.0), [0.0, 0.0, 1.0])
    start = unit.astype(np.float32)
    bits = start.view(np.int32)
    steps = np.arange(-reach, reach + 1)
    moves = np.stack(np.meshgrid(steps, steps, steps, indexing='ij'), -1).reshape(-1, 3)
    moves = moves[np.argsort(np.abs(moves).sum(axis=1), kind='stable')]
    result, done = start.copy(), np.zeros(len(start), bool)
    exact = np.array([1.0, 1.0 + 2.0 ** -23], np.float32)
    for move in moves:
        # +k on the bit pattern of a non-zero float moves its magnitude k units up.
        candidate = (bits + np.where(start != 0, move, 0).astype(np.int32)).view(np.float32)
        hit = ~done & np.isin(_tiny_squared_norm(candidate), exact)
        result[hit] = candidate[hit]
        done |= hit
        if done.all():
            break
    return result


def renderable_parts(mesh):
    """
    Return the meshes that TinyRenderer draws for `mesh`: atlas-textured, split by size.

    A vertex-coloured mesh without uvs becomes a per-face colour atlas; normals become
    :func:`stable_normals`; the faces are then split into consecutive groups of at most
    :data:`MAX_SHAPE_VERTICES` distinct vertices.
    """
    if mesh.colours is not None and mesh.uvs is None:
        mesh = face_colour_atlas(mesh)
    mesh = replace(mesh, normals=stable_normals(mesh.normals))
    if len(mesh.vertices) <= MAX_SHAPE_VERTICES:
        return [mesh]
    parts = []
    for faces in np.array_split(mesh.faces, -(-3 * len(mesh.faces) // MAX_SHAPE_VERTICES)):
        used, local = np.unique(faces, return_inverse=True)
        parts.append(Mesh(mesh.vertices[used], local.reshape(-1, 3), mesh.normals[used],
                          None if mesh.uvs is None else mesh.uvs[used], mesh.texture))
    return parts


class Renderer:
    """
    One pybullet DIRECT connection drawing scenes at a fixed image size and K.

    width, height: pixels; k: (3, 3) intrinsics; near, far: clipping planes (m);
    texture_dir: a writable folder for texture files (pybullet loads textures from files; made
    when missing, as on the other machines of a Ray cluster);
    reset_interval: frames between simulation resets (which free per-frame shapes, textures).
    """

    def __init__(self, width, height, k, near, far, texture_dir, reset_interval=200):
        """Connect to pybullet (DIRECT: no GUI, one physics server per Renderer)."""
        self.width, self.height = width, height
        self.near, self.far = near, far
        self._projection = projection_matrix(k, width, height, near, far)
        self._texture_dir = Path(texture_dir)
        self._texture_dir.mkdir(parents=True, exist_ok=True)
        self._reset_interval = reset_interval
        self._client = pybullet.connect(pybullet.DIRECT)
        self._files = 0
        self._reset()

    def _reset(self):
        pybullet.resetSimulation(physicsClientId=self._client)
        self._frames = 0
        self._pools = {}  # cache_key -> instances, each a list of (body id, own texture id)
        self._shapes = {}  # cache_key -> [(visual shape id, own texture id)] of the parts

    def close(self):
        """Disconnect from pybullet."""
        pybullet.disconnect(physicsClientId=self._client)

    def _load_texture(self, image):
        path = self._texture_dir / f'texture_{os.getpid()}_{self._files}.png'
        self._files += 1
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        texture = pybullet.loadTexture(str(path), physicsClientId=self._client)
        path.unlink()
        return texture

    def _create_shapes(self, mesh):
        """Return [(visual shape id, texture id or -1)] of the renderable parts of a mesh."""
        shapes = []
        for part in renderable_parts(mesh):
            uvs = part.uvs if part.uvs is not None else np.zeros((len(part.vertices), 2))
            shape = pybullet.createVisualShape(
                pybullet.GEOM_MESH, vertices=part.vertices.tolist(),
                indices=part.faces.reshape(-1).tolist(),
                normals=part.normals.astype(np.float64).tolist(), uvs=uvs.tolist(),
                physicsClientId=self._client)
            texture = -1 if part.texture is None else self._load_texture(part.texture)
            shapes.append((shape, texture))
        return shapes

    def _create_bodies(self, shapes):
        """Return [(body id, own texture id)]: one body per part, parked."""
        return [(pybullet.createMultiBody(baseVisualShapeIndex=shape,
                                          basePosition=PARKED_POSITION,
                                          physicsClientId=self._client), texture)
                for shape, texture in shapes]

    def _pooled(self, body, uses):
        """Return the parts of a kept body for `body` (its next unused instance this frame)."""
        if body.cache_key not in self._shapes:
            self._shapes[body.cache_key] = self._create_shapes(body.mesh)
            self._pools[body.cache_key] = []
        pool = self._pools[body.cache_key]
        instance = uses.get(body.cache_key, 0)
        uses[body.cache_key] = instance + 1
        if instance == len(pool):
            pool.append(self._create_bodies(self._shapes[body.cache_key]))
        return pool[instance]

    def _show(self, body, parts):
        quaternion = Rotation.from_matrix(body.rotation).as_quat().tolist()  # x, y, z, w
        texture = self._load_texture(body.texture) if body.texture is not None else None
        for part, own_texture in parts:
            pybullet.resetBasePositionAndOrientation(part, body.translation.tolist(), quaternion,
                                                     physicsClientId=self._client)
            pybullet.changeVisualShape(part, -1, rgbaColor=list(body.rgba),
                                       textureUniqueId=own_texture if texture is None else texture,
                                       physicsClientId=self._client)

    def _camera_image(self, scene):
        light = scene.lighting
        return pybullet.getCameraImage(
            self.width, self.height, view_matrix(scene.rotation_w2c, scene.translation_w2c),
            self._projection, lightDirection=list(light.direction),
            lightColor=list(light.colour), lightDistance=light.distance,
            shadow=int(light.shadow), lightAmbientCoeff=light.ambient,
            lightDiffuseCoeff=light.diffuse, lightSpecularCoeff=light.specular,
            renderer=pybullet.ER_TINY_RENDERER, physicsClientId=self._client)[2:]

    def render(self, scene):
        """
        Return the :class:`RenderedFrame` of a scene.

        Kept bodies are all created before this frame's own bodies, and those are removed in
        reverse order, so pybullet's list of render instances (its drawing order) only ever
        grows or shrinks at its end: the kept bodies, and the parts of a split mesh, stay in
        their order of creation.
        """
        if self._frames >= self._reset_interval:
            self._reset()
        self._frames += 1
        uses = {}
        parts = [self._pooled(b, uses) if b.cache_key is not None else None
                 for b in scene.bodies]
        temporary = []
        for index, body in enumerate(scene.bodies):
            if parts[index] is None:
                parts[index] = self._create_bodies(self._create_shapes(body.mesh))
                temporary.extend(b for b, _ in parts[index])
        lookup = np.full(2 + max((b for p in parts for b, _ in p), default=-1), -1, np.int32)
        for index, (body, body_parts) in enumerate(zip(scene.bodies, parts)):
            self._show(body, body_parts)
            lookup[[b for b, _ in body_parts]] = index
        rgba, depth_buffer, segmentation = self._camera_image(scene)
        for body_id in reversed(temporary):
            pybullet.removeBody(body_id, physicsClientId=self._client)
        for body_id in {b for p in parts for b, _ in p} - set(temporary):
            pybullet.resetBasePositionAndOrientation(body_id, PARKED_POSITION, (0, 0, 0, 1),
                                                     physicsClientId=self._client)
            pybullet.changeVisualShape(body_id, -1, rgbaColor=HIDDEN,
                                       physicsClientId=self._client)
        segmentation = np.asarray(segmentation, np.int64).reshape(self.height, self.width)
        labels = lookup[np.where(segmentation >= 0, segmentation, -1)]
        rgb = np.asarray(rgba, np.uint8).reshape(self.height, self.width, 4)[..., :3]
        depth = metric_depth(np.reshape(depth_buffer, (self.height, self.width)),
                             self.near, self.far)
        return RenderedFrame(np.ascontiguousarray(rgb), depth, labels)
