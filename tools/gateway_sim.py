#!/usr/bin/env python3
"""Local simulator of the Pixazo gateway for Tripo3D v2.5 image-to-3D.

A real HTTP server on a loopback address that behaves like the gateway a
client talks to: submit (202 + polling_url), status polling
(QUEUED -> PROCESSING -> COMPLETED/FAILED/ERROR), a public "CDN" route serving
a real textured GLB built from the submitted image, optional webhooks, and a
fault plan to make any request fail in a chosen way.

Stdlib + Pillow only.  Usable in-process (from the repository root)::

    from tools.gateway_sim import GatewaySimulator, SimConfig
    with GatewaySimulator(SimConfig(queue_seconds=0.1)) as sim:
        base = sim.url                     # use as PIXAZO_BASE_URL
        sim.configure(faults={"status": ["503", "drop"]})
        ...
        assert sim.stats()["submits"] == 1

or out of process::

    python -m tools.gateway_sim --port 0       # prints "READY http://127.0.0.1:PORT"
    python -m tools.gateway_sim --model-style tripo   # GLBs shaped like real Tripo output

Control routes (no key): GET /_sim/stats, GET /_sim/jobs, GET /_sim/config,
POST /_sim/config (JSON object of SimConfig changes), POST /_sim/reset,
PUT|POST /_sim/assets/<name> (body = asset bytes, Content-Type kept).
"""
from __future__ import annotations

import argparse
import base64
import binascii
import copy
import dataclasses
import datetime as _dt
import http.client
import http.server
import io
import ipaddress
import json
import mimetypes
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any, Dict, List, Optional, Tuple

from tools.glb_from_image import decode_image, glb_from_image
from tools.glb_tripo_like import tripo_like_glb

MODEL_ID = "tripo3d-v2-5-413"
SUBMIT_PATH = f"/{MODEL_ID}/v1/tripo3d-v2-5-request"
STATUS_PREFIX = "/v2/requests/status/"
CDN_PREFIX = "/cdn/v1/"
ASSET_PREFIX = "/assets/"
INVALID_HOST = "cdn.example.invalid"

OUTCOMES = ("COMPLETED", "FAILED", "ERROR")
OUTPUT_MODES = ("glb", "not_glb", "empty", "http_media", "multi", "redirect_http", "oversize")
# "relief": a small card from glb_from_image.py; "tripo": shaped like real Tripo output
# (50k triangles, three 4096^2 JPEG textures; glb_tripo_like.py, cached per picture).
MODEL_STYLES = ("relief", "tripo")
TERMINAL = ("COMPLETED", "FAILED", "ERROR")

SUBMIT_FAULTS = ("429", "500", "502", "503", "drop_before_queue", "drop_after_queue", "slow_after_queue")
STATUS_FAULTS = ("500", "502", "503", "429", "drop", "slow", "garbage", "half_json", "unknown_status", "html200")
DOWNLOAD_FAULTS = ("500", "502", "503", "429", "drop", "slow", "truncate", "html200")
FAULT_KINDS = {"submit": SUBMIT_FAULTS, "status": STATUS_FAULTS, "download": DOWNLOAD_FAULTS}
PASS = (None, "", "ok", "none", "pass")   # plan entries meaning "no fault for this request"

APIM_401 = {
    "statusCode": 401,
    "message": "Access denied due to invalid subscription key. "
               "Make sure to provide a valid key for an active subscription.",
}
FORBIDDEN_KEY = "sim-forbidden"
BROKE_KEY = "sim-broke"
MAX_BODY = 32 * 1024 * 1024
MAX_IMAGE = 20 * 1024 * 1024

# "html200": a web page with HTTP 200, as a CDN or proxy in front of the gateway gives in a hiccup.
HICCUP_PAGE = (b"<!DOCTYPE html>\n<html><head><title>Please wait</title></head><body>"
               b"<h1>One moment...</h1><p>The service is busy; this page reloads.</p></body></html>\n")
NOT_GLB_BODY = (b"<!DOCTYPE html>\n<html><head><title>Error</title></head><body>"
                b"<h1>AccessDenied</h1><p>This object is not available.</p></body></html>\n")


@dataclasses.dataclass
class SimConfig:
    """Behaviour of the simulator; every field may be changed at run time
    with ``GatewaySimulator.configure(**changes)`` or ``POST /_sim/config``.

    Timing, outcome, output_mode and texture settings are captured per job at
    submit time; the rest applies to each request as it arrives."""
    api_key: str = "sim-key"
    queue_seconds: float = 0.3          # time in QUEUED after submit
    processing_seconds: float = 0.7     # then PROCESSING, then the outcome
    outcome: str = "COMPLETED"          # "COMPLETED" | "FAILED" | "ERROR"
    outcome_error: str = "Simulated failure: the model could not generate a mesh from this image."
    output_mode: str = "glb"            # see OUTPUT_MODES
    texture_size: int = 256             # edge in px of the GLB's embedded texture
    texture_noise: Optional[bool] = None  # None = automatic (noise when texture_size >= 1024)
    download_rate: float = 0            # bytes/s for the CDN route, 0 = unlimited
    latency: float = 0                  # seconds added before every API (submit/status) answer
    range_support: bool = True          # CDN honours "Range: bytes=N-" with 206
    retry_after: float = 1              # Retry-After value on 429/503
    faults: Dict[str, List[Optional[str]]] = dataclasses.field(default_factory=dict)
    random_fault_rate: float = 0.0      # chance of a random fault on status/download requests
    random_faults: List[str] = dataclasses.field(
        default_factory=lambda: ["500", "502", "503", "429", "drop"])
    seed: int = 0
    slow_seconds: float = 10.0          # sleep of the "slow"/"slow_after_queue" faults
    oversize_bytes: int = 300_000_000   # Content-Length announced by output_mode "oversize"
    refuse_inline: bool = False         # 400 (nothing charged) for data: URIs, like a URL-only gateway
    model_style: str = "relief"         # see MODEL_STYLES; texture_size/noise apply to "relief" only


def _is_loopback_host(host: Optional[str]) -> bool:
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Never route loopback traffic (image fetches, webhooks) through an HTTP proxy
# configured in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _iso_z(t: float) -> str:
    d = _dt.datetime.fromtimestamp(t, _dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def _plain(t: Optional[float]) -> Optional[str]:
    if t is None:
        return None
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _validate_faults(faults: Any) -> Dict[str, List[Optional[str]]]:
    if not isinstance(faults, dict):
        raise ValueError("faults must be a dict like {'status': ['503', 'drop']}")
    out: Dict[str, List[Optional[str]]] = {}
    for route, kinds in faults.items():
        if route not in FAULT_KINDS:
            raise ValueError(f"unknown fault route {route!r}; use one of {sorted(FAULT_KINDS)}")
        if isinstance(kinds, str) or not isinstance(kinds, (list, tuple)):
            raise ValueError(f"faults[{route!r}] must be a list")
        lst: List[Optional[str]] = []
        for k in kinds:
            k = None if k is None else str(k)
            if k not in PASS and k not in FAULT_KINDS[route]:
                raise ValueError(f"unknown {route} fault {k!r}; use one of {FAULT_KINDS[route]}")
            lst.append(k)
        out[route] = lst
    return out


def _validate_config(cfg: SimConfig) -> None:
    if cfg.outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}")
    if cfg.output_mode not in OUTPUT_MODES:
        raise ValueError(f"output_mode must be one of {OUTPUT_MODES}")
    if cfg.model_style not in MODEL_STYLES:
        raise ValueError(f"model_style must be one of {MODEL_STYLES}")
    if not 1 <= int(cfg.texture_size) <= 8192:
        raise ValueError("texture_size must be between 1 and 8192")
    for name in ("queue_seconds", "processing_seconds", "download_rate", "latency",
                 "retry_after", "random_fault_rate", "slow_seconds"):
        if float(getattr(cfg, name)) < 0:
            raise ValueError(f"{name} must be >= 0")
    if not isinstance(cfg.random_faults, (list, tuple)):
        raise ValueError("random_faults must be a list")
    for k in cfg.random_faults:
        if k not in STATUS_FAULTS and k not in DOWNLOAD_FAULTS:
            raise ValueError(f"unknown random fault kind {k!r}")
    if int(cfg.oversize_bytes) < 64:
        raise ValueError("oversize_bytes must be >= 64")


class _Job:
    def __init__(self, request_id: str, cfg: SimConfig, image: bytes, image_url: str,
                 params: dict, webhook_url: Optional[str], webhook_mode: str) -> None:
        self.request_id = request_id
        self.created = time.time()
        self.queue_seconds = float(cfg.queue_seconds)
        self.processing_seconds = float(cfg.processing_seconds)
        self.outcome = cfg.outcome
        self.outcome_error = cfg.outcome_error
        self.output_mode = cfg.output_mode
        self.model_style = cfg.model_style
        self.texture_size = int(cfg.texture_size)
        self.noise = (self.texture_size >= 1024) if cfg.texture_noise is None else bool(cfg.texture_noise)
        self.oversize_bytes = int(cfg.oversize_bytes)
        self.image = image
        self.image_bytes_len = len(image)
        self.image_url = image_url
        self.params = params
        self.webhook_url = webhook_url
        self.webhook_mode = webhook_mode
        self.webhook_events: List[dict] = []
        self.status_request_times: List[float] = []
        self.download_count = 0
        self._glb: Optional[bytes] = None
        self._preview: Optional[bytes] = None
        self._build_error: Optional[str] = None
        self._build_lock = threading.Lock()

    # timing -------------------------------------------------------------
    @property
    def processing_at(self) -> float:
        return self.created + self.queue_seconds

    @property
    def due_at(self) -> float:
        return self.created + self.queue_seconds + self.processing_seconds

    def status_at(self, now: float) -> str:
        if now < self.processing_at:
            return "QUEUED"
        if now < self.due_at:
            return "PROCESSING"
        return self.outcome

    # outputs ------------------------------------------------------------
    def build(self) -> Tuple[Optional[bytes], Optional[bytes]]:
        with self._build_lock:
            if self._glb is None and self._build_error is None:
                try:
                    if self.model_style == "tripo":
                        self._glb = tripo_like_glb(self.image)
                    else:
                        self._glb = glb_from_image(self.image, self.texture_size, noise=self.noise)
                    img = decode_image(self.image)
                    img.thumbnail((256, 256))
                    buf = io.BytesIO()
                    img.convert("RGBA" if "A" in img.getbands() else "RGB").save(buf, "PNG")
                    self._preview = buf.getvalue()
                except Exception as exc:  # pragma: no cover - the image was checked at submit
                    self._build_error = repr(exc)
                self.image = b""
            return self._glb, self._preview


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # A real gateway's listen backlog is hundreds; socketserver's default of 5 drops
    # connections when a batch opens dozens at once (a submit dropped looks paid).
    request_queue_size = 512
    sim: "GatewaySimulator"

    def __init__(self, *args, **kwargs):
        self._conns: set = set()
        self._conns_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Hang up every open (e.g. keep-alive) connection, so nothing is
        answered after stop()."""
        with self._conns_lock:
            conns = list(self._conns)
            self._conns.clear()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):  # quiet on client hang-ups
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Abort(Exception):
    """Raised to end a request without answering (socket just closes)."""


class _BodyError(Exception):
    """The request body is too large or its chunked framing is broken."""


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120            # idle keep-alive connections are closed after this
    server_version = "PixazoGatewaySim/1.0"
    server: _Server

    # plumbing -----------------------------------------------------------
    def log_message(self, fmt, *args):  # noqa: D401 - silence by default
        if self.server.sim.verbose:
            sys.stderr.write("[gateway_sim] %s - %s\n" % (self.address_string(), fmt % args))

    @property
    def sim(self) -> "GatewaySimulator":
        return self.server.sim

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = bytearray()
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    raise _BodyError("malformed chunked body") from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                if len(out) + size > MAX_BODY:
                    raise _BodyError("request body too large")
                out += self.rfile.read(size)
                self.rfile.readline(16)
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise _BodyError("bad Content-Length") from None
        if n > MAX_BODY:
            raise _BodyError("request body too large")
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, code: int, body: bytes = b"", ctype: str = "application/json",
              headers: Optional[Dict[str, str]] = None, head_only: bool = False) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body and not head_only and self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, code: int, obj: Any, headers: Optional[Dict[str, str]] = None) -> None:
        self._send(code, json.dumps(obj).encode("utf-8"), "application/json; charset=utf-8", headers)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _fault_response(self, kind: str) -> bool:
        """Answer a generic fault.  Returns True when the request is finished."""
        ra = self.sim._retry_after_text()
        if kind == "500":
            self._json(500, {"error": "Internal Server Error", "message": "Simulated internal error."})
        elif kind == "502":
            self._send(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>\n", "text/html")
        elif kind == "503":
            self._json(503, {"error": "Service Unavailable",
                             "message": "The service is temporarily unavailable."},
                       {"Retry-After": ra})
        elif kind == "429":
            self._json(429, {"statusCode": 429,
                             "message": f"Rate limit is exceeded. Try again in {ra} seconds."},
                       {"Retry-After": ra})
        elif kind in ("drop", "drop_before_queue", "drop_after_queue"):
            self._drop()
        elif kind == "html200":
            self._send(200, HICCUP_PAGE, "text/html; charset=utf-8")
        else:
            return False
        return True

    def _slow(self) -> None:
        if self.sim._stop_event.wait(float(self.sim.config.slow_seconds)):
            raise _Abort()

    def _latency(self) -> None:
        lat = float(self.sim.config.latency)
        if lat > 0 and self.sim._stop_event.wait(lat):
            raise _Abort()

    def _key(self) -> Optional[str]:
        return self.headers.get("Ocp-Apim-Subscription-Key")

    # dispatch -----------------------------------------------------------
    def _dispatch(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        try:
            m = self.command
            if path.startswith("/_sim/"):
                self._control(m, path)
            elif m == "POST" and path == SUBMIT_PATH:
                self._submit()
            elif m == "POST" and re.fullmatch(r"/[^/]+/v1/[^/]+-request", path):
                self._read_body()
                if self._key() != self.sim.config.api_key:
                    self._json(401, APIM_401)
                else:
                    model = path.split("/")[1]
                    self._json(400, {"error": "Model not found",
                                     "message": f"Model '{model}' not found or is disabled"})
            elif m == "GET" and path.startswith(STATUS_PREFIX):
                self._status(path[len(STATUS_PREFIX):])
            elif m in ("GET", "HEAD") and path.startswith(CDN_PREFIX):
                self._cdn(path[len(CDN_PREFIX):])
            elif m in ("GET", "HEAD") and path.startswith(ASSET_PREFIX):
                self._asset(urllib.parse.unquote(path[len(ASSET_PREFIX):]))
            else:
                if m == "POST":
                    self._read_body()
                self._json(404, {"statusCode": 404, "message": "Resource not found"})
        except _Abort:
            self._drop()
        except _BodyError as exc:
            self.close_connection = True
            self._json(413 if "large" in str(exc) else 400, {"error": "Bad Request", "message": str(exc)})
        except (ConnectionError, socket.timeout, TimeoutError):
            self.close_connection = True

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _dispatch

    # control routes -----------------------------------------------------
    def _control(self, method: str, path: str) -> None:
        sim = self.sim
        body = self._read_body() if method in ("POST", "PUT") else b""
        if method == "GET" and path == "/_sim/stats":
            return self._json(200, sim.stats())
        if method == "GET" and path == "/_sim/jobs":
            return self._json(200, sim.jobs())
        if method == "GET" and path == "/_sim/config":
            return self._json(200, dataclasses.asdict(sim.config))
        if method == "POST" and path == "/_sim/config":
            try:
                changes = json.loads(body.decode("utf-8") or "{}")
                if not isinstance(changes, dict):
                    raise ValueError("a JSON object is required")
                sim.configure(**changes)
            except (ValueError, TypeError) as exc:
                return self._json(400, {"error": "Bad Request", "message": str(exc)})
            return self._json(200, dataclasses.asdict(sim.config))
        if method == "POST" and path == "/_sim/reset":
            sim.reset()
            return self._json(200, {"ok": True})
        if method in ("POST", "PUT") and path.startswith("/_sim/assets/"):
            name = urllib.parse.unquote(path[len("/_sim/assets/"):])
            try:
                sim.add_asset(name, body, self.headers.get("Content-Type") or "application/octet-stream")
            except ValueError as exc:
                return self._json(400, {"error": "Bad Request", "message": str(exc)})
            return self._json(200, {"ok": True, "url": f"{sim.url}{ASSET_PREFIX}{urllib.parse.quote(name)}"})
        return self._json(404, {"error": "Not Found", "message": f"no control route {method} {path}"})

    # submit -------------------------------------------------------------
    def _submit(self) -> None:
        sim = self.sim
        sim._count("submit_attempts")
        raw = self._read_body()
        self._latency()
        fault = sim._next_fault("submit")
        if fault in ("429", "500", "502", "503", "drop_before_queue"):
            sim._record_fault("submit", fault)
            self._fault_response(fault)
            return
        cfg = sim.config
        key = self._key()
        if key == FORBIDDEN_KEY:
            return self._json(403, {"error": "Forbidden",
                                    "message": "This subscription is not allowed to use this model."})
        if key == BROKE_KEY:
            return self._json(402, {"error": "Insufficient Balance",
                                    "message": "Your wallet does not have enough balance."})
        if key != cfg.api_key:
            return self._json(401, APIM_401)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return self._bad("Request body must be valid JSON.")
        if not isinstance(body, dict):
            return self._bad("Request body must be a JSON object.")
        image_url = body.get("image_url")
        if not isinstance(image_url, str) or not image_url.strip():
            return self._bad("'image_url' is required and must be a string.")
        for opt in ("texture", "texture_alignment", "orientation"):
            if opt in body and not isinstance(body[opt], str):
                return self._bad(f"'{opt}' must be a string.")

        webhook_url = self.headers.get("X-Webhook-URL")
        webhook_mode = (self.headers.get("X-Webhook-Mode") or "terminal").strip().lower()
        if webhook_url:
            wu = urllib.parse.urlsplit(webhook_url.strip())
            if wu.scheme == "https" and wu.hostname:
                pass
            elif wu.scheme == "http" and _is_loopback_host(wu.hostname):
                pass   # the simulator's one allowance: plain http to loopback
            else:
                return self._bad("X-Webhook-URL must be an HTTPS URL (plain http:// URLs are rejected).")
            if webhook_mode not in ("terminal", "sync"):
                return self._bad("X-Webhook-Mode must be 'terminal' or 'sync'.")
            webhook_url = webhook_url.strip()
        else:
            webhook_url = None

        if cfg.refuse_inline and image_url.strip()[:5].lower() == "data:":
            sim._count("inline_refused")
            return self._bad("'image_url' must be a publicly accessible http(s) URL of the image.")
        try:
            image = sim._fetch_image(image_url.strip())
            decode_image(image)
        except ValueError as exc:
            return self._bad(f"image_url could not be read: {exc}")

        params = {k: v for k, v in body.items() if k != "image_url"}
        job = sim._create_job(image, image_url.strip(), params, webhook_url, webhook_mode)
        if fault == "drop_after_queue":
            sim._record_fault("submit", fault)
            self._drop()
            return
        if fault == "slow_after_queue":
            sim._record_fault("submit", fault)
            self._slow()
        self._json(202, {
            "request_id": job.request_id,
            "status": "QUEUED",
            "polling_url": f"{sim.url}{STATUS_PREFIX}{job.request_id}",
        })

    def _bad(self, message: str) -> None:
        self._json(400, {"error": "Bad Request", "message": message})

    # status -------------------------------------------------------------
    def _status(self, request_id: str) -> None:
        sim = self.sim
        arrived = time.time()
        sim._count("status_requests")
        job = sim._get_job(request_id)
        if job is not None:
            with sim._lock:
                job.status_request_times.append(arrived)
        self._latency()
        fault = sim._next_fault("status")
        if fault is not None:
            sim._record_fault("status", fault)
            if self._fault_response(fault):
                return
            if fault == "slow":
                self._slow()
                job = sim._get_job(request_id)
            elif fault == "garbage":
                return self._send(200, b"<html><body>Temporarily unavailable</body></html>", "application/json")
        key = self._key()
        if key == FORBIDDEN_KEY:
            return self._json(403, {"error": "Forbidden",
                                    "message": "This subscription is not allowed to use this model."})
        if key != sim.config.api_key:
            return self._json(401, APIM_401)
        if job is None:
            return self._json(404, {"error": "Not Found", "message": f"Request '{request_id}' not found."})
        payload = sim._status_payload(job, time.time())
        if fault == "half_json":
            text = json.dumps(payload).encode("utf-8")
            return self._send(200, text[: max(1, len(text) // 2)], "application/json; charset=utf-8")
        if fault == "unknown_status":
            payload["status"] = "WEIRD"
        self._json(200, payload)

    # CDN ----------------------------------------------------------------
    def _cdn(self, rest: str) -> None:
        sim = self.sim
        head = self.command == "HEAD"
        if not head:
            sim._count("downloads")
        fault = sim._next_fault("download") if not head else None
        if fault is not None:
            sim._record_fault("download", fault)
            if self._fault_response(fault):
                return
            if fault == "slow":
                self._slow()
        parts = rest.split("/")
        job = sim._get_job(parts[0]) if len(parts) == 2 else None
        name = parts[1] if len(parts) == 2 else ""
        not_found = (404, b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code>"
                          b"<Message>The specified key does not exist.</Message></Error>", "application/xml")
        if job is None or job.status_at(time.time()) != "COMPLETED":
            return self._send(*not_found)
        mode = job.output_mode
        if not head:
            with sim._lock:
                job.download_count += 1
        if mode == "redirect_http":
            if name != "output.glb":
                return self._send(*not_found)
            return self._send(302, b"", "text/plain",
                              {"Location": f"http://{INVALID_HOST}/output.glb"})
        if mode == "oversize":
            if name != "output.glb":
                return self._send(*not_found)
            total = job.oversize_bytes
            return self._serve(total, lambda off, n: _oversize_bytes(total, off, n),
                               "model/gltf-binary", fault, head)
        glb, preview = job.build()
        if glb is None:
            return self._json(500, {"error": "Internal Server Error", "message": "output unavailable"})
        if mode == "multi":
            files = {"preview.png": (preview, "image/png"), "model.bin": (glb, "application/octet-stream")}
        elif mode == "not_glb":
            files = {"output.glb": (NOT_GLB_BODY, "application/octet-stream")}
        else:
            files = {"output.glb": (glb, "model/gltf-binary")}
        if name not in files:
            return self._send(*not_found)
        data, ctype = files[name]
        self._serve(len(data), lambda off, n: data[off:off + n], ctype, fault, head)

    def _serve(self, total: int, read, ctype: str, fault: Optional[str], head: bool) -> None:
        sim = self.sim
        cfg = sim.config
        start, code = 0, 200
        headers = {"Cache-Control": "public, max-age=3600", "ETag": f"\"sim-{total}\""}
        if cfg.range_support:
            headers["Accept-Ranges"] = "bytes"
            rng = self.headers.get("Range")
            if rng:
                mm = re.fullmatch(r"\s*bytes=(\d+)-(\d*)\s*", rng)
                if mm:
                    first = int(mm.group(1))
                    last = int(mm.group(2)) if mm.group(2) else total - 1
                    if first >= total or last < first:
                        headers["Content-Range"] = f"bytes */{total}"
                        return self._send(416, b"", ctype, headers)
                    last = min(last, total - 1)
                    start, code = first, 206
                    headers["Content-Range"] = f"bytes {first}-{last}/{total}"
                    total_send = last - first + 1
                else:
                    total_send = total
            else:
                total_send = total
        else:
            total_send = total
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(total_send))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if head:
            return
        limit = total_send // 2 if fault == "truncate" else total_send
        sent = 0
        t0 = time.monotonic()
        while sent < limit:
            rate = float(sim.config.download_rate)
            chunk = 64 * 1024 if rate <= 0 else max(1024, min(64 * 1024, int(rate / 20)))
            n = min(chunk, limit - sent)
            last = fault != "truncate" and sent + n == limit
            if last:
                # Count before the final write: once a client holds the whole
                # body, stats() already shows the completed download.
                sim._count("downloads_completed")
            try:
                self.wfile.write(read(start + sent, n))
            except BaseException:
                if last:
                    sim._count("downloads_completed", -1)
                raise
            sent += n
            if rate > 0:
                ahead = sent / rate - (time.monotonic() - t0)
                if ahead > 0 and sim._stop_event.wait(ahead):
                    raise _Abort()
        if fault == "truncate":
            self._drop()
        elif limit == 0:
            sim._count("downloads_completed")

    # assets -------------------------------------------------------------
    def _asset(self, name: str) -> None:
        sim = self.sim
        sim._count("asset_requests")
        item = sim._get_asset(name)
        if item is None:
            return self._json(404, {"error": "Not Found", "message": f"no asset {name!r}"})
        data, ctype = item
        self._send(200, data, ctype)


def _oversize_bytes(total: int, offset: int, n: int) -> bytes:
    """Bytes [offset, offset+n) of a virtual GLB of ``total`` bytes: a valid
    12-byte header, a JSON chunk header, then spaces (never held in memory)."""
    json_len = total - 20
    header = struct.pack("<4sII", b"glTF", 2, total) + struct.pack("<I4s", json_len, b"JSON")
    out = bytearray()
    if offset < len(header):
        out += header[offset:offset + n]
    rest = n - len(out)
    if rest > 0:
        out += b" " * rest
    return bytes(out)


class GatewaySimulator:
    """The simulated gateway.  ``start()`` serves in a background thread;
    ``url`` is the base URL (``http://127.0.0.1:PORT``) a client uses."""

    def __init__(self, config: Optional[SimConfig] = None, host: str = "127.0.0.1", port: int = 0,
                 asset_dir: Optional[str] = None, verbose: bool = False) -> None:
        if not _is_loopback_host(host):
            raise ValueError(f"the simulator only listens on loopback addresses, not {host!r}")
        self.config = copy.deepcopy(config) if config is not None else SimConfig()
        self.config.faults = _validate_faults(self.config.faults)
        _validate_config(self.config)
        self.host = host
        self.port = int(port)
        self.asset_dir = os.path.abspath(asset_dir) if asset_dir else None
        self.verbose = verbose
        self._lock = threading.RLock()
        self._stop_event = threading.Event()
        self._jobs: Dict[str, _Job] = {}
        self._assets: Dict[str, Tuple[bytes, str]] = {}
        self._stats: Dict[str, Any] = {}
        self._rng = random.Random(self.config.seed)
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self.url = ""
        self._reset_stats()

    # life cycle ---------------------------------------------------------
    def start(self) -> "GatewaySimulator":
        if self._server is not None:
            return self
        self._stop_event.clear()
        cls = _Server6 if ":" in self.host else _Server
        srv = cls((self.host.strip("[]"), self.port), _Handler)
        srv.sim = self
        self._server = srv
        port = srv.server_address[1]
        self.port = port
        shown = f"[{self.host.strip('[]')}]" if ":" in self.host else self.host
        self.url = f"http://{shown}:{port}"
        self._thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="gateway-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop_event.set()
        srv, self._server = self._server, None
        if srv is not None:
            srv.shutdown()
            srv.server_close()
            srv.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "GatewaySimulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # configuration ------------------------------------------------------
    def configure(self, **changes: Any) -> None:
        """Change SimConfig fields (thread-safe).  ``faults`` replaces the whole
        fault plan.  Unknown fields or bad values raise ValueError."""
        names = {f.name for f in dataclasses.fields(SimConfig)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown SimConfig field(s): {', '.join(unknown)}")
        with self._lock:
            new = copy.deepcopy(self.config)
            for k, v in changes.items():
                if k == "faults":
                    v = _validate_faults(v)
                elif k == "random_faults":
                    v = list(v)
                setattr(new, k, v)
            _validate_config(new)
            self.config = new
            if "seed" in changes:
                self._rng = random.Random(new.seed)

    def reset(self) -> None:
        """Forget all jobs and zero the stats (config and assets are kept)."""
        with self._lock:
            self._jobs.clear()
            self._reset_stats()
            self._rng = random.Random(self.config.seed)

    # inspection ---------------------------------------------------------
    def stats(self) -> Dict[str, Any]:
        with self._lock:
            out = dict(self._stats)
            out["faults_by_route"] = {r: dict(d) for r, d in self._stats["faults_by_route"].items()}
            out["jobs"] = len(self._jobs)
            return out

    def jobs(self) -> List[Dict[str, Any]]:
        now = time.time()
        with self._lock:
            out = []
            for j in self._jobs.values():
                status = j.status_at(now)
                out.append({
                    "request_id": j.request_id,
                    "created": j.created,
                    "due_at": j.due_at,
                    "completed_at": j.due_at if status in TERMINAL else None,
                    "status": status,
                    "outcome": j.outcome,
                    "output_mode": j.output_mode,
                    "model_style": j.model_style,
                    "status_request_times": list(j.status_request_times),
                    "image_bytes_len": j.image_bytes_len,
                    "image_url": j.image_url if not j.image_url.startswith("data:")
                    else j.image_url[:40] + f"...({len(j.image_url)} chars)",
                    "params": copy.deepcopy(j.params),
                    "webhook_url": j.webhook_url,
                    "webhook_mode": j.webhook_mode if j.webhook_url else None,
                    "webhook_events": copy.deepcopy(j.webhook_events),
                    "download_count": j.download_count,
                })
            return out

    def add_asset(self, name: str, data: bytes, content_type: str) -> str:
        """Serve ``data`` at GET /assets/<name> (no key).  Returns its URL
        (meaningful once started)."""
        name = name.lstrip("/")
        if not name or ".." in name.split("/"):
            raise ValueError("bad asset name")
        with self._lock:
            self._assets[name] = (bytes(data), content_type)
        return f"{self.url}{ASSET_PREFIX}{urllib.parse.quote(name)}"

    # internals ----------------------------------------------------------
    def _reset_stats(self) -> None:
        s: Dict[str, Any] = {k: 0 for k in (
            "submits", "submit_attempts", "status_requests", "downloads", "downloads_completed",
            "faults_injected", "webhooks_sent", "webhooks_failed", "asset_requests", "inline_refused")}
        for kind in sorted(set(SUBMIT_FAULTS + STATUS_FAULTS + DOWNLOAD_FAULTS)):
            s[f"fault_{kind}"] = 0
        s["faults_by_route"] = {r: {} for r in FAULT_KINDS}
        self._stats = s

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._stats[key] = self._stats.get(key, 0) + n

    def _record_fault(self, route: str, kind: str) -> None:
        with self._lock:
            self._stats["faults_injected"] += 1
            self._stats[f"fault_{kind}"] = self._stats.get(f"fault_{kind}", 0) + 1
            d = self._stats["faults_by_route"][route]
            d[kind] = d.get(kind, 0) + 1

    def _next_fault(self, route: str) -> Optional[str]:
        with self._lock:
            plan = self.config.faults.get(route)
            if plan:
                k = plan.pop(0)
                return None if k in PASS else k
            rate = float(self.config.random_fault_rate)
            if route != "submit" and rate > 0:
                kinds = [k for k in self.config.random_faults if k in FAULT_KINDS[route]]
                if kinds and self._rng.random() < rate:
                    return self._rng.choice(kinds)
            return None

    def _retry_after_text(self) -> str:
        ra = float(self.config.retry_after)
        return str(int(ra)) if ra == int(ra) else f"{ra:g}"

    def _get_job(self, request_id: str) -> Optional[_Job]:
        with self._lock:
            return self._jobs.get(request_id)

    def _get_asset(self, name: str) -> Optional[Tuple[bytes, str]]:
        with self._lock:
            item = self._assets.get(name)
        if item is not None or not self.asset_dir:
            return item
        path = os.path.abspath(os.path.join(self.asset_dir, name))
        if not path.startswith(self.asset_dir + os.sep) or not os.path.isfile(path):
            return None
        with open(path, "rb") as fh:
            data = fh.read()
        return data, mimetypes.guess_type(path)[0] or "application/octet-stream"

    def _fetch_image(self, url: str) -> bytes:
        """Bytes of image_url: a data: URI, or http(s) on a loopback host.
        ValueError with a human message when it cannot be read."""
        if url[:5].lower() == "data:":
            head, sep, payload = url[5:].partition(",")
            if not sep:
                raise ValueError("malformed data URI")
            if head.lower().endswith(";base64"):
                try:
                    data = base64.b64decode("".join(payload.split()), validate=True)
                except (binascii.Error, ValueError):
                    raise ValueError("malformed base64 in data URI") from None
            else:
                data = urllib.parse.unquote_to_bytes(payload)
            if len(data) > MAX_IMAGE:
                raise ValueError("image is larger than 20 MB")
            return data
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError("image_url must be an http(s) URL or a data: URI")
        if not _is_loopback_host(u.hostname):
            # The real gateway would fetch it; the simulator never leaves the machine.
            raise ValueError(f"could not fetch {u.hostname} (the simulator only fetches loopback URLs)")
        try:
            with _OPENER.open(url, timeout=10) as resp:
                data = resp.read(MAX_IMAGE + 1)
        except Exception as exc:
            raise ValueError(f"download failed: {exc}") from None
        if len(data) > MAX_IMAGE:
            raise ValueError("image is larger than 20 MB")
        return data

    def _create_job(self, image: bytes, image_url: str, params: dict,
                    webhook_url: Optional[str], webhook_mode: str) -> _Job:
        rid = f"{MODEL_ID}_{uuid.uuid4()}"
        with self._lock:
            job = _Job(rid, self.config, image, image_url, params, webhook_url, webhook_mode)
            self._jobs[rid] = job
            self._stats["submits"] += 1
        if job.outcome == "COMPLETED" and job.output_mode not in ("empty", "http_media", "oversize",
                                                                   "redirect_http"):
            threading.Thread(target=job.build, name=f"glb-{rid[-8:]}", daemon=True).start()
        else:
            job.image = b""
        if webhook_url:
            threading.Thread(target=self._webhook_loop, args=(job,), name=f"hook-{rid[-8:]}",
                             daemon=True).start()
        return job

    def _status_payload(self, job: _Job, now: float) -> Dict[str, Any]:
        status = job.status_at(now)
        if status == "QUEUED":
            updated = job.created
        elif status == "PROCESSING":
            updated = job.processing_at
        else:
            updated = job.due_at
        output = None
        error = None
        if status == "COMPLETED":
            base = f"{self.url}{CDN_PREFIX}{job.request_id}"
            mode = job.output_mode
            if mode == "empty":
                urls: List[str] = []
            elif mode == "http_media":
                urls = [f"http://{INVALID_HOST}/v1/{job.request_id}/output.glb"]
            elif mode == "multi":
                urls = [f"{base}/preview.png", f"{base}/model.bin"]
            else:
                urls = [f"{base}/output.glb"]
            output = {"media_url": urls,
                      "media_type": "application/octet-stream" if mode == "multi" else "model/glb"}
        elif status in ("FAILED", "ERROR"):
            error = job.outcome_error
        return {
            "request_id": job.request_id,
            "status": status,
            "model_id": MODEL_ID,
            "error": error,
            "output": output,
            "created_at": _iso_z(job.created),
            "updated_at": _plain(updated),
            "completed_at": _plain(job.due_at) if status in TERMINAL else None,
        }

    def _webhook_loop(self, job: _Job) -> None:
        if job.webhook_mode == "sync":
            self._deliver(job, job.created)
            if self._stop_event.wait(max(0.0, job.processing_at - time.time())):
                return
            if job.processing_seconds > 0:
                self._deliver(job, job.processing_at)
        if self._stop_event.wait(max(0.0, job.due_at - time.time())):
            return
        self._deliver(job, job.due_at)

    def _deliver(self, job: _Job, at: float) -> None:
        payload = self._status_payload(job, at)
        data = json.dumps(payload).encode("utf-8")
        req = urllib.request.Request(job.webhook_url, data=data, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "User-Agent": "PixazoGatewaySim-Webhook/1.0"})
        event = {"status": payload["status"], "time": time.time(), "http_status": None, "error": None}
        try:
            with _OPENER.open(req, timeout=5) as resp:
                resp.read()
                event["http_status"] = resp.status
        except urllib.error.HTTPError as exc:
            event["http_status"] = exc.code
        except Exception as exc:
            event["error"] = repr(exc)
        ok = event["http_status"] is not None and 200 <= event["http_status"] < 300
        with self._lock:
            job.webhook_events.append(event)
            self._stats["webhooks_sent" if ok else "webhooks_failed"] += 1


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------
def _parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Local simulator of the Pixazo Tripo3D v2.5 gateway.")
    ap.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    ap.add_argument("--key", default=None, help="accepted Ocp-Apim-Subscription-Key (default sim-key)")
    ap.add_argument("--queue-seconds", type=float, default=None)
    ap.add_argument("--processing-seconds", type=float, default=None)
    ap.add_argument("--texture-size", type=int, default=None)
    ap.add_argument("--download-rate", type=float, default=None, help="bytes/s, 0 = unlimited")
    ap.add_argument("--asset-dir", default=None, help="serve this directory's files at /assets/<name>")
    ap.add_argument("--config", default=None,
                    help="JSON object of SimConfig fields (or @FILE to read it from a file)")
    ap.add_argument("--model-style", choices=MODEL_STYLES, default=None,
                    help="relief (small, default) or tripo (shaped like real Tripo output)")
    ap.add_argument("--refuse-inline", action="store_true",
                    help="answer 400 to data: URIs, like a gateway that only fetches image addresses")
    ap.add_argument("--verbose", action="store_true", help="log requests to stderr")
    return ap.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = _parse_args(argv)
    if not _is_loopback_host(args.host):
        print(f"error: only loopback hosts are allowed, not {args.host!r}", file=sys.stderr)
        return 2
    fields: Dict[str, Any] = {}
    if args.config:
        text = args.config
        if text.startswith("@"):
            with open(text[1:], "r", encoding="utf-8") as fh:
                text = fh.read()
        try:
            fields = json.loads(text)
        except ValueError as exc:
            print(f"error: --config is not valid JSON: {exc}", file=sys.stderr)
            return 2
        if not isinstance(fields, dict):
            print("error: --config must be a JSON object", file=sys.stderr)
            return 2
    for name, value in (("api_key", args.key), ("queue_seconds", args.queue_seconds),
                        ("processing_seconds", args.processing_seconds),
                        ("texture_size", args.texture_size), ("download_rate", args.download_rate),
                        ("refuse_inline", args.refuse_inline or None), ("model_style", args.model_style)):
        if value is not None:
            fields[name] = value
    if args.asset_dir and not os.path.isdir(args.asset_dir):
        print(f"error: --asset-dir {args.asset_dir!r} is not a directory", file=sys.stderr)
        return 2
    try:
        sim = GatewaySimulator(None, host=args.host, port=args.port, asset_dir=args.asset_dir,
                               verbose=args.verbose)
        sim.configure(**fields)
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()

    def _on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        sim.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(f"READY {sim.url}\n")
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
