"""
Camera effects on a rendered colour image: exposure, white balance, blur, noise, tone, JPEG.

Renderer-agnostic: :func:`apply_camera_effects` takes any renderer's (H, W, 3) uint8 RGB image
(display-referred, as written to rgb/) and returns a new one; it touches neither depth nor
labels, so the ground truth of the frame stays exact. The effects follow a camera's pipeline:
the image is taken to linear light (gamma 2.2), scaled by an exposure gain and per-channel
white-balance gains, blurred (defocus: Gaussian; motion: a straight streak), given sensor noise
(shot noise growing with the square root of the signal, plus read noise), taken back to
display values through a jittered gamma, contrast and saturation, rounded to 8 bits and
sometimes JPEG-compressed. Every random value comes from the Generator passed in, in a fixed
order, so an image is a function of (image, effects, generator state).
"""

from dataclasses import dataclass

import cv2
import numpy as np

DISPLAY_GAMMA = 2.2
#: Rec. 601 luma weights of R, G, B (saturation mixes towards this grey).
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@dataclass(frozen=True)
class CameraEffects:
    """
    Ranges of the random camera effects; 0 switches an effect off.

    exposure: largest |log2| of the exposure gain (stops); white_balance: largest relative
    change of each channel's gain; blur: probability of defocus blur, blur_sigma: its largest
    Gaussian sigma (px); motion: probability of motion blur, motion_length: the longest streak
    (px, any direction); shot_noise: largest shot-noise factor (sigma = factor x sqrt(linear
    value), values in [0, 1]); read_noise: largest read-noise sigma (linear, of 1); gamma:
    largest |ln| of the factor on the display gamma; contrast, saturation: largest relative
    change; jpeg: probability of JPEG compression, jpeg_quality: its (lowest, highest) quality.
    """

    exposure: float = 0.0
    white_balance: float = 0.0
    blur: float = 0.0
    blur_sigma: float = 0.0
    motion: float = 0.0
    motion_length: float = 0.0
    shot_noise: float = 0.0
    read_noise: float = 0.0
    gamma: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    jpeg: float = 0.0
    jpeg_quality: tuple = (90, 95)


def motion_kernel(length, angle):
    """
    Return a normalised float32 motion-blur kernel: a streak of `length` px at `angle` rad.

    The streak is centred in an odd square kernel; sub-pixel lengths fall off linearly at the
    ends (the kernel sums to 1; length 0 gives the identity).
    """
    radius = int(np.ceil(length / 2))
    offsets = np.linspace(-length / 2, length / 2, max(2, int(np.ceil(4 * length)) + 1))
    kernel = np.zeros((2 * radius + 1, 2 * radius + 1), np.float32)
    for offset in offsets:
        x, y = radius + offset * np.cos(angle), radius + offset * np.sin(angle)
        x0, y0 = int(np.floor(x)), int(np.floor(y))
        fx, fy = x - x0, y - y0
        for dy, wy in ((0, 1 - fy), (1, fy)):
            for dx, wx in ((0, 1 - fx), (1, fx)):
                if 0 <= y0 + dy < kernel.shape[0] and 0 <= x0 + dx < kernel.shape[1]:
                    kernel[y0 + dy, x0 + dx] += wy * wx
    return kernel / kernel.sum()


def _blur(linear, effects, rng):
    """Return the linear image after random defocus and motion blur."""
    defocus, sigma = rng.random() < effects.blur, rng.uniform(0.0, effects.blur_sigma)
    moving, length = rng.random() < effects.motion, rng.uniform(0.0, effects.motion_length)
    angle = rng.uniform(0.0, np.pi)
    if defocus and sigma > 0:
        linear = cv2.GaussianBlur(linear, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    if moving and length > 0:
        linear = cv2.filter2D(linear, -1, motion_kernel(length, angle),
                              borderType=cv2.BORDER_REFLECT)
    return linear


def _tone(linear, effects, rng):
    """Return display values in [0, 1]: jittered gamma, contrast and saturation."""
    gamma = DISPLAY_GAMMA * np.exp(rng.uniform(-effects.gamma, effects.gamma))
    contrast = 1.0 + rng.uniform(-effects.contrast, effects.contrast)
    saturation = 1.0 + rng.uniform(-effects.saturation, effects.saturation)
    display = np.clip(linear, 0.0, 1.0) ** np.float32(1.0 / gamma)
    display = (display - display.mean()) * np.float32(contrast) + display.mean()
    grey = (display @ LUMA)[..., None]
    return np.clip(grey + (display - grey) * np.float32(saturation), 0.0, 1.0)


def apply_camera_effects(rgb, effects, rng):
    """
    Return a new (H, W, 3) uint8 RGB image: `rgb` as a random camera of `effects` takes it.

    rgb: (H, W, 3) uint8 display-referred RGB; effects: :class:`CameraEffects`; rng: numpy
    Generator (its draws do not depend on the image). See the module docstring for the steps.
    """
    linear = (rgb.astype(np.float32) / 255.0) ** np.float32(DISPLAY_GAMMA)
    gain = 2.0 ** rng.uniform(-effects.exposure, effects.exposure) * (
        1.0 + rng.uniform(-effects.white_balance, effects.white_balance, 3))
    linear = _blur(linear * gain.astype(np.float32), effects, rng)
    shot, read = rng.uniform(0.0, effects.shot_noise), rng.uniform(0.0, effects.read_noise)
    sigma = shot * np.sqrt(np.clip(linear, 0.0, None)) + read
    linear = linear + (rng.standard_normal(linear.shape) * sigma).astype(np.float32)
    display = _tone(linear, effects, rng)
    image = np.round(display * 255.0).astype(np.uint8)
    compress, quality = rng.random() < effects.jpeg, rng.integers(effects.jpeg_quality[0],
                                                                  effects.jpeg_quality[1] + 1)
    if compress:
        _, encoded = cv2.imencode('.jpg', image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY,
                                                             int(quality)])
        image = np.ascontiguousarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1])
    return image
