"""What a long batch run leaves behind as it goes: the report rewritten after each job, the
.blend saved every few imports, one .blend or GLB per image, and a progress line a person can read."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time

import bpy

from ...core import fsutil
from ...core.fsutil import safe_name
from ..engine.batch import Outcome


def write_json_atomically(path: str, data: dict, pauses: tuple = fsutil.REPLACE_PAUSES) -> None:
    """UTF-8 with names as they are (a console's encoding never touches the report)."""
    fsutil.write_atomically(path, json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8"),
                            prefix=".report-", pauses=pauses)


def console_never_fails() -> None:
    """Every line the batch prints reaches the console, whatever its encoding:
    a Windows console or a pipe in ASCII or cp1252 gets ``\\xfc`` for a ``ü``
    it cannot show instead of an error that would end the run."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure") and getattr(stream, "errors", "") == "strict":
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass  # a stream that cannot change: it keeps its own rules


def readable_stem(image: str, taken: set[str]) -> str:
    """A file name for an image's outputs: its own name, made unique in this run."""
    stem = os.path.splitext(os.path.basename(image.split("?", 1)[0].rstrip("/")))[0] or "model"
    # 60 (as Windows counts): an --out-dir or --glb-dir of 150 characters keeps its files under 230.
    stem = fsutil.short_name(safe_name(stem, keep="-_.", replace="_"), 60) or "model"
    name, n = stem, 2
    while name.lower() in taken:
        name, n = f"{stem}_{n}", n + 1
    taken.add(name.lower())
    return name


class Outputs:
    """``--report``, ``--out`` (saved every ``save_every`` imports or
    ``save_minutes``), ``--out-dir`` and ``--glb-dir``."""

    def __init__(self, *, report: str | None, out: str | None, out_dir: str | None, glb_dir: str | None,
                 save_every: int = 25, save_minutes: float = 10.0):
        self.report, self.out, self.out_dir, self.glb_dir = report, out, out_dir, glb_dir
        self.save_every, self.save_seconds = save_every, save_minutes * 60
        self.outcomes: dict[int, Outcome] = {}
        self.unsaved_imports = 0
        self.last_save = time.monotonic()
        self._stems: set[str] = set()
        self.problems: list[str] = []
        self._report_failing = False  # a rewrite failed after waiting: the next ones do not wait

    def job_done(self, index: int, outcome: Outcome) -> None:
        self.outcomes[index] = outcome
        if outcome.ok:
            stem = readable_stem(outcome.image, self._stems)
            if self.glb_dir and outcome.job and outcome.job.glb_path:
                self._copy_glb(outcome.job.glb_path, os.path.join(self.glb_dir, stem + ".glb"))
            if self.out_dir:
                self._write_own_blend(outcome, os.path.join(self.out_dir, stem + ".blend"))
            self.unsaved_imports += 1
        self.write_report()
        if self.out and self.unsaved_imports and (
                self.unsaved_imports >= self.save_every or time.monotonic() - self.last_save >= self.save_seconds):
            self.save_blend()

    def write_report(self, final: bool = False) -> bool:
        """Rewrite the report; a failure is said once at the end and the batch goes on
        (the next job's rewrite tries again: once, without waiting, until one works;
        the ``final`` one waits again)."""
        if not self.report:
            return True
        jobs = [self.outcomes[i].to_report() for i in sorted(self.outcomes)]
        pauses = () if self._report_failing and not final else fsutil.REPLACE_PAUSES
        try:
            write_json_atomically(self.report, {"jobs": jobs}, pauses)
        except OSError as exc:
            self._report_failing = True
            self._problem(fsutil.save_failure(exc, f"the report {self.report}"))
            return False
        self._report_failing = False
        return True

    def _problem(self, sentence: str) -> None:
        if sentence not in self.problems:
            self.problems.append(sentence)

    def save_blend(self) -> bool:
        """Blender itself writes to a temporary file and renames it into place."""
        if not self.out:
            return True
        path = os.path.abspath(self.out)
        if not self._blender_writes(self.out, lambda: bpy.ops.wm.save_as_mainfile(filepath=path, check_existing=False)):
            return False
        self.unsaved_imports, self.last_save = 0, time.monotonic()
        return True

    def _blender_writes(self, target: str, write) -> bool:
        """Run Blender's ``write`` of ``target``, tried again for a moment while
        another program (a viewer) holds the file; a lasting failure is one sentence."""
        for pause in (*fsutil.REPLACE_PAUSES, None):
            try:
                write()
                return True
            except OSError as exc:
                if exc.errno is not None and (pause is None or not fsutil.held_open(exc)):
                    self._problem(fsutil.save_failure(exc, target))
                    return False
                failure = exc
            except RuntimeError as exc:
                failure = exc
            # Blender's own words (no errno): "Cannot change old file" is a file held open.
            if pause is None:
                fsutil.quiet_remove(os.path.abspath(target) + "@")  # Blender's temporary file
                self._problem(f"Could not save {target} ({' '.join(str(failure).split())[:200]}); "
                              "check that folder and that no other program holds the file.")
                return False
            time.sleep(pause)
        return False

    def _copy_glb(self, source: str, target: str) -> None:
        tmp = target + ".tmp"
        try:
            shutil.copyfile(source, tmp)
            fsutil.replace(tmp, target)
        except OSError as exc:
            fsutil.quiet_remove(tmp)
            self._problem(fsutil.save_failure(exc, f"a copy of the model as {target}"))

    def _write_own_blend(self, outcome: Outcome, target: str) -> None:
        """The model's collection alone in its own .blend; without --out the
        model then leaves this scene, so a huge batch does not pile up in memory."""
        objects = [bpy.data.objects[n] for n in outcome.job.objects if n in bpy.data.objects]
        if not objects:
            return
        collection = objects[0].users_collection[0]
        path = os.path.abspath(target)
        if not self._blender_writes(target, lambda: bpy.data.libraries.write(path, {collection}, fake_user=True)):
            return
        if not self.out:
            for obj in list(collection.all_objects):
                bpy.data.objects.remove(obj)
            bpy.data.collections.remove(collection)
            bpy.data.orphans_purge(do_local_ids=True, do_linked_ids=False, do_recursive=True)


class Progress:
    """One live line on a terminal (done / running / failed / waiting, elapsed,
    ETA); plain log lines otherwise."""

    def __init__(self, total: int, stream=None):
        self.total, self.stream = total, stream or sys.stdout
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = time.monotonic()
        self.done = self.failed = 0
        self._shown = 0.0
        self._line_len = 0

    def say(self, line: str) -> None:
        self._clear()
        print(line, file=self.stream, flush=True)
        self.tick(force=True)

    def finished_one(self, ok: bool) -> None:
        self.done += 1
        self.failed += 0 if ok else 1

    def tick(self, running: int = 0, force: bool = False) -> None:
        if not self.live or (not force and time.monotonic() - self._shown < 0.5):
            return
        self._shown = time.monotonic()
        elapsed = time.monotonic() - self.started
        waiting = max(0, self.total - self.done - running)
        eta = elapsed / self.done * (self.total - self.done) if self.done else None
        text = (f"{self.done}/{self.total} done, {running} running, {self.failed} failed, {waiting} waiting, "
                f"{_clock(elapsed)} elapsed" + (f", about {_clock(eta)} left" if eta is not None else ""))
        self._clear()
        self.stream.write(text)
        self.stream.flush()
        self._line_len = len(text)

    def _clear(self) -> None:
        if self.live and self._line_len:
            self.stream.write("\r" + " " * self._line_len + "\r")
            self._line_len = 0


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
