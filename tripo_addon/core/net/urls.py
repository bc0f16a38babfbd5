"""Which URLs the add-on may talk to: https everywhere, plain http only on loopback.

Plain http is accepted only for loopback hosts (the local gateway simulator);
everything else must be https so the key and the downloads cannot be read or
altered on the way.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..errors import InsecureUrl

DEFAULT_BASE_URL = "https://gateway.pixazo.ai"


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        import ipaddress  # only when a plain-http address is checked

        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str) -> str:
    """Return ``url`` if it is https, or http on a loopback host; else raise."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return url
    if parts.scheme == "http":
        raise InsecureUrl(
            f"Refused the {what} {shorten(url)} because it is plain http; "
            "only https is allowed (http only for this computer's own address)."
        )
    raise InsecureUrl(f"The {what} {shorten(url)} is not an http(s) address.")


def normalise_base_url(url: str | None) -> str:
    """The gateway base URL without a trailing slash, checked for https."""
    url = (url or "").strip() or DEFAULT_BASE_URL
    url = url.rstrip("/")
    return check_url(url, "gateway address")


def same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


def shorten(url: str, limit: int = 80) -> str:
    """A URL as shown to users: no query string (it may carry tokens), bounded length."""
    parts = urlsplit(url)
    # No query string (it may carry tokens) and no user:password@.
    host = parts.netloc.rsplit("@", 1)[-1]
    shown = f"{parts.scheme}://{host}{parts.path}" if parts.scheme else url
    if parts.scheme == "data":
        shown = url[:30] + "..."
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."
