"""
From rendered radiance to an 8-bit sRGB image: auto-exposure, white balance, sRGB encoding.

A physically based renderer (:mod:`training.synth.cycles`) returns scene-linear Rec. 709
radiance whose level depends on the lights (watts); a camera meters it. Here the mean
luminance (highlights above the 99th percentile clipped) is brought to 0.18, then moved by
the look's exposure stops; a grey-world white balance is applied to a share of its full
correction (each channel's factor within [1 / 1.5, 1.5]), then a residual tint; values are
clipped to [0, 1], sRGB-encoded (IEC 61966-2-1) and rounded to 8 bits.
"""

import numpy as np

#: Rec. 709 luminance weights of linear R, G, B.
LUMINANCE = np.array([0.2126, 0.7152, 0.0722])
MID_GREY = 0.18
#: Largest factor of the grey-world white balance on any channel (a scene of one colour is
#: not made grey).
MAX_BALANCE = 1.5


def srgb_encode(linear):
    """Return sRGB display values in [0, 1] of linear values (clipped to [0, 1] first)."""
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear,
                    1.055 * np.power(linear, 1.0 / 2.4) - 0.055)


def srgb_decode(display):
    """Return linear values of sRGB display values (clipped to [0, 1]; srgb_encode inverse)."""
    display = np.clip(np.asarray(display, np.float64), 0.0, 1.0)
    return np.where(display <= 0.04045, display / 12.92, ((display + 0.055) / 1.055) ** 2.4)


def develop(radiance, exposure):
    """
    Return the (H, W, 3) uint8 sRGB image of (H, W, 3) float linear radiance.

    exposure: a :class:`training.synth.looks.Exposure` (stops, white_balance share, tint).
    A black image stays black.
    """
    radiance = np.maximum(np.asarray(radiance, np.float64), 0.0)
    luminance = radiance @ LUMINANCE
    level = np.minimum(luminance, np.percentile(luminance, 99.0)).mean()
    gain = MID_GREY * 2.0 ** exposure.stops / level if level > 0 else 0.0
    grey = radiance.reshape(-1, 3).mean(axis=0)
    balance = np.where(grey > 0, grey.mean() / np.where(grey > 0, grey, 1.0), 1.0)
    balance = np.clip(balance ** exposure.white_balance, 1.0 / MAX_BALANCE, MAX_BALANCE)
    linear = radiance * gain * balance * np.asarray(exposure.tint)
    return np.round(srgb_encode(linear) * 255.0).astype(np.uint8)
