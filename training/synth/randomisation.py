"""
Domain randomisation levels of the synthetic world: 'none', 'low', 'medium', 'high'.

'none' is the default world of :mod:`training.synth.scene`, drawn exactly as it always was.
The other levels (:data:`LEVELS`) add, drawing from a generator of their own so that the
scene's layout (room, table, objects, camera) stays the one of level 'none':

* more distractors on the table: pybullet_data meshes and :data:`PRIMITIVE_DISTRACTORS`
  (placed by :mod:`training.synth.scene`);
* new materials for every surface without its own appearance (:func:`vary_appearance`): a
  random texture (meshes without texture coordinates get planar ones) or a random colour,
  and random collages (:func:`textures.random_collage`) as backgrounds on the room's and the
  furniture's large surfaces; objects with their own texture or vertex colours keep them;
* a new light: direction, colour temperature and TinyRenderer's coefficients from wider
  ranges (:func:`vary_lighting`; shadows stay as drawn);
* camera effects on the colour image (:class:`training.synth.photometric.CameraEffects`),
  applied after rendering by :mod:`training.synth.generate`.
"""

from dataclasses import dataclass, replace
import functools
import math

import numpy as np

from training.synth.mesh_tools import planar_uvs
from training.synth.photometric import CameraEffects
from training.synth.shapes import box_mesh, cylinder_mesh, sphere_mesh
from training.synth.textures import random_collage, random_colour, random_texture, WHITE

#: Bodies whose largest side exceeds this (m) count as background surfaces (room, furniture).
BACKGROUND_EXTENT = 1.0

#: Unannotated shapes the levels add to the table (metres; drawn like pybullet_data ones).
PRIMITIVE_DISTRACTORS = (
    box_mesh((0.04, 0.04, 0.04)), box_mesh((0.15, 0.06, 0.03)), box_mesh((0.08, 0.08, 0.2)),
    cylinder_mesh(0.02, 0.15), cylinder_mesh(0.05, 0.05), cylinder_mesh(0.04, 0.2),
    sphere_mesh(0.025), sphere_mesh(0.05),
)


@dataclass(frozen=True)
class Randomisation:
    """
    What a randomisation level changes; see the module docstring.

    extra_distractors: most distractors added on the table; texture_probability: share of
    surfaces (without their own appearance) given a random texture, the others a random
    colour; background_probability: share of background surfaces (room, furniture) given a
    collage instead; elevation_deg, ambient, diffuse, specular: (low, high) ranges of the
    light; warmth: largest shift of the light colour towards warm (red) or cool (blue);
    camera: the colour image's camera effects.
    """

    extra_distractors: int
    texture_probability: float
    background_probability: float
    elevation_deg: tuple
    ambient: tuple
    diffuse: tuple
    specular: tuple
    warmth: float
    camera: CameraEffects


#: Randomisation of each level; None: the default world.
LEVELS = {
    'none': None,
    'low': Randomisation(
        2, 0.5, 0.3, (20.0, 90.0), (0.25, 0.75), (0.25, 0.75), (0.0, 0.6), 0.1,
        CameraEffects(exposure=0.3, white_balance=0.05, blur=0.2, blur_sigma=0.8, motion=0.1,
                      motion_length=3.0, shot_noise=0.01, read_noise=0.003, gamma=0.1,
                      contrast=0.1, saturation=0.1, jpeg=0.3, jpeg_quality=(70, 95))),
    'medium': Randomisation(
        4, 0.75, 0.6, (10.0, 90.0), (0.15, 0.85), (0.2, 0.9), (0.0, 0.8), 0.2,
        CameraEffects(exposure=0.6, white_balance=0.1, blur=0.3, blur_sigma=1.2, motion=0.2,
                      motion_length=5.0, shot_noise=0.02, read_noise=0.006, gamma=0.2,
                      contrast=0.2, saturation=0.25, jpeg=0.5, jpeg_quality=(50, 95))),
    'high': Randomisation(
        8, 1.0, 1.0, (5.0, 90.0), (0.05, 0.95), (0.1, 1.0), (0.0, 1.0), 0.3,
        CameraEffects(exposure=1.0, white_balance=0.2, blur=0.5, blur_sigma=2.0, motion=0.3,
                      motion_length=9.0, shot_noise=0.04, read_noise=0.01, gamma=0.3,
                      contrast=0.3, saturation=0.5, jpeg=0.7, jpeg_quality=(30, 90))),
}


@functools.lru_cache(maxsize=None)
def _with_uvs(mesh):
    """Return the mesh with planar uvs (a texture once across its largest side); cached."""
    return planar_uvs(mesh, float(np.ptp(mesh.vertices, axis=0).max()))


def _material(body, randomisation, rng):
    """Return the body with a random material (its own appearance kept), see the docstring."""
    mesh = body.mesh
    if mesh.texture is not None or mesh.colours is not None:
        return body
    background = np.ptp(mesh.vertices, axis=0).max() > BACKGROUND_EXTENT
    if background and rng.random() < randomisation.background_probability:
        texture = random_collage(rng)
    elif rng.random() < randomisation.texture_probability:
        texture = random_texture(rng)
    else:
        return replace(body, rgba=(*random_colour(rng), 1.0), texture=None)
    if mesh.uvs is None:
        key = body.cache_key and f'{body.cache_key}:uvs'
        return replace(body, mesh=_with_uvs(mesh), rgba=WHITE, texture=texture, cache_key=key)
    return replace(body, rgba=WHITE, texture=texture)


def vary_lighting(lighting, randomisation, rng):
    """Return the lighting with a new direction, colour and coefficients (same shadow flag)."""
    elevation = math.radians(rng.uniform(*randomisation.elevation_deg))
    azimuth = rng.uniform(0.0, 2.0 * np.pi)
    direction = (math.cos(elevation) * math.cos(azimuth),
                 math.cos(elevation) * math.sin(azimuth), math.sin(elevation))
    warmth = rng.uniform(-randomisation.warmth, randomisation.warmth)
    colour = np.clip(1.0 + warmth * np.array([1.0, 0.0, -1.0])
                     + rng.normal(0.0, randomisation.warmth / 4, 3), 0.4, None)
    return replace(lighting, direction=direction, colour=tuple(colour / colour.max()),
                   ambient=float(rng.uniform(*randomisation.ambient)),
                   diffuse=float(rng.uniform(*randomisation.diffuse)),
                   specular=float(rng.uniform(*randomisation.specular)))


def vary_appearance(scene, randomisation, rng):
    """
    Return the scene with new materials on every body and a new light (same geometry).

    Poses, meshes' vertices and faces, glossy flags and ground-truth ids stay as they were.
    """
    bodies = tuple(_material(body, randomisation, rng) for body in scene.bodies)
    return replace(scene, bodies=bodies,
                   lighting=vary_lighting(scene.lighting, randomisation, rng))
