"""Generate a model from the real sidebar button: runs INSIDE a windowed Blender.

    tools/gui/run_blender_gui.sh --results OUT --bind DIR tests/gui/generate_gui.py -- \
        --mode test|bench --out OUT --zip ZIP --base-url URL --image IMG.png \
        [--image2 IMG2.png] [--p2-image IMG ...] [--p2-stagger S] [--poll-interval S]

The API key comes in through the environment variable TRIPO_GUI_API_KEY (the
runner passes TRIPO_* through); it is never printed or written by this script.

What it does, as a new user would:
  install the extension zip, (test mode) run ``blender --command tripo3d
  --help`` against the same user folder, set the add-on preferences (key and
  gateway address), allow online access, open the image in an Image Editor
  with the sidebar on the "Tripo3D" tab next to a 3D Viewport, find the
  "Generate 3D Model" button on screen (hover + Ctrl+C copies a button's
  Python command: the scan looks for ``bpy.ops.tripo3d.generate()``), click it
  with xdotool, and watch the job with a 10 ms UI probe until the model is in
  the scene. Import ticks are recorded (the add-on's ``manager.tick`` is
  wrapped) so the probe gaps they cause can be told apart.

  test mode, then: screenshots mid-job and after import, check the scene,
  save a .blend, start a second job and quit Blender while it downloads (the
  host checks the journal and the exit time afterwards).

  bench mode (tools/bench_ui.py): before the click, the probe idle and
  with only the sidebar redrawn 10x/s; after the job, a naive blocking
  ``requests.get`` of the same GLB on the main thread (from a timer) under
  the same probe; a second clicked job (--image2, warm caches); then N jobs
  (P2, --p2-image) whose appearance in the scene a 10 ms watcher times.

Writes OUT/generate_result.json (see gl.StepRunner), screenshots, and
OUT/exit_marker.json from an atexit handler (proof Python finished at quit).
"""
from __future__ import annotations

import argparse
import atexit
import json
import os
import subprocess
import sys
import threading
import time

import bpy

sys.dont_write_bytecode = True   # Blender ignores PYTHONDONTWRITEBYTECODE
sys.path.insert(0, os.path.join(os.environ.get("TRIPO_GUI_REPO")
                                or os.path.dirname(os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__)))), "tools", "gui"))
import blender_gui_lib as gl  # noqa: E402

EXT_ID = "tripo3d"
PKG = f"bl_ext.user_default.{EXT_ID}"
CATEGORY = "Tripo3D"
GENERATE_CMD = "bpy.ops.tripo3d.generate()"
KEY_ENV = "TRIPO_GUI_API_KEY"

parser = argparse.ArgumentParser(prog="generate_gui.py")
parser.add_argument("--mode", choices=("test", "bench"), default="test")
parser.add_argument("--out", default=None)
parser.add_argument("--zip", required=True)
parser.add_argument("--base-url", required=True)
parser.add_argument("--image", required=True, help="image opened in the Image Editor")
parser.add_argument("--image2", default=None,
                    help="test: image of the job cut off by quitting; bench: of a second clicked job")
parser.add_argument("--p2-image", action="append", default=[], help="bench mode: one image per P2 job")
parser.add_argument("--p2-stagger", type=float, default=1.3, help="seconds between P2 job starts")
parser.add_argument("--poll-interval", type=float, default=2.0)
parser.add_argument("--max-concurrent", type=int, default=3)
parser.add_argument("--idle-seconds", type=float, default=3.0)
parser.add_argument("--no-click", action="store_true", help="call the operator instead of clicking (debug)")
parser.add_argument("--timeout", type=float, default=400.0)
ARGS = parser.parse_args(gl.script_args())
OUT = os.path.abspath(ARGS.out or gl.results_dir())
os.makedirs(OUT, exist_ok=True)
RESULT_PATH = os.path.join(OUT, "generate_result.json")
EXIT_MARKER = os.path.join(OUT, "exit_marker.json")
for stale in (RESULT_PATH, EXIT_MARKER):
    if os.path.exists(stale):
        os.remove(stale)

gl.disable_splash()


# --------------------------------------------------------------- exit mark ---
def _exit_marker() -> None:
    # Registered before the add-on is imported, so (atexit is LIFO) it runs
    # after the add-on's own atexit shutdown of its workers.
    try:
        data = {"time": time.time(),
                "threads": sorted(t.name for t in threading.enumerate() if t.is_alive())}
        with open(EXIT_MARKER, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
    except Exception as exc:  # pragma: no cover
        print("[gui] exit marker failed:", exc, flush=True)


atexit.register(_exit_marker)


# ----------------------------------------------------------------- helpers ---
# The probe keeps each tick's perf_counter time, so a gap can be placed on
# the same clock as the import ticks.
StampedProbe = gl.UIProbe


def gap_stats(probe: StampedProbe, t_from: float, t_to: float,
              exclude: list[tuple[float, float]]) -> dict:
    """Max/percentiles of probe gaps that END within [t_from, t_to], apart from
    those overlapping an excluded span (an import tick)."""
    kept, dropped = [], []
    for a, b in probe.intervals():
        if b < t_from or a > t_to:
            continue
        if any(a < e1 and b > e0 for e0, e1 in exclude):
            dropped.append(b - a)
        else:
            kept.append((b - a, a))
    gaps = sorted(g for g, _ in kept)
    n = len(gaps)

    def pct(p):
        return gaps[min(n - 1, int(p * n))] if n else 0.0

    worst = max(kept) if kept else (0.0, t_from)
    return {
        "window_s": round(t_to - t_from, 3),
        "ticks": n,
        "max_gap_ms": round(worst[0] * 1000, 2),
        "stall_ms": round(max(0.0, worst[0] - probe.interval) * 1000, 2),
        "max_gap_at_s": round(worst[1] - t_from, 3),
        "p50_gap_ms": round(pct(0.5) * 1000, 2),
        "p99_gap_ms": round(pct(0.99) * 1000, 2),
        "over_20ms": sum(1 for g in gaps if g > 0.02),
        "over_50ms": sum(1 for g in gaps if g > 0.05),
        "excluded_gaps_ms": [round(g * 1000, 1) for g in dropped],
        "top_gaps": [[round(g * 1000, 1), round(a - t_from, 3)] for g, a in sorted(kept, reverse=True)[:6]],
    }


#: Timeline spans that are the add-on's own Python time on the main thread
#: (they never nest in one another: panels draw, timers tick, operators run).
ADDON_KINDS = ("draw", "tick", "op")


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def sidebar_redraws(t_from: float, t_to: float, space: str = "IMAGE_EDITOR") -> list[dict]:
    """Each redraw of ``space``'s sidebar that ended in [t_from, t_to]: from the
    first add-on panel draw() (the region's layout) to the region's
    POST_PIXEL callback (its draw done), and how much of it was the panels'
    Python draw(). The rest is Blender laying out and drawing the buttons."""
    ends = sorted(p for k, n, p in REC.marks if k == "region" and n == f"{space}/UI")
    draws = sorted((p0, p1) for k, n, p0, p1 in REC.spans if k == "draw" and n.startswith(space + "/"))
    out, prev, i = [], float("-inf"), 0
    for end in ends:
        mine = []
        while i < len(draws) and draws[i][0] < end:
            if draws[i][0] > prev:
                mine.append(draws[i])
            i += 1
        if mine and t_from <= end <= t_to:
            out.append({"start": mine[0][0], "end": end, "ms": (end - mine[0][0]) * 1000,
                        "draw_ms": sum(b - a for a, b in mine) * 1000})
        prev = end
    return out


def sidebar_reference(t_from: float, t_to: float) -> dict:
    """Sidebar redraw durations with no add-on work but the panels' draw()."""
    rd = sidebar_redraws(t_from, t_to)
    blender = sorted(r["ms"] - r["draw_ms"] for r in rd)
    total = sorted(r["ms"] for r in rd)
    draw = sorted(r["draw_ms"] for r in rd)

    def med(v):
        return round(v[len(v) // 2], 2) if v else None

    return {"redraws": len(rd), "region_ms_p50": med(total), "region_ms_max": round(max(total), 2) if total else None,
            "panels_draw_ms_p50": med(draw), "blender_part_ms_p50": med(blender),
            "blender_part_ms_max": round(max(blender), 2) if blender else None}


def explain_gaps(probe: StampedProbe, t_from: float, t_to: float, exclude: list[tuple[float, float]],
                 ref_blender_ms: float | None, top: int = 6) -> dict:
    """What happened inside each probe gap (same gaps as gap_stats), and the
    part of each stall the add-on accounts for:

    * a gap in which no region of the window was drawn: the whole stall
      (nothing but event handling and timers ran: charged to the add-on);
    * a gap with redraws: the add-on's own Python time in it (panel draw(),
      its timer tick, its operator) plus, for each sidebar redraw in it, the
      part of Blender's layout/draw of the sidebar beyond the median of the
      no-job reference redraws (``ref_blender_ms``: more boxes, icons,
      thumbnails built while drawing). The rest (the other regions and the
      window's composite and buffer swap) is Blender's redraw.
    """
    ref = ref_blender_ms or 0.0
    sb = sidebar_redraws(t_from - 1.0, t_to + 1.0)
    rows = []
    for a, b in probe.intervals():
        if b < t_from or a > t_to or any(a < e1 and b > e0 for e0, e1 in exclude):
            continue
        stall = max(0.0, (b - a) - probe.interval) * 1000
        addon = {k: 0.0 for k in ADDON_KINDS}
        draws = []
        for k, n, p0, p1 in REC.spans:
            if p1 < a or p0 > b:
                continue
            ov = _overlap(a, b, p0, p1) * 1000
            if k in addon:
                addon[k] += ov
            if k == "draw":
                draws.append([n, round((p1 - p0) * 1000, 2)])
        regions: dict[str, int] = {}
        for k, n, p in REC.marks:
            if k == "region" and a < p < b:
                regions[n] = regions.get(n, 0) + 1
        sidebars = [r for r in sb if a < r["end"] < b]
        extra = sum(max(0.0, r["ms"] - r["draw_ms"] - ref) for r in sidebars)
        own = sum(addon.values())
        attributable = min(stall, own + extra) if regions else stall
        rows.append({
            "gap_ms": round((b - a) * 1000, 1), "stall_ms": round(stall, 1), "at_s": round(a - t_from, 3),
            "attributable_ms": round(attributable, 2),
            "addon_python_ms": {k: round(v, 2) for k, v in addon.items()},
            "sidebar_redraws": [[round(r["ms"], 1), round(r["draw_ms"], 2)] for r in sidebars],
            "sidebar_beyond_reference_ms": round(extra, 2),
            "regions_drawn": regions,
            "panel_draws": draws[:8],
            "reports": [[n, round((p1 - p0) * 1000, 2)] for k, n, p0, p1 in REC.spans
                        if k == "report" and a <= p0 <= b],
            "worker_events_ms_into_gap": [[n, round((p - a) * 1000, 1)] for k, n, p in REC.marks
                                          if k == "worker" and a < p < b],
            "redraw_tags": sum(1 for k, n, p in REC.marks if k == "tag" and a < p < b),
        })
    no_redraw = [r for r in rows if not r["regions_drawn"]]
    worst_attr = max(rows, key=lambda r: r["attributable_ms"]) if rows else None
    worst_plain = max(no_redraw, key=lambda r: r["stall_ms"]) if no_redraw else None
    return {
        "attributable_ms": worst_attr["attributable_ms"] if worst_attr else 0.0,
        "attributable_at_s": worst_attr["at_s"] if worst_attr else None,
        "no_redraw_stall_ms": worst_plain["stall_ms"] if worst_plain else 0.0,
        "no_redraw_stall_at_s": worst_plain["at_s"] if worst_plain else None,
        "gaps_with_redraw": len(rows) - len(no_redraw),
        "gaps": len(rows),
        "reference_sidebar_blender_ms": round(ref, 2),
        "longest": sorted(rows, key=lambda r: -r["gap_ms"])[:top],
        "most_attributable": sorted(rows, key=lambda r: -r["attributable_ms"])[:3],
    }


def addon():
    """The installed add-on's modules."""
    import importlib

    return {
        "jm": importlib.import_module(f"{PKG}.blender.engine.manager"),
        "ops": importlib.import_module(f"{PKG}.blender.ui.operators"),
        "panels": importlib.import_module(f"{PKG}.blender.ui.panels"),
        "thumbnails": importlib.import_module(f"{PKG}.blender.ui.thumbnails"),
        "jobs": importlib.import_module(f"{PKG}.core.jobs"),
        "paths": importlib.import_module(f"{PKG}.blender.user_data"),
    }


class Recorder:
    """Tick wrapper + listener + panel draw hook: what the add-on did when."""

    def __init__(self) -> None:
        self.ticks: list[dict] = []         # ticks that imported or took > 2 ms
        self.events: list[dict] = []        # listener events (main thread)
        self.draws: list[dict] = []         # jobs panel draws (bounded)
        self.draw_states: dict[str, set] = {}
        self.import_spans: list[tuple[float, float]] = []
        self.tick_count = 0
        self.operator_ms: list[dict] = []  # main-thread time of each tripo3d.generate call
        self.max_tick_ms = 0.0             # longest tick that imported nothing
        # Timeline (perf_counter), for explaining probe gaps:
        #   spans: [kind, name, p0, p1]; kinds "draw" (a Tripo3D panel's draw(),
        #   name "SPACE/panel"), "tick" (manager.tick), "op" (Generate invoke),
        #   "report" (manager.report, inside a tick or an operator)
        #   marks: [kind, name, p]; kinds "region" (a region finished drawing:
        #   POST_PIXEL callback or header draw, name "SPACE/REGION"),
        #   "worker" (a worker thread put an event on the queue), "tag" (the
        #   add-on's redraw() tagged the sidebars)
        self.spans: list[list] = []
        self.marks: list[list] = []
        self._draw_handles: list = []

    def install(self) -> None:
        mods = addon()
        manager = mods["jm"].manager
        State = mods["jobs"].State
        cls_tick = type(manager).tick
        rec = self

        def tick_wrapper():
            before = {jid: j.state for jid, j in manager.jobs.items()}
            p0 = time.perf_counter()
            w0 = time.time()
            try:
                return cls_tick(manager)
            finally:
                p1 = time.perf_counter()
                imported = [jid for jid, j in manager.jobs.items()
                            if j.state in (State.IMPORTED, State.IMPORT_FAILED) and before.get(jid) != j.state]
                rec.tick_count += 1
                rec.spans.append(["tick", "manager.tick", p0, p1])
                if imported:
                    rec.import_spans.append((p0, p1))
                else:
                    rec.max_tick_ms = max(rec.max_tick_ms, (p1 - p0) * 1000)
                if imported or p1 - p0 > 0.002:
                    rec.ticks.append({"p0": p0, "p1": p1, "wall0": w0, "ms": round((p1 - p0) * 1000, 2),
                                      "imported": imported})

        manager.tick = tick_wrapper   # ui._tick calls manager.tick() on every timer pass

        def listener(job, event):
            rec.events.append({"p": time.perf_counter(), "wall": time.time(), "job": job.id,
                               "event": event, "state": job.state})

        manager.listeners.append(listener)

        def draw_hook(panel, context):
            try:
                jobs = [(j.id, j.state, j.download_bytes, j.download_total) for j in manager.jobs.values()]
                for jid, state, *_ in jobs:
                    rec.draw_states.setdefault(jid, set()).add(state)
                if len(rec.draws) < 2000:
                    rec.draws.append({"wall": time.time(), "space": context.space_data.type,
                                      "jobs": jobs})
            except Exception:
                pass

        # Time the Generate operator itself (Blender looks the method up on
        # the class at each call, so a wrapper sees every click).
        op_cls = mods["ops"].TRIPO3D_OT_generate
        orig_invoke = op_cls.invoke

        def timed_invoke(self, context, event):
            p0 = time.perf_counter()
            try:
                return orig_invoke(self, context, event)
            finally:
                p1 = time.perf_counter()
                rec.operator_ms.append({"p0": p0, "ms": round((p1 - p0) * 1000, 2), "via": "invoke"})
                rec.spans.append(["op", "generate.invoke", p0, p1])

        op_cls.invoke = timed_invoke

        mods["panels"].TRIPO3D_PT_jobs_image.append(draw_hook)
        mods["panels"].TRIPO3D_PT_jobs_view3d.append(draw_hook)
        self.install_timeline(mods)

    def install_timeline(self, mods) -> None:
        """Timestamps for explaining probe gaps: every draw() of the add-on's
        panels (timed), the end of each region's draw in the window, worker
        events as the worker posts them, redraw tags and reports."""
        rec = self
        ui_mod, jm = mods["panels"], mods["jm"]
        mgr = jm.manager
        pc = time.perf_counter

        def timed_draw(cls, orig):
            space = cls.bl_space_type
            short = cls.__name__.replace("TRIPO3D_PT_", "")

            def draw(self, context):
                p0 = pc()
                try:
                    return orig(self, context)
                finally:
                    rec.spans.append(["draw", f"{space}/{short}", p0, pc()])
            return draw

        for cls in (ui_mod.TRIPO3D_PT_generate_image, ui_mod.TRIPO3D_PT_jobs_image,
                    ui_mod.TRIPO3D_PT_generate_view3d, ui_mod.TRIPO3D_PT_jobs_view3d):
            cls.draw = timed_draw(cls, cls.draw)

        def region_mark(name):
            def cb():
                rec.marks.append(["region", name, pc()])
            return cb

        T = bpy.types
        for space_name, space_cls, regions in (
                ("IMAGE_EDITOR", T.SpaceImageEditor, ("WINDOW", "UI", "HEADER", "TOOLS")),
                ("VIEW_3D", T.SpaceView3D, ("WINDOW", "UI", "HEADER", "TOOLS")),
                ("OUTLINER", T.SpaceOutliner, ("WINDOW", "HEADER")),
                ("PROPERTIES", T.SpaceProperties, ("WINDOW", "HEADER", "NAVIGATION_BAR")),
                ("DOPESHEET", T.SpaceDopeSheetEditor, ("WINDOW", "HEADER")),
                ("INFO", T.SpaceInfo, ("WINDOW", "HEADER"))):
            for region in regions:
                try:
                    h = space_cls.draw_handler_add(region_mark(f"{space_name}/{region}"), (), region,
                                                   "POST_PIXEL")
                    self._draw_handles.append((space_cls, h, region))
                except Exception:  # noqa: BLE001 (a region type without callbacks)
                    pass
        for name, header in (("STATUSBAR/HEADER", getattr(T, "STATUSBAR_HT_header", None)),
                             ("TOPBAR/HEADER", getattr(T, "TOPBAR_HT_upper_bar", None))):
            if header is not None:
                header.append(lambda _self, _ctx, _n=name: rec.marks.append(["region", _n, pc()]))

        # Worker side: when each event is posted (worker thread; list.append is atomic).
        q_put = mgr.events.put

        def put(item, *a, **kw):
            try:
                rec.marks.append(["worker", f"{item[0][:6]}:{item[1]}", pc()])
            except Exception:  # noqa: BLE001
                pass
            return q_put(item, *a, **kw)

        mgr.events.put = put

        orig_redraw = jm.redraw

        def redraw_wrapper(*a, **kw):
            rec.marks.append(["tag", "redraw()", pc()])
            return orig_redraw(*a, **kw)

        jm.redraw = redraw_wrapper   # tick/import_now look the module global up at each call

        orig_report = mgr.report

        def report_wrapper(level, text):
            p0 = pc()
            try:
                return orig_report(level, text)
            finally:
                rec.spans.append(["report", level, p0, pc()])

        mgr.report = report_wrapper

    def phase_times(self, job_id: str) -> dict:
        """perf_counter times the main thread first saw each state of a job."""
        out: dict[str, float] = {}
        for ev in self.events:
            if ev["job"] == job_id and ev["state"] not in out:
                out[ev["state"]] = ev["p"]
        return out


REC = Recorder()


def manager():
    return addon()["jm"].manager


def State():
    return addon()["jobs"].State


def job_dict(job) -> dict:
    keys = ("id", "state", "request_id", "source", "glb_path", "objects", "error", "created_at",
            "submitted_at", "completed_seen_at", "downloaded_at", "import_started_at", "imported_at",
            "download_bytes", "download_total", "media_urls", "blend_file", "origin")
    return {k: getattr(job, k) for k in keys}


def image_editor():
    return gl.find_area("IMAGE_EDITOR")


def view3d():
    return gl.find_area("VIEW_3D")


def shot_async(name: str) -> tuple[threading.Thread, dict]:
    """Screenshot from a thread (``import -window root`` reads the X server):
    the main thread keeps running, so the probe is not disturbed."""
    path = os.path.join(OUT, name)
    box: dict = {"path": path}

    def work():
        try:
            gl.screenshot(path, redraw=False)
            box["ok"] = True
        except Exception as exc:  # noqa: BLE001
            box["error"] = repr(exc)

    for area in gl.main_window().screen.areas:
        area.tag_redraw()
    t = threading.Thread(target=work, name="gui-shot", daemon=True)
    return t, box


def take_shot(run, name: str):
    """Generator: tag a redraw, let it happen, grab the screen in a thread."""
    for area in gl.main_window().screen.areas:
        area.tag_redraw()
    yield 0.3
    t, box = shot_async(name)
    t.start()
    yield from gl.wait_until(lambda: not t.is_alive(), 30, message=f"screenshot {name}")
    run.check(box.get("ok"), f"screenshot {name} failed: {box.get('error')}")
    run.result.setdefault("screenshots", {})[name] = box["path"]


# ------------------------------------------------------------------- steps ---
def step_environment(run: gl.StepRunner):
    run.result["mode"] = ARGS.mode
    run.result["blender_version"] = bpy.app.version_string
    run.result["background"] = bpy.app.background
    run.result["user_resources"] = os.environ.get("BLENDER_USER_RESOURCES")
    run.result["key_in_env"] = bool(os.environ.get(KEY_ENV))
    run.result["pixazo_env"] = sorted(k for k in os.environ if k.startswith("PIXAZO_"))
    run.check(not bpy.app.background, "Blender runs in background mode")
    run.check(os.environ.get(KEY_ENV), f"{KEY_ENV} is not set")
    yield 0.5


def step_install(run: gl.StepRunner):
    t0 = time.monotonic()
    ret = bpy.ops.extensions.package_install_files(filepath=ARGS.zip, repo="user_default",
                                                   enable_on_install=True)
    yield 0.5
    enabled = sorted(a.module for a in bpy.context.preferences.addons if a.module.startswith("bl_ext."))
    run.result["install"] = {"operator_return": sorted(ret), "enabled": enabled,
                             "seconds": round(time.monotonic() - t0, 2),
                             "extensions_dir": bpy.utils.user_resource("EXTENSIONS")}
    run.check("FINISHED" in ret, f"package_install_files returned {ret!r}")
    run.check(PKG in enabled, f"{PKG} not enabled: {enabled!r}")
    mods = addon()
    run.result["extension_user_dir"] = mods["paths"].user_dir()
    import requests   # the copy the add-on gets: in Debian's Blender without python3-requests, its wheels'

    run.result["install"]["requests_file"] = requests.__file__
    run.result["install"]["system_requests"] = os.path.isdir("/usr/lib/python3/dist-packages/requests")
    REC.install()


def step_cli(run: gl.StepRunner):
    """``blender --command tripo3d --help`` against this run's user folder.

    A separate Blender reads the saved preferences to know the extension is
    enabled, so they are saved first (before any key is set), and the child
    gets no PIXAZO_* variables."""
    ret = bpy.ops.wm.save_userpref()
    run.check("FINISHED" in ret, f"save_userpref returned {ret!r}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIXAZO_", "TRIPO_GUI_API"))}
    box: dict = {}

    def work():
        t0 = time.monotonic()
        try:
            p = subprocess.run([bpy.app.binary_path, "--command", "tripo3d", "--help"],
                               capture_output=True, text=True, env=env, timeout=120)
            box.update(rc=p.returncode, stdout=p.stdout, stderr=p.stderr)
        except Exception as exc:  # noqa: BLE001
            box.update(rc=None, error=repr(exc))
        box["seconds"] = round(time.monotonic() - t0, 2)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    yield from gl.wait_until(lambda: not t.is_alive(), 130, message="blender --command tripo3d --help")
    out = box.get("stdout", "")
    run.result["cli_help"] = {"rc": box.get("rc"), "seconds": box.get("seconds"),
                              "usage_line": next((ln for ln in out.splitlines() if ln.startswith("usage:")), None),
                              "stdout_tail": out[-600:], "stderr_tail": box.get("stderr", "")[-600:],
                              "error": box.get("error")}
    run.check(box.get("rc") == 0, f"blender --command tripo3d --help exited {box.get('rc')}: "
                                  f"{box.get('stderr', '')[-400:]} {box.get('error', '')}")
    run.check("usage: blender --command tripo3d" in out, "no usage text from --command tripo3d --help")


def step_configure(run: gl.StepRunner):
    prefs = bpy.context.preferences.addons[PKG].preferences
    prefs.api_key = os.environ[KEY_ENV]
    prefs.base_url = ARGS.base_url
    prefs.poll_interval = ARGS.poll_interval
    prefs.max_concurrent = ARGS.max_concurrent
    bpy.context.preferences.system.use_online_access = True
    yield 0.2
    run.result["online_access"] = bpy.app.online_access
    run.result["prefs"] = {"base_url": prefs.base_url, "poll_interval": prefs.poll_interval,
                           "max_concurrent": prefs.max_concurrent, "api_key_set": bool(prefs.api_key)}
    run.check(bpy.app.online_access, "online access could not be turned on")


def step_layout(run: gl.StepRunner):
    """Left: the Image Editor with the picture and the sidebar on Tripo3D;
    right: a 3D Viewport (solid shading with textures) for the result."""
    img = bpy.data.images.load(ARGS.image)
    cube = bpy.data.objects.get("Cube")
    if cube is not None:
        bpy.data.objects.remove(cube)
    big = gl.largest_area()
    with gl.override(big):
        bpy.ops.screen.area_split(direction="VERTICAL", factor=0.55)
    yield 0.3
    views = sorted((a for a in gl.main_window().screen.areas if a.type == "VIEW_3D"), key=lambda a: a.x)
    run.check(len(views) == 2, f"area split gave {len(views)} 3D views")
    left, right = views
    right.spaces.active.shading.type = "SOLID"
    right.spaces.active.shading.color_type = "TEXTURE"
    area = gl.open_image_editor(img, left)
    gl.show_sidebar(area)
    yield 0.5
    with gl.override(area):
        # Show the whole picture left of the sidebar (which overlaps the image).
        bpy.ops.image.view_all(fit_view=True)
        bpy.ops.image.view_zoom_ratio(ratio=0.75)
        ui = gl.sidebar_region(area)
        bpy.ops.image.view_pan(offset=(ui.width / 2 / 0.75, 0))
    yield 0.2
    ok = gl.set_sidebar_tab(area, CATEGORY)
    yield 0.5
    run.result["sidebar_tab"] = gl.get_sidebar_tab(area)
    run.check(ok and gl.get_sidebar_tab(area) == CATEGORY, f"sidebar tab is {gl.get_sidebar_tab(area)!r}")
    ui = gl.sidebar_region(area)
    run.result["sidebar_region"] = [ui.x, ui.y, ui.width, ui.height]
    run.result["image_area"] = [area.x, area.y, area.width, area.height]
    run.result["view3d_area"] = [right.x, right.y, right.width, right.height]
    run.result["window_rect"] = list(gl.window_rect_on_screen())
    run.check(area.spaces.active.image == img, "image not shown")


def _copy_under_pointer(ui, x: float, y_from_top: float, rec: gl.EventRecorder):
    """Generator: hover (x, y) in the sidebar and press Ctrl+C; returns the
    clipboard (over an operator button Blender copies its Python command).

    One xdotool process per point, not waited for on the main thread: Blender
    handles the moves (the second one activates the hovered button) and the
    key while this step yields. The event recorder (a window modal handler,
    which sees each event before the buttons do) tells when the key arrived."""
    wm = bpy.context.window_manager
    wm.clipboard = ""
    presses = sum(1 for e in rec.events if e["type"] == "C" and e["value"] == "PRESS")
    sx, sy = gl.region_point_from_top(ui, x, y_from_top)
    proc = subprocess.Popen(["xdotool", "mousemove", "--sync", str(sx), str(sy), "sleep", "0.03",
                             "mousemove", str(sx + 1), str(sy), "sleep", "0.03", "key", "ctrl+c"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (
            proc.poll() is None
            or sum(1 for e in rec.events if e["type"] == "C" and e["value"] == "PRESS") <= presses):
        yield 0.01
    yield 0.02      # the button handles the key in the same pass, after the recorder
    return wm.clipboard


def step_find_button(run: gl.StepRunner):
    """Locate "Generate 3D Model" on screen: hover + Ctrl+C down the sidebar
    until the clipboard says bpy.ops.tripo3d.generate(), then bisect its top
    and bottom edges; the click goes to the middle."""
    area = image_editor()
    ui = gl.sidebar_region(area)
    rec = gl.EventRecorder.start()
    yield 0.2
    x = round(ui.width * 0.45)          # panel column, left of the tab strip
    # Rows are 20 px at UI scale 1 and the button is 1.5 rows: an 18 px step
    # cannot jump over it.
    step = max(6, int(18 * bpy.context.preferences.system.ui_scale))
    t0 = time.monotonic()
    probes = [0]

    def on_button(yy):
        probes[0] += 1
        text = yield from _copy_under_pointer(ui, x, yy, rec)
        return text.strip() == GENERATE_CMD

    first_hit = None
    for offset in (0, step // 2):       # a second pass in between, should one probe misfire
        for yt in range(8 + offset, ui.height - 8, step):
            if (yield from on_button(yt)):
                first_hit = yt
                break
        if first_hit is not None:
            break
    found = {"x": x, "step": step, "coarse_probes": probes[0]}
    if first_hit is None:
        rec.stop()
        found.update(found=False, seconds=round(time.monotonic() - t0, 2))
        run.result["button"] = found
        return

    def edge(hit, miss):
        """Bisect between a row on the button and one off it, to 1 px."""
        while abs(hit - miss) > 1:
            mid = (hit + miss) // 2
            if (yield from on_button(mid)):
                hit = mid
            else:
                miss = mid
        return hit

    top = yield from edge(first_hit, max(0, first_hit - step))
    below = first_hit + step
    while (yield from on_button(below)):
        below += step
    bottom = yield from edge(first_hit, below)
    mid = (top + bottom) // 2
    verified = yield from on_button(mid)
    rec.stop()
    found.update(found=verified, top=top, bottom=bottom, center=[x, mid], probes=probes[0],
                 seconds=round(time.monotonic() - t0, 2))
    run.result["button"] = found
    # Move the pointer away so the hover highlight does not show in screenshots.
    gl.xdotool_move(*gl.region_to_screen(gl.find_region(area, "WINDOW"), 60, 60))
    yield 0.2


def step_idle_probe(run: gl.StepRunner):
    """bench: the same probe with Blender idle, then with nothing but the
    Tripo3D sidebar being redrawn 10 times a second (what a download's
    progress asks for): the cost of a redraw in this window, without the add-on
    doing anything."""
    yield 1.0
    probe = StampedProbe(0.01).start()
    t0 = time.perf_counter()
    yield ARGS.idle_seconds
    t1 = time.perf_counter()
    probe.stop()
    run.result["idle_probe"] = gap_stats(probe, t0, t1, [])
    ui = gl.sidebar_region(image_editor())
    count = [0]

    def tagger():
        ui.tag_redraw()
        count[0] += 1
        return 0.1 if count[0] < ARGS.idle_seconds * 10 else None

    probe = StampedProbe(0.01).start()
    t0 = time.perf_counter()
    bpy.app.timers.register(tagger, first_interval=0.05)
    yield from gl.wait_until(lambda: count[0] >= ARGS.idle_seconds * 10, ARGS.idle_seconds + 10,
                             message="redraw reference")
    yield 0.2
    t1 = time.perf_counter()
    probe.stop()
    run.result["redraw_probe"] = gap_stats(probe, t0, t1, [])
    run.result["redraw_probe"]["redraws_requested"] = count[0]
    # How long one sidebar redraw takes, and how much of it is Blender's.
    run.result["redraw_probe"]["sidebar"] = sidebar_reference(t0, t1)
    run.result["redraw_probe"]["explain"] = explain_gaps(
        probe, t0, t1, [], run.result["redraw_probe"]["sidebar"]["blender_part_ms_p50"])


#: Per clicked job ("job1", bench: "job2"): id, probe, click time.
SLOTS: dict[str, dict] = {}


def make_click_step(slot: str, image_path: str | None = None):
    """A step that clicks "Generate 3D Model" (optionally after showing
    ``image_path`` in the Image Editor) and starts the 10 ms probe."""

    def step_click_generate(run: gl.StepRunner):
        area = image_editor()
        if image_path:
            area.spaces.active.image = bpy.data.images.load(image_path)
            yield 1.0                       # thumbnail and panel redrawn
        ui = gl.sidebar_region(area)
        mgr = manager()
        before = set(mgr.jobs)
        btn = run.result.get("button", {})
        rec = gl.EventRecorder.start()
        yield 0.5
        info = SLOTS.setdefault(slot, {})
        click: dict = {"method": None}
        if btn.get("found") and not ARGS.no_click:
            cx, cy = btn["center"]
            sx, sy = gl.region_point_from_top(ui, cx, cy)
            click.update(method="xdotool", region_xy_from_top=[cx, cy], screen_xy=[sx, sy],
                         expected_window_xy=[ui.x + cx, ui.y + ui.height - 1 - cy])
            gl.xdotool_click(sx, sy)    # blocks ~0.1 s: the probe starts after it
            info["probe"] = StampedProbe(0.01).start()
            info["t_click"] = time.perf_counter()
        else:
            # Fallback: the operator from the sidebar's own context.
            click["method"] = "operator_fallback"
            click["why"] = "button not found by the scan" if not btn.get("found") else "--no-click"
            info["probe"] = StampedProbe(0.01).start()
            info["t_click"] = time.perf_counter()
            with gl.override(area, "UI"):
                bpy.ops.tripo3d.generate("INVOKE_DEFAULT")
        yield from gl.wait_until(lambda: set(mgr.jobs) - before, 10, message="a job after the click")
        jid = sorted(set(mgr.jobs) - before, key=lambda j: mgr.jobs[j].created_at)[-1]
        info["id"] = jid
        press = rec.last("LEFTMOUSE", "PRESS")
        rec.stop()
        wm_ops = [op.bl_idname for op in bpy.context.window_manager.operators]
        click["press_event"] = press
        click["last_registered_operator"] = wm_ops[-1] if wm_ops else None
        click["job_origin"] = mgr.jobs[jid].origin
        # Where the job's thumbnail came from (the add-on makes it in the
        # operator) and the sidebar's tab as the add-on's redraw() sees it.
        click["job_icon_source"] = getattr(addon()["thumbnails"], "job_icon_sources", {}).get(jid)
        click["sidebar_category"] = getattr(ui, "active_panel_category", None)
        if click["method"] == "xdotool":
            click["hit_button"] = (
                press is not None
                and [press["mouse_x"], press["mouse_y"]] == click["expected_window_xy"]
                and press["area"] == "IMAGE_EDITOR" and press["region"] == "UI"
                and click["last_registered_operator"] == "TRIPO3D_OT_generate"
            )
        run.result["click" if slot == "job1" else f"click_{slot}"] = click
        run.check(mgr.jobs[jid].origin == "ui", "the job did not come from the UI operator")
        run.check(click["last_registered_operator"] == "TRIPO3D_OT_generate",
                  f"last operator {click['last_registered_operator']!r}")

    step_click_generate.__name__ = f"step_click_generate_{slot}"
    return step_click_generate


def make_wait_step(slot: str):
    """A step that waits for the slot's job to be imported, then files the
    probe's figures under result[slot + '_probe']."""

    def step_wait_imported(run: gl.StepRunner):
        S = State()
        info = SLOTS[slot]
        mgr = manager()

        def ended():
            job = mgr.jobs.get(info["id"])
            return job is not None and (job.finished or job.state == S.INTERRUPTED)

        yield from gl.wait_until(ended, 240, message=f"{slot} imported")
        job = mgr.jobs[info["id"]]
        run.check(job.state == S.IMPORTED, f"{slot} ended as {job.state}: {job.error}")
        yield 0.5
        t_end = time.perf_counter()
        probe = info["probe"]
        probe.stop()
        t0 = info["t_click"]
        phases = REC.phase_times(info["id"])
        imports = [sp for sp in REC.import_spans if sp[1] >= t0]
        t_dl = phases.get(S.DOWNLOADING, t_end)
        t_imp = imports[0][0] if imports else t_end
        run.result[slot] = job_dict(job)
        run.result[f"{slot}_probe"] = {
            # P1: click -> submit, polling, download; up to the import tick.
            "p1": gap_stats(probe, t0, t_imp, imports),
            "submit_poll": gap_stats(probe, t0, t_dl, imports),
            "download": gap_stats(probe, t_dl, t_imp, imports),
            # The import tick itself and the first redraw of the new model after it.
            "import_and_after": gap_stats(probe, t_imp, t_end, []),
            "through_end_excluding_import_tick": gap_stats(probe, t0, t_end, imports),
            "import_ticks_ms": [round((b - a) * 1000, 1) for a, b in imports],
            "explain": explain_gaps(probe, t0, t_imp, imports,
                                    run.result.get("redraw_probe", {}).get("sidebar", {}).get("blender_part_ms_p50")),
            "sidebar_redraws": sidebar_reference(t0, t_imp),
            "phases_s": {k: round(v - t0, 3) for k, v in phases.items()},
            "events_s": [[round(e["p"] - t0, 3), e["event"], e["state"]] for e in REC.events
                         if e["job"] == info["id"] and e["event"] != "progress"],
            "slow_ticks_ms": [t["ms"] for t in REC.ticks if t["p0"] >= t0 and not t["imported"]][:50],
            "max_tick_ms_no_import": round(REC.max_tick_ms, 2),
            "ticks": REC.tick_count,
            "generate_operator": [dict(o, at_s=round(o["p0"] - t0, 3)) for o in REC.operator_ms
                                  if o["p0"] >= t0 - 1.0],
        }

    step_wait_imported.__name__ = f"step_wait_imported_{slot}"
    return step_wait_imported


def _job1():
    return manager().jobs.get(SLOTS["job1"]["id"])


def step_mid_job(run: gl.StepRunner):
    """test: a screenshot while the panel shows the job downloading."""
    S = State()
    jid1 = SLOTS["job1"]["id"]

    def downloading():
        job = _job1()
        if job is None:
            return False
        if job.state in (S.IMPORTED, S.IMPORT_FAILED, S.DOWNLOADED, S.IMPORTING) or job.finished:
            raise AssertionError(f"job ended as {job.state} before the mid-job screenshot")
        return (job.state == S.DOWNLOADING and job.download_total
                and job.download_bytes > 0.2 * job.download_total)

    yield from gl.wait_until(downloading, 120, message="job downloading (20 %)")
    job = _job1()
    drawn_before = len(REC.draws)
    yield from take_shot(run, "panel-mid-job.png")
    job_after = _job1()
    seen = [d for d in REC.draws[drawn_before:]
            if any(jid == jid1 and st == S.DOWNLOADING for jid, st, *_ in d["jobs"])]
    run.result["mid_job"] = {"state": job_after.state, "bytes": job.download_bytes,
                             "total": job.download_total,
                             "panel_draws_downloading": len(seen)}
    run.check(seen, "the jobs panel was not drawn with the job downloading")


def step_check_scene(run: gl.StepRunner):
    """test: the model is in the scene, in a collection named after the image."""
    job = _job1()
    stem = os.path.splitext(os.path.basename(ARGS.image))[0]
    tagged = [o for o in bpy.context.scene.objects if o.get("tripo3d_request_id") == job.request_id]
    coll = bpy.data.collections.get(stem)
    members = {o.name for o in coll.all_objects} if coll else set()
    in_scene = coll is not None and coll.name in {c.name for c in bpy.context.scene.collection.children_recursive}
    run.result["scene"] = {
        "tagged_objects": [o.name for o in tagged],
        "collection": coll.name if coll else None,
        "collection_in_scene": in_scene,
        "collection_objects": sorted(members),
        "job_objects": list(job.objects),
        "mesh_objects": [o.name for o in (coll.all_objects if coll else []) if o.type == "MESH"],
        "images": [i.name for i in bpy.data.images],
    }
    S = State()
    run.result["panel_states_drawn"] = sorted(REC.draw_states.get(job.id, set()))
    run.check(tagged, "no object with tripo3d_request_id of the job")
    run.check(coll is not None and in_scene, f"no collection {stem!r} in the scene")
    run.check(all(o.name in members for o in tagged), "tagged objects are not in the image's collection")
    run.check(set(job.objects) <= members, "job objects are not all in the collection")
    run.check(S.IMPORTED in REC.draw_states.get(job.id, set()),
              "the jobs panel was never drawn with the job imported")


def step_screenshot_imported(run: gl.StepRunner):
    """test: frame the model in the 3D Viewport and grab the screen."""
    v3 = view3d()
    with gl.override(v3):
        bpy.ops.view3d.view_selected()
    yield 0.8
    yield from take_shot(run, "panel-imported.png")


def step_save_blend(run: gl.StepRunner):
    path = os.path.join(OUT, "scene.blend")
    ret = bpy.ops.wm.save_as_mainfile(filepath=path, compress=False)
    run.check("FINISHED" in ret, f"save_as_mainfile returned {ret!r}")
    run.result["saved_blend"] = path
    yield 0.2


def step_quit_mid_job(run: gl.StepRunner):
    """test: a second job is cut off by quitting Blender while it downloads."""
    mgr = manager()
    S = State()
    area = image_editor()
    before = set(mgr.jobs)
    with gl.override(area, "UI"):
        ret = bpy.ops.tripo3d.generate(source=ARGS.image2)
    run.check("FINISHED" in ret, f"second generate returned {ret!r}")
    jid = next(iter(set(mgr.jobs) - before))

    def downloading():
        job = mgr.jobs[jid]
        if job.finished or job.state in (S.DOWNLOADED, S.IMPORTING):
            raise AssertionError(f"second job reached {job.state} before the quit")
        return job.state == S.DOWNLOADING and job.download_bytes > 0

    yield from gl.wait_until(downloading, 120, message="second job downloading")
    job = mgr.jobs[jid]
    journal_path = os.path.join(addon()["paths"].user_dir(), "jobs", f"{jid}.json")
    with open(journal_path, encoding="utf-8") as fh:
        on_disk = json.load(fh)
    run.result["quit_job"] = {"id": jid, "request_id": job.request_id, "state": job.state,
                              "journal_path": journal_path,
                              "journal_request_id": on_disk.get("request_id"),
                              "journal_state": on_disk.get("state"),
                              "worker_alive": jid in mgr.threads}
    run.check(job.request_id and on_disk.get("request_id") == job.request_id,
              "the journal does not hold the running job's request id")
    run.result["quit_requested_at"] = time.time()   # the runner quits on its next tick


# ------------------------------------------------------------------- bench ---
def step_baseline(run: gl.StepRunner):
    """bench: the naive way, a blocking requests.get of the same GLB on the
    main thread (from a timer), under the same 10 ms probe."""
    import requests

    url = _job1().media_urls[0]
    probe = StampedProbe(0.01).start()
    yield 1.0
    box: dict = {}

    def naive():
        box["p0"] = time.perf_counter()
        r = requests.get(url, timeout=120)
        box["bytes"] = len(r.content)
        box["status"] = r.status_code
        box["p1"] = time.perf_counter()
        return None

    t0 = time.perf_counter()
    bpy.app.timers.register(naive, first_interval=0.05)
    yield from gl.wait_until(lambda: "p1" in box, 120, message="naive download")
    yield 1.0
    t1 = time.perf_counter()
    probe.stop()
    stats = gap_stats(probe, t0, t1, [])
    stats["explain"] = explain_gaps(probe, t0, t1, [],
                                    run.result.get("redraw_probe", {}).get("sidebar", {}).get("blender_part_ms_p50"))
    stats["download_s"] = round(box["p1"] - box["p0"], 3)
    stats["bytes"] = box["bytes"]
    stats["http_status"] = box["status"]
    run.result["baseline"] = stats


def step_p2(run: gl.StepRunner):
    """bench: N jobs from the operator, staggered; a 10 ms watcher records when
    each model's objects appear in the scene."""
    mgr = manager()
    S = State()
    area = image_editor()
    seen: dict[str, float] = {}

    def watcher():
        for o in bpy.data.objects:
            rid = o.get("tripo3d_request_id")
            if rid and rid not in seen:
                seen[rid] = time.time()
        return 0.01 if not done[0] else None

    done = [False]
    for o in bpy.data.objects:
        rid = o.get("tripo3d_request_id")
        if rid:
            seen[rid] = 0.0   # already there (job 1)
    bpy.app.timers.register(watcher, first_interval=0.01, persistent=True)
    ids = []
    for path in ARGS.p2_image:
        before = set(mgr.jobs)
        with gl.override(area, "UI"):
            ret = bpy.ops.tripo3d.generate(source=path)
        run.check("FINISHED" in ret, f"generate {path} returned {ret!r}")
        ids.append(next(iter(set(mgr.jobs) - before)))
        yield ARGS.p2_stagger
    yield from gl.wait_until(
        lambda: all(mgr.jobs[j].finished or mgr.jobs[j].state == S.INTERRUPTED for j in ids)
        and all(mgr.jobs[j].request_id in seen for j in ids if mgr.jobs[j].state == S.IMPORTED),
        60 + 30 * len(ids), interval=0.1, message="all P2 jobs imported")
    yield 0.3
    done[0] = True
    jobs = []
    for j in ids:
        d = job_dict(mgr.jobs[j])
        d["seen_in_scene_at"] = seen.get(d["request_id"])
        jobs.append(d)
    run.result["p2_jobs"] = jobs
    run.check(all(d["state"] == S.IMPORTED for d in jobs),
              f"P2 jobs not all imported: {[d['state'] for d in jobs]}")


if ARGS.mode == "test":
    STEPS = [step_environment, step_install, step_cli, step_configure, step_layout, step_find_button,
             make_click_step("job1"), step_mid_job, make_wait_step("job1"), step_check_scene,
             step_screenshot_imported, step_save_blend]
    if ARGS.image2:
        STEPS.append(step_quit_mid_job)
else:
    STEPS = [step_environment, step_install, step_configure, step_layout, step_find_button,
             step_idle_probe, make_click_step("job1"), make_wait_step("job1"), step_baseline]
    if ARGS.image2:    # a second clicked job: the same figures with warm caches
        STEPS += [make_click_step("job2", ARGS.image2), make_wait_step("job2")]
    if ARGS.p2_image:
        STEPS.append(step_p2)

gl.run_steps(STEPS, RESULT_PATH, timeout=ARGS.timeout)
