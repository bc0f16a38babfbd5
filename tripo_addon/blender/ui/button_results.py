"""The preferences' check buttons (Test Connection, Test Storage): each check
runs off the main thread, and its one sentence shows under its button."""

from __future__ import annotations

import threading
from typing import Callable

import bpy

from ...core import buglog
from ...core import errors as E
from ..engine.manager import manager
from ..user_data import journal


def run_check(topic: str, check: Callable[[], tuple[str, str]], busy_text: str) -> None:
    """Run ``check`` (network only, never bpy) in a thread; a timer reports
    its (level, sentence) about ``topic`` when it comes."""
    result: list = []
    logs = journal().directory  # found here: the thread never calls bpy

    def probe() -> None:
        try:
            result.append(check())
        except E.TripoError as exc:
            result.append(("ERROR", exc.message))
        except Exception as exc:  # a bug must still end in a message, its traceback in the bug log
            result.append(("ERROR", buglog.sentence(f"the {topic} check", exc, buglog.record(logs, exc, topic))))

    threading.Thread(target=probe, name="tripo3d-check", daemon=True).start()

    def deliver():
        if not result:
            return 0.2
        report_about(topic, *result[0])
        return None

    bpy.app.timers.register(deliver, first_interval=0.2)
    report_about(topic, "INFO", busy_text)


def report_about(topic: str, level: str, text: str) -> None:
    """Report a result that belongs somewhere ("connection", "storage"): the
    status bar and Info log, and beside the button that asked for it."""
    manager.topic = topic
    try:
        manager.report(level, text)
    finally:
        manager.topic = ""
    for window in bpy.context.window_manager.windows if bpy.context.window_manager else []:
        for area in window.screen.areas:
            if area.type == "PREFERENCES":  # the result shows under its button now, not at the next hover
                area.tag_redraw()


def last_message(topic: str, seconds: float = 120.0):
    """(level, text) of the newest message about ``topic`` if recent, else None."""
    import time

    for stamp, level, text, about in reversed(manager.messages):
        if about == topic:
            return (level, text) if time.time() - stamp < seconds else None
    return None
