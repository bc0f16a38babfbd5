"""Fixtures for the plain-pytest tests of ``tripo_addon.core`` (no bpy).

The shared fixtures (``sim``, ``client``, ``image_files``...) live in
tests/conftest.py; these add a journal, a client factory and a few helpers
that talk HTTP to the real gateway simulator.
"""

from __future__ import annotations

import glob
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers import SIM_KEY, fast_retry, make_image

from tripo_addon.core.net.gateway import GatewayClient
from tripo_addon.core.images import prepare
from tripo_addon.core.jobs import DEFAULT_PARAMS
from tripo_addon.core.journal.store import Journal


@pytest.fixture
def journal(tmp_path):
    return Journal(str(tmp_path / "journal"))


@pytest.fixture
def make_client(sim):
    """``make_client(key=..., read_timeout=..., attempts=...)``: a client on the sim, closed afterwards."""
    made = []

    def make(key: str = SIM_KEY, *, base_url: str | None = None, attempts: int = 6,
             connect_timeout: float = 2, read_timeout: float = 2, **kw) -> GatewayClient:
        c = GatewayClient(key, base_url or sim.url, retry=fast_retry(attempts), connect_timeout=connect_timeout,
                          read_timeout=read_timeout, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def png_path(tmp_path):
    path = tmp_path / "statue.png"
    path.write_bytes(make_image("PNG", size=(80, 60), color=(220, 180, 40)))
    return str(path)


@pytest.fixture
def prepared(png_path):
    return prepare(png_path)


@pytest.fixture
def params():
    return dict(DEFAULT_PARAMS)


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on (connection refused)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class RecordingServer:
    """A second local origin that records every request it gets (and answers 200 JSON)."""

    def __init__(self):
        self.requests: list[dict] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def _any(self):
                outer.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers)})
                body = b'{"status": "COMPLETED", "output": {"media_url": []}}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _any

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def other_origin():
    srv = RecordingServer()
    yield srv
    srv.close()


def wait_terminal(client: GatewayClient, request_id: str, limit: float = 10.0):
    """Poll through the client until the job is terminal; return the StatusResult."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        st = client.status(request_id)
        if not st.is_pending:
            return st
        time.sleep(0.03)
    raise AssertionError(f"job {request_id} did not finish in {limit}s")


@pytest.fixture
def finished_job(sim, prepared, params):
    """``finished_job(client)``: submit through ``client`` and wait; returns the terminal StatusResult."""

    def run(client: GatewayClient):
        res = client.submit(prepared.image_url, params)
        return wait_terminal(client, res.request_id)

    return run


def part_files(directory) -> list[str]:
    return glob.glob(os.path.join(str(directory), "*.part"))


@pytest.fixture
def parts():
    return part_files
