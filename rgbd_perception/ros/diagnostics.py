"""Per-stage diagnostics: processing latency, input rate and dropped frames."""

from collections import deque
import statistics
import time

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue


class StageDiagnostics:
    """
    Accumulate timing and drop counts of one stage and render a DiagnosticStatus.

    Latencies and arrival times are kept over the last ``window`` frames.
    """

    def __init__(self, name, hardware_id='', window=100, clock=time.monotonic):
        self.name = name
        self.hardware_id = hardware_id
        self._clock = clock
        self._arrivals = deque(maxlen=window)
        self._latencies = deque(maxlen=window)
        self.processed = 0
        self.dropped = 0

    def input_received(self):
        """Note the arrival of one input frame."""
        self._arrivals.append(self._clock())

    def frame_processed(self, latency_s):
        """Note one published frame and its processing latency in seconds."""
        self.processed += 1
        self._latencies.append(float(latency_s))

    def frame_dropped(self, count=1):
        """Note frames that were skipped (bad input, no match, queue overflow)."""
        self.dropped += int(count)

    def input_rate_hz(self):
        """Mean input rate over the window, 0 with fewer than two arrivals."""
        if len(self._arrivals) < 2:
            return 0.0
        span = self._arrivals[-1] - self._arrivals[0]
        return (len(self._arrivals) - 1) / span if span > 0 else 0.0

    def status(self):
        """Return a diagnostic_msgs/DiagnosticStatus for the current window."""
        latencies_ms = [1000.0 * v for v in self._latencies]
        median = statistics.median(latencies_ms) if latencies_ms else 0.0
        level = DiagnosticStatus.OK
        message = 'ok'
        if self.processed == 0 and self.dropped > 0:
            level, message = DiagnosticStatus.ERROR, 'every frame so far was dropped'
        elif self.dropped > 0:
            level, message = DiagnosticStatus.WARN, f'{self.dropped} frames dropped'
        elif self.processed == 0:
            message = 'waiting for input'
        values = {
            'latency_median_ms': f'{median:.3f}',
            'latency_max_ms': f'{max(latencies_ms, default=0.0):.3f}',
            'input_rate_hz': f'{self.input_rate_hz():.2f}',
            'frames_processed': str(self.processed),
            'frames_dropped': str(self.dropped),
        }
        return DiagnosticStatus(
            level=level, name=self.name, message=message, hardware_id=self.hardware_id,
            values=[KeyValue(key=k, value=v) for k, v in values.items()])
