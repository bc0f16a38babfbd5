"""An overall deadline for one HTTP request made through ``requests``.

``requests`` only has per-socket-operation timeouts: a server that sends one
byte every few seconds never trips a read timeout and can hold a request for
hours. :class:`Deadline` is a small watchdog: while it is active on a thread,
every connection urllib3 uses for a request made on that thread is noted, and
when the deadline passes the watchdog shuts those sockets down. The blocked
read then returns at once and the request fails with an ordinary
``requests`` exception; the caller asks :attr:`Deadline.cut` to tell a
deadline from any other failure.

It works at the connection-pool level (:class:`DeadlineAdapter`), so proxies
from the environment and TLS behave as before.
"""

from __future__ import annotations

import socket
import threading
import time

from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_active = threading.local()


class Deadline:
    """``with Deadline(seconds) as d: session.get(...)``; ``d.cut`` says whether it cut the request.

    Only sockets can be cut: a name lookup that hangs is left to the OS
    resolver's own timeout (nothing has been sent by then).
    """

    def __init__(self, seconds: float):
        self._start = time.monotonic()
        self._at = self._start + max(0.0, seconds)
        self._cond = threading.Condition()
        self._conns: list = []
        self._done = False
        #: The deadline passed while the request was still going.
        self.fired = False
        #: ... and a socket of the request was shut because of it (the request was cut).
        self.cut = False

    # -- used by the caller -----------------------------------------------------

    def __enter__(self) -> "Deadline":
        self._outer = getattr(_active, "deadline", None)
        _active.deadline = self
        threading.Thread(target=self._watch, name="tripo3d-deadline", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        with self._cond:
            self._done = True
            self._cond.notify_all()
        _active.deadline = self._outer

    def disarm(self) -> None:
        """Nothing more to cut: every byte has come (flushing it to disk may take long)."""
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def set(self, seconds: float) -> None:
        """Move the deadline to ``seconds`` from now (earlier or later)."""
        with self._cond:
            at = time.monotonic() + max(0.0, seconds)
            earlier, self._at = at < self._at, at
            if earlier:  # a later one is seen when the watchdog wakes: no wake-up per chunk
                self._cond.notify_all()

    def elapsed(self) -> float:
        return time.monotonic() - self._start

    # -- the watchdog -----------------------------------------------------------

    def note(self, conn) -> None:
        with self._cond:
            self._conns.append(conn)

    def _watch(self) -> None:
        with self._cond:
            while not self._done:
                left = self._at - time.monotonic()
                if left <= 0:
                    self.fired = True
                    socks = [s for s in (getattr(c, "sock", None) for c in self._conns) if s is not None]
                    # Said before the shutdown: the woken reader asks at once.
                    self.cut = bool(socks)
                    for sock in socks:
                        _shut(sock)
                    return
                self._cond.wait(left)


def _shut(sock) -> None:
    try:
        # The plain socket's shutdown, also for TLS sockets: it wakes a blocked
        # read in the other thread without touching the TLS state it is using.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except (OSError, ValueError, TypeError):
        pass


class _Noting:
    def _make_request(self, conn, *args, **kwargs):
        deadline = getattr(_active, "deadline", None)
        if deadline is not None:
            deadline.note(conn)
        return super()._make_request(conn, *args, **kwargs)


class _HTTPPool(_Noting, HTTPConnectionPool):
    pass


class _HTTPSPool(_Noting, HTTPSConnectionPool):
    pass


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """An HTTPAdapter whose connection pools report their connections to the active :class:`Deadline`."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools are their own classes
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager
