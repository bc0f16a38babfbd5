"""Fit instead of refusing (tripo_addon.core.images.fitting): what a local file
needs, and a decoded picture made to fit the cap (JPEG first for an opaque
one, then smaller step by step), with Pillow as the encoder the decoder side supplies."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tripo_addon.core.errors import BadImage
from tripo_addon.core.images import MAX_EDGE_PX, MAX_INLINE_BYTES, ImageInfo
from tripo_addon.core.images.fitting import JPEG_QUALITY, MIN_EDGE_PX, SCALE_STEP, fit, plan


class PillowEncoder:
    """``encode(width, height, format, quality)`` for one picture, recording each call."""

    def __init__(self, image: Image.Image):
        self.image, self.calls = image, []

    def __call__(self, width: int, height: int, fmt: str, quality: int) -> bytes:
        self.calls.append((width, height, fmt))
        im = self.image if self.image.size == (width, height) else self.image.resize((width, height))
        buf = io.BytesIO()
        im.save(buf, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
        return buf.getvalue()


def photo(size, mode="RGB", noise=40) -> Image.Image:
    """A photo-like picture: smooth shading and sensor noise (large as PNG, small as JPEG)."""
    w, h = size
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // max(w, 1), y * 255 // max(h, 1), (x + y) * 127 // max(w + h, 1)], axis=-1)
    pixels = np.clip(base + rng.normal(0, noise, (h, w, 3)), 0, 255).astype(np.uint8)
    im = Image.fromarray(pixels, "RGB")
    if mode == "RGBA":
        im.putalpha(Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)))
    return im


def test_what_a_file_needs():
    assert plan(ImageInfo("PNG", 800, 600), 1000).as_is
    assert plan(ImageInfo("JPEG", 800, 600), 1000, keep_metadata=True).strip_metadata is False
    assert plan(ImageInfo("JPEG", 800, 600), 1000).strip_metadata is True
    assert plan(ImageInfo("TIFF", 800, 600), 1000).reason == "format"
    assert plan(ImageInfo("JPEG", 800, 600, orientation=6), 1000).reason == "orientation"
    assert plan(ImageInfo("WEBP", MAX_EDGE_PX + 1, 600), 1000).reason == "edge"
    assert plan(ImageInfo("PNG", 3000, 3000), MAX_INLINE_BYTES + 1).reason == "bytes"
    assert plan(ImageInfo("PNG", MAX_EDGE_PX, 10), MAX_INLINE_BYTES).as_is


def test_a_small_picture_goes_as_png_unchanged():
    enc = PillowEncoder(photo((300, 200)))
    out = fit(enc, 300, 200, False, name="small.tif")
    assert (out.format, out.width, out.height, out.note) == ("PNG", 300, 200, "")
    assert enc.calls == [(300, 200, "PNG")]


def test_a_3000_px_photo_over_8_mb_as_png_goes_as_jpeg_at_full_size():
    im = photo((3000, 3000))
    enc = PillowEncoder(im)
    out = fit(enc, 3000, 3000, False, name="photo.png")
    assert out.format == "JPEG" and (out.width, out.height) == (3000, 3000)
    assert len(out.data) <= MAX_INLINE_BYTES
    assert out.note == f"photo.png was sent as JPEG (quality {JPEG_QUALITY}) to fit 8 MB."
    assert enc.calls == [(3000, 3000, "PNG"), (3000, 3000, "JPEG")]  # the PNG was over 8 MB
    with Image.open(io.BytesIO(out.data)) as sent:
        assert sent.size == (3000, 3000)


def test_a_picture_with_alpha_stays_png_and_is_downscaled_step_by_step():
    enc = PillowEncoder(photo((600, 400), "RGBA"))
    cap = 300_000  # a 600x400 noisy RGBA PNG is about 1 MB
    out = fit(enc, 600, 400, True, name="cutout.exr", max_bytes=cap)
    assert out.format == "PNG" and len(out.data) <= cap
    assert all(fmt == "PNG" for _w, _h, fmt in enc.calls)  # JPEG would lose the alpha
    widths = [w for w, _h, _f in enc.calls]
    assert widths[0] == 600 and all(abs(a * SCALE_STEP - b) <= 1 for a, b in zip(widths, widths[1:], strict=False))
    assert out.note == f"cutout.exr was downscaled from 600x400 to {out.width}x{out.height} px."
    with Image.open(io.BytesIO(out.data)) as sent:
        assert sent.mode == "RGBA" and sent.size == (out.width, out.height)


def test_over_the_edge_limit_it_starts_at_the_limit():
    enc = PillowEncoder(photo((5000, 100), noise=0))
    out = fit(enc, 5000, 100, False, name="wide.bmp")
    assert (out.width, out.height) == (MAX_EDGE_PX, 82)
    assert out.note == "wide.bmp was downscaled from 5000x100 to 4096x82 px."


def test_jpeg_and_downscale_together_in_the_note():
    enc = PillowEncoder(photo((800, 800), noise=90))
    out = fit(enc, 800, 800, False, name="noisy.tif", max_bytes=120_000)
    assert out.format == "JPEG" and out.width < 800 and len(out.data) <= 120_000
    assert out.note.startswith("noisy.tif was sent as JPEG (quality 92) to fit ") and " and downscaled from 800x800" in out.note


def test_refused_only_when_even_the_smallest_size_cannot_fit():
    calls = []

    def never_fits(w, h, fmt, q):
        calls.append(w)
        return bytes(10_000_000)

    with pytest.raises(BadImage, match=r"bad.exr does not fit in 8 MB even at \d+x\d+ px; save a simpler"):
        fit(never_fits, 4000, 3000, True, name="bad.exr")
    assert min(calls) >= MIN_EDGE_PX and min(calls) * SCALE_STEP < MIN_EDGE_PX
