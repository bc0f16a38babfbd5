"""Reading a job record: the JSON object in a file, and a Job from it with wrong-typed fields
put right (hand-edited, or written by another version).

Start-up reads many records, so the usual shapes are checked once."""

from __future__ import annotations

import os
import stat
from dataclasses import fields

from ..fsutil import safe_name
from ..jobs import Job

#: A job record is a few KB; anything far bigger in the folder is not one.
MAX_RECORD_BYTES = 4 * 1024 * 1024


def record_stem(job_id: str) -> str:
    """The name of a job's record file without ``.json`` (and of its markers):
    letters and digits only, so no id can reach outside the journal's folders."""
    return safe_name(job_id)


def read_record(path: str) -> dict | None:
    """The JSON object in ``path``, or None for anything else (never raises)."""
    import json  # here, not at the top: registering the add-on reads no record when there are none

    try:
        # O_NONBLOCK: a FIFO named like a record must not hang the listing.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_RECORD_BYTES:
            return None
        parts, left = [], MAX_RECORD_BYTES + 1
        while left > 0:  # plain reads: no file object per record (start-up reads thousands)
            part = os.read(fd, left)
            if not part:
                break
            parts.append(part)
            left -= len(part)
        data = json.loads(b"".join(parts).decode("utf-8"))
    except (OSError, ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    finally:
        os.close(fd)
    return data if isinstance(data, dict) else None


_TYPES = {"str": (str,), "None": (type(None),), "float": (int, float), "int": (int,), "list": (list,),
          "dict": (dict,), "bool": (bool,)}
_STRING_LISTS = ("media_urls", "objects")
_ID_FIELDS = ("source", "content_hash", "id", "request_id")


def job_from(data: dict | None) -> Job | None:
    """A Job from a record, with wrong-typed fields put right; None if it is not a job."""
    if not isinstance(data, dict):
        return None
    # Records written by this add-on share a few shapes (field names and value
    # types): a shape checked once is copied whole, at C speed.
    shape = (tuple(data), tuple(map(type, data.values())))
    fits = _SHAPES.get(shape)
    if fits is None:
        fits = _fits(shape)
        if len(_SHAPES) < 512:
            _SHAPES[shape] = fits
    if fits:
        clean = dict(data)
        for name in _STRING_LISTS:
            if name in clean:
                clean[name] = [v for v in clean[name] if isinstance(v, str)]
        return _make_job(clean)
    clean = {}
    rules = _field_rules()
    for name, value in data.items():
        rule = rules.get(name)
        if rule is None:
            continue  # not a Job field (a newer or older version's)
        allowed, exact = rule
        if exact is not None and type(value) not in exact:  # JSON gives exact types: the slow path is rare
            if isinstance(value, bool) and bool not in allowed:
                value = None if type(None) in allowed else _DROP  # True is not a time or a count
            elif not isinstance(value, allowed):
                # A number where an id belongs (a hand-edited request id) keeps its meaning as text.
                value = str(value) if name in _ID_FIELDS and isinstance(value, (int, float)) else _DROP
            if value is _DROP:
                continue
        if name in _STRING_LISTS:
            value = [v for v in value if isinstance(v, str)]
        clean[name] = value
    return _make_job(clean)


def _make_job(clean: dict) -> Job | None:
    if not all(k in clean for k in ("source", "params", "content_hash")):
        return None
    if "state" not in clean and clean.get("request_id"):
        clean["state"] = "interrupted"  # paid for: resume it by its id, never submit it again
    try:
        return Job(**clean)
    except (TypeError, ValueError):
        return None


_SHAPES: dict = {}


def _fits(shape: tuple) -> bool:
    """Whether every field of a record of this shape is a Job field holding a value of an allowed type."""
    rules = _field_rules()
    for name, kind in zip(*shape, strict=True):
        rule = rules.get(name)
        if rule is None or (rule[1] is not None and kind not in rule[1]):
            return False
    return True


_DROP = object()


_RULES: dict = {}


def _field_rules() -> dict:
    """Job field name -> (the Python types its value may have, the same as a set
    of exact types, or None when any value will do), worked out once: start-up
    reads thousands of records."""
    if not _RULES:
        for f in fields(Job):
            allowed = tuple(t for part in str(f.type).split("|") for t in _TYPES.get(part.strip(), (object,)))
            _RULES[f.name] = (allowed, None if object in allowed else frozenset(allowed))
    return _RULES
