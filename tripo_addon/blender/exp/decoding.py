"""The image decoder this Blender's jobs share: the command that starts its child process, chosen on
the main thread, and the one :class:`~...core.images.decoder_client.DecoderClient` the workers call.

In a Blender program the child is that program in the background (``--factory-startup``: none of
the artist's add-ons or preferences); with the ``bpy`` module it is this Python importing ``bpy``.
``TRIPO3D_DECODE_SECONDS`` and ``TRIPO3D_DECODE_MEMORY_MB`` change its time limit and memory cap.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import bpy

if TYPE_CHECKING:
    from ...core.images.decoder_client import DecoderClient

CHILD_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "decoder_child.py")

_client: list = []  # the one client, once a job needed it


def child_command() -> list[str]:
    """How to start the decoder child from this Blender (main thread: it reads ``bpy.app``)."""
    binary = bpy.app.binary_path
    if binary:  # empty in the bpy module
        return [binary, "--background", "--factory-startup", "-noaudio", "--python", CHILD_SCRIPT, "--"]
    return [sys.executable, CHILD_SCRIPT]  # the bpy module: the child imports bpy itself


def shared() -> DecoderClient:
    """The client every job of this Blender uses (made on the main thread; its child starts with
    the first picture that needs it)."""
    if not _client:
        from ...core.images.decoder_client import MEMORY_MB, TIME_LIMIT, DecoderClient

        _client.append(DecoderClient(child_command(), time_limit=_number("TRIPO3D_DECODE_SECONDS", TIME_LIMIT),
                                     memory_mb=int(_number("TRIPO3D_DECODE_MEMORY_MB", MEMORY_MB))))
    return _client[0]


def stop() -> None:
    """End the child, if one runs (the batch's end, the add-on disabled); a later job starts another."""
    if _client:
        _client[0].stop()


def _number(variable: str, default: float) -> float:
    try:
        value = float(os.environ.get(variable, "") or default)
    except ValueError:
        return default
    return value if value > 0 else default
