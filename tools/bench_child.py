"""Helpers of scripts/bench.py that run in fresh processes (P4, P5, P6).

    python -m tools.bench_child p4 URL DEST KEY BASE_URL   # the add-on's download, its own peak RSS
    python -m tools.bench_child p5 GLB RUNS                # import_job / import_glb vs bare glTF import
    python -m tools.bench_child p6                         # import bpy, then register the add-on
    python -m tools.bench_child p6zip ZIP|-                # install the extension zip / time addon_enable

Each prints one line "BENCHJSON {...}" with its figures (Blender's own
output may come before it). The parent side of each row is here too.
"""
from __future__ import annotations

import gc
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable  # the Python with bpy that runs the bench (.venv, or a matrix leg's)
MARK = "BENCHJSON "


def _emit(data: dict) -> None:
    print(MARK + json.dumps(data), flush=True)


def run_child(args: list[str], env: dict | None = None, timeout: float = 900, module: str = "tools.bench_child") -> dict:
    r = subprocess.run([PY, "-m", module, *args], capture_output=True, text=True,
                       env=env, timeout=timeout, cwd=REPO)
    for line in reversed(r.stdout.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise RuntimeError(f"child {args[0]} failed (exit {r.returncode}): {(r.stderr or r.stdout)[-1500:]}")


def proc_kb(field: str, pid: str = "self") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


# -- P4: a 500 MB download -------------------------------------------------------

def big_glb(size: int) -> bytes:
    """A valid, self-contained GLB of exactly ``size`` bytes (one buffer of zeros)."""
    bin_len = (size - 12 - 8 - 8 - 128) // 4 * 4
    doc = json.dumps({"asset": {"version": "2.0"}, "buffers": [{"byteLength": bin_len}]}).encode()
    json_len = size - 12 - 8 - 8 - bin_len
    doc = doc + b" " * (json_len - len(doc))
    out = bytearray(struct.pack("<4sII", b"glTF", 2, size))
    out += struct.pack("<I4s", json_len, b"JSON") + doc
    out += struct.pack("<I4s", bin_len, b"BIN\x00")
    out += bytes(bin_len)
    assert len(out) == size
    return bytes(out)


def child_p4(url: str, dest: str, key: str, base: str, durable: str = "1") -> None:
    from tripo_addon.core.net import download
    from tripo_addon.core.net.gateway import GatewayClient

    if durable == "0":  # diagnosis only: the same download without waiting for the disk
        os.fsync = download._datasync = lambda fd: None

    client = GatewayClient(key, base, max_download_bytes=1 << 30)
    gc.collect()
    rss0 = proc_kb("VmRSS")
    try:  # reset the high-water mark to the current RSS (Linux >= 4.0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    hwm0 = proc_kb("VmHWM")
    t = time.perf_counter()
    client.download([url], dest)
    seconds = time.perf_counter() - t
    _emit({"seconds": seconds, "rss0_kb": rss0, "hwm0_kb": hwm0, "hwm1_kb": proc_kb("VmHWM"), "reset": reset,
           "bytes": os.path.getsize(dest)})


def p4(sim, key: str, size: int, runs: int) -> list[dict]:
    data = big_glb(size)
    url = sim.add_asset("bench-big.glb", data, "model/gltf-binary")
    del data
    work = tempfile.mkdtemp(prefix="bench-p4-")
    ours, curl, growth, no_flush, disk = [], [], [], [], []
    try:
        for i in range(runs):  # rotating: curl, add-on, add-on without the disk flush, the disk alone, ...
            order = ("curl", "addon", "no-flush", "disk")
            for who in order[i % 4:] + order[:i % 4]:
                dest = os.path.join(work, f"{who}.glb")
                if who == "disk":
                    disk.append(_durable_write_seconds(dest, size))
                elif who == "curl":
                    t = time.perf_counter()
                    subprocess.run(["curl", "-sS", "--noproxy", "*", "-o", dest, url], check=True)
                    curl.append(time.perf_counter() - t)
                else:
                    r = run_child(["p4", url, dest, key, sim.url, "1" if who == "addon" else "0"])
                    if r["bytes"] != size:
                        raise RuntimeError(f"add-on downloaded {r['bytes']} of {size} bytes")
                    if who == "no-flush":
                        no_flush.append(r["seconds"])
                        continue
                    ours.append(r["seconds"])
                    growth.append((r["hwm1_kb"] - (r["rss0_kb"] if r["reset"] else r["hwm0_kb"])) / 1024)
                for name in os.listdir(work):
                    os.remove(os.path.join(work, name))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    mb = size / 2**20
    t_ours, t_curl = statistics.median(ours), statistics.median(curl)
    return [
        {"row": "P4", "what": f"{mb:.0f} MB download: peak RSS growth (MB, max of {runs})",
         "value": max(growth), "base": 0.0, "ratio": None, "unit": "MB", "target": "<= 32 MB",
         "ok": max(growth) <= 32},
        {"row": "P4", "what": f"{mb:.0f} MB download speed, add-on vs curl (MB/s, median of {runs})",
         "value": mb / t_ours, "base": mb / t_curl, "ratio": t_curl / t_ours, "unit": "MB/s",
         "target": ">= 0.80x", "ok": t_curl / t_ours >= 0.8},
        {"row": "P4", "what": "the same without waiting for the disk (fsync off: what the add-on never does; "
         "the gap to the row above is the disk, which curl does not wait for)",
         "value": mb / statistics.median(no_flush), "base": mb / t_curl,
         "ratio": t_curl / statistics.median(no_flush), "unit": "MB/s", "target": "(info)", "ok": None},
        {"row": "P4", "what": "the disk's own ceiling: the same bytes written from memory as a download writes them "
         "(flushed as they come, fsynced at the end), no network: the fastest a download that waits for the disk "
         "can be here",
         "value": mb / statistics.median(disk), "base": mb / t_curl,
         "ratio": t_curl / statistics.median(disk), "unit": "MB/s", "target": "(info)", "ok": None},
    ]


def _durable_write_seconds(path: str, size: int) -> float:
    """Write ``size`` bytes from memory in 256 KB blocks the way a download
    writes them (flushed in the background as they come, fsynced at the end):
    what the disk alone allows, no network. Runs in the bench's own process
    (the repository is on its path)."""
    from tripo_addon.core.net.download import _Flusher

    block = os.urandom(256 * 1024)
    t = time.perf_counter()
    with open(path, "wb") as f:
        flusher, written = _Flusher(path), 0
        try:
            while written < size:
                part = block[: size - written]
                f.write(part)
                written += len(part)
                flusher.wrote(written)
        finally:
            flusher.close()
        f.flush()
        os.fsync(f.fileno())
    seconds = time.perf_counter() - t
    os.remove(path)
    return seconds


# -- P5: the import step ---------------------------------------------------------------

def child_p5(path: str, runs: int) -> None:
    import bpy

    from tripo_addon.core.placement_options import ImportOptions
    from tripo_addon.blender.imp.importer import import_glb
    from tripo_addon.blender.imp.import_step import import_job
    from tripo_addon.core.jobs import DEFAULT_PARAMS, Job, State

    def bare():
        bpy.ops.import_scene.gltf(filepath=path)

    def addon_glb():
        import_glb(path, "model", ImportOptions())

    def addon_job():
        job = Job(source="/tmp/model.png", params=dict(DEFAULT_PARAMS), content_hash="bench", glb_path=path,
                  state=State.DOWNLOADED, import_options=ImportOptions().__dict__.copy())
        if import_job(job).state != State.IMPORTED:
            raise RuntimeError(job.error)

    def timed(fn) -> float:
        bpy.ops.wm.read_homefile(use_empty=True)  # a fresh, empty scene
        gc.collect()
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    variants = {"bare": bare, "import_glb": addon_glb, "import_job": addon_job}
    for fn in variants.values():  # warm-up: importer modules, caches
        timed(fn)
    times: dict = {k: [] for k in variants}
    names = list(variants)
    for i in range(runs):  # rotating order
        for name in names[i % 3:] + names[:i % 3]:
            times[name].append(timed(variants[name]))
    tris = sum(len(p.vertices) - 2 for m in bpy.data.meshes for p in m.polygons)
    _emit({"times": times, "triangles": tris, "images": [list(i.size) for i in bpy.data.images]})


def p5(glb: str, runs: int, env: dict) -> list[dict]:
    """Each round imports the same GLB once per variant (rotating order), so a
    round's ratio compares imports made seconds apart; the row is the median of
    those paired ratios. (Import times drift by ~30% over a run as Blender's
    allocator warms up; a ratio of two medians taken across the drift moved by
    +-0.06 between runs on one machine.)"""
    r = run_child(["p5", glb, str(runs)], env=env)
    bare_times = r["times"]["bare"]
    bare = statistics.median(bare_times)
    rows = []
    for name in ("import_job", "import_glb"):
        ours = statistics.median(r["times"][name])
        ratio = statistics.median([o / b for o, b in zip(r["times"][name], bare_times, strict=True)])
        detail = (f"; {r['triangles']} tris, textures {r['images']}" if name == "import_job" else "")
        rows.append({"row": "P5", "what": f"{name} vs bare import_scene.gltf (s, medians of {runs} rounds; "
                     f"ratio = median of per-round ratios{detail})",
                     "value": ours, "base": bare, "ratio": ratio, "unit": "s", "target": "<= 1.10x",
                     "ok": ratio <= 1.10})
    return rows


# -- P6: enabling the add-on -----------------------------------------------------------

def pay_blenders_collection() -> None:
    """``import bpy`` can leave Python's full garbage collection due: then the
    next few hundred allocations, by whoever makes them, trigger a pass over
    Blender's ~58,000 objects (30-40 ms when it landed in register() in a
    timing script). In a user's Blender the start-up's own scripts pay it; in
    a bare process it would land on whatever is timed first.
    BENCH_P6_GC_DUE=1 leaves it as it is, for the info row that compares."""
    if not os.environ.get("BENCH_P6_GC_DUE"):
        gc.collect()


def child_p6() -> None:
    t0 = time.perf_counter()
    import socket

    counts = {"connect": 0, "getaddrinfo": 0}
    real_connect, real_connect_ex, real_gai = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def connect(self, *a, **k):
        counts["connect"] += 1
        return real_connect(self, *a, **k)

    def connect_ex(self, *a, **k):
        counts["connect"] += 1
        return real_connect_ex(self, *a, **k)

    def getaddrinfo(*a, **k):
        counts["getaddrinfo"] += 1
        return real_gai(*a, **k)

    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
    import bpy  # noqa: F401

    pay_blenders_collection()
    t1 = time.perf_counter()
    import tripo_addon

    tripo_addon.register()
    t2 = time.perf_counter()
    time.sleep(0.5)  # anything started in the background at registration gets its chance to connect
    _emit({"bpy": t1 - t0, "addon": t2 - t1, **counts})


def child_p6zip(zip_path: str, module: str) -> None:
    """Install an extension zip (when given one), or time addon_enable of it in a
    fresh process. Nothing disables it afterwards: Blender's extension cache
    stays valid, as at every start of a user's Blender after the first (a
    disable rewrites that cache and makes the next enable extract the bundled
    wheels again, a once-per-change cost measured in its own row)."""
    t0 = time.perf_counter()
    import bpy

    pay_blenders_collection()
    t1 = time.perf_counter()
    if zip_path != "-":
        bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=False)
        _emit({"installed": True})
        return
    result = bpy.ops.preferences.addon_enable(module=module)
    t2 = time.perf_counter()
    if os.environ.get("BENCH_P6_DISABLE"):
        bpy.ops.preferences.addon_disable(module=module)
    _emit({"bpy": t1 - t0, "addon": t2 - t1, "result": sorted(result)})


TRIVIAL_MANIFEST = """schema_version = "1.0.0"
id = "bench_trivial"
version = "1.0.0"
name = "Bench Trivial"
tagline = "An extension that registers nothing"
maintainer = "bench"
type = "add-on"
blender_version_min = "4.2.0"
license = ["SPDX:GPL-3.0-or-later"]
"""


def _trivial_zip(folder: str) -> str:
    """Blender's fixed cost of enabling any extension: one that does nothing."""
    import zipfile

    path = os.path.join(folder, "bench_trivial.zip")
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("blender_manifest.toml", TRIVIAL_MANIFEST)
        z.writestr("__init__.py", "def register():\n    pass\n\n\ndef unregister():\n    pass\n")
    return path


def _enable_times(zip_path: str, module: str, runs: int, env: dict, disable: bool = False) -> tuple[float, float]:
    """Median addon_enable and import bpy times (ms) over ``runs`` fresh processes."""
    home = tempfile.mkdtemp(prefix="bench-p6z-")
    try:
        e = dict(_with_bytecode(env), BLENDER_USER_RESOURCES=home)
        if disable:
            e["BENCH_P6_DISABLE"] = "1"
        run_child(["p6zip", zip_path, module], env=e)
        run_child(["p6zip", "-", module], env=e)  # the first enable compiles and caches, not counted
        results = [run_child(["p6zip", "-", module], env=e) for _ in range(runs)]
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if any(r["result"] != ["FINISHED"] for r in results):
        raise RuntimeError(f"addon_enable of {module} did not finish: {results[0]['result']}")
    return (statistics.median(r["addon"] for r in results) * 1000,
            statistics.median(r["bpy"] for r in results) * 1000)


def p6_zip(runs: int, env: dict) -> list[dict]:
    out = tempfile.mkdtemp(prefix="bench-zip-")
    try:
        subprocess.run([PY, os.path.join(REPO, "scripts", "build_extension.py"), "--out-dir", out], check=True,
                       capture_output=True, timeout=600, cwd=REPO)
        (zip_path,) = [os.path.join(out, n) for n in os.listdir(out) if n.startswith("tripo3d") and n.endswith(".zip")]
        trivial = _trivial_zip(out)
        ours_module, trivial_module = "bl_ext.user_default.tripo3d", "bl_ext.user_default.bench_trivial"
        ours, _ = _enable_times(zip_path, ours_module, runs, env)
        fixed, _ = _enable_times(trivial, trivial_module, runs, env)
        ours_after_disable, _ = _enable_times(zip_path, ours_module, runs, env, disable=True)
        fixed_after_disable, _ = _enable_times(trivial, trivial_module, runs, env, disable=True)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return [
        {"row": "P6", "what": f"addon_enable of the installed extension zip, as at each start (ms, median of {runs} "
         "fresh procs) vs an extension that registers nothing (Blender's own cost)",
         "value": ours, "base": fixed, "ratio": ours / fixed if fixed else None, "unit": "ms",
         "target": "<= 50 ms", "ok": ours <= 50},
        {"row": "P6", "what": "the same right after a disable (Blender extracts the bundled wheels again; once per "
         "change of the enabled set) vs the extension that registers nothing",
         "value": ours_after_disable, "base": fixed_after_disable,
         "ratio": ours_after_disable / fixed_after_disable if fixed_after_disable else None, "unit": "ms",
         "target": "(info)", "ok": None},
    ]


def _with_bytecode(env: dict) -> dict:
    """Python may cache compiled modules, as it does for a user's Blender (the
    first start compiles, every later one reads __pycache__); the tests'
    environment forbids it, which would time the compiler instead."""
    return {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _starts(homes: list[str], runs: int, env: dict) -> list[list[dict]]:
    """For each user folder, ``runs`` fresh starts (child_p6 results), after
    one start that is not counted: it compiles the bytecode and makes the
    journal folders (~10 ms here), as a user's first start does. The runs take
    turns, so a change of machine speed touches every folder alike."""
    results: list[list[dict]] = [[] for _ in homes]
    for home in homes:
        run_child(["p6"], env=dict(env, BLENDER_USER_RESOURCES=home))
    for _ in range(runs):
        for i, home in enumerate(homes):
            results[i].append(run_child(["p6"], env=dict(env, BLENDER_USER_RESOURCES=home)))
    return results


def _register_ms(runs: int, env: dict) -> list[dict]:
    home = tempfile.mkdtemp(prefix="bench-p6-")
    try:
        return _starts([home], runs, env)[0]
    finally:
        shutil.rmtree(home, ignore_errors=True)


def start_ms(homes: list[str], runs: int, env: dict) -> list[float]:
    """For each user folder: median ms of import tripo_addon + register() in fresh processes."""
    return [statistics.median(r["addon"] for r in results) * 1000
            for results in _starts(homes, runs, _with_bytecode(env))]


def p6(sim, runs: int, env: dict) -> list[dict]:
    env = _with_bytecode(env)
    before = _request_count(sim)
    results = _register_ms(runs, env)
    due = _register_ms(runs, dict(env, BENCH_P6_GC_DUE="1"))
    seen = _request_count(sim) - before
    addon = statistics.median(r["addon"] for r in results) * 1000
    bpy_ms = statistics.median(r["bpy"] for r in results) * 1000
    conns = sum(r["connect"] + r["getaddrinfo"] for r in results)
    return [
        {"row": "P6", "what": f"import tripo_addon + register() after import bpy (ms, median of {runs} fresh procs, "
         "bytecode and user folder as at a second start)",
         "value": addon, "base": bpy_ms, "ratio": addon / bpy_ms, "unit": "ms", "target": "<= 50 ms",
         "ok": addon <= 50},
        {"row": "P6", "what": "the same with the full garbage collection bpy's import leaves due still due (it lands "
         "on the add-on's first allocations in a bare process; in a user's Blender its start-up pays it)",
         "value": statistics.median(r["addon"] for r in due) * 1000, "base": bpy_ms, "ratio": None, "unit": "ms",
         "target": "(info)", "ok": None},
        {"row": "P6", "what": f"network at registration: connects+DNS in process / requests seen by sim "
         f"(over {runs} procs)", "value": conns, "base": seen, "ratio": None, "unit": "",
         "target": "0 / 0", "ok": conns == 0 and seen == 0},
        *p6_zip(runs, env),
    ]


def _request_count(sim) -> int:
    s = sim.stats()
    return sum(v for k, v in s.items() if k in ("submit_attempts", "status_requests", "downloads",
                                                 "asset_requests"))


if __name__ == "__main__":
    kind = sys.argv[1]
    if kind == "p4":
        child_p4(*sys.argv[2:7])
    elif kind == "p5":
        child_p5(sys.argv[2], int(sys.argv[3]))
    elif kind == "p6":
        child_p6()
    elif kind == "p6zip":
        child_p6zip(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown child {kind}")
