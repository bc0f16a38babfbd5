"""Deleting, in the background, the uploaded images no job needs any more: left
by a crash, a stop, or a delete that failed (see ``core.storage.delivery.sweep``)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import bpy

from ..user_data import journal as open_journal

if TYPE_CHECKING:
    from ..settings import Settings


def clean_later(manager, journal) -> None:
    """Start the clean-up in a thread (main thread only: it reads the settings
    here; the thread only talks to the bucket and writes the journal)."""
    if not bpy.app.online_access:
        return
    storage = manager.settings().storage
    if storage is None or not storage.delete_after:
        return

    from ...core.storage.delivery import sweep

    def work() -> None:
        try:
            deleted, problems = sweep(journal, storage)
        except Exception as exc:  # a bug: say so in the console, never break the add-on
            deleted, problems = 0, [f"Cleaning up uploaded images failed ({type(exc).__name__})."]
        manager.events.put(("", "sweep", {"deleted": deleted, "problems": problems}))

    threading.Thread(target=work, name="tripo3d-clean-uploads", daemon=True).start()


def report(manager, result: dict) -> None:
    """On the main thread, from the manager's tick."""
    if result["deleted"]:
        print(f"Tripo3D: deleted {result['deleted']} uploaded image(s) no job needs any more.", flush=True)
    for problem in result["problems"][:3]:
        manager.report("WARNING", problem)

def clean_uploads(settings: Settings) -> tuple[int, list[str]]:
    """Delete uploaded images left behind by earlier runs (blocking; CLI and scripts)."""
    if settings.storage is None or not bpy.app.online_access:
        return 0, []
    from ...core.storage.delivery import sweep

    return sweep(open_journal(), settings.storage)
