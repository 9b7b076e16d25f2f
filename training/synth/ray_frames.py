"""
Frames rendered as Ray tasks (``python -m training synth --ray auto|ADDRESS``).

Each frame is one task of one CPU. A Ray worker process builds the writer (writer_class with
the arguments, shipped once through the object store) at its first frame and keeps it for the
frames that follow, as a Pool process does. Frames are submitted in order, at most two per CPU
of the cluster ahead of the one awaited, and their results come back in order, so the caller
writes the per-scene JSON files exactly as with the local pool: the same bytes for a seed.

The tasks write the frame images themselves, straight into the output folder, rather than
sending them through the driver, which would carry every image of the cluster over one link.
So on a cluster the output folder must be on a filesystem that every node mounts at the same
path, and every node needs this repository and its virtual environment at the same paths too.
This module imports Ray; it is imported only when Ray is asked for.
"""

from collections import deque

import ray

#: The writers of this Ray worker process, by the object id of their arguments.
_WRITERS = {}


@ray.remote(num_cpus=1)
def _write_frame(writer_class, boxed_arguments, index):
    """Return writer(index) of this process's writer (boxed: the ref is not resolved by Ray)."""
    (reference,) = boxed_arguments
    key = reference.hex()
    if key not in _WRITERS:
        _WRITERS[key] = writer_class(*ray.get(reference))
    return _WRITERS[key](index)


def connect(address, cpus=None):
    """
    Connect to Ray: address 'auto' or a cluster's ADDRESS (host:port, ray://host:port).

    'auto' joins the instance that ``ray start`` started on this machine (or RAY_ADDRESS),
    otherwise starts a local one with ``cpus`` CPUs (None: all; only when starting one).
    """
    if address == 'auto':
        ray.init(num_cpus=cpus, include_dashboard=False)
    else:
        ray.init(address=address)


def map_frames_on_ray(writer_class, arguments, indices, address, cpus=None):
    """Yield writer(index) for each of ``indices`` in order, rendered as Ray tasks."""
    connect(address, cpus)
    try:
        boxed_arguments = [ray.put(arguments)]
        ahead = 2 * max(1, int(ray.cluster_resources().get('CPU', 1)))
        pending = deque()
        for index in indices:
            pending.append(_write_frame.remote(writer_class, boxed_arguments, index))
            if len(pending) >= ahead:
                yield ray.get(pending.popleft())
        while pending:
            yield ray.get(pending.popleft())
    finally:
        ray.shutdown()
