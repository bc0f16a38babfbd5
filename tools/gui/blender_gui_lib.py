"""Helpers for scripts that run INSIDE a real, windowed Blender under Xvfb.

Start such a script with ``tools/gui/run_blender_gui.sh SCRIPT.py -- ARGS``.
Import this module from the script with::

    import os, sys
    sys.path.insert(0, os.path.join(os.environ["TRIPO_GUI_REPO"], "tools", "gui"))
    import blender_gui_lib as gl

Blender in the trixie chroot runs Python 3.13; this file stays valid on 3.11.

Coordinates: Blender's ``window.x/y``, ``area.x/y`` and ``region.x/y`` and
event ``mouse_x/y`` have their origin at the bottom-left; ``area``/``region``
and ``mouse_x/y`` are relative to the window, ``mouse_region_x/y`` to the
region. X11 (xdotool, screenshots) has its origin at the top-left of the screen.
``region_to_screen`` converts; ``screen_to_window`` goes back.

Main pieces:
  screenshot(path)                     ImageMagick ``import -window root``
  find_area / find_region / override   locate editors, ``temp_override`` them
  open_image_editor / open_view3d      switch an area's editor
  show_sidebar / set_sidebar_tab       N-panel and its category tabs
  region_to_screen / xdotool_click     synthetic input at computed places
  EventRecorder                        modal operator logging real events
  StepRunner / run_steps               timer-driven scripted test steps
  UIProbe                              10 ms timer measuring main-thread stalls
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import bpy

# Blender ignores PYTHONUNBUFFERED and its stdout is block-buffered when
# piped: whatever was printed is lost if the run is killed (timeout). Make
# print() line-buffered for every script that imports this module.
for _stream in (sys.stdout, sys.stderr):
    try:
        _stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        pass

__all__ = [
    "EventRecorder",
    "StepRunner",
    "UIProbe",
    "area_center_on_screen",
    "disable_splash",
    "find_area",
    "find_region",
    "force_redraw",
    "get_sidebar_tab",
    "image_stats",
    "largest_area",
    "log",
    "main_window",
    "open_image_editor",
    "open_view3d",
    "override",
    "region_at",
    "region_center_on_screen",
    "region_point_from_top",
    "region_to_screen",
    "results_dir",
    "run_steps",
    "screen_size",
    "screen_to_window",
    "screenshot",
    "script_args",
    "set_area_type",
    "set_sidebar_tab",
    "show_sidebar",
    "sidebar_region",
    "wait_until",
    "window_rect_on_screen",
    "xdotool",
    "xdotool_click",
    "xdotool_key",
    "xdotool_move",
    "xdotool_type",
]


# --------------------------------------------------------------------------
# General
# --------------------------------------------------------------------------

def log(*parts: Any) -> None:
    """print() to stdout with a prefix and an immediate flush."""
    print("[gui]", *parts, flush=True)


def script_args(argv: list[str] | None = None) -> list[str]:
    """The arguments after ``--`` on Blender's command line."""
    argv = sys.argv if argv is None else argv
    return list(argv[argv.index("--") + 1:]) if "--" in argv else []


def results_dir() -> str:
    """$TRIPO_GUI_RESULTS (set by run_blender_gui.sh --results) or the cwd; created."""
    path = os.environ.get("TRIPO_GUI_RESULTS") or os.getcwd()
    os.makedirs(path, exist_ok=True)
    return path


def disable_splash() -> None:
    """Keep the splash / Quick Setup popup from opening.

    Must be called while the --python script is being loaded (Blender decides
    to show the splash after the script ran). A fresh BLENDER_USER_RESOURCES has
    no userpref.blend, so without this Blender 4.3 shows Quick Setup over the
    middle of the window, where it swallows clicks.
    """
    try:
        bpy.context.preferences.view.show_splash = False
    except Exception as exc:  # pragma: no cover - depends on Blender build
        log("disable_splash failed:", exc)


# --------------------------------------------------------------------------
# Screenshots
# --------------------------------------------------------------------------

def force_redraw(window: Any = None) -> None:
    """Redraw and swap the window now (``wm.redraw_timer DRAW_WIN_SWAP``).

    Only call it from a timer or an operator, not while the script loads.
    """
    window = window or main_window()
    with bpy.context.temp_override(window=window):
        bpy.ops.wm.redraw_timer(type="DRAW_WIN_SWAP", iterations=1)


def screenshot(path: str, *, redraw: bool = True, timeout: float = 30.0) -> str:
    """Grab the whole X screen into ``path`` (PNG) with ImageMagick ``import``.

    ``bpy.ops.screen.screenshot`` gives a black picture under Xvfb; ``import
    -window root`` gives the real one. Returns the absolute path.
    """
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if redraw:
        try:
            force_redraw()
        except Exception as exc:
            log("redraw before screenshot failed:", exc)
    subprocess.run(["import", "-silent", "-window", "root", path],
                   check=True, timeout=timeout,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return path


def image_stats(path: str) -> dict:
    """Distinct colour count and size of an image file, via ImageMagick."""
    out = subprocess.run(["identify", "-format", "%k %w %h", path],
                         check=True, capture_output=True, text=True, timeout=30).stdout
    colours, w, h = (int(v) for v in out.split()[:3])
    return {"colours": colours, "width": w, "height": h}


# --------------------------------------------------------------------------
# Windows, areas, regions, context
# --------------------------------------------------------------------------

def main_window() -> Any:
    """The first window of the window manager."""
    windows = bpy.context.window_manager.windows
    if not windows:
        raise RuntimeError("Blender has no window (running in --background?)")
    return windows[0]


def find_area(area_type: str, window: Any = None) -> Any:
    """The largest area of ``area_type`` ('VIEW_3D', 'IMAGE_EDITOR', ...) or None."""
    window = window or main_window()
    areas = [a for a in window.screen.areas if a.type == area_type]
    return max(areas, key=lambda a: a.width * a.height) if areas else None


def largest_area(window: Any = None) -> Any:
    """The largest area of the window's screen, whatever its type."""
    window = window or main_window()
    return max(window.screen.areas, key=lambda a: a.width * a.height)


def find_region(area: Any, region_type: str = "WINDOW") -> Any:
    """The region of ``region_type`` ('WINDOW', 'UI', 'HEADER', ...) in ``area``, or None."""
    for region in area.regions:
        if region.type == region_type:
            return region
    return None


def window_of_area(area: Any) -> Any:
    for window in bpy.context.window_manager.windows:
        if any(a == area for a in window.screen.areas):
            return window
    return main_window()


@contextmanager
def override(area: Any = None, region_type: str = "WINDOW", window: Any = None,
             **extra: Any) -> Iterator[Any]:
    """``bpy.context.temp_override`` for an area/region, e.g.::

        with gl.override(gl.find_area('IMAGE_EDITOR')):
            bpy.ops.image.view_all()

    Pass ``area=None`` for a window-only override. Yields the context.
    """
    window = window or (window_of_area(area) if area is not None else main_window())
    kwargs = {"window": window, "screen": window.screen}
    if area is not None:
        kwargs["area"] = area
        region = find_region(area, region_type)
        if region is not None:
            kwargs["region"] = region
        space = area.spaces.active
        if space is not None:
            kwargs["space_data"] = space
    kwargs.update(extra)
    with bpy.context.temp_override(**kwargs):
        yield bpy.context


def set_area_type(area: Any, area_type: str, ui_type: str | None = None) -> Any:
    """Switch ``area`` to another editor ('IMAGE_EDITOR', 'VIEW_3D', ...).

    The Area object stays valid (the editor changes in place); its regions are
    rebuilt, so look them up again afterwards. Layout sizes are known only
    after the next redraw: wait a tick (``yield 0.2`` in a step) before
    computing screen coordinates.
    """
    area.type = area_type
    if ui_type:
        area.ui_type = ui_type
    area.tag_redraw()
    return area


def open_image_editor(image: Any = None, area: Any = None, *, mode: str = "VIEW") -> Any:
    """Show ``image`` (a bpy.types.Image or None) in an Image Editor.

    Uses ``area`` or else an existing Image Editor or else turns the largest
    area (the 3D Viewport in the default layout) into one. Returns the area.
    """
    if area is None:
        area = find_area("IMAGE_EDITOR") or largest_area()
    if area.type != "IMAGE_EDITOR":
        set_area_type(area, "IMAGE_EDITOR")
    space = area.spaces.active
    try:
        space.mode = mode
    except (TypeError, ValueError, AttributeError) as exc:
        log("image editor mode:", exc)
    if image is not None:
        space.image = image
    area.tag_redraw()
    return area


def open_view3d(area: Any = None) -> Any:
    """Turn ``area`` (default: the largest one) into a 3D Viewport. Returns it."""
    if area is None:
        area = find_area("VIEW_3D") or largest_area()
    if area.type != "VIEW_3D":
        set_area_type(area, "VIEW_3D")
    return area


def sidebar_region(area: Any) -> Any:
    """The sidebar (N-panel, region type 'UI') of ``area`` or None."""
    return find_region(area, "UI")


def show_sidebar(area: Any, show: bool = True) -> Any:
    """Open (or close) the sidebar of ``area``; returns its 'UI' region.

    The region's size is 1x1 until Blender has redrawn: wait ~0.2 s.
    """
    area.spaces.active.show_region_ui = show
    area.tag_redraw()
    return sidebar_region(area)


def get_sidebar_tab(area: Any) -> str | None:
    """The active category tab of the sidebar, or None if it has no tabs."""
    region = sidebar_region(area)
    if region is None:
        return None
    value = getattr(region, "active_panel_category", None)
    return None if value in (None, "", "UNSUPPORTED") else value


def set_sidebar_tab(area: Any, category: str) -> bool:
    """Make ``category`` (a Panel's ``bl_category``) the active sidebar tab.

    Uses ``Region.active_panel_category`` (writable in Blender 4.2+). The
    category must already have a panel that has been laid out, i.e. the
    sidebar has been drawn at least once after the panel was registered (call
    it from a step after ``show_sidebar`` and a short wait). Returns True if
    the tab is active afterwards.
    """
    region = sidebar_region(area)
    if region is None:
        return False
    try:
        region.active_panel_category = category
    except (TypeError, AttributeError, ValueError) as exc:
        log("set_sidebar_tab:", exc)
        return False
    region.tag_redraw()
    area.tag_redraw()
    return get_sidebar_tab(area) == category


# --------------------------------------------------------------------------
# Coordinates
# --------------------------------------------------------------------------

def _xdotool_output(*args: str, timeout: float = 30.0) -> str:
    return subprocess.run(["xdotool", *args], check=True, capture_output=True,
                          text=True, timeout=timeout).stdout


def screen_size() -> tuple[int, int]:
    """(width, height) of the X screen."""
    w, h = _xdotool_output("getdisplaygeometry").split()[:2]
    return int(w), int(h)


def window_rect_on_screen(window: Any = None) -> tuple[int, int, int, int]:
    """(left, top, width, height) of a Blender window in X11 screen pixels.

    Blender reports ``window.y`` from the bottom of the screen (GHOST converts
    X11's top-left origin), so top = screen_height - window.y - window.height.
    Under Xvfb there is no window manager and no decoration.
    """
    window = window or main_window()
    _, screen_h = screen_size()
    top = screen_h - window.y - window.height
    return window.x, top, window.width, window.height


def region_to_screen(region: Any, x: float, y: float, window: Any = None) -> tuple[int, int]:
    """Region-local point (bottom-left origin, like ``event.mouse_region_x/y``)
    to X11 screen coordinates (top-left origin) for xdotool.

    Window pixel row ``wy`` (bottom-left) is X11 row ``height - 1 - wy`` inside
    the window (Blender's own conversion has the same ``- 1``).
    """
    window = window or main_window()
    left, top, _w, height = window_rect_on_screen(window)
    wx = region.x + round(x)
    wy = region.y + round(y)
    return left + wx, top + (height - 1 - wy)


def region_point_from_top(region: Any, x: float, y_from_top: float,
                          window: Any = None) -> tuple[int, int]:
    """Like region_to_screen but ``y_from_top`` is measured down from the
    region's top edge (how layouts fill a sidebar)."""
    return region_to_screen(region, x, region.height - 1 - y_from_top, window)


def region_center_on_screen(region: Any, window: Any = None) -> tuple[int, int]:
    return region_to_screen(region, region.width // 2, region.height // 2, window)


def area_center_on_screen(area: Any, window: Any = None) -> tuple[int, int]:
    window = window or window_of_area(area)
    left, top, _w, height = window_rect_on_screen(window)
    wx = area.x + area.width // 2
    wy = area.y + area.height // 2
    return left + wx, top + (height - 1 - wy)


def region_at(x: int, y: int, window: Any = None) -> tuple[Any, Any]:
    """(area, region) under window point (x, y) (bottom-left origin, like
    ``event.mouse_x/y``), or (None, None). Overlapping regions (sidebar over
    the main region) win over the main 'WINDOW' region."""
    window = window or main_window()
    for area in window.screen.areas:
        if not (area.x <= x < area.x + area.width and area.y <= y < area.y + area.height):
            continue
        hit = None
        for region in area.regions:
            if region.width <= 1 or region.height <= 1:
                continue
            if region.x <= x < region.x + region.width and region.y <= y < region.y + region.height:
                if hit is None or hit.type == "WINDOW":
                    hit = region
        return area, hit
    return None, None


def screen_to_window(sx: int, sy: int, window: Any = None) -> tuple[int, int]:
    """X11 screen point to Blender window coordinates (= ``event.mouse_x/y``)."""
    window = window or main_window()
    left, top, _w, height = window_rect_on_screen(window)
    return sx - left, height - 1 - (sy - top)


# --------------------------------------------------------------------------
# xdotool
# --------------------------------------------------------------------------

def xdotool(*args: Any, timeout: float = 30.0) -> str:
    """Run ``xdotool ARGS`` against $DISPLAY; returns stdout."""
    return _xdotool_output(*(str(a) for a in args), timeout=timeout)


def xdotool_move(x: int, y: int) -> None:
    """Move the pointer to X11 screen point (x, y)."""
    xdotool("mousemove", "--sync", int(x), int(y))


def xdotool_click(x: int, y: int, button: int = 1, *, settle: float = 0.05) -> None:
    """Move to X11 screen point (x, y), pause ``settle`` s so Blender sees the
    hover (buttons activate on hover), then press and release ``button``.

    The events are queued in the X server; Blender handles them on its next
    event-loop pass, so yield (wait) before checking the effect.
    """
    xdotool("mousemove", "--sync", int(x), int(y))
    if settle:
        # Blender must process the motion first (button hover highlighting).
        time.sleep(settle)
        xdotool("mousemove", int(x) + 1, int(y))
        xdotool("mousemove", int(x), int(y))
    xdotool("click", int(button))


def xdotool_key(*keys: str, delay_ms: int = 30) -> None:
    """Send key presses, e.g. ``xdotool_key('Escape')``, ``xdotool_key('ctrl+z')``.

    Blender routes keys to the area under the mouse pointer: move it first.
    """
    xdotool("key", "--delay", int(delay_ms), *keys)


def xdotool_type(text: str, delay_ms: int = 20) -> None:
    """Type text (into a text field being edited)."""
    xdotool("type", "--delay", int(delay_ms), text)


# --------------------------------------------------------------------------
# Event recorder (modal operator)
# --------------------------------------------------------------------------

class EventRecorder:
    """Records real input events Blender receives, via a pass-through modal
    operator. Proves where an xdotool click/move lands, e.g.::

        rec = gl.EventRecorder.start()
        gl.xdotool_move(*gl.region_to_screen(region, 10, 20))
        yield 0.3
        ev = rec.last('MOUSEMOVE')   # dict: mouse_x, mouse_y, region coords...
        rec.stop()

    Each event is a dict with type, value, mouse_x/y (window) and the
    area/region type under the mouse with mouse_region_x/y.
    """

    _instance: EventRecorder | None = None
    _registered = False

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.running = False

    @classmethod
    def _ensure_registered(cls) -> None:
        if cls._registered:
            return

        class TRIPO_GUI_OT_event_recorder(bpy.types.Operator):
            bl_idname = "tripo_gui.event_recorder"
            bl_label = "GUI test event recorder"
            bl_options = {"INTERNAL"}

            def invoke(self, context, event):
                context.window_manager.modal_handler_add(self)
                return {"RUNNING_MODAL"}

            def modal(self, context, event):
                rec = EventRecorder._instance
                if rec is None or not rec.running:
                    return {"FINISHED", "PASS_THROUGH"}
                if event.type not in {"TIMER", "TIMER_REPORT", "TIMERREGION", "NONE",
                                      "WINDOW_DEACTIVATE", "INBETWEEN_MOUSEMOVE"}:
                    # Window-level modal handlers have no area/region in
                    # their context: look up what is under the mouse.
                    area, region = region_at(event.mouse_x, event.mouse_y, context.window)
                    rec.events.append({
                        "type": event.type, "value": event.value,
                        "mouse_x": event.mouse_x, "mouse_y": event.mouse_y,
                        "area": area.type if area else None,
                        "region": region.type if region else None,
                        "mouse_region_x": event.mouse_region_x,
                        "mouse_region_y": event.mouse_region_y,
                        "time": time.monotonic(),
                    })
                return {"PASS_THROUGH"}

        bpy.utils.register_class(TRIPO_GUI_OT_event_recorder)
        cls._registered = True

    @classmethod
    def start(cls, window: Any = None) -> EventRecorder:
        """Register (once) and start the recorder on ``window``. Call from a
        timer/step, not while the script loads."""
        cls._ensure_registered()
        rec = cls()
        rec.running = True
        cls._instance = rec
        with bpy.context.temp_override(window=window or main_window()):
            bpy.ops.tripo_gui.event_recorder("INVOKE_DEFAULT")
        return rec

    def stop(self) -> None:
        """The modal handler ends on the next event it sees."""
        self.running = False

    def clear(self) -> None:
        self.events.clear()

    def last(self, event_type: str | None = None, value: str | None = None) -> dict | None:
        for ev in reversed(self.events):
            if (event_type is None or ev["type"] == event_type) and \
               (value is None or ev["value"] == value):
                return ev
        return None


# --------------------------------------------------------------------------
# Scripted steps
# --------------------------------------------------------------------------

def wait_until(predicate: Callable[[], Any], timeout: float = 10.0,
               interval: float = 0.05, message: str = "condition") -> Iterator[float]:
    """Generator for steps: ``yield from gl.wait_until(lambda: flag, 5)``.

    Yields ``interval`` until ``predicate()`` is truthy; raises TimeoutError
    after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {message}")
        yield interval


class StepFailure(AssertionError):
    pass


class StepRunner:
    """Runs test steps from a persistent ``bpy.app.timers`` callback.

    A step is a callable taking the runner. If it is a generator function, each
    ``yield SECONDS`` pauses that long (``yield`` / ``yield 0`` = one event-loop
    pass) while Blender keeps handling events and redrawing; any other return
    value moves on to the next step on the next pass. Steps store findings in
    ``runner.result`` (JSON-serialisable) and use ``runner.check(cond, msg)``.

    When all steps are done the result file gets
    ``{"ok": true, "result": {...}, "steps": [...], "elapsed": s}`` and Blender
    quits (``wm.quit_blender``, exit code 0). On any exception or timeout it
    gets ``ok: false`` with ``error`` and ``traceback`` and the process ends
    with ``os._exit(1)`` after flushing, so the shell sees the failure.
    A watchdog thread ends the process (exit 2) if the timer stops being
    called for ``timeout + 30`` s (e.g. the main thread hangs).
    """

    def __init__(self, steps: Iterable[Callable[[StepRunner], Any]],
                 result_path: str | None = None, *, timeout: float = 300.0,
                 quit_on_finish: bool = True, tick: float = 0.01) -> None:
        self.steps = list(steps)
        self.result_path = os.path.abspath(
            result_path or os.path.join(results_dir(), "result.json"))
        self.timeout = timeout
        self.quit_on_finish = quit_on_finish
        self.tick = tick
        self.result: dict = {}
        self.step_log: list[dict] = []
        self.finished = False
        self.ok: bool | None = None
        self._index = 0
        self._gen: Iterator[Any] | None = None
        self._wake = 0.0
        self._t0 = 0.0
        self._step_t0 = 0.0
        self._current = ""
        self._lock = threading.Lock()

    # -- public helpers for steps --
    def check(self, condition: Any, message: str = "check failed") -> None:
        """Fail the run (StepFailure) unless ``condition`` is truthy."""
        if not condition:
            raise StepFailure(message)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def start(self, first_interval: float = 0.5) -> StepRunner:
        """Register the timer. ``first_interval`` lets the window appear first."""
        self._t0 = time.monotonic()
        bpy.app.timers.register(self._tick, first_interval=first_interval, persistent=True)
        watchdog = threading.Thread(target=self._watchdog, name="gui-watchdog", daemon=True)
        watchdog.start()
        log(f"step runner started: {len(self.steps)} steps, result -> {self.result_path}")
        return self

    # -- internals --
    def _watchdog(self) -> None:
        limit = self.timeout + 30.0
        while not self.finished:
            time.sleep(1.0)
            if not self.finished and self.elapsed > limit:
                self._write(False, f"watchdog: timer not called for {limit:.0f} s "
                                   f"(main thread blocked?) in step {self._current!r}", "")
                os._exit(2)

    def _step_name(self, step: Any) -> str:
        return getattr(step, "__name__", repr(step))

    def _tick(self) -> float | None:
        if self.finished:
            return None
        try:
            if self.elapsed > self.timeout:
                raise TimeoutError(f"step runner timeout ({self.timeout:.0f} s) in step {self._current!r}")
            now = time.monotonic()
            if now < self._wake:
                return max(0.0, min(self._wake - now, 0.05))
            if self._gen is None:
                if self._index >= len(self.steps):
                    self._finish_ok()
                    return None
                step = self.steps[self._index]
                self._index += 1
                self._current = self._step_name(step)
                self._step_t0 = time.monotonic()
                log(f"step {self._index}/{len(self.steps)}: {self._current}")
                out = step(self)
                if hasattr(out, "__next__"):
                    self._gen = out
                else:
                    self._end_step()
                    return self.tick
            try:
                delay = next(self._gen)  # type: ignore[arg-type]
            except StopIteration:
                self._gen = None
                self._end_step()
                return self.tick
            delay = float(delay or 0.0)
            self._wake = time.monotonic() + delay
            return max(0.0, min(delay, 0.05)) if delay else 0.0
        except BaseException as exc:  # noqa: BLE001 - report everything
            self._finish_error(exc)
            return None

    def _end_step(self) -> None:
        self.step_log.append({"step": self._current,
                              "seconds": round(time.monotonic() - self._step_t0, 3)})

    def _write(self, ok: bool, error: str = "", tb: str = "") -> None:
        with self._lock:
            data = {
                "ok": ok,
                "error": error or None,
                "traceback": tb or None,
                "failed_step": None if ok else self._current,
                "steps": self.step_log,
                "elapsed": round(self.elapsed, 3),
                "result": self.result,
            }
            os.makedirs(os.path.dirname(self.result_path), exist_ok=True)
            tmp = self.result_path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2, default=repr)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.result_path)

    def _finish_ok(self) -> None:
        self.finished = True
        self.ok = True
        self._write(True)
        log(f"all steps passed in {self.elapsed:.1f} s")
        if self.quit_on_finish:
            _quit(0)

    def _finish_error(self, exc: BaseException) -> None:
        self.finished = True
        self.ok = False
        tb = traceback.format_exc()
        try:
            self._write(False, f"{type(exc).__name__}: {exc}", tb)
        finally:
            log(f"FAILED in step {self._current!r}:\n{tb}")
            sys.stdout.flush()
            sys.stderr.flush()
            if self.quit_on_finish:
                os._exit(1)


def _quit(code: int) -> None:
    """Quit Blender normally; if that has not happened in 20 s, hard-exit."""
    sys.stdout.flush()
    sys.stderr.flush()

    def hard_exit() -> None:
        time.sleep(20.0)
        os._exit(code)

    threading.Thread(target=hard_exit, daemon=True).start()
    try:
        with bpy.context.temp_override(window=main_window()):
            bpy.ops.wm.quit_blender()
    except Exception as exc:
        log(f"wm.quit_blender failed ({exc}); exiting")
        os._exit(code)


def run_steps(steps: Iterable[Callable[[StepRunner], Any]], result_path: str | None = None,
              *, timeout: float = 300.0, first_interval: float = 0.5,
              quit_on_finish: bool = True) -> StepRunner:
    """Create and start a StepRunner (call at the end of the --python script)."""
    return StepRunner(steps, result_path, timeout=timeout,
                      quit_on_finish=quit_on_finish).start(first_interval)


# --------------------------------------------------------------------------
# UI responsiveness probe
# --------------------------------------------------------------------------

class UIProbe:
    """A persistent ``interval``-second timer (10 ms) recording the time
    between its ticks. The longest gap bounds how long the main thread was
    blocked (plus Blender's own ~5-15 ms idle sleep)::

        probe = gl.UIProbe().start()
        ...                       # act; the probe keeps ticking
        yield 1.0
        probe.stop(); probe.max_gap  # seconds
    """

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.gaps: list[float] = []
        #: perf_counter() of every tick (and of start/stop), to place gaps in time.
        self.stamps: list[float] = []
        self.running = False
        self._last: float | None = None
        self._started: float | None = None
        self._max_at = -1

    def start(self) -> UIProbe:
        if not self.running:
            self.running = True
            self._last = time.perf_counter()
            self._started = self._last
            if not self.stamps:
                self.stamps.append(self._last)
            if not bpy.app.timers.is_registered(self._tick):
                bpy.app.timers.register(self._tick, first_interval=self.interval,
                                        persistent=True)
        return self

    def stop(self) -> UIProbe:
        """Stop recording (the timer unregisters itself on its next tick)."""
        if self.running and self._last is not None:
            # Count the time since the last tick as a gap too.
            now = time.perf_counter()
            self.gaps.append(now - self._last)
            self.stamps.append(now)
        self.running = False
        try:
            if bpy.app.timers.is_registered(self._tick):
                bpy.app.timers.unregister(self._tick)
        except Exception:
            pass
        return self

    def reset(self) -> UIProbe:
        self.gaps = []
        self._last = time.perf_counter() if self.running else None
        self.stamps = [self._last] if self._last is not None else []
        self._started = self._last
        return self

    def _tick(self) -> float | None:
        if not self.running:
            return None
        now = time.perf_counter()
        if self._last is not None:
            self.gaps.append(now - self._last)
        self.stamps.append(now)
        self._last = now
        return self.interval

    def intervals(self) -> list[tuple[float, float]]:
        """(start, end) of every gap, on the perf_counter clock."""
        return list(zip(self.stamps[:-1], self.stamps[1:], strict=True))

    @property
    def max_gap(self) -> float:
        return max(self.gaps) if self.gaps else 0.0

    @property
    def ticks(self) -> int:
        return len(self.gaps)

    def summary(self) -> dict:
        gaps = sorted(self.gaps)
        n = len(gaps)

        def pct(p: float) -> float:
            return gaps[min(n - 1, int(p * n))] if n else 0.0

        return {
            "interval": self.interval,
            "ticks": n,
            "max_gap": round(self.max_gap, 4),
            "mean_gap": round(sum(gaps) / n, 4) if n else 0.0,
            "p50_gap": round(pct(0.50), 4),
            "p95_gap": round(pct(0.95), 4),
            "over_50ms": sum(1 for g in gaps if g > 0.05),
            "over_100ms": sum(1 for g in gaps if g > 0.1),
        }
