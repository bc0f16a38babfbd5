"""Turn what came back from an HTTP request into a typed error with one sentence.

Used by :class:`~.gateway.GatewayClient`: HTTP error codes, ``requests``
exceptions (did the request surely never leave?), and answers that are not
the gateway's at all (a web page, a network login portal, other JSON).
"""

from __future__ import annotations

import time

import requests

from .. import errors as E

#: Keys the gateway's answer to a submit carries (any one of them makes it the gateway's shape).
SUBMIT_KEYS = ("request_id", "status", "polling_url")


def retry_after(resp: requests.Response) -> float | None:
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


def server_text(resp: requests.Response, secret: str | None) -> str:
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


def network_error(exc: requests.RequestException, host: str, what: str) -> E.NetworkError:
    """Classify a requests exception: did the request surely never leave?"""
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


def raise_for_status(resp: requests.Response, during: str, secret: str | None) -> None:
    code = resp.status_code
    if code < 400:
        return
    text = server_text(resp, secret)
    said = f" ({text})" if text else ""
    if code == 400:
        if "not found" in text.lower() and "model" in text.lower():
            raise E.BadRequest(f"The gateway says the Tripo3D v2.5 model is not available{said}; try again later.")
        raise E.BadRequest(f"The gateway refused the request as invalid{said}; check the image and the options.")
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
        raise E.NotFound(f"Nothing was found (HTTP 404) while {during}{said}; if the gateway address in the "
                         "add-on preferences is right, the job or its file is gone: check your Pixazo dashboard.")
    if code == 429:
        raise E.RateLimited(
            "The gateway is limiting requests (HTTP 429); wait a minute and try again.",
            retry_after=retry_after(resp),
        )
    if code >= 500:
        raise E.ServerError(
            f"The gateway had a server error (HTTP {code}) while {during}; try again in a few minutes.",
            status_code=code,
            retry_after=retry_after(resp),
        )
    raise E.BadRequest(f"The gateway answered HTTP {code} while {during}{said}; try again, and if it goes on, "
                       "check the gateway address in the add-on preferences.")


# -- is this the gateway at all? ---------------------------------------------------

def is_web_page(resp: requests.Response) -> bool:
    """The answer is labelled as HTML: a website, a login portal or a proxy's page.

    The gateway labels every answer JSON (its own glitches too, which stay
    retryable); only the label is trusted, not a sniff of the body.
    """
    ctype = (resp.headers.get("Content-Type") or "").lower()
    return "html" in ctype


def not_gateway(base_url: str, what: str, detail: str) -> E.NotGateway:
    return E.NotGateway(
        f"The address {base_url} answered {what} with {detail}, not as the Pixazo gateway does; this "
        "address is not the Pixazo gateway (or a network login page is in the way), so check the gateway "
        "address (PIXAZO_BASE_URL or the Gateway preference) and your network, then try again."
    )


def web_page(base_url: str, what: str, code: int) -> E.WebPageAnswer:
    """A web page at a status check or a download, after the gateway accepted the job: a hiccup of
    something in front of it (retried); "not the gateway" only when nothing else comes for a while."""
    return E.WebPageAnswer(f"The address {base_url} answered {what} with a web page (HTTP {code}).",
                           conclusion=not_gateway(base_url, what, f"web pages (HTTP {code}) again and again"))


def check_submit_answer(resp: requests.Response, base_url: str) -> dict:
    """The submit answer as a dict, or :class:`NotGateway` when it is not the gateway's.

    Only answers that cannot be the gateway's are refused here: a web page,
    text that is not JSON at all, or JSON without any of the gateway's keys.
    A gateway-shaped answer that is cut or lacks a request id may still mean
    a queued job; the caller keeps that "uncertain".
    """
    code = resp.status_code
    if is_web_page(resp):
        raise not_gateway(base_url, "the job submission", f"a web page (HTTP {code})")
    text = (resp.text or "").lstrip()
    try:
        data = resp.json()
    except ValueError:
        if text and not text.startswith("{"):
            raise not_gateway(base_url, "the job submission", f"text that is not JSON (HTTP {code})") from None
        return {}  # empty or cut JSON: may be the gateway's own answer, broken on the way
    if not isinstance(data, dict) or not any(k in data for k in SUBMIT_KEYS):
        raise not_gateway(base_url, "the job submission", f"JSON of another shape (HTTP {code})")
    return data
