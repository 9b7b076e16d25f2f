"""
perception_node: every output of one RGB-D camera in one process, each stage at its own pace.

Subscribes rgb/image_raw, depth/image_raw (registered to the colour, REP 118) and
rgb/camera_info once; each synchronised frame is decoded once and handed to the stage groups
of rgbd_perception.stages.pipeline, each on its own LatestWorker thread:

* depth: depth/completed (32FC1 m) and hha/image (rgb8, HHA of the completed depth with the
  missing-pixel mask of the sensor depth), with the depth's header;
* poses: objects/poses, objects/markers, objects/overlay, TF, with the colour's header;
* mono: depth/mono (32FC1 m), with the colour's header;

the same topics, types and headers as the single nodes.

A group busy with an older frame takes the newest one when it is free (the frames in between
are counted as skipped), so a slow stage (poses on a CPU) never slows the fast ones or builds
a backlog.  /diagnostics reports the input (decode) and each group: latency percentiles,
output age (publish time - header stamp), input / output rates, dropped and skipped frames,
CUDA memory.  Parameters: the common ones, publish_<output> (all true), and each single
node's own under its stage's prefix (completion., hha., pose., mono_depth.) minus those the
pipeline fixes (HHA always takes its mask from the sensor depth; poses use the built-in
detector on the sensor depth).
"""

from sensor_msgs.msg import CameraInfo, Image
import torch

from rgbd_perception.io.catalogue import load_catalogue
from rgbd_perception.io.data_paths import data_file
from rgbd_perception.io.image_encodings import DEPTH_ENCODINGS, DEPTH_SCALE_16BIT
from rgbd_perception.io.ros_messages import (header_nanoseconds, image_to_numpy, image_to_rgb,
                                             intrinsics_from_camera_info)
from rgbd_perception.ros.depth_completion_node import COMPLETION_PARAMETERS
from rgbd_perception.ros.diagnostics import StageDiagnostics
from rgbd_perception.ros.hha_node import HHA_PARAMETERS
from rgbd_perception.ros.image_codec import numpy_to_image
from rgbd_perception.ros.mono_depth_node import MONO_DEPTH_PARAMETERS
from rgbd_perception.ros.parameters import ParameterSpec
from rgbd_perception.ros.pose_node import POSE_PARAMETERS, PoseOutputs
from rgbd_perception.ros.stage_node import run_node, StageNode
from rgbd_perception.runtime.latest_worker import LatestWorker
from rgbd_perception.stages.pipeline import (COLOUR_HEADER, OUTPUT_TOPICS, OUTPUTS,
                                             PerceptionPipeline)

#: prefix -> (the single node's parameters, the names the pipeline fixes).
STAGE_SECTIONS = {
    'completion': (COMPLETION_PARAMETERS, ('publish_hha', 'gravity')),
    'hha': (HHA_PARAMETERS, ('mask_from_raw_depth',)),
    'pose': (POSE_PARAMETERS, ('use_depth', 'use_label_image')),
    'mono_depth': (MONO_DEPTH_PARAMETERS, ()),
}
SCHEDULING_PARAMETERS = (
    ParameterSpec('background_nice', 10,
                  'niceness added to the threads of the poses and mono groups (Linux), so '
                  'that on a busy CPU the depth group (completion + HHA) keeps its rate and '
                  'the slow stages use what is left; 0: all equal'),
)
OUTPUT_PARAMETERS = (
    ParameterSpec('publish_completed', True, 'publish depth/completed (completed depth)'),
    ParameterSpec('publish_hha', True, 'publish hha/image (HHA of the completed depth)'),
    ParameterSpec('publish_poses', True,
                  'publish objects/poses, objects/markers, objects/overlay and TF'),
    ParameterSpec('publish_mono', True, 'publish depth/mono (depth from colour alone)'),
)


def prefixed(prefix, specs, excluded=()):
    """Return ``specs`` renamed '<prefix>.<name>', without the names in ``excluded``."""
    return tuple(ParameterSpec(f'{prefix}.{spec.name}', spec.default, spec.description,
                               spec.read_only)
                 for spec in specs if spec.name not in excluded)


PERCEPTION_PARAMETERS = OUTPUT_PARAMETERS + SCHEDULING_PARAMETERS + tuple(
    spec for prefix, (specs, excluded) in STAGE_SECTIONS.items()
    for spec in prefixed(prefix, specs, excluded))


def _cuda_memory(device):
    """Return a function giving the CUDA memory allocated on ``device``, or None on a CPU."""
    if device.type != 'cuda':
        return None
    return lambda: torch.cuda.memory_allocated(device)


class PerceptionNode(StageNode):
    """Publish every enabled output of one camera from one decode per frame."""

    def __init__(self, **kwargs):
        self.workers, self.group_diagnostics = {}, {}
        super().__init__('perception_node', PERCEPTION_PARAMETERS, 'decode', **kwargs)

    def configure(self):
        """Build the pipeline's stages and the publishers of the enabled outputs."""
        self.pipeline = self._build_pipeline(self.params)
        outputs = self.pipeline.outputs
        self.image_publishers = {
            name: self.create_publisher(Image, OUTPUT_TOPICS[name][0], self.output_qos)
            for name in outputs if OUTPUT_TOPICS[name][1] is not None}
        self.pose_outputs = PoseOutputs(self, self.pipeline.pose.catalogue, self.params,
                                        'pose.') if 'poses' in outputs else None
        device = self.pipeline.stages[0].device
        name = self.get_fully_qualified_name()
        self.group_diagnostics = {
            group: StageDiagnostics(f'{name}: {group}', hardware_id=group,
                                    memory=_cuda_memory(device))
            for group in self.pipeline.groups()}
        self.start([('rgb', Image, 'rgb/image_raw'), ('depth', Image, 'depth/image_raw'),
                    ('intrinsics', CameraInfo, 'rgb/camera_info')], self.pipeline.stages)
        self.get_logger().info(
            f'perception on {device}: {", ".join(outputs)} from {self.topic("rgb")}, '
            f'{self.topic("depth")}; groups {", ".join(self.group_diagnostics)} each on its '
            'own thread')

    def activated(self):
        """Start one LatestWorker per stage group."""
        self.workers = {
            group: LatestWorker(
                f'perception_{group}', lambda frame, g=group: self._run_group(g, frame),
                on_skip=diagnostics.frames_skipped,
                nice=0 if group == 'depth' else self.params['background_nice'])
            for group, diagnostics in self.group_diagnostics.items()}

    def deactivated(self):
        """Stop the workers after the frame each is running."""
        for worker in self.workers.values():
            worker.stop()
        self.workers = {}

    @staticmethod
    def _build_pipeline(params):
        """Return the PerceptionPipeline of the node's parameter values."""
        def section(prefix, names):
            return {key: params[f'{prefix}.{name}'] for key, name in names.items()}
        outputs = [name for name in OUTPUTS if params[f'publish_{name}']]
        completion = section('completion', {k: k for k in (
            'method', 'half', 'downsample', 'keep_measured', 'min_valid_fraction',
            'runtime')})
        completion['weights'] = params['completion.weights'] or None
        gravity = list(params['hha.gravity'])
        hha = section('hha', {'min_valid_fraction': 'min_valid_fraction',
                              'compile_kernels': 'compile'})
        hha['gravity'] = gravity if any(gravity) else None
        pose = section('pose', {k: k for k in (
            'refine', 'min_score', 'rotation_source', 'hypotheses', 'runtime')})
        pose['weights'] = params['pose.weights'] or None
        pose['feature_templates'] = params['pose.feature_templates'] or None
        catalogue = load_catalogue(data_file(params['pose.objects']),
                                   params['pose.mesh_dir'] or None) \
            if 'poses' in outputs else None
        mono = section('mono_depth', {k: k for k in ('half', 'input_width', 'runtime')})
        mono['weights'] = params['mono_depth.weights'] or None
        return PerceptionPipeline(
            outputs, device=params['device'], completion=completion, hha=hha,
            catalogue=catalogue, pose=pose, mono=mono,
            mono_scale_from_depth=params['mono_depth.scale_from_depth'])

    def stage_diagnostics(self):
        """Return the decode's StageDiagnostics and each stage group's."""
        return [self.diagnostics, *self.group_diagnostics.values()]

    def on_frame(self, msgs):
        """
        Decode and check one synchronised frame once; hand it to every stage group's worker.

        PerceptionPipeline.prepare checks the depth and colour and copies them to the device
        once, so a bad frame is reported once and reaches no stage.
        """
        rgb = self.for_input('rgb', image_to_rgb, msgs['rgb'])
        intrinsics = self.for_input('intrinsics', intrinsics_from_camera_info,
                                    msgs['intrinsics'], rgb.shape[:2])
        depth = self.for_input('depth', image_to_numpy, msgs['depth'], DEPTH_ENCODINGS)
        prepared = self.for_input('depth', self.pipeline.prepare, rgb, depth, intrinsics,
                                  DEPTH_SCALE_16BIT)
        frame = (prepared, msgs['rgb'].header, msgs['depth'].header)
        for group, worker in self.workers.items():
            self.group_diagnostics[group].input_received()
            worker.submit(frame)

    def _run_group(self, group, frame):
        self.run_guarded(self.group_diagnostics[group], self._serve, group, frame)

    def _serve(self, group, frame):
        """Run one stage group on a decoded frame and publish its outputs."""
        prepared, rgb_header, depth_header = frame
        about = 'depth' if group == 'depth' else 'rgb'
        results = self.for_input(about, self.pipeline.run_group, group, prepared)
        for name, result in results.items():
            header = rgb_header if name in COLOUR_HEADER else depth_header
            if name == 'poses':
                self.pose_outputs.publish(result, prepared.rgb, prepared.intrinsics, header)
            else:
                self.image_publishers[name].publish(
                    numpy_to_image(result, OUTPUT_TOPICS[name][1], header=header))
        # The outputs of one group share their header (GROUPS follow COLOUR_HEADER).
        age_ns = self.get_clock().now().nanoseconds - header_nanoseconds(header)
        self.group_diagnostics[group].output_published(age_ns * 1e-9)

    def destroy_node(self):
        """Stop the stage workers (after the frame each is running), then the node."""
        self.deactivated()
        return super().destroy_node()


def main(args=None):
    """Run perception_node until shutdown (``ros2 run rgbd_perception perception_node``)."""
    run_node(PerceptionNode, args)


if __name__ == '__main__':
    main()
