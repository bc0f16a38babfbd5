"""What must happen to a local picture before it is sent (:func:`plan`), and how a
decoded one is made to fit the size cap (:func:`fit`).

JPEG first for an opaque picture, then smaller step by step; only what cannot
fit is refused.

Pure policy: the encoder is a callable handed in by the decoder's side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import BadImage
from .headers import ImageInfo

#: Largest file sent inline; bigger pictures are re-encoded and downscaled to fit.
MAX_INLINE_BYTES = 8 * 1024 * 1024
#: Largest edge in pixels the add-on sends.
MAX_EDGE_PX = 4096
#: JPEG quality used when a picture must be made smaller.
JPEG_QUALITY = 92
#: Each downscale step multiplies both edges by this.
SCALE_STEP = 0.8
#: A picture is refused rather than sent with a longest edge under this.
MIN_EDGE_PX = 256

#: ``encode(width, height, format, quality)``: the picture at that size as "PNG" or "JPEG" bytes.
Encode = Callable[[int, int, str, int], bytes]


@dataclass(frozen=True)
class Plan:
    """``as_is``: send the file's own bytes (metadata stripped unless ``keep_metadata``);
    otherwise it is decoded, for ``reason`` ("format", "orientation", "edge", "bytes")."""

    as_is: bool
    reason: str = ""
    strip_metadata: bool = True


@dataclass(frozen=True)
class Fitted:
    """The bytes to send, what they are, and what was done ("" when nothing)."""

    data: bytes
    format: str
    width: int
    height: int
    note: str = ""


def plan(info: ImageInfo, size: int, *, keep_metadata: bool = False) -> Plan:
    """What a local file of ``size`` bytes with header ``info`` needs."""
    strip = not keep_metadata
    if not info.sendable:
        return Plan(False, "format", strip)
    if info.orientation != 1:  # turned upright by the decoder, so no server has to honour the tag
        return Plan(False, "orientation", strip)
    if max(info.width, info.height) > MAX_EDGE_PX:
        return Plan(False, "edge", strip)
    if size > MAX_INLINE_BYTES:
        return Plan(False, "bytes", strip)
    return Plan(True, "", strip)


def fit(encode: Encode, width: int, height: int, has_alpha: bool, *, name: str,
        max_bytes: int = MAX_INLINE_BYTES, max_edge: int = MAX_EDGE_PX) -> Fitted:
    """Encode a ``width`` x ``height`` picture so it fits ``max_bytes`` and ``max_edge``.

    At each size: PNG, then (for a picture with no alpha) JPEG at quality 92;
    when neither fits, both edges shrink by :data:`SCALE_STEP`. Raises
    :class:`BadImage` when even a :data:`MIN_EDGE_PX` picture is too big.
    """
    scale = min(1.0, max_edge / max(width, height))
    formats = ("PNG",) if has_alpha else ("PNG", "JPEG")
    while True:
        w, h = max(1, round(width * scale)), max(1, round(height * scale))
        for fmt in formats:
            data = encode(w, h, fmt, JPEG_QUALITY)
            if len(data) <= max_bytes:
                return Fitted(data, fmt, w, h, _note(name, fmt, (width, height), (w, h), max_bytes))
        if max(w, h) * SCALE_STEP < MIN_EDGE_PX:
            raise BadImage(f"{name} does not fit in {_mb(max_bytes)} even at {w}x{h} px; "
                           "save a simpler or smaller picture and try again.")
        scale *= SCALE_STEP


def _note(name: str, fmt: str, size: tuple[int, int], sent: tuple[int, int], max_bytes: int) -> str:
    parts = []
    if fmt == "JPEG":
        parts.append(f"sent as JPEG (quality {JPEG_QUALITY}) to fit {_mb(max_bytes)}")
    if sent != size:
        parts.append(f"downscaled from {size[0]}x{size[1]} to {sent[0]}x{sent[1]} px")
    return f"{name} was {' and '.join(parts)}." if parts else ""


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"
