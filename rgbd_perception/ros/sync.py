"""
Approximate-time synchroniser for an image, its camera_info and optional extra images.

The project's own replacement for message_filters (no wheel exists). Pure Python and
independent of rclpy: messages only need ``header.stamp`` with ``sec`` and ``nanosec``.
Stamps are compared as integer nanoseconds, so nearby stamps at wall-clock times stay
distinct.
"""

from collections import deque

from rgbd_perception.io.ros_messages import stamp_nanoseconds


class ApproximateRgbdSync:
    """
    Group one message per input whose stamps lie within ``slop`` seconds.

    Inputs are numbered 0..num_inputs-1 (0 is the primary image). When a message
    arrives, the closest message of every other input is looked up; if the whole set
    spans at most ``slop`` the callback receives the messages in input order and every
    queued message at or before the set is discarded. Otherwise the message waits in its
    queue of ``queue_size`` (the oldest falls out). A message whose stamp is not newer
    than the last delivered set goes to ``on_stale(index, msg)`` instead (out of order).
    """

    def __init__(self, num_inputs, callback, slop=0.02, queue_size=10, on_stale=None):
        if num_inputs < 2:
            raise ValueError('synchronising needs at least two inputs')
        if slop < 0 or queue_size < 1:
            raise ValueError(f'need slop >= 0 and queue_size >= 1, got {slop}, {queue_size}')
        self._queues = [deque(maxlen=queue_size) for _ in range(num_inputs)]
        self._callback = callback
        self._on_stale = on_stale
        self.slop = float(slop)
        self._slop_ns = round(self.slop * 1e9)
        self._last_ns = None
        self.dropped = [0] * num_inputs

    @property
    def last_delivered(self):
        """Newest stamp (float seconds) of the last delivered set, or None."""
        return None if self._last_ns is None else self._last_ns * 1e-9

    def add(self, index, msg):
        """Offer a message of input ``index``; delivers a set when one is complete."""
        stamp = stamp_nanoseconds(msg)
        if self._last_ns is not None and stamp <= self._last_ns:
            if self._on_stale is not None:
                self._on_stale(index, msg)
            return
        chosen = []
        for other, queue in enumerate(self._queues):
            if other == index:
                chosen.append(msg)
                continue
            best = min(queue, key=lambda m: abs(stamp_nanoseconds(m) - stamp), default=None)
            if best is None:
                break
            chosen.append(best)
        stamps = [stamp_nanoseconds(m) for m in chosen]
        if len(chosen) == len(self._queues) and max(stamps) - min(stamps) <= self._slop_ns:
            newest, oldest = max(stamps), min(stamps)
            for queue_index, queue in enumerate(self._queues):
                kept = [m for m in queue if stamp_nanoseconds(m) > newest]
                self.dropped[queue_index] += sum(
                    1 for m in queue if stamp_nanoseconds(m) < oldest)
                queue.clear()
                queue.extend(kept)
            self._last_ns = newest
            self._callback(*chosen)
            return
        queue = self._queues[index]
        if len(queue) == queue.maxlen:
            self.dropped[index] += 1
        queue.append(msg)
