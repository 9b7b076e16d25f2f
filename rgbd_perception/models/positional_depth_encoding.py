"""Positional depth encoding (PDE) of Vanishing Depth (Koch et al. 2025, section 3.1 and A.2)."""

import math

import torch
from torch import nn

#: Encoding of a missing pixel in every channel: not a (sin, cos) pair of any depth.
MISSING_VALUE = 1e-3


class PositionalDepthEncoding(nn.Module):
    """
    Sinusoidal encoding of normalised depth, channels [sin(d/T^(2k/C)), cos(d/T^(2k/C))].

    channels: C (even); k = 0 .. C/2 - 1.  temperature: T; the shortest wavelength is
    T^((C-2)/C) of the normalising depth (3e-4 as in the paper: 7.5 mm at 15 m with C = 32).
    Input (B, 1, H, W) depth divided by its normalising depth (about 0..1), with the
    (B, 1, H, W) bool mask of valid pixels; output (B, C, H, W) float in [-1, 1], missing
    pixels MISSING_VALUE.  No learned parameters.
    """

    def __init__(self, channels=32, temperature=3e-4):
        super().__init__()
        if channels < 2 or channels % 2:
            raise ValueError(f'PDE channels must be a positive even number, got {channels}')
        exponents = torch.arange(channels // 2, dtype=torch.float32) * 2.0 / channels
        self.register_buffer('frequencies', torch.exp(-exponents * math.log(temperature)),
                             persistent=False)
        self.channels = channels

    def forward(self, normalised_depth, valid):
        """Return the (B, C, H, W) encoding; see the class docstring."""
        phase = normalised_depth * self.frequencies.view(1, -1, 1, 1)
        encoding = torch.cat([torch.sin(phase), torch.cos(phase)], dim=1)
        return torch.where(valid, encoding, torch.full_like(encoding, MISSING_VALUE))
