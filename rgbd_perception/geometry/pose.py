"""
Pose maths of the pose stage and its training: rotations along a crop's ray, translations.

Allocentric <-> egocentric rotations along the ray through a crop's centre; translation from
the object's depth points or, without depth, from the box size or the mask's area.

Camera optical frame (x right, y down, z forward), metres; pixels 0-based (OpenCV / ROS).
Rotations map model to camera coordinates.
"""

import cv2
import numpy as np
import roma
import torch
import torch.nn.functional as F

from rgbd_perception.geometry.camera import project


def quaternion_xyzw(rotation):
    """Return the (x, y, z, w) unit quaternion (list of 4 floats) of a (3, 3) rotation matrix."""
    matrix = torch.as_tensor(rotation, dtype=torch.float64)
    return [float(v) for v in roma.rotmat_to_unitquat(matrix)]


def ray_rotation(rays):
    """
    Return (..., 3, 3) rotations taking the optical axis (0, 0, 1) onto the unit rays (..., 3).

    The shortest arc (no roll about the ray); rays within 1e-9 of the axis give identity.
    """
    rays = F.normalize(rays, dim=-1)
    z = torch.zeros_like(rays)
    z[..., 2] = 1.0
    axis = torch.linalg.cross(z, rays, dim=-1)
    sine = axis.norm(dim=-1, keepdim=True)
    angle = torch.atan2(sine, rays[..., 2:3])
    rotvec = torch.where(sine > 1e-9, axis / sine.clamp_min(1e-12) * angle,
                         torch.zeros_like(axis))
    return roma.rotvec_to_rotmat(rotvec)


def egocentric_rotation(allocentric, rays):
    """Return model-to-camera rotations (..., 3, 3) of allocentric ones seen along rays."""
    return ray_rotation(rays) @ allocentric


def allocentric_rotation(egocentric, rays):
    """Return the allocentric rotations (..., 3, 3) of model-to-camera ones seen along rays."""
    return ray_rotation(rays).transpose(-1, -2) @ egocentric


def depth_translation(vertices, rotation, points):
    """Return t placing the rotated model's camera-facing vertices' centroid on the points'."""
    rotated = vertices @ rotation.T
    centre = points.mean(axis=0)
    facing = rotated[(rotated - rotated.mean(axis=0)) @ centre < 0]
    return centre - (facing if len(facing) else rotated).mean(axis=0)


def subset(points, count, rng):
    """Return at most ``count`` rows of ``points`` (a seeded random subset)."""
    if len(points) <= count:
        return np.asarray(points, np.float64)
    return np.asarray(points, np.float64)[rng.choice(len(points), count, replace=False)]


def box_mask(bbox, shape):
    x, y, w, h = (int(round(v)) for v in bbox)
    mask = np.zeros(shape, bool)
    mask[max(y, 0):max(y + h, 0), max(x, 0):max(x + w, 0)] = True
    return mask


def reference_depth(depth, bbox, mask):
    """Return the median valid depth of the object's pixels (its box without a mask), m."""
    if depth is None:
        return 0.0
    region = box_mask(bbox, depth.shape) if mask is None else mask
    values = depth[region & (depth > 0)]
    return float(np.median(values)) if values.size else 0.0


def distance_from_box(vertices, rotation, ray, bbox, intrinsics):
    """Return the distance along ``ray`` at which the rotated model spans the box (metres)."""
    projected = project(vertices @ rotation.T + ray, intrinsics)
    span = np.ptp(projected, axis=0)
    return float(np.sqrt(span[0] * span[1] / max(bbox[2] * bbox[3], 1.0)))


def hull_area(points):
    """Return the area of the convex hull of (N, 2) pixel points (pixels^2)."""
    return float(cv2.contourArea(cv2.convexHull(np.asarray(points, np.float32))))


def distance_from_mask(vertices, rotation, ray, mask, intrinsics):
    """
    Return the distance along ``ray`` at which the rotated model covers the mask (metres).

    Compared are convex-hull areas (so a concave object's gaps count alike on both sides): the
    projected vertices' at 1 m over d^2 (pinhole) against the (H, W) bool mask's pixels'.
    """
    projected = project(vertices @ rotation.T + ray, intrinsics)
    rows, cols = np.nonzero(mask)
    return float(np.sqrt(hull_area(projected) / max(hull_area(np.stack([cols, rows], 1)), 1.0)))
