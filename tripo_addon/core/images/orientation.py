"""Where an image says which way is up: the EXIF/TIFF Orientation tag (1..8).

Read from a JPEG's APP1 Exif segment, a PNG's eXIf chunk, a WebP's EXIF chunk
and a TIFF's first IFD (tag 274). Every reader takes ``read(offset, size)``,
so a file is read piecewise from its header, never whole.
"""

from __future__ import annotations

import struct
from typing import Callable

Read = Callable[[int, int], bytes]

ORIENTATION_TAG = 274
#: An IFD with more entries than this is damaged; reading stops there.
_MAX_ENTRIES = 4096
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 16: 8}


def read_ifd(read: Read, offset: int, little: bool, tags: set[int] | None = None, *,
             big: bool = False) -> dict[int, tuple[int, ...]]:
    """The entries of the TIFF IFD at ``offset`` that hold integers: tag -> values.

    Only values stored in the entry itself or a short array next to it are read
    (``tags`` limits which); anything unreadable is left out. ``big``: a
    BigTIFF IFD (8-byte counts and offsets, 20-byte entries).
    """
    e = "<" if little else ">"
    count_size, entry, inline = (8, 20, 8) if big else (2, 12, 4)
    head = read(offset, count_size)
    if len(head) < count_size:
        return {}
    (count,) = struct.unpack(e + ("Q" if big else "H"), head)
    body = read(offset + count_size, entry * min(count, _MAX_ENTRIES))
    found: dict[int, tuple[int, ...]] = {}
    for i in range(len(body) // entry):
        at = entry * i
        tag, typ = struct.unpack(e + "HH", body[at : at + 4])
        (n,) = struct.unpack(e + ("Q" if big else "I"), body[at + 4 : at + 4 + inline])
        if (tags is not None and tag not in tags) or typ not in (1, 3, 4, 16) or not 0 < n <= 64:
            continue
        size = _TYPE_SIZES[typ]
        raw = body[at + 4 + inline : at + entry]
        if size * n > inline:
            (where,) = struct.unpack(e + ("Q" if big else "I"), raw)
            raw = read(where, size * n)
            if len(raw) < size * n:
                continue
        code = {1: "B", 3: "H", 4: "I", 16: "Q"}[typ]
        found[tag] = struct.unpack(e + code * n, raw[: size * n])
    return found


def from_tiff_header(tiff: bytes) -> int:
    """The orientation in an EXIF block (a TIFF structure, with or without the
    ``Exif\\0\\0`` prefix); 1 when it says nothing usable."""
    if tiff[:6] == b"Exif\x00\x00":
        tiff = tiff[6:]
    if tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        return 1
    little = tiff[:2] == b"II"
    (first,) = struct.unpack(("<" if little else ">") + "I", tiff[4:8])
    entries = read_ifd(lambda o, n: tiff[o : o + n], first, little, {ORIENTATION_TAG})
    return valid(entries.get(ORIENTATION_TAG, (1,))[0])


def valid(value: int) -> int:
    """``value`` when it is one of the eight orientations, else 1 (upright)."""
    return value if 1 <= value <= 8 else 1


def jpeg(read: Read) -> int:
    """The orientation in a JPEG's APP1 Exif segment (before the frame)."""
    pos = 2
    while True:
        marker = read(pos, 4)
        if len(marker) < 4 or marker[0] != 0xFF:
            return 1
        code = marker[1]
        if code == 0xFF:  # fill byte
            pos += 1
            continue
        if code == 0xDA or code == 0xD9:  # the picture starts: no Exif before it
            return 1
        (length,) = struct.unpack(">H", marker[2:4])
        if code == 0xE1:
            payload = read(pos + 4, length - 2)
            if payload[:6] == b"Exif\x00\x00":
                return from_tiff_header(payload)
        pos += 2 + length


def png(read: Read) -> int:
    """The orientation in a PNG's eXIf chunk (before the image data)."""
    pos = 8
    while True:
        head = read(pos, 8)
        if len(head) < 8:
            return 1
        length, kind = struct.unpack(">I4s", head)
        if not kind.isalpha():  # not a chunk: the file is damaged here
            return 1
        if kind == b"eXIf":
            return from_tiff_header(read(pos + 8, length))
        if kind in (b"IDAT", b"IEND"):
            return 1
        pos += 12 + length


def webp(read: Read) -> int:
    """The orientation in a WebP's EXIF chunk (which follows the image data)."""
    for kind, offset, length in riff_chunks(read):
        if kind == b"EXIF":
            return from_tiff_header(read(offset, length))
    return 1


def riff_chunks(read: Read):
    """(fourcc, data offset, data length) of each chunk of a RIFF/WebP file."""
    header = read(0, 12)
    if len(header) < 12:
        return
    end = 8 + int.from_bytes(header[4:8], "little")
    pos = 12
    while pos + 8 <= end:
        head = read(pos, 8)
        if len(head) < 8:
            return
        length = int.from_bytes(head[4:8], "little")
        yield head[:4], pos + 8, length
        pos += 8 + length + (length & 1)  # chunks are padded to an even size
