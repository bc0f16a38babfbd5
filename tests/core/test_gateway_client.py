"""GatewayClient against the real local gateway simulator over HTTP."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from helpers import SIM_KEY, fast_retry

from tripo_addon.core import errors as E
from tripo_addon.core.net.gateway import GatewayClient, RetryPolicy
from tripo_addon.core.glb import check_glb_file

STATUS_ROUTE = "/v2/requests/status/"


def no_key(exc: BaseException, key: str = SIM_KEY) -> BaseException:
    """Assert the API key is nowhere in what a user could see of ``exc``."""
    for text in (str(exc), repr(exc), getattr(exc, "message", ""), *map(str, exc.args)):
        assert key not in text, f"the API key leaked into {type(exc).__name__}: {text}"
    assert str(exc).strip(), "an error must carry a message"
    return exc


@contextlib.contextmanager
def raises(exc_type, match=None, key: str = SIM_KEY):
    """pytest.raises that also checks the error's text never holds the API key."""
    with pytest.raises(exc_type, match=match) as info:
        yield info
    no_key(info.value, key)


def codes_of(client: GatewayClient) -> list[int]:
    """Record the HTTP status of every response the client's session receives."""
    seen: list[int] = []
    client.session.hooks["response"].append(lambda r, *a, **k: seen.append(r.status_code))
    return seen


def fault_count(sim, route: str, kind: str) -> int:
    return sim.stats()["faults_by_route"][route].get(kind, 0)


# =========================================================================== construction

@pytest.mark.parametrize("key", [None, "", "   "])
def test_no_key(sim, key):
    with raises(E.NoApiKey, match="No Pixazo API key"):
        GatewayClient(key, sim.url)


@pytest.mark.parametrize("base", ["http://gateway.pixazo.ai", "http://10.0.0.7:8080", "http://example.com/"])
def test_plain_http_to_remote_host_refused(base):
    with raises(E.InsecureUrl, match="plain http") as e:
        GatewayClient(SIM_KEY, base)
    no_key(e.value)


@pytest.mark.parametrize("base", ["ftp://gateway.pixazo.ai", "gateway.pixazo.ai", "https://"])
def test_non_http_base_refused(base):
    with raises(E.InsecureUrl):
        GatewayClient(SIM_KEY, base)


@pytest.mark.parametrize("base,expected", [
    (None, "https://gateway.pixazo.ai"),
    ("", "https://gateway.pixazo.ai"),
    ("https://gateway.pixazo.ai/", "https://gateway.pixazo.ai"),
    ("http://localhost:8123/", "http://localhost:8123"),
    ("http://[::1]:8123", "http://[::1]:8123"),
])
def test_base_url_normalised(base, expected):
    c = GatewayClient(SIM_KEY, base)
    try:
        assert c.base_url == expected
    finally:
        c.close()


# =========================================================================== submit

def test_submit_ok(sim, client, prepared, params):
    codes = codes_of(client)
    res = client.submit(prepared.image_url, params)
    assert codes == [202]
    assert res.status == "QUEUED"
    assert res.request_id.startswith("tripo3d-v2-5-413_")
    assert res.polling_url == f"{sim.url}{STATUS_ROUTE}{res.request_id}"
    jobs = sim.jobs()
    assert [j["request_id"] for j in jobs] == [res.request_id]
    assert jobs[0]["params"] == params
    assert jobs[0]["image_bytes_len"] == len(base64.b64decode(prepared.image_url.split(",", 1)[1]))
    st = sim.stats()
    assert (st["submits"], st["submit_attempts"]) == (1, 1)


def test_submit_drops_empty_params(sim, client, prepared):
    client.submit(prepared.image_url, {"texture": "HD", "orientation": "", "texture_alignment": None})
    assert sim.jobs()[0]["params"] == {"texture": "HD"}


def test_submit_400_carries_server_text(sim, client):
    with raises(E.BadRequest) as e:
        client.submit("https://example.com/cat.png")
    msg = str(no_key(e.value))
    assert "could not fetch example.com" in msg  # the simulator's own words
    assert "invalid" in msg
    st = sim.stats()
    assert (st["submits"], st["submit_attempts"]) == (0, 1)


def test_submit_400_not_an_image(sim, client):
    bogus = "data:image/png;base64," + base64.b64encode(b"hello, not an image").decode()
    with raises(E.BadRequest, match="image_url could not be read"):
        client.submit(bogus)
    assert sim.stats()["submit_attempts"] == 1


def test_submit_401_wrong_key(sim, make_client, prepared):
    c = make_client("wrong-key-123456")
    with raises(E.AuthError, match="401") as e:
        c.submit(prepared.image_url)
    no_key(e.value, "wrong-key-123456")
    st = sim.stats()
    assert (st["submits"], st["submit_attempts"]) == (0, 1)


def test_submit_403_forbidden(sim, make_client, prepared):
    c = make_client("sim-forbidden")
    with raises(E.Forbidden, match="403") as e:
        c.submit(prepared.image_url)
    assert "not allowed to use this model" in str(no_key(e.value, "sim-forbidden"))
    assert sim.stats()["submit_attempts"] == 1


def test_submit_402_insufficient_balance(sim, make_client, prepared):
    c = make_client("sim-broke")
    with raises(E.InsufficientBalance, match="balance") as e:
        c.submit(prepared.image_url)
    no_key(e.value, "sim-broke")
    st = sim.stats()
    assert (st["submits"], st["submit_attempts"]) == (0, 1)


@pytest.mark.parametrize("fault", ["429", "503"])
def test_submit_retried_when_surely_not_queued(sim, client, prepared, fault):
    sim.configure(faults={"submit": [fault]})
    res = client.submit(prepared.image_url)
    assert res.request_id
    st = sim.stats()
    assert st["submits"] == 1
    assert st["submit_attempts"] == 2
    assert st["faults_by_route"]["submit"] == {fault: 1}
    assert client.counters["submits_sent"] == 2


def test_submit_429_then_success_within_budget(sim, client, prepared):
    sim.configure(faults={"submit": ["429"] * (client.retry.submit_attempts - 1)})
    client.submit(prepared.image_url)
    st = sim.stats()
    assert (st["submits"], st["submit_attempts"]) == (1, client.retry.submit_attempts)


def test_submit_429_storm_gives_rate_limited(sim, client, prepared):
    n = client.retry.submit_attempts
    sim.configure(faults={"submit": ["429"] * (n + 3)})
    with raises(E.RateLimited, match="429") as e:
        client.submit(prepared.image_url)
    no_key(e.value)
    st = sim.stats()
    assert st["submit_attempts"] == n
    assert st["submits"] == 0


@pytest.mark.parametrize("fault", ["500", "502"])
def test_submit_server_error_is_uncertain_and_not_retried(sim, client, prepared, fault):
    sim.configure(faults={"submit": [fault, fault]})
    with raises(E.SubmitUncertain, match="may have been submitted and charged") as e:
        client.submit(prepared.image_url)
    no_key(e.value)
    assert sim.stats()["submit_attempts"] == 1
    assert client.counters["submits_sent"] == 1


@pytest.mark.parametrize("fault,created", [("drop_before_queue", 0), ("drop_after_queue", 1)])
def test_submit_dropped_connection_is_uncertain_never_resent(sim, client, prepared, fault, created):
    sim.configure(faults={"submit": [fault]})
    with raises(E.SubmitUncertain, match="Check your Pixazo dashboard") as e:
        client.submit(prepared.image_url)
    no_key(e.value)
    time.sleep(0.1)  # nothing may arrive late either
    st = sim.stats()
    assert st["submit_attempts"] == 1
    assert st["submits"] == created


def test_submit_slow_after_queue_is_uncertain(sim, make_client, prepared):
    sim.configure(faults={"submit": ["slow_after_queue"]}, slow_seconds=1.5)
    c = make_client(read_timeout=0.5)
    t0 = time.monotonic()
    with raises(E.SubmitUncertain, match="did not answer in time") as e:
        c.submit(prepared.image_url)
    assert time.monotonic() - t0 < 1.4
    no_key(e.value)
    st = sim.stats()
    assert (st["submits"], st["submit_attempts"]) == (1, 1)


def test_submit_connection_refused_retried_then_network_error(closed_port, prepared):
    c = GatewayClient(SIM_KEY, f"http://127.0.0.1:{closed_port}", retry=fast_retry(), connect_timeout=1)
    try:
        with raises(E.NetworkError) as e:
            c.submit(prepared.image_url)
    finally:
        c.close()
    assert "Could not connect" in str(no_key(e.value))
    assert f"127.0.0.1:{closed_port}" in str(e.value)
    assert e.value.reached_server is False
    assert c.counters["submits_sent"] == c.retry.submit_attempts == 4


def test_submit_insecure_webhook_refused_before_sending(sim, client, prepared):
    with raises(E.InsecureUrl):
        client.submit(prepared.image_url, webhook_url="http://example.com/hook")
    assert sim.stats()["submit_attempts"] == 0


def test_submit_redirect_is_not_followed(other_origin, prepared):
    """A 3xx on submit must not resend the POST (and the key) elsewhere."""

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(307)
            self.send_header("Location", other_origin.url + "/steal")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    c = GatewayClient(SIM_KEY, f"http://127.0.0.1:{srv.server_address[1]}", retry=fast_retry())
    try:
        with raises(E.SubmitUncertain, match="redirected"):
            c.submit(prepared.image_url)
    finally:
        c.close()
        srv.shutdown()
        srv.server_close()
    assert other_origin.requests == []


# =========================================================================== status

@pytest.fixture
def rid(client, prepared, sim):
    """A freshly queued job (slow enough to stay pending during the test)."""
    sim.configure(queue_seconds=5, processing_seconds=5)
    return client.submit(prepared.image_url).request_id


def test_status_ok(sim, client, rid):
    st = client.status(rid)
    assert st.request_id == rid
    assert st.status == "QUEUED" and st.is_pending
    assert st.error is None and st.media_urls == ()
    assert sim.stats()["status_requests"] == 1


def test_status_completed_has_media(sim, client, finished_job):
    st = finished_job(client)
    assert st.status == "COMPLETED" and not st.is_pending
    assert len(st.media_urls) == 1 and st.media_urls[0].endswith("/output.glb")
    assert st.media_type == "model/glb"


@pytest.mark.parametrize("fault", ["500", "502", "503", "429", "drop", "garbage", "half_json"])
def test_status_fault_once_then_success(sim, client, rid, fault):
    sim.configure(faults={"status": [fault]})
    st = client.status(rid)
    assert st.request_id == rid and st.status == "QUEUED"
    assert sim.stats()["status_requests"] == 2
    assert fault_count(sim, "status", fault) == 1
    assert client.counters["retries"] == 1


def test_status_slow_then_success(sim, make_client, rid):
    c = make_client(read_timeout=0.5)
    sim.configure(faults={"status": ["slow"]}, slow_seconds=1.5)
    t0 = time.monotonic()
    st = c.status(rid)
    assert time.monotonic() - t0 < 1.4
    assert st.status == "QUEUED"
    assert fault_count(sim, "status", "slow") == 1
    assert c.counters["retries"] == 1


@pytest.mark.parametrize("fault", ["429", "503"])
def test_status_retry_after_honoured(sim, client, rid, fault):
    sim.configure(faults={"status": [fault]}, retry_after=0.15)
    client.status(rid)
    times = next(j for j in sim.jobs() if j["request_id"] == rid)["status_request_times"]
    assert len(times) == 2
    # fast_retry's own backoff is at most 0.02 s here, so only Retry-After explains the gap.
    assert times[1] - times[0] >= 0.15 - 0.005


def test_status_retry_after_is_capped(sim, client, rid):
    sim.configure(faults={"status": ["429"]}, retry_after=30)
    t0 = time.monotonic()
    client.status(rid)
    assert time.monotonic() - t0 < 1.5  # capped by max_retry_after (0.2 s), not 30 s


def test_status_unknown_status_is_pending(sim, client, rid):
    sim.configure(faults={"status": ["unknown_status"]})
    st = client.status(rid)
    assert st.status == "WEIRD"
    assert st.is_pending
    assert client.counters["retries"] == 0


@pytest.mark.parametrize("fault", ["503", "drop", "garbage"])
def test_status_faults_beyond_budget(sim, client, rid, fault):
    n = client.retry.attempts
    sim.configure(faults={"status": [fault] * (n + 2)})
    with raises(E.RetriesExhausted) as e:
        client.status(rid)
    msg = str(no_key(e.value))
    assert f"Gave up checking the job after {n} tries" in msg
    assert "can be resumed" in msg
    assert sim.stats()["status_requests"] == n


def test_status_unknown_request_is_not_found(sim, client):
    with raises(E.NotFound, match="404") as e:
        client.status("tripo3d-v2-5-413_00000000-0000-0000-0000-000000000000")
    no_key(e.value)
    assert sim.stats()["status_requests"] == 1  # not retried


def test_status_wrong_key(sim, make_client, rid):
    c = make_client("another-wrong-key")
    with raises(E.AuthError) as e:
        c.status(rid)
    no_key(e.value, "another-wrong-key")


def test_polling_url_on_same_origin_is_used(sim, client, prepared):
    res = client.submit(prepared.image_url)
    assert client.status_url(res.request_id, res.polling_url) == res.polling_url
    assert client.status(res.request_id, res.polling_url).request_id == res.request_id


def test_polling_url_on_other_origin_not_followed(sim, client, rid, other_origin):
    foreign = f"{other_origin.url}{STATUS_ROUTE}{rid}"
    assert client.status_url(rid, foreign) == f"{sim.url}{STATUS_ROUTE}{rid}"
    assert client.status_url(rid, f"https://evil.example{STATUS_ROUTE}{rid}") == f"{sim.url}{STATUS_ROUTE}{rid}"
    st = client.status(rid, foreign)
    assert st.request_id == rid
    assert other_origin.requests == []  # the key never went there
    assert sim.stats()["status_requests"] == 1


def test_netrc_credentials_are_not_sent(other_origin, tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login alice password s3cret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    c = GatewayClient(SIM_KEY, other_origin.url, retry=fast_retry())
    try:
        c.status("r1")
    finally:
        c.close()
    assert len(other_origin.requests) == 1
    headers = {k.lower(): v for k, v in other_origin.requests[0]["headers"].items()}
    assert "authorization" not in headers
    assert headers["ocp-apim-subscription-key"] == SIM_KEY


def test_status_url_request_id_cannot_escape_path(sim, client):
    url = client.status_url("../../_sim/reset?x=1#y")
    assert url.startswith(f"{sim.url}{STATUS_ROUTE}")
    tail = url[len(f"{sim.url}{STATUS_ROUTE}"):]
    assert "/" not in tail and "?" not in tail and "#" not in tail


# --- an echoing server: the key must be scrubbed from whatever the server says

class EchoServer:
    """Answers every request with ``code`` and a body that repeats the key it received."""

    def __init__(self, code: int, shape: str):
        outer = self
        self.code, self.shape = code, shape

        class H(BaseHTTPRequestHandler):
            def _any(self):
                if self.command == "POST":
                    self.rfile.read(int(self.headers.get("Content-Length") or 0))
                key = self.headers.get("Ocp-Apim-Subscription-Key", "")
                if outer.shape == "error":
                    body = {"error": f"Bad key {key}", "message": f"The key {key} is wrong"}
                else:  # a status answer whose error echoes the key
                    body = {"request_id": "r1", "status": "FAILED", "error": f"failed for {key}", "output": None}
                data = json.dumps(body).encode()
                self.send_response(outer.code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _any

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("code,exc", [(400, E.BadRequest), (403, E.Forbidden), (404, E.NotFound),
                                      (418, E.BadRequest)])
def test_server_echoing_the_key_is_scrubbed(code, exc, prepared):
    srv = EchoServer(code, "error")
    c = GatewayClient(SIM_KEY, srv.url, retry=fast_retry())
    try:
        with raises(exc) as e1:
            c.submit(prepared.image_url)
        with raises(exc) as e2:
            c.status("r1")
    finally:
        c.close()
        srv.close()
    for e in (e1, e2):
        no_key(e.value)
        assert "Bad key ***" in str(e.value) or code == 401


def test_status_error_echoing_the_key_is_scrubbed():
    srv = EchoServer(200, "status")
    c = GatewayClient(SIM_KEY, srv.url, retry=fast_retry())
    try:
        st = c.status("r1")
    finally:
        c.close()
        srv.close()
    assert st.status == "FAILED"
    assert SIM_KEY not in st.error and "***" in st.error


# =========================================================================== download

def clean_bytes(url: str) -> bytes:
    r = requests.get(url, timeout=10)
    r.raise_for_status()
    return r.content


@pytest.fixture
def outdir(tmp_path):
    d = tmp_path / "downloads"
    d.mkdir()
    return d


def completed(sim, client, finished_job, **config):
    sim.configure(**{"queue_seconds": 0.0, "processing_seconds": 0.0, **config})
    st = finished_job(client)
    assert st.status == "COMPLETED"
    return st


def test_download_glb(sim, client, finished_job, outdir, parts):
    st = completed(sim, client, finished_job)
    dest = str(outdir / "model.glb")
    seen = []
    got = client.download(st.media_urls, dest, media_type=st.media_type, progress=lambda r, t: seen.append((r, t)))
    assert got == dest
    assert check_glb_file(dest) is None
    size = os.path.getsize(dest)
    assert seen and seen[-1] == (size, size)
    assert parts(outdir) == []
    assert sorted(os.listdir(outdir)) == ["model.glb"]
    stats = sim.stats()
    assert (stats["downloads"], stats["downloads_completed"]) == (1, 1)
    with open(dest, "rb") as f:
        assert f.read() == clean_bytes(st.media_urls[0])


def test_download_not_glb(sim, client, finished_job, outdir, parts):
    st = completed(sim, client, finished_job, output_mode="not_glb")
    dest = str(outdir / "model.glb")
    with raises(E.NotAGlb, match="not a GLB") as e:
        client.download(st.media_urls, dest, media_type=st.media_type)
    no_key(e.value)
    assert not os.path.exists(dest)
    assert parts(outdir) == []


def test_download_multi_picks_glb_by_content(sim, client, finished_job, outdir, parts):
    st = completed(sim, client, finished_job, output_mode="multi")
    assert [u.rsplit("/", 1)[1] for u in st.media_urls] == ["preview.png", "model.bin"]
    dest = str(outdir / "model.glb")
    client.download(st.media_urls, dest, media_type=st.media_type)
    assert check_glb_file(dest) is None
    with open(dest, "rb") as f:
        assert f.read() == clean_bytes(st.media_urls[1])
    assert parts(outdir) == []
    assert os.listdir(outdir) == ["model.glb"]


def test_download_http_media_refused_before_any_request(sim, client, finished_job, outdir, parts):
    st = completed(sim, client, finished_job, output_mode="http_media")
    assert st.media_urls[0].startswith("http://")
    with raises(E.InsecureUrl, match="plain http") as e:
        client.download(st.media_urls, str(outdir / "model.glb"), media_type=st.media_type)
    no_key(e.value)
    assert sim.stats()["downloads"] == 0
    assert client.counters["download_requests"] == 0
    assert os.listdir(outdir) == []


def test_download_redirect_to_http_refused(sim, client, finished_job, outdir, parts):
    st = completed(sim, client, finished_job, output_mode="redirect_http")
    codes = codes_of(client)
    with raises(E.InsecureUrl, match="plain http"):
        client.download(st.media_urls, str(outdir / "model.glb"), media_type=st.media_type)
    assert codes == [302]
    assert sim.stats()["downloads"] == 1
    assert os.listdir(outdir) == []


def test_download_oversize_refused(sim, make_client, finished_job, outdir, parts):
    c = make_client(max_download_bytes=1_000_000)
    st = completed(sim, c, finished_job, output_mode="oversize", oversize_bytes=2_000_000)
    with raises(E.TooLarge, match="download limit") as e:
        c.download(st.media_urls, str(outdir / "model.glb"), media_type=st.media_type)
    no_key(e.value)
    assert os.listdir(outdir) == []  # neither the model nor a part file
    assert sim.stats()["downloads"] == 1  # too large is final: no retry


def test_download_empty_output(sim, client, finished_job, outdir):
    st = completed(sim, client, finished_job, output_mode="empty")
    assert st.media_urls == ()
    with raises(E.NoOutput, match="no files"):
        client.download(st.media_urls, str(outdir / "model.glb"), media_type=st.media_type)
    assert sim.stats()["downloads"] == 0


def test_download_truncated_resumes_with_range(sim, client, finished_job, outdir, parts):
    st = completed(sim, client, finished_job)
    sim.configure(faults={"download": ["truncate"]})
    codes = codes_of(client)
    dest = str(outdir / "model.glb")
    client.download(st.media_urls, dest, media_type=st.media_type)
    assert codes == [200, 206]  # the second request only asked for the rest
    assert fault_count(sim, "download", "truncate") == 1
    assert check_glb_file(dest) is None
    assert parts(outdir) == []
    with open(dest, "rb") as f:
        assert f.read() == clean_bytes(st.media_urls[0])


def test_download_truncated_without_range_support_restarts(sim, client, finished_job, outdir, parts):
    st = completed(sim, client, finished_job, range_support=False)
    sim.configure(faults={"download": ["truncate"]})
    codes = codes_of(client)
    dest = str(outdir / "model.glb")
    client.download(st.media_urls, dest, media_type=st.media_type)
    assert codes == [200, 200]
    assert check_glb_file(dest) is None
    assert parts(outdir) == []
    with open(dest, "rb") as f:
        assert f.read() == clean_bytes(st.media_urls[0])


def test_download_every_fault_once_then_success(sim, client, finished_job, outdir):
    st = completed(sim, client, finished_job)
    kinds = ["500", "502", "503", "429", "drop"]
    assert len(kinds) < client.retry.attempts
    sim.configure(faults={"download": kinds})
    dest = str(outdir / "model.glb")
    client.download(st.media_urls, dest, media_type=st.media_type)
    assert check_glb_file(dest) is None
    assert sim.stats()["faults_by_route"]["download"] == {k: 1 for k in kinds}


def test_download_slow_then_success(sim, make_client, finished_job, outdir):
    c = make_client(read_timeout=0.5)
    st = completed(sim, c, finished_job)
    sim.configure(faults={"download": ["slow"]}, slow_seconds=1.5)
    dest = str(outdir / "model.glb")
    c.download(st.media_urls, dest, media_type=st.media_type)
    assert check_glb_file(dest) is None


def test_download_faults_beyond_budget(sim, client, finished_job, outdir):
    st = completed(sim, client, finished_job)
    n = client.retry.attempts
    sim.configure(faults={"download": ["503"] * (n + 1)})
    dest = str(outdir / "model.glb")
    with raises(E.RetriesExhausted, match=f"Gave up downloading the model after {n} tries") as e:
        client.download(st.media_urls, dest, media_type=st.media_type)
    no_key(e.value)
    assert sim.stats()["downloads"] == n
    assert not os.path.exists(dest)


def test_download_truncated_beyond_budget_resumes_in_a_later_call(sim, client, finished_job, outdir, parts):
    st = completed(sim, client, finished_job)
    n = client.retry.attempts
    sim.configure(faults={"download": ["truncate"] * n})
    dest = str(outdir / "model.glb")
    with raises(E.RetriesExhausted):
        client.download(st.media_urls, dest, media_type=st.media_type)
    left = parts(outdir)
    assert len(left) == 1 and os.path.getsize(left[0]) > 0  # kept for resuming
    codes = codes_of(client)
    client.download(st.media_urls, dest, media_type=st.media_type)
    assert codes == [206]
    assert parts(outdir) == []
    with open(dest, "rb") as f:
        assert f.read() == clean_bytes(st.media_urls[0])


def test_download_404_is_final_and_reads_well(sim, client, outdir, parts):
    url = f"{sim.url}/cdn/v1/tripo3d-v2-5-413_gone/output.glb"
    with raises(E.NotFound) as e:
        client.download([url], str(outdir / "model.glb"))
    assert str(e.value).startswith("Nothing was found (HTTP 404) while downloading the model; ")
    assert str(e.value).endswith("check your Pixazo dashboard.")
    assert sim.stats()["downloads"] == 1  # not retried
    assert os.listdir(outdir) == []


def test_download_refuses_http_url_given_directly(sim, client, outdir):
    with raises(E.InsecureUrl):
        client.download(["http://cdn.example.com/output.glb"], str(outdir / "m.glb"))
    with raises(E.InsecureUrl):
        client.download(["ftp://cdn.example.com/output.glb"], str(outdir / "m.glb"))


def test_retry_policy_delay_bounds():
    p = RetryPolicy(base_delay=1, max_delay=8, max_retry_after=5)
    for failures in range(1, 10):
        d = p.delay(failures)
        ceiling = min(8, 2 ** (failures - 1))
        assert ceiling / 2 <= d <= ceiling
    assert p.delay(1, retry_after=3) >= 3
    assert p.delay(1, retry_after=100) <= 5
