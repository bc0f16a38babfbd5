"""Registers the artist's side: the panel's modules, the timer that pumps
the job engine, the file-load handler and ``blender --command tripo3d``."""

from __future__ import annotations

import sys
import time

import bpy
from bpy.app.handlers import persistent

from . import job_list, operators, optimise_panel, panels, thumbnails, properties, model_preview
from ..engine import pausing
from ..engine.manager import manager
from ..exp import decoding
from ..windows import redraw

#: In registration order (unregistered in reverse).
MODULES = (properties, thumbnails, model_preview, job_list, operators, panels, optimise_panel)

_cli_handle = None
#: When the panel last redrew for time alone (running clocks, a message expiring).
_last_clock_redraw = [0.0]


def _tick() -> float:
    # One function object for the timer: a bound method is a new object at
    # every access, so bpy.app.timers could never find it again to unregister.
    # It must never raise: a timer that raises is dropped for the rest of the session.
    try:
        interval = manager.tick()
    except Exception as exc:
        from ...core import buglog
        from ..user_data import journal

        log = buglog.record(journal().directory, exc, "the job timer")
        print(f"Tripo3D: {buglog.sentence('the job timer', exc, log)}", file=sys.stderr)
        return 1.0
    now = time.time()
    if now - _last_clock_redraw[0] >= 1.0:
        recent = manager.messages and now - manager.messages[-1][0] < panels.MESSAGE_SECONDS + 1.5
        if manager.threads or manager.waiting or recent:
            _last_clock_redraw[0] = now
            redraw()  # elapsed clocks move, and a message goes once its time is up
    return interval


@persistent
def _on_load_post(_dummy=None) -> None:
    # A newly opened file may be the one that started a finished job.
    manager.recover()
    thumbnails.ensure_listed_icons()
    job_list.refresh_estimate()
    job_list.sync()




def _cli_command(argv: list[str]) -> int:
    from ..cli.main import main

    return main(argv, prog="blender --command tripo3d")


def register() -> None:
    global _cli_handle
    for module in MODULES:
        module.register()
    if not bpy.app.timers.is_registered(_tick):
        bpy.app.timers.register(_tick, first_interval=0.1, persistent=True)
    bpy.app.handlers.load_post.append(_on_load_post)
    pausing.subscribe()
    _cli_handle = bpy.utils.register_cli_command("tripo3d", _cli_command)
    try:
        manager.recover()
    except OSError as exc:
        print(f"Tripo3D: could not read the job journal ({exc.strerror}); jobs of earlier sessions are listed once "
              "its folder is readable again (restart Blender then).", file=sys.stderr)
    thumbnails.ensure_listed_icons()
    job_list.refresh_estimate()
    try:
        job_list.sync()
    except AttributeError:
        pass  # the window manager is not readable while Blender starts; load_post does it


def unregister() -> None:
    global _cli_handle
    manager.shutdown(timeout=0.5)
    decoding.stop()  # no decoder child outlives the add-on
    pausing.unsubscribe()
    if _cli_handle is not None:
        bpy.utils.unregister_cli_command(_cli_handle)
        _cli_handle = None
    if _on_load_post in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(_on_load_post)
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)
    for module in reversed(MODULES):
        module.unregister()
