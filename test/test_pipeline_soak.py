"""
Soak: two minutes of 30 Hz VGA through perception_node in its own process (every output on).

Asserts what a long run must keep, never a speed: every output keeps arriving, its latency in
the last third of the run has not grown past the first third's (no backlog: a slow stage takes
the newest frame), and the node's resident memory has not grown (no leak).  The numbers are
the benchmark's (``rgbd-perception bench pipeline``), printed for the log.
"""

import pytest

from rgbd_perception.tools.pipeline_bench import format_results, run_pipeline

pytestmark = [pytest.mark.ros, pytest.mark.slow, pytest.mark.timeout(900)]

SOAK_S = 120.0


def test_two_minutes_at_30_hz_keep_latency_and_memory_flat():
    """Latency of the last third <= 2x the first third's + 0.5 s; RSS growth <= 200 MiB."""
    results = run_pipeline(SOAK_S, rate=30.0, device='cpu')
    print(format_results(results))
    for topic, summary in results['outputs'].items():
        assert summary['count'] >= SOAK_S / 10, f'{topic}: {summary}'
        assert summary['latency_last_third_ms'] <= (
            2.0 * summary['latency_first_third_ms'] + 500.0), f'{topic}: {summary}'
    assert results['rss_end_mb'] - results['rss_start_mb'] <= 200.0, results
