"""
Depth completion stage: colour + depth with holes in, (H, W) float32 metres without holes out.

Methods: 'model' (VanishingDepthNet from exported weights, the bundled ones by default) and
'ip_basic' (classical morphological filling, CPU, no weights).  The model runs at the input
size divided by ``downsample`` (by default the factor its manifest names: runtime.downsample
where evaluation chose one, else the factor it was trained at; depth averaged over the valid
pixels of each block, colour area-averaged) and its output is upsampled bilinearly; measured
pixels keep their measurement unless keep_measured is False.
"""

import numpy as np
import torch
import torch.nn.functional as F

from rgbd_perception.geometry.depth_pooling import masked_mean_pool
from rgbd_perception.geometry.ip_basic import ip_basic_complete
from rgbd_perception.io.data_paths import bundled_weights
from rgbd_perception.runtime.device import resolve_device
from rgbd_perception.runtime.onnx_models import check_runtime, OnnxModel
from rgbd_perception.runtime.weights import build_exported
from rgbd_perception.stages.depth_input import check_colour, depth_to_metres

METHODS = ('model', 'ip_basic')
BUNDLED_WEIGHTS = bundled_weights('depth_completion_small.safetensors')


def complete_depth(model, rgb, depth, downsample, keep_measured=True):
    """
    Run ``model`` on a batch and return (B, 1, H, W) completed depth in metres.

    rgb: (B, 3, H, W) float in [0, 1]; depth: (B, 1, H, W) float metres, 0 = missing; both
    on the model's device.  Every frame needs at least one valid depth pixel.
    """
    small_depth = masked_mean_pool(depth, downsample)
    small_rgb = F.avg_pool2d(rgb, downsample, ceil_mode=True) if downsample > 1 else rgb
    predicted = model(small_rgb, small_depth).float()
    if downsample > 1:
        predicted = F.interpolate(predicted, size=depth.shape[-2:], mode='bilinear',
                                  align_corners=False)
    return torch.where(depth > 0, depth, predicted) if keep_measured else predicted


def manifest_downsample(manifest):
    """
    Return the factor a manifest's model runs at: runtime.downsample, else the training factor.

    runtime.downsample is set where evaluation found a coarser working size better than the
    one trained at (README, Depth completion results); without either the factor is 2.
    """
    trained_at = manifest.get('data', {}).get('working_downsample', 2)
    return int(manifest.get('runtime', {}).get('downsample', trained_at))


class CompletionStage:
    """
    Depth completion on the chosen device; the one implementation every caller uses.

    method: 'model' or 'ip_basic'.  weights: exported .safetensors of a VanishingDepthNet
    (None: the bundled small model).  device: 'auto', 'cpu', 'cuda' or 'cuda:N'.
    half: fp16 autocast on CUDA (ignored on the CPU).  downsample: integer factor of the
    model's working resolution; 0 = manifest_downsample(manifest).  keep_measured: measured
    pixels keep their input value.  min_valid_fraction: frames with less valid depth are
    rejected with DepthError.  runtime: 'torch', 'onnxruntime' or 'openvino' (the model
    exported to ONNX and run by that runtime; CPU, fp32; see
    rgbd_perception.runtime.onnx_models).
    """

    def __init__(self, method='model', weights=None, device='auto', half=False, downsample=0,
                 keep_measured=True, min_valid_fraction=0.0, runtime='torch'):
        if method not in METHODS:
            raise ValueError(f'unknown completion method {method!r}, expected one of {METHODS}')
        if int(downsample) < 0:
            raise ValueError(f'downsample must be a positive integer or 0, got {downsample}')
        self.method = method
        self.device = resolve_device(device)
        self.half = bool(half) and self.device.type == 'cuda'
        self.keep_measured = bool(keep_measured)
        self.min_valid_fraction = float(min_valid_fraction)
        check_runtime(runtime, self.device, self.half)
        self.runtime = runtime if method == 'model' else 'torch'
        self.model, self.manifest = None, None
        if method == 'model':
            weights = weights or BUNDLED_WEIGHTS
            self.model, self.manifest = build_exported(weights, self.device)
        self.downsample = int(downsample) or manifest_downsample(self.manifest or {})
        if self.runtime != 'torch':
            self.model = OnnxModel(self.model, self.manifest, weights, self.runtime)

    @torch.inference_mode()
    def __call__(self, rgb, depth, depth_scale=0.001):
        """
        Complete one frame.

        rgb: (H, W, 3) uint8 RGB (unused by 'ip_basic'); depth: (H, W) uint16 (units of
        ``depth_scale`` m) or float (m), 0/NaN = missing.  Returns (H, W) float32 metres,
        > 0 everywhere.  Raises DepthError for unusable depth, ColourError for colour that
        does not match it.
        """
        metres = depth_to_metres(depth, depth_scale, self.min_valid_fraction)
        if self.method == 'ip_basic':
            return self._ip_basic(metres)
        rgb = check_colour(rgb, metres.shape)
        return self.on_device(torch.from_numpy(rgb).to(self.device),
                              torch.from_numpy(metres).to(self.device)).cpu().numpy()

    def _ip_basic(self, metres):
        completed = ip_basic_complete(metres)
        return np.where(metres > 0, metres, completed).astype(np.float32) \
            if self.keep_measured else completed

    @torch.inference_mode()
    def on_device(self, rgb, metres):
        """
        Complete one frame already on the stage's device (the pipeline's shared tensors).

        rgb: (H, W, 3) uint8 tensor; metres: (H, W) float tensor, 0 = missing, already checked
        (rgbd_perception.stages.pipeline.PreparedFrame).  Returns (H, W) float32 metres on
        the device.
        """
        if self.method == 'ip_basic':
            return torch.from_numpy(self._ip_basic(metres.cpu().numpy())).to(self.device)
        rgb_tensor = rgb.permute(2, 0, 1)[None].float() / 255
        depth_tensor = metres.float()[None, None]
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.half):
            completed = complete_depth(self.model, rgb_tensor, depth_tensor, self.downsample,
                                       self.keep_measured)
        return completed[0, 0]

    def warm_up(self, height=480, width=640):
        """Run one synthetic frame so that the first real frame is not slowed by set-up."""
        rows = np.arange(height, dtype=np.float32)[:, None]
        plane = np.broadcast_to(1.0 + rows / height, (height, width)).copy()
        self(np.zeros((height, width, 3), np.uint8), plane)
