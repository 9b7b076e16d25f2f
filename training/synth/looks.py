"""
The Cycles-only appearance of a scene: materials, lights, sky and camera exposure (a Look).

TinyRenderer ignores a scene's look; the Cycles renderer (:mod:`training.synth.cycles`) draws
with it. A :class:`Look` is plain data drawn by :func:`sample_look` from a Generator of its
own (generate.py uses ``Generator([seed, index, 1])``), so adding it leaves the frame's
TinyRenderer random stream, and so its TinyRenderer images, unchanged.

Materials: a catalogue object with vertex colours or a texture keeps them ('own'); a body
with a random image texture (:mod:`training.synth.textures`) may keep it ('image');
everything else gets a procedural family built from Blender's texture nodes (wood, stone,
fabric, metal, plastic). A glossy body (the sensor model's specular holes) gets a low
roughness. Lights: indoor (ceiling panels, bulbs and a key light along the scene's
TinyRenderer light direction) or daylight (the ceiling lets sky and sun in, the sun along
that direction, sometimes one panel). Colours of lights are black-body temperatures (K).
Camera: exposure and white balance of the radiance, then mild blur and sensor noise.
World frame as in :mod:`training.synth.scene`: metres, +z up.
"""

from dataclasses import dataclass

import numpy as np

from training.synth.photometric import CameraEffects
from training.synth.textures import random_colour

#: Procedural material families (besides 'own' and 'image').
FAMILIES = ('wood', 'stone', 'fabric', 'metal', 'plastic')
#: Family weights of scenery (room, table, furniture, boards) and of distractors.
SCENERY_WEIGHTS = (0.3, 0.2, 0.2, 0.1, 0.2)
DISTRACTOR_WEIGHTS = (0.15, 0.05, 0.1, 0.2, 0.5)
DAYLIGHT_PROBABILITY = 0.35
#: The Cycles camera's blur and sensor noise (exposure and white balance act on the radiance:
#: :mod:`training.synth.exposure`); --randomisation's camera effects come on top.
CAMERA = CameraEffects(blur=0.3, blur_sigma=1.0, motion=0.1, motion_length=3.0,
                       shot_noise=0.015, read_noise=0.004)


@dataclass(frozen=True)
class Material:
    """
    A Principled BSDF material of one body.

    family: 'own', 'image' or one of :data:`FAMILIES`; colours: two sRGB display colours
    (3,) in [0, 1] that the pattern mixes (the body's rgba multiplies 'own' and 'image');
    roughness, metallic: Principled BSDF values in [0, 1]; scale: pattern cycles per metre;
    detail: pattern distortion (>= 0); offset: (3,) metres added to the pattern coordinates;
    bump: bump-map strength in [0, 1].
    """

    family: str
    colours: tuple
    roughness: float
    metallic: float = 0.0
    scale: float = 1.0
    detail: float = 0.0
    offset: tuple = (0.0, 0.0, 0.0)
    bump: float = 0.0


@dataclass(frozen=True)
class Light:
    """
    One Blender light.

    kind: 'AREA' (a square of side `size` m), 'POINT' (a sphere of radius `size` m) or 'SUN'
    (angular diameter `size` rad); position: (3,) m (unused by a sun); direction: (3,) unit
    vector along which it shines; power: W (sun: W / m^2); temperature: black-body K.
    """

    kind: str
    position: tuple
    direction: tuple
    size: float
    power: float
    temperature: float


@dataclass(frozen=True)
class Sky:
    """
    Blender's Hosek / Wilkie sky (world light), or a uniform grey world when turbidity is 0.

    strength: world light multiplier; sun_direction: (3,) unit vector towards the sky's sun
    (whose disc a SUN :class:`Light` draws instead); turbidity: haze (2 clear - 10 hazy);
    ground_albedo: in [0, 1].
    """

    strength: float
    sun_direction: tuple = (0.0, 0.0, 1.0)
    turbidity: float = 0.0
    ground_albedo: float = 0.0


@dataclass(frozen=True)
class Exposure:
    """
    The camera's response to the rendered radiance (linear Rec. 709 light).

    stops: log2 of the exposure relative to auto-exposure (mean luminance to 0.18);
    white_balance: share in [0, 1] of the grey-world correction the camera applies;
    tint: (3,) gains of the remaining white-balance error.
    """

    stops: float = 0.0
    white_balance: float = 1.0
    tint: tuple = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class Look:
    """
    The Cycles appearance of a scene.

    materials: one :class:`Material` per scene body (same order); lights: :class:`Light`
    tuple; sky: :class:`Sky`; skylight: indices of bodies that only the camera sees (an open
    ceiling: light passes through it); exposure: :class:`Exposure`; seed: Cycles' sampling
    seed, and the seed of the camera effects' Generator; camera: the
    :class:`~training.synth.photometric.CameraEffects` (blur, noise) of the developed image.
    """

    materials: tuple
    lights: tuple
    sky: Sky
    skylight: tuple
    exposure: Exposure
    seed: int
    camera: CameraEffects = CAMERA


def _unit(vector):
    vector = np.asarray(vector, np.float64)
    return vector / np.linalg.norm(vector)


def _variant(rng, colour, spread):
    """Return a colour near `colour`: value and each channel moved by up to `spread`."""
    scaled = np.asarray(colour) * rng.uniform(1.0 - spread, 1.0 + spread)
    return tuple(np.clip(scaled + rng.uniform(-spread, spread, 3) * 0.3, 0.0, 1.0))


def _family_colours(rng, family, rgba):
    """
    Return the two display colours of a procedural family.

    Wood: browns; stone: near greys; metal: light, slightly tinted; fabric and plastic: the
    body's rgba. The second colour is a darker variant of the first.
    """
    base = np.asarray(rgba[:3], np.float64)
    if family == 'wood':
        value = rng.uniform(0.2, 0.8)
        base = value * np.array([1.0, rng.uniform(0.55, 0.8), rng.uniform(0.3, 0.55)])
    elif family == 'stone':
        base = np.full(3, rng.uniform(0.25, 0.85)) * (1.0 + rng.uniform(-0.08, 0.08, 3))
    elif family == 'metal':
        base = random_colour(rng, (0.0, 0.35), (0.55, 1.0))
    second = _variant(rng, np.clip(base, 0.0, 1.0) * rng.uniform(0.4, 0.8), 0.15)
    return tuple(np.clip(base, 0.0, 1.0)), second


def _procedural(rng, family, body):
    """Return a random :class:`Material` of a procedural family for a body."""
    roughness = {'wood': (0.35, 0.8), 'stone': (0.55, 0.95), 'fabric': (0.75, 1.0),
                 'metal': (0.1, 0.5), 'plastic': (0.15, 0.6)}[family]
    scale = {'wood': (1.0, 6.0), 'stone': (2.0, 15.0), 'fabric': (40.0, 200.0),
             'metal': (5.0, 40.0), 'plastic': (2.0, 10.0)}[family]
    rough = rng.uniform(*roughness)
    if body.glossy:
        rough = rng.uniform(0.02, 0.2)
    return Material(family, _family_colours(rng, family, body.rgba), float(rough),
                    1.0 if family == 'metal' else 0.0, float(rng.uniform(*scale)),
                    float(rng.uniform(0.5, 6.0)), tuple(rng.uniform(-50.0, 50.0, 3)),
                    float(rng.uniform(0.0, 0.6)))


def _material(rng, body):
    """Return a random :class:`Material` for one body (module docstring: which family)."""
    white = (1.0, 1.0, 1.0)
    own = body.texture is None and (body.mesh.colours is not None or
                                    body.mesh.texture is not None)
    if body.obj_id is not None and own:
        rough = rng.uniform(0.02, 0.25) if body.glossy else rng.uniform(0.3, 0.8)
        return Material('own', (white, white), float(rough))
    if body.texture is not None and (body.obj_id is not None or rng.random() < 0.5):
        rough = rng.uniform(0.02, 0.25) if body.glossy else rng.uniform(0.3, 0.9)
        return Material('image', (white, white), float(rough))
    if body.obj_id is not None:
        family = 'metal' if body.glossy and rng.random() < 0.5 else 'plastic'
    elif body.cache_key is not None:  # distractors: the scene's only other kept meshes
        family = FAMILIES[rng.choice(len(FAMILIES), p=DISTRACTOR_WEIGHTS)]
    else:
        family = FAMILIES[rng.choice(len(FAMILIES), p=SCENERY_WEIGHTS)]
    return _procedural(rng, family, body)


def _world_points(body):
    return body.mesh.vertices @ body.rotation.T + body.translation


def _bounds(scene):
    """Return ((3,) low, (3,) high) corners of the world box around every body, >= 1 m wide."""
    points = np.concatenate([_world_points(b) for b in scene.bodies])
    low = points.min(axis=0)
    return low, np.maximum(points.max(axis=0), low + 1.0)


def _ceiling(scene):
    """
    Return the index of the scene's ceiling, or None.

    The ceiling is the body whose lowest point is highest, if that lies above every other
    body's highest point (scene.py's rooms: floor, walls and furniture start at 0).
    """
    lows = [_world_points(b)[:, 2].min() for b in scene.bodies]
    top = int(np.argmax(lows))
    others = [_world_points(b)[:, 2].max() for i, b in enumerate(scene.bodies) if i != top]
    return top if others and lows[top] >= max(others) - 1e-6 else None


def _focus(scene):
    """Return the (3,) world point the scene is about: its objects' centre, else 1 m ahead."""
    annotated = scene.annotated()
    if annotated:
        return np.mean([scene.bodies[i].translation for i in annotated], axis=0)
    eye = -scene.rotation_w2c.T @ scene.translation_w2c
    return eye + scene.rotation_w2c[2]


def _inside(point, low, high, margin=0.1):
    return np.clip(point, low + margin, high - margin)


def _temperature(rng, daylight=False):
    return float(rng.uniform(4500.0, 7500.0) if daylight else rng.uniform(2700.0, 6500.0))


def _panels(rng, count, low, high, ceiling_z, power):
    """Return `count` square AREA lights just below z = ceiling_z, shining down."""
    lights = []
    for _ in range(count):
        xy = rng.uniform(low[:2] + 0.3, np.maximum(high[:2] - 0.3, low[:2] + 0.31))
        lights.append(Light('AREA', (float(xy[0]), float(xy[1]), float(ceiling_z - 0.02)),
                            (0.0, 0.0, -1.0), float(rng.uniform(0.2, 1.2)),
                            float(rng.uniform(*power)), _temperature(rng)))
    return lights


def _indoor_lights(rng, scene, low, high, ceiling_z):
    """Return ceiling panels, bulbs and a key light towards the scene's light direction."""
    lights = _panels(rng, int(rng.integers(1, 4)), low, high, ceiling_z, (30.0, 400.0))
    for _ in range(int(rng.integers(0, 3))):
        position = rng.uniform(low + 0.2, np.maximum(high - 0.2, low + 0.21))
        position[2] = rng.uniform(0.5 * (low[2] + high[2]), high[2] - 0.2)
        lights.append(Light('POINT', tuple(position), (0.0, 0.0, -1.0),
                            float(rng.uniform(0.01, 0.15)), float(rng.uniform(10.0, 150.0)),
                            _temperature(rng)))
    focus = _focus(scene)
    direction = _unit(scene.lighting.direction)
    position = _inside(focus + direction * scene.lighting.distance, low, high)
    kind = 'AREA' if rng.random() < 0.5 else 'POINT'
    size = rng.uniform(0.1, 0.8) if kind == 'AREA' else rng.uniform(0.005, 0.1)
    lights.append(Light(kind, tuple(position), tuple(_unit(focus - position)), float(size),
                        float(rng.uniform(20.0, 300.0)), _temperature(rng)))
    return lights


def sample_look(rng, scene):
    """
    Return a random :class:`Look` of a :class:`~training.synth.scene.Scene`.

    rng: numpy Generator (only this function draws from it).
    """
    materials = tuple(_material(rng, body) for body in scene.bodies)
    low, high = _bounds(scene)
    ceiling = _ceiling(scene)
    ceiling_z = high[2] if ceiling is None else _world_points(scene.bodies[ceiling])[:, 2].min()
    daylight = ceiling is not None and rng.random() < DAYLIGHT_PROBABILITY
    if daylight:
        direction = _unit(scene.lighting.direction)
        sky = Sky(float(rng.uniform(0.2, 1.0)), tuple(direction), float(rng.uniform(2.0, 8.0)),
                  float(rng.uniform(0.1, 0.6)))
        lights = [Light('SUN', (0.0, 0.0, 0.0), tuple(-direction),
                        float(np.radians(rng.uniform(0.5, 5.0))), float(rng.uniform(1.0, 8.0)),
                        _temperature(rng, daylight=True))]
        if rng.random() < 0.5:
            lights += _panels(rng, 1, low, high, ceiling_z, (20.0, 200.0))
        skylight = (ceiling,)
    else:
        sky = Sky(float(rng.uniform(0.0, 0.3)))
        lights, skylight = _indoor_lights(rng, scene, low, high, ceiling_z), ()
    exposure = Exposure(float(np.clip(rng.normal(0.0, 0.4), -1.2, 1.2)),
                        float(rng.uniform(0.5, 1.0)),
                        tuple(1.0 + np.clip(rng.normal(0.0, 0.04, 3), -0.1, 0.1)))
    return Look(materials, tuple(lights), sky, skylight, exposure,
                int(rng.integers(0, 2 ** 31 - 1)))
