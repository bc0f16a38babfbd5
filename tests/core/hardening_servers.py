"""Small real servers for the hardening tests: a raw socket server whose
answers are scripted byte by byte (trickles, portals, odd shapes), and a GLB
builder."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from typing import Callable


class Conn:
    """One accepted connection with its parsed request."""

    def __init__(self, sock: socket.socket, server: "RawServer"):
        self.sock = sock
        self.server = server
        self.method = self.path = ""
        self.headers: dict[str, str] = {}
        self.body = b""

    def read_request(self) -> bool:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.method, self.path, _ = lines[0].split(" ", 2)
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        need = int(self.headers.get("content-length") or 0)
        while len(rest) < need:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        self.body = rest
        return True

    @property
    def stopped(self) -> bool:
        return self.server.stopping.is_set()

    def send(self, data: bytes) -> bool:
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def trickle(self, data: bytes, gap: float) -> bool:
        """Send ``data`` one byte every ``gap`` seconds (until the client hangs up)."""
        for i in range(len(data)):
            if self.stopped or not self.send(data[i:i + 1]):
                return False
            if self.server.stopping.wait(gap):
                return False
        return True

    def answer(self, code: int, body: bytes, ctype: str = "application/json", extra: dict | None = None) -> None:
        head = f"HTTP/1.1 {code} X\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
        for k, v in (extra or {}).items():
            head += f"{k}: {v}\r\n"
        self.send(head.encode() + b"Connection: close\r\n\r\n" + body)


class RawServer:
    """``RawServer(handler)``: each connection's request is read, then ``handler(conn)`` answers."""

    def __init__(self, handler: Callable[[Conn], None]):
        self.handler = handler
        self.requests: list[dict] = []
        self.stopping = threading.Event()
        self._socks: list[socket.socket] = []
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self._socks.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        conn = Conn(sock, self)
        try:
            if conn.read_request():
                self.requests.append({"method": conn.method, "path": conn.path, "headers": conn.headers,
                                      "at": time.monotonic()})
                self.handler(conn)
        except OSError:
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def close(self) -> None:
        self.stopping.set()
        try:
            self.listener.close()
        except OSError:
            pass
        for s in self._socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> "RawServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def make_glb(doc: dict, binary: bytes = b"") -> bytes:
    """A GLB 2.0 file with ``doc`` as its JSON chunk and ``binary`` as its BIN chunk."""
    js = json.dumps(doc).encode()
    js += b" " * (-len(js) % 4)
    chunks = struct.pack("<II", len(js), 0x4E4F534A) + js
    if binary:
        binary += b"\0" * (-len(binary) % 4)
        chunks += struct.pack("<II", len(binary), 0x004E4942) + binary
    return b"glTF" + struct.pack("<II", 2, 12 + len(chunks)) + chunks


def run_bounded(fn: Callable, limit: float):
    """Run ``fn`` in a thread; return (result or exception, seconds). Fails if it is still running after ``limit``."""
    out: dict = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            out["value"] = exc

    started = time.monotonic()
    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(limit)
    took = time.monotonic() - started
    assert not t.is_alive(), f"still running after {limit} s: the request has no overall deadline"
    return out["value"], took
