"""Removing what a picture says about its owner (EXIF with GPS and serial numbers,
XMP, IPTC, comments, text chunks) from a PNG, JPEG or WebP sent as it is.

The pixels are never touched: a JPEG keeps its coded data byte for byte, a PNG
its chunks' bytes and checksums, a WebP its bitstream. What gives the colours
their meaning stays (JFIF, ICC profiles, Adobe's colour transform, gAMA, sRGB...).
"""

from __future__ import annotations

import struct
import zlib

from .headers import ImageInfo

#: PNG chunks that hold text, EXIF or the time of the last change.
PNG_DROPPED = frozenset({b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"})
#: WebP chunks that hold EXIF or XMP, and the VP8X flags that announce them.
WEBP_DROPPED = frozenset({b"EXIF", b"XMP "})
_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04


def strip(data: bytes, info: ImageInfo) -> bytes:
    """``data`` without its metadata (other formats are returned unchanged).

    An orientation other than upright is kept as the only tag, so a picture
    that was not turned before it was sent still shows the right way up.
    """
    if info.format == "JPEG":
        return strip_jpeg(data, info.orientation)
    if info.format == "PNG":
        return strip_png(data, info.orientation)
    if info.format == "WEBP":
        return strip_webp(data, info.orientation)
    return data


def orientation_exif(orientation: int) -> bytes:
    """An EXIF block (a little-endian TIFF structure) holding only the Orientation tag."""
    return b"II*\x00" + struct.pack("<IHHHIHHI", 8, 1, 274, 3, 1, orientation, 0, 0)


def _jpeg_keeps(marker: int, payload: bytes) -> bool:
    if marker == 0xE0:
        return payload.startswith(b"JFIF\x00")  # not JFXX, which holds a thumbnail
    if marker == 0xE2:
        return payload.startswith(b"ICC_PROFILE\x00")
    if marker == 0xEE:
        return payload.startswith(b"Adobe")  # the colour transform: how to read the pixels
    return not (0xE0 <= marker <= 0xEF or marker == 0xFE)  # other APPn and comments go


def strip_jpeg(data: bytes, orientation: int = 1) -> bytes:
    """A JPEG without APP1 (EXIF, XMP), APP13 (IPTC), comments, other APPn and
    anything after its end; the frame, tables and coded scans byte for byte."""
    out = [data[:2]]
    if orientation != 1:
        payload = b"Exif\x00\x00" + orientation_exif(orientation)
        out.append(b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload)
    pos, size = 2, len(data)
    while pos + 1 < size:
        if data[pos] != 0xFF:  # entropy-coded data of a scan, up to the next marker
            nxt = _next_marker(data, pos)
            out.append(data[pos:nxt])
            pos = nxt
            continue
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            out.append(data[pos : pos + 1])
            pos += 1
            continue
        if marker == 0xD9:  # end of image: what follows (trailers, other pictures) is dropped
            out.append(data[pos : pos + 2])
            break
        if marker in (0x01, 0x00) or 0xD0 <= marker <= 0xD7:  # no length
            out.append(data[pos : pos + 2])
            pos += 2
            continue
        if pos + 4 > size:  # cut short inside a marker
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if _jpeg_keeps(marker, data[pos + 4 : end]):
            out.append(data[pos:end])
        pos = end
    return b"".join(out)


def _next_marker(data: bytes, pos: int) -> int:
    """Where the entropy-coded data from ``pos`` ends: the next 0xFF that is not
    a stuffed byte (FF 00) nor a restart marker (FF D0..D7)."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return len(data)
        nxt = data[pos + 1]
        if nxt == 0x00 or 0xD0 <= nxt <= 0xD7:
            pos += 2
            continue
        return pos


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def strip_png(data: bytes, orientation: int = 1) -> bytes:
    """A PNG without text, EXIF and time chunks, and nothing after IEND."""
    out, pos = [data[:8]], 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if kind not in PNG_DROPPED:
            out.append(data[pos:end])
        if kind == b"IHDR" and orientation != 1:
            out.append(_png_chunk(b"eXIf", orientation_exif(orientation)))
        if kind == b"IEND":
            break
        pos = end
    return b"".join(out)


def strip_webp(data: bytes, orientation: int = 1) -> bytes:
    """A WebP without EXIF and XMP chunks, its VP8X flags and RIFF size to match."""
    chunks, pos = [], 12
    end = min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    while pos + 8 <= end:
        kind, length = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        stop = pos + 8 + length + (length & 1)
        chunk = data[pos:stop]
        if kind == b"VP8X":
            flags = chunk[8] & ~(_VP8X_EXIF | _VP8X_XMP) | (_VP8X_EXIF if orientation != 1 else 0)
            chunk = chunk[:8] + bytes([flags]) + chunk[9:]
        if kind not in WEBP_DROPPED:
            chunks.append(chunk)
        pos = stop
    if orientation != 1 and chunks and chunks[0][:4] == b"VP8X":
        exif = orientation_exif(orientation)
        chunks.append(b"EXIF" + struct.pack("<I", len(exif)) + exif)  # even length: no padding
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body
