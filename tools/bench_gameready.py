"""P8 of scripts/bench.py, game-ready post-processing: the batch's post-process step on a
Tripo-like model against Blender's own operators called bare on the same model.

    python -m tools.bench_gameready GLB RUNS    # prints "BENCHJSON {...}"

Each round imports the GLB into a fresh empty scene twice (not timed) and times,
in rotating order, the add-on's step (:class:`PostProcess` with ``--faces 5000
--texture-size 1024 --export-format fbx``: decimate, scale the textures down,
write the FBX with its textures) and the same work done bare: a Decimate
modifier applied with ``object.modifier_apply``, ``Image.scale`` and ``pack``,
``export_scene.fbx`` of the selection with its textures embedded.
"""
from __future__ import annotations

import gc
import os
import statistics
import sys
import tempfile
import time

from tools.bench_child import _emit, run_child

FACES, TEXTURE = 5000, 1024


def _fresh_model(glb: str) -> list:
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.import_scene.gltf(filepath=glb)
    return list(bpy.context.selected_objects)


def _triangles(meshes) -> int:
    return sum(len(p.vertices) - 2 for o in meshes for p in o.data.polygons)


def child(glb: str, runs: int) -> None:
    import bpy

    from tripo_addon.blender.engine.batch import Outcome
    from tripo_addon.blender.engine.post_process import PostProcess
    from tripo_addon.core.gameready import GameReadyOptions
    from tripo_addon.core.jobs import DEFAULT_PARAMS, Job, State

    work = tempfile.mkdtemp(prefix="bench-p8-")
    step = PostProcess(GameReadyOptions(faces=FACES, texture_size=TEXTURE, export_dir=os.path.join(work, "ours"),
                                        export_format="fbx"))
    written: dict = {}

    def ours(objects, i: int) -> None:
        job = Job(source=f"/in/model_{i}.png", params=dict(DEFAULT_PARAMS), content_hash="bench", state=State.IMPORTED,
                  objects=[o.name for o in objects])
        outcome = Outcome(image=job.source, job=job)
        step(outcome)
        if not outcome.ok:
            raise RuntimeError(outcome.error)
        written["ours"] = outcome.exports[0]

    def bare(objects, i: int) -> None:
        meshes = [o for o in objects if o.type == "MESH"]
        ratio = FACES / _triangles(meshes)
        for obj in meshes:
            mod = obj.modifiers.new("Decimate", "DECIMATE")
            mod.ratio, mod.use_collapse_triangulate = ratio, True
            bpy.context.view_layer.objects.active = obj
            bpy.ops.object.modifier_apply(modifier=mod.name)
        for image in bpy.data.images:
            if max(image.size) > TEXTURE:
                image.scale(TEXTURE, TEXTURE)
                image.pack()
        for obj in objects:
            obj.select_set(True)
        path = os.path.join(work, "bare", f"model_{i}.fbx")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        bpy.ops.export_scene.fbx(filepath=path, use_selection=True, use_mesh_modifiers=True,
                                 object_types={"EMPTY", "MESH"}, path_mode="COPY", embed_textures=True)
        written["bare"] = path

    def timed(fn, i: int) -> float:
        objects = _fresh_model(glb)
        gc.collect()
        t = time.perf_counter()
        fn(objects, i)
        took = time.perf_counter() - t
        if fn is ours:  # what was written, checked on the last round's scene
            meshes = [o for o in bpy.data.objects if o.type == "MESH"]
            written["triangles"] = _triangles(meshes)
            written["images"] = [list(im.size) for im in bpy.data.images if im.type == "IMAGE"]
        return took

    variants = {"ours": ours, "bare": bare}
    for fn in variants.values():  # warm-up: importers, exporters, caches
        timed(fn, 0)
    times: dict = {k: [] for k in variants}
    names = list(variants)
    for i in range(runs):
        for name in names[i % 2:] + names[:i % 2]:
            times[name].append(timed(variants[name], i + 1))
    sizes = {k: os.path.getsize(written[k]) for k in ("ours", "bare")}
    _emit({"times": times, "triangles": written["triangles"], "images": written["images"], "bytes": sizes})


def p8(glb: str, runs: int, env: dict) -> list[dict]:
    """The row: the medians, and the median of the rounds' paired ratios (as P5)."""
    r = run_child_p8(glb, runs, env)
    bare_times, ours_times = r["times"]["bare"], r["times"]["ours"]
    ratio = statistics.median([o / b for o, b in zip(ours_times, bare_times, strict=True)])
    return [{"row": "P8", "what": f"game-ready post-processing per model: 50,000 -> {FACES} triangles, textures "
             f"4096 -> {TEXTURE}, exported as FBX, vs the bare operators on the same model (s, medians of {runs} "
             f"rounds; ratio = median of per-round ratios; wrote {r['triangles']} tris, textures {r['images']}, "
             f"{r['bytes']['ours'] / 2**20:.1f} MB vs {r['bytes']['bare'] / 2**20:.1f} MB)",
             "value": statistics.median(ours_times), "base": statistics.median(bare_times), "ratio": ratio,
             "unit": "s", "target": "<= 1.10x", "ok": ratio <= 1.10}]


def run_child_p8(glb: str, runs: int, env: dict) -> dict:
    return run_child(["p8", glb, str(runs)], env=env, module="tools.bench_gameready")


if __name__ == "__main__":
    if sys.argv[1] != "p8":
        sys.exit(f"unknown child {sys.argv[1]}")
    child(sys.argv[2], int(sys.argv[3]))
    # The figures are out; a bare bpy process that imported the job engine can stall in
    # Blender's own exit (after Python's finalisation), so this child ends itself.
    sys.stdout.flush()
    os._exit(0)
