"""The HTTP client of the Tripo3D v2.5 model on the Pixazo gateway (:class:`GatewayClient`).

Three calls: :meth:`GatewayClient.submit`, :meth:`GatewayClient.status` and
:meth:`GatewayClient.download`. Each turns every outcome a caller acts on into
a typed :class:`~..errors.TripoError` carrying one sentence for the user.

Retries follow what is safe for money:
- a submit is retried only when it surely never reached the queue
  (connection refused, name not resolved, connect timeout, 429, 503);
  anything else after the request may have left (a read timeout, a dropped
  connection, a 500) becomes :class:`SubmitUncertain`, never a second submit;
- status polls and downloads are free to repeat, so they retry with
  exponential backoff and jitter, honouring Retry-After, within a budget.

Every request has an overall deadline (:mod:`.deadline`), so a server that
trickles bytes cannot hold a job; a submit cut by it is uncertain, never
resent. An answer to the submit that cannot be the gateway's (a web page, a
login portal, JSON of another shape) is :class:`~..errors.NotGateway`, never
retried (:mod:`.answers`). After the gateway accepted a job, a web page at a
status check or a download is a hiccup of a CDN or proxy in front of it,
retried like a 5xx; only :attr:`RetryPolicy.web_pages` of them in a row with
no good answer mean "not the gateway". Downloads live in :mod:`.download`.
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass, field
from typing import Callable, TypeVar
from urllib.parse import urlsplit

import requests

from . import answers
from .apikey import check_api_key
from .. import errors as E
from .deadline import Deadline, DeadlineAdapter
from .download import DownloadMixin
from .ratelimit import SharedLimiter
from ..fsutil import safe_name
from .sessions import new_session
from .urls import check_url, normalise_base_url, same_origin, shorten

MODEL_ID = "tripo3d-v2-5-413"
SUBMIT_PATH = f"/{MODEL_ID}/v1/tripo3d-v2-5-request"
STATUS_PATH = "/v2/requests/status/{request_id}"
KEY_HEADER = "Ocp-Apim-Subscription-Key"

PENDING = ("QUEUED", "PROCESSING")
TERMINAL = ("COMPLETED", "FAILED", "ERROR")

DEFAULT_MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024
#: A submit body travels at no less than this (bytes/s) before its deadline is
#: reached: an inline image of several MB must not be cut on a slow uplink.
MIN_UPLOAD_RATE = 16 * 1024

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
    #: Web pages in a row (no other answer between) at a status check or a download before
    #: the address is taken for something that is not the gateway (a login portal...).
    web_pages: int = 5

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




class GatewayClient(DownloadMixin):
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
        limiter: SharedLimiter | None = None,
    ):
        self._key = check_api_key(api_key)
        self.base_url = normalise_base_url(base_url)
        self.timeout = (connect_timeout, read_timeout)
        self.retry = retry or RetryPolicy()
        self.max_download_bytes = max_download_bytes
        self.stop = stop or threading.Event()
        #: Shared by all jobs of the process: a 429 pauses them all (see core.ratelimit).
        self.limiter = limiter
        self.session = new_session(user_agent, stop=self.stop)
        # Connections report to the active overall deadline of a request (see _deadline).
        for prefix in ("https://", "http://"):
            self.session.mount(prefix, DeadlineAdapter())
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
        return answers.network_error(exc, self._host(), what)

    def _raise_for_status(self, resp: requests.Response, during: str) -> None:
        answers.raise_for_status(resp, during, self._key)

    def _deadline(self, body_bytes: int = 0) -> Deadline:
        """The overall deadline of one submit or status request (see :mod:`.deadline`).

        Twice the read timeout after connecting: ample for the gateway's small
        JSON answers, and a server trickling bytes is cut instead of holding
        the job. A submit body gets extra time at :data:`MIN_UPLOAD_RATE`.
        """
        connect, read = self.timeout
        return Deadline(connect + 2 * read + body_bytes / MIN_UPLOAD_RATE)

    def _cut(self, deadline: Deadline, what: str) -> E.NetworkError:
        return E.NetworkError(
            f"{self._host()} did not finish answering within {deadline.elapsed():.0f} s while {what}.",
            reached_server=True,
        )

    def _gated(self, call: Callable[[], T]) -> T:
        """One request, in turn with every other job's when the gateway is limiting us."""
        if self.limiter is None:
            return call()
        self.limiter.wait_turn(self.stop)
        try:
            result = call()
        except E.RateLimited as exc:
            self.limiter.rate_limited(exc.retry_after)
            raise
        self.limiter.succeeded()
        return result

    def _retrying(self, call: Callable[[], T], what: str) -> T:
        """Run ``call`` until it succeeds, retrying retryable failures within the budget."""
        failures = web_pages = 0
        while True:
            try:
                return call()
            except E.TripoError as exc:
                if not exc.retryable:
                    raise
                failures += 1
                web_pages = web_pages + 1 if isinstance(exc, E.WebPageAnswer) else 0
                if web_pages >= self.retry.web_pages:
                    raise exc.conclusion from None
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
                return self._gated(lambda: self._submit_once(url, body, headers))
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
        with self._deadline(len(body.get("image_url") or "") + 1024) as deadline:
            try:
                resp = self.session.post(url, json=body, headers=headers, timeout=self.timeout,
                                         allow_redirects=False)
            except requests.RequestException as exc:
                # Cut by the deadline: the request left, so it may be queued (never resent).
                raise (self._cut(deadline, "sending the job") if deadline.cut
                       else self._network_error(exc, "sending the job")) from None
        with resp:
            if 300 <= resp.status_code < 400:
                raise E.SubmitUncertain(
                    f"The gateway redirected the job submission (HTTP {resp.status_code}) instead of "
                    "accepting it; check the gateway address."
                )
            if resp.status_code in (404, 405) and answers.is_web_page(resp):
                # A website at this address, not the gateway's API (whose errors are JSON).
                raise answers.not_gateway(shorten(self.base_url), "the job submission",
                                          f"a web page (HTTP {resp.status_code})")
            self._raise_for_status(resp, "sending the job")
            data = answers.check_submit_answer(resp, shorten(self.base_url))
            request_id = data.get("request_id")
            if not isinstance(request_id, str) or not request_id:
                raise E.SubmitUncertain(
                    f"The gateway accepted the job (HTTP {resp.status_code}) but its answer had no "
                    "request id; it may have been charged. Check your Pixazo dashboard."
                )
        polling_url = data.get("polling_url") if isinstance(data.get("polling_url"), str) else None
        return SubmitResult(request_id, str(data.get("status") or "QUEUED").upper(), polling_url)

    # -- status -----------------------------------------------------------------

    def status_url(self, request_id: str, polling_url: str | None = None) -> str:
        # Follow the server's polling_url only on the gateway's own origin:
        # the key travels with the request and must not go anywhere else.
        if polling_url and same_origin(polling_url, self.base_url):
            return polling_url
        safe_id = safe_name(request_id, keep="-_.")
        return self.base_url + STATUS_PATH.format(request_id=safe_id)

    def status_once(self, request_id: str, polling_url: str | None = None) -> StatusResult:
        url = self.status_url(request_id, polling_url)
        self.counters["status_requests"] += 1
        with self._deadline() as deadline:
            try:
                resp = self.session.get(
                    url, headers={KEY_HEADER: self._key, "Cache-Control": "no-cache"},
                    timeout=self.timeout, allow_redirects=False,
                )
            except requests.RequestException as exc:
                raise (self._cut(deadline, "checking the job") if deadline.cut
                       else self._network_error(exc, "checking the job")) from None
        with resp:
            if 300 <= resp.status_code < 400:
                where = urlsplit(resp.headers.get("Location") or "").netloc.rsplit("@", 1)[-1]
                raise answers.not_gateway(shorten(self.base_url), "a status check",
                                          f"a redirect (HTTP {resp.status_code}{' to ' + where if where else ''})")
            if resp.status_code < 300 and answers.is_web_page(resp):
                raise answers.web_page(shorten(self.base_url), "a status check", resp.status_code)
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
        return self._retrying(lambda: self._gated(lambda: self.status_once(request_id, polling_url)),
                              "checking the job")


def describe_params(params: dict) -> str:
    return json.dumps(params, sort_keys=True)
