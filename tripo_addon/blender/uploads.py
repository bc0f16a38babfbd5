"""Uploaded images no job needs any more are deleted in the background: left
by a crash, a stop, or a delete that failed (see core.delivery.sweep)."""

from __future__ import annotations

import threading

import bpy


def clean_later(manager, journal) -> None:
    """Start the clean-up in a thread (main thread only: it reads the settings
    here; the thread only talks to the bucket and writes the journal)."""
    if not bpy.app.online_access:
        return
    storage = manager.settings().storage
    if storage is None or not storage.delete_after:
        return

    from ..core.delivery import sweep  # on the main thread, before the worker needs it

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
