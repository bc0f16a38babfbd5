"""Tests of the local Pixazo gateway simulator (tools/gateway_sim.py) and of
the GLB it serves (tools/glb_from_image.py).  Plain pytest + requests, no bpy.

Everything (helpers and fixtures) lives in this one module on purpose: a
`from conftest import ...` could pick up another directory's conftest."""
from __future__ import annotations

import base64
import http.client
import io
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import types
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from PIL import Image, ImageDraw

from tools.gateway_sim import (
    APIM_401,
    DOWNLOAD_FAULTS,
    STATUS_FAULTS,
    SUBMIT_PATH,
    GatewaySimulator,
    SimConfig,
)
from tools.glb_from_image import glb_from_image

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "tools"

KEY = "sim-key"
GLTF_VALIDATOR_VERSION = "2.0.0-dev.3.10"  # scripts/bootstrap_matrix.sh reads this line
NODE_PREFIX = REPO / ".cache" / "node"
VALIDATOR_DIR = NODE_PREFIX / "node_modules" / "gltf-validator"


def make_image(fmt: str = "PNG", size=(96, 64), mode: str = "RGB") -> bytes:
    img = Image.new(mode, size, (30, 60, 90) if mode == "RGB" else (30, 60, 90, 0))
    d = ImageDraw.Draw(img)
    w, h = size
    yellow = (230, 200, 40) if mode == "RGB" else (230, 200, 40, 255)
    white = (250, 250, 250) if mode == "RGB" else (250, 250, 250, 255)
    d.ellipse((w // 8, h // 8, w - w // 8, h - h // 8), fill=yellow)
    d.rectangle((w // 3, h // 3, 2 * w // 3, 2 * h // 3), fill=white)
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


@pytest.fixture(scope="session")
def png_bytes() -> bytes:
    return make_image("PNG")


@pytest.fixture(scope="session")
def png_uri(png_bytes) -> str:
    return data_uri(png_bytes)


@pytest.fixture
def sim():
    cfg = SimConfig(queue_seconds=0.1, processing_seconds=0.15, slow_seconds=1.5, retry_after=1)
    s = GatewaySimulator(cfg).start()
    try:
        yield s
    finally:
        s.stop()


class Client:
    """Tiny helper speaking to a simulator like a client would."""

    def __init__(self, sim: GatewaySimulator, key: str = KEY):
        self.sim = sim
        self.key = key

    def headers(self, key="__default__", **extra):
        h = {"Content-Type": "application/json", "Cache-Control": "no-cache"}
        key = self.key if key == "__default__" else key
        if key is not None:
            h["Ocp-Apim-Subscription-Key"] = key
        h.update(extra)
        return h

    def submit(self, image_url=None, body=None, key="__default__", timeout=10, headers=None, **kw):
        if body is None:
            body = {"texture": "standard", "texture_alignment": "original_image",
                    "orientation": "default", "image_url": image_url}
        h = self.headers(key)
        h.update(headers or {})
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return requests.post(self.sim.url + SUBMIT_PATH, data=data, headers=h, timeout=timeout, **kw)

    def status(self, request_id, key="__default__", timeout=10):
        h = self.headers(key)
        return requests.get(f"{self.sim.url}/v2/requests/status/{request_id}", headers=h, timeout=timeout)

    def wait_terminal(self, request_id, limit=10.0):
        end = time.time() + limit
        while time.time() < end:
            r = self.status(request_id)
            if r.status_code == 200 and r.json()["status"] in ("COMPLETED", "FAILED", "ERROR"):
                return r.json()
            time.sleep(0.03)
        raise AssertionError("job did not finish")

    def run_job(self, image_url):
        r = self.submit(image_url)
        assert r.status_code == 202, r.text
        return self.wait_terminal(r.json()["request_id"])


@pytest.fixture
def client(sim):
    return Client(sim)


class HookServer:
    """A small local HTTP server recording webhook POSTs."""

    def __init__(self):
        self.posts = []
        self.event = threading.Event()
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                outer.posts.append({"path": self.path, "headers": dict(self.headers),
                                    "json": json.loads(body.decode("utf-8"))})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                outer.event.set()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def wait_for(self, n, limit=5.0):
        end = time.time() + limit
        while len(self.posts) < n and time.time() < end:
            time.sleep(0.02)
        return list(self.posts)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook_server():
    hs = HookServer()
    try:
        yield hs
    finally:
        hs.close()


@pytest.fixture(scope="session")
def gltf_validator():
    """Path to tools/validate_gltf.mjs with gltf-validator installed under
    <repo>/.cache/node.  Missing node or npm is a FAILURE, not a skip."""
    script = TOOLS / "validate_gltf.mjs"
    state = {}

    def ensure_installed() -> str:
        # Called from inside the test so that a missing tool is a FAILED test.
        if "node" in state:
            return state["node"]
        node = shutil.which("node")
        if node is None:
            pytest.fail("node is not installed: it is required to run Khronos' glTF-Validator")
        if not (VALIDATOR_DIR / "package.json").is_file():
            npm = shutil.which("npm")
            if npm is None:
                pytest.fail("npm is not installed: it is required to install gltf-validator")
            NODE_PREFIX.mkdir(parents=True, exist_ok=True)
            proc = subprocess.run(
                [npm, "install", "--prefix", str(NODE_PREFIX), "--no-audit", "--no-fund",
                 "--loglevel=error", f"gltf-validator@{GLTF_VALIDATOR_VERSION}"],
                capture_output=True, text=True, timeout=300)
            if proc.returncode != 0 or not (VALIDATOR_DIR / "package.json").is_file():
                pytest.fail(f"npm install gltf-validator failed:\n{proc.stdout}\n{proc.stderr}")
        state["node"] = node
        return node

    def run(path: Path, strict: bool = True):
        node = ensure_installed()
        args = [node, str(script), str(path)] + (["--strict"] if strict else [])
        env = {k: v for k, v in os.environ.items() if k != "GLTF_VALIDATOR_DIR"}
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
        try:
            report = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError(f"validator printed no JSON (rc={proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}") from None
        return proc.returncode, report

    return run


# =========================================================================== tests
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PLAIN = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
STATUS_KEYS = {"request_id", "status", "model_id", "error", "output", "created_at", "updated_at",
               "completed_at"}


def wait_until(pred, limit=3.0) -> bool:
    end = time.time() + limit
    while not pred():
        if time.time() > end:
            return False
        time.sleep(0.01)
    return True


def glb_chunks(data: bytes):
    magic, version, length = struct.unpack_from("<4sII", data, 0)
    jlen, jtype = struct.unpack_from("<I4s", data, 12)
    gltf = json.loads(data[20:20 + jlen])
    return magic, version, length, jtype, gltf


def completed_glb(client: Client, png_uri: str):
    st = client.run_job(png_uri)
    assert st["status"] == "COMPLETED"
    return st, st["output"]["media_url"][0]


# --------------------------------------------------------------------------- auth / errors
@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_submit_401_missing_or_wrong_key(client, sim, png_uri, key):
    r = client.submit(png_uri, key=key)
    assert r.status_code == 401
    assert r.json() == APIM_401
    assert r.json()["statusCode"] == 401
    assert r.json()["message"].startswith("Access denied due to invalid subscription key")
    assert sim.stats()["submits"] == 0


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_status_401_missing_or_wrong_key(client, png_uri, key):
    rid = client.submit(png_uri).json()["request_id"]
    r = client.status(rid, key=key)
    assert r.status_code == 401
    assert r.json() == APIM_401


def test_status_404_unknown_id(client):
    r = client.status("tripo3d-v2-5-413_00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404
    assert r.json()["error"] == "Not Found" and r.json()["message"]


def test_402_and_403_special_keys(client, sim, png_uri):
    r = client.submit(png_uri, key="sim-broke")
    assert r.status_code == 402
    assert r.json() == {"error": "Insufficient Balance", "message": "Your wallet does not have enough balance."}
    r = client.submit(png_uri, key="sim-forbidden")
    assert r.status_code == 403
    assert r.json()["error"] == "Forbidden" and r.json()["message"]
    assert sim.stats()["submits"] == 0
    assert sim.stats()["submit_attempts"] == 2


def test_400_missing_image_url(client, sim):
    r = client.submit(body={"texture": "standard"})
    assert r.status_code == 400
    assert r.json()["error"] == "Bad Request" and "image_url" in r.json()["message"]
    r = client.submit(body={"image_url": 42})
    assert r.status_code == 400
    assert sim.stats()["submits"] == 0


@pytest.mark.parametrize("uri", [
    "data:text/plain;base64,aGVsbG8gd29ybGQ=",
    "data:image/png;base64,bm90IGEgcG5n",
    "data:image/png;base64,@@@not-base64@@@",
])
def test_400_non_image_data_uri(client, sim, uri):
    r = client.submit(uri)
    assert r.status_code == 400
    msg = r.json()["message"]
    assert r.json()["error"] == "Bad Request"
    assert "could not be read" in msg
    assert sim.stats()["submits"] == 0


def test_400_gif_is_refused(client):
    r = client.submit(data_uri(make_image("GIF"), "image/gif"))
    assert r.status_code == 400
    assert "PNG, JPEG or WebP" in r.json()["message"]


@pytest.mark.parametrize("body", [b"this is not json", b"", b"[1, 2]", b"{\"image_url\": "])
def test_400_non_json(client, sim, body):
    r = client.submit(body=body)
    assert r.status_code == 400
    assert r.json()["error"] == "Bad Request"
    assert sim.stats()["submits"] == 0


def test_400_model_not_found(sim):
    r = requests.post(sim.url + "/no-such-model/v1/no-such-model-request", json={"image_url": "x"},
                      headers={"Ocp-Apim-Subscription-Key": KEY}, timeout=5)
    assert r.status_code == 400
    assert r.json() == {"error": "Model not found", "message": "Model 'no-such-model' not found or is disabled"}


def test_jpeg_and_webp_accepted(client):
    for fmt, mime in (("JPEG", "image/jpeg"), ("WEBP", "image/webp")):
        r = client.submit(data_uri(make_image(fmt), mime))
        assert r.status_code == 202, r.text


# --------------------------------------------------------------------------- submit + status
def test_submit_202_and_polling_url(client, sim, png_uri, png_bytes):
    r = client.submit(png_uri)
    assert r.status_code == 202
    body = r.json()
    assert set(body) == {"request_id", "status", "polling_url"}
    assert body["status"] == "QUEUED"
    assert re.fullmatch(r"tripo3d-v2-5-413_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}",
                        body["request_id"])
    assert body["polling_url"] == f"{sim.url}/v2/requests/status/{body['request_id']}"
    jobs = sim.jobs()
    assert len(jobs) == 1
    assert jobs[0]["request_id"] == body["request_id"]
    assert jobs[0]["image_bytes_len"] == len(png_bytes)
    assert jobs[0]["params"] == {"texture": "standard", "texture_alignment": "original_image",
                                 "orientation": "default"}
    assert sim.stats()["submits"] == 1


def test_status_progression_and_shape(client, sim, png_uri):
    sim.configure(queue_seconds=0.25, processing_seconds=0.25)
    r = client.submit(png_uri)
    rid = r.json()["request_id"]
    seen, bodies = [], []
    end = time.time() + 5
    while time.time() < end:
        st = client.status(rid)
        assert st.status_code == 200
        b = st.json()
        bodies.append(b)
        if not seen or seen[-1] != b["status"]:
            seen.append(b["status"])
        if b["status"] == "COMPLETED":
            break
        time.sleep(0.02)
    assert seen == ["QUEUED", "PROCESSING", "COMPLETED"]
    for b in bodies:
        assert set(b) == STATUS_KEYS
        assert b["model_id"] == "tripo3d-v2-5-413" and b["request_id"] == rid
        assert ISO_Z.match(b["created_at"]) and PLAIN.match(b["updated_at"])
        if b["status"] != "COMPLETED":
            assert b["output"] is None and b["error"] is None and b["completed_at"] is None
    final = bodies[-1]
    assert final["error"] is None and PLAIN.match(final["completed_at"])
    assert final["output"] == {"media_url": [f"{sim.url}/cdn/v1/{rid}/output.glb"], "media_type": "model/glb"}
    job = sim.jobs()[0]
    assert job["status"] == "COMPLETED"
    assert job["completed_at"] == pytest.approx(job["created"] + 0.25 + 0.25, abs=1e-9)
    assert len(job["status_request_times"]) == len(bodies)
    assert sim.stats()["status_requests"] == len(bodies)


@pytest.mark.parametrize("outcome", ["FAILED", "ERROR"])
def test_failed_and_error_outcomes(client, sim, png_uri, outcome):
    sim.configure(outcome=outcome, outcome_error="mesh generation exploded")
    st = client.run_job(png_uri)
    assert set(st) == STATUS_KEYS
    assert st["status"] == outcome
    assert st["error"] == "mesh generation exploded"
    assert st["output"] is None
    assert PLAIN.match(st["completed_at"])
    assert requests.get(f"{sim.url}/cdn/v1/{st['request_id']}/output.glb", timeout=5).status_code == 404


def test_latency_delays_api_answers(client, sim, png_uri):
    sim.configure(latency=0.3)
    t0 = time.monotonic()
    r = client.submit(png_uri)
    assert r.status_code == 202
    assert time.monotonic() - t0 >= 0.29


# --------------------------------------------------------------------------- CDN
def test_cdn_serves_valid_glb_header(client, sim, png_uri):
    _, url = completed_glb(client, png_uri)
    assert url.startswith(sim.url + "/cdn/v1/")
    r = requests.get(url, timeout=10)  # no key needed: public CDN
    assert r.status_code == 200
    data = r.content
    assert data[:4] == b"glTF"
    magic, version, length, jtype, gltf = glb_chunks(data)
    assert version == 2 and length == len(data) == int(r.headers["Content-Length"])
    assert jtype == b"JSON"
    assert r.headers["Accept-Ranges"] == "bytes"
    assert gltf["asset"]["version"] == "2.0" and gltf["asset"]["generator"]
    st = sim.stats()
    assert st["downloads"] == 1 and st["downloads_completed"] == 1


def test_cdn_range_resume_206(client, sim, png_uri):
    _, url = completed_glb(client, png_uri)
    full = requests.get(url, timeout=10).content
    r = requests.get(url, headers={"Range": "bytes=1000-"}, timeout=10)
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes 1000-{len(full) - 1}/{len(full)}"
    assert int(r.headers["Content-Length"]) == len(full) - 1000
    assert r.content == full[1000:]
    r = requests.get(url, headers={"Range": f"bytes={len(full)}-"}, timeout=10)
    assert r.status_code == 416
    sim.configure(range_support=False)
    r = requests.get(url, headers={"Range": "bytes=1000-"}, timeout=10)
    assert r.status_code == 200 and r.content == full
    assert "Accept-Ranges" not in r.headers


def test_cdn_download_rate_throttles(client, sim, png_uri):
    _, url = completed_glb(client, png_uri)
    size = len(requests.get(url, timeout=10).content)
    rate = size / 0.4
    sim.configure(download_rate=rate)
    t0 = time.monotonic()
    assert len(requests.get(url, timeout=10).content) == size
    assert time.monotonic() - t0 >= 0.3


def test_cdn_unknown_or_unfinished_is_404(client, sim, png_uri):
    sim.configure(queue_seconds=5)
    rid = client.submit(png_uri).json()["request_id"]
    assert requests.get(f"{sim.url}/cdn/v1/{rid}/output.glb", timeout=5).status_code == 404
    assert requests.get(f"{sim.url}/cdn/v1/nope/output.glb", timeout=5).status_code == 404


def test_texture_size_makes_big_glb(client, sim, png_uri):
    sim.configure(texture_size=1024)          # noise is automatic from 1024 px
    _, url = completed_glb(client, png_uri)
    data = requests.get(url, timeout=20).content
    assert len(data) > 2_000_000
    assert struct.unpack_from("<I", data, 8)[0] == len(data)


# --------------------------------------------------------------------------- output modes
def test_output_not_glb(client, sim, png_uri):
    sim.configure(output_mode="not_glb")
    st, url = completed_glb(client, png_uri)
    data = requests.get(url, timeout=5).content
    assert data and not data.startswith(b"glTF")


def test_output_empty(client, sim, png_uri):
    sim.configure(output_mode="empty")
    st = client.run_job(png_uri)
    assert st["status"] == "COMPLETED" and st["output"]["media_url"] == []


def test_output_http_media(client, sim, png_uri):
    sim.configure(output_mode="http_media")
    st = client.run_job(png_uri)
    (url,) = st["output"]["media_url"]
    u = urllib.parse.urlsplit(url)
    assert u.scheme == "http" and u.hostname == "cdn.example.invalid"


def test_output_multi(client, sim, png_uri):
    sim.configure(output_mode="multi")
    st = client.run_job(png_uri)
    urls = st["output"]["media_url"]
    assert len(urls) == 2
    assert urls[0].endswith("/preview.png") and urls[1].endswith("/model.bin")
    first = requests.get(urls[0], timeout=5).content
    second = requests.get(urls[1], timeout=5).content
    assert first.startswith(b"\x89PNG\r\n\x1a\n")
    assert second[:4] == b"glTF" and struct.unpack_from("<I", second, 4)[0] == 2


def test_output_redirect_http(client, sim, png_uri):
    sim.configure(output_mode="redirect_http")
    st, url = completed_glb(client, png_uri)
    r = requests.get(url, allow_redirects=False, timeout=5)
    assert r.status_code == 302
    assert r.headers["Location"] == "http://cdn.example.invalid/output.glb"


def test_output_oversize_streams_lazily(client, sim, png_uri):
    sim.configure(output_mode="oversize")
    st, url = completed_glb(client, png_uri)
    with requests.get(url, stream=True, timeout=10) as r:
        assert r.status_code == 200
        assert int(r.headers["Content-Length"]) == 300_000_000
        got = b""
        for chunk in r.iter_content(65536):
            got += chunk
            if len(got) >= 1_000_000:
                break
    assert got[:4] == b"glTF"
    assert struct.unpack_from("<II", got, 4) == (2, 300_000_000)
    r = requests.get(url, headers={"Range": "bytes=299999990-"}, timeout=10)
    assert r.status_code == 206 and len(r.content) == 10
    assert sim.stats()["downloads_completed"] == 1      # only the ranged tail finished


# --------------------------------------------------------------------------- faults
@pytest.mark.parametrize("kind", ["429", "503", "500", "502"])
def test_submit_fault_before_queue_codes(client, sim, png_uri, kind):
    sim.configure(faults={"submit": [kind]}, retry_after=2)
    r = client.submit(png_uri)
    assert r.status_code == int(kind)
    if kind in ("429", "503"):
        assert r.headers["Retry-After"] == "2"
    st = sim.stats()
    assert st["submits"] == 0 and st["faults_injected"] == 1 and st[f"fault_{kind}"] == 1
    assert st["faults_by_route"]["submit"] == {kind: 1}
    assert client.submit(png_uri).status_code == 202          # plan consumed
    assert sim.stats()["submits"] == 1


def test_submit_drop_before_queue(client, sim, png_uri):
    sim.configure(faults={"submit": ["drop_before_queue"]})
    with pytest.raises(requests.ConnectionError):
        client.submit(png_uri)
    st = sim.stats()
    assert st["submits"] == 0 and st["submit_attempts"] == 1 and st["fault_drop_before_queue"] == 1
    assert sim.jobs() == []


def test_submit_drop_after_queue_counts_the_job(client, sim, png_uri):
    sim.configure(faults={"submit": ["drop_after_queue"]})
    with pytest.raises(requests.ConnectionError):
        client.submit(png_uri)
    st = sim.stats()
    assert st["submits"] == 1 and st["submit_attempts"] == 1 and st["fault_drop_after_queue"] == 1
    (job,) = sim.jobs()
    # The job exists and runs to completion although the client never saw its id.
    assert client.wait_terminal(job["request_id"])["status"] == "COMPLETED"
    # A blind retry would create (and bill) a second job: the counter shows it.
    assert client.submit(png_uri).status_code == 202
    assert sim.stats()["submits"] == 2


def test_submit_slow_after_queue(client, sim, png_uri):
    sim.configure(faults={"submit": ["slow_after_queue"]})
    with pytest.raises(requests.Timeout):
        client.submit(png_uri, timeout=0.3)
    st = sim.stats()
    assert st["submits"] == 1 and st["fault_slow_after_queue"] == 1


def test_submit_plan_pass_entries(client, sim, png_uri):
    sim.configure(faults={"submit": ["ok", "503"]})
    assert client.submit(png_uri).status_code == 202
    assert client.submit(png_uri).status_code == 503
    assert client.submit(png_uri).status_code == 202
    assert sim.stats()["submits"] == 2 and sim.stats()["faults_injected"] == 1


@pytest.mark.parametrize("kind", STATUS_FAULTS)
def test_status_fault_once_and_counted(client, sim, png_uri, kind):
    rid = client.submit(png_uri).json()["request_id"]
    sim.configure(faults={"status": [kind]}, retry_after=2.5)
    if kind == "drop":
        with pytest.raises(requests.ConnectionError):
            client.status(rid)
    elif kind == "slow":
        with pytest.raises(requests.Timeout):
            client.status(rid, timeout=0.3)
    else:
        r = client.status(rid)
        if kind in ("500", "502", "503", "429"):
            assert r.status_code == int(kind)
            if kind in ("429", "503"):
                assert r.headers["Retry-After"] == "2.5"
        elif kind in ("garbage", "half_json"):
            assert r.status_code == 200
            with pytest.raises(ValueError):
                json.loads(r.text)
            if kind == "half_json":
                assert r.text.startswith('{"request_id": "' + rid)
        elif kind == "unknown_status":
            assert r.status_code == 200 and r.json()["status"] == "WEIRD"
        elif kind == "html200":
            assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    st = sim.stats()
    assert st["faults_injected"] == 1 and st[f"fault_{kind}"] == 1
    assert st["faults_by_route"]["status"] == {kind: 1}
    ok = client.status(rid)                     # the next request is normal again
    assert ok.status_code == 200 and ok.json()["status"] in ("QUEUED", "PROCESSING", "COMPLETED")
    assert sim.stats()["faults_injected"] == 1


@pytest.mark.parametrize("kind", DOWNLOAD_FAULTS)
def test_download_fault_once_and_counted(client, sim, png_uri, kind):
    _, url = completed_glb(client, png_uri)
    sim.configure(faults={"download": [kind]})
    if kind == "drop":
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=5)
    elif kind == "slow":
        with pytest.raises(requests.Timeout):
            requests.get(url, timeout=0.3)
    elif kind == "truncate":
        u = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
        conn.request("GET", u.path)
        resp = conn.getresponse()
        total = int(resp.getheader("Content-Length"))
        with pytest.raises(http.client.IncompleteRead) as ei:
            resp.read()
        assert 0 < len(ei.value.partial) < total
        conn.close()
    elif kind == "html200":
        r = requests.get(url, timeout=5)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
        assert r.content.lstrip().startswith(b"<!DOCTYPE html>")
    else:
        r = requests.get(url, timeout=5)
        assert r.status_code == int(kind)
        if kind in ("429", "503"):
            assert r.headers["Retry-After"] == "1"
    st = sim.stats()
    assert st["faults_injected"] == 1 and st[f"fault_{kind}"] == 1
    assert st["faults_by_route"]["download"] == {kind: 1}
    assert st["downloads_completed"] == 0
    r = requests.get(url, timeout=5)
    assert r.status_code == 200 and r.content[:4] == b"glTF"
    assert sim.stats()["downloads_completed"] == 1


def test_random_faults_seeded(client, sim, png_uri):
    rid = client.submit(png_uri).json()["request_id"]

    def run():
        sim.configure(seed=7, random_fault_rate=0.5, random_faults=["500", "503"])
        return [client.status(rid).status_code for _ in range(12)]

    first = run()
    second = run()
    assert first == second                       # same seed, same sequence
    assert {500, 503} & set(first) and 200 in first
    st = sim.stats()
    assert st["faults_injected"] == sum(1 for c in first + second if c != 200)
    sim.configure(random_fault_rate=0)
    assert client.status(rid).status_code == 200


def test_bad_fault_plan_rejected(sim):
    with pytest.raises(ValueError):
        sim.configure(faults={"status": ["truncate"]})
    with pytest.raises(ValueError):
        sim.configure(faults={"nowhere": ["500"]})
    with pytest.raises(ValueError):
        sim.configure(no_such_field=1)
    with pytest.raises(ValueError):
        sim.configure(output_mode="zip")


def test_stop_aborts_slow_fault(png_uri):
    s = GatewaySimulator(SimConfig(queue_seconds=0.05, processing_seconds=0.05)).start()
    c = Client(s)
    rid = c.submit(png_uri).json()["request_id"]
    s.configure(faults={"status": ["slow"]})      # default slow_seconds = 10
    errors = []

    def poll():
        try:
            c.status(rid, timeout=30)
        except requests.RequestException as exc:
            errors.append(exc)

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    s.stop()
    t.join(5)
    assert time.monotonic() - t0 < 3
    assert not t.is_alive() and errors


def test_only_loopback_hosts():
    with pytest.raises(ValueError):
        GatewaySimulator(host="0.0.0.0")


# --------------------------------------------------------------------------- assets
def test_assets_route_and_http_image_url(client, sim, png_bytes):
    url = sim.add_asset("pics/input.png", png_bytes, "image/png")
    assert url == f"{sim.url}/assets/pics/input.png"
    r = requests.get(url, timeout=5)          # no key needed
    assert r.status_code == 200 and r.content == png_bytes
    assert r.headers["Content-Type"] == "image/png"
    sub = client.submit(url)
    assert sub.status_code == 202
    assert sim.jobs()[0]["image_bytes_len"] == len(png_bytes)
    assert client.wait_terminal(sub.json()["request_id"])["status"] == "COMPLETED"

    sim.add_asset("notes.txt", b"hello", "text/plain")
    r = client.submit(f"{sim.url}/assets/notes.txt")
    assert r.status_code == 400 and "could not be read" in r.json()["message"]
    assert client.submit(f"{sim.url}/assets/missing.png").status_code == 400
    # plain http to a non-loopback host is refused without any network access
    assert client.submit("http://example.com/cat.png").status_code == 400
    assert requests.get(f"{sim.url}/assets/missing.png", timeout=5).status_code == 404
    assert sim.stats()["submits"] == 1


# --------------------------------------------------------------------------- webhooks
def test_webhook_terminal(client, sim, png_uri, hook_server):
    r = client.submit(png_uri, headers={"X-Webhook-URL": hook_server.url})
    assert r.status_code == 202
    rid = r.json()["request_id"]
    posts = hook_server.wait_for(1)
    time.sleep(0.2)                                  # nothing more must arrive
    assert len(hook_server.posts) == 1
    body = posts[0]["json"]
    assert set(body) == STATUS_KEYS
    assert body["request_id"] == rid and body["status"] == "COMPLETED"
    assert body["output"]["media_url"] == [f"{sim.url}/cdn/v1/{rid}/output.glb"]
    assert posts[0]["headers"]["Content-Type"] == "application/json"
    assert wait_until(lambda: sim.stats()["webhooks_sent"] == 1)
    assert sim.jobs()[0]["webhook_events"][0]["http_status"] == 200


def test_webhook_sync_mode(client, sim, png_uri, hook_server):
    sim.configure(outcome="FAILED")
    r = client.submit(png_uri, headers={"X-Webhook-URL": hook_server.url, "X-Webhook-Mode": "sync"})
    assert r.status_code == 202
    posts = hook_server.wait_for(3)
    assert [p["json"]["status"] for p in posts] == ["QUEUED", "PROCESSING", "FAILED"]
    assert posts[-1]["json"]["output"] is None and posts[-1]["json"]["error"]
    assert wait_until(lambda: sim.stats()["webhooks_sent"] == 3)


@pytest.mark.parametrize("hook", ["http://example.com/hook", "ftp://127.0.0.1/x", "not a url"])
def test_webhook_non_https_refused(client, sim, png_uri, hook):
    r = client.submit(png_uri, headers={"X-Webhook-URL": hook})
    assert r.status_code == 400
    assert sim.stats()["submits"] == 0


def test_webhook_bad_mode_refused(client, png_uri, hook_server):
    r = client.submit(png_uri, headers={"X-Webhook-URL": hook_server.url, "X-Webhook-Mode": "often"})
    assert r.status_code == 400


# --------------------------------------------------------------------------- control routes
def test_control_routes(client, sim, png_uri):
    assert client.submit(png_uri).status_code == 202
    stats = requests.get(sim.url + "/_sim/stats", timeout=5).json()
    assert stats["submits"] == 1
    jobs = requests.get(sim.url + "/_sim/jobs", timeout=5).json()
    assert len(jobs) == 1 and jobs[0]["request_id"].startswith("tripo3d-v2-5-413_")
    r = requests.post(sim.url + "/_sim/config", json={"outcome": "ERROR", "faults": {"status": ["500"]}},
                      timeout=5)
    assert r.status_code == 200 and r.json()["outcome"] == "ERROR"
    assert sim.config.outcome == "ERROR"
    assert requests.post(sim.url + "/_sim/config", json={"bogus": 1}, timeout=5).status_code == 400
    assert requests.post(sim.url + "/_sim/config", json={"faults": {"status": ["nope"]}},
                         timeout=5).status_code == 400
    assert requests.post(sim.url + "/_sim/reset", timeout=5).status_code == 200
    assert sim.jobs() == [] and sim.stats()["submits"] == 0
    r = requests.put(sim.url + "/_sim/assets/x.png", data=b"abc", headers={"Content-Type": "image/png"},
                     timeout=5)
    assert r.status_code == 200
    assert requests.get(r.json()["url"], timeout=5).content == b"abc"


# --------------------------------------------------------------------------- CLI
def _read_line(proc, limit=15.0) -> str:
    end = time.time() + limit
    while time.time() < end:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            return proc.stdout.readline()
        if proc.poll() is not None:
            break
    raise AssertionError(f"no line from CLI; stderr: {proc.stderr.read() if proc.poll() is not None else ''}")


def test_cli_ready_serves_and_exits_cleanly(tmp_path, png_bytes):
    (tmp_path / "in.png").write_bytes(png_bytes)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.gateway_sim", "--port", "0", "--key", "cli-key",
         "--queue-seconds", "0.05", "--processing-seconds", "0.1", "--texture-size", "64",
         "--asset-dir", str(tmp_path), "--config", json.dumps({"outcome_error": "x"})],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        line = _read_line(proc)
        m = re.fullmatch(r"READY (http://127\.0\.0\.1:(\d+))\n", line)
        assert m, line
        base = m.group(1)
        c = Client(types.SimpleNamespace(url=base), key="cli-key")
        st = c.run_job(f"{base}/assets/in.png")
        assert st["status"] == "COMPLETED"
        data = requests.get(st["output"]["media_url"][0], timeout=5).content
        assert data[:4] == b"glTF"
        stats = requests.get(base + "/_sim/stats", timeout=5).json()
        assert stats["submits"] == 1 and stats["downloads_completed"] == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert proc.stdout.read() == ""              # exactly one line was printed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_refuses_non_loopback_host():
    proc = subprocess.run([sys.executable, "-m", "tools.gateway_sim", "--host", "0.0.0.0"],
                          capture_output=True, text=True, timeout=30, cwd=REPO)
    assert proc.returncode == 2 and "loopback" in proc.stderr and "READY" not in proc.stdout


def test_cli_sigint_exits_zero():
    proc = subprocess.Popen([sys.executable, "-m", "tools.gateway_sim"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert _read_line(proc).startswith("READY http://127.0.0.1:")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------- the GLB itself
def test_glb_from_image_rejects_non_images():
    for bad in (b"", b"hello", make_image("GIF"), make_image("BMP")):
        with pytest.raises(ValueError):
            glb_from_image(bad)


def test_glb_from_image_geometry_and_speed():
    wide = make_image("PNG", size=(300, 150))
    t0 = time.monotonic()
    data = glb_from_image(wide, texture_size=256)
    assert time.monotonic() - t0 < 1.0
    magic, version, length, jtype, gltf = glb_chunks(data)
    assert (magic, version, length) == (b"glTF", 2, len(data)) and len(data) % 4 == 0
    pos = gltf["accessors"][gltf["meshes"][0]["primitives"][0]["attributes"]["POSITION"]]
    width = pos["max"][0] - pos["min"][0]
    height = pos["max"][1] - pos["min"][1]
    assert width == pytest.approx(1.0, abs=1e-6) and height == pytest.approx(0.5, abs=1e-6)
    assert pos["min"][1] == 0.0                   # stands on the ground, +Y up
    mat = gltf["materials"][0]["pbrMetallicRoughness"]
    assert mat["baseColorTexture"]["index"] == 0
    img = gltf["images"][0]
    assert img["mimeType"] == "image/png" and "bufferView" in img
    for view in gltf["bufferViews"]:
        assert view["byteOffset"] % 4 == 0
    assert gltf["asset"]["generator"]


def test_glb_noise_makes_multi_megabyte():
    data = glb_from_image(make_image("PNG"), texture_size=2048, noise=True)
    assert len(data) > 5_000_000
    assert glb_from_image(make_image("PNG"), texture_size=2048, noise=False).__len__() < 1_000_000


def test_gltf_validator_passes(gltf_validator, client, png_uri, tmp_path):
    _, url = completed_glb(client, png_uri)
    files = {"from_sim.glb": requests.get(url, timeout=10).content,
             "tall_jpeg.glb": glb_from_image(make_image("JPEG", size=(80, 240)), texture_size=128),
             "alpha_webp.glb": glb_from_image(make_image("WEBP", size=(200, 120), mode="RGBA"), 64),
             "noisy.glb": glb_from_image(make_image("PNG"), texture_size=512, noise=True)}
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        rc, report = gltf_validator(path)
        assert rc == 0, json.dumps(report, indent=1)
        assert report["numErrors"] == 0 and report["numWarnings"] == 0, report["messages"]
        assert report["info"]["version"] == "2.0"
        assert report["mimeType"] == "model/gltf-binary"


def test_gltf_validator_script_flags_errors(gltf_validator, tmp_path):
    data = bytearray(glb_from_image(make_image("PNG"), texture_size=32))
    struct.pack_into("<I", data, 8, len(data) + 4)     # lie about the length
    bad = tmp_path / "bad.glb"
    bad.write_bytes(bytes(data))
    rc, report = gltf_validator(bad)
    assert rc == 1 and report["numErrors"] > 0


def test_stop_hangs_up_keep_alive_connections(png_uri):
    s = GatewaySimulator(SimConfig()).start()
    with requests.Session() as session:
        assert session.get(s.url + "/_sim/stats", timeout=5).status_code == 200   # pooled now
        s.stop()
        with pytest.raises(requests.ConnectionError):
            session.get(s.url + "/_sim/stats", timeout=5)
