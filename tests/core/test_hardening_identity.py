"""Issue 9, class 8: an answer that is not the gateway's (a web page, a login
portal, JSON of another shape) is "this address is not the Pixazo gateway",
not "may have been charged"; it is not retried, and fixing the address lets
the same image be generated without --force."""

from __future__ import annotations

import json

import pytest
from hardening_servers import RawServer
from helpers import SIM_KEY, fast_retry

from tripo_addon.core import errors as E
from tripo_addon.core.net.gateway import GatewayClient
from tripo_addon.core.jobs import State
from tripo_addon.core.engine.planning import Decision, plan
from tripo_addon.core.engine.runner import RunSettings, advance

PORTAL = (b"<!DOCTYPE html><html><head><title>Hotel Wi-Fi</title></head>"
          b"<body><form>Accept the terms to continue</form></body></html>")


def serve(code: int, body: bytes, ctype: str, extra: dict | None = None) -> RawServer:
    return RawServer(lambda conn: conn.answer(code, body, ctype, extra))


def client_for(url: str) -> GatewayClient:
    return GatewayClient(SIM_KEY, url, retry=fast_retry(6), connect_timeout=1, read_timeout=2)


NOT_GATEWAY_SUBMITS = {
    "portal_page": (200, PORTAL, "text/html; charset=utf-8"),
    "html_202": (202, PORTAL, "text/html"),
    "website_404": (404, b"<html><body>Not Found</body></html>", "text/html"),
    "json_list": (200, b"[]", "application/json"),
    "json_other_object": (200, json.dumps({"ok": True, "user": "guest"}).encode(), "application/json"),
    "json_string": (200, b'"hello"', "application/json"),
    "plain_text": (200, b"OK", "text/plain"),
}


@pytest.mark.parametrize("case", sorted(NOT_GATEWAY_SUBMITS))
def test_submit_answered_by_something_else_is_not_gateway_and_not_retried(case, prepared):
    code, body, ctype = NOT_GATEWAY_SUBMITS[case]
    with serve(code, body, ctype) as srv:
        c = client_for(srv.url)
        try:
            with pytest.raises(E.NotGateway) as info:
                c.submit(prepared.image_url)
        finally:
            c.close()
    exc = info.value
    assert exc.kind == "not_gateway" and not exc.retryable
    assert srv.url in exc.message and "is not the Pixazo gateway" in exc.message
    assert "charged" not in exc.message and SIM_KEY not in exc.message
    assert len(exc.message.splitlines()) == 1
    assert len(srv.requests) == 1  # said at once, never sent again


@pytest.mark.parametrize("body", [b'{"status": "QUEUED"}', b'{"request_id": 17, "status": "QUEUED"}',
                                  b'{"request_id": "tripo3d-v2-5-413_ab', b""])
def test_gateway_shaped_answer_without_usable_id_stays_uncertain(body, prepared):
    """Money first: an answer that may be the gateway's own (cut, or without an id) may mean a queued job."""
    with serve(200, body, "application/json") as srv:
        c = client_for(srv.url)
        try:
            with pytest.raises(E.SubmitUncertain):
                c.submit(prepared.image_url)
        finally:
            c.close()
    assert len(srv.requests) == 1


@pytest.mark.parametrize("answer", ["page", "redirect"])
def test_status_answered_by_a_portal_is_not_gateway(answer):
    """A redirect is not retried; a web page may be a CDN's hiccup, so only several in a row say it."""
    if answer == "page":
        srv = serve(200, PORTAL, "text/html")
    else:
        srv = serve(302, b"", "text/plain", {"Location": "http://login.portal.example/?continue=x"})
    with srv:
        c = client_for(srv.url)
        try:
            with pytest.raises(E.NotGateway) as info:
                c.status("tripo3d-v2-5-413_abc")
        finally:
            c.close()
    assert "is not the Pixazo gateway" in info.value.message and srv.url in info.value.message
    if answer == "redirect":
        assert "login.portal.example" in info.value.message
    assert len(srv.requests) == (1 if answer == "redirect" else c.retry.web_pages)


def test_job_sent_to_a_portal_is_rejected_and_the_fixed_address_pays_once(sim, journal, prepared, params):
    """The whole story: wrong address -> clear error, job not 'may have been charged';
    right address -> the same image is generated without force, one paid submit."""
    with serve(200, PORTAL, "text/html") as portal:
        p = plan(journal, prepared, params)
        assert p.decision == Decision.SUBMIT
        wrong = client_for(portal.url)
        try:
            advance(p.job, wrong, journal, image_url=prepared.image_url, settings=RunSettings(poll_interval=0.02))
        finally:
            wrong.close()
            p.release()
    job = journal.load(p.job.id)
    assert job.state == State.REJECTED and job.error_kind == "not_gateway"
    assert job.state != State.SUBMIT_UNKNOWN and "charged" not in job.error

    again = plan(journal, prepared, params)  # no force
    try:
        assert again.decision == Decision.SUBMIT
        right = client_for(sim.url)
        try:
            advance(again.job, right, journal, image_url=prepared.image_url,
                    settings=RunSettings(poll_interval=0.02))
        finally:
            right.close()
    finally:
        again.release()
    assert again.job.state == State.DOWNLOADED, again.job.error
    assert sim.stats()["submits"] == 1
