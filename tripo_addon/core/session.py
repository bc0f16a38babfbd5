"""Which Blender process this is: a session id made once per process, the same
across disabling, enabling and reloading the add-on.

A job started in an unsaved file has no file path to tell where its model goes;
the session id in its record says it was started in this Blender process, so
its model lands in this session's unsaved file even after the add-on's modules
were loaded afresh (their memory, the job manager's included, is gone then).
"""

from __future__ import annotations

import os
import time

from .fsutil import same_path

#: Kept in the process's environment: it outlives a reload of every module of
#: the add-on, and a process started from this one sees another pid in it.
ENV_NAME = "TRIPO3D_SESSION"


def current() -> str:
    """This process's session id: its pid and when the id was first asked for
    (a later process may get the same pid, never the same pair)."""
    pid = str(os.getpid())
    value = os.environ.get(ENV_NAME, "")
    if value.partition("-")[0] != pid:  # none yet, or a parent Blender's
        value = f"{pid}-{time.time_ns()}"
        os.environ[ENV_NAME] = value
    return value


def is_current(session_id: str) -> bool:
    """Whether a job record's session id is this process's."""
    return bool(session_id) and session_id == current()


def lands_in(blend_file: str, session_id: str, open_file: str) -> bool:
    """Whether a job's model goes into the file open now (``open_file``, "" when
    unsaved): the saved file that started it or, for a job started in an unsaved
    file, an unsaved file of the Blender process that started it."""
    if blend_file:
        return bool(open_file) and same_path(blend_file, open_file)
    return not open_file and is_current(session_id)
