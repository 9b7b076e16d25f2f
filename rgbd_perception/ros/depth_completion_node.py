"""
depth_completion_node: rgb/image_raw + depth/image_raw + depth/camera_info -> depth/completed.

depth/completed is 32FC1 metres with the header of the depth.  The depth must be registered
to the colour image (REP 118); the classical method subscribes to no colour.  camera_info
must match the depth's size; with publish_hha its intrinsics turn the completed depth into
hha/image in this process (HHA from filled depth: holes in the depth spoil HHA, the lesson
of the RGB-D SimSiam report in docs/references.md).
"""

from sensor_msgs.msg import CameraInfo, Image

from rgbd_perception.io.image_encodings import DEPTH_ENCODINGS, DEPTH_SCALE_16BIT
from rgbd_perception.io.ros_messages import (image_to_numpy, image_to_rgb,
                                             intrinsics_from_camera_info)
from rgbd_perception.ros.image_codec import numpy_to_image
from rgbd_perception.ros.parameters import ParameterSpec
from rgbd_perception.ros.stage_node import run_node, StageNode
from rgbd_perception.runtime.onnx_models import RUNTIME_HELP
from rgbd_perception.stages.completion import CompletionStage
from rgbd_perception.stages.depth_input import check_colour
from rgbd_perception.stages.hha import HhaStage

COMPLETION_PARAMETERS = (
    ParameterSpec('method', 'model',
                  "'model' (learned Vanishing Depth completion) or 'ip_basic' (classical "
                  'morphological filling, CPU, ignores the colour image)'),
    ParameterSpec('weights', '',
                  'exported .safetensors weights of a VanishingDepthNet (with its .json '
                  'manifest); empty: the bundled small model'),
    ParameterSpec('half', False, 'run the model in fp16 (CUDA only; ignored on the CPU)'),
    ParameterSpec('runtime', 'torch', RUNTIME_HELP),
    ParameterSpec('downsample', 0,
                  'the model runs at the input size divided by this integer factor; 0: the '
                  'factor their manifest names (runtime.downsample, else trained at)'),
    ParameterSpec('keep_measured', True,
                  'measured depth pixels keep their value; false publishes the model output '
                  'everywhere'),
    ParameterSpec('min_valid_fraction', 0.0,
                  'skip frames whose fraction of valid depth pixels is below this'),
    ParameterSpec('publish_hha', False,
                  'also publish hha/image computed from the completed depth'),
    ParameterSpec('gravity', [0.0, 0.0, 0.0],
                  'HHA only: gravity (down) in the camera optical frame; all zeros estimates '
                  'it per frame'),
)


class DepthCompletionNode(StageNode):
    """Publish hole-free metric depth for every registered colour + depth pair."""

    def __init__(self, **kwargs):
        super().__init__('depth_completion_node', COMPLETION_PARAMETERS, 'depth_completion',
                         **kwargs)

    def configure(self):
        """Build the stage and the publishers; name the inputs."""
        params = self.params
        self.stage = CompletionStage(
            method=params['method'], weights=params['weights'] or None,
            device=params['device'], half=params['half'], downsample=params['downsample'],
            keep_measured=params['keep_measured'],
            min_valid_fraction=params['min_valid_fraction'], runtime=params['runtime'])
        inputs = [('depth', Image, 'depth/image_raw')]
        if params['method'] == 'model':
            inputs.append(('rgb', Image, 'rgb/image_raw'))
        inputs.append(('intrinsics', CameraInfo, 'depth/camera_info'))
        stages = [self.stage]
        self.hha_stage, self.hha_publisher = None, None
        if params['publish_hha']:
            gravity = list(params['gravity'])
            self.hha_stage = HhaStage(device=params['device'],
                                      gravity=gravity if any(gravity) else None)
            self.hha_publisher = self.create_publisher(Image, 'hha/image', self.output_qos)
            stages.append(self.hha_stage)
        self.publisher = self.create_publisher(Image, 'depth/completed', self.output_qos)
        self.start(inputs, stages)
        self.get_logger().info(
            f'depth completion ({params["method"]}) on {self.stage.device}: '
            f'{self.topic("depth")} -> {self.publisher.topic_name}')

    def on_frame(self, msgs):
        """Complete one frame and publish it (and its HHA image when enabled)."""
        depth = self.for_input('depth', image_to_numpy, msgs['depth'], DEPTH_ENCODINGS)
        rgb = None
        if 'rgb' in msgs:
            rgb = self.for_input('rgb', image_to_rgb, msgs['rgb'])
            self.for_input('rgb', check_colour, rgb, depth.shape)
        intrinsics = self.for_input('intrinsics', intrinsics_from_camera_info,
                                    msgs['intrinsics'], depth.shape)
        completed = self.for_input('depth', self.stage, rgb, depth,
                                   depth_scale=DEPTH_SCALE_16BIT)
        header = msgs['depth'].header
        self.publisher.publish(numpy_to_image(completed, '32FC1', header=header))
        if self.hha_stage is not None:
            hha = self.for_input('depth', self.hha_stage, completed, intrinsics)
            self.hha_publisher.publish(numpy_to_image(hha, 'rgb8', header=header))


def main(args=None):
    """Run depth_completion_node until shutdown (``ros2 run rgbd_perception ...``)."""
    run_node(DepthCompletionNode, args)


if __name__ == '__main__':
    main()
