"""The batch's post-process step for each imported model (main thread): the post-script,
then the face budget, texture size and LODs, then the export.

A step that fails takes that model out of the scene again.

``PostProcess.for_options(options)`` loads the post-script once (a script that
cannot be loaded is a usage error, before anything is paid for) and returns
``None`` when the options ask for nothing; calling the object with an imported
:class:`~.batch.Outcome` runs the steps and fills ``outcome.exports``, or sets
``outcome.error`` (one sentence) and leaves the scene as it was before that
model was imported.
"""

from __future__ import annotations

import os
import runpy
import traceback

import bpy

from ...core import buglog
from ...core import errors as E
from ...core.gameready import GameReadyOptions, export_file_name
from ..exp.export import export
from ..exp.optimise import optimise
from ..user_data import journal
from .batch import POST_PROCESS, Outcome


def load_post_script(path: str):
    """The ``process`` function of the post-script at ``path`` (run once, as its own module)."""
    try:
        namespace = runpy.run_path(path, run_name="tripo3d_post_script")
    except Exception as exc:  # the user's code: whatever it raises is said in one line
        raise E.BadOption(f"The post-script {path} could not be loaded: {_said(exc, path)}; "
                          "fix it and run again.") from None
    process = namespace.get("process")
    if not callable(process):
        raise E.BadOption(f"The post-script {path} defines no process(objects, info) function; add one.")
    return process


def _said(exc: BaseException, script: str) -> str:
    """An exception of the user's script in one line: its message, and the line of
    their file it came from."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, SyntaxError):
        return text
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if os.path.abspath(f.filename) == os.path.abspath(script)]
    return f"{text} (line {frames[-1].lineno})" if frames else text


class PostProcess:
    """What the batch does to each imported model before it counts as done."""

    def __init__(self, options: GameReadyOptions, process=None):
        self.options = options
        self.process = process
        self._file_names: set[str] = set()

    @classmethod
    def for_options(cls, options: GameReadyOptions) -> PostProcess | None:
        """The step for these options (the post-script loaded now), or None when there is nothing to do."""
        process = load_post_script(options.post_script) if options.post_script else None
        if process is None and not options.optimises and not options.exports:
            return None
        return cls(options, process)

    def export_path(self, image: str) -> str | None:
        """The file this image's model goes to: named after the image, unique in this run."""
        if not self.options.exports:
            return None
        name = export_file_name(image, self.options.export_format)
        stem, ext = os.path.splitext(name)
        n = 2
        while name.lower() in self._file_names:
            name, n = f"{stem}_{n}{ext}", n + 1
        self._file_names.add(name.lower())
        return os.path.join(os.path.abspath(self.options.export_dir), name)

    def __call__(self, outcome: Outcome) -> None:
        job = outcome.job
        objects = [bpy.data.objects[n] for n in job.objects if n in bpy.data.objects]
        collection = objects[0].users_collection[0] if objects else None
        before = _ids_now()
        made = _model_ids(objects, collection)
        path = self.export_path(outcome.image)
        name = os.path.basename(outcome.image.split("?", 1)[0].rstrip("/")) or outcome.image
        step = "the post-script"
        try:
            if self.process is not None:
                info = {"image": outcome.image, "job_id": job.id, "request_id": job.request_id,
                        "glb": job.glb_path, "collection": collection.name if collection else None,
                        "export_dir": self.options.export_dir or None, "export_path": path}
                try:
                    self.process(objects, info)
                except Exception as exc:  # the user's code: its message, that image alone
                    said = _said(exc, self.options.post_script)
                    raise E.BadOption(f"The post-script {self.options.post_script} failed on {name}: "
                                      f"{said}{'' if said.endswith('.') else '.'}") from None
                objects = _model_objects(collection, objects)
            step = "optimising"
            if self.options.optimises:
                objects = list(optimise(objects, self.options))
            if path is not None:
                step = "the export"
                os.makedirs(os.path.dirname(path), exist_ok=True)
                outcome.exports = list(export(objects, path, self.options.export_format))
            job.objects = [o.name for o in objects]
        except E.TripoError as exc:
            self._fail(outcome, exc.message, made | (_ids_now() - before))
        except Exception as exc:  # a bug of ours: this image fails alone, the batch goes on
            log = buglog.record(journal().directory, exc, f"{step} of {outcome.image}")
            self._fail(outcome, buglog.sentence(name, exc, log), made | (_ids_now() - before))

    def _fail(self, outcome: Outcome, message: str, ids: set) -> None:
        outcome.error, outcome.error_kind, outcome.exports = message, POST_PROCESS, []
        _remove(ids)


# The datablocks a model brought, by collection of bpy.data, so a failed model can leave no trace.
_KINDS = ("objects", "meshes", "materials", "images", "collections")


def _ids_now() -> set:
    return {(kind, id_.name) for kind in _KINDS for id_ in getattr(bpy.data, kind)}


def _model_ids(objects: list, collection) -> set:
    ids = {("collections", collection.name)} if collection is not None else set()
    for obj in objects:
        ids.add(("objects", obj.name))
        if obj.type == "MESH" and obj.data is not None:
            ids.add(("meshes", obj.data.name))
        for slot in obj.material_slots:
            mat = slot.material
            if mat is None:
                continue
            ids.add(("materials", mat.name))
            for node in mat.node_tree.nodes if mat.node_tree else []:
                if getattr(node, "image", None) is not None:
                    ids.add(("images", node.image.name))
    return ids


def _model_objects(collection, fallback: list) -> list:
    """The model's objects after the post-script (which may add or remove some)."""
    try:
        return list(collection.all_objects) if collection is not None else [o for o in fallback if o.name]
    except ReferenceError:  # the script removed the collection itself
        return []


def _remove(ids: set) -> None:
    """Remove these datablocks: objects and collections at once, data only once nothing else uses it."""
    for kind in _KINDS:
        if kind in ("meshes", "materials", "images"):
            continue
        store = getattr(bpy.data, kind)
        for k, name in ids:
            if k == kind and name in store:
                store.remove(store[name])
    for kind in ("meshes", "materials", "images"):
        store = getattr(bpy.data, kind)
        for k, name in ids:
            if k == kind and name in store and store[name].users == 0:
                store.remove(store[name])
