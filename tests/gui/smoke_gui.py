"""GUI smoke script: runs INSIDE a windowed Blender under Xvfb.

    tools/gui/run_blender_gui.sh --results OUT tests/gui/smoke_gui.py -- \
        --out OUT [--extension ZIP --extension-id ID] [--addon-zip TRIPO3D_ZIP]

Proves the harness works: timers fire, an image shows in an Image Editor with
its sidebar on our own tab, screenshots are real, the UI probe measures, the
computed screen coordinates are exact (pointer events), an xdotool click lands
on a sidebar button, an xdotool key reaches Blender, (optionally) an
extension zip installs and enables, and (optionally) the real tripo3d zip
does too and the requests it gets works. Writes OUT/smoke_result.json and PNGs.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import bpy

sys.dont_write_bytecode = True   # Blender ignores PYTHONDONTWRITEBYTECODE
sys.path.insert(0, os.path.join(os.environ.get("TRIPO_GUI_REPO")
                                or os.path.dirname(os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__)))), "tools", "gui"))
import blender_gui_lib as gl  # noqa: E402  (found via the path set above)

CATEGORY = "GUI Smoke"

parser = argparse.ArgumentParser(prog="smoke_gui.py")
parser.add_argument("--out", default=None, help="results directory")
parser.add_argument("--extension", default=None, help="extension zip to install")
parser.add_argument("--extension-id", default=None, help="id in its blender_manifest.toml")
parser.add_argument("--addon-zip", default=None,
                    help="the real tripo3d zip: install it, enable it, and use the requests it gets")
parser.add_argument("--probe-seconds", type=float, default=1.0)
ARGS = parser.parse_args(gl.script_args())
OUT = os.path.abspath(ARGS.out or gl.results_dir())
os.makedirs(OUT, exist_ok=True)

gl.disable_splash()

# -------------------------------------------------------------- test UI ---
CLICKS: list[dict] = []  # invoke events of the test button


class TRIPO_GUI_OT_smoke_click(bpy.types.Operator):
    """Test button: records where the click event was"""
    bl_idname = "tripo_gui.smoke_click"
    bl_label = "Smoke Click"

    def invoke(self, context, event):
        CLICKS.append({
            "mouse_x": event.mouse_x, "mouse_y": event.mouse_y,
            "mouse_region_x": event.mouse_region_x, "mouse_region_y": event.mouse_region_y,
            "area": context.area.type if context.area else None,
            "region": context.region.type if context.region else None,
        })
        return self.execute(context)

    def execute(self, context):
        context.window_manager["tripo_gui_smoke_clicks"] = len(CLICKS)
        return {"FINISHED"}


class TRIPO_GUI_PT_smoke(bpy.types.Panel):
    bl_idname = "TRIPO_GUI_PT_smoke"
    bl_label = "GUI Smoke"
    bl_space_type = "IMAGE_EDITOR"
    bl_region_type = "UI"
    bl_category = CATEGORY
    bl_options = {"HIDE_HEADER"}

    def draw(self, context):
        col = self.layout.column()
        col.scale_y = 4.0           # a tall button starting at the region top
        col.operator(TRIPO_GUI_OT_smoke_click.bl_idname, text="Click me")
        self.layout.label(text=f"clicks: {len(CLICKS)}")


bpy.utils.register_class(TRIPO_GUI_OT_smoke_click)
bpy.utils.register_class(TRIPO_GUI_PT_smoke)


def shot(run: gl.StepRunner, name: str) -> str:
    path = gl.screenshot(os.path.join(OUT, name))
    run.result.setdefault("screenshots", []).append(path)
    return path


# ---------------------------------------------------------------- steps ---
def step_environment(run: gl.StepRunner):
    win = gl.main_window()
    run.result["first_step_after_load_s"] = round(run.elapsed, 2)
    run.result["blender_version"] = bpy.app.version_string
    run.result["python_version"] = sys.version.split()[0]
    run.result["background"] = bpy.app.background
    run.result["screen_size"] = list(gl.screen_size())
    run.result["window_rect"] = list(gl.window_rect_on_screen(win))
    run.result["user_resources"] = os.environ.get("BLENDER_USER_RESOURCES")
    run.result["ui_scale"] = bpy.context.preferences.system.ui_scale
    run.check(not bpy.app.background, "Blender runs in background mode")
    # The runner's own timer got us here; prove an independent one fires too.
    fired: list[float] = []

    def tick():
        fired.append(time.monotonic())
        return 0.05 if len(fired) < 5 else None

    bpy.app.timers.register(tick, first_interval=0.05)
    yield from gl.wait_until(lambda: len(fired) >= 5, 5.0, message="5 timer ticks")
    run.result["timer_ticks"] = len(fired)


def step_image_editor(run: gl.StepRunner):
    img = bpy.data.images.new("gui_smoke", 512, 512)
    img.generated_type = "COLOR_GRID"
    area = gl.open_image_editor(img)
    gl.show_sidebar(area)
    yield 0.5                          # first draw of the editor + sidebar
    with gl.override(area):
        bpy.ops.image.view_all(fit_view=True)
    ui = gl.sidebar_region(area)
    run.check(ui is not None and ui.width > 50, f"sidebar did not open: {(ui.width, ui.height) if ui else None!r}")
    run.result["sidebar_tab_before"] = gl.get_sidebar_tab(area)
    # Switch to a built-in tab and back, so the setter is really exercised.
    run.check(gl.set_sidebar_tab(area, "View"), "could not select the View tab")
    yield 0.3
    run.check(gl.get_sidebar_tab(area) == "View", "View tab not active after redraw")
    run.result["sidebar_tab_set"] = gl.set_sidebar_tab(area, CATEGORY)
    yield 0.5
    run.result["sidebar_tab_after"] = gl.get_sidebar_tab(area)
    run.check(gl.get_sidebar_tab(area) == CATEGORY, f"sidebar tab is {gl.get_sidebar_tab(area)!r}")
    run.check(area.spaces.active.image == img, "image not shown")
    run.result["image_area"] = [area.x, area.y, area.width, area.height]
    run.result["sidebar_region"] = [ui.x, ui.y, ui.width, ui.height]
    shot(run, "01_image_editor.png")


def step_probe(run: gl.StepRunner):
    yield 1.0                            # let the first draws settle
    probe = gl.UIProbe(0.01).start()
    yield ARGS.probe_seconds
    probe.stop()
    summary = probe.summary()
    run.result["probe"] = summary
    run.check(summary["ticks"] >= 20, f"probe ticked only {summary['ticks']} times")
    run.check(summary["max_gap"] < 1.0, f"main thread stalled {summary['max_gap']:.3f} s")


def _pointer_at(rec: gl.EventRecorder, want: tuple[int, int]) -> bool:
    ev = rec.last("MOUSEMOVE")
    return ev is not None and (ev["mouse_x"], ev["mouse_y"]) == want


def step_pointer_coordinates(run: gl.StepRunner):
    area = gl.find_area("IMAGE_EDITOR")
    main = gl.find_region(area, "WINDOW")
    rec = gl.EventRecorder.start()
    yield 0.2
    checks = []
    for rx, ry in [(40, 30), (main.width // 3, main.height // 2), (200, main.height - 60)]:
        sx, sy = gl.region_to_screen(main, rx, ry)
        gl.xdotool_move(sx, sy)
        want = (main.x + rx, main.y + ry)
        yield from gl.wait_until(lambda want=want: _pointer_at(rec, want), 3.0,
                                 message=f"pointer at {want!r}")
        ev = rec.last("MOUSEMOVE")
        checks.append({"region_xy": [rx, ry], "screen_xy": [sx, sy],
                       "event_xy": [ev["mouse_x"], ev["mouse_y"]],
                       "back": list(gl.screen_to_window(sx, sy)),
                       "area": ev["area"], "region": ev["region"]})
        run.check(list(gl.screen_to_window(sx, sy)) == list(want), "screen_to_window mismatch")
        run.check(ev["area"] == "IMAGE_EDITOR", f"pointer over {ev['area']!r}")
    rec.stop()
    run.result["pointer_checks"] = checks


def step_click_button(run: gl.StepRunner):
    area = gl.find_area("IMAGE_EDITOR")
    ui = gl.sidebar_region(area)
    # HIDE_HEADER panel: the 4x tall button starts a few pixels below the
    # region top and spans the panel width; tabs are on the region's right.
    rx, ry_top = ui.width * 0.4, 35
    sx, sy = gl.region_point_from_top(ui, rx, ry_top)
    before = len(CLICKS)
    gl.xdotool_click(sx, sy)
    yield from gl.wait_until(lambda: len(CLICKS) > before, 5.0, message="button click")
    click = CLICKS[-1]
    want_window = [ui.x + round(rx), ui.y + ui.height - 1 - ry_top]
    run.result["click"] = {"screen_xy": [sx, sy], "event": click,
                           "expected_window_xy": want_window}
    # Note: in 4.3 the operator's context.region (and so mouse_region_x/y) is
    # the Image Editor's main region, which the sidebar overlaps; compare in
    # window coordinates.
    run.check(click["area"] == "IMAGE_EDITOR", f"click went to area {click['area']!r}")
    run.check([click["mouse_x"], click["mouse_y"]] == want_window,
              f"click at {click!r}, expected {want_window!r}")
    run.check(bpy.context.window_manager.get("tripo_gui_smoke_clicks") == len(CLICKS),
              "operator did not execute")
    yield 0.3
    shot(run, "02_after_click.png")


def step_key(run: gl.StepRunner):
    area = gl.find_area("IMAGE_EDITOR")
    space = area.spaces.active
    main = gl.find_region(area, "WINDOW")
    # Keys go to the area under the pointer.
    gl.xdotool_move(*gl.region_to_screen(main, main.width // 4, main.height // 2))
    yield 0.2
    gl.xdotool_key("n")               # toggles the sidebar
    yield from gl.wait_until(lambda: not space.show_region_ui, 5.0, message="N hides sidebar")
    gl.xdotool_key("n")
    yield from gl.wait_until(lambda: space.show_region_ui, 5.0, message="N shows sidebar")
    run.result["key_toggle_sidebar"] = True


def step_extension(run: gl.StepRunner):
    if not ARGS.extension:
        run.result["extension"] = None
        return
    t0 = time.monotonic()
    ret = bpy.ops.extensions.package_install_files(
        filepath=ARGS.extension, repo="user_default", enable_on_install=True)
    yield 0.5
    module = f"bl_ext.user_default.{ARGS.extension_id}" if ARGS.extension_id else None
    enabled = sorted(a.module for a in bpy.context.preferences.addons
                     if a.module.startswith("bl_ext."))
    info = {"operator_return": sorted(ret), "enabled_extensions": enabled,
            "module": module, "seconds": round(time.monotonic() - t0, 3),
            "user_extensions_dir": bpy.utils.user_resource("EXTENSIONS")}
    if module:
        mod = sys.modules.get(module)
        info["module_loaded"] = mod is not None
        info["registered_flag"] = getattr(mod, "REGISTERED", None) if mod else None
        info["package_dir_exists"] = os.path.isdir(
            os.path.join(bpy.utils.user_resource("EXTENSIONS"), "user_default", ARGS.extension_id))
    run.result["extension"] = info
    run.check("FINISHED" in ret, f"package_install_files returned {ret!r}")
    if module:
        run.check(module in enabled, f"{module} not enabled (enabled: {enabled!r})")


ADDON_PKG = "bl_ext.user_default.tripo3d"
HTTP_MODULES = ("requests", "urllib3", "idna", "certifi", "charset_normalizer")


def _serve_json(payload: bytes) -> tuple[str, object]:
    """A loopback HTTP server (stdlib only) answering every GET with ``payload``."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/probe.json", server


def step_addon_zip(run: gl.StepRunner):
    """The real extension zip in this Blender: it installs and enables, and the
    requests it then gets (its wheels', or the system's python3-requests when
    that is installed) loads and talks HTTP."""
    if not ARGS.addon_zip:
        run.result["addon"] = None
        return
    t0 = time.monotonic()
    ret = bpy.ops.extensions.package_install_files(filepath=ARGS.addon_zip, repo="user_default",
                                                   enable_on_install=True)
    yield 0.5
    info = {"operator_return": sorted(ret), "seconds": round(time.monotonic() - t0, 2),
            "enabled": ADDON_PKG in bpy.context.preferences.addons,
            "generate_op": hasattr(bpy.ops, "tripo3d") and hasattr(bpy.ops.tripo3d, "generate"),
            "system_requests": os.path.isdir("/usr/lib/python3/dist-packages/requests"),
            "wheels_dir": os.path.join(bpy.utils.user_resource("EXTENSIONS"), ".local")}
    run.result["addon"] = info
    run.check(info["enabled"], f"{ADDON_PKG} did not enable")
    import requests   # the copy the add-on's own import gets

    info["modules"] = {m: getattr(sys.modules.get(m), "__file__", None) for m in HTTP_MODULES}
    info["requests_version"] = requests.__version__
    url, server = _serve_json('{"word": "Grüße"}'.encode())
    try:
        answer = requests.get(url, timeout=10)
        info["http"] = {"status": answer.status_code, "json": answer.json()}
    finally:
        server.shutdown()
        server.server_close()


def step_view3d(run: gl.StepRunner):
    area = gl.open_view3d(gl.find_area("IMAGE_EDITOR"))
    gl.show_sidebar(area)
    yield 0.5
    run.check(area.type == "VIEW_3D", f"area is {area.type!r}")
    run.check(gl.set_sidebar_tab(area, "View"), "3D Viewport sidebar: View tab")
    yield 0.3
    run.result["view3d_sidebar_tab"] = gl.get_sidebar_tab(area)
    run.check(gl.get_sidebar_tab(area) == "View", "3D Viewport tab not View after redraw")


def step_final(run: gl.StepRunner):
    yield 0.2
    shot(run, "03_final.png")


gl.run_steps(
    [step_environment, step_image_editor, step_probe, step_pointer_coordinates,
     step_click_button, step_key, step_extension, step_addon_zip, step_view3d, step_final],
    os.path.join(OUT, "smoke_result.json"),
    timeout=180.0,
)
