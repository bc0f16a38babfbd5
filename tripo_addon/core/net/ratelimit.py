"""One rate limiter shared by every job of a process.

When the gateway answers 429, every job's next request waits out the
Retry-After (not only the job that was told), and fewer jobs may be in
flight at once; each run of successful requests wins one slot back, so the
batch recovers slowly instead of hitting the limit again at once.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from .. import errors as E

#: Successful requests after which one more job may be in flight again.
RECOVER_AFTER = 20
#: Pause when a 429 gives no Retry-After.
DEFAULT_PAUSE = 2.0


class SharedLimiter:
    def __init__(self, max_in_flight: int, *, recover_after: int = RECOVER_AFTER,
                 clock: Callable[[], float] = time.monotonic):
        self.max_in_flight = max(1, int(max_in_flight))
        self.allowed = self.max_in_flight
        self.recover_after = recover_after
        self.clock = clock
        self.paused_until = 0.0
        self.rate_limited_count = 0
        self._successes = 0
        self._lock = threading.Lock()

    def wait_turn(self, stop: threading.Event) -> None:
        """Block while the gateway asked everyone to wait (raises Stopped when stopped)."""
        while True:
            with self._lock:
                delay = self.paused_until - self.clock()
            if delay <= 0:
                return
            if stop.wait(min(delay, 1.0)):
                raise E.Stopped("Stopped while the gateway was limiting requests.")

    def rate_limited(self, retry_after: float | None) -> None:
        with self._lock:
            pause = retry_after if retry_after and retry_after > 0 else DEFAULT_PAUSE
            self.paused_until = max(self.paused_until, self.clock() + min(pause, 120.0))
            self.allowed = max(1, self.allowed // 2)
            self._successes = 0
            self.rate_limited_count += 1

    def succeeded(self) -> None:
        with self._lock:
            self._successes += 1
            if self._successes >= self.recover_after and self.allowed < self.max_in_flight:
                self.allowed += 1
                self._successes = 0
