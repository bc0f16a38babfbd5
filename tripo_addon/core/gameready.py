"""What makes a model game-ready, as plain values: the options (face budget, texture size, LODs,
export, post-script), the LOD budgets and names, export file names, and extra gateway fields.

    GameReadyOptions(faces=5000, texture_size=1024, lods=3, export_format="fbx")
    lod_budgets(5000, 3)                 # [5000, 2500, 1250]
    lod_name("chair", 0)                 # "chair_LOD0"
    export_file_name("/in/chair.png", "fbx")   # "chair.fbx"
    parse_param("face_limit=8000")       # ("face_limit", 8000)
    merge_extra(params, {"pbr": True})   # params with the extra fields beside them

Invalid values raise :class:`~.errors.BadOption` with one sentence per bad value.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from . import errors as E
from .fsutil import safe_name

#: Export formats, each with the extension of the file it writes.
FORMAT_EXTENSIONS = {"glb": ".glb", "fbx": ".fbx", "obj": ".obj", "usd": ".usd", "stl": ".stl"}
FORMATS = tuple(FORMAT_EXTENSIONS)
#: The format used when only an export folder is given.
DEFAULT_FORMAT = "glb"
DEFAULT_LOD_RATIOS = (1.0, 0.5, 0.25)
MAX_LODS = 8
#: The largest texture edge an export may ask for (Blender and the engines go no further).
MAX_TEXTURE_SIZE = 16384
#: The gateway fields the Pixazo contract documents, each with the option that sets it.
DOCUMENTED_FIELDS = {"texture": "--texture", "texture_alignment": "--texture-alignment",
                     "orientation": "--orientation"}
#: Set by the job itself: never an extra field.
RESERVED_FIELDS = ("image_url",)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class GameReadyOptions:
    """What to do to each imported model before it leaves Blender (the defaults change nothing).

    ``faces``: about this many triangles for LOD0 (0 keeps the model's own);
    ``texture_size``: textures larger than this many pixels on their longer edge are
    scaled down to it (0 keeps them); ``lods``: how many levels, LOD0 to LOD(K-1), at
    ``lod_ratios`` of the budget, then halving; ``export_dir`` and ``export_format``:
    one file per image (a folder alone means GLB); ``apply_transforms``: bake location,
    rotation and scale into the meshes; ``post_script``: a ``.py`` file whose
    ``process(objects, info)`` runs on each model before its export.
    """

    faces: int = 0
    texture_size: int = 0
    lods: int = 1
    lod_ratios: tuple = DEFAULT_LOD_RATIOS
    export_dir: str = ""
    export_format: str = ""
    apply_transforms: bool = False
    post_script: str = ""

    def __post_init__(self) -> None:
        problems = []
        if not _is_int(self.faces) or self.faces < 0:
            problems.append(f"The face budget must be a whole number of triangles, 0 to keep the model's own "
                            f"(not {self.faces!r}).")
        elif 0 < self.faces < 4:
            problems.append(f"A face budget of {self.faces} leaves no shape; give at least 4 triangles, "
                            "or 0 to keep the model's own.")
        if not _is_int(self.texture_size) or not 0 <= self.texture_size <= MAX_TEXTURE_SIZE:
            problems.append(f"The texture size must be a whole number of pixels from 1 to {MAX_TEXTURE_SIZE}, "
                            f"or 0 to keep the textures as they are (not {self.texture_size!r}).")
        if not _is_int(self.lods) or not 1 <= self.lods <= MAX_LODS:
            problems.append(f"The number of LODs must be a whole number from 1 to {MAX_LODS} (not {self.lods!r}).")
        ratios = self._ratios(problems)
        fmt = self.export_format.strip().lower() if isinstance(self.export_format, str) else self.export_format
        if fmt and fmt not in FORMATS:
            problems.append(f"The export format {self.export_format!r} is not one Blender writes here; "
                            f"use one of {', '.join(FORMATS)}.")
        if not isinstance(self.export_dir, str):
            problems.append(f"The export folder must be a path (not {self.export_dir!r}).")
        elif self.export_dir and os.path.exists(self.export_dir) and not os.path.isdir(self.export_dir):
            problems.append(f"The export folder {self.export_dir} is a file; give a folder (it is made if "
                            "it does not exist).")
        if not isinstance(self.apply_transforms, bool):
            problems.append(f"Apply transforms must be true or false (not {self.apply_transforms!r}).")
        self._check_post_script(problems)
        if problems:
            raise E.BadOption(" ".join(problems))
        if self.export_dir and not fmt:
            fmt = DEFAULT_FORMAT
        object.__setattr__(self, "export_format", fmt)
        object.__setattr__(self, "lod_ratios", ratios)

    def _ratios(self, problems: list) -> tuple:
        try:
            ratios = tuple(float(r) for r in self.lod_ratios)
        except (TypeError, ValueError):
            problems.append(f"The LOD ratios must be numbers above 0 and at most 1 (not {self.lod_ratios!r}).")
            return DEFAULT_LOD_RATIOS
        growing = any(ratios[i + 1] > ratios[i] for i in range(len(ratios) - 1))
        if not ratios or any(not 0 < r <= 1 for r in ratios) or growing:
            problems.append("The LOD ratios must be numbers above 0 and at most 1, each no larger than the one "
                            f"before (not {', '.join(f'{r:g}' for r in ratios) or 'none'}).")
            return DEFAULT_LOD_RATIOS
        return ratios

    def _check_post_script(self, problems: list) -> None:
        script = self.post_script
        if not script:
            return
        if not isinstance(script, str):
            problems.append(f"The post-script must be the path of a .py file (not {script!r}).")
        elif not script.lower().endswith(".py"):
            problems.append(f"The post-script {script} is not a .py file; give a Python file that defines "
                            "process(objects, info).")
        elif not os.path.isfile(script):
            problems.append(f"The post-script {script} does not exist; give the path of a .py file that "
                            "defines process(objects, info).")

    @property
    def exports(self) -> bool:
        """Whether each model is written to a file."""
        return bool(self.export_format)

    @property
    def optimises(self) -> bool:
        """Whether the meshes or textures change at all."""
        return bool(self.faces or self.texture_size or self.lods > 1 or self.apply_transforms)

    def budgets(self, model_faces: int) -> list[int]:
        """The triangle budget of each LOD for a model of ``model_faces`` triangles."""
        return lod_budgets(self.faces or model_faces, self.lods, self.lod_ratios)


def lod_budgets(faces: int, lods: int = 1, ratios=DEFAULT_LOD_RATIOS) -> list[int]:
    """The triangles of LOD0..LOD(lods-1): ``ratios`` of ``faces`` in turn, then halving the last.

    >>> lod_budgets(5000, 5)
    [5000, 2500, 1250, 625, 312]
    """
    ratios = tuple(ratios) or DEFAULT_LOD_RATIOS
    out = []
    for i in range(lods):
        ratio = ratios[i] if i < len(ratios) else ratios[-1] * 0.5 ** (i - len(ratios) + 1)
        out.append(max(1, int(faces * ratio)))
    return out


def lod_name(base: str, index: int) -> str:
    """The name Unity and Unreal read as level ``index`` of a LOD group: ``NAME_LOD0``..."""
    return f"{base}_LOD{index}"


def export_file_name(image_name: str, fmt: str) -> str:
    """The file one image's model is exported to: the image's name without its extension,
    made safe for any file system, with the format's extension (``photo.png`` -> ``photo.fbx``)."""
    fmt = fmt.lower()
    if fmt not in FORMAT_EXTENSIONS:
        raise E.BadOption(f"The export format {fmt!r} is not one Blender writes here; use one of "
                          f"{', '.join(FORMATS)}.")
    name = str(image_name).split("?", 1)[0].split("#", 1)[0].rstrip("/\\")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem = os.path.splitext(name)[0] if "." in name[1:] else name
    stem = safe_name(stem, keep="-_.", replace="_", limit=120).strip(".") or "model"
    return stem + FORMAT_EXTENSIONS[fmt]


def parse_param(text: str) -> tuple[str, object]:
    """``"NAME=VALUE"`` as (name, value): the value parsed as JSON (``8000``, ``true``,
    ``[1, 2]``), or kept as the text typed when it is not JSON (``quad=yes`` -> ``"yes"``)."""
    name, sep, raw = str(text).partition("=")
    name = name.strip()
    if not sep or not name:
        raise E.BadOption(f"The gateway field {text!r} is not NAME=VALUE; write it like face_limit=8000.")
    if not all(c.isalnum() or c in "_-." for c in name):
        raise E.BadOption(f"The gateway field name {name!r} has characters a field name cannot have; use "
                          "letters, digits and underscores.")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return name, value


def merge_extra(params: dict, extra: dict | None) -> dict:
    """``params`` (the documented fields) with the ``extra`` gateway fields beside them, as they are.

    An extra field naming a documented one is refused (it has its own option),
    and so is ``image_url``: the job sets it.
    """
    merged = dict(params)
    problems = []
    for name, value in (extra or {}).items():
        if name in DOCUMENTED_FIELDS:
            problems.append(f"The gateway field {name} has its own option; use {DOCUMENTED_FIELDS[name]} "
                            f"(or {name}= in api.generate) instead of passing it as an extra field.")
        elif name in RESERVED_FIELDS:
            problems.append(f"The gateway field {name} is set by the job itself and cannot be passed.")
        else:
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                problems.append(f"The gateway field {name} has a value that cannot be sent as JSON "
                                f"({type(value).__name__}).")
                continue
            merged[name] = value
    if problems:
        raise E.BadOption(" ".join(problems))
    return merged
