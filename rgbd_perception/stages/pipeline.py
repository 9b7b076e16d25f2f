"""
The four outputs of one RGB-D frame from one decode: completed depth, its HHA, poses, mono depth.

The pipeline of ``pose.launch.py`` in one object, shared by perception_node and ``rgbd-perception
replay``:

* 'completed': CompletionStage on colour + sensor depth -> (H, W) float32 metres;
* 'hha': HhaStage on the *completed* depth, its missing-pixel mask from the sensor depth
  (hha_node's mask_from_raw_depth mode) -> (H, W, 3) uint8;
* 'poses': PoseStage on colour + sensor depth -> [PoseEstimate];
* 'mono': MonoDepthStage on colour alone (scaled to the sensor depth's median with
  ``mono_scale_from_depth``) -> (H, W) float32 metres.

Completion runs whenever 'completed' or 'hha' is wanted; the stages run in the order of
:data:`OUTPUTS`.  Inputs: rgb (H, W, 3) uint8, depth (H, W) uint16 in units of ``depth_scale``
m or float m (0 / NaN = missing, registered to the colour), intrinsics of the colour camera.
:meth:`PerceptionPipeline.prepare` checks a frame and copies it to the device once (pinned
memory, non-blocking on CUDA); the stage groups then share those tensors, and the completed
depth goes from completion to HHA without leaving the device.
"""

from typing import NamedTuple

import numpy as np
import torch

from rgbd_perception.geometry.camera import as_intrinsics
from rgbd_perception.stages.completion import CompletionStage
from rgbd_perception.stages.depth_input import (check_colour, depth_to_metres,
                                                require_valid_fraction)
from rgbd_perception.stages.hha import HhaStage
from rgbd_perception.stages.mono_depth import median_scaled, MonoDepthStage
from rgbd_perception.stages.pose import PoseStage

OUTPUTS = ('completed', 'hha', 'poses', 'mono')
#: Each output's topic (relative to the camera namespace, as the single nodes publish it) and
#: ROS image encoding (None: poses, a geometry_msgs/PoseArray).
OUTPUT_TOPICS = {'completed': ('depth/completed', '32FC1'), 'hha': ('hha/image', 'rgb8'),
                 'poses': ('objects/poses', None), 'mono': ('depth/mono', '32FC1')}
#: Outputs that carry the colour message's header (the others carry the depth's).
COLOUR_HEADER = ('poses', 'mono')
#: Stage groups a caller may run at different paces: the depth group serves 'completed' and
#: 'hha' together.
GROUPS = {'depth': ('completed', 'hha'), 'poses': ('poses',), 'mono': ('mono',)}


def parse_outputs(text):
    """Return the tuple of OUTPUTS named in a comma-separated list (order of OUTPUTS)."""
    names = {name.strip() for name in str(text).split(',') if name.strip()}
    unknown = sorted(names - set(OUTPUTS))
    if unknown or not names:
        raise ValueError(f'outputs must be a comma-separated subset of {",".join(OUTPUTS)}, '
                         f'got {text!r}')
    return tuple(name for name in OUTPUTS if name in names)


class PreparedFrame(NamedTuple):
    """
    One checked frame, on the host and (once) on the pipeline's device.

    rgb (H, W, 3) uint8 and metres (H, W) float64 (0 = missing) numpy arrays; intrinsics an
    Intrinsics; valid_fraction: share of valid depth pixels; rgb_on_device, metres_on_device
    and missing_on_device ((H, W) bool, the sensor's holes): the same on the device, shared
    by the stages that run there (completion, HHA, mono); poses read the host arrays.
    """

    rgb: np.ndarray
    metres: np.ndarray
    intrinsics: object
    valid_fraction: float
    rgb_on_device: torch.Tensor
    metres_on_device: torch.Tensor
    missing_on_device: torch.Tensor


class PerceptionPipeline:
    """
    The enabled stages of one camera (see the module docstring).

    outputs: subset of OUTPUTS.  device: every stage's device.  completion, hha, mono:
    keyword arguments of CompletionStage, HhaStage, MonoDepthStage (without device);
    catalogue + pose: the ObjectCatalogue and keyword arguments of PoseStage (needed with
    'poses').  mono_scale_from_depth: scale monocular depth to the sensor depth's median.
    """

    def __init__(self, outputs=OUTPUTS, device='auto', completion=None, hha=None,
                 catalogue=None, pose=None, mono=None, mono_scale_from_depth=False):
        self.outputs = tuple(name for name in OUTPUTS if name in set(outputs))
        if not self.outputs:
            raise ValueError(f'no output enabled; choose from {OUTPUTS}')
        wanted = set(self.outputs)
        self.completion = CompletionStage(device=device, **(completion or {})) \
            if wanted & {'completed', 'hha'} else None
        self.hha = HhaStage(device=device, **(hha or {})) if 'hha' in wanted else None
        self.pose = None
        if 'poses' in wanted:
            if catalogue is None:
                raise ValueError("the 'poses' output needs an object catalogue")
            self.pose = PoseStage(catalogue, device=device, **(pose or {}))
        self.mono = MonoDepthStage(device=device, **(mono or {})) if 'mono' in wanted else None
        self.mono_scale_from_depth = bool(mono_scale_from_depth)

    @property
    def stages(self):
        """Return the stages built, in running order."""
        return [s for s in (self.completion, self.hha, self.pose, self.mono) if s is not None]

    def groups(self):
        """Return the names of GROUPS with an enabled output, in order."""
        return [g for g, names in GROUPS.items() if set(names) & set(self.outputs)]

    def warm_up(self):
        """Warm every stage up (one synthetic frame each)."""
        for stage in self.stages:
            stage.warm_up()

    def prepare(self, rgb, depth, intrinsics, depth_scale=0.001):
        """
        Check one frame and move it to the device once; return a :class:`PreparedFrame`.

        Raises DepthError / ColourError (InputError) for unusable depth or colour that does
        not fit it, before any stage runs.
        """
        metres = depth_to_metres(depth, depth_scale)
        rgb = check_colour(rgb, metres.shape)
        device = self.stages[0].device
        valid_fraction = float(np.count_nonzero(metres)) / metres.size

        def upload(array):
            tensor = torch.from_numpy(array)
            if device.type == 'cuda':
                return tensor.pin_memory().to(device, non_blocking=True)
            return tensor.to(device)
        metres_on_device = upload(metres)
        return PreparedFrame(rgb, metres, as_intrinsics(intrinsics), valid_fraction,
                             upload(rgb), metres_on_device, metres_on_device == 0)

    def depth_outputs(self, frame):
        """Return {'completed': metres, 'hha': uint8 HHA} (the enabled ones) of a frame."""
        require_valid_fraction(frame.valid_fraction, self.completion.min_valid_fraction)
        completed = self.completion.on_device(frame.rgb_on_device, frame.metres_on_device)
        results = {'completed': completed} if 'completed' in self.outputs else {}
        if self.hha is not None:
            require_valid_fraction(frame.valid_fraction, self.hha.min_valid_fraction)
            results['hha'] = self.hha.on_device(completed, frame.intrinsics,
                                                frame.missing_on_device)
        return {name: result.cpu().numpy() for name, result in results.items()}

    def poses(self, frame):
        """Return the [PoseEstimate] of a frame (built-in detector on the sensor depth)."""
        return self.pose(frame.rgb, frame.metres, frame.intrinsics)

    def mono_depth(self, frame):
        """Return (H, W) float32 metres from colour (median-scaled to depth when enabled)."""
        depth = self.mono.on_device(frame.rgb_on_device, frame.intrinsics).cpu().numpy()
        return median_scaled(depth, frame.metres) if self.mono_scale_from_depth else depth

    def run_group(self, group, frame):
        """Return {output name: result} of one of :data:`GROUPS` on a PreparedFrame."""
        if group == 'depth':
            return self.depth_outputs(frame)
        if group == 'poses':
            return {'poses': self.poses(frame)}
        return {'mono': self.mono_depth(frame)}

    def __call__(self, rgb, depth, intrinsics, depth_scale=0.001):
        """Return {output name: result} of every enabled output on one frame."""
        frame = self.prepare(rgb, depth, intrinsics, depth_scale)
        results = {}
        for group in self.groups():
            results |= self.run_group(group, frame)
        return results
