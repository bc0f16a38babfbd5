"""The rendered picture of an imported model: Blender's own preview renderer
draws the largest mesh, the job's row shows it, and it is kept beside the GLB
where a later session finds it. In a window the render runs in Blender's
preview job and the window test shows the picture in the job list; PyPI bpy
renders at once, which lets the queue run here for real."""

from __future__ import annotations

import os

import bpy
import pytest
from test_ui_jobs import addon  # noqa: F401  (fixture)

from tripo_addon.blender.ui import thumbnails as previews, model_preview as result_preview
from tripo_addon.blender.engine.manager import manager
from tripo_addon.core import preview_png
from tripo_addon.core.jobs import Job, State


def _imported_job(tmp_path, objects) -> Job:
    glb = tmp_path / "robot_ab12.glb"
    glb.write_bytes(b"glTF")  # only its name matters here: the picture goes beside it
    job = Job(source=str(tmp_path / "robot.png"), params={}, content_hash="c" * 64,
              state=State.IMPORTED, glb_path=str(glb), objects=[o.name for o in objects])
    manager.jobs[job.id] = job
    return job


def _run_queue(limit: int = 400) -> None:
    for _ in range(limit):
        if result_preview._advance() is None:
            return
    raise AssertionError("the preview queue never ended")


@pytest.fixture
def scene(addon, blender):  # noqa: F811
    manager.jobs.clear()
    yield
    manager.jobs.clear()


def test_the_largest_mesh_is_rendered_shown_and_kept(scene, tmp_path):
    bpy.ops.object.empty_add()
    parent = bpy.context.active_object
    bpy.ops.mesh.primitive_cube_add(size=0.1, location=(0, 0, 0))
    small = bpy.context.active_object
    bpy.ops.mesh.primitive_monkey_add()
    monkey = bpy.context.active_object
    monkey.parent = small.parent = parent
    job = _imported_job(tmp_path, [parent, small, monkey])
    assert result_preview._largest_mesh(job) == monkey

    result_preview._queue.append(job.id)
    _run_queue()
    assert previews.job_icon_sources[job.id] == "result"
    # The row's own copy of the picture (icon ids exist only with a window: the window test draws it).
    row_copy = previews._previews[f"result:{job.id}"]
    assert row_copy.image_pixels_float[:] == monkey.preview.image_pixels_float[:]
    assert tuple(row_copy.icon_size) == (32, 32)  # the row draws the small icon: it must be filled too
    assert preview_png.has_content(row_copy.icon_pixels_float[:])

    kept = preview_png.path_for(job.glb_path)
    picture = bpy.data.images.load(kept)
    try:
        want = monkey.preview.image_pixels_float[:]
        got = picture.pixels[:]
        assert tuple(picture.size) == tuple(monkey.preview.image_size)
        assert max(abs(a - b) for a, b in zip(want, got, strict=True)) <= 1 / 255 + 1e-6
        drawn = sum(1 for a in got[3::4] if a > 0)
        assert 0.1 < drawn / (len(got) // 4) < 0.95  # the monkey, on a transparent ground
    finally:
        bpy.data.images.remove(picture)


def test_a_model_removed_before_its_render_is_skipped(scene, tmp_path):
    bpy.ops.mesh.primitive_monkey_add()
    monkey = bpy.context.active_object
    job = _imported_job(tmp_path, [monkey])
    bpy.data.objects.remove(monkey)
    result_preview._queue.append(job.id)
    _run_queue()
    assert previews.job_icon_sources.get(job.id) != "result"
    assert not os.path.exists(preview_png.path_for(job.glb_path))


def test_background_blender_queues_nothing(scene, tmp_path):
    bpy.ops.mesh.primitive_monkey_add()
    job = _imported_job(tmp_path, [bpy.context.active_object])
    assert bpy.app.background and result_preview.on_imported in manager.imported_hooks
    result_preview.on_imported(job)
    assert not result_preview._queue and not bpy.app.timers.is_registered(result_preview._step)
