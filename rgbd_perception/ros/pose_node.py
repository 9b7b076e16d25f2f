"""
pose_node: rgb/image_raw (+ depth/image_raw) + rgb/camera_info -> objects/poses, markers, overlay.

Poses of the objects of one catalogue in the camera optical frame (the colour image's header):
objects/poses (PoseArray), objects/markers (MarkerArray: mesh + label), objects/overlay (the
colour image with projected boxes and axes) and, where tf2_ros is importable, one TF frame per
object.  Depth must be registered to the colour image (REP 118).  Detections come from the
built-in detector or, with use_label_image, from objects/labels: an instance-label image
(mono8 / 16UC1 / 32SC1, pixel value = catalogue object id, 0 = background) of the colour size.
"""

from geometry_msgs.msg import PoseArray
from sensor_msgs.msg import CameraInfo, Image
from visualization_msgs.msg import MarkerArray

from rgbd_perception.geometry.detections import detections_from_labels
from rgbd_perception.geometry.pose_overlay import draw_poses
from rgbd_perception.io.catalogue import load_catalogue
from rgbd_perception.io.data_paths import data_file
from rgbd_perception.io.image_encodings import DEPTH_ENCODINGS, DEPTH_SCALE_16BIT, LABEL_ENCODINGS
from rgbd_perception.io.ros_messages import (image_to_numpy, image_to_rgb,
                                             intrinsics_from_camera_info)
from rgbd_perception.ros.image_codec import numpy_to_image
from rgbd_perception.ros.parameters import ParameterSpec
from rgbd_perception.ros.pose_messages import marker_array, pose_array, transforms
from rgbd_perception.ros.stage_node import run_node, StageNode
from rgbd_perception.runtime.onnx_models import RUNTIME_HELP
from rgbd_perception.stages.pose import PoseStage

POSE_PARAMETERS = (
    ParameterSpec('objects', 'config/objects/demo.yaml',
                  'object catalogue YAML: a path, or relative to the package share folder'),
    ParameterSpec('mesh_dir', '', "folder of the catalogue's meshes; empty: the catalogue's"),
    ParameterSpec('weights', '', 'exported PoseNet .safetensors; empty: those the catalogue '
                  'names'),
    ParameterSpec('use_depth', True,
                  'subscribe to depth/image_raw (RGB-D); false: RGB only (needs RGB weights '
                  'and use_label_image)'),
    ParameterSpec('use_label_image', False,
                  'take detections from objects/labels (pixel = object id) instead of the '
                  'built-in depth detector'),
    ParameterSpec('runtime', 'torch', RUNTIME_HELP),
    ParameterSpec('refine', True, 'refine poses by ICP against the meshes (needs depth)'),
    ParameterSpec('hypotheses', 4,
                  "starting rotations of the ICP refinement: the network's and distinct "
                  "nearest templates of the bank beside the weights (1: the network's only)"),
    ParameterSpec('rotation_source', 'regression',
                  "regression (the network's rotation head), nearest_neighbour (the nearest "
                  'template on learned features; the bank beside the weights) or '
                  'feature_templates (the nearest rendered template on ImageNet features; '
                  'the bank of feature_templates; transfers best to real cameras)'),
    ParameterSpec('feature_templates', '',
                  'feature template bank .safetensors of rotation_source feature_templates '
                  '(python -m training feature-templates)'),
    ParameterSpec('min_score', 0.5,
                  'built-in detector: drop candidates below this identity probability'),
    ParameterSpec('publish_overlay', True, 'publish objects/overlay'),
    ParameterSpec('publish_tf', True, 'broadcast a TF frame per object (when tf2_ros exists)'),
    ParameterSpec('marker_lifetime', 0.5, 'seconds RViz keeps a marker without an update'),
)


def _transform_broadcaster(node):
    """Return a tf2_ros TransformBroadcaster, or None where tf2_ros is not installed."""
    try:
        from tf2_ros import TransformBroadcaster
    except ImportError:
        return None
    return TransformBroadcaster(node)


class PoseOutputs:
    """
    The pose outputs of a node: objects/poses, objects/markers, objects/overlay and TF.

    params: the node's values of publish_overlay, publish_tf and marker_lifetime (names as
    in POSE_PARAMETERS, looked up with ``prefix``).
    """

    def __init__(self, node, catalogue, params, prefix=''):
        self.catalogue = catalogue
        self.marker_lifetime = params[prefix + 'marker_lifetime']
        self.poses_pub = node.create_publisher(PoseArray, 'objects/poses', node.output_qos)
        self.markers_pub = node.create_publisher(MarkerArray, 'objects/markers',
                                                 node.output_qos)
        self.overlay_pub = node.create_publisher(Image, 'objects/overlay', node.output_qos) \
            if params[prefix + 'publish_overlay'] else None
        self.tf = _transform_broadcaster(node) if params[prefix + 'publish_tf'] else None
        self.tf_missing = params[prefix + 'publish_tf'] and self.tf is None

    def publish(self, estimates, rgb, intrinsics, header):
        """Publish one frame's estimates with the colour image's header."""
        self.poses_pub.publish(pose_array(estimates, header))
        self.markers_pub.publish(marker_array(estimates, self.catalogue, header,
                                              self.marker_lifetime))
        if self.overlay_pub is not None:
            overlay = draw_poses(rgb, estimates, self.catalogue, intrinsics)
            self.overlay_pub.publish(numpy_to_image(overlay, 'rgb8', header=header))
        if self.tf is not None and estimates:
            self.tf.sendTransform(transforms(estimates, self.catalogue, header))


class PoseNode(StageNode):
    """Publish 6-DoF poses of catalogue objects for every colour (+ depth) frame."""

    def __init__(self, **kwargs):
        super().__init__('pose_node', POSE_PARAMETERS, 'pose', **kwargs)

    def configure(self):
        """Build the stage and the publishers; name the inputs."""
        params = self.params
        catalogue = load_catalogue(data_file(params['objects']), params['mesh_dir'] or None)
        self.stage = PoseStage(catalogue, params['weights'] or None, device=params['device'],
                               refine=params['refine'], min_score=params['min_score'],
                               rotation_source=params['rotation_source'],
                               hypotheses=params['hypotheses'], runtime=params['runtime'],
                               feature_templates=params['feature_templates'] or None)
        if not self.stage.rgb_only and not params['use_depth']:
            raise ValueError('use_depth is false but the pose weights take RGB-D crops and '
                             'were not trained without depth')
        if not params['use_depth'] and not params['use_label_image']:
            raise ValueError('RGB only (use_depth false) needs detections: set '
                             'use_label_image')
        inputs = [('rgb', Image, 'rgb/image_raw'), ('intrinsics', CameraInfo, 'rgb/camera_info')]
        if params['use_depth']:
            inputs.append(('depth', Image, 'depth/image_raw'))
        if params['use_label_image']:
            inputs.append(('detections', Image, 'objects/labels'))
        self.outputs = PoseOutputs(self, catalogue, params)
        self.start(inputs, [self.stage])
        self.get_logger().info(
            f'poses of {len(catalogue.ids)} objects ({catalogue.name}) on '
            f'{self.stage.device}, {"RGB-D" if params["use_depth"] else "RGB"}, detections '
            f'from {"objects/labels" if params["use_label_image"] else "the depth"}'
            f'{"; no tf2_ros: no TF" if self.outputs.tf_missing else ""}')

    def on_frame(self, msgs):
        """Estimate and publish the poses of one frame."""
        rgb = self.for_input('rgb', image_to_rgb, msgs['rgb'])
        intrinsics = self.for_input('intrinsics', intrinsics_from_camera_info,
                                    msgs['intrinsics'], rgb.shape[:2])
        depth = detections = None
        if 'depth' in msgs:
            depth = self.for_input('depth', image_to_numpy, msgs['depth'], DEPTH_ENCODINGS)
        if 'detections' in msgs:
            labels = self.for_input('detections', image_to_numpy, msgs['detections'],
                                    LABEL_ENCODINGS)
            detections = self.for_input('detections', detections_from_labels, labels,
                                        rgb.shape[:2], self.stage.catalogue)
        estimates = self.for_input('rgb', self.stage, rgb, depth, intrinsics, detections,
                                   depth_scale=DEPTH_SCALE_16BIT)
        self.outputs.publish(estimates, rgb, intrinsics, msgs['rgb'].header)


def main(args=None):
    """Run pose_node until shutdown (``ros2 run rgbd_perception pose_node``)."""
    run_node(PoseNode, args)


if __name__ == '__main__':
    main()
