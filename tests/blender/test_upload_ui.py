"""The sidebar's path for local images through the user's bucket, inside real
Blender: the panel says how the image travels, the job shows its upload,
and the bucket is empty once the model is in."""

from __future__ import annotations

import uuid

import bpy
import pytest
from test_ui_jobs import addon, ui  # noqa: F401  (fixtures)

from tripo_addon import api
from tripo_addon.blender import settings as settings_mod
from tripo_addon.blender.engine.manager import manager
from tripo_addon.blender.ui.panels import travel_label
from tripo_addon.core.jobs import State


@pytest.fixture
def bucket(seaweed, monkeypatch):
    name = f"ui-{uuid.uuid4().hex[:16]}"
    seaweed.create_bucket(name)
    for var, value in (("AWS_ENDPOINT_URL_S3", seaweed.endpoint), ("AWS_ACCESS_KEY_ID", seaweed.access_key_id),
                       ("AWS_SECRET_ACCESS_KEY", seaweed.secret_access_key), ("AWS_REGION", seaweed.region),
                       ("TRIPO3D_UPLOAD", "")):
        monkeypatch.setenv(var, value)
    return name


def test_panel_says_how_the_image_travels(ui, bucket, monkeypatch):  # noqa: F811
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    assert travel_label("url", "https://example.com/a.png")[0] == "Sent as its public URL"
    assert travel_label("path", "/tmp/a.png")[0] == "Sent inline (experimental)"


def test_generate_uploads_to_the_bucket_and_cleans_up(ui, bucket, seaweed, image_files, monkeypatch):  # noqa: F811
    # No preferences in module mode: the environment's bucket is the one set.
    monkeypatch.setattr(settings_mod, "storage_preferences",
                        lambda prefs: {"bucket": f"s3://{bucket}/from-panel"})
    assert travel_label("path", image_files["png"]) == (f"Via your bucket s3://{bucket}/from-panel", "EXPORT")
    ui.configure(refuse_inline=True)
    seen = []
    manager.listeners.append(lambda job, event: seen.append(job.state))
    try:
        assert bpy.ops.tripo3d.generate(source=image_files["png"]) == {"FINISHED"}
        (job,) = manager.jobs.values()
        done = api.wait(job.id, timeout=60)
    finally:
        manager.listeners.pop()
    assert done.state == State.IMPORTED, done.error
    assert State.UPLOADING in seen and seen.index(State.UPLOADING) < seen.index(State.QUEUED)
    assert ui.jobs()[0]["image_url"].startswith(f"{seaweed.endpoint}/{bucket}/from-panel/")
    assert done.delivery["deleted"] is True
    assert seaweed.list_keys(bucket) == []


def test_a_bucket_that_cannot_work_is_said_before_any_request(ui, bucket, image_files, monkeypatch):  # noqa: F811
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setattr(settings_mod, "storage_preferences", lambda prefs: {"bucket": f"s3://{bucket}/x"})
    assert travel_label("path", image_files["png"])[1] == "ERROR"
    with pytest.raises(RuntimeError, match="(?i)secret"):
        bpy.ops.tripo3d.generate(source=image_files["png"])
    assert not manager.jobs and ui.stats()["submit_attempts"] == 0


def test_test_storage_without_a_bucket_says_so(ui, monkeypatch):  # noqa: F811
    monkeypatch.delenv("TRIPO3D_UPLOAD", raising=False)
    monkeypatch.setattr(settings_mod, "storage_preferences", lambda prefs: {})
    with pytest.raises(RuntimeError, match="No bucket is set"):
        bpy.ops.tripo3d.test_storage()
