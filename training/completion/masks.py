"""
Depth removal masks of Vanishing Depth (Koch et al. 2025, A.3): Perlin, blocky, per-pixel noise.

Each noise is a (B, H, W) float field; removing the valid pixels whose noise falls below the
field's per-sample quantile removes an exact fraction of the valid depth.  Perlin noise is
written here (20 lines of torch) because the PyPI Perlin packages are per-pixel Python loops
or C extensions without wheels for this Python; it is classic gradient noise with a quintic
fade and several octaves.
"""

import math

import torch
import torch.nn.functional as F

KINDS = ('perlin', 'blocky', 'pixel')


def _fade(t):
    return t * t * t * (t * (t * 6 - 15) + 10)


def perlin_octave(batch, height, width, cells, generator=None):
    """Return (batch, height, width) gradient noise with ``cells`` (rows, cols) lattice cells."""
    rows, cols = cells
    angles = 2 * math.pi * torch.rand(batch, rows + 1, cols + 1, generator=generator)
    gradients = torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)
    y = (torch.arange(height) + 0.5) * rows / height
    x = (torch.arange(width) + 0.5) * cols / width
    y0, x0 = y.long().clamp(max=rows - 1), x.long().clamp(max=cols - 1)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]

    def corner(dy, dx):
        g = gradients[:, y0 + dy][:, :, x0 + dx]
        return g[..., 0] * (fx - dx) + g[..., 1] * (fy - dy)

    u, v = _fade(fx), _fade(fy)
    top = torch.lerp(corner(0, 0), corner(0, 1), u)
    bottom = torch.lerp(corner(1, 0), corner(1, 1), u)
    return torch.lerp(top, bottom, v)


def perlin_noise(batch, height, width, base_cells=2, octaves=4, generator=None):
    """Return (batch, height, width) fractal Perlin noise: octaves of doubling frequency."""
    total = torch.zeros(batch, height, width)
    for octave in range(octaves):
        cells = (max(1, round(base_cells * 2 ** octave * height / width)),
                 base_cells * 2 ** octave)
        total += perlin_octave(batch, height, width, cells, generator) / 2 ** octave
    return total


def blocky_noise(batch, height, width, block, generator=None):
    """
    Return (batch, height, width) uniform noise constant over block x block pixel squares.

    A 1e-3 per-pixel jitter breaks ties, so that a threshold cuts the last block partly and
    the removed share is exact.
    """
    coarse = torch.rand(batch, 1, math.ceil(height / block), math.ceil(width / block),
                        generator=generator)
    blocks = F.interpolate(coarse, scale_factor=block, mode='nearest')[:, 0, :height, :width]
    return blocks + 1e-3 * torch.rand(batch, height, width, generator=generator)


def noise_field(kind, batch, height, width, generator=None):
    """Return a (batch, height, width) CPU noise field of ``kind`` (one of KINDS), random scale."""
    if kind == 'perlin':
        base = int(torch.randint(1, 5, (1,), generator=generator))
        return perlin_noise(batch, height, width, base_cells=base, generator=generator)
    if kind == 'blocky':
        block = int(torch.randint(4, 33, (1,), generator=generator))
        return blocky_noise(batch, height, width, block, generator)
    if kind == 'pixel':
        return torch.rand(batch, height, width, generator=generator)
    raise ValueError(f'unknown mask kind {kind!r}, expected one of {KINDS}')


def removal_mask(noise, valid, fractions):
    """
    Return the (B, 1, H, W) bool mask of the valid pixels to remove.

    noise: (B, H, W) field; valid: (B, 1, H, W) bool; fractions: (B,) in [0, 1], the share
    of each sample's valid pixels removed (its lowest-noise valid pixels); one valid pixel
    always remains.
    """
    removed = torch.zeros_like(valid)
    for index in range(noise.shape[0]):
        values = noise[index][valid[index, 0]]
        count = min(int(round(float(fractions[index]) * values.numel())), values.numel() - 1)
        if count <= 0:
            continue
        threshold = torch.kthvalue(values, count).values
        removed[index, 0] = valid[index, 0] & (noise[index] <= threshold)
    return removed
