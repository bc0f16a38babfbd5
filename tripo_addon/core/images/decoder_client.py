"""Decoding apart: the client of a long-lived child process (Blender's own reader) that turns any
picture Blender reads into a PNG or JPEG to send, so a reader that crashes ends only the child.

The child (``blender/exp/decoder_child.py``) speaks JSON lines over its stdin and stdout. It is
started at the first picture, lives for many, gets a time limit per picture and a memory cap (Linux
only), and is started again after a crash, a hang or a memory blow-up: that picture fails with one
sentence and the next goes on. Thread-safe: the jobs' worker threads share one child, one picture
at a time. The command that starts it is chosen by the Blender layer, on the main thread.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import subprocess
import threading
from typing import Sequence

from ..errors import BadImage, TripoError
from .fitting import MAX_EDGE_PX, MAX_INLINE_BYTES, plan
from .headers import ImageInfo, check_header, not_an_image, sniff
from .metadata import strip
from .prepared import PreparedImage, is_url, prepare

#: What starts each of the child's answers on its stdout (Blender prints its own lines there too).
PREFIX = "TRIPO-DECODER "
#: Seconds one picture may take in the child before it is stopped.
TIME_LIMIT = 120.0
#: Memory the child may take beyond what it holds when it starts, in MB (capped on Linux only).
MEMORY_MB = 6144
#: Seconds the child may take to start (Blender loads first).
START_TIMEOUT = 120.0


class ChildBug(RuntimeError):
    """The child's own code failed on a picture; the message holds its traceback, for the bug log."""


def stopped(name: str) -> BadImage:
    """The sentence for a picture whose reading crashed, hung or ran out of memory."""
    return BadImage(f"Blender's reader stopped on {name}; convert it to PNG and try again.")


class DecoderClient:
    """One child process decoding pictures, started when first needed, one picture at a time."""

    def __init__(self, command: Sequence[str], *, time_limit: float = TIME_LIMIT, memory_mb: int = MEMORY_MB,
                 env: dict | None = None, start_timeout: float = START_TIMEOUT) -> None:
        self.command = list(command)
        self.time_limit = time_limit
        self.memory_mb = memory_mb
        self.env = env
        self.start_timeout = start_timeout
        self.starts = 0  # children started so far (a restart after a crash counts)
        self.last_peak_mb = 0.0  # the child's peak memory after its last answer
        self.blender_version: tuple = ()  # the version of the Blender the child runs, once started
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._answers: queue.Queue = queue.Queue()
        self._next_id = 0

    # -- the one call ---------------------------------------------------------------------

    def decode(self, path: str, info: ImageInfo | None = None, *, name: str = "",
               max_edge: int = MAX_EDGE_PX, max_bytes: int = MAX_INLINE_BYTES) -> tuple[bytes, str]:
        """The picture in ``path`` as PNG or JPEG bytes that fit, upright, and a note of what was
        done ("" when nothing worth saying). Raises :class:`BadImage` with one sentence when it
        cannot be read or made to fit, or the reader stopped on it (the child is then replaced)."""
        name = name or os.path.basename(path)
        request = {"path": os.path.abspath(path), "name": name, "max_edge": max_edge, "max_bytes": max_bytes,
                   "info": dataclasses.asdict(info) if info is not None else None}
        with self._lock:
            self._ensure_started(name)
            self._next_id += 1
            request["id"] = self._next_id
            answer = self._ask(request, name)
        return self._result(answer, path, name)

    def stop(self) -> None:
        """End the child (the next picture starts another). A picture being read meanwhile is
        not waited for: its child is killed, and that picture fails."""
        if self._lock.acquire(timeout=0.5):
            try:
                self._end_child()
            finally:
                self._lock.release()
            return
        proc = self._proc
        if proc is not None:
            proc.kill()  # the worker reading through it sees its output end, and cleans up

    @property
    def pid(self) -> int | None:
        """The running child's process id, or None."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    # -- the child ------------------------------------------------------------------------

    def _ensure_started(self, name: str) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self._end_child()
        args = self.command + ["--memory-mb", str(self.memory_mb)]
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)  # no console window flashing on Windows
        try:
            proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, env=self.env, creationflags=flags)
        except OSError as exc:
            raise TripoError(f"Blender's image reader could not start ({exc.strerror}), so {name} was not read; "
                             "convert it to PNG and try again.") from None
        self.starts += 1
        self._proc, self._answers = proc, queue.Queue()
        threading.Thread(target=_read_answers, args=(proc, self._answers), name="tripo3d-decoder-reader",
                         daemon=True).start()
        ready = self._next_answer(self.start_timeout)
        if not ready or not ready.get("ready"):
            self._end_child(kill=True)
            raise TripoError(f"Blender's image reader could not start, so {name} was not read; "
                             "convert it to PNG and try again.")
        self.blender_version = tuple(ready.get("blender") or ())

    def _ask(self, request: dict, name: str) -> dict:
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        try:
            proc.stdin.write((json.dumps(request) + "\n").encode("utf-8"))
            proc.stdin.flush()
        except OSError:  # the child died since its last answer
            self._end_child()
            self._ensure_started(name)
            return self._ask(request, name)
        while True:
            answer = self._next_answer(self.time_limit)
            if answer is None:  # crashed, out of memory, or over its time
                self._end_child(kill=True)
                raise stopped(name)
            if answer.get("id") == request["id"]:
                self.last_peak_mb = float(answer.get("peak_mb") or 0.0)
                return answer

    def _next_answer(self, timeout: float) -> dict | None:
        try:
            return self._answers.get(timeout=timeout)
        except queue.Empty:
            return None

    def _end_child(self, *, kill: bool = False) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if kill:  # hung, or over its time: no answer will come
            proc.kill()
        try:
            if proc.stdin is not None:
                proc.stdin.close()  # the child ends by itself when its input closes
        except OSError:
            pass
        try:
            proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    # -- what an answer means -------------------------------------------------------------

    @staticmethod
    def _result(answer: dict, path: str, name: str) -> tuple[bytes, str]:
        if answer.get("ok"):
            with open(answer["file"], "rb") as f:
                data = f.read()
            os.remove(answer["file"])
            # Blender writes the resolution, and the source's tags, into what it saves: none leaves.
            return strip(data, sniff(data)), answer.get("note") or ""
        kind = answer.get("kind")
        if kind == "too_large":
            raise BadImage(answer.get("message") or f"{name} is too large to send; scale it down and try again.")
        if kind == "unreadable":
            raise _unreadable(path, name)
        raise ChildBug(f"the image decoder failed on {name}:\n{answer.get('traceback', answer)}")


def _read_answers(proc: subprocess.Popen, answers: queue.Queue) -> None:
    """The child's answers onto ``answers``; None once its output ends (it exited or crashed)."""
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace")
            if line.startswith(PREFIX):
                try:
                    answers.put(json.loads(line[len(PREFIX):]))
                except ValueError:
                    continue
    except (OSError, ValueError):
        pass
    answers.put(None)


def _unreadable(path: str, name: str) -> BadImage:
    """A file that looks like an image but Blender could not read it, or that is none."""
    try:
        with open(path, "rb") as f:
            head = f.read(64 * 1024)
    except OSError:
        head = b""
    info = sniff(head, name)
    if info is not None:
        return BadImage(f"{name} cannot be read: Blender could not decode this {info.format.replace('_', ' ')} "
                        "file (damaged, cut short, or a kind its reader lacks); convert it to PNG and try again.")
    return not_an_image(name, head)


def prepare_local(source: str, decoder: DecoderClient | None, *,
                  keep_metadata: bool = False) -> tuple[PreparedImage, str]:
    """What a job's worker sends for ``source``, and a note: a URL as it is; a local file's header
    first (too large or no image: refused before any decode); an upright PNG, JPEG or WebP within the
    limits with its own pixels (its metadata removed unless ``keep_metadata``); any other picture
    decoded by ``decoder`` (None: refused), which carries no metadata at all."""
    if is_url(source) or "://" in source or source.startswith("data:"):
        return prepare(source), ""
    info = check_header(source)
    if plan(info, os.path.getsize(source), keep_metadata=keep_metadata).as_is:
        return prepare(source, keep_metadata=keep_metadata), ""
    name = os.path.basename(source)
    if decoder is None:
        raise BadImage(f"{name} is not a PNG, JPEG or WebP image within the limits; convert it to one and try again.")
    data, note = decoder.decode(source, info, name=name)
    return prepare(source, data), note
