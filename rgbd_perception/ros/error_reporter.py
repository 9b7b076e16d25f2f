"""Rate-limited error reports that name the topic and the problem of a skipped frame."""

import threading
import time


class RateLimitedErrorReporter:
    """
    Log each (topic, kind) error at most once per ``period`` seconds (thread-safe).

    log: callable taking one string (e.g. ``node.get_logger().error``). Suppressed repeats
    are counted and mentioned in the next message of the same kind.
    """

    def __init__(self, log, period=5.0, clock=time.monotonic):
        self._log = log
        self._period = float(period)
        self._clock = clock
        self._last = {}
        self._suppressed = {}
        self._lock = threading.Lock()
        self.total = 0

    def report(self, topic, problem, kind=None):
        """
        Record one skipped frame; logs unless the same kind was logged recently.

        Returns True when a message was logged.
        """
        with self._lock:
            self.total += 1
            key = (topic, kind or type(problem).__name__)
            now = self._clock()
            last = self._last.get(key)
            if last is not None and now - last < self._period:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return False
            suppressed = self._suppressed.pop(key, 0)
            self._last[key] = now
        extra = f' ({suppressed} similar errors suppressed)' if suppressed else ''
        self._log(f"frame skipped: bad input on '{topic}': {problem}{extra}")
        return True
