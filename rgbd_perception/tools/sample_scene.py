"""
Bundled synthetic RGB-D sample: a small indoor scene rendered by analytic ray casting.

No dataset can be downloaded, so the demo, the benchmarks and the tests use this short
deterministic sequence: a room (floor, walls, ceiling), a table and three objects on it (a
sphere, a box and an upright cylinder), seen by a pinhole camera that moves along a smooth arc
around the table, pitched down and slightly rolled.  Everything is vectorised with numpy (one
ray per pixel, closed-form ray/plane, ray/box, ray/sphere and ray/cylinder intersections), so
a VGA frame takes well under 0.1 s on one CPU core.

Conventions: world frame in metres with +Z up (gravity along -Z); camera optical frame as in
REP 103 (x right, y down, z forward); depth is the optical-frame z of the nearest hit.  Each
frame holds a clean float32 depth and a raw uint16 depth in millimetres with Kinect-like
artefacts (range cut-off at 5 m, seeded random holes, dropout at depth discontinuities).

A later synthetic-world renderer (pybullet scenes, BOP format) will replace this module.
"""

from dataclasses import dataclass

import numpy as np

from rgbd_perception.geometry.camera import Intrinsics, project, ray_slopes
from rgbd_perception.io.images import to_depth_mm

BASE_SIZE = (640, 480)
BASE_INTRINSICS = (525.0, 525.0, 319.5, 239.5)
MAX_RANGE_M = 5.0
EDGE_JUMP = 0.05

# Room as the inside of an axis-aligned box (x, y, z); the floor is z = 0.
ROOM_LO = np.array([-2.0, -3.0, 0.0])
ROOM_HI = np.array([2.5, 3.2, 2.8])
TABLE_CENTRE = np.array([0.0, 0.9])
TABLE_TOP_Z = 0.75

# Surface ids (index into COLOURS).
FLOOR, CEILING, SIDE_WALL, BACK_WALL, TABLE, SPHERE, BOX, CYLINDER = range(8)
COLOURS = np.array([
    [0.62, 0.60, 0.56],  # floor (checkered)
    [0.92, 0.92, 0.90],  # ceiling
    [0.78, 0.74, 0.62],  # side walls
    [0.62, 0.72, 0.80],  # back / front walls
    [0.55, 0.36, 0.20],  # table (wood grain)
    [0.85, 0.15, 0.12],  # sphere
    [0.15, 0.45, 0.85],  # box
    [0.20, 0.70, 0.30],  # cylinder
])
# (lo, hi) corners of the table top, the four legs and the box on the table.
TABLE_BOXES = [((-0.6, 0.5, 0.71), (0.6, 1.3, TABLE_TOP_Z))] + [
    ((x, y, 0.0), (x + 0.05, y + 0.05, 0.71)) for x in (-0.55, 0.5) for y in (0.55, 1.2)]
OBJECT_BOX = ((-0.4, 0.85, TABLE_TOP_Z), (-0.15, 1.05, 0.97))
SPHERE_CENTRE, SPHERE_RADIUS = np.array([0.3, 0.75, 0.85]), 0.1
CYLINDER_AXIS, CYLINDER_RADIUS, CYLINDER_Z = (0.0, 1.1), 0.06, (TABLE_TOP_Z, 0.97)
LIGHT = np.array([0.3, -0.5, 1.0]) / np.linalg.norm([0.3, -0.5, 1.0])  # towards the light
AMBIENT = 0.35
LAMP = np.array([0.3, 0.6, 2.6])  # brightness falls off smoothly away from this point


@dataclass(frozen=True, eq=False)
class SampleFrame:
    """
    One RGB-D frame of the sample sequence (H x W pixels, camera optical frame).

    A camera-frame point p (metres) lies camera_height_m - dot(p, gravity_camera) above the
    floor.  eq=False because the fields are numpy arrays.
    """

    index: int
    rgb: np.ndarray             # (H, W, 3) uint8 RGB
    depth_mm: np.ndarray        # (H, W) uint16 millimetres, 0 = missing (raw, sensor artefacts)
    depth_clean_m: np.ndarray   # (H, W) float32 metres, no holes
    intrinsics: tuple           # (fx, fy, cx, cy) pixels
    gravity_camera: np.ndarray  # (3,) float64 unit vector: gravity (down) in the optical frame
    camera_height_m: float      # height of the camera centre above the floor, metres


def camera_pose(index, num_frames=30):
    """Return (R, o): camera-to-world rotation (3, 3), columns = optical x, y, z; centre (3,)."""
    s = index / (num_frames - 1) if num_frames > 1 else 0.0
    arc = np.radians(-26.0 + 52.0 * s)
    height = 1.45 + 0.05 * np.sin(np.pi * s)
    pitch = np.radians(27.0 - 3.0 * np.cos(np.pi * s))
    roll = np.radians(1.5 + 2.5 * np.sin(1.5 * np.pi * s))
    centre = np.array([2.0 * np.sin(arc), TABLE_CENTRE[1] - 2.0 * np.cos(arc), height])
    ahead = np.array([-np.sin(arc), np.cos(arc), 0.0])  # horizontal, towards the table
    forward = np.cos(pitch) * ahead - np.sin(pitch) * np.array([0.0, 0.0, 1.0])
    right0 = np.cross(ahead, [0.0, 0.0, 1.0])
    down0 = np.cross(forward, right0)
    right = np.cos(roll) * right0 + np.sin(roll) * down0
    down = -np.sin(roll) * right0 + np.cos(roll) * down0
    return np.stack([right, down, forward], axis=1), centre


def _view(best, window):
    """Return views of the hit buffers restricted to an image window (tuple of two slices)."""
    return {'t': best['t'][window], 'n': best['n'][:, window[0], window[1]],
            'id': best['id'][window]}


def _update(best, t, normal, sid):
    """Keep hits closer than best['t'] (in place); normal is (3, h, w) or a constant (3,)."""
    m = t < best['t']
    best['t'][m] = t[m]
    for k in range(3):
        best['n'][k][m] = normal[k] if np.ndim(normal[k]) == 0 else normal[k][m]
    best['id'][m] = sid


def _hit_box(best, o, d, lo, hi, sid):
    """Intersect rays d (3, h, w) with the outside of an axis-aligned box (slab method)."""
    t0 = [(lo[k] - o[k]) / d[k] for k in range(3)]
    t1 = [(hi[k] - o[k]) / d[k] for k in range(3)]
    tmin = [np.minimum(a, b) for a, b in zip(t0, t1)]
    t_near = np.maximum(np.maximum(tmin[0], tmin[1]), tmin[2])
    t_far = np.minimum(np.minimum(np.maximum(t0[0], t1[0]), np.maximum(t0[1], t1[1])),
                       np.maximum(t0[2], t1[2]))
    t = np.where((t_near <= t_far) & (t_near > 1e-6), t_near, np.inf)
    normal = [np.where(tmin[k] == t_near, -np.sign(d[k]), 0.0) for k in range(3)]
    _update(best, t, normal, sid)


def _hit_sphere(best, o, d, centre, radius, sid):
    """Intersect rays d (3, h, w) with a sphere seen from outside (nearest root)."""
    oc = o - centre
    a = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
    b = oc[0] * d[0] + oc[1] * d[1] + oc[2] * d[2]
    disc = b * b - a * (oc @ oc - radius ** 2)
    t = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
    t = np.where((disc >= 0.0) & (t > 1e-6), t, np.inf)
    _update(best, t, [(oc[k] + t * d[k]) / radius for k in range(3)], sid)


def _hit_cylinder(best, o, d, axis_xy, radius, z_range, sid):
    """Intersect rays with an upright (z-axis) cylinder of finite height, caps included."""
    ox, oy = o[0] - axis_xy[0], o[1] - axis_xy[1]
    a = d[0] * d[0] + d[1] * d[1]
    b = ox * d[0] + oy * d[1]
    disc = b * b - a * (ox * ox + oy * oy - radius ** 2)
    t = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
    z = o[2] + t * d[2]
    t = np.where((disc >= 0.0) & (t > 1e-6) & (z >= z_range[0]) & (z <= z_range[1]), t, np.inf)
    _update(best, t, [(ox + t * d[0]) / radius, (oy + t * d[1]) / radius, 0.0], sid)
    for zc, nz in ((z_range[1], 1.0), (z_range[0], -1.0)):
        if nz * (o[2] - zc) <= 0.0:  # this cap faces away from the camera
            continue
        tc = (zc - o[2]) / d[2]
        inside = (ox + tc * d[0]) ** 2 + (oy + tc * d[1]) ** 2 <= radius ** 2
        _update(best, np.where(inside & (tc > 1e-6), tc, np.inf), [0.0, 0.0, nz], sid)


def _shade(points, normal, sid):
    """Shade: Lambertian + ambient light, mild procedural textures; (h, w, 3) in [0, 1]."""
    x, y, z = points
    texture = np.ones(sid.shape)
    checker = (np.floor(x / 0.5) + np.floor(y / 0.5)) % 2
    texture = np.where(sid == FLOOR, 0.82 + 0.18 * checker, texture)
    texture = np.where(sid == TABLE, 0.88 + 0.12 * np.sin(60.0 * x + 3.0 * np.sin(8.0 * y)),
                       texture)
    stripes = 0.94 + 0.06 * (np.floor(4.0 * (x + y)) % 2)
    texture = np.where((sid == SIDE_WALL) | (sid == BACK_WALL), stripes, texture)
    texture = np.where(sid == BOX, 0.9 + 0.1 * (np.floor(20.0 * z) % 2), texture)
    lambert = np.maximum(LIGHT[0] * normal[0] + LIGHT[1] * normal[1] + LIGHT[2] * normal[2], 0.0)
    falloff = 1.15 / (1.0 + 0.04 * ((x - LAMP[0]) ** 2 + (y - LAMP[1]) ** 2 + (z - LAMP[2]) ** 2))
    light = (AMBIENT + (1.0 - AMBIENT) * lambert) * falloff
    return COLOURS[sid] * (texture * light)[..., None]


def _sensor_depth(depth_m, rng):
    """Simulate raw uint16 millimetre depth: range cut-off, random blobs, edge dropout."""
    h, w = depth_m.shape
    raw = to_depth_mm(depth_m.astype(np.float64))
    missing = depth_m > MAX_RANGE_M
    # Kinect-like dropout on both sides of depth discontinuities (> 5 % relative jump).
    jump_x = np.abs(np.diff(depth_m, axis=1)) > EDGE_JUMP * np.minimum(
        depth_m[:, 1:], depth_m[:, :-1])
    jump_y = np.abs(np.diff(depth_m, axis=0)) > EDGE_JUMP * np.minimum(
        depth_m[1:], depth_m[:-1])
    missing[:, 1:] |= jump_x
    missing[:, :-1] |= jump_x
    missing[1:] |= jump_y
    missing[:-1] |= jump_y
    # A few elliptical holes (specular / absorbing patches).
    scale = w / BASE_SIZE[0]
    for _ in range(12):
        cu, cv = rng.uniform(0, w), rng.uniform(0, h)
        ru, rv = rng.uniform(2.0, 9.0, size=2) * scale + 0.5
        u0, u1 = int(max(cu - ru, 0)), int(min(cu + ru + 1, w))
        v0, v1 = int(max(cv - rv, 0)), int(min(cv + rv + 1, h))
        vv, uu = np.mgrid[v0:v1, u0:u1]
        missing[v0:v1, u0:u1] |= ((uu - cu) / ru) ** 2 + ((vv - cv) / rv) ** 2 <= 1.0
    raw[missing] = 0
    return raw


def sample_frame(index: int, num_frames: int = 30, width: int = 640, height: int = 480,
                 seed: int = 0) -> SampleFrame:
    """
    Render frame `index` (0 <= index < num_frames) of the sample sequence.

    The intrinsics (fx = fy = 525, cx = 319.5, cy = 239.5 at 640 x 480) are scaled to the
    requested width x height.  `seed` only drives the random holes of the raw depth.  The same
    arguments always give bit-identical arrays.  Returns a SampleFrame (see its docstring for
    shapes and units).
    """
    sx, sy = width / BASE_SIZE[0], height / BASE_SIZE[1]
    fx, fy, cx, cy = BASE_INTRINSICS
    fx, fy, cx, cy = fx * sx, fy * sy, (cx + 0.5) * sx - 0.5, (cy + 0.5) * sy - 0.5
    camera = Intrinsics(fx, fy, cx, cy)
    rot, o = camera_pose(index, num_frames)
    d_cam = np.stack(np.broadcast_arrays(*ray_slopes(camera, (height, width)), 1.0))
    d = np.einsum('ij,jhw->ihw', rot, d_cam)  # world rays (3, H, W); ray parameter t = depth
    d[d == 0.0] = 1e-12  # avoid 0/0 in the slab tests

    # Room: exit point from the inside of an axis-aligned box (always hit).
    t_axes = [np.where(d[k] > 0.0, ROOM_HI[k] - o[k], ROOM_LO[k] - o[k]) / d[k] for k in range(3)]
    t_room = np.minimum(np.minimum(t_axes[0], t_axes[1]), t_axes[2])
    hit_axis = [t_axes[k] == t_room for k in range(3)]
    normal = np.stack([np.where(hit_axis[k], -np.sign(d[k]), 0.0) for k in range(3)])
    sid = np.where(hit_axis[0], SIDE_WALL, np.where(hit_axis[1], BACK_WALL, FLOOR))
    sid = np.where(hit_axis[2] & (d[2] > 0.0), CEILING, sid)
    best = {'t': t_room, 'n': normal, 'id': sid}

    # Objects: only rays inside the image rectangle covering their bounding box are tested.
    def window(lo, hi):
        corners = np.array(np.meshgrid(*zip(lo, hi))).reshape(3, -1)
        p = rot.T @ (corners - o[:, None])
        if p[2].min() < 0.05:
            return np.s_[:, :]
        pu, pv = project(p.T, camera).T
        return np.s_[max(int(pv.min()) - 1, 0):max(int(pv.max()) + 2, 0),
                     max(int(pu.min()) - 1, 0):max(int(pu.max()) + 2, 0)]

    def cast(hit, lo, hi, *args):
        win = window(lo, hi)
        hit(_view(best, win), o, d[:, win[0], win[1]], *args)

    for (lo, hi), surface in [(box, TABLE) for box in TABLE_BOXES] + [(OBJECT_BOX, BOX)]:
        cast(_hit_box, lo, hi, lo, hi, surface)
    cast(_hit_sphere, SPHERE_CENTRE - SPHERE_RADIUS, SPHERE_CENTRE + SPHERE_RADIUS,
         SPHERE_CENTRE, SPHERE_RADIUS, SPHERE)
    cyl_lo = (*np.subtract(CYLINDER_AXIS, CYLINDER_RADIUS), CYLINDER_Z[0])
    cyl_hi = (*np.add(CYLINDER_AXIS, CYLINDER_RADIUS), CYLINDER_Z[1])
    cast(_hit_cylinder, cyl_lo, cyl_hi, CYLINDER_AXIS, CYLINDER_RADIUS, CYLINDER_Z, CYLINDER)

    points = o[:, None, None] + best['t'] * d
    colour = _shade(points, best['n'], best['id'])
    rgb = np.clip(colour * 255.0 + 0.5, 0, 255).astype(np.uint8)
    depth = best['t'].astype(np.float32)
    rng = np.random.default_rng([seed, index])
    return SampleFrame(
        index=index, rgb=rgb, depth_mm=_sensor_depth(depth, rng), depth_clean_m=depth,
        intrinsics=(fx, fy, cx, cy), gravity_camera=rot.T @ np.array([0.0, 0.0, -1.0]),
        camera_height_m=float(o[2]))


def sample_sequence(num_frames: int = 30, width: int = 640, height: int = 480,
                    seed: int = 0) -> list[SampleFrame]:
    """Render the whole sequence: a list of num_frames SampleFrame, see sample_frame()."""
    return [sample_frame(i, num_frames, width, height, seed) for i in range(num_frames)]
