"""The add-on's windows: which sidebars to redraw, and the one way to call an
operator from the job timer (:func:`call_operator`) in the window the artist uses.

A timer's context holds the first window (Blender sets it so that operators find
one), not the window the artist works in. Running an operator in another window
takes ``Context.temp_override``, and that needs care: the timer runs on the main
thread, but a ``bpy.ops`` call releases the GIL while Blender runs the operator,
so the add-on's threads (job workers, checks, cleanups) run Python meanwhile.
That alone is harmless, the operator's C code touches no Python object; under an
override it does: Blender keeps the override as a Python dict and looks context
members up in it from C, taking the GIL only when no thread seems to hold it, so
with a worker holding it the lookup runs unlocked beside the worker's Python (a
crash, seen with the glTF importer). Hence:

- an operator that needs no window of its own (an undo push) is called in the
  context it is given: no override, no dict, whatever runs meanwhile;
- one that needs the artist's window (a report for its status bar and Info log)
  is called there at once when that is the context's window, else under an
  override only while none of the add-on's threads is alive (they are named
  ``tripo3d-...``); until then it waits in :data:`_waiting` and the tick calls it
  (:func:`call_waiting`). Blender runs no Python threads of its own; another
  add-on's thread is beyond this guard.
"""

from __future__ import annotations

import threading

import bpy

#: The sidebar tab of the add-on's panels (the panels' bl_category).
CATEGORY = "Tripo3D"


def redraw() -> None:
    """Redraw the sidebars that show the job list (only them: tagging the whole
    area would redraw every 3D Viewport's scene at each progress step), and
    only those open on the add-on's tab: a sidebar showing another tab has
    nothing of ours to update, and each redraw costs the whole window a
    refresh."""
    wm = getattr(bpy.context, "window_manager", None)
    if wm is None:
        return
    for window in wm.windows:
        for area in window.screen.areas:
            if area.type in ("VIEW_3D", "IMAGE_EDITOR"):
                for region in area.regions:
                    if region.type == "UI" and region.width > 1 and getattr(
                            region, "active_panel_category", CATEGORY) in (CATEGORY, "UNSUPPORTED"):
                        region.tag_redraw()


#: The window the artist last started a job from (its pointer): a report from the
#: timer goes there. A timer's context holds the first window, and Python is not
#: told which window has the focus.
_artist_window = [0]


def remember_window(window) -> None:
    """Main thread, from an operator or the console: the window the artist works in now."""
    if window is not None:
        _artist_window[0] = window.as_pointer()


def operator_window():
    """The window an operator called from the timer should run in: the one the
    artist last started a job from, while it is open; else the context's; else
    the first (None without windows)."""
    wm = getattr(bpy.context, "window_manager", None)
    windows = list(wm.windows) if wm is not None else []
    for window in windows:
        if window.as_pointer() == _artist_window[0]:
            return window
    if bpy.context.window is not None:
        return bpy.context.window
    return windows[0] if windows else None


def add_on_threads_alive() -> bool:
    """Whether a thread of the add-on (a job's worker, a check, a cleanup, a
    request's deadline) is alive: it may take the GIL while an operator runs."""
    return any(t.name.startswith(THREAD_PREFIX) and t.is_alive() for t in threading.enumerate())


#: Operator calls that need a window, waiting for the add-on's threads to end
#: (oldest first; the oldest are dropped past :data:`MAX_WAITING`).
_waiting: list = []
MAX_WAITING = 20
#: The names of the add-on's threads start with this.
THREAD_PREFIX = "tripo3d"


def call_operator(operator, *args, needs_window: bool = False, **props) -> set | None:
    """Call ``operator`` (a ``bpy.ops`` function) from the main thread; returns its
    result, or None when it waits to be called by :func:`call_waiting` (a window
    is needed and the add-on's threads are running: see the module's docstring).
    Raises what the operator raises (RuntimeError).

    ``needs_window``: the operator belongs in the artist's window (a report for
    its status bar); without it, the call runs in the context it is given."""
    if not needs_window:
        return operator(*args, **props)  # the caller's context: no override, no dict for C to read
    target, here = operator_window(), bpy.context.window
    if target is not None and here is not None and target.as_pointer() == here.as_pointer():
        return operator(*args, **props)  # already the context's window: no override either
    call_in_a_window(operator, *args, **props)
    return None


def call_in_a_window(operator, *args, **props) -> None:
    """The timer's way to call an operator that needs a window: now if none of the
    add-on's threads is alive, else from a later tick (:func:`call_waiting`)."""
    if operator_window() is None:
        return  # no window at all: nowhere to show it
    _waiting.append((operator, args, props))
    del _waiting[:-MAX_WAITING]
    call_waiting()


def call_waiting() -> int:
    """From the timer: call the waiting operators in a window, once none of the
    add-on's threads is alive. Returns how many were called."""
    called = 0
    while _waiting and not add_on_threads_alive():
        window = operator_window()
        if window is None:
            _waiting.clear()
            break
        operator, args, props = _waiting.pop(0)
        with bpy.context.temp_override(window=window):
            try:
                operator(*args, **props)
            except (RuntimeError, AttributeError):
                pass  # an add-on's operator gone (disabled meanwhile): its message is in the panel
        called += 1
    return called
