"""
A worker thread that always processes the newest submitted item: slow stages never back up.

The perception pipeline gives each stage group one :class:`LatestWorker`.  Submitting while
the worker is busy replaces the waiting item (the replaced one counts as skipped), so a stage
that takes longer than the input interval serves the newest frame whenever it is free, its
output age stays about one processing time, and it never slows the others.  Written here
because the standard library's queues keep every item (a backlog) and no library offers
"keep only the newest" with skip counting.
"""

import threading


class LatestWorker:
    """
    Run ``process(item)`` on a daemon thread for the newest item submitted.

    on_skip: optional function called with the number of items replaced before they ran
    (from the submitting thread).  ``process`` must handle its own errors; one that escapes
    is passed to ``on_error(exc)`` (default: re-raised on the worker thread, ending it).
    """

    def __init__(self, name, process, on_skip=None, on_error=None):
        self._process = process
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
