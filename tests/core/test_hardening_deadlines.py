"""Issue 9, class 7: every request has an overall deadline, so a server that
trickles bytes (one every fraction of the read timeout, so no read ever
times out) cannot hang a job. Real local servers over real sockets."""

from __future__ import annotations

import os

import pytest
from hardening_servers import RawServer, make_glb, run_bounded
from helpers import SIM_KEY, fast_retry

from tripo_addon.core import errors as E
from tripo_addon.core.net.gateway import GatewayClient

READ = 0.5  # read timeout: the trickle below sends a byte every 0.15 s, so reads never time out
GAP = 0.15
LIMIT = 20.0  # without a deadline these calls would run for minutes (until the server stops)


def client_for(url: str, attempts: int = 2) -> GatewayClient:
    return GatewayClient(SIM_KEY, url, retry=fast_retry(attempts), connect_timeout=0.5, read_timeout=READ)


STATUS_ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n"
                 + b'{"request_id": "r1", "status": "QUEUED", "output": null}    ')


@pytest.mark.parametrize("where", ["headers", "body"])
def test_trickling_status_answer_is_cut_and_retried_within_budget(where):
    def handler(conn):
        if where == "headers":
            conn.trickle(STATUS_ANSWER, GAP)
        else:
            head, _, body = STATUS_ANSWER.partition(b"\r\n\r\n")
            conn.send(head + b"\r\n\r\n")
            conn.trickle(body, GAP)

    with RawServer(handler) as srv:
        c = client_for(srv.url, attempts=2)
        try:
            result, took = run_bounded(lambda: c.status("r1"), LIMIT)
        finally:
            c.close()
    assert isinstance(result, E.RetriesExhausted), result
    assert "did not finish answering within" in result.message and SIM_KEY not in result.message
    assert len(srv.requests) == 2  # retried once (a status check is free), then given up
    # Each try is cut at connect + 2 x read = 1.5 s (the whole answer would take 60 x 0.15 = 9 s or more).
    assert took < 2 * (0.5 + 2 * READ) + 2.0


def test_trickling_submit_answer_is_uncertain_and_never_resent(prepared):
    def handler(conn):
        conn.trickle(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"request_id": "r1"}', GAP)

    with RawServer(handler) as srv:
        c = client_for(srv.url, attempts=5)
        try:
            result, took = run_bounded(lambda: c.submit(prepared.image_url), LIMIT)
        finally:
            c.close()
    assert isinstance(result, E.SubmitUncertain), result
    assert "did not finish answering within" in result.message and "may have been submitted" in result.message
    assert len(srv.requests) == 1 and c.counters["submits_sent"] == 1  # the request left: never sent again
    body_allowance = (len(prepared.image_url) + 1024) / (16 * 1024)
    assert took < 0.5 + 2 * READ + body_allowance + 2.0


def test_trickling_download_is_cut_retried_and_bounded(tmp_path):
    glb = make_glb({"asset": {"version": "2.0"}}, b"\1" * 4000)

    def handler(conn):
        conn.send(f"HTTP/1.1 200 OK\r\nContent-Type: model/gltf-binary\r\nContent-Length: {len(glb)}\r\n\r\n"
                  .encode())
        conn.trickle(glb, GAP)

    dest = str(tmp_path / "model.glb")
    with RawServer(handler) as srv:
        c = client_for(srv.url, attempts=3)
        try:
            result, took = run_bounded(lambda: c.download([srv.url + "/out.glb"], dest), LIMIT)
        finally:
            c.close()
    assert isinstance(result, E.RetriesExhausted), result
    assert "too slow" in result.message and "resumed later" in result.message
    assert len(srv.requests) == 3
    assert not os.path.exists(dest)
    # Per try: headers at once, then each 16 KB read must finish within 2 x read = 1 s.
    assert took < 3 * (0.5 + 2 * READ) + 2.0


def test_slow_but_steady_download_is_not_cut(tmp_path):
    """The deadline is about trickles, not slow links: 16 KB every 0.3 s (53 KB/s) gets through."""
    glb = make_glb({"asset": {"version": "2.0"}}, bytes(range(256)) * 512)  # about 128 KB

    def handler(conn):
        conn.send(f"HTTP/1.1 200 OK\r\nContent-Type: model/gltf-binary\r\nContent-Length: {len(glb)}\r\n\r\n"
                  .encode())
        for i in range(0, len(glb), 16 * 1024):
            if not conn.send(glb[i:i + 16 * 1024]) or conn.server.stopping.wait(0.3):
                return

    dest = str(tmp_path / "model.glb")
    with RawServer(handler) as srv:
        c = client_for(srv.url, attempts=1)
        try:
            result, took = run_bounded(lambda: c.download([srv.url + "/out.glb"], dest), LIMIT)
        finally:
            c.close()
    assert result == dest, result
    assert took > 2 * READ  # it really took longer than one "2 x read" window
    with open(dest, "rb") as f:
        assert f.read() == glb
    assert len(srv.requests) == 1


def test_quick_answers_are_unaffected_and_leave_no_watchdog_threads(sim, client, prepared):
    import threading

    before = {t.ident for t in threading.enumerate()}
    res = client.submit(prepared.image_url)
    for _ in range(20):
        client.status(res.request_id)
    lingering = [t for t in threading.enumerate() if t.ident not in before and t.name == "tripo3d-deadline"]
    for t in lingering:
        t.join(1.0)
    assert not [t for t in lingering if t.is_alive()]
    assert sim.stats()["status_requests"] == 20
