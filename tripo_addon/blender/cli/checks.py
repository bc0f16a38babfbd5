"""Checks of the batch command's numbers and API key, before anything is sent.

No bpy here: :mod:`.main` calls these in its "configuration errors" block,
so every bad value is one line on stderr and exit code 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...core import errors as E
from ...core.gameready import MAX_LODS, MAX_TEXTURE_SIZE, GameReadyOptions, merge_extra, parse_param
from ...core.net.apikey import check_api_key


@dataclass(frozen=True)
class Rule:
    name: str  # the option or environment variable, as the user typed it
    whole: bool  # a whole number (int) or any finite number (float)
    low: float
    high: float
    low_open: bool = False  # low itself is not allowed (a delay or timeout of 0)
    unit: str = ""  # "seconds", "megabytes", "metres"
    low_note: str = ""  # what the lowest value means, e.g. " (keep the size)"

    def check(self, raw) -> tuple[float | int | None, str | None]:
        """(value, None) or (None, one sentence saying what is wrong)."""
        text = str(raw).strip()
        try:
            value = int(text) if self.whole else float(text)
        except (TypeError, ValueError, OverflowError):
            value = None
        ok = value is not None and math.isfinite(value) and (
            value > self.low if self.low_open else value >= self.low) and value <= self.high
        if ok:
            return value, None
        kind = ("a whole number" if self.whole else "a number") + (f" of {self.unit}" if self.unit else "")
        span = (f"more than {_n(self.low)} and at most {_n(self.high)}" if self.low_open
                else f"from {_n(self.low)}{self.low_note} to {_n(self.high)}")
        return None, f"{self.name} must be {kind} {span} (got {text[:40]!r})."


def _n(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


# Upper bounds keep waits and sizes sane (and out of OverflowError in timers and sockets).
OPTIONS = {
    "poll_interval": Rule("--poll-interval", False, 1, 3600, unit="seconds"),
    "max_download_mb": Rule("--max-download-mb", True, 1, 1024 * 1024, unit="megabytes"),
    "normalize_size": Rule("--normalize-size", False, 0, 100_000, unit="metres", low_note=" (keep the size)"),
    "faces": Rule("--faces", True, 0, 100_000_000, unit="triangles", low_note=" (keep the model's own)"),
    "texture_size": Rule("--texture-size", True, 0, MAX_TEXTURE_SIZE, unit="pixels", low_note=" (keep the textures)"),
    "lods": Rule("--lods", True, 1, MAX_LODS),
}
ENVIRONMENT = {
    "TRIPO3D_RETRY_ATTEMPTS": Rule("TRIPO3D_RETRY_ATTEMPTS", True, 1, 100),
    "TRIPO3D_RETRY_BASE_DELAY": Rule("TRIPO3D_RETRY_BASE_DELAY", False, 0, 600, low_open=True, unit="seconds"),
    "TRIPO3D_READ_TIMEOUT": Rule("TRIPO3D_READ_TIMEOUT", False, 0, 3600, low_open=True, unit="seconds"),
}


def number_problems(args, environ) -> list[str]:
    """Check every numeric option (replacing it in ``args`` by its number) and tuning variable."""
    problems = []
    for attr, rule in OPTIONS.items():
        value, problem = rule.check(getattr(args, attr))
        if problem:
            problems.append(problem)
        else:
            setattr(args, attr, value)
    for name, rule in ENVIRONMENT.items():
        raw = environ.get(name, "")
        if raw:  # empty means "not set", as main() reads them
            problems.extend(p for p in [rule.check(raw)[1]] if p)
    return problems


def game_ready_problems(args, params: dict) -> tuple[GameReadyOptions | None, dict, list[str]]:
    """(the game-ready options, ``params`` with the ``--param`` fields beside them,
    problems) from the parsed arguments, after :func:`number_problems` made the numbers."""
    problems, extra = [], {}
    for text in args.param:
        try:
            name, value = parse_param(text)
            extra[name] = value
        except E.TripoError as exc:
            problems.append(f"--param: {exc.message}")
    try:
        params = merge_extra(params, extra)
    except E.TripoError as exc:
        problems.append(f"--param: {exc.message}")
    if problems or any(not isinstance(getattr(args, n), int) for n in ("faces", "texture_size", "lods")):
        return None, params, problems  # a bad number is already said once
    try:
        options = GameReadyOptions(faces=args.faces, texture_size=args.texture_size, lods=args.lods,
                                   export_dir=args.export_dir, export_format=args.export_format,
                                   apply_transforms=args.apply_transforms, post_script=args.post_script)
    except E.TripoError as exc:
        return None, params, [exc.message]
    if options.export_format and not options.export_dir:
        problems.append("--export-format needs --export-dir, the folder the files go to.")
    return options, params, problems


@dataclass(frozen=True)
class KeyChoice:
    key: str
    source: str  # "PIXAZO_API_KEY" or "the add-on preferences"; "" when there is no key
    problem: str | None
    line: str  # what the CLI says about it (never the key)


def choose_key(environ, saved_key: str | None) -> KeyChoice:
    """The environment's key wins over one saved in the add-on preferences (a pipeline sets it on purpose)."""
    env_key = (environ.get("PIXAZO_API_KEY") or "").strip()
    saved = (saved_key or "").strip()
    if not env_key and not saved:
        return KeyChoice("", "", "PIXAZO_API_KEY is not set (and no key is saved in the add-on preferences); "
                                 "set it to your Pixazo API key and run again.", "")
    key, source = (env_key, "PIXAZO_API_KEY") if env_key else (saved, "the add-on preferences")
    try:
        check_api_key(key)
        problem = None
    except E.NoApiKey as exc:
        problem = f"{'PIXAZO_API_KEY' if env_key else 'The key saved in the add-on preferences'}: {exc.message}"
    ignored = " (the key saved in the add-on preferences is not used)" if env_key and saved else ""
    return KeyChoice(key, source, problem, f"Tripo3D: using the API key from {source}{ignored}.")
