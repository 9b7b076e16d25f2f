"""
Pinhole camera of the synthetic world: K, its exact OpenGL matrices and metric depth.

Conventions: world frame in metres with +z up, gravity along -z; camera optical frame as in
REP 103 (x right, y down, z forward); K = [[f, 0, cx], [0, f, cy], [0, 0, 1]] in the 0-based
convention of :mod:`rgbd_perception.geometry.camera` (which projects and back-projects with it),
f = H / (2 tan(vfov / 2)), cx = (W - 1) / 2, cy = (H - 1) / 2.

TinyRenderer samples pixel column i at NDC x = 2 i / W - 1 and image row r at NDC
y = 1 - 2 (r + 1) / H (measured with edges at sub-pixel positions). The projection matrix that
puts the ray of pixel (u, v) = (i, r) of K onto those samples is, in OpenGL's camera frame
(x right, y up, z backward), with near n and far f::

    [[2 fx / W, 0,        (W - 2 cx) / W,          0               ],
     [0,        2 fy / H, (2 cy + 2 - H) / H,      0               ],
     [0,        0,        -(f + n) / (f - n),      -2 f n / (f - n)],
     [0,        0,        -1,                      0               ]]

and the depth buffer value d in [0, 1] is the optical-frame z = f n / (f - (f - n) d).
"""

import math

import numpy as np

from rgbd_perception.geometry.camera import Intrinsics

#: Optical frame (x right, y down, z forward) -> OpenGL camera frame (x right, y up, z back).
OPTICAL_TO_GL = np.diag([1.0, -1.0, -1.0])
GRAVITY_WORLD = np.array([0.0, 0.0, -1.0])


def intrinsics_from_vfov(width, height, vfov_deg):
    """Return the 0-based (3, 3) float64 K of a W x H image of vertical field of view vfov_deg."""
    focal = height / (2.0 * math.tan(math.radians(vfov_deg) / 2.0))
    return Intrinsics(focal, focal, (width - 1) / 2.0, (height - 1) / 2.0).matrix()


def projection_matrix(k, width, height, near, far):
    """Return TinyRenderer's projection matrix of K (see the module docstring), 16 floats."""
    projection = np.zeros((4, 4))
    projection[0, 0] = 2.0 * k[0, 0] / width
    projection[0, 2] = (width - 2.0 * k[0, 2]) / width
    projection[1, 1] = 2.0 * k[1, 1] / height
    projection[1, 2] = (2.0 * k[1, 2] + 2.0 - height) / height
    projection[2, 2] = -(far + near) / (far - near)
    projection[2, 3] = -2.0 * far * near / (far - near)
    projection[3, 2] = -1.0
    return projection.T.reshape(-1).tolist()  # pybullet takes column-major matrices


def view_matrix(rotation_w2c, translation_w2c):
    """Return the OpenGL view matrix (16 floats, column-major) of an optical-frame pose."""
    view = np.eye(4)
    view[:3, :3] = OPTICAL_TO_GL @ rotation_w2c
    view[:3, 3] = OPTICAL_TO_GL @ translation_w2c
    return view.T.reshape(-1).tolist()


def metric_depth(buffer, near, far):
    """
    Return (H, W) float32 optical-frame depth in metres of a TinyRenderer depth buffer.

    z = far * near / (far - (far - near) * d); pixels that nothing covered (d >= 1) are 0.
    """
    d = np.asarray(buffer, np.float64)
    depth = far * near / (far - (far - near) * np.minimum(d, 1.0))
    return np.where(d < 1.0, depth, 0.0).astype(np.float32)


def look_at(eye, target, roll_rad=0.0):
    """
    Return (R_w2c (3, 3), t_w2c (3,)) of an optical frame at eye looking at target.

    The image x axis is horizontal (world z up) before the roll about the optical axis;
    eye - target must not be vertical.
    """
    eye, target = np.asarray(eye, np.float64), np.asarray(target, np.float64)
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    c, s = math.cos(roll_rad), math.sin(roll_rad)
    right, down = c * right + s * down, -s * right + c * down
    rotation_w2c = np.stack([right, down, forward])
    return rotation_w2c, -rotation_w2c @ eye


def gravity_in_camera(rotation_w2c):
    """Return the (3,) unit gravity (down) direction in the camera optical frame."""
    return rotation_w2c @ GRAVITY_WORLD
