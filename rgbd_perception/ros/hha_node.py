"""hha_node: depth/image_raw + depth/camera_info -> hha/image (rgb8, header of the depth)."""

from sensor_msgs.msg import CameraInfo, Image

from rgbd_perception.ros.camera_info import intrinsics_from_camera_info
from rgbd_perception.ros.image_codec import image_to_numpy, numpy_to_image
from rgbd_perception.ros.parameters import ParameterSpec
from rgbd_perception.ros.stage_node import FrameInputError, run_node, StageNode
from rgbd_perception.stages.depth_input import RawDepthError
from rgbd_perception.stages.hha import HhaStage

DEPTH_ENCODINGS = ('16UC1', 'mono16', '32FC1')
#: REP 118: 16-bit depth images are in millimetres.
DEPTH_SCALE_16BIT = 0.001

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
        gravity = list(self.params['gravity'])
        self.stage = HhaStage(device=self.params['device'],
                              gravity=gravity if any(gravity) else None,
                              min_valid_fraction=self.params['min_valid_fraction'],
                              compile_kernels=self.params['compile'])
        inputs = [(Image, 'depth/image_raw'), (CameraInfo, 'depth/camera_info')]
        if self.params['mask_from_raw_depth']:
            inputs.append((Image, 'depth/raw/image_raw'))
        self.publisher = self.create_publisher(Image, 'hha/image', self.output_qos)
        self.stage.warm_up()
        self.subscribe_synchronised(inputs)
        self.get_logger().info(
            f'HHA on {self.stage.device}: {self.topic(0)} -> {self.publisher.topic_name}')

    def on_frame(self, depth_msg, info_msg, raw_msg=None):
        """Encode one depth frame and publish its HHA image."""
        depth = self.decode(0, image_to_numpy, depth_msg, DEPTH_ENCODINGS)
        intrinsics = self.decode(1, intrinsics_from_camera_info, info_msg, depth.shape)
        raw = None if raw_msg is None else self.decode(2, image_to_numpy, raw_msg,
                                                       DEPTH_ENCODINGS)
        try:
            hha = self.decode(0, self.stage, depth, intrinsics, raw_depth=raw,
                              depth_scale=DEPTH_SCALE_16BIT)
        except FrameInputError as exc:
            if isinstance(exc.error, RawDepthError):
                raise FrameInputError(self.topic(2), exc.error) from exc
            raise
        self.publisher.publish(numpy_to_image(hha, 'rgb8', header=depth_msg.header))


def main(args=None):
    """Run hha_node until shutdown (``ros2 run rgbd_perception hha_node``)."""
    run_node(HhaNode, args)


if __name__ == '__main__':
    main()
