"""The storage route against a real S3 server (SeaweedFS on loopback), plus a
scripted local server for the answers SeaweedFS never gives."""

from __future__ import annotations

import dataclasses
import re
import time

import pytest
import requests
from s3server import READER_KEY, READER_SECRET, ScriptedS3

from tripo_addon.core import errors as E
from tripo_addon.core.storage import client as storage_mod
from tripo_addon.core.storage.client import MAX_UPLOAD_BYTES, S3Storage, test_storage
from tripo_addon.core.storage.config import StorageConfig, parse_bucket_spec, storage_config_from

SECRET = "sEcReT/value+that=must-never-show"


@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(storage_mod, "BACKOFF", (0.01, 0.01))


@pytest.fixture
def store_for():
    """``store_for(config, **kw)``: an S3Storage, closed afterwards."""
    made = []

    def make(config, **kw):
        made.append(S3Storage(config, connect_timeout=3, read_timeout=10, **kw))
        return made[-1]

    yield make
    for s in made:
        s.close()


def assert_clean(exc: Exception, *secrets: str) -> None:
    """One sentence for the user, naming the bucket, without any secret."""
    text = f"{exc} {exc!r} {getattr(exc, 'message', '')}"
    for secret in secrets:
        assert secret not in text
    assert "s3://" in str(exc)


def scripted_config(server: ScriptedS3, **kw) -> StorageConfig:
    return StorageConfig(bucket="scripted", prefix="in", endpoint=server.endpoint, access_key_id="AKIDSCRIPTED",
                         secret_access_key=SECRET, **kw)


# --- the happy path on the real server ----------------------------------------------

def test_round_trip_put_presign_anonymous_get_delete(seaweed, s3_bucket, store_for):
    config = dataclasses.replace(s3_bucket, prefix="/uploads//2024/")
    store = store_for(config)
    key = store.new_key(".png")
    assert re.fullmatch(r"uploads/2024/[0-9a-f]{32}\.png", key)
    data = bytes(range(256)) * 400
    store.put(key, data, "image/png")
    assert seaweed.list_keys(s3_bucket.bucket) == [key]
    link = store.presign_get(key)
    assert f"X-Amz-Expires={s3_bucket.url_lifetime}" in link
    store.check_readable(link)
    got = requests.get(link, timeout=10)  # no credentials: as the gateway fetches it
    assert got.status_code == 200 and got.content == data
    assert got.headers["Content-Type"] == "image/png"
    store.delete(key)
    assert seaweed.list_keys(s3_bucket.bucket) == []
    store.delete(key)  # already gone: still done
    assert requests.get(link, timeout=10).status_code == 404


@pytest.mark.parametrize("key", ["dir/with space+plus=eq~tilde.png", "unicodé/日本語.png", "a;b,c!'()*@$.png"])
def test_odd_keys_round_trip(seaweed, s3_bucket, store_for, key):
    store = store_for(s3_bucket)
    store.put(key, b"odd key", "text/plain")
    assert seaweed.list_keys(s3_bucket.bucket) == [key]
    assert requests.get(store.presign_get(key, 60), timeout=10).content == b"odd key"
    store.delete(key)
    assert seaweed.list_keys(s3_bucket.bucket) == []


def test_progress_reaches_the_full_size(s3_bucket, store_for):
    calls = []
    data = b"p" * 200_000
    store_for(s3_bucket).put("progress.bin", data, "application/octet-stream",
                             progress=lambda sent, total: calls.append((sent, total)))
    assert calls[0] == (0, len(data)) and calls[-1] == (len(data), len(data))
    assert len(calls) > 3, "the body should be reported in blocks as it is sent"
    sent = [s for s, _ in calls]
    assert sent == sorted(sent) and {t for _, t in calls} == {len(data)}


def test_new_key_without_prefix_and_odd_extensions(s3_bucket, store_for):
    store = store_for(s3_bucket)
    assert re.fullmatch(r"[0-9a-f]{32}\.jpg", store.new_key("JPG"))
    assert re.fullmatch(r"[0-9a-f]{32}", store.new_key(""))
    assert re.fullmatch(r"[0-9a-f]{32}\.webp", store.new_key("./we/bp"))
    assert len({store.new_key(".png") for _ in range(50)}) == 50


def test_storage_test_succeeds_and_leaves_nothing(seaweed, s3_bucket):
    ok, message = test_storage(dataclasses.replace(s3_bucket, prefix="check"))
    assert ok, message
    assert message.startswith("Storage works: uploaded, fetched through a presigned link and deleted")
    assert f"s3://{s3_bucket.bucket}/check" in message
    assert seaweed.list_keys(s3_bucket.bucket) == []


# --- what the real server refuses ----------------------------------------------------------

def test_wrong_secret_is_an_auth_error(s3_bucket, store_for):
    bad = dataclasses.replace(s3_bucket, secret_access_key=SECRET)
    with pytest.raises(E.StorageAuthError) as info:
        store_for(bad).put("k.png", b"x", "image/png")
    assert info.value.kind == "storage_auth" and info.value.code == "SignatureDoesNotMatch"
    assert "access key id or secret was refused" in str(info.value)
    assert_clean(info.value, SECRET, s3_bucket.secret_access_key)


def test_unknown_key_id_is_an_auth_error(s3_bucket, store_for):
    bad = dataclasses.replace(s3_bucket, access_key_id="AKIDNOBODYHAS", secret_access_key=SECRET)
    with pytest.raises(E.StorageAuthError) as info:
        store_for(bad).delete("k.png")
    assert info.value.code == "InvalidAccessKeyId"
    assert_clean(info.value, SECRET)


def test_reader_identity_is_denied_put_and_delete(seaweed, s3_bucket, store_for):
    reader = store_for(dataclasses.replace(s3_bucket, access_key_id=READER_KEY, secret_access_key=READER_SECRET))
    with pytest.raises(E.StorageDenied) as info:
        reader.put("k.png", b"x", "image/png")
    assert info.value.kind == "storage_denied" and "denied the upload" in str(info.value)
    assert_clean(info.value, READER_SECRET)
    store_for(s3_bucket).put("k.png", b"x", "image/png")
    with pytest.raises(E.StorageDenied, match="denied the delete"):
        reader.delete("k.png")
    assert seaweed.list_keys(s3_bucket.bucket) == ["k.png"]


def test_missing_bucket(seaweed, s3_bucket, store_for):
    """SeaweedFS creates a bucket on an admin's PUT (real S3 answers NoSuchBucket,
    see the scripted test); a DELETE there counts as done, and a link is unreadable."""
    gone = store_for(dataclasses.replace(s3_bucket, bucket="no-such-bucket-here"))
    gone.delete("k.png")
    with pytest.raises(E.StorageUrlUnreadable, match=r"HTTP 404, NoSuchBucket"):
        gone.check_readable(gone.presign_get("k.png", 60))


def test_tampered_expired_and_unsigned_links_are_refused(s3_bucket, store_for):
    store = store_for(s3_bucket)
    store.put("k.png", b"secret picture", "image/png")
    link = store.presign_get("k.png", 60)
    tampered = link.replace("X-Amz-Expires=60", "X-Amz-Expires=6000")
    with pytest.raises(E.StorageUrlUnreadable) as info:
        store.check_readable(tampered)
    assert info.value.status_code == 403 and info.value.kind == "storage_url_unreadable"
    assert "took the upload but the presigned link could not be read back (HTTP 403" in str(info.value)
    unsigned = s3_bucket.object_url("k.png")
    assert requests.get(unsigned, timeout=10).status_code == 403
    with pytest.raises(E.StorageUrlUnreadable):
        store.check_readable(unsigned)
    short = store.presign_get("k.png", 1)
    store.check_readable(short)
    time.sleep(2.5)
    with pytest.raises(E.StorageUrlUnreadable, match="HTTP 403"):
        store.check_readable(short)


@pytest.mark.parametrize("offset", [3600, -3600])
def test_clock_off_by_an_hour_is_clock_skew(s3_bucket, store_for, offset):
    """SeaweedFS checks X-Amz-Date and answers RequestTimeTooSkewed, as S3 does."""
    store = store_for(s3_bucket, clock=lambda: time.time() + offset)
    with pytest.raises(E.StorageClockSkew) as info:
        store.put("k.png", b"x", "image/png")
    assert info.value.kind == "storage_clock_skew"
    assert "this computer's clock is off by more than 15 minutes; set it right" in str(info.value)


def test_clock_a_few_minutes_off_still_works(s3_bucket, store_for):
    store_for(s3_bucket, clock=lambda: time.time() - 300).put("k.png", b"x", "image/png")


def test_unreachable_endpoints(s3_bucket, store_for, closed_port, fast_backoff):
    down = store_for(dataclasses.replace(s3_bucket, endpoint=f"http://127.0.0.1:{closed_port}"))
    with pytest.raises(E.StorageUnreachable) as info:
        down.put("k.png", b"x", "image/png")
    assert info.value.kind == "storage_unreachable" and "connection was refused" in str(info.value)
    with pytest.raises(E.StorageUnreachable):
        down.check_readable(down.presign_get("k.png"))
    nowhere = store_for(dataclasses.replace(s3_bucket, endpoint="https://storage.nonexistent.invalid"))
    with pytest.raises(E.StorageUnreachable) as info:
        nowhere.delete("k.png")
    assert_clean(info.value, s3_bucket.secret_access_key)


def test_too_large_is_refused_before_any_request(seaweed, s3_bucket, store_for):
    with ScriptedS3() as server:
        with pytest.raises(E.StorageTooLarge) as info:
            store_for(scripted_config(server)).put("k.png", b"x" * (MAX_UPLOAD_BYTES + 1), "image/png")
        assert server.requests == []
    assert info.value.kind == "storage_too_large" and "8 MB" in str(info.value)
    with pytest.raises(E.StorageTooLarge):
        store_for(s3_bucket).put("big.png", b"x" * (MAX_UPLOAD_BYTES + 1), "image/png")
    assert seaweed.list_keys(s3_bucket.bucket) == []
    store_for(s3_bucket).put("edge.png", b"x" * MAX_UPLOAD_BYTES, "image/png")  # the cap itself is allowed
    assert seaweed.list_keys(s3_bucket.bucket) == ["edge.png"]


@pytest.mark.parametrize("endpoint", ["http://example.com", "http://192.168.1.20:9000", "ftp://127.0.0.1",
                                      "https://user:pw@minio.example.com", "s3.example.com"])
def test_bad_endpoints_are_refused_before_any_request(endpoint):
    with pytest.raises(E.StorageConfigError) as info:
        StorageConfig(bucket="bkt", endpoint=endpoint, access_key_id="AKID", secret_access_key=SECRET)
    assert info.value.kind == "storage_config"
    assert "user:pw" not in str(info.value)


def test_storage_test_names_the_failing_step(seaweed, s3_bucket):
    ok, message = test_storage(dataclasses.replace(s3_bucket, secret_access_key=SECRET))
    assert not ok and message.startswith("Upload failed: The storage access key id or secret was refused")
    assert SECRET not in message
    # The link is signed 10 s in the past with a 1 s lifetime: the server refuses it.
    calls = []
    late = dataclasses.replace(s3_bucket, url_lifetime=1)
    ok, message = test_storage(late, clock=lambda: calls.append(1) or time.time() - (10 if len(calls) > 1 else 0))
    assert not ok and message.startswith("Fetch failed: The bucket s3://"), message
    assert "(HTTP 403" in message
    assert seaweed.list_keys(s3_bucket.bucket) == []  # the test object was still deleted


def test_storage_test_failing_delete_is_reported():
    with ScriptedS3({"DELETE": [(403, "AccessDenied", "Access Denied", {})]}) as server:
        ok, message = test_storage(scripted_config(server))
    assert not ok and message.startswith("Delete failed: The storage at s3://scripted/in denied the delete")
    assert server.methods() == ["PUT", "GET", "DELETE"]


# --- answers only the scripted server gives ----------------------------------------------

@pytest.mark.parametrize("status,code,kind", [
    (404, "NoSuchBucket", "storage_no_bucket"),
    (400, "EntityTooLarge", "storage_too_large"),
    (413, "", "storage_too_large"),
    (403, "RequestTimeTooSkewed", "storage_clock_skew"),
    (403, "", "storage_denied"),
    (403, "AccessDenied", "storage_denied"),
    (400, "ExpiredToken", "storage_auth"),
    (400, "InvalidArgument", "storage"),
])
def test_error_codes_map_to_kinds(store_for, status, code, kind):
    with ScriptedS3({"PUT": [(status, code, f"server text with {SECRET}", {})]}) as server:
        with pytest.raises(E.StorageError) as info:
            store_for(scripted_config(server)).put("k.png", b"x", "image/png")
        assert server.methods() == ["PUT"]  # 4xx: not retried
    assert info.value.kind == kind and info.value.status_code == status
    assert_clean(info.value, SECRET)


def test_slow_down_and_5xx_are_retried_then_given_up(store_for, fast_backoff):
    with ScriptedS3({"PUT": [(503, "SlowDown", "Please reduce your request rate.", {}), (500, "", "", {}),
                             (200, "", "", {})]}) as server:
        store_for(scripted_config(server)).put("k.png", b"payload", "image/png")
        assert server.methods() == ["PUT"] * 3
        assert [r["body"] for r in server.requests] == [b"payload"] * 3
        assert all(r["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 ") for r in server.requests)
    with ScriptedS3({"DELETE": [(503, "SlowDown", "Please reduce your request rate.", {})]}) as server:
        with pytest.raises(E.StorageError) as info:
            store_for(scripted_config(server)).delete("k.png")
        assert server.methods() == ["DELETE"] * 3
    assert info.value.retryable and "SlowDown" in str(info.value)


def test_a_stop_request_ends_the_retries(store_for):
    import threading

    stop = threading.Event()
    with ScriptedS3({"PUT": [(503, "SlowDown", "", {})]}) as server:
        store = store_for(scripted_config(server), stop=stop)
        threading.Timer(0.2, stop.set).start()
        started = time.monotonic()
        with pytest.raises(E.Stopped):
            store.put("k.png", b"x", "image/png")
        assert time.monotonic() - started < 1.0 and server.methods() == ["PUT"]


def test_redirects_are_never_followed(store_for):
    with ScriptedS3() as elsewhere, ScriptedS3({"PUT": [(301, "PermanentRedirect", "Use the other endpoint", {
            "Location": elsewhere.endpoint + "/x", "x-amz-bucket-region": "eu-central-1"})]}) as server:
        with pytest.raises(E.StorageConfigError, match="set the region to eu-central-1"):
            store_for(scripted_config(server)).put("k.png", b"x", "image/png")
        assert elsewhere.requests == []


def test_requests_carry_the_signature_and_the_link_check_carries_none(store_for, tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-password\n")
    monkeypatch.setenv("NETRC", str(netrc))  # a .netrc login must never be sent
    with ScriptedS3() as server:
        store = store_for(scripted_config(server, session_token="session-token-value"))
        store.put("in/k.png", b"abc", "image/png")
        store.check_readable(store.presign_get("in/k.png"))
        put, get = server.requests
    assert put["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDSCRIPTED/")
    assert put["headers"]["Content-Length"] == "3" and put["headers"]["Content-Type"] == "image/png"
    assert put["headers"]["X-Amz-Security-Token"] == "session-token-value"
    assert put["path"] == "/scripted/in/k.png"
    assert "Authorization" not in get["headers"] and get["headers"]["Range"] == "bytes=0-0"
    assert "X-Amz-Signature=" in get["path"] and "X-Amz-Security-Token=session-token-value" in get["path"]


def test_secrets_are_not_in_repr():
    config = StorageConfig(bucket="bkt", access_key_id="AKID", secret_access_key=SECRET, session_token="TOKENVALUE")
    assert SECRET not in repr(config) and "TOKENVALUE" not in repr(config)
    assert "AKID" in repr(config) and config.location == "s3://bkt"


# --- configuration --------------------------------------------------------------------------

@pytest.mark.parametrize("spec,expected", [
    ("s3://bucket", ("bucket", "")), ("s3://bucket/", ("bucket", "")),
    ("s3://my.bucket-1/some/prefix/", ("my.bucket-1", "some/prefix")), (" s3://abc//a//b ", ("abc", "a/b")),
])
def test_parse_bucket_spec(spec, expected):
    assert parse_bucket_spec(spec) == expected


@pytest.mark.parametrize("spec", ["bucket", "http://bucket/x", "s3://", "s3:///prefix", "s3://ab", "s3://Bucket",
                                  "s3://under_score", "s3://-dash", "s3://a..b", "s3://192.168.1.1", "s3://" + "a" * 64])
def test_bad_bucket_specs(spec):
    with pytest.raises(E.StorageConfigError) as info:
        parse_bucket_spec(spec)
    assert info.value.kind == "storage_config"
    assert "s3://BUCKET" in str(info.value) or "not a valid bucket name" in str(info.value)


ENV = {"AWS_ENDPOINT_URL": "https://generic.example.com", "AWS_ENDPOINT_URL_S3": "https://s3-only.example.com",
       "AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": "ENVSECRET", "AWS_SESSION_TOKEN": "ENVTOKEN",
       "AWS_REGION": "eu-west-3", "AWS_DEFAULT_REGION": "eu-north-1"}
PREFS = {"bucket": "s3://prefs-bucket/p", "endpoint": "https://prefs.example.com", "region": "auto",
         "access_key_id": "PREFKEY", "secret_access_key": "PREFSECRET", "url_lifetime_hours": 2.5,
         "delete_after": False}


def test_environment_wins_for_the_cli():
    c = storage_config_from("s3://cli-bucket/x", PREFS, ENV, prefer_env=True)
    assert (c.bucket, c.prefix, c.endpoint, c.region) == ("cli-bucket", "x", "https://s3-only.example.com", "eu-west-3")
    assert (c.access_key_id, c.secret_access_key, c.session_token) == ("ENVKEY", "ENVSECRET", "ENVTOKEN")
    assert (c.url_lifetime, c.delete_after) == (9000, False)


def test_preferences_win_for_the_ui():
    c = storage_config_from("", PREFS, ENV, prefer_env=False)
    assert (c.bucket, c.prefix, c.endpoint, c.region) == ("prefs-bucket", "p", "https://prefs.example.com", "auto")
    assert (c.access_key_id, c.secret_access_key, c.session_token) == ("PREFKEY", "PREFSECRET", "")


@pytest.mark.parametrize("prefer_env", [True, False])
def test_the_other_source_fills_the_gaps(prefer_env):
    env = {"AWS_ENDPOINT_URL": "https://generic.example.com", "AWS_DEFAULT_REGION": "eu-north-1",
           "AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": "ENVSECRET"}
    c = storage_config_from("", {"bucket": "bare-bucket", "endpoint": " ", "region": ""}, env, prefer_env=prefer_env)
    assert (c.bucket, c.endpoint, c.region, c.access_key_id) == ("bare-bucket", "https://generic.example.com",
                                                                 "eu-north-1", "ENVKEY")
    assert (c.url_lifetime, c.delete_after) == (3600, True)
    c = storage_config_from("", PREFS, {}, prefer_env=prefer_env)
    assert (c.endpoint, c.region, c.access_key_id) == ("https://prefs.example.com", "auto", "PREFKEY")
    c = storage_config_from("s3://b-c-d", {}, {"AWS_ACCESS_KEY_ID": "K", "AWS_SECRET_ACCESS_KEY": "S"},
                            prefer_env=prefer_env)
    assert (c.endpoint, c.region) == ("", "us-east-1")
    assert c.object_url("k") == "https://b-c-d.s3.us-east-1.amazonaws.com/k"


def test_no_bucket_anywhere_is_none():
    assert storage_config_from("", {}, ENV, prefer_env=True) is None
    assert storage_config_from("  ", {"bucket": ""}, ENV, prefer_env=False) is None


@pytest.mark.parametrize("prefer_env", [True, False])
@pytest.mark.parametrize("prefs,env,missing", [
    ({}, {}, "AWS_ACCESS_KEY_ID"),
    ({"access_key_id": "PREFKEY"}, {}, "secret access key"),
    ({}, {"AWS_SECRET_ACCESS_KEY": "ENVSECRET"}, "access key id"),
])
def test_missing_credentials_name_both_places(prefs, env, missing, prefer_env):
    with pytest.raises(E.StorageConfigError) as info:
        storage_config_from("s3://bkt", prefs, env, prefer_env=prefer_env)
    text = str(info.value)
    assert missing in text and "s3://bkt" in text
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "Access Key ID", "Secret Access Key"):
        assert name in text
    assert "ENVSECRET" not in text


@pytest.mark.parametrize("hours", [-1, 169, float("nan"), "soon"])
def test_bad_lifetimes_are_refused(hours):
    with pytest.raises(E.StorageConfigError, match="lifetime"):
        storage_config_from("s3://bkt", {"url_lifetime_hours": hours}, ENV, prefer_env=True)


def test_aws_addressing():
    base = dict(access_key_id="K", secret_access_key="S", region="eu-west-1")
    assert StorageConfig(bucket="plain", **base).object_url("a b.png") == \
        "https://plain.s3.eu-west-1.amazonaws.com/a%20b.png"
    assert StorageConfig(bucket="dot.ted", **base).object_url("k") == "https://s3.eu-west-1.amazonaws.com/dot.ted/k"
    assert StorageConfig(bucket="plain", endpoint="https://r2.example.com/", **base).object_url("k") == \
        "https://r2.example.com/plain/k"
