"""What will be sent for a path or URL the user picked (:class:`PreparedImage`).

An http(s) URL is passed on as is. A local PNG, JPEG or WebP file keeps its
pixels, without its metadata; :mod:`..storage.delivery` decides how they travel (the user's bucket, or
inline as a ``data:`` URI). Anything else is refused before a request is made.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..errors import BadImage
from ..net.urls import shorten
from .fitting import MAX_EDGE_PX, MAX_INLINE_BYTES, plan
from .headers import ImageInfo, check_header, sniff
from .metadata import strip


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


def sendable_as_is(source: str) -> bool:
    """Whether ``source`` can be sent without Blender decoding it: an http(s)
    URL, or an upright PNG, JPEG or WebP file within the limits. Reads only the
    file's size and its header; a missing or unreadable file is False."""
    if is_url(source):
        return True
    try:
        info = check_header(source)
    except BadImage:
        return False
    return plan(info, os.path.getsize(source)).as_is


def read_local_image(path: str) -> tuple[bytes, ImageInfo]:
    """Read and check a local PNG, JPEG or WebP file, its header first; raise
    :class:`BadImage` with a clear reason."""
    name = os.path.basename(path) or path
    info = check_header(path)
    if not info.sendable:
        raise BadImage(f"{name} is not a PNG, JPEG or WebP image; convert it to one of these and try again.")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise BadImage(f"Could not read the image file {name} ({exc.strerror}); check its permissions.") from None
    found = sniff(data)
    if found is None or found.format != info.format:  # changed while we read it
        raise BadImage(f"{name} is not a PNG, JPEG or WebP image; convert it to one of these and try again.")
    return data, found


def check_complete(name: str, data: bytes, info: ImageInfo) -> None:
    """Refuse a file cut short (an interrupted copy or download): its header
    looks right, but the gateway could not read the picture."""
    if info.format == "PNG":
        whole = data.rfind(b"\x00\x00\x00\x00IEND") > 8  # bytes after the end are dropped when sent
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


def prepare(source: str, data: bytes | None = None, *, keep_metadata: bool = False) -> PreparedImage:
    """Check ``source`` (a path or URL) and build what is sent.

    ``data`` may hold the bytes to send instead of the file's own (for
    example a downscaled copy); ``source`` is then only used for messages.
    A local picture's metadata (EXIF, XMP, IPTC, text) is removed unless
    ``keep_metadata``; the hash is that of the bytes sent.
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
        if found is None or not found.sendable:
            raise BadImage(f"{name} is not a PNG, JPEG or WebP image; convert it to one of these and try again.")
        info = found
    check_size(name, len(data), info)
    check_complete(name, data, info)
    if not keep_metadata:
        data = strip(data, info)
    import hashlib

    return PreparedImage(source, hashlib.sha256(data).hexdigest(), info, data=data)
