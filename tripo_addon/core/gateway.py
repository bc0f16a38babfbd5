"""HTTP client for the Tripo3D v2.5 model on the Pixazo gateway.

Three calls: :meth:`GatewayClient.submit`, :meth:`GatewayClient.status` and
:meth:`GatewayClient.download`. Each turns every outcome a caller acts on into
a typed :class:`~.errors.TripoError` carrying one sentence for the user.

Retries follow what is safe for money:
- a submit is retried only when it surely never reached the queue
  (connection refused, name not resolved, connect timeout, 429, 503);
  anything else after the request may have left (a read timeout, a dropped
  connection, a 500) becomes :class:`SubmitUncertain`, never a second submit;
- status polls and downloads are free to repeat, so they retry with
  exponential backoff and jitter, honouring Retry-After, within a budget.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, TypeVar
from urllib.parse import urljoin, urlsplit

import requests

from . import errors as E
from .glb import HEADER_SIZE, check_glb_file, looks_like_glb
from .urls import check_url, normalise_base_url, same_origin, shorten

MODEL_ID = "tripo3d-v2-5-413"
SUBMIT_PATH = f"/{MODEL_ID}/v1/tripo3d-v2-5-request"
STATUS_PATH = "/v2/requests/status/{request_id}"
KEY_HEADER = "Ocp-Apim-Subscription-Key"

PENDING = ("QUEUED", "PROCESSING")
TERMINAL = ("COMPLETED", "FAILED", "ERROR")

DEFAULT_MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024
MAX_REDIRECTS = 5
#: Bytes per read of a download. Kept small on purpose: when a transfer breaks,
#: urllib3 2.x drops the bytes of the read in progress, so a large read size
#: loses that much (a whole small model) and defeats the Range resume; it is
#: also how long a stop request may wait on a slow link.
CHUNK = 16 * 1024

T = TypeVar("T")


@dataclass
class RetryPolicy:
    """Bounded exponential backoff with jitter for requests that are safe to repeat."""

    attempts: int = 8
    base_delay: float = 1.0
    max_delay: float = 30.0
    #: A server asking for longer than this is waited for only this long.
    max_retry_after: float = 120.0
    #: Tries for a submit that surely never reached the queue.
    submit_attempts: int = 4

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(0, failures - 1)))
        wait = random.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


@dataclass(frozen=True)
class SubmitResult:
    request_id: str
    status: str
    polling_url: str | None


@dataclass(frozen=True)
class StatusResult:
    request_id: str
    status: str  # upper case; may be a value the contract does not list
    error: str | None
    media_urls: tuple[str, ...]
    media_type: str | None
    raw: dict = field(repr=False, default_factory=dict)

    @property
    def is_pending(self) -> bool:
        return self.status not in TERMINAL


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _server_text(resp: requests.Response, secret: str | None) -> str:
    """The human part of an error body, in either of the gateway's shapes."""
    text = ""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("error", "message") if isinstance(body.get(k), str) and body.get(k)]
        # {"error": "Insufficient Balance", "message": "Your wallet..."}, or
        # Azure APIM's {"statusCode": 401, "message": "Access denied..."}.
        text = ": ".join(dict.fromkeys(parts))
    elif resp.text and len(resp.text) < 300 and "<" not in resp.text:
        text = resp.text.strip()
    text = " ".join(E.scrub(text, secret).split())
    return text[:240]


class GatewayClient:
    """One client per job or thread (a ``requests.Session`` is not shared)."""

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None = None,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        stop: threading.Event | None = None,
        user_agent: str = "tripo3d-blender",
    ):
        if not api_key or not api_key.strip():
            raise E.NoApiKey(
                "No Pixazo API key is set; enter it in the add-on preferences or set PIXAZO_API_KEY."
            )
        self._key = api_key.strip()
        self.base_url = normalise_base_url(base_url)
        self.timeout = (connect_timeout, read_timeout)
        self.retry = retry or RetryPolicy()
        self.max_download_bytes = max_download_bytes
        self.stop = stop or threading.Event()
        self.session = requests.Session()
        # The environment's proxy settings still apply; .netrc credentials must not.
        # (trust_env alone would also add a ~/.netrc login as an Authorization
        # header; requests skips that lookup when the session has its own auth.)
        self.session.trust_env = True
        self.session.auth = _NoAuth()
        self.session.headers["User-Agent"] = user_agent
        #: Counts of what this client did, for logs and tests.
        self.counters = {"submits_sent": 0, "status_requests": 0, "retries": 0, "download_requests": 0}

    # -- plumbing ---------------------------------------------------------------

    def close(self) -> None:
        self.session.close()

    def _wait(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise E.Stopped("Stopped waiting for the job.")

    def _host(self) -> str:
        return urlsplit(self.base_url).netloc

    def _network_error(self, exc: requests.RequestException, what: str) -> E.NetworkError:
        """Classify a requests exception: did the request surely never leave?"""
        host = self._host()
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return E.NetworkError(
                f"Timed out connecting to {host} while {what}; check your internet connection.",
                reached_server=False,
            )
        if isinstance(exc, requests.exceptions.ReadTimeout):
            return E.NetworkError(f"{host} did not answer in time while {what}.", reached_server=True)
        if isinstance(exc, requests.exceptions.SSLError):
            return E.NetworkError(
                f"The secure connection to {host} failed while {what}; check the computer's clock and network.",
                reached_server=False,
            )
        if isinstance(exc, requests.exceptions.ConnectionError):
            text = repr(exc)
            never_sent = any(
                s in text
                for s in ("NewConnectionError", "Connection refused", "NameResolutionError", "Name or service not known",
                          "nodename nor servname", "Temporary failure in name resolution", "getaddrinfo failed",
                          "Network is unreachable", "No route to host")
            )
            if never_sent:
                return E.NetworkError(
                    f"Could not connect to {host} while {what}; check your internet connection "
                    "(or that the gateway address is right).",
                    reached_server=False,
                )
            return E.NetworkError(f"The connection to {host} dropped while {what}.", reached_server=True)
        return E.NetworkError(f"A network error happened while {what}.", reached_server=True)

    def _raise_for_status(self, resp: requests.Response, during: str) -> None:
        code = resp.status_code
        if code < 400:
            return
        text = _server_text(resp, self._key)
        said = f" ({text})" if text else ""
        if code == 400:
            if "not found" in text.lower() and "model" in text.lower():
                raise E.BadRequest(
                    f"The gateway says the Tripo3D v2.5 model is not available{said}; try again later."
                )
            raise E.BadRequest(
                f"The gateway refused the request as invalid{said}; check the image and the options."
            )
        if code == 401:
            raise E.AuthError(
                "The gateway rejected the API key (HTTP 401); check the key in the add-on preferences "
                "or PIXAZO_API_KEY."
            )
        if code == 402:
            raise E.InsufficientBalance(
                "Your Pixazo wallet does not have enough balance for this job (HTTP 402); "
                "add funds in your Pixazo account and try again."
            )
        if code == 403:
            raise E.Forbidden(
                f"The gateway refused access with this API key (HTTP 403){said}; check that your "
                "Pixazo subscription includes Tripo3D v2.5."
            )
        if code == 404:
            raise E.NotFound(f"Nothing was found (HTTP 404) while {during}{said}.")
        if code == 429:
            raise E.RateLimited(
                "The gateway is limiting requests (HTTP 429); wait a minute and try again.",
                retry_after=_retry_after(resp),
            )
        if code >= 500:
            raise E.ServerError(
                f"The gateway had a server error (HTTP {code}) while {during}; try again in a few minutes.",
                status_code=code,
                retry_after=_retry_after(resp),
            )
        raise E.BadRequest(f"The gateway answered HTTP {code} while {during}{said}.")

    def _retrying(self, call: Callable[[], T], what: str) -> T:
        """Run ``call`` until it succeeds, retrying retryable failures within the budget."""
        failures = 0
        while True:
            try:
                return call()
            except E.TripoError as exc:
                if not exc.retryable:
                    raise
                failures += 1
                if failures >= self.retry.attempts:
                    raise E.RetriesExhausted(
                        f"Gave up {what} after {failures} tries ({exc.message.rstrip('.')}); "
                        "the job is saved and can be resumed later."
                    ) from None
                self.counters["retries"] += 1
                self._wait(self.retry.delay(failures, getattr(exc, "retry_after", None)))

    # -- submit -----------------------------------------------------------------

    def submit(
        self,
        image_url: str,
        params: dict | None = None,
        *,
        webhook_url: str | None = None,
        webhook_mode: str | None = None,
    ) -> SubmitResult:
        """Queue one job. Never sends a second job for one call (see module doc)."""
        body = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        body["image_url"] = image_url
        headers = {KEY_HEADER: self._key, "Cache-Control": "no-cache"}
        if webhook_url:
            check_url(webhook_url, "webhook address")
            headers["X-Webhook-URL"] = webhook_url
            if webhook_mode:
                headers["X-Webhook-Mode"] = webhook_mode
        url = self.base_url + SUBMIT_PATH
        failures = 0
        while True:
            try:
                return self._submit_once(url, body, headers)
            except (E.RateLimited, E.ServerError, E.NetworkError) as exc:
                surely_not_queued = (
                    isinstance(exc, E.RateLimited)
                    or (isinstance(exc, E.ServerError) and exc.status_code == 503)
                    or (isinstance(exc, E.NetworkError) and not exc.reached_server)
                )
                if not surely_not_queued:
                    raise E.SubmitUncertain(
                        f"No clear answer came back after the job was sent ({exc.message.rstrip('.')}); "
                        "it may have been submitted and charged. Check your Pixazo dashboard before "
                        "submitting it again."
                    ) from None
                failures += 1
                if failures >= self.retry.submit_attempts:
                    raise
                self.counters["retries"] += 1
                self._wait(self.retry.delay(failures, getattr(exc, "retry_after", None)))

    def _submit_once(self, url: str, body: dict, headers: dict) -> SubmitResult:
        self.counters["submits_sent"] += 1
        try:
            resp = self.session.post(url, json=body, headers=headers, timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise self._network_error(exc, "sending the job") from None
        with resp:
            if 300 <= resp.status_code < 400:
                raise E.SubmitUncertain(
                    f"The gateway redirected the job submission (HTTP {resp.status_code}) instead of "
                    "accepting it; check the gateway address."
                )
            self._raise_for_status(resp, "sending the job")
            try:
                data = resp.json()
                request_id = data["request_id"]
                if not isinstance(request_id, str) or not request_id:
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                raise E.SubmitUncertain(
                    f"The gateway accepted the job (HTTP {resp.status_code}) but its answer had no "
                    "request id; it may have been charged. Check your Pixazo dashboard."
                ) from None
        polling_url = data.get("polling_url") if isinstance(data.get("polling_url"), str) else None
        return SubmitResult(request_id, str(data.get("status") or "QUEUED").upper(), polling_url)

    # -- status -----------------------------------------------------------------

    def status_url(self, request_id: str, polling_url: str | None = None) -> str:
        # Follow the server's polling_url only on the gateway's own origin:
        # the key travels with the request and must not go anywhere else.
        if polling_url and same_origin(polling_url, self.base_url):
            return polling_url
        safe_id = "".join(c for c in request_id if c.isalnum() or c in "-_.")
        return self.base_url + STATUS_PATH.format(request_id=safe_id)

    def status_once(self, request_id: str, polling_url: str | None = None) -> StatusResult:
        url = self.status_url(request_id, polling_url)
        self.counters["status_requests"] += 1
        try:
            resp = self.session.get(
                url, headers={KEY_HEADER: self._key, "Cache-Control": "no-cache"},
                timeout=self.timeout, allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise self._network_error(exc, "checking the job") from None
        with resp:
            self._raise_for_status(resp, "checking the job")
            try:
                data = resp.json()
                if not isinstance(data, dict):
                    raise ValueError
            except ValueError:
                raise E.BadResponse("The gateway's status answer was not readable JSON.") from None
        status = str(data.get("status") or "").upper()
        if not status:
            raise E.BadResponse("The gateway's status answer had no status.")
        output = data.get("output") if isinstance(data.get("output"), dict) else {}
        media = output.get("media_url") or []
        if isinstance(media, str):
            media = [media]
        urls = tuple(u for u in media if isinstance(u, str) and u)
        error = data.get("error")
        error = E.scrub(str(error), self._key)[:400] if error else None
        media_type = output.get("media_type") if isinstance(output.get("media_type"), str) else None
        return StatusResult(str(data.get("request_id") or request_id), status, error, urls, media_type, data)

    def status(self, request_id: str, polling_url: str | None = None) -> StatusResult:
        """One status check, retrying temporary faults within the retry budget."""
        return self._retrying(lambda: self.status_once(request_id, polling_url), "checking the job")

    # -- download ---------------------------------------------------------------

    def download(
        self,
        media_urls: Iterable[str],
        dest: str,
        *,
        media_type: str | None = None,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> str:
        """Fetch the GLB among ``media_urls`` to ``dest``; return ``dest``.

        The file is streamed to a ``.part`` beside ``dest`` and renamed into
        place only once it is a whole GLB 2.0 file. A broken transfer resumes
        with a Range request when the server allows it.
        """
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
        urls = secure
        not_glb: list[str] = []
        for url in urls:
            part = f"{dest}.{hashlib.sha1(url.encode()).hexdigest()[:10]}.part"
            try:
                self._retrying(lambda u=url, p=part: self._download_once(u, p, progress), "downloading the model")
            except E.NotAGlb:
                _remove(part)
                not_glb.append(shorten(url))
                continue
            except (E.TooLarge, E.InsecureUrl, E.NotFound, E.BadRequest, E.AuthError, E.Forbidden):
                _remove(part)
                raise
            os.replace(part, dest)
            return dest
        raise E.NotAGlb(
            f"The gateway's output is not a GLB model ({', '.join(not_glb)}); try generating again."
        )

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
        offset = os.path.getsize(part) if os.path.exists(part) else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        resp = self._open_following_redirects(url, headers)
        with resp:
            if resp.status_code == 416 and offset:
                _remove(part)  # our partial file does not fit this file: start over
                raise E.DownloadError("The partial download did not match; starting over.")
            self._raise_for_status(resp, "downloading the model")
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
            received = offset
            with open(part, mode) as out:
                try:
                    for chunk in resp.iter_content(CHUNK):
                        if self.stop.is_set():
                            raise E.Stopped("Stopped the download; it will resume later.")
                        if not chunk:
                            continue
                        if received == 0 and (chunk[:4] != b"glTF"[: len(chunk[:4])] or (
                                len(chunk) >= HEADER_SIZE and not looks_like_glb(chunk[:HEADER_SIZE]))):
                            raise E.NotAGlb(f"{shorten(url)} is not a GLB file")
                        out.write(chunk)
                        received += len(chunk)
                        if received > self.max_download_bytes:
                            raise E.TooLarge(
                                f"The model file is over the {self.max_download_bytes / 1e6:.0f} MB download "
                                "limit; raise the limit in the preferences if this is expected."
                            )
                        if progress:
                            progress(received, total)
                except requests.RequestException:
                    raise E.DownloadError("The download broke off; resuming.") from None
                out.flush()
                os.fsync(out.fileno())
        if total is not None and received < total:
            raise E.DownloadError(f"The download stopped at {received} of {total} bytes; resuming.")
        problem = check_glb_file(part)
        if problem is None:
            return
        if problem.startswith("it is incomplete"):
            # The header promises more bytes than came: a truncated transfer.
            raise E.DownloadError(f"The downloaded model {problem}; resuming.")
        raise E.NotAGlb(f"{shorten(url)}: {problem}")


class _NoAuth(requests.auth.AuthBase):
    """Adds nothing: it only stops requests from looking up ~/.netrc."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


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


def describe_params(params: dict) -> str:
    return json.dumps(params, sort_keys=True)
