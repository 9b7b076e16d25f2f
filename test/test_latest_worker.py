"""LatestWorker: the newest item wins, a slow stage never builds a backlog."""

import threading

from rgbd_perception.runtime.latest_worker import LatestWorker


def test_busy_worker_runs_the_newest_item_and_counts_the_skipped():
    """Items submitted while the worker is busy: only the last runs, the others are skipped."""
    release, started, done = threading.Event(), threading.Event(), []
    skips = []

    def process(item):
        started.set()
        if item == 0:
            assert release.wait(30)
        done.append(item)
    worker = LatestWorker('test', process, on_skip=skips.append)
    worker.submit(0)
    assert started.wait(30)
    for item in range(1, 6):
        worker.submit(item)
    release.set()
    assert worker.wait_idle(30)
    assert done == [0, 5]
    assert worker.skipped == 4 and sum(skips) == 4
    worker.submit(6)
    assert worker.wait_idle(30) and done == [0, 5, 6]
    worker.stop(30)


def test_errors_go_to_on_error_and_the_worker_goes_on():
    """An exception escaping process is handed to on_error; the next item still runs."""
    errors, done = [], []

    def process(item):
        if item == 'bad':
            raise RuntimeError('boom')
        done.append(item)
    worker = LatestWorker('test', process, on_error=errors.append)
    worker.submit('bad')
    assert worker.wait_idle(30)
    worker.submit('good')
    assert worker.wait_idle(30)
    assert [str(e) for e in errors] == ['boom'] and done == ['good']
    worker.stop(30)
    assert not worker._thread.is_alive()
