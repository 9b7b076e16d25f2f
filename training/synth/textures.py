"""Random texture images made with numpy: checker, stripes, smooth noise, grain, speckle."""

import cv2
import numpy as np

TEXTURE_KINDS = ('checker', 'stripes', 'noise', 'grain', 'speckle')


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
