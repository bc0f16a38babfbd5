"""The batch command line, shared by ``scripts/generate.py`` and
``blender --command tripo3d``.

Exit codes: 0 every image imported, 1 any image failed, 2 usage or
configuration error (nothing was sent).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import bpy

from ..core import errors as E
from ..core.gateway import RetryPolicy
from ..core.jobs import DEFAULT_PARAMS, Job
from ..core.urls import normalise_base_url
from . import settings as settings_mod
from .importer import ImportOptions
from .service import generate_blocking, journal

TEXTURES = ("no", "standard", "HD")
ALIGNMENTS = ("original_image", "geometry")
ORIENTATIONS = ("default", "align_image")

EPILOG = """environment:
  PIXAZO_API_KEY    your Pixazo API key (required)
  PIXAZO_BASE_URL   gateway address (default https://gateway.pixazo.ai; http only for this computer)
  BLENDER_USER_RESOURCES  moves Blender's user folder, and with it the job journal

Re-running the same command resumes unfinished jobs and re-imports finished
ones from disk instead of paying again; --force submits anew.
exit codes: 0 all imported, 1 some image failed, 2 usage or configuration error"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, no usage dump to stdout
        self.print_usage(sys.stderr)
        raise _UsageError(f"{self.prog}: {message}")


class _UsageError(Exception):
    pass


def build_parser(prog: str = "generate.py") -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description="Turn images into textured 3D models with Tripo3D v2.5 and import them.",
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="local PNG/JPEG/WebP files or http(s) URLs")
    p.add_argument("--texture", default=DEFAULT_PARAMS["texture"],
                   help=f"texture quality: {', '.join(TEXTURES)} (default %(default)s; other values are passed on)")
    p.add_argument("--texture-alignment", default=DEFAULT_PARAMS["texture_alignment"],
                   help=f"{', '.join(ALIGNMENTS)} (default %(default)s)")
    p.add_argument("--orientation", default=DEFAULT_PARAMS["orientation"],
                   help=f"{', '.join(ORIENTATIONS)} (default %(default)s)")
    p.add_argument("--out", metavar="FILE.blend", help="save the scene with the imported models")
    p.add_argument("--report", metavar="FILE.json", help="write a JSON report of every job")
    p.add_argument("--online-mode", action="store_true",
                   help="allow network access for this run (as Blender's own --online-mode)")
    p.add_argument("--force", action="store_true", help="submit again (and pay again) even if a job exists")
    p.add_argument("--poll-interval", type=float, default=2.0, metavar="SECONDS",
                   help="seconds between status checks of a job (default %(default)s, at least 1)")
    p.add_argument("--max-download-mb", type=int, default=512, metavar="MB",
                   help="refuse model files larger than this (default %(default)s)")
    p.add_argument("--normalize-size", type=float, default=0.0, metavar="METRES",
                   help="scale each model so its largest side is this long (default: keep)")
    p.add_argument("--no-ground", action="store_true", help="do not rest models on the ground at the 3D cursor")
    return p


def _retry_from_env() -> RetryPolicy | None:
    # For tuning in pipelines (and fast fault tests): backoff base and attempts;
    # TRIPO3D_READ_TIMEOUT (seconds) is read in main().
    base = os.environ.get("TRIPO3D_RETRY_BASE_DELAY")
    attempts = os.environ.get("TRIPO3D_RETRY_ATTEMPTS")
    if not base and not attempts:
        return None
    policy = RetryPolicy()
    if base:
        policy.base_delay = float(base)
        policy.max_delay = max(policy.base_delay, min(policy.max_delay, policy.base_delay * 8))
    if attempts:
        policy.attempts = int(attempts)
    return policy


def _say(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str], prog: str = "generate.py") -> int:
    try:
        args = build_parser(prog).parse_args(argv)
    except _UsageError as exc:
        print(str(exc), file=sys.stderr, flush=True)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)

    # Configuration errors: say so and send nothing.
    problems = []
    key = os.environ.get("PIXAZO_API_KEY", "").strip()
    if not key:
        problems.append("PIXAZO_API_KEY is not set; set it to your Pixazo API key and run again.")
    try:
        normalise_base_url(os.environ.get("PIXAZO_BASE_URL"))
    except E.TripoError as exc:
        problems.append(f"PIXAZO_BASE_URL: {exc.message}")
    if args.out and not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        problems.append(f"The folder for --out {args.out} does not exist; create it first.")
    if args.report and not os.path.isdir(os.path.dirname(os.path.abspath(args.report))):
        problems.append(f"The folder for --report {args.report} does not exist; create it first.")
    if args.poll_interval < 1:
        problems.append("--poll-interval must be at least 1 second.")
    if not problems:
        try:
            settings_mod.ensure_online(allow=args.online_mode)
        except E.OnlineAccessDisabled as exc:
            problems.append(exc.message)
    if problems:
        for line in problems:
            print(f"error: {line}", file=sys.stderr, flush=True)
        return 2

    if not bpy.data.filepath:
        # No .blend was opened: start from an empty scene, not the default cube.
        bpy.ops.wm.read_homefile(use_empty=True)
        settings_mod.ensure_online(allow=args.online_mode)

    settings = settings_mod.current()
    settings.poll_interval = args.poll_interval
    settings.max_download_mb = args.max_download_mb
    if os.environ.get("TRIPO3D_READ_TIMEOUT"):
        settings.read_timeout = float(os.environ["TRIPO3D_READ_TIMEOUT"])
    params = {"texture": args.texture, "texture_alignment": args.texture_alignment, "orientation": args.orientation}
    options = ImportOptions(at_cursor=True, rest_on_ground=not args.no_ground, normalize_size=args.normalize_size)
    retry = _retry_from_env()
    _say(f"Tripo3D: {len(args.images)} image(s); jobs are kept in {journal().directory}")

    def on_event(job: Job, event: str) -> None:
        if event == "state":
            extra = f" (request {job.request_id})" if job.request_id and job.state == "queued" else ""
            _say(f"  {job.label}: {job.state.replace('_', ' ')}{extra}")

    outcomes = []
    total = len(args.images)
    for index, image in enumerate(args.images, 1):
        started = time.monotonic()
        outcome = generate_blocking(image, params, options, force=args.force, origin="cli", settings=settings,
                                    retry=retry, on_event=on_event, log=lambda m: _say(f"  {m}"))
        outcomes.append(outcome)
        took = time.monotonic() - started
        if outcome.ok:
            job = outcome.job
            _say(f"[{index}/{total}] OK {image}: {len(job.objects)} object(s) in collection "
                 f"'{bpy.data.objects[job.objects[0]].users_collection[0].name}' "
                 f"(request {job.request_id}, {took:.1f} s)")
        else:
            _say(f"[{index}/{total}] FAILED {image}: {outcome.error}")

    exit_code = 0 if all(o.ok for o in outcomes) else 1
    if args.out:
        try:
            bpy.ops.wm.save_as_mainfile(filepath=os.path.abspath(args.out), check_existing=False)
            _say(f"Saved {args.out}")
        except RuntimeError as exc:
            print(f"error: could not save {args.out} ({' '.join(str(exc).split())[:200]})", file=sys.stderr)
            exit_code = 1
    if args.report:
        report = {"jobs": [o.to_report() for o in outcomes]}
        tmp = args.report + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
        os.replace(tmp, args.report)
        _say(f"Wrote {args.report}")
    ok = sum(o.ok for o in outcomes)
    _say(f"Done: {ok} of {total} imported" + ("" if exit_code == 0 else f", {total - ok} failed"))
    return exit_code
