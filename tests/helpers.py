"""Plain helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import io

from tripo_addon.core.net.gateway import RetryPolicy

SIM_KEY = "sim-key-0123456789"


def fast_retry(attempts: int = 6) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, base_delay=0.02, max_delay=0.1, max_retry_after=0.2, submit_attempts=4)


def make_image(fmt: str = "PNG", size=(96, 64), color=(200, 80, 40)) -> bytes:
    from PIL import Image, ImageDraw

    im = Image.new("RGB", size, (30, 60, 90))
    draw = ImageDraw.Draw(im)
    draw.ellipse((size[0] // 5, size[1] // 5, size[0] * 4 // 5, size[1] * 4 // 5), fill=color)
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()
