"""
Objects dropped onto a table with pybullet rigid-body physics until they rest.

:func:`drop_poses` gathers the bodies towards their common centre (so that they land on each
other: clutter that leans and stacks), turns each to a random orientation and lifts it above
the table and everything already dropped under it; :func:`settle` simulates the fall in a
pybullet DIRECT client of its own (connected for the call, so nothing carries over between
scenes and a result depends only on its inputs: the same poses come out in any process) until
every body is at rest. A body collides as its simplified convex hull (:func:`collision_hull`:
at most HULL_POINTS of its hull's vertices, so where the hull was cut it may sink into others
by up to about a millimetre), with uniform density, on a static table box and the floor plane
z = 0; bodies rest about 1 mm apart (bullet's contact margin). World frame: metres, +z up.
"""

import functools

import numpy as np
import pybullet
from scipy.spatial import ConvexHull
from scipy.spatial.transform import Rotation

from training.synth.placement import hull_centroid, yaw_rotation

HULL_POINTS = 128
DENSITY = 500.0             # kg / m^3 (masses only matter relative to each other)
FRICTION = 1.0
ROLLING_FRICTION = 0.01     # m: balls and cans stop rolling, clutter stays together
SPINNING_FRICTION = 0.01
TIME_STEP = 1.0 / 240.0     # s
MAX_STEPS = 2400            # 10 s of simulated time
CHECK_EVERY = 10            # steps between rest checks
REST_SPEED = 2e-3           # m/s: at rest below this linear speed ...
REST_SPIN = 2e-2            # ... and this angular speed (rad/s)
DROP_GAP = 0.005            # m between a dropped body and what lies below it
TABLE_THICKNESS = 0.05      # m of the table box under its top


@functools.lru_cache(maxsize=None)
def collision_hull(mesh):
    """
    Return (points (K, 3), centre (3,), volume) of a mesh's simplified convex hull.

    points: K <= HULL_POINTS hull vertices in the model frame (m), chosen by farthest-point
    sampling from the vertex farthest from the centre; centre, volume: the centroid (m) and
    volume (m^3) of the full hull. Cached per mesh object.
    """
    hull = ConvexHull(mesh.vertices)
    centre, volume = hull_centroid(mesh.vertices, hull)
    points = mesh.vertices[hull.vertices]
    distance = np.linalg.norm(points - centre, axis=1)
    chosen = [int(np.argmax(distance))]
    distance = np.linalg.norm(points - points[chosen[0]], axis=1)
    while len(chosen) < min(HULL_POINTS, len(points)):
        chosen.append(int(np.argmax(distance)))
        distance = np.minimum(distance, np.linalg.norm(points - points[chosen[-1]], axis=1))
    return points[chosen], centre, volume


def drop_poses(rng, meshes, poses, table_height):
    """
    Return starting poses [(R (3, 3), t (3,))] of meshes to drop onto a table.

    poses: the meshes' poses resting on the table top at table_height (m), e.g. from
    placement.place_resting. Each body's xy moves towards the mean xy by a factor drawn once
    in [0.3, 0.7] (so they land on each other), it gets a uniformly random orientation and is
    lifted DROP_GAP above the table top or the highest earlier body whose xy bounding box
    overlaps its own.
    """
    centre = np.mean([t[:2] for _, t in poses], axis=0)
    gather = rng.uniform(0.3, 0.7)
    boxes, result = [], []
    for mesh, (_, translation) in zip(meshes, poses):
        rotation = Rotation.random(random_state=rng).as_matrix()
        xy = centre + gather * (translation[:2] - centre)
        points = collision_hull(mesh)[0] @ rotation.T
        lo, hi = points[:, :2].min(axis=0) + xy, points[:, :2].max(axis=0) + xy
        floor = max([table_height] + [top for other_lo, other_hi, top in boxes
                                      if np.all(lo < other_hi) and np.all(other_lo < hi)])
        z = floor + DROP_GAP - points[:, 2].min()
        boxes.append((lo, hi, z + points[:, 2].max()))
        result.append((rotation, np.array([xy[0], xy[1], z])))
    return result


def _add_table(client, table):
    half = [table.half_size[0], table.half_size[1], TABLE_THICKNESS / 2]
    shape = pybullet.createCollisionShape(pybullet.GEOM_BOX, halfExtents=half,
                                          physicsClientId=client)
    quaternion = Rotation.from_matrix(yaw_rotation(table.yaw)).as_quat().tolist()
    pybullet.createMultiBody(0.0, shape, basePosition=[*table.centre,
                                                       table.height - TABLE_THICKNESS / 2],
                             baseOrientation=quaternion, physicsClientId=client)
    plane = pybullet.createCollisionShape(pybullet.GEOM_PLANE, physicsClientId=client)
    pybullet.createMultiBody(0.0, plane, physicsClientId=client)


def _add_body(client, mesh, rotation, translation):
    points, centre, volume = collision_hull(mesh)
    shape = pybullet.createCollisionShape(pybullet.GEOM_MESH, vertices=(points - centre).tolist(),
                                          physicsClientId=client)
    body = pybullet.createMultiBody(DENSITY * volume, shape,
                                    basePosition=(rotation @ centre + translation).tolist(),
                                    baseOrientation=Rotation.from_matrix(rotation).as_quat()
                                    .tolist(), physicsClientId=client)
    pybullet.changeDynamics(body, -1, lateralFriction=FRICTION,
                            rollingFriction=ROLLING_FRICTION,
                            spinningFriction=SPINNING_FRICTION, physicsClientId=client)
    return body


def _at_rest(client, bodies):
    for body in bodies:
        linear, angular = pybullet.getBaseVelocity(body, physicsClientId=client)
        if np.linalg.norm(linear) > REST_SPEED or np.linalg.norm(angular) > REST_SPIN:
            return False
    return True


def settle(meshes, poses, table):
    """
    Return (poses [(R (3, 3), t (3,))], at rest) of meshes dropped from `poses` onto a table.

    table: a placement.Rectangle (its top at table.height). Simulates TIME_STEP steps, checking
    every CHECK_EVERY steps, until every body moves slower than REST_SPEED and REST_SPIN, or
    MAX_STEPS have passed (at rest: False; the poses are those of the last step). Bodies may
    fall off the table onto the floor.
    """
    client = pybullet.connect(pybullet.DIRECT)
    try:
        pybullet.setGravity(0.0, 0.0, -9.81, physicsClientId=client)
        pybullet.setTimeStep(TIME_STEP, physicsClientId=client)
        _add_table(client, table)
        bodies = [_add_body(client, mesh, *pose) for mesh, pose in zip(meshes, poses)]
        rested = False
        for step in range(1, MAX_STEPS + 1):
            pybullet.stepSimulation(physicsClientId=client)
            if step % CHECK_EVERY == 0 and _at_rest(client, bodies):
                rested = True
                break
        settled = []
        for mesh, body in zip(meshes, bodies):
            position, quaternion = pybullet.getBasePositionAndOrientation(
                body, physicsClientId=client)
            rotation = Rotation.from_quat(quaternion).as_matrix()
            settled.append((rotation, np.asarray(position) - rotation @ collision_hull(mesh)[1]))
        return settled, rested
    finally:
        pybullet.disconnect(physicsClientId=client)


def rests_on_table(mesh, pose, table, tolerance=0.01):
    """Return whether a posed mesh rests on the table: centre over it, nothing below its top."""
    rotation, translation = pose
    points = collision_hull(mesh)[0] @ rotation.T + translation
    centre = rotation @ collision_hull(mesh)[1] + translation
    return table.contains(centre[None, :2]) and points[:, 2].min() > table.height - tolerance
