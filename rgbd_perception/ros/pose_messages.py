"""ROS messages of pose estimates: PoseArray, RViz markers and per-object TF transforms."""

from geometry_msgs.msg import Pose, PoseArray, TransformStamped
from visualization_msgs.msg import Marker, MarkerArray

from rgbd_perception.geometry.pose import quaternion_xyzw

#: Marker namespaces of pose_node: mesh (or box) per object and its text label.
MESH_NAMESPACE, LABEL_NAMESPACE = 'objects', 'labels'
#: Mesh formats RViz's mesh marker loads.
RVIZ_MESH_SUFFIXES = ('.stl', '.dae', '.mesh', '.obj', '.ply')


def _pose(estimate):
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in
                                                         estimate.translation)
    q = quaternion_xyzw(estimate.rotation)
    pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = q
    return pose


def pose_array(estimates, header):
    """Return a PoseArray of the estimates (model to camera optical frame) with ``header``."""
    return PoseArray(header=header, poses=[_pose(e) for e in estimates])


def object_frame(obj, number):
    """Return the TF child frame name of the number-th estimate of a catalogue object."""
    return f'{obj.name}_{number}'


def marker_array(estimates, catalogue, header, lifetime_s=0.5):
    """
    Return the RViz markers of the estimates in the frame of ``header``.

    DELETEALL first, then per estimate its mesh (a box for formats RViz cannot load) and a
    text label with the score.
    """
    markers = [Marker(header=header, action=Marker.DELETEALL)]
    for number, estimate in enumerate(estimates):
        obj = catalogue[estimate.obj_id]
        marker = Marker(header=header, ns=MESH_NAMESPACE, id=number, action=Marker.ADD,
                        pose=_pose(estimate))
        marker.lifetime.sec = int(lifetime_s)
        marker.lifetime.nanosec = int((lifetime_s % 1) * 1e9)
        if obj.mesh_path.suffix.lower() in RVIZ_MESH_SUFFIXES:
            marker.type = Marker.MESH_RESOURCE
            marker.mesh_resource = obj.mesh_path.as_uri()
            marker.scale.x = marker.scale.y = marker.scale.z = float(obj.mesh_scale)
        else:
            marker.type = Marker.CUBE
            marker.scale.x, marker.scale.y, marker.scale.z = (float(v) for v in obj.extent)
        marker.color.r, marker.color.g, marker.color.b, marker.color.a = 0.2, 0.8, 0.3, 0.8
        label = Marker(header=header, ns=LABEL_NAMESPACE, id=number, action=Marker.ADD,
                       type=Marker.TEXT_VIEW_FACING, pose=_pose(estimate),
                       text=f'{obj.name} {estimate.score:.2f}')
        label.lifetime = marker.lifetime
        label.pose.position.y -= 0.6 * obj.diameter   # above the object (optical y is down)
        label.scale.z = 0.04
        label.color.r = label.color.g = label.color.b = label.color.a = 1.0
        markers += [marker, label]
    return MarkerArray(markers=markers)


def transforms(estimates, catalogue, header):
    """Return a TransformStamped per estimate: camera frame -> object_frame(obj, number)."""
    counts, result = {}, []
    for estimate in estimates:
        obj = catalogue[estimate.obj_id]
        number = counts.get(obj.obj_id, 0)
        counts[obj.obj_id] = number + 1
        transform = TransformStamped(header=header, child_frame_id=object_frame(obj, number))
        t = transform.transform
        t.translation.x, t.translation.y, t.translation.z = (float(v) for v in
                                                             estimate.translation)
        t.rotation.x, t.rotation.y, t.rotation.z, t.rotation.w = quaternion_xyzw(
            estimate.rotation)
        result.append(transform)
    return result
