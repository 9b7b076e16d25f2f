"""
mono_depth_node: rgb/image_raw + rgb/camera_info -> depth/mono.

depth/mono is 32FC1 metres at the colour image's size with the header of the colour image:
metric depth from colour alone (rgbd_perception.stages.mono_depth), for when the depth camera
is blind (glass, sunlight, beyond its range) or absent.  camera_info must match the colour
image's size; its fx sets the metric scale.  With scale_from_depth the node also subscribes
depth/image_raw (registered to the colour, REP 118) and scales each prediction so that its
median over the measured pixels equals theirs (a sensor that sees part of the scene).
"""

from sensor_msgs.msg import CameraInfo, Image

from rgbd_perception.io.image_encodings import DEPTH_ENCODINGS, DEPTH_SCALE_16BIT
from rgbd_perception.io.ros_messages import (image_to_numpy, image_to_rgb,
                                             intrinsics_from_camera_info)
from rgbd_perception.ros.image_codec import numpy_to_image
from rgbd_perception.ros.parameters import ParameterSpec
from rgbd_perception.ros.stage_node import run_node, StageNode
from rgbd_perception.runtime.onnx_models import RUNTIME_HELP
from rgbd_perception.stages.mono_depth import MonoDepthStage

MONO_DEPTH_PARAMETERS = (
    ParameterSpec('weights', '',
                  'exported .safetensors weights of a MonoDepthNet (with its .json manifest); '
                  'empty: the bundled ones'),
    ParameterSpec('half', False, 'run the model in fp16 (CUDA only; ignored on the CPU)'),
    ParameterSpec('runtime', 'torch', RUNTIME_HELP),
    ParameterSpec('input_width', 0,
                  'width in pixels the model sees (the image is resized to it); 0: the width '
                  'the weights were trained at'),
    ParameterSpec('scale_from_depth', False,
                  'also subscribe depth/image_raw (registered to the colour) and scale each '
                  'prediction so that its median over the measured pixels matches theirs'),
)


class MonoDepthNode(StageNode):
    """Publish metric depth predicted from every colour image."""

    def __init__(self, **kwargs):
        super().__init__('mono_depth_node', MONO_DEPTH_PARAMETERS, 'mono_depth', **kwargs)

    def configure(self):
        """Build the stage and the publishers; name the inputs."""
        params = self.params
        self.stage = MonoDepthStage(weights=params['weights'] or None, device=params['device'],
                                    half=params['half'], input_width=params['input_width'],
                                    runtime=params['runtime'])
        self.publisher = self.create_publisher(Image, 'depth/mono', self.output_qos)
        inputs = [('rgb', Image, 'rgb/image_raw'), ('intrinsics', CameraInfo, 'rgb/camera_info')]
        if params['scale_from_depth']:
            inputs.append(('depth', Image, 'depth/image_raw'))
        self.start(inputs, [self.stage])
        self.get_logger().info(f'monocular depth on {self.stage.device}: {self.topic("rgb")} '
                               f'-> {self.publisher.topic_name}')

    def on_frame(self, msgs):
        """Predict one frame's depth and publish it."""
        rgb = self.for_input('rgb', image_to_rgb, msgs['rgb'])
        intrinsics = self.for_input('intrinsics', intrinsics_from_camera_info,
                                    msgs['intrinsics'], rgb.shape[:2])
        sparse = None
        if 'depth' in msgs:
            sparse = self.for_input('depth', image_to_numpy, msgs['depth'], DEPTH_ENCODINGS)
        depth = self.for_input('rgb', self.stage, rgb, intrinsics, sparse,
                               depth_scale=DEPTH_SCALE_16BIT)
        self.publisher.publish(numpy_to_image(depth, '32FC1', header=msgs['rgb'].header))


def main(args=None):
    """Run mono_depth_node until shutdown (``ros2 run rgbd_perception mono_depth_node``)."""
    run_node(MonoDepthNode, args)


if __name__ == '__main__':
    main()
