"""The batch command line, shared by ``scripts/generate.py`` and
``blender --command tripo3d``: its options, its checks and the run.

Exit codes: 0 every image imported, 1 any image failed, 2 usage or
configuration error (nothing was sent), 130 / 143 stopped by Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import bpy

from ...core import errors as E
from ...core.fsutil import os_error_reason
from ...core.net.gateway import RetryPolicy
from ...core.storage.config import S3
from ...core.storage.delivery import describe
from ...core.images import is_url
from ...core.inputs import expand as expand_inputs
from ...core.inputs import parse_shard, take_shard
from ...core.jobs import Job
from ...core.net.urls import check_url, normalise_base_url
from .. import settings as settings_mod
from .checks import choose_key, game_ready_problems, number_problems
from .parser import UsageError, build_parser
from ...core.placement_options import ImportOptions
from ..imp.prerequisites import missing_prerequisites
from ..engine import batch
from ..engine.post_process import PostProcess
from .outputs import Outputs, Progress, console_never_fails
from ..engine.manager import manager
from ..engine.upload_cleanup import clean_uploads
from ..user_data import journal


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


def describe_local_route(settings: settings_mod.Settings) -> str:
    """How a local image will travel with these settings, in a few words."""
    if settings.upload_route == "inline" or settings.storage is None:
        return describe("inline")
    return describe(S3, settings.storage)


def _output_problems(args) -> list[str]:
    """Outputs are checked before anything is paid for: folders made, writable."""
    problems = []
    if not 1 <= args.jobs <= 256:
        problems.append("--jobs must be between 1 and 256.")
    if args.save_every < 1:
        problems.append("--save-every must be at least 1.")
    if args.webhook_url:
        try:
            check_url(args.webhook_url, "webhook address")
        except E.TripoError as exc:
            problems.append(f"--webhook-url: {exc.message}")
    elif args.webhook_mode:
        problems.append("--webhook-mode needs --webhook-url.")
    for flag, folder in (("--out-dir", args.out_dir), ("--glb-dir", args.glb_dir),
                         ("--out", os.path.dirname(os.path.abspath(args.out)) if args.out else None),
                         ("--report", os.path.dirname(os.path.abspath(args.report)) if args.report else None),
                         ("--export-dir", args.export_dir)):
        if not folder or (flag in ("--out", "--report") and not os.path.isdir(folder)):
            continue
        try:
            os.makedirs(folder, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            problems.append(f"Cannot write into the folder for {flag} {folder} ({os_error_reason(exc)[0]}); "
                            "pick a folder you can write to.")
    return problems


def _say(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str], prog: str = "generate.py") -> int:
    console_never_fails()
    try:
        args = build_parser(prog).parse_args(argv)
    except UsageError as exc:
        print(str(exc), file=sys.stderr, flush=True)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)

    # Configuration errors: say so and send nothing.
    problems = []
    problems.extend(missing_prerequisites())  # e.g. no numpy: the import would fail after paying
    prefs = settings_mod.addon_preferences()
    chosen = choose_key(os.environ, getattr(prefs, "api_key", "") if prefs is not None else "")
    if chosen.problem:
        problems.append(chosen.problem)
    try:
        normalise_base_url(os.environ.get("PIXAZO_BASE_URL"))
    except E.TripoError as exc:
        problems.append(f"PIXAZO_BASE_URL: {exc.message}")
    if args.out and not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        problems.append(f"The folder for --out {args.out} does not exist; create it first.")
    if args.report and not os.path.isdir(os.path.dirname(os.path.abspath(args.report))):
        problems.append(f"The folder for --report {args.report} does not exist; create it first.")
    problems.extend(_output_problems(args))
    try:  # every paid request id must be able to reach the disk before anything is sent
        journal().check_writable()
    except E.TripoError as exc:
        problems.append(exc.message)
    except OSError as exc:
        reason, advice = os_error_reason(exc)
        problems.append(f"The job journal's folder cannot be used ({reason}); {advice} "
                        "(or set BLENDER_USER_RESOURCES to a writable folder).")
    inputs = expand_inputs(args.images, recursive=args.recursive)
    images = inputs.sources
    if args.shard:
        try:
            images = take_shard(images, *parse_shard(args.shard), keys=inputs.shard_keys)
        except ValueError as exc:
            problems.append(str(exc))
    if not inputs.sources:
        problems.append("No image was found in " + " ".join(args.images)[:200] + "; check the paths.")
    # nan, inf, zero, negatives, words: one line each, exit 2 (numbers are converted here).
    problems.extend(number_problems(args, os.environ))
    params = {"texture": args.texture, "texture_alignment": args.texture_alignment, "orientation": args.orientation}
    game, params, game_problems = game_ready_problems(args, params)
    problems.extend(game_problems)
    post_process = None
    if game is not None and not game_problems:
        try:  # the post-script is loaded (and run) once, before anything is paid for
            post_process = PostProcess.for_options(game)
        except E.TripoError as exc:
            problems.append(exc.message)
    upload = args.upload if args.upload is not None else os.environ.get("TRIPO3D_UPLOAD", "")
    try:
        settings = settings_mod.current(upload=upload, prefer_env=True)
        if settings.storage_error is not None:
            raise settings.storage_error
    except E.TripoError as exc:
        problems.append(exc.message)
    if not problems:
        try:
            settings_mod.ensure_online(allow=args.online_mode)
        except E.OnlineAccessDisabled as exc:
            problems.append(exc.message)
    if problems:
        for line in problems:
            print(f"error: {line}", file=sys.stderr, flush=True)
        return 2
    _say(chosen.line)  # which key is used, never the key

    if not bpy.data.filepath:
        # No .blend was opened: start from an empty scene, not the default cube.
        bpy.ops.wm.read_homefile(use_empty=True)
        settings_mod.ensure_online(allow=args.online_mode)

    settings = settings_mod.current(upload=upload, prefer_env=True)
    settings.api_key = chosen.key  # the environment's key wins over the preferences' in the CLI
    settings.poll_interval = args.poll_interval
    settings.max_download_mb = args.max_download_mb
    settings.keep_metadata = settings.keep_metadata or args.keep_metadata
    if os.environ.get("TRIPO3D_READ_TIMEOUT"):
        settings.read_timeout = float(os.environ["TRIPO3D_READ_TIMEOUT"])
    options = ImportOptions(at_cursor=True, rest_on_ground=not args.no_ground, normalize_size=args.normalize_size)
    settings.retry = _retry_from_env()
    _say(f"Tripo3D: {len(images)} image(s)" + (f" (shard {args.shard})" if args.shard else "")
         + f"; jobs are kept in {journal().directory}")
    for line in inputs.problems:
        _say(f"  warning: {line}")
    if any(not is_url(i) for i in images):
        _say(f"  Local images travel {describe_local_route(settings)}.")
    deleted, leftovers = clean_uploads(settings)
    if deleted:
        _say(f"  Deleted {deleted} uploaded image(s) left by earlier runs.")
    for line in leftovers[:5]:
        _say(f"  warning: {line}")

    def on_event(job: Job, event: str) -> None:
        if event == "unsaved" and job.request_id:
            progress.say(f"  warning: {job.label}: request {job.request_id} could not be written to the job "
                         "journal (is the disk full?); it is kept in memory and written as soon as possible.")
        if event == "state":
            extra = f" (request {job.request_id})" if job.request_id and job.state == "queued" else ""
            progress.say(f"  {job.label}: {job.state.replace('_', ' ')}{extra}")

    total = len(images)
    progress = Progress(total)
    outputs = Outputs(report=args.report, out=args.out, out_dir=args.out_dir, glb_dir=args.glb_dir,
                      save_every=args.save_every)
    started = time.monotonic()

    def done(index: int, outcome) -> None:
        progress.finished_one(outcome.ok)
        shared = f"same picture as {outcome.same_as}; no new charge; " if outcome.same_as else ""
        if outcome.ok:
            job = outcome.job
            progress.say(f"[{progress.done}/{total}] OK {outcome.image}: {shared}{len(job.objects)} object(s)"
                         f"{_in_collection(job)} (request {job.request_id}, {time.monotonic() - started:.1f} s)"
                         + (f"; exported {outcome.exports[0]}" if outcome.exports else ""))
        else:
            progress.say(f"[{progress.done}/{total}] FAILED {outcome.image}: {shared}{E.scrub(outcome.error or '')}")
        outputs.job_done(index, outcome)

    settings.max_concurrent = args.jobs
    settings.webhook_url, settings.webhook_mode = args.webhook_url, args.webhook_mode
    interrupted = 0
    with _signals_as_exceptions():
        try:
            batch.run(images, params, options, settings=settings, jobs=args.jobs, force=args.force,
                      keep_paths=args.keep_paths, on_done=done, post_process=post_process,
                      on_event=on_event, log=lambda m: progress.say(f"  {m}"),
                      tick=lambda: progress.tick(running=len(manager.threads)))
        except _Interrupted as exc:
            interrupted = exc.code
            progress.say(f"Stopped ({exc.name}): jobs in flight are saved and resume when you run the same "
                         "command again, without paying twice.")
    for line in _unsaved_request_ids():
        progress.say(f"warning: {line}")
    outcomes = [outputs.outcomes[i] for i in sorted(outputs.outcomes)]
    exit_code = interrupted or (0 if len(outcomes) == total and all(o.ok for o in outcomes) else 1)
    if args.out:
        if outputs.save_blend():
            progress.say(f"Saved {args.out}")
    if outputs.write_report(final=True) and args.report:
        progress.say(f"Wrote {args.report}")
    for line in outputs.problems:
        print(f"error: {line}", file=sys.stderr, flush=True)
        exit_code = exit_code or 1
    ok = sum(o.ok for o in outcomes)
    progress.say(f"Done: {ok} of {total} imported" + ("" if ok == total else f", {total - ok} not imported"))
    return exit_code


def _in_collection(job: Job) -> str:
    """" in collection 'NAME'" for a job's imported objects ("" once they left the scene)."""
    obj = bpy.data.objects.get(job.objects[0]) if job.objects else None
    return f" in collection '{obj.users_collection[0].name}'" if obj is not None and obj.users_collection else ""


def _unsaved_request_ids() -> list[str]:
    """Records the journal could not write (a full disk...): try once more,
    and print the request id of any paid job still only in memory."""
    jr = journal()
    try:
        jr.flush_unsaved()
    except OSError:
        pass
    why = os_error_reason(jr.last_write_error) if jr.last_write_error else ("", "free some disk space")
    return [f"could not write the job record of {rec.get('source', '?')} (request {rec.get('request_id')}) "
            f"to {jr.jobs_dir}{f' ({why[0]})' if why[0] else ''}; keep this request id, and {why[1]}"
            for rec in jr.unsaved.values() if rec.get("request_id")]


class _Interrupted(BaseException):
    """Ctrl-C or SIGTERM: a BaseException, so no handler of an image's or a job's bug takes it for one."""

    def __init__(self, name: str, code: int):
        super().__init__(name)
        self.name, self.code = name, code


class _signals_as_exceptions:
    """Ctrl-C and SIGTERM end the batch loop cleanly (exit 130 / 143): the
    workers are asked to stop, a submit in flight is waited for until its
    answer is on disk, and the report and the .blend are written."""

    def __enter__(self):
        import signal

        def raise_(signum, _frame):
            raise _Interrupted("SIGTERM" if signum == signal.SIGTERM else "Ctrl-C", 128 + signum)

        self._old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, raise_)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def __exit__(self, *exc):
        import signal

        for sig, handler in self._old.items():
            # None: a handler Blender installed in C, which Python cannot put back.
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        return False
