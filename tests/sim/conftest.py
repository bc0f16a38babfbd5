"""Fixtures for the gateway simulator tests (plain pytest, no bpy)."""
from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from gateway_sim import GatewaySimulator, SimConfig, SUBMIT_PATH  # noqa: E402

KEY = "sim-key"
GLTF_VALIDATOR_VERSION = "2.0.0-dev.3.10"
NODE_PREFIX = REPO / ".cache" / "node"
VALIDATOR_DIR = NODE_PREFIX / "node_modules" / "gltf-validator"


def make_image(fmt: str = "PNG", size=(96, 64), mode: str = "RGB") -> bytes:
    img = Image.new(mode, size, (30, 60, 90) if mode == "RGB" else (30, 60, 90, 0))
    d = ImageDraw.Draw(img)
    w, h = size
    d.ellipse((w // 8, h // 8, w - w // 8, h - h // 8), fill=(230, 200, 40) if mode == "RGB" else (230, 200, 40, 255))
    d.rectangle((w // 3, h // 3, 2 * w // 3, 2 * h // 3), fill=(250, 250, 250) if mode == "RGB" else (250, 250, 250, 255))
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
    """Path to scripts/validate_gltf.mjs with gltf-validator installed under
    <repo>/.cache/node.  Missing node or npm is a FAILURE, not a skip."""
    script = SCRIPTS / "validate_gltf.mjs"
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
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc.returncode, report

    return run
