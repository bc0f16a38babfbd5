"""Recognise a binary glTF (GLB) file by its 12-byte header."""

from __future__ import annotations

import struct

GLB_MAGIC = b"glTF"
HEADER_SIZE = 12


def parse_header(head: bytes) -> tuple[int, int] | None:
    """Return (version, declared length) for a GLB header, else None."""
    if len(head) < HEADER_SIZE or head[:4] != GLB_MAGIC:
        return None
    version, length = struct.unpack_from("<II", head, 4)
    return version, length


def looks_like_glb(head: bytes) -> bool:
    parsed = parse_header(head)
    return parsed is not None and parsed[0] == 2


def check_glb_file(path: str) -> str | None:
    """None when ``path`` is a whole GLB 2.0 file, else the reason it is not."""
    import os

    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(HEADER_SIZE)
    parsed = parse_header(head)
    if parsed is None:
        return "it is not a GLB file"
    version, length = parsed
    if version != 2:
        return f"it is a GLB version {version} file, only version 2 is supported"
    if size < length:
        return f"it is incomplete ({size} of {length} bytes)"
    if size > length:
        return f"it is damaged ({size} bytes where its header says {length})"
    return None
