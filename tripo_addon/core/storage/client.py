"""The S3 client of the user's own bucket (:class:`S3Storage`): put a local image,
hand out a short-lived presigned link to it, delete it.

The gateway only takes images by URL, so a local image is uploaded to the
user's own bucket (AWS S3, Cloudflare R2, Backblaze B2, MinIO, SeaweedFS...),
the gateway gets a presigned GET link, and the object is deleted when the job
ends. Every failure becomes a :class:`~..errors.StorageError` with one sentence
naming the bucket and what to do; the secret never appears in it.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Callable, TypeVar

import requests

from .. import errors as E
from ..fsutil import safe_name
from ..net.sessions import new_session
from .sigv4 import EMPTY_SHA256, presign_url, sign_headers
from .config import StorageConfig, parse_bucket_spec, storage_config_from

__all__ = [
    "MAX_UPLOAD_BYTES", "S3Storage", "StorageConfig", "parse_bucket_spec", "storage_config_from", "test_storage",
]

#: Larger images are refused before any request: the gateway takes far smaller ones.
MAX_UPLOAD_BYTES = 8 * 1024 * 1024
#: Tries for PUT, DELETE and the read-back GET (all safe to repeat).
ATTEMPTS = 3
BACKOFF = (0.5, 1.5)
#: Error bodies are short XML; read no more than this of one.
MAX_ERROR_BODY = 64 * 1024
#: What the storage test reads back is tiny; a bigger answer is not ours.
MAX_FETCH_BYTES = 1024 * 1024

Progress = Callable[[int, int], None]

_AUTH_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
               "TokenRefreshRequired", "InvalidSecurity"}
_REGION_CODES = {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"}


T = TypeVar("T")


@dataclass
class _Answer:
    """A response already read (status and body), for the retry loop."""

    status_code: int
    body: bytes

    def close(self) -> None:
        pass


class _ProgressBody:
    """The upload body as a file, so each block sent is reported."""

    def __init__(self, data: bytes, progress: Progress | None):
        self._view = memoryview(data)
        self._sent = 0
        self._progress = progress

    def __len__(self) -> int:  # requests sets Content-Length from this
        return len(self._view)

    def read(self, size: int = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else min(len(self._view), self._sent + size)
        chunk = self._view[self._sent:end].tobytes()
        self._sent = end
        if chunk and self._progress is not None:
            self._progress(self._sent, len(self._view))
        return chunk


class S3Storage:
    """Requests to one bucket. One instance per thread (a Session is not shared)."""

    def __init__(self, config: StorageConfig, *, stop: threading.Event | None = None,
                 connect_timeout: float = 10, read_timeout: float = 60, clock: Callable[[], float] = time.time):
        self.config = config
        self.stop = stop or threading.Event()
        self.timeout = (connect_timeout, read_timeout)
        self.clock = clock
        self.session = new_session("tripo3d-blender", stop=self.stop)

    def close(self) -> None:
        self.session.close()

    # -- the four operations ---------------------------------------------------------

    def new_key(self, ext: str) -> str:
        """A fresh, unguessable key under the prefix: ``prefix/<32 hex><ext>``."""
        ext = safe_name((ext or "").lstrip("."), ascii_only=True)
        name = uuid.uuid4().hex + (f".{ext.lower()}" if ext else "")
        return f"{self.config.prefix}/{name}" if self.config.prefix else name

    def put(self, key: str, data: bytes, content_type: str, progress: Progress | None = None) -> None:
        """Upload ``data`` as ``key``; ``progress(sent, total)`` follows the bytes out."""
        total = len(data)
        if total > MAX_UPLOAD_BYTES:
            raise E.StorageTooLarge(
                f"The image is {total / 2**20:.1f} MB, more than the {MAX_UPLOAD_BYTES // 2**20} MB this add-on "
                f"uploads to {self.config.location}; use a smaller image.")
        digest = hashlib.sha256(data).hexdigest()
        if progress is not None:
            progress(0, total)
        resp = self._send("PUT", key, "uploading the image", digest, {"Content-Type": content_type or
                                                                       "application/octet-stream"},
                          body=lambda: _ProgressBody(data, progress))
        with resp:
            if resp.status_code != 200:
                raise self._error(resp, "the upload")

    def presign_get(self, key: str, expires: int | None = None) -> str:
        """A link anyone may GET ``key`` with, for ``expires`` seconds (default: the config's lifetime)."""
        cfg = self.config
        return presign_url(
            "GET", cfg.object_url(key), region=cfg.region, access_key_id=cfg.access_key_id,
            secret_access_key=cfg.secret_access_key, session_token=cfg.session_token,
            expires=cfg.url_lifetime if expires is None else int(expires), now=self.clock(),
        )

    def delete(self, key: str) -> None:
        """Delete ``key``; an object (or bucket) that is already gone counts as deleted."""
        resp = self._send("DELETE", key, "deleting the uploaded image", EMPTY_SHA256, {})
        with resp:
            if resp.status_code in (200, 204, 404):
                return
            raise self._error(resp, "the delete")

    def check_readable(self, url: str) -> None:
        """Fetch the first byte of a presigned ``url`` without any credentials,
        as the gateway will: proves the link works before a job is paid for."""
        status, _body, code = self._anonymous_get(url, {"Range": "bytes=0-0"}, 1)
        if status not in (200, 206):
            raise self._unreadable(status, code)

    def fetch(self, url: str) -> bytes:
        """The whole (small) object behind a presigned ``url``, fetched anonymously."""
        status, body, code = self._anonymous_get(url, {}, MAX_FETCH_BYTES)
        if status != 200:
            raise self._unreadable(status, code)
        return body

    # -- plumbing ---------------------------------------------------------------------

    def _send(self, method: str, key: str, what: str, payload_sha256: str, headers: dict,
              body: Callable[[], object] | None = None) -> requests.Response:
        """A header-signed request with retries; the response of the last try."""
        cfg = self.config
        url = cfg.object_url(key)

        def once() -> requests.Response:
            # Signed afresh each try: the signature carries the time.
            signed = sign_headers(method, url, headers, payload_sha256, region=cfg.region,
                                  access_key_id=cfg.access_key_id, secret_access_key=cfg.secret_access_key,
                                  session_token=cfg.session_token, now=self.clock())
            data = body() if body is not None else None
            if data is not None:
                signed["Content-Length"] = str(len(data))
            # Never follow a redirect: it would carry our signed request elsewhere.
            return self.session.request(method, url, data=data, headers=signed, timeout=self.timeout,
                                        allow_redirects=False, stream=True)

        return self._with_retries(once, what)

    def _anonymous_get(self, url: str, headers: dict, limit: int) -> tuple[int, bytes, str]:
        """(status, up to ``limit`` bytes of body, S3 error code) of an unsigned GET, with retries."""
        def once() -> _Answer:  # the body is read inside the try: a cut read is tried again too
            with self.session.get(url, headers=headers, timeout=self.timeout, allow_redirects=False,
                                  stream=True) as resp:
                return _Answer(resp.status_code,
                               resp.raw.read(max(limit, MAX_ERROR_BODY) + 1, decode_content=True) or b"")

        answer = self._with_retries(once, "reading the presigned link back")
        code = _s3_error(answer.body)[0] if answer.status_code >= 300 else ""
        return answer.status_code, answer.body[:limit] if answer.status_code < 300 else b"", code

    def _with_retries(self, once: Callable[[], T], what: str) -> T:
        """``once()`` tried up to ATTEMPTS times while the connection fails or the
        bucket answers 5xx (500, 503 SlowDown...: the same request may pass in a
        moment); the last answer, whatever it is, or one sentence."""
        for attempt in range(1, ATTEMPTS + 1):
            self._check_stop()
            try:
                resp = once()
            except requests.RequestException as exc:
                if attempt == ATTEMPTS:
                    raise self._unreachable(exc, what) from None
            else:
                if resp.status_code < 500 or attempt == ATTEMPTS:
                    return resp
                resp.close()
            self._pause(BACKOFF[min(attempt, len(BACKOFF)) - 1])
        raise AssertionError("unreachable")

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise E.Stopped(f"Stopped the transfer to {self.config.location}.")

    def _pause(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise E.Stopped(f"Stopped the transfer to {self.config.location}.")

    def _scrub(self, text: str) -> str:
        cfg = self.config
        return E.scrub(E.scrub(text, cfg.secret_access_key), cfg.session_token)

    def _unreachable(self, exc: requests.RequestException, what: str) -> E.StorageUnreachable:
        text = str(exc)
        if isinstance(exc, requests.exceptions.Timeout):
            reason = "it did not answer in time"
        elif isinstance(exc, requests.exceptions.SSLError):
            reason = "the secure connection failed; check the endpoint's certificate"
        elif "NameResolution" in text or "resolve" in text or "Name or service not known" in text:
            reason = "its name could not be resolved"
        elif "refused" in text.lower():
            reason = "the connection was refused"
        else:
            reason = "the connection failed"
        return E.StorageUnreachable(self._scrub(
            f"Could not reach the storage at {self.config.host} for {self.config.location} while {what} "
            f"({reason}); check the endpoint address and your internet connection."))

    def _unreadable(self, status: int, code: str) -> E.StorageUrlUnreadable:
        detail = f"HTTP {status}, {code}" if code else f"HTTP {status}"
        return E.StorageUrlUnreadable(self._scrub(
            f"The bucket {self.config.location} took the upload but the presigned link could not be read back "
            f"({detail}); check the endpoint is reachable from the internet and that the bucket allows "
            "presigned GETs."), status_code=status, code=code)

    def _error(self, resp: requests.Response, what: str) -> E.StorageError:
        """One StorageError for an S3 error answer (the XML ``<Error>`` body when there is one)."""
        status = resp.status_code
        code, message = _s3_error(resp.raw.read(MAX_ERROR_BODY, decode_content=True) or b"")
        loc, shown = self.config.location, code or f"HTTP {status}"
        kw = {"status_code": status, "code": code}
        if code in _AUTH_CODES:
            err: E.StorageError = E.StorageAuthError(
                f"The storage access key id or secret was refused by {loc} ({code}); check the Access Key ID and "
                "Secret Access Key (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).", **kw)
        elif code == "NoSuchBucket":
            err = E.StorageNoBucket(
                f"The bucket {loc} does not exist at {self.config.host}; create it, or correct the bucket name "
                "or the endpoint.", **kw)
        elif code == "RequestTimeTooSkewed":
            err = E.StorageClockSkew(
                f"The storage at {loc} refused the request because this computer's clock is off by more than "
                "15 minutes; set it right (automatic date and time) and try again.", **kw)
        elif code == "EntityTooLarge" or status == 413:
            err = E.StorageTooLarge(
                f"The storage at {loc} refused {what} as too large ({shown}); use a smaller image.", **kw)
        elif code in _REGION_CODES or status in (301, 307):
            region = resp.headers.get("x-amz-bucket-region", "")
            hint = f"set the region to {region}" if region else "check the region and the endpoint"
            err = E.StorageConfigError(
                f"The bucket {loc} is not where this address points ({shown}); {hint}.", **kw)
        elif code == "AccessDenied" or (status == 403 and not code):
            err = E.StorageDenied(
                f"The storage at {loc} denied {what} ({shown}); give this access key permission to put, get "
                "and delete objects in the bucket.", **kw)
        else:
            said = f"{shown}: {message}" if message else shown
            err = E.StorageError(
                f"The storage at {loc} refused {what} (HTTP {status}, {said[:200]}); "
                "try again later, or check the bucket settings.", **kw)
            err.retryable = status >= 500
        err.message = self._scrub(err.message)
        err.args = (err.message,)
        return err


def _s3_error(body: bytes) -> tuple[str, str]:
    """(Code, Message) of S3's ``<Error>`` XML body, or ("", "") when it is not one."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return "", ""

    def text(name: str) -> str:
        for el in root.iter():
            if el.tag.rsplit("}", 1)[-1] == name:  # some servers add a namespace
                return " ".join((el.text or "").split())
        return ""

    return text("Code"), text("Message")


def test_storage(config: StorageConfig, *, clock: Callable[[], float] = time.time) -> tuple[bool, str]:
    """Try the bucket end to end with a tiny object: upload, presign, fetch
    anonymously, delete. (True, what worked) or (False, which step failed and why)."""
    store = S3Storage(config, clock=clock, connect_timeout=10, read_timeout=30)
    key = store.new_key(".txt")
    body = f"Tripo3D storage test {key}\n".encode()
    step, uploaded = "Upload", False
    try:
        store.put(key, body, "text/plain")
        uploaded = True
        step = "Presign"
        link = store.presign_get(key, min(config.url_lifetime, 300))
        step = "Fetch"
        if store.fetch(link) != body:
            raise E.StorageUrlUnreadable(
                f"The presigned link for {config.location} returned other bytes than were uploaded; "
                "check that the endpoint is the bucket's own S3 address.")
        step = "Delete"
        store.delete(key)
    except E.TripoError as exc:
        if uploaded and step != "Delete":
            try:
                store.delete(key)  # leave nothing behind
            except E.TripoError:
                pass
        return False, f"{step} failed: {exc.message}"
    finally:
        store.close()
    return True, f"Storage works: uploaded, fetched through a presigned link and deleted a test object in {config.location}."


# pytest would collect ``test_storage`` from modules that import it by name.
test_storage.__test__ = False  # type: ignore[attr-defined]
