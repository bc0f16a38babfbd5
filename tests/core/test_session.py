"""The session id: one per Blender process, and where a job's model lands by it."""

from __future__ import annotations

import subprocess
import sys


def test_the_session_id_is_one_per_process():
    from tripo_addon.core import session

    first = session.current()
    assert first == session.current() and session.is_current(first) and not session.is_current("")
    # A process started from this one inherits the environment, not the id.
    child = subprocess.run([sys.executable, "-c", "from tripo_addon.core import session; print(session.current())"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert child and child != first
    assert session.lands_in("", first, "") and not session.lands_in("", child, "")
    assert not session.lands_in("", first, "/x/saved.blend")
    assert session.lands_in("/x/a.blend", child, "/x/a.blend") and not session.lands_in("/x/a.blend", first, "")
