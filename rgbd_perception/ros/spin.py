"""Spin an executor until a condition holds or a time limit passes."""

import time


def spin_until(executor, done, timeout, check=None):
    """
    Spin ``executor`` until ``done()`` is true or ``timeout`` seconds passed; return ``done()``.

    check: optional callable run before every spin (e.g. one that raises when a process the
    caller waits on has died).
    """
    deadline = time.monotonic() + timeout
    while not done():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return done()
        if check is not None:
            check()
        executor.spin_once(timeout_sec=min(0.05, remaining))
    return True
