"""hha_node: depth/image_raw + depth/camera_info -> hha/image (rgb8, header of the depth)."""

from sensor_msgs.msg import CameraInfo, Image

from rgbd_perception.io.image_encodings import DEPTH_ENCODINGS, DEPTH_SCALE_16BIT
from rgbd_perception.io.ros_messages import image_to_numpy, intrinsics_from_camera_info
from rgbd_perception.ros.image_codec import numpy_to_image
from rgbd_perception.ros.parameters import ParameterSpec
from rgbd_perception.ros.stage_node import run_node, StageNode
from rgbd_perception.stages.hha import HhaStage

HHA_PARAMETERS = (
    ParameterSpec('gravity', [0.0, 0.0, 0.0],
                  'direction of gravity (down) in the camera optical frame [x, y, z]; all '
                  'zeros estimates it in every frame (Gupta two-stage algorithm)'),
    ParameterSpec('mask_from_raw_depth', False,
                  'also subscribe to depth/raw/image_raw and take the missing-depth mask of '
                  'the normal fits from its zeros (for filled or completed depth)'),
    ParameterSpec('min_valid_fraction', 0.0,
                  'skip frames whose fraction of valid depth pixels is below this'),
    ParameterSpec('compile', False,
                  'fuse the per-pixel kernels with torch.compile (faster after a one-off '
                  'compile of tens of seconds on the first frame)'),
)


class HhaNode(StageNode):
    """Publish Gupta HHA images of every depth frame."""

    def __init__(self, **kwargs):
        super().__init__('hha_node', HHA_PARAMETERS, 'hha', **kwargs)

    def configure(self):
        """Build the stage and the publishers; name the inputs."""
        gravity = list(self.params['gravity'])
        self.stage = HhaStage(device=self.params['device'],
                              gravity=gravity if any(gravity) else None,
                              min_valid_fraction=self.params['min_valid_fraction'],
                              compile_kernels=self.params['compile'])
        inputs = [('depth', Image, 'depth/image_raw'),
                  ('intrinsics', CameraInfo, 'depth/camera_info')]
        if self.params['mask_from_raw_depth']:
            inputs.append(('raw_depth', Image, 'depth/raw/image_raw'))
        self.publisher = self.create_publisher(Image, 'hha/image', self.output_qos)
        self.start(inputs, [self.stage])
        self.get_logger().info(
            f'HHA on {self.stage.device}: {self.topic("depth")} -> {self.publisher.topic_name}')

    def on_frame(self, msgs):
        """Encode one depth frame and publish its HHA image."""
        depth = self.for_input('depth', image_to_numpy, msgs['depth'], DEPTH_ENCODINGS)
        intrinsics = self.for_input('intrinsics', intrinsics_from_camera_info,
                                    msgs['intrinsics'], depth.shape)
        raw = None
        if 'raw_depth' in msgs:
            raw = self.for_input('raw_depth', image_to_numpy, msgs['raw_depth'],
                                 DEPTH_ENCODINGS)
        hha = self.for_input('depth', self.stage, depth, intrinsics, raw_depth=raw,
                             depth_scale=DEPTH_SCALE_16BIT)
        self.publisher.publish(numpy_to_image(hha, 'rgb8', header=msgs['depth'].header))


def main(args=None):
    """Run hha_node until shutdown (``ros2 run rgbd_perception hha_node``)."""
    run_node(HhaNode, args)


if __name__ == '__main__':
    main()
