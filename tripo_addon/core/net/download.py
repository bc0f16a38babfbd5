"""Fetching the finished model: the download half of :class:`~.gateway.GatewayClient`.

The file is streamed to a ``.part`` beside the target and renamed into place
only once it is a whole, self-contained GLB 2.0 file. A broken transfer
resumes with a Range request when the server allows it.

Deadlines (a server that trickles bytes must not hold a job forever): each
attempt must get its answer's headers within ``connect + 2 x read`` timeout;
then every :data:`CHUNK` must arrive within ``2 x read`` timeout (about 270
bytes/s with the default 30 s, far below any real link, far above a trickle),
and the whole attempt may take at most ``connect + 2 x read`` plus the bytes
still to come at :data:`MIN_RATE` (16 KB/s: 22 min for a 20 MB model, 9 h for
the 512 MB cap). An attempt cut by a deadline is a retryable
:class:`~..errors.DownloadError`, so the next attempt resumes with Range.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from typing import Callable, Iterable
from urllib.parse import urljoin, urlsplit

import requests

from .. import errors as E
from .answers import is_web_page
from .deadline import Deadline
from ..fsutil import durable_sync, replace
from ..glb import HEADER_SIZE, check_glb_file, external_references, looks_like_glb
from .urls import check_url, shorten

MAX_REDIRECTS = 5
#: Bytes per read of a download. When a transfer breaks, urllib3 2.x drops the
#: bytes of the read in progress, so this is what a break can cost before the
#: Range resume; it is also how long a stop request may wait on a slow link.
#: So it grows with the file: 1/64 of it, from 16 KB (a small model still
#: resumes part-way) to 256 KB (a big one no longer spends its time in per-read
#: overhead: 16 KB reads ran at 0.3x curl on loopback).
CHUNK = 16 * 1024
MAX_CHUNK = 256 * 1024


def chunk_size(total: int | None) -> int:
    return CHUNK if not total else max(CHUNK, min(MAX_CHUNK, total // 64))
#: The slowest average rate a download may have (bytes/s) before an attempt is cut.
MIN_RATE = 16 * 1024
#: A finished download is fsynced before it counts as downloaded (the journal
#: then says so). For a big file that fsync alone took as long as the whole
#: transfer, so from this many bytes on the data written so far is flushed in
#: the background every this many bytes (:class:`_Flusher`), and the final
#: fsync only has the last stretch left.
FLUSH_EVERY = 8 * 1024 * 1024


class DownloadMixin:
    """Needs ``session``, ``timeout``, ``stop``, ``max_download_bytes``, ``counters``,
    ``_retrying``, ``_network_error`` and ``_raise_for_status`` (see GatewayClient)."""

    def download(
        self,
        media_urls: Iterable[str],
        dest: str,
        *,
        media_type: str | None = None,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> str:
        """Fetch the GLB among ``media_urls`` to ``dest``; return ``dest``."""
        urls = list(media_urls)
        if not urls:
            raise E.NoOutput("The job finished but the gateway returned no files; try generating again.")

        # Likely GLBs first, but the content decides (a preview image may come along).
        def rank(u: str) -> int:
            path = urlsplit(u).path.lower()
            return 0 if path.endswith(".glb") else 1 if (media_type or "").endswith("glb") else 2

        urls.sort(key=rank)
        # An insecure extra (say a preview on http) must not block a GLB on https.
        secure = [u for u in urls if _allowed(u)]
        if not secure:
            check_url(urls[0], "download address")  # raises, saying why
        not_glb: list[str] = []
        unsafe: E.UnsafeGlb | None = None
        for url in secure:
            part = f"{dest}.{hashlib.sha1(url.encode()).hexdigest()[:10]}.part"
            try:
                self._retrying(lambda u=url, p=part: self._download_once(u, p, progress), "downloading the model")
            except E.UnsafeGlb as exc:
                _remove(part)
                unsafe = unsafe or exc
                continue
            except E.NotAGlb:
                _remove(part)
                not_glb.append(shorten(url))
                continue
            except (E.TooLarge, E.InsecureUrl, E.NotFound, E.BadRequest, E.AuthError, E.Forbidden):
                _remove(part)
                raise
            replace(part, dest)
            return dest
        if unsafe is not None:
            raise unsafe
        raise E.NotAGlb(f"The gateway's output is not a GLB model ({', '.join(not_glb)}); try generating again.")

    def _open_following_redirects(self, url: str, headers: dict) -> requests.Response:
        for _ in range(MAX_REDIRECTS + 1):
            check_url(url, "download address")
            self.counters["download_requests"] += 1
            try:
                resp = self.session.get(url, headers=headers, stream=True, timeout=self.timeout, allow_redirects=False)
            except requests.RequestException as exc:
                raise self._network_error(exc, "downloading the model") from None
            if resp.status_code in (301, 302, 303, 307, 308) and resp.headers.get("Location"):
                location = urljoin(url, resp.headers["Location"])
                resp.close()
                url = location
                continue
            return resp
        raise E.DownloadError("The download redirected too many times.")

    def _download_once(self, url: str, part: str, progress) -> None:
        connect, read = self.timeout
        started = time.monotonic()
        with Deadline(connect + 2 * read) as deadline:
            try:
                received, total = self._stream(url, part, progress, deadline, started)
            except E.NetworkError:
                if deadline.cut:
                    raise self._too_slow(url, deadline) from None
                raise
            if deadline.cut:
                raise self._too_slow(url, deadline)
        if total is not None and received < total:
            raise E.DownloadError(f"The download stopped at {received} of {total} bytes; resuming.")
        problem = check_glb_file(part)
        if problem is None:
            problem = external_references(part)
            if problem is not None:
                raise E.UnsafeGlb(f"Refused the model from {shorten(url)}: {problem}.")
            return
        if problem.startswith("it is incomplete"):
            # The header promises more bytes than came: a truncated transfer.
            raise E.DownloadError(f"The downloaded model {problem}; resuming.")
        raise E.NotAGlb(f"{shorten(url)}: {problem}")

    def _too_slow(self, url: str, deadline: Deadline) -> E.DownloadError:
        host = urlsplit(url).netloc.rsplit("@", 1)[-1]
        return E.DownloadError(
            f"The download from {host} was too slow (cut after {deadline.elapsed():.0f} s); resuming."
        )

    def _stream(self, url: str, part: str, progress, deadline: Deadline, started: float) -> tuple[int, int | None]:
        connect, read = self.timeout
        offset = os.path.getsize(part) if os.path.exists(part) else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        resp = self._open_following_redirects(url, headers)
        with resp:
            if resp.status_code == 416 and offset:
                _remove(part)  # our partial file does not fit this file: start over
                raise E.DownloadError("The partial download did not match; starting over.")
            self._raise_for_status(resp, "downloading the model")
            if resp.status_code < 300 and is_web_page(resp):  # a CDN's hiccup page: retried like a 5xx
                raise E.WebPageAnswer(
                    f"The download from {shorten(url)} answered with a web page (HTTP {resp.status_code}).",
                    conclusion=E.NotAGlb(f"{shorten(url)} answers with a web page, not a GLB file"))
            if resp.status_code == 206 and offset:
                total = _content_range_total(resp.headers.get("Content-Range"))
                mode = "ab"
            else:
                offset, mode = 0, "wb"
                total = _int(resp.headers.get("Content-Length"))
            if total is not None and total > self.max_download_bytes:
                raise E.TooLarge(
                    f"The model file is {total / 1e6:.0f} MB, over the {self.max_download_bytes / 1e6:.0f} MB "
                    "download limit; raise the limit in the preferences if this is expected."
                )
            to_come = (total if total is not None else self.max_download_bytes) - offset
            cap_at = started + connect + 2 * read + max(0, to_come) / MIN_RATE
            deadline.set(min(cap_at - time.monotonic(), 2 * read))
            received = offset
            with open(part, mode) as out:
                flusher = _Flusher(part, offset)
                try:
                    for chunk in resp.iter_content(chunk_size(total)):
                        deadline.set(min(cap_at - time.monotonic(), 2 * read))
                        if self.stop.is_set():
                            raise E.Stopped("Stopped the download; it will resume later.")
                        if not chunk:
                            continue
                        if received == 0 and (chunk[:4] != b"glTF"[: len(chunk[:4])] or (
                                len(chunk) >= HEADER_SIZE and not looks_like_glb(chunk[:HEADER_SIZE]))):
                            raise E.NotAGlb(f"{shorten(url)} is not a GLB file")
                        out.write(chunk)
                        received += len(chunk)
                        flusher.wrote(received)
                        if received > self.max_download_bytes:
                            raise E.TooLarge(
                                f"The model file is over the {self.max_download_bytes / 1e6:.0f} MB download "
                                "limit; raise the limit in the preferences if this is expected."
                            )
                        if progress:
                            progress(received, total)
                except requests.RequestException:
                    if deadline.cut:
                        raise self._too_slow(url, deadline) from None
                    raise E.DownloadError("The download broke off; resuming.") from None
                finally:
                    flusher.close()
                deadline.disarm()  # a slow disk is not a slow server
                out.flush()
                # The guarantee: nothing counts as downloaded before this returns.
                durable_sync(out.fileno())
        return received, total


_datasync = getattr(os, "fdatasync", os.fsync)  # the data and the size; not on Windows or macOS


class _Flusher:
    """Flushes a file being downloaded to disk in the background, in steps of :data:`FLUSH_EVERY`.

    Only a head start for the final ``os.fsync``, which still runs and still
    decides: the helper thread fsyncs its own descriptor of the file, so a
    write-back error it meets is reported to the download's descriptor too
    (Linux tracks them per open file), and a failure of the helper only stops
    it. Nothing starts for files smaller than one step. :meth:`close` waits
    for a flush in progress, so the file is never renamed while one runs.
    """

    def __init__(self, path: str, offset: int = 0):
        self._path = path
        self._next = offset + FLUSH_EVERY
        self._cond = threading.Condition(threading.Lock())
        self._pending = self._done = False
        self._thread: threading.Thread | None = None

    def wrote(self, received: int) -> None:
        """``received`` bytes are in the file (written, maybe not yet on disk)."""
        if received < self._next:
            return
        self._next = received + FLUSH_EVERY
        with self._cond:
            self._pending = True
            self._cond.notify()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tripo3d-flush", daemon=True)
            self._thread.start()

    def close(self) -> None:
        if self._thread is None:
            return
        with self._cond:
            self._done = True
            self._cond.notify()
        self._thread.join()

    def _run(self) -> None:
        try:
            # Write access: Windows flushes only through a handle that may write.
            fd = os.open(self._path, os.O_WRONLY | getattr(os, "O_BINARY", 0))
        except OSError:
            return
        try:
            while True:
                with self._cond:
                    while not (self._pending or self._done):
                        self._cond.wait()
                    if self._done:
                        return
                    self._pending = False
                _datasync(fd)
        except OSError:
            return  # the final fsync reports what matters
        finally:
            os.close(fd)


def _allowed(url: str) -> bool:
    try:
        check_url(url, "download address")
        return True
    except E.InsecureUrl:
        return False


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _content_range_total(value: str | None) -> int | None:
    # "bytes 100-999/1000"
    if value and "/" in value:
        return _int(value.rsplit("/", 1)[1].strip())
    return None


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
