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
"""

from rgbd_perception.stages.completion import CompletionStage
from rgbd_perception.stages.depth_input import check_colour
from rgbd_perception.stages.hha import HhaStage
from rgbd_perception.stages.mono_depth import MonoDepthStage
from rgbd_perception.stages.pose import PoseStage

OUTPUTS = ('completed', 'hha', 'poses', 'mono')
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
        """The stages built, in running order."""
        return [s for s in (self.completion, self.hha, self.pose, self.mono) if s is not None]

    def groups(self):
        """Return the names of GROUPS with an enabled output, in order."""
        return [g for g, names in GROUPS.items() if set(names) & set(self.outputs)]

    def warm_up(self):
        """Warm every stage up (one synthetic frame each)."""
        for stage in self.stages:
            stage.warm_up()

    def depth_outputs(self, rgb, depth, intrinsics, depth_scale=0.001):
        """Return {'completed': metres, 'hha': uint8 HHA} for the enabled ones of the two."""
        completed = self.completion(check_colour(rgb, depth.shape), depth,
                                    depth_scale=depth_scale)
        results = {'completed': completed} if 'completed' in self.outputs else {}
        if self.hha is not None:
            results['hha'] = self.hha(completed, intrinsics, raw_depth=depth,
                                      depth_scale=depth_scale)
        return results

    def poses(self, rgb, depth, intrinsics, depth_scale=0.001):
        """Return the [PoseEstimate] of one frame (built-in detector on the sensor depth)."""
        return self.pose(rgb, depth, intrinsics, depth_scale=depth_scale)

    def mono_depth(self, rgb, intrinsics, depth=None, depth_scale=0.001):
        """Return (H, W) float32 metres from colour (median-scaled to depth when enabled)."""
        sparse = depth if self.mono_scale_from_depth else None
        return self.mono(rgb, intrinsics, sparse, depth_scale=depth_scale)

    def run_group(self, group, rgb, depth, intrinsics, depth_scale=0.001):
        """Return {output name: result} of one of :data:`GROUPS` on one frame."""
        if group == 'depth':
            return self.depth_outputs(rgb, depth, intrinsics, depth_scale)
        if group == 'poses':
            return {'poses': self.poses(rgb, depth, intrinsics, depth_scale)}
        return {'mono': self.mono_depth(rgb, intrinsics, depth, depth_scale)}

    def __call__(self, rgb, depth, intrinsics, depth_scale=0.001):
        """Return {output name: result} of every enabled output on one frame."""
        results = {}
        for group in self.groups():
            results |= self.run_group(group, rgb, depth, intrinsics, depth_scale)
        return results
