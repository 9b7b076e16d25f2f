"""
Fused CPU kernels of the HHA encoder, compiled with numba.

Why a compiled kernel: the eager torch path builds about thirty full-frame float64
temporaries per VGA frame (moment planes, two sets of window sums, adjugates, normals,
products, channels); the per-pixel work is small, so the time goes to memory traffic, which
is what a small CPU has least of. Here nothing full-frame is stored but the outputs: each
pass walks down a chunk of columns, computes the moment terms of the row that enters the
window from the depth, its running row sums (kept in a ring of 2r+1 rows), updates the
column sums and solves the normal equations of every pixel on the spot. Why numba rather
than ``torch.compile`` or a C++ extension: numba ships LLVM in its wheel (no compiler needed
where the node runs, unlike torch.compile's C++ code generation) and caches the machine code
on disk, so only the very first run compiles.

Bit-for-bit the same images as the torch path on the CPU (tested on real frames): the
moment terms and the per-pixel arithmetic after the window sums follow the torch functions
they replace (:mod:`rgbd_perception.geometry.normals`, :mod:`rgbd_perception.geometry.hha`)
operation by operation, and the window sums follow OpenCV's box filter (the torch path's CPU
``box_sum``): a running sum along each row from the left edge updated by (entering -
leaving), then a running sum down each column from the top (add the entering row, read,
subtract the leaving row), zeros outside the image. That order matters: where a window's
valid pixels are nearly collinear (hole borders) the fitted normal is decided by rounding.
Results do not depend on the number of threads (columns are independent; the gravity sums use
fixed blocks). The kernels run on a fork-safe numba threading layer unless
``NUMBA_THREADING_LAYER`` says otherwise: TBB (the pinned ``tbb`` wheel), else numba's own
workqueue (about 25 % slower here); numba's default would pick GNU OpenMP, which is not
fork-safe: a process forked after a kernel ran (a DataLoader or flake8 worker) crashed.
Workqueue must not be entered from two threads at once, so every call holds
:data:`KERNEL_LOCK`. The image-sized kernels and the gravity estimate's full passes (at
most ten per frame, branch-free: the classes of real normals are random to a branch
predictor) run on all threads; the updates of the few normals near a threshold are serial.
"""

import functools
import math
import os
import threading

import numba
import numpy as np

from rgbd_perception.geometry.normals import (adjugate_solution, COUNT_TERM,
                                              reference_moment_terms, sparse_limit)

if 'NUMBA_THREADING_LAYER' not in os.environ:
    numba.config.THREADING_LAYER = 'forksafe'  # TBB, else workqueue (module docstring)
KERNEL_LOCK = threading.Lock()
GRAVITY_BLOCKS = 64          # fixed reduction blocks of the gravity pass (summation order)
RAD_TO_DEG = 180.0 / math.pi  # the double torch.rad2deg multiplies by


@numba.njit(cache=True, inline='always')
def _moment_terms(depth_cm, valid, a, b, v, u):
    """Return the 9 moment terms of pixel (v, u), as normals.moment_planes computes them."""
    if valid[v, u]:
        weight = 1.0
        inv_z = weight / depth_cm[v, u]
    else:
        weight = 0.0
        inv_z = weight / 1.0
    a_w = a[u] * weight
    b_w = b[v] * weight
    return (a[u] * a_w, a[u] * b_w, a_w, b[v] * b_w, b_w, weight, a[u] * inv_z, b[v] * inv_z,
            inv_z)


@numba.njit(cache=True, inline='always')
def _row_sums(depth_cm, valid, a, b, radius, v, first, stop, terms, sums):
    """
    Write the window row sums of row v, columns [first, stop), into ``sums`` (stop - first, 9).

    OpenCV's row pass: a running sum from the left edge (so columns before ``first`` are
    summed too), updated by (entering - leaving) with zeros beyond the row. ``terms`` is a
    (W, 9) scratch row of moment terms.
    """
    width = depth_cm.shape[1]
    last = min(width, stop + radius)
    for u in range(last):
        terms[u, 0], terms[u, 1], terms[u, 2], terms[u, 3], terms[u, 4], terms[u, 5], \
            terms[u, 6], terms[u, 7], terms[u, 8] = _moment_terms(depth_cm, valid, a, b, v, u)
    total = np.zeros(9)
    for u in range(min(width, radius + 1)):
        for k in range(9):
            total[k] += terms[u, k]
    if first == 0:
        for k in range(9):
            sums[0, k] = total[k]
    # Three column ranges, so that no branch sits in the inner loop: only a term enters,
    # one enters and one leaves, only one leaves.
    both = min(stop, max(1, radius + 1))
    for u in range(1, both):
        for k in range(9):
            total[k] += terms[u + radius, k] - 0.0 if u + radius < width else 0.0 - 0.0
        if u >= first:
            for k in range(9):
                sums[u - first, k] = total[k]
    inside = max(both, min(stop, width - radius))
    for u in range(both, inside):
        for k in range(9):
            total[k] += terms[u + radius, k] - terms[u - radius - 1, k]
        if u >= first:
            for k in range(9):
                sums[u - first, k] = total[k]
    for u in range(inside, stop):
        for k in range(9):
            total[k] += 0.0 - terms[u - radius - 1, k]
        if u >= first:
            for k in range(9):
                sums[u - first, k] = total[k]


@numba.njit(cache=True, inline='always')
def _enter_row(depth_cm, valid, a, b, radius, v, first, stop, terms, ring, columns):
    """Add the row sums of row v + r to the column sums (a zero row below the image)."""
    row = v + radius
    if row < depth_cm.shape[0]:
        slot = ring[row % ring.shape[0]]
        _row_sums(depth_cm, valid, a, b, radius, row, first, stop, terms, slot)
        columns += slot
    else:
        columns += 0.0


@numba.njit(cache=True, inline='always')
def _leave_row(radius, v, ring, columns):
    """Subtract the row sums of row v - r from the column sums, if that row exists."""
    if v - radius >= 0:
        columns -= ring[(v - radius) % ring.shape[0]]


@numba.njit(cache=True, inline='always')
def _start_chunk(depth_cm, valid, a, b, radius, first, stop):
    """Return the scratch row, ring and column sums of a chunk, the sums over rows < r added."""
    width = depth_cm.shape[1]
    terms = np.empty((width, 9))
    ring = np.empty((2 * radius + 1, stop - first, 9))
    columns = np.zeros((stop - first, 9))
    for row in range(min(depth_cm.shape[0], radius)):
        slot = ring[row % ring.shape[0]]
        _row_sums(depth_cm, valid, a, b, radius, row, first, stop, terms, slot)
        columns += slot
    return terms, ring, columns


@functools.lru_cache(maxsize=None)
def column_chunks(width, chunks, row_cost=0.7):
    """
    Return (chunks + 1,) int64 column boundaries that give the chunks equal work.

    Chunk i = [s_(i-1), s_i) runs the row sums from column 0 to s_i (cost ``row_cost`` per
    column, relative to one pixel's fit) and fits s_i - s_(i-1) pixels; equal work gives
    s_i = W (1 - q^(i+1)) / (1 - q^chunks) with q = 1 / (1 + row_cost), so later chunks
    are narrower. The boundaries split the work; they never change a result.
    """
    q = 1.0 / (1.0 + row_cost)
    stops = [round(width * (1.0 - q ** (i + 1)) / (1.0 - q ** chunks)) for i in range(chunks)]
    return np.array([0] + stops[:-1] + [width], dtype=np.int64)


_adjugate_solution = numba.njit(cache=True, inline='always')(adjugate_solution)


@numba.njit(cache=True, inline='always')
def _unit_normal(a0, a1, a2, a3, a4, a5, b0, b1, b2):
    """Solve the 3x3 normal equations of the 9 window sums, as normals.unit_normals."""
    nx, ny, nz = _adjugate_solution(a0, a1, a2, a3, a4, a5, b0, b1, b2)
    norm = math.sqrt(nx * nx + ny * ny + nz * nz)
    return nx / norm, ny / norm, nz / norm


_reference_terms = numba.njit(cache=True, inline='always')(reference_moment_terms)
_sparse_limit = numba.njit(cache=True, inline='always')(sparse_limit)


@numba.njit(cache=True, inline='always')
def _fit_normal(depth_cm, next_valid, du, dv, focal, radius, v, u, columns, index, exact):
    """
    Return the unit normal of pixel (v, u) from its window sums columns[index] (9,).

    Windows of at most normals.sparse_limit valid pixels are summed directly into ``exact``
    (9,) instead, from the reference's terms in its order (see normals.window_sums): column
    by column, jumping from one valid pixel to the next (``next_valid``). Their count, term
    COUNT_TERM, is exact in running sums.
    """
    if columns[index, COUNT_TERM] > _sparse_limit(radius):
        return _unit_normal(columns[index, 0], columns[index, 1], columns[index, 2],
                            columns[index, 3], columns[index, 4], columns[index, 5],
                            columns[index, 6], columns[index, 7], columns[index, 8])
    exact[:] = 0.0
    if columns[index, COUNT_TERM] > 0.0:
        height, width = depth_cm.shape
        last = min(height - 1, v + radius)
        for column in range(max(0, u - radius), min(width, u + radius + 1)):
            row = next_valid[max(0, v - radius), column]
            while row <= last:
                terms = _reference_terms(depth_cm[row, column], du[column], dv[row],
                                         focal[0], focal[1])
                for k in range(9):
                    exact[k] += terms[k]
                row = next_valid[row + 1, column]
    return _unit_normal(exact[0], exact[1], exact[2], exact[3], exact[4], exact[5], exact[6],
                        exact[7], exact[8])


@numba.njit(cache=True)
def next_valid_rows(valid):
    """
    Return the (H + 1, W) int64 table of the first valid row at or below each pixel (H: none).

    next_valid[y, u] = min{row >= y : valid[row, u]}; row H is all H, so a lookup one row
    past the image is safe. The direct window sums walk a column's valid pixels with it.
    """
    height, width = valid.shape
    table = np.empty((height + 1, width), dtype=np.int64)
    table[height] = height
    for row in range(height - 1, -1, -1):
        for column in range(width):
            table[row, column] = row if valid[row, column] else table[row + 1, column]
    return table


@numba.njit(cache=True, inline='always')
def _finite(value):
    """torch.nan_to_num(value, nan=0.0): NaN to 0, +-inf to the largest finite double."""
    if math.isnan(value):
        return 0.0
    if math.isinf(value):
        return math.copysign(np.finfo(np.float64).max, value)
    return value


@numba.njit(parallel=True, cache=True)
def _flat_normals(depth_cm, valid, next_valid, a, b, du, dv, focal, radius, bounds, flat):
    height, width = depth_cm.shape
    for chunk in numba.prange(bounds.size - 1):
        first, stop = bounds[chunk], bounds[chunk + 1]
        terms, ring, columns = _start_chunk(depth_cm, valid, a, b, radius, first, stop)
        exact = np.empty(9)
        for v in range(height):
            _enter_row(depth_cm, valid, a, b, radius, v, first, stop, terms, ring, columns)
            for u in range(first, stop):
                nx, ny, nz = _fit_normal(depth_cm, next_valid, du, dv, focal, radius, v, u,
                                         columns, u - first, exact)
                flat[0, v * width + u] = _finite(nx)
                flat[1, v * width + u] = _finite(ny)
                flat[2, v * width + u] = _finite(nz)
            _leave_row(radius, v, ring, columns)


def _bounds(depth_cm):
    """Column chunks of an image for the threads numba runs."""
    return column_chunks(depth_cm.shape[1], numba.get_num_threads())


def flat_normals(depth_cm, valid, next_valid, a, b, du, dv, focal, radius, flat):
    """
    Write the unit normals fitted in (2r+1)^2 windows into ``flat`` (3, H*W); return it.

    depth_cm: (H, W) float64 cm; valid: (H, W) bool pixels used by the fits; next_valid: its
    :func:`next_valid_rows`; a: (W,) and b: (H,) float64 ray slopes; du: (W,), dv: (H,)
    offsets from the principal point and focal: (fx, fy), for the reference's terms of
    sparse windows. NaN is set to 0 (normal_products' flat); the sign of each normal is
    arbitrary (the gravity estimate does not need it).
    """
    with KERNEL_LOCK:
        _flat_normals(depth_cm, valid, next_valid, a, b, du, dv, focal, radius,
                      _bounds(depth_cm), flat)
    return flat


@numba.njit(cache=True, inline='always')
def _wall_floor_weight(y, sin_t, cos_t, x, y_, z):
    """Return (similarity |n . y|, weight: +1 wall, -1 floor, 0) as classify_normals."""
    similarity = abs(y[0] * x + y[1] * y_ + y[2] * z)
    return similarity, np.float64(similarity < sin_t) - np.float64(similarity > cos_t)


@numba.njit(cache=True, parallel=True)
def _wall_floor_pass(flat, y, sin_t, cos_t, band, partial, near_code):
    """
    Sum the weighted n n^T entries per fixed block; mark normals within ``band`` of a threshold.

    Branch-free where it counts: the classes of real normals are random to a branch
    predictor, so every weight is computed (a zero weight's products leave the sums as they
    were). near_code[p]: 0, or the near normal's weight + 2.
    """
    count = flat.shape[1]
    step = (count + GRAVITY_BLOCKS - 1) // GRAVITY_BLOCKS
    for block in numba.prange(GRAVITY_BLOCKS):
        xx = xy = xz = yy = yz = zz = 0.0
        for p in range(block * step, min(count, (block + 1) * step)):
            x, y_, z = flat[0, p], flat[1, p], flat[2, p]
            similarity, weight = _wall_floor_weight(y, sin_t, cos_t, x, y_, z)
            near = (abs(similarity - sin_t) <= band) | (abs(similarity - cos_t) <= band)
            near_code[p] = np.int8(near) * np.int8(weight + 2.0)
            xx += weight * (x * x)
            xy += weight * (x * y_)
            xz += weight * (x * z)
            yy += weight * (y_ * y_)
            yz += weight * (y_ * z)
            zz += weight * (z * z)
        partial[block, 0], partial[block, 1], partial[block, 2] = xx, xy, xz
        partial[block, 3], partial[block, 4], partial[block, 5] = yy, yz, zz


@numba.njit(cache=True)
def _near_normals(flat, near_code):
    """Return the (3, K) normals marked by _wall_floor_pass and their (K,) weights."""
    count = 0
    for code in near_code:
        count += code != 0
    near_flat, near_weights = np.empty((3, count)), np.empty(count)
    k = 0
    for p in range(near_code.size):
        if near_code[p] != 0:
            near_flat[0, k], near_flat[1, k], near_flat[2, k] = flat[0, p], flat[1, p], flat[2, p]
            near_weights[k] = near_code[p] - 2.0
            k += 1
    return near_flat, near_weights


@numba.njit(cache=True)
def _near_update(near_flat, near_weights, y, sin_t, cos_t):
    update = np.zeros(6)
    for k in range(near_weights.size):
        x, y_, z = near_flat[0, k], near_flat[1, k], near_flat[2, k]
        change = _wall_floor_weight(y, sin_t, cos_t, x, y_, z)[1] - near_weights[k]
        if change != 0.0:
            update[0] += change * (x * x)
            update[1] += change * (x * y_)
            update[2] += change * (x * z)
            update[3] += change * (y_ * y_)
            update[4] += change * (y_ * z)
            update[5] += change * (z * z)
    return update


class WallFloorPasses:
    """
    The classification passes of gravity.WallFloorMoments on numpy normals, compiled.

    The full pass runs on all threads over fixed blocks (the sums do not depend on the
    thread count); the near state is (near normals (3, K), their weights (K,)).
    """

    @staticmethod
    def full(flat, y, sin_t, cos_t, band):
        """
        Classify all (3, P) float64 normals against y ((3,) float64).

        Returns the (6,) entries xx, xy, xz, yy, yz, zz of sum_wall n n^T - sum_floor n n^T
        and the near state of the normals within ``band`` of a threshold.
        """
        partial = np.empty((GRAVITY_BLOCKS, 6))
        near_code = np.empty(flat.shape[1], dtype=np.int8)
        with KERNEL_LOCK:
            _wall_floor_pass(flat, y, sin_t, cos_t, band, partial, near_code)
            near = _near_normals(flat, near_code)
        return partial.sum(axis=0), near

    @staticmethod
    def update(near, y, sin_t, cos_t):
        """Return the (6,) change of the entries when the near normals are classified at y."""
        with KERNEL_LOCK:
            return _near_update(*near, y, sin_t, cos_t)


@numba.njit(cache=True)
def _lowest_height(depth_cm, a, b, height_axis, row_lowest):
    height, width = depth_cm.shape
    for v in range(height):
        lowest = np.inf
        for u in range(width):
            z = depth_cm[v, u]
            value = -(height_axis[0] * (a[u] * z) + height_axis[1] * (b[v] * z)
                      + height_axis[2] * z)
            lowest = min(lowest, value)
        row_lowest[v] = lowest


@numba.njit(cache=True, inline='always')
def _uint8(value):
    """Convert a finite value >= 0 as MATLAB's uint8: round half away from zero, saturate."""
    return np.uint8(min(max(math.floor(value + 0.5), 0.0), 255.0))


@numba.njit(cache=True)
def angle_level(cos_angle):
    """Return the angle channel of a clamped cosine by acos: round(acos(c) degrees + 38)."""
    return _uint8(math.acos(cos_angle) * RAD_TO_DEG + (128.0 - 90.0))


@numba.njit(cache=True)
def _angle_thresholds():
    levels = np.empty(int(angle_level(-1.0)) - int(angle_level(1.0)))
    for index in range(levels.size):
        level = int(angle_level(1.0)) + 1 + index
        above, below = -1.0, 1.0  # angle_level(above) >= level > angle_level(below)
        while True:
            middle = 0.5 * (above + below)
            if middle == above or middle == below:
                break
            if angle_level(middle) >= level:
                above = middle
            else:
                below = middle
        levels[index] = above
    return levels


@functools.lru_cache(maxsize=None)
def angle_thresholds():
    """
    Return the (180,) float64 cosines at which the angle channel steps, decreasing.

    T[j] is the largest cosine whose angle_level is at least angle_level(1) + 1 + j, found
    by bisection over the doubles with numba's own acos.

    angle_level(c) = angle_level(1) + #{j : c <= T[j]}, since acos is monotone: the
    kernel counts by a table lookup (:func:`angle_lookup`) instead of an acos per pixel (a
    third of the image kernel's time), with the same result for every cosine (tested).
    """
    return _angle_thresholds()


#: Buckets of the angle lookup: over [-1, 1] they are narrower than the closest two
#: thresholds (cos 0.5 deg - cos 1.5 deg = 3.0e-4 > 2 / 8192), so each holds at most one.
ANGLE_BUCKETS = 8192


@numba.njit(cache=True, inline='always')
def _angle_bucket(cos_angle):
    """Return the lookup bucket of a cosine in [-1, 1]: monotone non-decreasing in it."""
    return min(int((cos_angle + 1.0) * (ANGLE_BUCKETS / 2)), ANGLE_BUCKETS - 1)


@numba.njit(cache=True)
def _bucket_table(thresholds, first_level):
    levels = np.empty(ANGLE_BUCKETS, dtype=np.int64)
    inside = np.full(ANGLE_BUCKETS, -np.inf)
    for bucket in range(ANGLE_BUCKETS):
        count = 0
        for threshold in thresholds:
            count += _angle_bucket(threshold) > bucket
            if _angle_bucket(threshold) == bucket:
                if inside[bucket] != -np.inf:
                    raise ValueError('two angle thresholds in one bucket')
                inside[bucket] = threshold
        levels[bucket] = first_level + count
    return levels, inside


@functools.lru_cache(maxsize=None)
def angle_lookup():
    """
    Return the angle channel's lookup: (ANGLE_BUCKETS,) int64 levels and float64 thresholds.

    The channel is angle_level(1) + #{j : c <= T[j]} (angle_thresholds). Since the bucket
    function is monotone, a threshold in a higher bucket than c's is above c and one in a
    lower bucket below it, so per bucket the count is fixed (levels) except for the one
    threshold inside it (-inf: none), compared directly: two loads and a comparison per
    pixel instead of a binary search, the same level for every cosine (tested).
    """
    return _bucket_table(angle_thresholds(), int(angle_level(1.0)))


@numba.njit(cache=True, inline='always')
def _level_from_lookup(cos_angle, levels, inside):
    """Return the angle channel of a cosine in [-1, 1] from :func:`angle_lookup`'s table."""
    bucket = _angle_bucket(cos_angle)
    return np.uint8(levels[bucket] + (cos_angle <= inside[bucket]))


@numba.njit(parallel=True, cache=True)
def _hha_image(depth_cm, valid, next_valid, a, b, du, dv, focal, radius, bounds, gravity,
               height_axis, lowest, levels, inside, image):
    height, width = depth_cm.shape
    for chunk in numba.prange(bounds.size - 1):
        first, stop = bounds[chunk], bounds[chunk + 1]
        terms, ring, columns = _start_chunk(depth_cm, valid, a, b, radius, first, stop)
        exact = np.empty(9)
        for v in range(height):
            _enter_row(depth_cm, valid, a, b, radius, v, first, stop, terms, ring, columns)
            b_v = b[v]
            for u in range(first, stop):
                z = depth_cm[v, u]
                px, py, pz = a[u] * z, b_v * z, z
                nx, ny, nz = _fit_normal(depth_cm, next_valid, du, dv, focal, radius, v, u,
                                         columns, u - first, exact)
                # oriented_normals: n_z >= 0, then n . P >= 0 (torch's sum starts at +0.0).
                flip = math.copysign(1.0, nz)
                nx, ny, nz = nx * flip, ny * flip, nz * flip
                flip = math.copysign(1.0, ((0.0 + nx * px) + ny * py) + nz * pz)
                nx, ny, nz = nx * flip, ny * flip, nz * flip
                cos_angle = nx * gravity[0] + ny * gravity[1] + nz * gravity[2]
                # MATLAB's max(-1, NaN) is -1: undefined normals get an angle of 180 degrees.
                cos_angle = -1.0 if math.isnan(cos_angle) else min(max(cos_angle, -1.0), 1.0)
                up = -(height_axis[0] * px + height_axis[1] * py + height_axis[2] * pz)
                image[v, u, 0] = _uint8(31000.0 / max(z, 100.0))
                image[v, u, 1] = _uint8(up - lowest)
                image[v, u, 2] = _level_from_lookup(cos_angle, levels, inside)
            _leave_row(radius, v, ring, columns)


def hha_image(depth_cm, valid, next_valid, a, b, du, dv, focal, radius, gravity, height_axis):
    """
    Fit the normals in (2r+1)^2 windows, orient them and quantise the HHA channels.

    depth_cm, valid, next_valid, a, b, du, dv, focal: see :func:`flat_normals`; gravity,
    height_axis: (3,) float64 (see geometry.hha.hha_channels).
    Returns the (H, W, 3) uint8 HHA image.
    """
    row_lowest = np.empty(depth_cm.shape[0])
    image = np.empty(depth_cm.shape + (3,), dtype=np.uint8)
    with KERNEL_LOCK:
        _lowest_height(depth_cm, a, b, height_axis, row_lowest)
        lowest = row_lowest.min()
        lowest = -130.0 if lowest > -90.0 else lowest
        _hha_image(depth_cm, valid, next_valid, a, b, du, dv, focal, radius, _bounds(depth_cm),
                   gravity, height_axis, lowest, *angle_lookup(), image)
    return image
