"""Whether requests may leave this process (:data:`ONLINE`): Blender's online
access as the main thread last saw it, for workers, which never read ``bpy``.

Apart from the sessions that obey it (.sessions) so that reading or setting it
loads no network library.
"""

from __future__ import annotations

import threading


class OnlineFlag:
    """Whether requests may leave this process: Blender's online access, kept
    current by the main thread (the job timer, and a subscription to the
    preference), read by workers, which never read ``bpy``. On by default: the
    core on its own (tests, tools) has no such setting."""

    def __init__(self) -> None:
        self._on = threading.Event()
        self._on.set()
        self._lock = threading.Lock()
        #: How many times it went off: a worker compares it to tell it was cut short by it.
        self.times_off = 0

    def set(self, on: bool) -> None:
        with self._lock:
            if on:
                self._on.set()
            elif self._on.is_set():
                self._on.clear()
                self.times_off += 1

    def is_on(self) -> bool:
        return self._on.is_set()


#: The process's one flag (see OnlineFlag).
ONLINE = OnlineFlag()
