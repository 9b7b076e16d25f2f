"""
A worker thread that always processes the newest submitted item: slow stages never back up.

The perception pipeline gives each stage group one :class:`LatestWorker`.  Submitting while
the worker is busy replaces the waiting item (the replaced one counts as skipped), so a stage
that takes longer than the input interval serves the newest frame whenever it is free, its
output age stays about one processing time, and it never slows the others.  Written here
because the standard library's queues keep every item (a backlog) and no library offers
"keep only the newest" with skip counting.
"""

import os
import sys
import threading


def lower_thread_priority(nice):
    """
    Add ``nice`` (> 0) to the calling thread's niceness; return whether it was applied.

    Linux schedules threads individually and a thread's niceness is inherited by the threads
    it starts later (e.g. the OpenMP team torch creates for it), so a background stage set
    this way yields the cores to the others whenever they are busy.  Elsewhere a no-op.
    """
    if nice <= 0 or not hasattr(os, 'setpriority') or sys.platform != 'linux':
        return False
    try:
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + nice)
    except OSError:
        return False
    return True


class LatestWorker:
    """
    Run ``process(item)`` on a daemon thread for the newest item submitted.

    on_skip: optional function called with the number of items replaced before they ran
    (from the submitting thread).  ``process`` must handle its own errors; one that escapes
    is passed to ``on_error(exc)`` (default: re-raised on the worker thread, ending it).
    nice: niceness added to the worker thread (see :func:`lower_thread_priority`).
    """

    def __init__(self, name, process, on_skip=None, on_error=None, nice=0):
        self._process = process
        self._nice = int(nice)
        self._on_skip = on_skip
        self._on_error = on_error
        self._condition = threading.Condition()
        self._pending = None
        self._has_pending = False
        self._busy = False
        self._stopping = False
        self.skipped = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item):
        """Queue ``item``; a waiting item not yet started is dropped (counted as skipped)."""
        with self._condition:
            replaced = self._has_pending
            self._pending, self._has_pending = item, True
            self.skipped += int(replaced)
            self._condition.notify_all()
        if replaced and self._on_skip is not None:
            self._on_skip(1)

    def _run(self):
        lower_thread_priority(self._nice)
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._has_pending or self._stopping)
                if self._stopping:
                    return
                item, self._pending, self._has_pending = self._pending, None, False
                self._busy = True
            try:
                self._process(item)
            except Exception as exc:  # noqa: B902 - reported, the worker goes on
                if self._on_error is None:
                    raise
                self._on_error(exc)
            finally:
                with self._condition:
                    self._busy = False
                    self._condition.notify_all()

    def wait_idle(self, timeout=None):
        """Wait until nothing is pending or running; return whether that happened in time."""
        with self._condition:
            return self._condition.wait_for(
                lambda: not self._has_pending and not self._busy, timeout)

    def stop(self, timeout=None):
        """Stop after the item running now (a waiting one is dropped); join the thread."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        self._thread.join(timeout)
