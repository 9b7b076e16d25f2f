"""
Random texture images made with numpy: checker, stripes, smooth noise, grain, speckle, collages.

Textures are (size, size, 3) uint8 RGB; a collage (a random background) is a texture with
random shapes, each filled with a colour or another texture, drawn over it.
"""

import cv2
import numpy as np

TEXTURE_KINDS = ('checker', 'stripes', 'noise', 'grain', 'speckle')
#: The RGBA colour that leaves a texture as it is (a body's colour multiplies its texture).
WHITE = (1.0, 1.0, 1.0, 1.0)


def random_colour(rng, saturation=(0.0, 1.0), value=(0.15, 1.0)):
    """Return a random RGB colour, (3,) float64 in [0, 1], from a uniform hue."""
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(*saturation) * 255,
                      rng.uniform(*value) * 255]]], np.float32)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float64) / 255.0


def _smooth_noise(rng, size, cells):
    """Return (size, size) float32 noise in [0, 1], smooth over size / cells pixels."""
    grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
    field = cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(field, 0.0, 1.0)


def _pattern(rng, kind, size):
    """Return a (size, size) float32 pattern in [0, 1] of one texture kind."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if kind == 'checker':
        cells = rng.integers(2, 9)
        return ((np.floor(x * cells) + np.floor(y * cells)) % 2).astype(np.float32)
    if kind == 'stripes':
        cycles = rng.integers(2, 12)  # whole cycles: the texture tiles without seams
        horizontal = rng.random() < 0.5
        coordinate = y if horizontal else x
        return 0.5 + 0.5 * np.sin(2 * np.pi * cycles * coordinate).astype(np.float32)
    if kind == 'noise':
        return _smooth_noise(rng, size, int(rng.integers(3, 16)))
    if kind == 'grain':
        warp = _smooth_noise(rng, size, 4) * rng.uniform(1.0, 4.0)
        cycles = rng.integers(6, 30)
        return (0.5 + 0.5 * np.sin(2 * np.pi * (cycles * y + warp))).astype(np.float32)
    return rng.random((size, size)).astype(np.float32)


def random_texture(rng, size=128):
    """
    Return a random (size, size, 3) uint8 RGB texture: a pattern between two random colours.

    The pattern is one of :data:`TEXTURE_KINDS`, with mild per-pixel grain on top.
    """
    kind = TEXTURE_KINDS[rng.integers(len(TEXTURE_KINDS))]
    pattern = _pattern(rng, kind, size)[..., None]
    first, second = random_colour(rng), random_colour(rng)
    image = first * (1.0 - pattern) + second * pattern
    image += rng.normal(0.0, 0.02, image.shape)
    return np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)


def random_collage(rng, size=256, shapes=(4, 12)):
    """
    Return a random (size, size, 3) uint8 RGB collage: shapes over a random texture.

    Between shapes[0] and shapes[1] ellipses, rectangles and triangles of random size (up to
    half the side) and place, each filled with a random colour or a random texture.
    """
    image = cv2.resize(random_texture(rng), (size, size), interpolation=cv2.INTER_LINEAR)
    for _ in range(int(rng.integers(shapes[0], shapes[1] + 1))):
        mask = np.zeros((size, size), np.uint8)
        centre = rng.uniform(0, size, 2)
        half = rng.uniform(0.05, 0.25, 2) * size
        kind, angle = int(rng.integers(3)), float(rng.uniform(0, 180))
        if kind == 0:
            cv2.ellipse(mask, tuple(int(v) for v in centre), tuple(int(v) for v in half),
                        angle, 0, 360, 1, -1)
        else:
            corners = cv2.boxPoints((tuple(centre), tuple(2 * half), angle)) if kind == 1 \
                else centre + rng.uniform(-1.0, 1.0, (3, 2)) * half
            cv2.fillConvexPoly(mask, np.round(corners).astype(np.int32), 1)
        if rng.random() < 0.5:
            fill = cv2.resize(random_texture(rng), (size, size), interpolation=cv2.INTER_LINEAR)
        else:
            fill = np.round(random_colour(rng) * 255.0).astype(np.uint8)
        image = np.where(mask[..., None] > 0, fill, image)
    return image
