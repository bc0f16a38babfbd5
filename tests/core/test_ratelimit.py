"""One limiter for all jobs: a 429 pauses every job and lowers how many run at once."""

from __future__ import annotations

import threading
import time

from helpers import SIM_KEY, fast_retry

from tripo_addon.core.net.gateway import GatewayClient
from tripo_addon.core.net.ratelimit import SharedLimiter


def test_a_429_halves_the_slots_and_successes_win_them_back():
    now = [100.0]
    limiter = SharedLimiter(16, recover_after=3, clock=lambda: now[0])
    limiter.rate_limited(retry_after=5)
    assert limiter.allowed == 8 and limiter.paused_until == 105.0
    limiter.rate_limited(retry_after=None)
    assert limiter.allowed == 4
    for _ in range(6):
        limiter.succeeded()
    assert limiter.allowed == 6  # one slot back per 3 successes, never above the maximum
    for _ in range(100):
        limiter.succeeded()
    assert limiter.allowed == 16


def test_one_jobs_429_makes_every_job_wait_it_out(sim):
    sim.configure(retry_after=1.0)
    limiter = SharedLimiter(4)
    a = GatewayClient(SIM_KEY, sim.url, retry=fast_retry(), limiter=limiter)
    b = GatewayClient(SIM_KEY, sim.url, retry=fast_retry(), limiter=limiter)
    try:
        rid = a.submit(_image_url(sim)).request_id
        sim.configure(faults={"status": ["429"]})
        told = threading.Thread(target=a.status, args=(rid,))
        told.start()  # job A is told 429 with Retry-After 1 s
        deadline = time.monotonic() + 5
        while limiter.rate_limited_count == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        limited_at = time.monotonic()
        assert limiter.rate_limited_count == 1 and limiter.allowed == 2
        b.status(rid)  # job B was never told, yet waits the pause out too
        assert time.monotonic() - limited_at >= 0.9
        told.join(5)
        assert sim.stats()["status_requests"] == 3  # A's 429, A's retry, B's one: nothing during the pause
    finally:
        a.close()
        b.close()


def test_a_stopped_job_does_not_wait_for_the_pause(sim):
    limiter = SharedLimiter(2)
    limiter.paused_until = time.monotonic() + 30
    stop = threading.Event()
    c = GatewayClient(SIM_KEY, sim.url, retry=fast_retry(), limiter=limiter, stop=stop)
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    try:
        c.status("tripo3d-v2-5-413_anything")
    except Exception as exc:  # noqa: BLE001
        assert type(exc).__name__ == "Stopped"
    finally:
        c.close()
    assert time.monotonic() - started < 2


def _image_url(sim) -> str:
    from helpers import make_image

    return sim.add_asset("limiter.png", make_image("PNG"), "image/png")
