#!/usr/bin/env python3
"""Benchmarks of the add-on on the local gateway simulator: one table, every figure next
to a baseline measured in the same run, their ratio, the target and PASS/FAIL.

    .venv/bin/python scripts/bench.py                    # everything (~10 min)
    .venv/bin/python scripts/bench.py --quick            # smaller sizes, a smoke run
    .venv/bin/python scripts/bench.py --only P3,P4 --json bench.json

The machine is shared, so only ratios within one run mean anything; small
measurements are repeated (medians). What each row (P3, P3b, P4, P5, P6, J, P7, P8)
measures, against what, and its target: docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from unittest import mock

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # an entry point run from a checkout: tools/ sits beside scripts/
from tools import bench_child, bench_decoding, bench_gameready  # noqa: E402
from tools.gateway_sim import GatewaySimulator, SimConfig  # noqa: E402

PY = sys.executable  # the Python with bpy that runs the bench (.venv, or a matrix leg's)
ROWS = ("P3", "P3b", "P4", "P5", "P6", "J", "P7", "P8")


# -- inputs -------------------------------------------------------------------------

def make_images(folder: str, n: int) -> list[str]:
    from PIL import Image

    os.makedirs(folder, exist_ok=True)
    paths = []
    for i in range(n):
        p = os.path.join(folder, f"img{i:05d}.png")
        if not os.path.exists(p):
            Image.new("RGB", (32, 32), (i % 251, (i // 251) % 251, (i * 7) % 253)).save(p)
        paths.append(p)
    return paths


def tripo_glb(path: str) -> None:
    from tools.glb_tripo_like import tripo_like_glb
    from PIL import Image

    rnd = random.Random(1)
    img = Image.new("RGB", (512, 512))
    img.putdata([(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)) for _ in range(512 * 512)])
    buf = io.BytesIO()
    img.save(buf, "PNG")
    with open(path, "wb") as f:
        f.write(tripo_like_glb(buf.getvalue()))


# -- the batch command --------------------------------------------------------------------

def batch(sim, images: list[str], jobs: int, log_dir: str, extra: tuple = ()) -> dict:
    """Run scripts/generate.py as a user would; wall time and peak RSS of that process."""
    home = tempfile.mkdtemp(prefix="bench-home-")
    env = dict(os.environ, PIXAZO_API_KEY=sim.config.api_key, PIXAZO_BASE_URL=sim.url,
               BLENDER_USER_RESOURCES=home)
    log = os.path.join(log_dir, f"batch-{len(images)}x{jobs}-{time.monotonic_ns()}.log")
    cmd = [PY, os.path.join(REPO, "scripts", "generate.py"), "--online-mode", "--jobs", str(jobs),
           "--poll-interval", "1", *extra, *images]
    with open(log, "w") as out:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    shutil.rmtree(home, ignore_errors=True)
    with open(log) as f:
        tail = f.read()[-4000:]
    if proc.returncode != 0 or f"Done: {len(images)} of {len(images)} imported" not in tail:
        raise RuntimeError(f"batch of {len(images)} at --jobs {jobs} failed (exit {proc.returncode}); see {log}")
    return {"wall": wall, "maxrss_mb": usage.ru_maxrss / 1024, "log": log}


def p3(sim, images, quick: bool, log_dir: str) -> list[dict]:
    sim.configure(queue_seconds=1.0, processing_seconds=2.0)
    sizes = (16, 32) if quick else (16, 64)
    base, runs = [], {}
    base.append(batch(sim, images[:1], 16, log_dir)["wall"])
    for n in sizes:  # one job, n jobs, one job, m jobs, one job
        runs[n] = batch(sim, images[:n], 16, log_dir)["wall"]
        base.append(batch(sim, images[:1], 16, log_dir)["wall"])
    one = statistics.median(base)
    rows = []
    for n, wall in runs.items():
        target = 1.5 * math.ceil(n / 16)
        rows.append({"row": "P3", "what": f"{n} jobs of 3 s at --jobs 16 vs 1 job (wall s; 1 job = median of "
                     f"{len(base)}: {', '.join(f'{b:.2f}' for b in base)})", "value": wall, "base": one,
                     "ratio": wall / one, "unit": "s", "target": f"<= {target:.1f}x", "ok": wall / one <= target})
    return rows


def p3b(sim, images, quick: bool, log_dir: str) -> list[dict]:
    sim.configure(queue_seconds=0.3, processing_seconds=0.7)
    n = 200 if quick else 1000
    small = n // 10
    base = [batch(sim, images[:1], 32, log_dir)["wall"]]
    big = batch(sim, images[:n], 32, log_dir)
    base.append(batch(sim, images[:1], 32, log_dir)["wall"])
    little = batch(sim, images[:small], 32, log_dir)
    base.append(batch(sim, images[:1], 32, log_dir)["wall"])
    # The same batch as huge batches and farms run it: one .blend per image, so
    # the open scene does not grow and each import stays as cheap as the first.
    out_dir = tempfile.mkdtemp(prefix="bench-blends-")
    per_image = batch(sim, images[:n], 32, log_dir, extra=("--out-dir", out_dir))
    shutil.rmtree(out_dir, ignore_errors=True)
    one = statistics.median(base)
    ideal = math.ceil(n / 32) * one
    per_job_kb = (big["maxrss_mb"] - little["maxrss_mb"]) * 1024 / (n - small)
    return [
        {"row": "P3b", "what": f"{n} jobs of 1 s at --jobs 32, all into one open scene, vs ideal ceil({n}/32) x 1 job "
         f"(1 job = median of 3: {', '.join(f'{b:.2f}' for b in base)} s)", "value": big["wall"],
         "base": ideal, "ratio": big["wall"] / ideal, "unit": "s", "target": "<= 1.50x",
         "ok": big["wall"] / ideal <= 1.5},
        {"row": "P3b", "what": f"the same {n} jobs with --out-dir (one .blend per image, the scene stays "
         "small) vs the ideal", "value": per_image["wall"], "base": ideal, "ratio": per_image["wall"] / ideal,
         "unit": "s", "target": "<= 1.50x", "ok": per_image["wall"] / ideal <= 1.5},
        {"row": "P3b", "what": f"peak RSS with --out-dir, {n} jobs (MB)", "value": per_image["maxrss_mb"],
         "base": little["maxrss_mb"], "ratio": per_image["maxrss_mb"] / little["maxrss_mb"], "unit": "MB",
         "target": "(info)", "ok": None},
        {"row": "P3b", "what": f"peak RSS of the batch process, {n} jobs vs {small} jobs (MB)",
         "value": big["maxrss_mb"], "base": little["maxrss_mb"], "ratio": big["maxrss_mb"] / little["maxrss_mb"],
         "unit": "MB", "target": "(info)", "ok": None},
        {"row": "P3b", "what": f"peak RSS growth per job ({n} vs {small} jobs, KB/job)", "value": per_job_kb,
         "base": None, "ratio": None, "unit": "KB", "target": "(info)", "ok": None},
    ]


# -- the journal at scale ------------------------------------------------------------------

def journal_rows(records: int, runs: int, work: str, env: dict) -> list[dict]:
    from tripo_addon.core.journal import store as journal_mod
    from tripo_addon.core.images import prepare
    from tripo_addon.core.jobs import DEFAULT_PARAMS, Job, State
    from tripo_addon.core.engine.planning import plan

    def fill(folder: str, n: int) -> set[str]:
        jr = journal_mod.Journal(folder)
        waiting = set()
        states = (State.IMPORTED, State.IMPORTED, State.IMPORTED, State.FAILED, State.DOWNLOAD_FAILED)
        unfinished = (State.QUEUED, State.DOWNLOADED)  # a batch stopped mid-run: resumed at the next start
        # Set-up only, not measured: fsync would make 10,000 writes take minutes on a shared disk.
        with mock.patch("os.fsync"):
            for i in range(n):
                state = states[i % len(states)] if i % 100 != 50 else unfinished[(i // 100) % 2]
                job = Job(source=f"/data/shots/img{i:05d}.png", params=dict(DEFAULT_PARAMS),
                          content_hash=f"{i:064x}", origin="cli", state=state,
                          request_id=f"tripo3d-v2-5-413_{i:08d}", glb_path=f"/data/glb/img{i:05d}.glb",
                          objects=[f"img{i:05d}"])
                jr.save(job)
                if not job.finished:
                    waiting.add(job.id)
        return waiting

    def bare_scan(folder: str) -> None:
        jobs_dir = os.path.join(folder, "jobs")
        for name in os.listdir(jobs_dir):
            with open(os.path.join(jobs_dir, name), "rb") as f:
                json.loads(f.read())

    # The journals sit where the add-on looks for them under a user folder, so
    # a fresh Blender process can also be started on each (the first row).
    homes = [os.path.join(work, "home-big"), os.path.join(work, "home-empty")]
    big, empty = (os.path.join(h, "extensions", ".user", "user_default", "tripo3d") for h in homes)
    waiting = fill(big, records)
    fill(empty, 0)
    images = make_images(os.path.join(work, "plan-images"), 2 * runs + 2)
    counter = iter(images)

    def plan_in(folder: str) -> float:
        jr = journal_mod.Journal(folder)
        prepared = prepare(next(counter))
        t = time.perf_counter()
        p = plan(jr, prepared, dict(DEFAULT_PARAMS), origin="cli")
        dt = time.perf_counter() - t
        p.release()
        return dt

    def timed(fn) -> float:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    addon_big, addon_empty = bench_child.start_ms(homes, runs, env)
    started: list = []
    t_start, t_all, t_bare, t_plan, t_plan0 = [], [], [], [], []
    for _ in range(runs):
        t_bare.append(timed(lambda: bare_scan(big)))
        t_start.append(timed(lambda: started.append(journal_mod.Journal(big).at_start())))
        t_all.append(timed(lambda: journal_mod.Journal(big).all()))
        t_plan0.append(plan_in(empty))
        t_plan.append(plan_in(big))
    # Fast and right: every unfinished job is found (plan() adds one a run), and the history is full.
    found_all = all(waiting <= {j.id for j in got if not j.finished} and len(got) >= min(records, 100)
                    for got in started)
    s, a, b = statistics.median(t_start), statistics.median(t_all), statistics.median(t_bare)
    p, p0 = statistics.median(t_plan), statistics.median(t_plan0)
    return [
        {"row": "J", "what": f"Blender start with the add-on: import tripo_addon + register() in a fresh process, "
         f"{records}-record journal vs an empty one (ms, median of {runs})", "value": addon_big, "base": addon_empty,
         "ratio": addon_big / addon_empty, "unit": "ms", "target": "< 1000 ms", "ok": addon_big < 1000},
        {"row": "J", "what": f"start-up: Journal(dir).at_start() with {records} records ({len(waiting)} unfinished, "
         f"{'all' if found_all else 'NOT all'} found) vs bare listdir+json.load of every record (s, median of {runs})",
         "value": s, "base": b, "ratio": s / b, "unit": "s", "target": "< 1 s", "ok": s < 1.0 and found_all},
        {"row": "J", "what": f"reading every record: Journal(dir).all() with {records} records vs the same bare read "
         f"(s, median of {runs}; api.jobs(everything=True))", "value": a, "base": b, "ratio": a / b, "unit": "s",
         "target": "(info)", "ok": None},
        {"row": "J", "what": f"planning a new image: plan() with {records} records vs empty journal "
         f"(s, median of {runs})", "value": p, "base": p0, "ratio": p / p0, "unit": "s", "target": "< 1 s",
         "ok": p < 1.0},
    ]


# -- output ---------------------------------------------------------------------------------

def machine() -> dict:
    try:
        bpy_version = subprocess.run([PY, "-c", "import bpy; print(bpy.app.version_string)"], capture_output=True,
                                     text=True, timeout=120).stdout.strip().splitlines()[-1]
    except (subprocess.SubprocessError, IndexError):
        bpy_version = "?"
    try:
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no", "tripo_addon"],
                               capture_output=True, text=True, timeout=30).stdout.strip()
        code = head + (" + uncommitted changes in tripo_addon/" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        code = "?"
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "bpy": bpy_version, "code": code}


def fmt(v, unit: str) -> str:
    if v is None:
        return "-"
    if unit == "ms" or unit == "MB/s" or unit == "MB" or unit == "KB":
        return f"{v:.1f}"
    if unit == "s":
        return f"{v:.3f}" if v < 10 else f"{v:.1f}"
    return f"{v:g}"


def table(rows: list[dict], info: dict, total: float) -> str:
    head = ("row", "measure", "value", "baseline", "ratio", "target", "result")
    body = [(r["row"], r["what"], fmt(r["value"], r["unit"]) + (f" {r['unit']}" if r["unit"] else ""),
             fmt(r["base"], r["unit"]), f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-", r["target"],
             {True: "PASS", False: "FAIL", None: "info"}[r["ok"]]) for r in rows]
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
    line = lambda cells: " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    out = [f"machine: {info['cpus']} CPUs, {info['platform']}, Python {info['python']}, bpy {info['bpy']}; "
           f"code {info['code']}",
           line(head), "-+-".join("-" * w for w in widths), *map(line, body),
           f"total bench time: {total:.0f} s"]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(ROWS), help=f"comma-separated rows of {', '.join(ROWS)}")
    ap.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    ap.add_argument("--json", metavar="FILE", help="also write the rows and the machine as JSON")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (batch logs)")
    args = ap.parse_args()
    only = [r.strip() for r in args.only.split(",") if r.strip()]
    unknown = [r for r in only if r not in ROWS]
    if unknown:
        ap.error(f"unknown rows {unknown}; pick from {', '.join(ROWS)}")
    started = time.perf_counter()
    info = machine()
    work = tempfile.mkdtemp(prefix="bench-")
    rows: list[dict] = []
    q = args.quick
    env = dict(os.environ)
    try:
        with GatewaySimulator(SimConfig()) as sim:
            env.update(PIXAZO_API_KEY=sim.config.api_key, PIXAZO_BASE_URL=sim.url)
            images = make_images(os.path.join(work, "images"), 200 if q else 1000)
            steps = {
                "P3": lambda: p3(sim, images, q, work),
                "P3b": lambda: p3b(sim, images, q, work),
                "P4": lambda: bench_child.p4(sim, sim.config.api_key, (100 if q else 500) * 2**20, 3 if q else 5),
                "P5": lambda: _p5(work, 5 if q else 11, env),
                "P6": lambda: bench_child.p6(sim, 3 if q else 7, env),
                "P8": lambda: _p8(work, 3 if q else 7, env),
                "J": lambda: journal_rows(2000 if q else 10000, 5, work, env),
                "P7": lambda: bench_decoding.p7(work, 50 if q else 200, 1 if q else 3, env),
            }
            for name in ROWS:
                if name not in only:
                    continue
                t = time.perf_counter()
                try:
                    rows.extend(steps[name]())
                except Exception as exc:  # one broken row must not hide the others
                    rows.append({"row": name, "what": f"ERROR: {type(exc).__name__}: {exc}"[:300], "value": None,
                                 "base": None, "ratio": None, "unit": "", "target": "-", "ok": False})
                print(f"  [{name} took {time.perf_counter() - t:.0f} s]", file=sys.stderr, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    total = time.perf_counter() - started
    print(table(rows, info, total))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "quick": q, "rows": rows, "total_seconds": total}, f, indent=1)
    return 0 if all(r["ok"] is not False for r in rows) else 1


def _p5(work: str, runs: int, env: dict) -> list[dict]:
    glb = os.path.join(work, "tripo-like.glb")
    tripo_glb(glb)
    e = dict(env, BLENDER_USER_RESOURCES=os.path.join(work, "p5-home"))
    return bench_child.p5(glb, runs, e)


def _p8(work: str, runs: int, env: dict) -> list[dict]:
    glb = os.path.join(work, "tripo-like.glb")
    if not os.path.exists(glb):
        tripo_glb(glb)
    e = dict(env, BLENDER_USER_RESOURCES=os.path.join(work, "p8-home"))
    return bench_gameready.p8(glb, runs, e)


if __name__ == "__main__":
    sys.exit(main())
