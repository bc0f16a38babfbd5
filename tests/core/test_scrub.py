"""The one scrub helper for kept error texts: the key, presigned-link credentials, query strings and data: URIs go."""

from __future__ import annotations

import pytest

from tripo_addon.core.errors import scrub


@pytest.mark.parametrize("text, expected", [
    ("see https://b.example/p.png?X-Amz-Credential=AKIA1&X-Amz-Signature=ab12 now",
     "see https://b.example/p.png?… now"),
    ("http://127.0.0.1:8/x?token=abc#top", "http://127.0.0.1:8/x?…#top"),
    ("echo X-Amz-Signature=ab12&X-Amz-Credential=AKIA1", "echo X-Amz-Signature=…&X-Amz-Credential=…"),
    ("legacy Signature=zz%2B&AWSAccessKeyId=AKIA2 end", "legacy Signature=…&AWSAccessKeyId=… end"),
    ('{"X-Amz-Signature": "ab12", "ok": 1}', '{"X-Amz-Signature": "…", "ok": 1}'),
    ("got data:image/png;base64,iVBORw0KGgo= back", "got data:… back"),
    ("got data:,hello back", "got data:… back"),
    ("key sim-key-0123456789 echoed", "key *** echoed"),
    # Left alone: words that only look alike, a link without a query string.
    ("the metadata: was fine; see https://gateway.pixazo.ai/docs", "the metadata: was fine; see https://gateway.pixazo.ai/docs"),
    ("Signature does not match", "Signature does not match"),
])
def test_scrub(text, expected):
    assert scrub(text, "sim-key-0123456789") == expected


def test_scrub_without_a_key_and_of_nothing():
    assert scrub("", None) == "" and scrub("plain words.") == "plain words."
