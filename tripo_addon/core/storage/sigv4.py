"""AWS Signature Version 4 for S3-compatible storage, from the AWS spec.

Two ways to sign a request:

- :func:`presign_url`: authentication in the query string (a "presigned
  URL"), so anyone holding the link, such as the gateway, can fetch the object
  until it expires, without our keys;
- :func:`sign_headers`: an ``Authorization`` header, for our own PUT and DELETE.

Standard library only: the add-on ships without boto. URLs given here must
have their path percent-encoded as URLs are (the storage encodes object keys);
the signer decodes and re-encodes each segment once, the way S3 canonicalises
paths, so what is signed is exactly what goes on the wire.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
#: Presigned URLs for SigV4 may live at most seven days (S3's own limit).
MAX_EXPIRES = 7 * 24 * 3600

_DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 3986 unreserved characters are the only ones SigV4 leaves unencoded.
_UNRESERVED = "-_.~"


def presign_url(
    method: str,
    url: str,
    *,
    region: str,
    access_key_id: str,
    secret_access_key: str,
    session_token: str = "",
    expires: int = 3600,
    now: _dt.datetime | float | None = None,
    service: str = "s3",
) -> str:
    """``url`` with query-string authentication valid for ``expires`` seconds.

    Only the host header is signed and the payload is UNSIGNED-PAYLOAD, so the
    link works from any HTTP client that does not add signed headers.
    """
    expires = int(expires)
    if not 1 <= expires <= MAX_EXPIRES:
        raise ValueError(f"expires must be between 1 and {MAX_EXPIRES} seconds, not {expires}")
    stamp, day = _timestamps(now)
    parts = urlsplit(url)
    scope = _scope(day, region, service)
    # The auth parameters follow the request's own parameters, in the order
    # of the AWS documentation's examples; only the canonical form is sorted.
    params = parse_qsl(parts.query, keep_blank_values=True)
    params += [
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", f"{access_key_id}/{scope}"),
        ("X-Amz-Date", stamp),
        ("X-Amz-Expires", str(expires)),
        ("X-Amz-SignedHeaders", "host"),
    ]
    if session_token:
        # Temporary credentials: the token is part of what is signed.
        params.append(("X-Amz-Security-Token", session_token))
    path = _canonical_uri(parts.path)
    query = _canonical_query(params)
    canonical = "\n".join([
        method.upper(),
        path,
        query,
        f"host:{_host_header(url)}\n",
        "host",
        UNSIGNED_PAYLOAD,
    ])
    signature = _signature(secret_access_key, day, region, service, stamp, canonical)
    wire_query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in params)
    return urlunsplit((parts.scheme, parts.netloc, path, f"{wire_query}&X-Amz-Signature={signature}", ""))


def sign_headers(
    method: str,
    url: str,
    headers: dict,
    payload_sha256: str,
    *,
    region: str,
    access_key_id: str,
    secret_access_key: str,
    session_token: str = "",
    now: _dt.datetime | float | None = None,
    service: str = "s3",
) -> dict:
    """A copy of ``headers`` plus the SigV4 ``Authorization`` and ``x-amz-*`` headers.

    Every header given is signed (with ``host``), so pass only headers that
    reach the server unchanged; add hop-by-hop ones (Content-Length) afterwards.
    ``payload_sha256`` is the hex SHA-256 of the body, or UNSIGNED-PAYLOAD.
    """
    stamp, day = _timestamps(now)
    out = {k: v for k, v in headers.items() if k.lower() not in _OURS}
    out["X-Amz-Date"] = stamp
    # S3 requires this header on every header-signed request.
    out["X-Amz-Content-SHA256"] = payload_sha256
    if session_token:
        out["X-Amz-Security-Token"] = session_token
    signed = {"host": _host_header(url)}
    for name, value in out.items():
        # Header values are canonicalised: trimmed, inner runs of spaces collapsed.
        signed[name.strip().lower()] = " ".join(str(value).split())
    names = sorted(signed)
    signed_names = ";".join(names)
    parts = urlsplit(url)
    canonical = "\n".join([
        method.upper(),
        _canonical_uri(parts.path),
        _canonical_query(parse_qsl(parts.query, keep_blank_values=True)),
        "".join(f"{n}:{signed[n]}\n" for n in names),
        signed_names,
        payload_sha256,
    ])
    signature = _signature(secret_access_key, day, region, service, stamp, canonical)
    scope = _scope(day, region, service)
    out["Authorization"] = (
        f"{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={signed_names}, Signature={signature}"
    )
    return out


# Headers this module computes; stale copies from a previous attempt are dropped.
_OURS = {"authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token", "host"}


def _timestamps(now: _dt.datetime | float | None) -> tuple[str, str]:
    """(``YYYYMMDD'T'HHMMSS'Z'``, ``YYYYMMDD``) of ``now`` in UTC."""
    if now is None:
        moment = _dt.datetime.now(_dt.timezone.utc)
    elif isinstance(now, _dt.datetime):
        # A naive datetime is taken to be UTC already (as the tests pass them).
        moment = now.astimezone(_dt.timezone.utc) if now.tzinfo else now
    else:
        moment = _dt.datetime.fromtimestamp(float(now), _dt.timezone.utc)
    stamp = moment.strftime("%Y%m%dT%H%M%SZ")
    return stamp, stamp[:8]


def _scope(day: str, region: str, service: str) -> str:
    return f"{day}/{region}/{service}/aws4_request"


def _encode(text: str) -> str:
    """SigV4's URI-encode: every byte but the unreserved ones as %XX (upper case)."""
    return quote(text, safe=_UNRESERVED)


def _canonical_uri(path: str) -> str:
    """S3's canonical path: each segment encoded exactly once, '/' kept.

    S3 does not normalise '.' / '..' or repeated slashes (they are part of
    object keys), unlike the other AWS services; decoding first makes an
    already-encoded path and a raw one give the same, singly-encoded result.
    """
    if not path:
        return "/"
    return "/".join(_encode(unquote(segment)) for segment in path.split("/"))


def _canonical_query(params: list[tuple[str, str]]) -> str:
    """Parameters encoded, then sorted by name and value (a bare ``?uploads`` becomes ``uploads=``)."""
    encoded = sorted((_encode(k), _encode(v)) for k, v in params)
    return "&".join(f"{k}={v}" for k, v in encoded)


def _host_header(url: str) -> str:
    """The Host header an HTTP client sends for ``url``: the port only when not the default."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"  # IPv6 literals keep their brackets in Host.
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def _signature(secret: str, day: str, region: str, service: str, stamp: str, canonical_request: str) -> str:
    string_to_sign = "\n".join([
        ALGORITHM,
        stamp,
        _scope(day, region, service),
        hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
    ])
    # The signing key is derived step by step so it is bound to day, region and service.
    key = _hmac(("AWS4" + secret).encode("utf-8"), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
