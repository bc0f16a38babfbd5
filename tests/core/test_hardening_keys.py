"""Issue 9, class 3: an API key that cannot be sent as an HTTP header, or has
whitespace inside, is a configuration error before any request; no job is
left "may have been charged" by a request that never left, and fixing the
key un-blocks the image."""

from __future__ import annotations

import pytest
from helpers import SIM_KEY, fast_retry

from tripo_addon.core import errors as E
from tripo_addon.core.net.gateway import GatewayClient
from tripo_addon.core.net.apikey import check_api_key
from tripo_addon.core.jobs import State
from tripo_addon.core.engine.planning import Decision, plan
from tripo_addon.core.engine.runner import RunSettings, advance

BAD_KEYS = {
    "space_inside": "sim-key 0123456789",
    "tab_inside": "sim-key\t0123456789",
    "newline_inside": "sim-key\n0123456789",  # would be a header injection
    "carriage_return": "sim-key\r\nX-Evil: 1",
    "nul": "sim-key\x000123456789",
    "delete_char": "sim-key\x7f0123456789",
    "c1_control": "sim-key\x850123456789",
    "no_break_space": "sim-key\xa00123456789",  # pasted from a web page
    "euro_sign": "sim-key-0123456789\u20ac",
    "cyrillic": "sim-key-\u043a\u043b\u044e\u0447",
    "zero_width_space": "sim-key-\u200b0123456789",
}


@pytest.mark.parametrize("case", sorted(BAD_KEYS))
def test_unsendable_key_is_refused_before_any_request(sim, case):
    key = BAD_KEYS[case]
    with pytest.raises(E.NoApiKey) as info:  # a NoApiKey kind of error: every caller already handles it
        GatewayClient(key, sim.url, retry=fast_retry())
    exc = info.value
    assert isinstance(exc, E.BadApiKey) and exc.kind == "bad_key"
    assert len(exc.message.splitlines()) == 1 and "copy the key again" in exc.message
    # The message says where, never what: no part of the key is shown.
    for part in ("sim-key", "0123456789", "\u043a\u043b"):
        assert part not in exc.message
    assert sim.stats()["submit_attempts"] == 0 and sim.stats()["status_requests"] == 0


@pytest.mark.parametrize("key", [f"  {SIM_KEY}\n", f"\t{SIM_KEY} "])
def test_whitespace_around_the_key_is_trimmed_not_refused(sim, prepared, key):
    c = GatewayClient(key, sim.url, retry=fast_retry())
    try:
        assert c.submit(prepared.image_url).request_id
    finally:
        c.close()
    assert check_api_key(key) == SIM_KEY


def test_bad_key_leaves_the_job_unsent_and_the_fixed_key_submits_it(sim, journal, prepared, params):
    """The job planned before the client is built stays 'new' (nothing left), never
    'submitting' or 'may have been charged'; with the key fixed it is submitted, once."""
    first = plan(journal, prepared, params)
    try:
        assert first.decision == Decision.SUBMIT
        with pytest.raises(E.BadApiKey):
            GatewayClient(SIM_KEY + "\u20ac", sim.url, retry=fast_retry())
    finally:
        first.release()
    stored = journal.load(first.job.id)
    assert stored.state == State.NEW and stored.request_id is None

    again = plan(journal, prepared, params)
    try:
        assert again.decision == Decision.SUBMIT and again.job.id == first.job.id  # the same record, unblocked
        c = GatewayClient(SIM_KEY, sim.url, retry=fast_retry())
        try:
            advance(again.job, c, journal, image_url=prepared.image_url, settings=RunSettings(poll_interval=0.02))
        finally:
            c.close()
    finally:
        again.release()
    assert again.job.state == State.DOWNLOADED, again.job.error
    assert sim.stats()["submits"] == 1
