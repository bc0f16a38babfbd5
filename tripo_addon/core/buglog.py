"""The bug log (``logs/bugs.log`` in the journal's folder): the user gets one
sentence that says where the details are, the log gets the traceback."""

from __future__ import annotations

import os
import time

from .fsutil import replace

#: Keep the log small: older entries go when it passes this size.
MAX_BYTES = 1024 * 1024


def record(directory: str, exc: BaseException, context: str) -> str:
    """Append ``exc``'s traceback to ``directory/logs/bugs.log``; return the log's path
    ("" when even that cannot be written)."""
    import traceback

    folder = os.path.join(directory, "logs")
    path = os.path.join(folder, "bugs.log")
    from .errors import scrub

    entry = scrub(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {context}\n"
                  + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    try:
        os.makedirs(folder, exist_ok=True)
        if os.path.exists(path) and os.path.getsize(path) > MAX_BYTES:
            replace(path, path + ".1")
        with open(path, "a", encoding="utf-8") as f:
            f.write(entry)
    except OSError:
        return ""
    return path


def sentence(what: str, exc: BaseException, log_path: str) -> str:
    where = f"; the details are in {log_path}" if log_path else ""
    return (f"Tripo3D stopped on {what} because of an internal error ({type(exc).__name__}){where}. "
            "Nothing else was affected; please report it.")
