"""The simulator's model maker takes every PNG a gateway would: a transparent
colour (tRNS) in any colour mode, not only in a palette's."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tools.glb_from_image import glb_from_image


@pytest.mark.parametrize("mode, transparent", [("1", 0), ("L", 0), ("RGB", (0, 0, 0)), ("P", 0), ("I;16", 0)])
def test_a_transparent_colour_in_any_mode_makes_a_model(mode, transparent):
    picture = Image.new(mode, (24, 16))
    picture.paste(Image.new(mode, (12, 16), 1 if mode in ("1", "L", "P", "I;16") else (200, 90, 30)), (12, 0))
    out = io.BytesIO()
    picture.save(out, format="PNG", transparency=transparent)
    assert "transparency" in Image.open(io.BytesIO(out.getvalue())).info
    glb = glb_from_image(out.getvalue())
    assert glb[:4] == b"glTF" and int.from_bytes(glb[8:12], "little") == len(glb)
