"""
Per-stage diagnostics: processing latency, output age, input and output rates, dropped frames.

Thread-safe: a stage running on its own worker thread records while the node's timer renders.
"""

from collections import deque
import threading
import time

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
import numpy as np


def _rate_hz(times):
    """Mean rate of a sequence of monotonic times, 0 with fewer than two."""
    if len(times) < 2:
        return 0.0
    span = times[-1] - times[0]
    return (len(times) - 1) / span if span > 0 else 0.0


class StageDiagnostics:
    """
    Accumulate timing and drop counts of one stage and render a DiagnosticStatus.

    Latencies, output ages and arrival / publish times are kept over the last ``window``
    frames.  dropped: frames not served because of bad input or an error; skipped: good
    frames a busy stage passed over to take a newer one (never a backlog).  memory: optional
    function returning the device memory in use in bytes (None where there is none to
    report).
    """

    def __init__(self, name, hardware_id='', window=100, clock=time.monotonic, memory=None):
        self.name = name
        self.hardware_id = hardware_id
        self._clock = clock
        self._memory = memory
        self._lock = threading.Lock()
        self._arrivals = deque(maxlen=window)
        self._latencies = deque(maxlen=window)
        self._publishes = deque(maxlen=window)
        self._ages = deque(maxlen=window)
        self.processed = 0
        self.dropped = 0
        self.skipped = 0

    def input_received(self):
        """Note the arrival of one input frame."""
        with self._lock:
            self._arrivals.append(self._clock())

    def frame_processed(self, latency_s):
        """Note one served frame and its processing latency in seconds."""
        with self._lock:
            self.processed += 1
            self._latencies.append(float(latency_s))

    def frame_dropped(self, count=1):
        """Note frames that were not served (bad input, no match, queue overflow, errors)."""
        with self._lock:
            self.dropped += int(count)

    def frames_skipped(self, count=1):
        """Note good frames a busy stage passed over for a newer one."""
        with self._lock:
            self.skipped += int(count)

    def output_published(self, age_s):
        """Note one published output and its age (publish time - header stamp) in seconds."""
        with self._lock:
            self._publishes.append(self._clock())
            self._ages.append(float(age_s))

    def input_rate_hz(self):
        """Mean input rate over the window, 0 with fewer than two arrivals."""
        with self._lock:
            return _rate_hz(self._arrivals)

    def output_rate_hz(self):
        """Mean publish rate over the window, 0 with fewer than two outputs."""
        with self._lock:
            return _rate_hz(self._publishes)

    def status(self):
        """Return a diagnostic_msgs/DiagnosticStatus for the current window."""
        with self._lock:
            latencies_ms = np.array(self._latencies, np.float64) * 1000.0
            ages_ms = np.array(self._ages, np.float64) * 1000.0
            processed, dropped, skipped = self.processed, self.dropped, self.skipped
        level = DiagnosticStatus.OK
        message = 'ok'
        if processed == 0 and dropped > 0:
            level, message = DiagnosticStatus.ERROR, 'every frame so far was dropped'
        elif dropped > 0:
            level, message = DiagnosticStatus.WARN, f'{dropped} frames dropped'
        elif processed == 0:
            message = 'waiting for input'

        def percentile(values, q):
            return f'{np.percentile(values, q):.3f}' if len(values) else '0.000'
        values = {
            'latency_median_ms': percentile(latencies_ms, 50),
            'latency_p90_ms': percentile(latencies_ms, 90),
            'latency_p99_ms': percentile(latencies_ms, 99),
            'latency_max_ms': f'{max(latencies_ms, default=0.0):.3f}',
            'input_rate_hz': f'{self.input_rate_hz():.2f}',
            'frames_processed': str(processed),
            'frames_dropped': str(dropped),
        }
        if len(ages_ms) or skipped:
            values |= {'output_rate_hz': f'{self.output_rate_hz():.2f}',
                       'output_age_median_ms': percentile(ages_ms, 50),
                       'output_age_p90_ms': percentile(ages_ms, 90),
                       'frames_skipped': str(skipped)}
        memory = self._memory() if self._memory is not None else None
        if memory is not None:
            values['device_memory_mb'] = f'{memory / 2 ** 20:.1f}'
        return DiagnosticStatus(
            level=level, name=self.name, message=message, hardware_id=self.hardware_id,
            values=[KeyValue(key=k, value=v) for k, v in values.items()])
