"""
Monocular depth stage: colour + intrinsics in, (H, W) float32 metric depth out.

The image is resized to the model's input width (keeping its aspect; the manifest's
data.input_width, 320 by default), padded to a multiple of 32 by repeating its border, run
through MonoDepthNet (rgbd_perception.models.mono_depth: canonical inverse depth), turned into
metres with the focal length at that size (the canonical camera model, so any camera's
intrinsics give metric depth), and upsampled bilinearly to the image size.  Optionally the
result is scaled so that its median matches sparse metric depth where a sensor has some.
"""

import numpy as np
import torch
import torch.nn.functional as F

from rgbd_perception.geometry.camera import as_intrinsics
from rgbd_perception.io.data_paths import bundled_weights
from rgbd_perception.models.mono_depth import inverse_to_metres
from rgbd_perception.runtime.device import resolve_device
from rgbd_perception.runtime.onnx_models import check_runtime, OnnxModel
from rgbd_perception.runtime.weights import build_exported
from rgbd_perception.stages.depth_input import ColourError, depth_to_metres, DepthError

BUNDLED_WEIGHTS = bundled_weights('mono_depth.safetensors')
DEFAULT_INPUT_WIDTH = 320
MULTIPLE = 32  # the networks' total stride


def predict_metres(model, rgb, fx, input_width):
    """
    Return (B, 1, H, W) metric depth of (B, 3, H, W) RGB in [0, 1] (on the model's device).

    fx: (B,) focal lengths in pixels at (H, W); input_width: the width the model sees.
    """
    height, width = rgb.shape[-2:]
    scale = input_width / width
    size = (max(1, round(height * scale)), input_width)
    small = F.interpolate(rgb, size=size, mode='bilinear', antialias=scale < 1,
                          align_corners=False)
    pad_rows, pad_cols = (-size[0]) % MULTIPLE, (-size[1]) % MULTIPLE
    padded = F.pad(small, (0, pad_cols, 0, pad_rows), mode='replicate')
    inverse = model(padded)[..., :size[0], :size[1]]
    metres = inverse_to_metres(inverse, fx * scale)
    return F.interpolate(metres, size=(height, width), mode='bilinear', align_corners=False)


def predict_image(model, rgb, fx, input_width, half=False, device=None):
    """
    Return (H, W) float32 metres of one (H, W, 3) uint8 RGB image with focal fx (pixels).

    rgb: a numpy array, or a tensor on the model's device (then the result is a tensor
    there too).  Runs on the model's device (fp16 autocast with ``half``), without gradients;
    device: where the model runs (None: a torch module's own parameters tell).
    """
    device = device or next(model.parameters()).device
    on_device = isinstance(rgb, torch.Tensor)
    tensor = (rgb if on_device else torch.from_numpy(rgb).to(device)).permute(2, 0, 1)[None]
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.float16, enabled=half):
        depth = predict_metres(model, tensor.float() / 255,
                               torch.tensor([float(fx)], device=device), input_width)
    depth = depth[0, 0].float()
    return depth if on_device else depth.cpu().numpy()


def median_scaled(depth, sparse):
    """Return (H, W) depth scaled so its median over sparse's valid pixels matches sparse's."""
    valid = sparse > 0
    return depth * float(np.median(sparse[valid]) / np.median(depth[valid]))


class MonoDepthStage:
    """
    Monocular metric depth on the chosen device; the one implementation every caller uses.

    weights: exported .safetensors of a MonoDepthNet (None: the bundled ones).  device:
    'auto', 'cpu', 'cuda' or 'cuda:N'.  half: fp16 autocast on CUDA.  input_width: pixels
    the model sees (0: the manifest's data.input_width, else 320).  runtime: 'torch',
    'onnxruntime' or 'openvino' (the model exported to ONNX and run by that runtime; CPU,
    fp32; see rgbd_perception.runtime.onnx_models).
    """

    def __init__(self, weights=None, device='auto', half=False, input_width=0,
                 runtime='torch'):
        self.device = resolve_device(device)
        self.half = bool(half) and self.device.type == 'cuda'
        check_runtime(runtime, self.device, self.half)
        self.runtime = runtime
        weights = weights or BUNDLED_WEIGHTS
        self.model, self.manifest = build_exported(weights, self.device)
        trained = self.manifest.get('data', {}).get('input_width', DEFAULT_INPUT_WIDTH)
        self.input_width = int(input_width) or int(trained)
        if self.input_width < MULTIPLE:
            raise ValueError(f'input_width must be at least {MULTIPLE}, got {self.input_width}')
        if runtime != 'torch':
            self.model = OnnxModel(self.model, self.manifest, weights, runtime)

    @torch.inference_mode()
    def __call__(self, rgb, intrinsics, sparse_depth=None, depth_scale=0.001):
        """
        Return (H, W) float32 metres (> 0) of one (H, W, 3) uint8 RGB image.

        intrinsics: Intrinsics or (fx, fy, cx, cy) pixels (only fx is used; IntrinsicsError
        when unusable).  sparse_depth:
        optional (H, W) depth (uint16 in depth_scale m, or float m; 0 = missing) whose median
        sets the scale.  Raises ColourError / DepthError for unusable input.
        """
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or min(rgb.shape[:2]) < 2:
            raise ColourError(f'colour must be (H, W, 3) uint8 with H, W >= 2, got '
                              f'{rgb.shape} {rgb.dtype}')
        fx = as_intrinsics(intrinsics).fx
        sparse = None
        if sparse_depth is not None:  # checked before the model runs
            sparse = depth_to_metres(sparse_depth, depth_scale)
            if sparse.shape != rgb.shape[:2]:
                raise DepthError(f'sparse depth size {sparse.shape[1]}x{sparse.shape[0]} != '
                                 f'colour size {rgb.shape[1]}x{rgb.shape[0]}')
        depth = predict_image(self.model, rgb, fx, self.input_width, self.half, self.device)
        if sparse is not None:
            depth = median_scaled(depth, sparse)
        return depth.astype(np.float32)

    @torch.inference_mode()
    def on_device(self, rgb, intrinsics):
        """
        Predict one frame already on the stage's device (the pipeline's shared tensors).

        rgb: (H, W, 3) uint8 tensor, already checked.  Returns (H, W) float32 metres on the
        device.
        """
        return predict_image(self.model, rgb, as_intrinsics(intrinsics).fx, self.input_width,
                             self.half, self.device)

    def warm_up(self, height=480, width=640):
        """Run one synthetic frame so that the first real frame is not slowed by set-up."""
        self(np.zeros((height, width, 3), np.uint8), (525.0, 525.0, width / 2, height / 2))
