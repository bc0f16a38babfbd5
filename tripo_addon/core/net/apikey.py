"""The API key, checked before any request without loading the HTTP client.

The add-on checks it on Blender's main thread when a job starts, and builds the client (and
imports requests) in the job's worker thread."""

from __future__ import annotations

import unicodedata

from .. import errors as E


def check_api_key(api_key: str | None) -> str:
    """The key, stripped, or a configuration error before any request.

    A key is sent as an HTTP header: it must be Latin-1 without control
    characters, and a real key has no whitespace inside (a space or a line
    break inside is a copy-and-paste accident). The message says where, never
    what the key is.
    """
    key = (api_key or "").strip()
    if not key:
        raise E.NoApiKey("No Pixazo API key is set; enter it in the add-on preferences or set PIXAZO_API_KEY.")
    for at, char in enumerate(key, 1):
        if char.isspace():
            why = "has a space or line break inside it"
        elif unicodedata.category(char) == "Cc":
            why = "has an invisible control character inside it"
        elif ord(char) > 0xFF:
            why = "has a character that cannot be sent in an HTTP header"
        else:
            continue
        raise E.BadApiKey(
            f"The Pixazo API key {why} (character {at} of {len(key)}); copy the key again from your Pixazo "
            "account into the add-on preferences or PIXAZO_API_KEY."
        )
    return key
