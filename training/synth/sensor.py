"""
Depth sensor models: what a real RGB-D camera makes of the clean rendered depth.

Every model is a function of the clean (H, W) float32 depth in metres (0 = missing) that
returns a new depth; random ones take a seeded numpy Generator. Only two kinds of change
exist: a pixel is set to 0 (a hole) or its value moves (noise, flying pixels); holes are never
filled. :func:`apply_sensor` chains them for a :class:`SensorModel`; :data:`PRESETS` holds a
structured-light camera (Kinect v1 / RealSense D4xx-like: projector shadows, edge dropout, holes
on dark, specular and grazing surfaces) and a time-of-flight camera (flying pixels, flicker).
"""

from dataclasses import dataclass

import cv2
import numpy as np

from rgbd_perception.geometry.camera import depth_edges, ray_slopes


def _ray_slopes_32(k, shape):
    """Return x/z (1, W) and y/z (H, 1) float32 of the rays through the pixel centres of K."""
    return tuple(slopes.astype(np.float32) for slopes in ray_slopes(k, shape))


def view_directions(k, shape):
    """Return (3, H, W) float32 unit vectors from the camera through the pixel centres."""
    x, y = _ray_slopes_32(k, shape)
    x, y = np.broadcast_arrays(x, y)
    length = np.sqrt(x * x + y * y + 1.0)
    return np.stack([x / length, y / length, 1.0 / length])


def _one_sided_step(depth, axis):
    """Return the forward or backward depth difference along axis, whichever is smaller."""
    step = np.diff(depth, axis=axis)
    pad = [(0, 0), (0, 0)]
    pad[axis] = (0, 1)
    forward = np.pad(step, pad, mode='edge')
    pad[axis] = (1, 0)
    backward = np.pad(step, pad, mode='edge')
    return np.where(np.abs(forward) <= np.abs(backward), forward, backward)


def depth_normals(depth, k):
    """
    Return (3, H, W) float32 unit normals from a depth image, facing the camera.

    With z_u, z_v the one-sided depth differences along columns and rows (each towards the
    neighbour with the smaller step, so nothing smears across depth edges) and (x, y, 1) the
    pixel's ray, the normal of the surface z (x, y, 1) is proportional to
    (fx z_u, fy z_v, -(fx z_u x + fy z_v y + z)): the cross product of the two tangents,
    scaled by fx fy / z and turned towards the camera (its dot product with the ray is -z).
    """
    z = depth.astype(np.float32)
    x, y = _ray_slopes_32(k, depth.shape)
    du = np.float32(k[0, 0]) * _one_sided_step(z, 1)
    dv = np.float32(k[1, 1]) * _one_sided_step(z, 0)
    normals = np.stack([du, dv, -(du * x + dv * y + z)])
    with np.errstate(invalid='ignore', divide='ignore'):
        return normals / np.sqrt((normals * normals).sum(axis=0))


def gaussian_noise(depth, rng, sigma_0=0.0012, sigma_2=0.0019):
    """
    Add depth-dependent Gaussian noise: sigma(z) = sigma_0 + sigma_2 * z^2 (metres).

    The defaults follow the axial noise of a Kinect v1 (Nguyen et al., 2012). Missing pixels
    stay 0; pixels pushed to z <= 0 become 0.
    """
    valid = depth > 0
    noisy = depth + rng.standard_normal(depth.shape) * (sigma_0 + sigma_2 * depth * depth)
    return np.where(valid & (noisy > 0), noisy, 0.0).astype(np.float32)


def edge_effects(depth, rng, jump=0.03, dropout=0.5, flying=0.2):
    """
    Drop and smear pixels at depth discontinuities.

    Edge pixels: :func:`rgbd_perception.geometry.camera.depth_edges` with relative jump
    `jump`, missing neighbours counting as discontinuities.  Each edge pixel is dropped (0)
    with probability `dropout`; of the others, a fraction `flying` becomes a flying pixel: a
    uniform random depth between the nearest and farthest valid depth of its 3 x 3
    neighbourhood.
    """
    edges = depth_edges(depth, jump, missing_is_edge=True)
    valid = depth > 0
    kernel = np.ones((3, 3), np.uint8)
    nearest = cv2.erode(np.where(valid, depth, np.inf).astype(np.float32), kernel)
    farthest = cv2.dilate(depth.astype(np.float32), kernel)
    draw = rng.random(depth.shape)
    mix = rng.random(depth.shape)
    flying_pixels = edges & (draw >= dropout) & (draw < dropout + (1 - dropout) * flying)
    result = np.where(flying_pixels, nearest + mix * (farthest - nearest), depth)
    return np.where(edges & (draw < dropout), 0.0, result).astype(np.float32)


def dark_holes(depth, rgb, rng, threshold=0.1, probability=0.7, window=5):
    """
    Drop pixels of dark surfaces: mean luminance (Rec. 601, 0-1) below threshold.

    Dark surfaces return too little infrared light. The luminance of the RGB is averaged over
    window x window pixels (a surface, not single dark texels); each pixel below threshold is
    dropped with `probability`. rgb: (H, W, 3) uint8.
    """
    luminance = (rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)) / 255.0
    dark = cv2.blur(luminance, (window, window)) < threshold
    holes = dark & (rng.random(depth.shape) < probability)
    return np.where(holes, 0.0, depth).astype(np.float32)


def specular_holes(depth, normals, directions, light_direction, glossy, rng, cone_deg=6.0,
                   probability=0.9):
    """
    Drop pixels where a glossy surface mirrors the light into the camera.

    normals: (3, H, W) unit normals (:func:`depth_normals`); directions: (3, H, W) unit view
    rays (:func:`view_directions`); light_direction: (3,) unit vector towards the light in
    the optical frame; glossy: (H, W) bool. A pixel is a highlight when the angle between its
    normal and the half vector of the light and view directions is below cone_deg; glossy
    highlights are dropped with `probability`.
    """
    half = np.asarray(light_direction, np.float32)[:, None, None] - directions
    half /= np.sqrt((half * half).sum(axis=0))
    with np.errstate(invalid='ignore'):
        highlight = (normals * half).sum(axis=0) > np.cos(np.radians(cone_deg))
    holes = glossy & highlight & (rng.random(depth.shape) < probability)
    return np.where(holes, 0.0, depth).astype(np.float32)


def grazing_holes(depth, normals, directions, max_angle_deg=75.0):
    """
    Drop pixels whose normal makes more than max_angle_deg with the ray to the camera.

    normals, directions: (3, H, W) as for :func:`specular_holes`.
    """
    with np.errstate(invalid='ignore'):
        grazing = -(normals * directions).sum(axis=0) < np.cos(np.radians(max_angle_deg))
    return np.where(grazing, 0.0, depth).astype(np.float32)


def projector_shadow(depth, k, baseline=0.075, tolerance_px=0.1):
    """
    Drop pixels that the projector of a structured-light camera cannot see.

    The projector has the camera's K and sits at (baseline, 0, 0) m in the optical frame
    (rectified, so a point stays in its image row). A point at column u and depth z projects
    to projector column u_p = u - fx * baseline / z; it is hidden from the projector exactly
    when a point on the projector's side of it in the same row (u' > u for a positive
    baseline) has a smaller projector column, u'_p < u_p - tolerance_px (the occluding
    surface crosses the projector ray). So shadows lie on the far side of the background next
    to the occluder's edge opposite the projector: left of foreground objects for a
    projector at +x.
    """
    flip = baseline < 0
    z = depth[:, ::-1] if flip else depth
    columns = np.arange(z.shape[1], dtype=np.float64)
    with np.errstate(divide='ignore'):
        projected = np.where(z > 0, columns - k[0, 0] * abs(baseline) / z, np.inf)
    # min over the columns to the right of each pixel: reversed running minimum, shifted.
    right_min = np.minimum.accumulate(projected[:, ::-1], axis=1)[:, ::-1]
    right_min = np.concatenate([right_min[:, 1:], np.full((z.shape[0], 1), np.inf)], axis=1)
    shadow = (z > 0) & (right_min < projected - tolerance_px)
    shadow = shadow[:, ::-1] if flip else shadow
    return np.where(shadow, 0.0, depth).astype(np.float32)


def flicker_dropout(depth, rng, cell=48, fraction=0.03):
    """
    Drop spatially correlated blobs, as ToF flicker / multipath does from frame to frame.

    A smooth random field (uniform noise on a grid of cell-pixel spacing, bicubic upsampled)
    is thresholded at its (1 - fraction) quantile; pixels above it are dropped.
    """
    height, width = depth.shape
    grid = rng.random((height // cell + 2, width // cell + 2)).astype(np.float32)
    field = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    holes = field > np.quantile(field, 1.0 - fraction)
    return np.where(holes, 0.0, depth).astype(np.float32)


def range_limits(depth, near=0.4, far=4.5):
    """Drop pixels outside the working range [near, far] metres."""
    return np.where((depth >= near) & (depth <= far), depth, 0.0).astype(np.float32)


@dataclass(frozen=True)
class SensorModel:
    """
    Parameters of a chain of sensor effects (see each function; 0 disables an effect).

    Effects run in this order on the clean depth: projector shadow, grazing, specular and
    dark holes, edge dropout / flying pixels (edges of the clean depth), Gaussian noise,
    flicker, working range.
    """

    projector_baseline: float = 0.0
    grazing_deg: float = 90.0
    specular_cone_deg: float = 0.0
    specular_probability: float = 0.0
    dark_threshold: float = 0.0
    dark_probability: float = 0.0
    edge_jump: float = 0.03
    edge_dropout: float = 0.0
    flying: float = 0.0
    sigma_0: float = 0.0
    sigma_2: float = 0.0
    flicker_cell: int = 48
    flicker_fraction: float = 0.0
    near: float = 0.0
    far: float = np.inf


PRESETS = {
    'none': None,
    'structured_light': SensorModel(
        projector_baseline=0.075, grazing_deg=75.0, specular_cone_deg=6.0,
        specular_probability=0.9, dark_threshold=0.08, dark_probability=0.6, edge_jump=0.03,
        edge_dropout=0.5, flying=0.1, sigma_0=0.0012, sigma_2=0.0019, near=0.4, far=4.5),
    'tof': SensorModel(
        grazing_deg=80.0, specular_cone_deg=3.0, specular_probability=0.5,
        dark_threshold=0.05, dark_probability=0.9, edge_jump=0.02, edge_dropout=0.2,
        flying=0.8, sigma_0=0.002, sigma_2=0.001, flicker_cell=48, flicker_fraction=0.03,
        near=0.25, far=5.5),
}


def apply_sensor(model, depth, rgb, k, light_direction, glossy, rng):
    """
    Return the sensor depth of a clean (H, W) float32 depth (m) under a SensorModel.

    rgb: (H, W, 3) uint8; k: (3, 3); light_direction: (3,) unit vector towards the light in
    the optical frame; glossy: (H, W) bool; rng: numpy Generator. model None: a copy.
    """
    if model is None:
        return depth.copy()
    result = depth
    if model.projector_baseline:
        result = projector_shadow(result, k, model.projector_baseline)
    directions = view_directions(k, depth.shape)
    normals = depth_normals(depth, k)
    if model.grazing_deg < 90.0:
        result = grazing_holes(result, normals, directions, model.grazing_deg)
    if model.specular_probability:
        result = specular_holes(result, normals, directions, light_direction, glossy, rng,
                                model.specular_cone_deg, model.specular_probability)
    if model.dark_probability:
        result = dark_holes(result, rgb, rng, model.dark_threshold, model.dark_probability)
    if model.edge_dropout or model.flying:
        edges = edge_effects(depth, rng, model.edge_jump, model.edge_dropout, model.flying)
        result = np.where(result > 0, edges, 0.0).astype(np.float32)
    if model.sigma_0 or model.sigma_2:
        result = gaussian_noise(result, rng, model.sigma_0, model.sigma_2)
    if model.flicker_fraction:
        result = flicker_dropout(result, rng, model.flicker_cell, model.flicker_fraction)
    return range_limits(result, model.near, model.far)
