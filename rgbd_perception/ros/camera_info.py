"""sensor_msgs/CameraInfo of pinhole intrinsics (validating one: io.ros_messages)."""

from sensor_msgs.msg import CameraInfo

from rgbd_perception.geometry.camera import as_intrinsics


def camera_info_message(intrinsics, width, height, header=None):
    """
    Return the CameraInfo of an undistorted pinhole camera (plumb_bob, D all zeros).

    intrinsics: Intrinsics (either pixel origin) or what as_intrinsics takes (numbers are
    0-based); K is written 0-based.  width, height: the image size; header: optional
    std_msgs/Header.
    """
    camera = as_intrinsics(intrinsics).with_origin(0)
    fx, fy, cx, cy = camera.fx, camera.fy, camera.cx, camera.cy
    msg = CameraInfo(width=width, height=height, distortion_model='plumb_bob', d=[0.0] * 5,
                     k=[fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0],
                     r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                     p=[fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0])
    if header is not None:
        msg.header = header
    return msg
