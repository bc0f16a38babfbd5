"""Checking what the user picked and keeping what will be sent (:class:`PreparedImage`).

An http(s) URL is passed on as is. A local PNG, JPEG or WebP file keeps its
bytes; :mod:`.storage.delivery` decides how they travel (the user's bucket, or
inline as a ``data:`` URI). Anything else is refused before a request is made.
"""

from __future__ import annotations

import base64
import os
import struct
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .errors import BadImage
from .net.urls import shorten

#: Largest file sent inline; bigger images are downscaled by the Blender layer
#: (or refused where no downscaler is available).
MAX_INLINE_BYTES = 8 * 1024 * 1024
#: Largest edge in pixels the add-on sends.
MAX_EDGE_PX = 4096

MIME_BY_FORMAT = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


@dataclass(frozen=True)
class ImageInfo:
    """What the first bytes of an image say about it."""

    format: str  # "PNG" | "JPEG" | "WEBP"
    width: int
    height: int

    @property
    def mime(self) -> str:
        return MIME_BY_FORMAT[self.format]


@dataclass(frozen=True)
class PreparedImage:
    """An image ready to send: what the gateway gets and what we remember."""

    source: str  # the path or URL the user gave, for messages and provenance
    content_hash: str  # sha256 of the bytes, or of the URL for remote images
    info: ImageInfo | None  # None for remote URLs (we never fetch them)
    data: bytes | None = field(default=None, repr=False)  # a local image's bytes
    url: str | None = None  # a remote image's address, sent as it is

    @property
    def is_remote(self) -> bool:
        return self.url is not None

    @property
    def image_url(self) -> str:
        """The address itself, or the bytes inline as a ``data:`` URI."""
        if self.url is not None:
            return self.url
        assert self.data is not None and self.info is not None
        return data_uri(self.data, self.info)

    @property
    def extension(self) -> str:
        return {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}.get(self.info.format if self.info else "", "")


def is_url(source: str) -> bool:
    return urlsplit(source).scheme in ("http", "https")


def sniff(data: bytes) -> ImageInfo | None:
    """Format and size from the first bytes of an image, or None if unsupported."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        w, h = struct.unpack(">II", data[16:24])
        return ImageInfo("PNG", w, h)
    if data[:3] == b"\xff\xd8\xff":
        size = _jpeg_size(data)
        return ImageInfo("JPEG", *size) if size else None
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        size = _webp_size(data)
        return ImageInfo("WEBP", *size) if size else None
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        (seg_len,) = struct.unpack(">H", data[i + 2 : i + 4])
        # Start-of-frame markers carry the size; C4, C8 and CC are not frames.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return (w, h) if w and h else None
        i += 2 + seg_len
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        b = data[21:25]
        w = 1 + (((b[1] & 0x3F) << 8) | b[0])
        h = 1 + (((b[3] & 0xF) << 10) | (b[2] << 2) | ((b[1] & 0xC0) >> 6))
        return w, h
    if chunk == b"VP8X" and len(data) >= 30:
        w = 1 + int.from_bytes(data[24:27], "little")
        h = 1 + int.from_bytes(data[27:30], "little")
        return w, h
    return None


def sendable_as_is(source: str) -> bool:
    """Whether ``source`` can be sent without Blender decoding it: an http(s)
    URL, or a PNG, JPEG or WebP file within the limits. Reads only the
    file's size and its first bytes; a missing or unreadable file is False."""
    if is_url(source):
        return True
    try:
        size = os.path.getsize(source)
        with open(source, "rb") as f:
            head = f.read(256 * 1024)  # a JPEG's size can follow a 64 KB EXIF block
    except OSError:
        return False
    info = sniff(head)
    return info is not None and max(info.width, info.height) <= MAX_EDGE_PX and size <= MAX_INLINE_BYTES


def read_local_image(path: str) -> tuple[bytes, ImageInfo]:
    """Read and check a local image file; raise :class:`BadImage` with a clear reason."""
    name = os.path.basename(path) or path
    if not os.path.exists(path):
        raise BadImage(f"The image file {path} does not exist; check the path.")
    if os.path.isdir(path):
        raise BadImage(f"{path} is a folder, not an image file; give a PNG, JPEG or WebP file.")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise BadImage(f"Could not read the image file {name} ({exc.strerror}); check its permissions.") from None
    if not data:
        raise BadImage(f"The image file {name} is empty; give a PNG, JPEG or WebP image.")
    info = sniff(data)
    if info is None:
        raise BadImage(f"{name} is not a PNG, JPEG or WebP image; convert it to one of these and try again.")
    return data, info


def check_complete(name: str, data: bytes, info: ImageInfo) -> None:
    """Refuse a file cut short (an interrupted copy or download): its header
    looks right, but the gateway could not read the picture."""
    if info.format == "PNG":
        whole = data.rstrip(b"\x00")[-12:-8] == b"\x00\x00\x00\x00" and data.rstrip(b"\x00")[-8:-4] == b"IEND"
    elif info.format == "JPEG":
        whole = data.rfind(b"\xff\xd9") > 2
    else:  # WebP: the RIFF header says how long the file is
        whole = len(data) >= 8 + int.from_bytes(data[4:8], "little")
    if not whole:
        raise BadImage(f"{name} cannot be read: the {info.format} file is cut short (an interrupted copy or "
                       "download?); save or copy it again.")


def check_size(name: str, size: int, info: ImageInfo) -> None:
    """Refuse an image the gateway should not be sent as is."""
    if max(info.width, info.height) > MAX_EDGE_PX or size > MAX_INLINE_BYTES:
        raise BadImage(
            f"{name} is too large to send ({info.width}x{info.height} px, {size / 1e6:.1f} MB); "
            f"the limit is {MAX_EDGE_PX} px per edge and {MAX_INLINE_BYTES // (1024 * 1024)} MB. "
            "Scale it down and try again."
        )


def data_uri(data: bytes, info: ImageInfo) -> str:
    return f"data:{info.mime};base64," + base64.b64encode(data).decode("ascii")


def prepare(source: str, data: bytes | None = None) -> PreparedImage:
    """Check ``source`` (a path or URL) and build what is sent.

    ``data`` may hold the bytes to send instead of the file's own (for
    example a downscaled copy); ``source`` is then only used for messages.
    """
    source = source.strip()
    if not source:
        raise BadImage("No image was given; pick an image, a file or a URL.")
    if is_url(source):
        # The gateway fetches it, not us, and no key goes with it: http is fine.
        if not urlsplit(source).hostname:
            raise BadImage(f"{shorten(source)} is not a complete address; give a full http(s) URL.")
        import hashlib

        digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
        return PreparedImage(source, digest, None, url=source)
    if "://" in source or source.startswith("data:"):
        raise BadImage(f"{shorten(source)} is neither a local file nor an http(s) address.")
    name = os.path.basename(source)
    if data is None:
        data, info = read_local_image(source)
    else:
        found = sniff(data)
        if found is None:
            raise BadImage(f"{name} is not a PNG, JPEG or WebP image; convert it to one of these and try again.")
        info = found
    check_size(name, len(data), info)
    check_complete(name, data, info)
    import hashlib

    return PreparedImage(source, hashlib.sha256(data).hexdigest(), info, data=data)
