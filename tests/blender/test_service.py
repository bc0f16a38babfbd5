"""One image all the way into the scene, and every way that can fail, in real Blender."""

from __future__ import annotations

import os

import bpy
import pytest
from bhelpers import scene_fingerprint
from helpers import SIM_KEY, fast_retry

from tripo_addon.blender import settings as settings_mod
from tripo_addon.blender.engine.batch import generate_blocking
from tripo_addon.blender.user_data import journal
from tripo_addon.core.jobs import State


@pytest.fixture
def env(blender, sim, monkeypatch):
    monkeypatch.setenv("PIXAZO_API_KEY", SIM_KEY)
    monkeypatch.setenv("PIXAZO_BASE_URL", sim.url)
    return sim


def settings(**overrides) -> settings_mod.Settings:
    s = settings_mod.current()
    s.poll_interval = 0.05
    for k, v in overrides.items():
        setattr(s, k, v)
    return s


def files_containing(root, needle: str) -> list[str]:
    hits = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                if needle.encode() in f.read():
                    hits.append(path)
    return hits


@pytest.mark.matrix
def test_image_becomes_imported_model_with_provenance(env, image_files, user_res):
    out = generate_blocking(image_files["png"], settings=settings(), retry=fast_retry())
    assert out.ok, out.error
    job = out.job
    assert job.state == State.IMPORTED and job.request_id.startswith("tripo3d-v2-5-413_")
    top = bpy.context.view_layer.objects.active
    assert top["tripo3d_request_id"] == job.request_id
    # Only names travel in the .blend, not where the files sit on this computer.
    assert top["tripo3d_source"] == os.path.basename(image_files["png"])
    assert top["tripo3d_glb"] == os.path.basename(job.glb_path)
    assert top["tripo3d_texture"] == "standard"
    assert bpy.data.collections.get("picture_png") is not None
    assert journal().load(job.id).state == State.IMPORTED
    assert env.stats()["submits"] == 1
    # The key is nowhere on disk: not in the journal, not in the downloads.
    assert files_containing(user_res, SIM_KEY) == []
    # ...and not in the scene.
    assert SIM_KEY not in repr({k: top[k] for k in top.keys()})


def test_same_image_again_costs_nothing_and_force_pays_again(env, image_files):
    first = generate_blocking(image_files["jpg"], settings=settings(), retry=fast_retry())
    again = generate_blocking(image_files["jpg"], settings=settings(), retry=fast_retry())
    assert first.ok and again.ok
    assert again.job.id == first.job.id
    assert any("generated before" in n for n in again.notes)
    assert env.stats()["submits"] == 1
    other_options = generate_blocking(image_files["jpg"], {"texture": "HD"}, settings=settings(), retry=fast_retry())
    assert other_options.ok and env.stats()["submits"] == 2
    forced = generate_blocking(image_files["jpg"], settings=settings(), retry=fast_retry(), force=True)
    assert forced.ok and forced.job.id != first.job.id
    assert env.stats()["submits"] == 3


FAILURES = {
    # name: (how to provoke, words the message must contain, final state)
    "bad_key": (lambda m, s: m.setenv("PIXAZO_API_KEY", "wrong-key"), "rejected the API key", State.REJECTED),
    "forbidden": (lambda m, s: m.setenv("PIXAZO_API_KEY", "sim-forbidden"), "refused access", State.REJECTED),
    "no_balance": (lambda m, s: m.setenv("PIXAZO_API_KEY", "sim-broke"), "enough balance", State.REJECTED),
    "failed": (lambda m, s: s.configure(outcome="FAILED", outcome_error="no object found"),
               "no object found", State.FAILED),
    "error": (lambda m, s: s.configure(outcome="ERROR", outcome_error="GPU node lost"), "not charged", State.ERROR),
    "not_glb": (lambda m, s: s.configure(output_mode="not_glb"), "not a GLB", State.DOWNLOAD_FAILED),
    "empty": (lambda m, s: s.configure(output_mode="empty"), "no files", State.DOWNLOAD_FAILED),
    "http_media": (lambda m, s: s.configure(output_mode="http_media"), "plain http", State.DOWNLOAD_FAILED),
    "redirect_http": (lambda m, s: s.configure(output_mode="redirect_http"), "plain http", State.DOWNLOAD_FAILED),
    "oversize": (lambda m, s: s.configure(output_mode="oversize"), "download limit", State.DOWNLOAD_FAILED),
    "submit_uncertain": (lambda m, s: s.configure(faults={"submit": ["drop_after_queue"]}),
                         "may have been submitted", State.SUBMIT_UNKNOWN),
    "rate_limited": (lambda m, s: s.configure(faults={"submit": ["429"] * 8}), "limiting requests", State.REJECTED),
    "network_down": (lambda m, s: m.setenv("PIXAZO_BASE_URL", "http://127.0.0.1:9"), "Could not connect",
                     State.REJECTED),
    "lost_contact": (lambda m, s: s.configure(faults={"status": ["503"] * 30}), "can be resumed later",
                     State.INTERRUPTED),
}


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_each_failure_is_one_clear_sentence_and_scene_unchanged(env, image_files, monkeypatch, name):
    provoke, words, state = FAILURES[name]
    provoke(monkeypatch, env)
    before = scene_fingerprint()
    out = generate_blocking(image_files["png"], settings=settings(max_download_mb=2), retry=fast_retry())
    assert not out.ok
    assert words in out.error
    assert "Traceback" not in out.error and len(out.error.splitlines()) == 1
    assert out.job.state == state
    assert scene_fingerprint() == before
    report = out.to_report()
    assert report["status"] == state.upper() and report["objects"] == []


@pytest.mark.parametrize("which, words", [("bad", "not a PNG, JPEG or WebP"), ("missing", "does not exist")])
def test_bad_image_is_refused_before_any_request(env, image_files, which, words):
    source = image_files["bad"] if which == "bad" else "/nowhere/missing.png"
    out = generate_blocking(source, settings=settings(), retry=fast_retry())
    assert not out.ok and words in out.error and out.job is None
    assert env.stats()["submit_attempts"] == 0


def test_bad_request_carries_the_servers_words(env):
    # The gateway cannot fetch this image address and says so with a 400.
    out = generate_blocking("http://127.0.0.1:9/missing.png", settings=settings(), retry=fast_retry())
    assert not out.ok and out.job.state == State.REJECTED
    assert "refused the request as invalid" in out.error and "could not be read" in out.error
    assert env.stats()["submits"] == 0


def test_offline_mode_sends_nothing(env, image_files):
    bpy.context.preferences.system.use_online_access = False
    out = generate_blocking(image_files["png"], settings=settings(), retry=fast_retry())
    assert not out.ok and "Online access is off" in out.error
    assert env.stats()["submit_attempts"] == 0


def test_no_key_sends_nothing(env, image_files, monkeypatch):
    monkeypatch.delenv("PIXAZO_API_KEY")
    out = generate_blocking(image_files["png"], settings=settings(), retry=fast_retry())
    assert not out.ok and "No Pixazo API key" in out.error
    assert env.stats()["submit_attempts"] == 0


@pytest.mark.matrix
def test_glb_the_importer_rejects_leaves_scene_unchanged(env, image_files):
    first = generate_blocking(image_files["webp"], settings=settings(), retry=fast_retry())
    assert first.ok
    # Damage the downloaded model's JSON but keep a valid header and length.
    data = bytearray(open(first.job.glb_path, "rb").read())
    start = 20
    data[start:start + 40] = b"{" * 40
    open(first.job.glb_path, "wb").write(bytes(data))
    before = scene_fingerprint()
    again = generate_blocking(image_files["webp"], settings=settings(), retry=fast_retry())
    assert not again.ok and again.job.state == State.IMPORT_FAILED
    assert "importer rejected" in again.error and "Traceback" not in again.error
    assert scene_fingerprint() == before
    assert env.stats()["submits"] == 1


def test_blender_image_sources_datablock_generated_and_packed(env, image_files):
    img = bpy.data.images.new("Painted", 64, 48)
    img.generated_type = "COLOR_GRID"
    out = generate_blocking("Painted", settings=settings(), retry=fast_retry())
    assert out.ok, out.error
    loaded = bpy.data.images.load(image_files["jpg"])
    loaded.pack()
    out2 = generate_blocking(loaded.name, settings=settings(), retry=fast_retry())
    assert out2.ok, out2.error
    assert env.stats()["submits"] == 2


def test_large_image_is_downscaled_and_says_so(env, tmp_path):
    from PIL import Image

    path = tmp_path / "huge.png"
    Image.new("RGB", (5000, 300), (10, 200, 30)).save(path)
    out = generate_blocking(str(path), settings=settings(), retry=fast_retry())
    assert out.ok, out.error
    assert any("downscaled from 5000x300 to 4096x246" in n for n in out.notes)
    job = env.jobs()[0]
    assert job["image_bytes_len"] > 0


@pytest.mark.parametrize("key, level, words", [
    (SIM_KEY, "INFO", "key was accepted"),
    ("wrong-key", "ERROR", "rejected the API key"),
])
def test_test_connection_checks_key_and_address_for_free(env, key, level, words):
    s = settings(api_key=key)
    got = settings_mod.check_connection(s.client())
    assert got[0] == level and words in got[1]
    assert env.stats()["submit_attempts"] == 0


def test_test_connection_says_when_the_gateway_is_unreachable(env):
    got = settings_mod.check_connection(settings(base_url="http://127.0.0.1:9").client())
    assert got[0] == "ERROR" and "Could not connect" in got[1]


def test_download_folder_setting_is_used(env, image_files, tmp_path):
    folder = tmp_path / "my-models"
    out = generate_blocking(image_files["png"], settings=settings(download_dir=str(folder)), retry=fast_retry())
    assert out.ok and os.path.dirname(out.job.glb_path) == str(folder)


def test_a_submit_cut_off_in_an_earlier_run_is_reported_as_maybe_charged_and_not_sent(env, image_files):
    """The record says "submitting" (the run was killed before the answer came):
    the batch reports it as maybe charged, under its own state, and sends nothing."""
    from tripo_addon.core.images import prepare
    from tripo_addon.core.jobs import DEFAULT_PARAMS, Job

    prepared = prepare(image_files["png"])
    journal().save(Job(source=prepared.source, params=dict(DEFAULT_PARAMS), content_hash=prepared.content_hash,
                       state=State.SUBMITTING))
    out = generate_blocking(image_files["png"], settings=settings(), retry=fast_retry())
    report = out.to_report()
    assert report["status"] == "SUBMIT_UNKNOWN", report
    assert "may have been submitted and charged" in report["error"]
    assert env.stats()["submit_attempts"] == 0
