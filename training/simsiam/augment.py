"""
SimSiam's augmentations of a crop, drawn once per view and applied alike to RGB and HHA.

One view = random resized crop (area share 0.2-1, aspect 3/4-4/3, as SimSiam) to S x S,
horizontal flip (p 0.5), colour jitter (p 0.8: brightness, contrast, saturation 0.4, hue 0.1,
applied in that order) and grayscale (p 0.2).  The seed's rule: a view's random choices are
applied identically to the RGB and the HHA crop.  ``hha_colour=False`` is the seed's
"HHA spatial only" variant: the HHA crop gets the spatial part only (crop and flip).  Gaussian
blur is left out, as the seed does (small object crops).

Images are (3, H, W) float tensors in [0, 1]; randomness comes from a numpy Generator the
caller seeds (per sample and epoch, so resumes are exact).
"""

import math

import torch
from torchvision.transforms.v2 import functional as TF

SCALE = (0.2, 1.0)
RATIO = (3.0 / 4.0, 4.0 / 3.0)
JITTER_PROB, BRIGHTNESS, CONTRAST, SATURATION, HUE = 0.8, 0.4, 0.4, 0.4, 0.1
GRAYSCALE_PROB = 0.2
FLIP_PROB = 0.5


def crop_box(rng, height, width):
    """Return (top, left, h, w) of a random resized crop (10 tries, then the whole image)."""
    area = height * width
    for _ in range(10):
        target = area * rng.uniform(*SCALE)
        aspect = math.exp(rng.uniform(math.log(RATIO[0]), math.log(RATIO[1])))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    return 0, 0, height, width


def draw_view(rng, height, width):
    """Return the random choices of one view as a dict (see the module docstring)."""
    jitter = rng.random() < JITTER_PROB
    return {'box': crop_box(rng, height, width), 'flip': rng.random() < FLIP_PROB,
            'jitter': jitter,
            'factors': (rng.uniform(1 - BRIGHTNESS, 1 + BRIGHTNESS),
                        rng.uniform(1 - CONTRAST, 1 + CONTRAST),
                        rng.uniform(1 - SATURATION, 1 + SATURATION), rng.uniform(-HUE, HUE)),
            'grayscale': rng.random() < GRAYSCALE_PROB}


def apply_view(image, view, size, colour=True):
    """Return the (3, size, size) view of a (3, H, W) image in [0, 1]; colour: jitter too."""
    out = TF.resized_crop(image, *view['box'], [size, size], antialias=True)
    if view['flip']:
        out = TF.horizontal_flip(out)
    if colour and view['jitter']:
        brightness, contrast, saturation, hue = view['factors']
        out = TF.adjust_brightness(out, brightness)
        out = TF.adjust_contrast(out, contrast)
        out = TF.adjust_saturation(out, saturation)
        out = TF.adjust_hue(out, hue)
    if colour and view['grayscale']:
        out = TF.rgb_to_grayscale(out, num_output_channels=3)
    return out.clamp(0.0, 1.0)


def two_views(rng, images, size, hha_colour=True):
    """
    Return two augmented views of one crop: [{branch: (3, size, size)}] * 2.

    images: {branch: (3, H, W) in [0, 1]} of one crop (same H, W); the 'hha' branch gets the
    colour part only when hha_colour.
    """
    height, width = next(iter(images.values())).shape[-2:]
    views = []
    for _ in range(2):
        view = draw_view(rng, height, width)
        views.append({branch: apply_view(image, view, size,
                                         colour=branch != 'hha' or hha_colour)
                      for branch, image in images.items()})
    return views


def centre_view(images, size):
    """Return {branch: (3, size, size)} of whole crops resized (the evaluation view)."""
    return {branch: TF.resize(image, [size, size], antialias=True).clamp(0.0, 1.0)
            for branch, image in images.items()}


def to_tensor(crop):
    """Return the (3, S, S) float32 tensor in [0, 1] of an (S, S, 3) uint8 crop."""
    return torch.from_numpy(crop).permute(2, 0, 1).float() / 255.0
