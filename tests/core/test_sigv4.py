"""The project's own SigV4 signer against botocore, byte for byte.

botocore is a dev dependency only (the add-on never imports it). Its clock is
frozen by replacing ``botocore.auth.get_current_datetime``; ours takes ``now``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools

import botocore.auth
import botocore.session
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from tripo_addon.core.storage import sigv4
from tripo_addon.core.storage.sigv4 import EMPTY_SHA256, presign_url, sign_headers
from tripo_addon.core.storage.client import S3Storage
from tripo_addon.core.storage.config import StorageConfig

UTC = dt.timezone.utc
KEY_ID = "AKIDEXAMPLE0123"
SECRET = "wJalr/XUtn+FEMI/K7MDENG=bPxRfiCY"
TOKEN = "FwoGZXIvYXdzE+/token=with/slashes+plus"

KEYS = [
    "plain.png",
    "with space.png",
    "unicodé/日本語 ファイル.png",
    "a+b=c&d?e#f.png",
    "tilde~x/semi;colon,comma.jpg",
    "100%.png",
    "percent%2Falready-encoded-looking.png",
    "dir//double/./dot/../key",
    "!'()*@$:[]{}^|`\"<>\\.webp",
]
ENDPOINTS = [
    "",  # AWS S3 itself: virtual-hosted, or path-style for dotted bucket names
    "http://127.0.0.1:8333",
    "http://localhost:80",
    "https://minio.example.com:9000",
    "https://s3.example.com:443",
    "https://0123abcd.r2.cloudflarestorage.com",
    "https://s3.us-west-002.backblazeb2.com",
    "http://[::1]:9000",
]
REGIONS = ["us-east-1", "eu-west-1", "auto", "ap-southeast-2", "us-west-002"]
PREFIXES = ["", "uploads/2024", "deep/a b/é"]
BUCKETS = ["my-bucket", "my.dotted.bucket", "b12"]
TIMES = [
    dt.datetime(2013, 5, 24, 0, 0, 0, tzinfo=UTC),
    dt.datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC),  # the day in the scope is the UTC day
    dt.datetime(2024, 2, 29, 12, 30, 1, tzinfo=UTC),
    dt.datetime(2031, 7, 4, 8, 9, 10, tzinfo=UTC),
]
EXPIRIES = [1, 60, 3600, 86400, 604800]


def _cases(count: int):
    """A deterministic spread over the inputs (the full product is needlessly large)."""
    tables = [KEYS, ENDPOINTS, REGIONS, PREFIXES, BUCKETS, TIMES, EXPIRIES, ["", TOKEN]]
    out = []
    for i in range(count):
        out.append(tuple(table[(i * (3 + n) + i // len(table)) % len(table)] for n, table in enumerate(tables)))
    # And every key with every endpoint at least once.
    for i, (key, endpoint) in enumerate(itertools.product(KEYS, ENDPOINTS)):
        out.append((key, endpoint, REGIONS[i % len(REGIONS)], PREFIXES[i % 3], BUCKETS[i % 3],
                    TIMES[i % len(TIMES)], EXPIRIES[i % len(EXPIRIES)], ["", TOKEN][i % 2]))
    return out


CASES = _cases(60)


def _freeze_botocore(monkeypatch, moment: dt.datetime) -> None:
    naive = moment.astimezone(UTC).replace(tzinfo=None)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: naive)


def _config(key_id=KEY_ID, secret=SECRET, token="", **kw) -> StorageConfig:
    return StorageConfig(access_key_id=key_id, secret_access_key=secret, session_token=token, **kw)


def _object_url(bucket, prefix, endpoint, region, key) -> str:
    cfg = _config(bucket=bucket, prefix=prefix, endpoint=endpoint, region=region)
    return cfg.object_url(f"{cfg.prefix}/{key}" if cfg.prefix else key)


def _botocore_presign(url, region, token, expires, method="GET") -> str:
    request = AWSRequest(method=method, url=url)
    creds = Credentials(KEY_ID, SECRET, token or None)
    botocore.auth.S3SigV4QueryAuth(creds, "s3", region, expires=expires).add_auth(request)
    return request.url


@pytest.mark.parametrize("key,endpoint,region,prefix,bucket,moment,expires,token", CASES)
def test_presigned_url_is_byte_identical_to_botocore(monkeypatch, key, endpoint, region, prefix, bucket, moment,
                                                      expires, token):
    _freeze_botocore(monkeypatch, moment)
    url = _object_url(bucket, prefix, endpoint, region, key)
    ours = presign_url("GET", url, region=region, access_key_id=KEY_ID, secret_access_key=SECRET,
                       session_token=token, expires=expires, now=moment)
    assert ours == _botocore_presign(url, region, token, expires)


@pytest.mark.parametrize("moment", [TIMES[1], TIMES[1].timestamp(), TIMES[1].replace(tzinfo=None),
                                    TIMES[1].astimezone(dt.timezone(dt.timedelta(hours=-5)))])
def test_now_may_be_aware_naive_utc_or_epoch(monkeypatch, moment):
    _freeze_botocore(monkeypatch, TIMES[1])
    url = "https://minio.example.com:9000/b12/k.png"
    ours = presign_url("GET", url, region="auto", access_key_id=KEY_ID, secret_access_key=SECRET, expires=60,
                       now=moment)
    assert ours == _botocore_presign(url, "auto", "", 60)
    assert "X-Amz-Date=20231231T235959Z" in ours


def test_presign_keeps_existing_query_parameters(monkeypatch):
    _freeze_botocore(monkeypatch, TIMES[2])
    url = "https://s3.example.com/bkt/a%20b.png?response-content-type=image%2Fpng&versionId=v+1&x-id=GetObject"
    ours = presign_url("GET", url, region="eu-west-1", access_key_id=KEY_ID, secret_access_key=SECRET,
                       session_token=TOKEN, expires=900, now=TIMES[2])
    assert ours == _botocore_presign(url, "eu-west-1", TOKEN, 900)


@pytest.mark.parametrize("region,endpoint,bucket", [
    ("us-east-1", "", "my-bucket"),
    ("eu-west-1", "", "my-bucket"),
    ("eu-west-1", "", "my.dotted.bucket"),
    ("auto", "https://0123abcd.r2.cloudflarestorage.com", "my-bucket"),
    ("us-east-1", "http://127.0.0.1:8333", "b12"),
    ("us-west-002", "https://s3.us-west-002.backblazeb2.com", "my.dotted.bucket"),
])
@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("token", ["", TOKEN])
def test_storage_links_match_a_botocore_client(monkeypatch, region, endpoint, bucket, key, token):
    """The storage's own URL building (addressing style, key encoding) against
    what a botocore S3 client generates for the same bucket and key."""
    moment = TIMES[3]
    _freeze_botocore(monkeypatch, moment)
    style = "virtual" if not endpoint and "." not in bucket else "path"
    client = botocore.session.Session().create_client(
        "s3", region_name=region, endpoint_url=endpoint or None, aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET, aws_session_token=token or None,
        config=Config(signature_version="s3v4",
                      s3={"addressing_style": style, "us_east_1_regional_endpoint": "regional"}))
    expected = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=777)
    store = S3Storage(_config(bucket=bucket, endpoint=endpoint, region=region, token=token),
                      clock=moment.timestamp)
    try:
        assert store.presign_get(key, 777) == expected
    finally:
        store.close()


@pytest.mark.parametrize("key,endpoint,region,prefix,bucket,moment,expires,token", CASES[::3])
@pytest.mark.parametrize("method,body,headers", [
    ("PUT", b"\x89PNG\r\n\x1a\n binary body", {"Content-Type": "image/png"}),
    ("PUT", b"", {"Content-Type": "application/octet-stream", "x-amz-meta-note": "  two   spaces  here "}),
    ("DELETE", b"", {}),
    ("GET", b"", {"Range": "bytes=0-0"}),
])
def test_header_signature_is_byte_identical_to_botocore(monkeypatch, key, endpoint, region, prefix, bucket, moment,
                                                        expires, token, method, body, headers):
    _freeze_botocore(monkeypatch, moment)
    url = _object_url(bucket, prefix, endpoint, region, key)
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    botocore.auth.S3SigV4Auth(Credentials(KEY_ID, SECRET, token or None), "s3", region).add_auth(request)
    ours = sign_headers(method, url, dict(headers), hashlib.sha256(body).hexdigest(), region=region,
                        access_key_id=KEY_ID, secret_access_key=SECRET, session_token=token, now=moment)
    theirs = dict(request.headers.items())
    assert ours["Authorization"] == theirs["Authorization"]
    for name in ("X-Amz-Date", "X-Amz-Content-SHA256"):
        assert ours[name] == theirs[name]
    assert ours.get("X-Amz-Security-Token") == theirs.get("X-Amz-Security-Token")
    assert set(ours) == set(theirs)


def test_aws_documentation_examples():
    """Known answers from the S3 SigV4 documentation (no botocore involved)."""
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    moment = dt.datetime(2013, 5, 24, tzinfo=UTC)
    url = presign_url("GET", "https://examplebucket.s3.amazonaws.com/test.txt", region="us-east-1",
                      access_key_id="AKIAIOSFODNN7EXAMPLE", secret_access_key=secret, expires=86400, now=moment)
    assert url.endswith("X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
    headers = sign_headers("GET", "https://examplebucket.s3.amazonaws.com/test.txt", {"Range": "bytes=0-9"},
                           EMPTY_SHA256, region="us-east-1", access_key_id="AKIAIOSFODNN7EXAMPLE",
                           secret_access_key=secret, now=moment)
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")


def test_a_path_is_encoded_exactly_once():
    common = dict(region="us-east-1", access_key_id=KEY_ID, secret_access_key=SECRET, expires=60, now=TIMES[0])
    raw = presign_url("GET", "https://h.example/b/a b+é~.png", **common)
    encoded = presign_url("GET", "https://h.example/b/a%20b%2B%C3%A9~.png", **common)
    assert raw == encoded
    assert raw.startswith("https://h.example/b/a%20b%2B%C3%A9~.png?")
    assert "%25" not in raw.split("?")[0]


@pytest.mark.parametrize("expires", [0, -5, sigv4.MAX_EXPIRES + 1])
def test_expiry_outside_one_second_to_seven_days_is_refused(expires):
    with pytest.raises(ValueError):
        presign_url("GET", "https://h.example/b/k", region="us-east-1", access_key_id=KEY_ID,
                    secret_access_key=SECRET, expires=expires)


def test_stale_auth_headers_are_replaced_not_duplicated():
    first = sign_headers("PUT", "https://h.example/b/k", {"Content-Type": "image/png"}, EMPTY_SHA256,
                         region="us-east-1", access_key_id=KEY_ID, secret_access_key=SECRET, session_token=TOKEN,
                         now=TIMES[0])
    again = sign_headers("PUT", "https://h.example/b/k", first, EMPTY_SHA256, region="us-east-1",
                         access_key_id=KEY_ID, secret_access_key=SECRET, now=TIMES[1])
    assert "X-Amz-Security-Token" not in again
    assert again["X-Amz-Date"] == "20231231T235959Z"
    assert "x-amz-security-token" not in again["Authorization"]


def test_the_settings_limit_on_link_lifetime_is_the_signers():
    from tripo_addon.core.storage import sigv4, config as storage_config

    assert storage_config.MAX_EXPIRES == sigv4.MAX_EXPIRES == 7 * 24 * 3600
