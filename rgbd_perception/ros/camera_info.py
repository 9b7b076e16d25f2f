"""sensor_msgs/CameraInfo of pinhole intrinsics (validating one: io.ros_messages)."""

from sensor_msgs.msg import CameraInfo

from rgbd_perception.io.ros_messages import pinhole_camera_info_fields


def camera_info_message(intrinsics, width, height, header=None):
    """
    Return the CameraInfo of an undistorted pinhole camera (plumb_bob, D all zeros).

    intrinsics: Intrinsics (either pixel origin) or what as_intrinsics takes (numbers are
    0-based); K is written 0-based.  width, height: the image size; header: optional
    std_msgs/Header.
    """
    msg = CameraInfo(width=width, height=height, **pinhole_camera_info_fields(intrinsics))
    if header is not None:
        msg.header = header
    return msg
