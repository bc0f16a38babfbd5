"""Which bucket local images go to (:class:`StorageConfig`), from the add-on
preferences and the environment variables every S3 tool reads.

:func:`upload_choice` reads the whole choice (the route asked for, the bucket,
why it cannot work); :func:`storage_config_from` builds the bucket. Pure
Python, no network.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import quote, urlsplit

from .. import errors as E
from ..net.urls import check_url, shorten

#: The routes a user can ask for (core.storage.delivery adds "url", taken by an http(s) picture).
AUTO, INLINE, S3 = "auto", "inline", "s3"

DEFAULT_REGION = "us-east-1"
DEFAULT_URL_LIFETIME = 3600
#: The longest a SigV4 presigned link may live (7 days), as core.sigv4 enforces;
#: kept here too so reading the settings does not load the signer's hashing.
MAX_EXPIRES = 7 * 24 * 3600

# DNS-compatible names as S3 requires today: 3-63 lowercase letters, digits,
# dots and hyphens, starting and ending with a letter or digit.
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_SHAPED = re.compile(r"^\d+\.\d+\.\d+\.\d+$")

_CREDENTIALS_HELP = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or fill in Access Key ID and Secret Access Key "
    "in the add-on's Storage preferences"
)


@dataclass(frozen=True)
class StorageConfig:
    """One bucket and the keys to write to it. Checked when built, so a
    config that exists is one that can be used."""

    bucket: str
    prefix: str = ""
    #: "" means AWS S3 itself; any other S3 service is addressed path-style.
    endpoint: str = ""
    region: str = DEFAULT_REGION
    access_key_id: str = ""
    secret_access_key: str = field(default="", repr=False)
    session_token: str = field(default="", repr=False)
    #: Seconds a presigned link stays valid (1 s to 7 days, SigV4's limit).
    url_lifetime: int = DEFAULT_URL_LIFETIME
    delete_after: bool = True

    def __post_init__(self) -> None:
        # Frozen: normalised values are written once, here.
        set_ = object.__setattr__
        set_(self, "prefix", _clean_prefix(self.prefix))
        check_bucket_name(self.bucket)
        set_(self, "endpoint", _check_endpoint((self.endpoint or "").strip().rstrip("/"), self.location))
        region = (self.region or "").strip() or DEFAULT_REGION
        if not re.fullmatch(r"[A-Za-z0-9-]+", region):
            raise E.StorageConfigError(
                f"The storage region {region!r} for {self.location} is not a region name "
                "(like us-east-1, or auto for Cloudflare R2); correct it.")
        set_(self, "region", region)
        set_(self, "access_key_id", (self.access_key_id or "").strip())
        set_(self, "secret_access_key", (self.secret_access_key or "").strip())
        set_(self, "session_token", (self.session_token or "").strip())
        if not self.access_key_id or not self.secret_access_key:
            raise E.StorageConfigError(f"No storage credentials for {self.location}: {_CREDENTIALS_HELP}.")
        lifetime = self.url_lifetime
        if isinstance(lifetime, bool) or not isinstance(lifetime, int) or not 1 <= lifetime <= MAX_EXPIRES:
            raise E.StorageConfigError(
                f"The link lifetime for {self.location} must be between 1 second and 7 days "
                f"({MAX_EXPIRES} s), not {lifetime!r}.")

    @property
    def location(self) -> str:
        """``s3://bucket/prefix``, for messages: no endpoint credentials, no keys."""
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    @property
    def host(self) -> str:
        """The host requests go to (for messages)."""
        return urlsplit(self.object_url("")).netloc

    def object_url(self, key: str) -> str:
        """The URL of ``key``, its path percent-encoded once as S3 expects."""
        path = quote(key, safe="/~")
        if self.endpoint:
            return f"{self.endpoint}/{self.bucket}/{path}"
        if "." in self.bucket:
            # A dotted name breaks the *.s3 wildcard TLS certificate: path-style.
            return f"https://s3.{self.region}.amazonaws.com/{self.bucket}/{path}"
        return f"https://{self.bucket}.s3.{self.region}.amazonaws.com/{path}"


def check_bucket_name(name: str) -> str:
    if not _BUCKET_NAME.match(name or "") or ".." in name or _IP_SHAPED.match(name):
        raise E.StorageConfigError(
            f"{name!r} is not a valid bucket name: use 3 to 63 lowercase letters, digits, dots and "
            "hyphens, starting and ending with a letter or digit.")
    return name


def parse_bucket_spec(spec: str) -> tuple[str, str]:
    """``"s3://bucket/some/prefix"`` -> ``("bucket", "some/prefix")``; ``"s3://bucket"`` -> ``("bucket", "")``."""
    text = (spec or "").strip()
    if not text.lower().startswith("s3://"):
        raise E.StorageConfigError(
            f"{shorten(text) or 'An empty value'} is not a bucket: write it as s3://BUCKET or s3://BUCKET/PREFIX.")
    bucket, _, prefix = text[5:].partition("/")
    if not bucket:
        raise E.StorageConfigError(f"{text!r} names no bucket: write it as s3://BUCKET or s3://BUCKET/PREFIX.")
    return check_bucket_name(bucket), _clean_prefix(prefix)


def parse_upload_option(value: str | None) -> tuple[str, str]:
    """``auto`` | ``inline`` | ``s3://BUCKET/PREFIX`` -> (route, bucket spec)."""
    value = (value or "").strip() or AUTO
    if value.lower() in (AUTO, INLINE):
        return value.lower(), ""
    if value.lower().startswith("s3://"):
        parse_bucket_spec(value)  # raises a clear StorageConfigError when malformed
        return S3, value
    raise E.StorageConfigError(
        f"--upload must be auto, inline or s3://BUCKET/PREFIX, not {value[:60]!r}."
    )


def upload_choice(upload: str | None, prefs: Mapping, env: Mapping, *,
                  prefer_env: bool) -> tuple[str, StorageConfig | None, E.StorageError | None]:
    """How local pictures travel, as asked: (route, bucket or None, why that
    bucket cannot work or None). A bucket that cannot work is returned, not
    raised: only a job whose picture needs it fails with the sentence. A
    malformed ``upload`` raises (it is the caller's own option)."""
    route, bucket_spec = parse_upload_option(upload)
    if route == INLINE:
        return route, None, None
    try:
        return route, storage_config_from(bucket_spec, prefs, env, prefer_env=prefer_env), None
    except E.StorageError as exc:
        return route, None, exc


def storage_config_from(bucket_spec: str, prefs: Mapping, env: Mapping, *, prefer_env: bool) -> StorageConfig | None:
    """The storage to use, or None when no bucket is set anywhere.

    ``bucket_spec`` (the CLI's --upload or TRIPO3D_UPLOAD) wins over the
    preferences' bucket. For the other fields ``prefer_env`` decides: True (the
    CLI) takes the environment first, False (the UI) the preferences first,
    the other filling the gaps. The key id and secret (and the session token,
    which only the environment has) are taken as one set from one source:
    mixing a key id from one place with a secret from another never works.
    """
    spec = _text(bucket_spec) or _text(prefs.get("bucket"))
    if not spec:
        return None
    # The preference may be a bare bucket name; the CLI value must be s3://.
    bucket, prefix = parse_bucket_spec(spec if "://" in spec or _text(bucket_spec) else f"s3://{spec}")
    location = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"

    def pick(from_env: str, from_prefs: str) -> str:
        return (from_env or from_prefs) if prefer_env else (from_prefs or from_env)

    endpoint = pick(_text(env.get("AWS_ENDPOINT_URL_S3")) or _text(env.get("AWS_ENDPOINT_URL")),
                    _text(prefs.get("endpoint")))
    region = pick(_text(env.get("AWS_REGION")) or _text(env.get("AWS_DEFAULT_REGION")),
                  _text(prefs.get("region"))) or DEFAULT_REGION

    env_keys = ("environment", _text(env.get("AWS_ACCESS_KEY_ID")), _text(env.get("AWS_SECRET_ACCESS_KEY")),
                _text(env.get("AWS_SESSION_TOKEN")))
    pref_keys = ("preferences", _text(prefs.get("access_key_id")), _text(prefs.get("secret_access_key")), "")
    sources = (env_keys, pref_keys) if prefer_env else (pref_keys, env_keys)
    chosen = next((s for s in sources if s[1] or s[2]), None)
    if chosen is None:
        raise E.StorageConfigError(f"No storage credentials for {location}: {_CREDENTIALS_HELP}.")
    where, key_id, secret, token = chosen
    if not (key_id and secret):
        missing = "secret access key" if key_id else "access key id"
        raise E.StorageConfigError(
            f"The storage credentials for {location} in the {where} lack the {missing}: {_CREDENTIALS_HELP}.")

    return StorageConfig(
        bucket=bucket, prefix=prefix, endpoint=endpoint, region=region,
        access_key_id=key_id, secret_access_key=secret, session_token=token,
        url_lifetime=_lifetime_seconds(prefs.get("url_lifetime_hours"), location),
        delete_after=True if prefs.get("delete_after") is None else bool(prefs.get("delete_after")),
    )


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def _clean_prefix(prefix: str) -> str:
    """No leading, trailing or doubled slashes: keys are ``prefix/name``."""
    return "/".join(part for part in (prefix or "").split("/") if part)


def _lifetime_seconds(hours, location: str) -> int:
    if hours is None or hours == "" or hours == 0:
        return DEFAULT_URL_LIFETIME
    try:
        value = float(hours)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or not 0 < value * 3600 <= MAX_EXPIRES:
        raise E.StorageConfigError(
            f"The link lifetime for {location} must be more than 0 and at most 168 hours (7 days), not {hours!r}.")
    return max(1, round(value * 3600))


def _check_endpoint(endpoint: str, location: str) -> str:
    if not endpoint:
        return ""
    parts = urlsplit(endpoint)
    if parts.username or parts.password or parts.query or parts.fragment:
        raise E.StorageConfigError(
            f"The storage endpoint for {location} must be a plain address like https://host:port, "
            "without a user name, password or query; put the keys in their own fields.")
    try:
        # The one rule of the add-on: https, or plain http only on loopback
        # (a local MinIO or SeaweedFS), so keys and images cannot be read on the way.
        return check_url(endpoint, "storage endpoint")
    except E.InsecureUrl:
        pass
    if parts.scheme == "http":
        raise E.StorageConfigError(
            f"Refused the storage endpoint {shorten(endpoint)} for {location} because it is plain http; "
            "use https (plain http only for this computer's own address).")
    raise E.StorageConfigError(
        f"The storage endpoint {shorten(endpoint)} for {location} is not an http(s) address like https://host.")
