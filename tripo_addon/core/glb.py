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


JSON_CHUNK = 0x4E4F534A
#: A model's JSON description is kilobytes; a bigger one is refused rather than read into memory.
MAX_JSON_CHUNK = 64 * 1024 * 1024


def _uris(node, where: str = ""):
    """Every ``uri`` string in the glTF JSON, with where it was found (e.g. "images[0]")."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "extras":  # free-form user data: the importer loads nothing from it
                continue
            if key == "uri" and isinstance(value, str):
                yield where or "uri", value
            else:
                yield from _uris(value, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _uris(value, f"{where}[{i}]")


def json_chunk(path: str) -> tuple[int, bytes] | None:
    """(declared length, bytes) of a GLB's JSON chunk; None when the file is not
    a GLB or its first chunk is not JSON. Over MAX_JSON_CHUNK nothing is read
    (the bytes are empty): the caller decides what that means."""
    with open(path, "rb") as f:
        head = f.read(HEADER_SIZE + 8)
        if len(head) < HEADER_SIZE + 8 or parse_header(head) is None:
            return None
        length, kind = struct.unpack_from("<II", head, HEADER_SIZE)
        if kind != JSON_CHUNK:
            return None
        return length, (f.read(length) if length <= MAX_JSON_CHUNK else b"")


def external_references(path: str) -> str | None:
    """None when the GLB at ``path`` is self-contained, else why it is refused.

    The glTF importer reads a buffer or image ``uri`` that is not a ``data:``
    URI from the disk (relative to the model, or absolute), so a model from
    the network could make Blender read any local file into the scene. Only
    embedded data is accepted. A JSON chunk that cannot be parsed is left to
    the importer, which refuses it in its own words.
    """
    import json

    found = json_chunk(path)
    if found is None:
        return None  # not a GLB at all (check_glb_file says so), or no JSON first
    length, raw = found
    if length > MAX_JSON_CHUNK:
        return f"its description is {length / 1e6:.0f} MB, far larger than any model needs"
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    try:
        for where, uri in _uris(doc):
            if not uri.strip().lower().startswith("data:"):
                shown = uri if len(uri) <= 60 else uri[:57] + "..."
                return (f"it points at a file outside itself ({where} is {shown!r}), "
                        "which the importer would read from this computer")
    except RecursionError:
        return "its description is nested too deeply to be checked"
    return None
