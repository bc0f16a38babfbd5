"""Decoding apart, end to end: a file Blender must decode goes to the job's worker and the decoder
child, never through this Blender's reader; a crash, a hang or a memory blow-up there fails that
picture alone with one sentence, and the batch runs to the end. What the simulator received is
checked against Pillow's decode of the source (issue 19, items 1 and 3)."""

from __future__ import annotations

import io
import json
import os
import shutil

import bpy
import pytest
from helpers import SIM_KEY, fast_retry, make_image
from PIL import Image, ImageOps
from test_cli import cli_env, run_cli  # noqa: F401  (cli_env is a fixture)
from test_extension_zip import built_zip  # noqa: F401  (a fixture)

from tripo_addon.blender import settings as settings_mod
from tripo_addon.blender.engine.batch import generate_blocking
from tripo_addon.blender.exp import decoding
from tripo_addon.blender.exp.image_source import picture_request, prepare_datablock
from tripo_addon.core.images import sniff

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CRASHERS = os.path.join(REPO, "tests", "data", "crashers")
STOPPED = "Blender's reader stopped on {}; convert it to PNG and try again."


@pytest.fixture
def env(blender, sim, monkeypatch):
    monkeypatch.setenv("PIXAZO_API_KEY", SIM_KEY)
    monkeypatch.setenv("PIXAZO_BASE_URL", sim.url)
    return sim


def _settings() -> settings_mod.Settings:
    s = settings_mod.current()
    s.poll_interval = 0.05
    return s


def _picture(size=(96, 64)) -> Image.Image:
    im = Image.new("RGB", size, (200, 80, 40))
    im.paste((250, 250, 10), (0, 0, 20, 12))  # a corner block: any turn or flip shows
    for x in range(size[0]):  # a gradient row: every value must arrive exactly
        im.putpixel((x, 30), (x * 2 % 256, 250 - x % 200, (x * 11) % 256))
    return im


def _padding_bmp(path, im: Image.Image) -> None:
    """A 32-bit BI_RGB BMP whose fourth byte is 0 (padding, as many Windows tools write it)."""
    import struct

    w, h = im.size
    px = b"".join(bytes((b, g, r, 0)) for y in reversed(range(h)) for r, g, b in
                  (im.getpixel((x, y)) for x in range(w)))
    path.write_bytes(struct.pack("<2sIHHI", b"BM", 54 + len(px), 0, 0, 54)
                     + struct.pack("<IiiHHIIiiII", 40, w, h, 1, 32, 0, len(px), 2835, 2835, 0, 0) + px)


def _sent(sim, request_id: str) -> Image.Image:
    import base64

    url = sim._jobs[request_id].image_url  # the data: URI the gateway received (sent inline)
    head, _, payload = url.partition(",")
    assert head in ("data:image/png;base64", "data:image/jpeg;base64"), head
    data = base64.b64decode(payload)
    sent = Image.open(io.BytesIO(data))
    assert sent.format in ("PNG", "JPEG") and not sent.getexif() and "exif" not in sent.info
    return sent


def _decoder_children(marker: str) -> list[int]:
    """Decoder children still running whose environment holds ``marker``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"decoder_child.py" not in f.read():
                    continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


@pytest.mark.matrix
def test_from_file_a_tiff_is_read_by_the_worker_apart_and_sent_upright(env, tmp_path):
    path = tmp_path / "turned.tif"
    _picture().save(path, format="TIFF", tiffinfo={274: 6})
    before = set(bpy.data.images.keys())
    label, prepared, _note = picture_request(str(path))
    assert label == str(path) and prepared is None  # the main thread only looked it up
    out = generate_blocking(str(path), settings=_settings(), retry=fast_retry())
    assert out.ok, out.error
    assert not any(name.startswith("turned") for name in set(bpy.data.images.keys()) - before)
    sent = _sent(env, out.job.request_id)
    upright = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    assert sent.size == upright.size == (64, 96)
    assert sent.convert("RGB").tobytes() == upright.tobytes()  # 8-bit: exactly the source's colours
    assert decoding.shared().pid is None  # the batch's end ended the child


@pytest.mark.matrix
def test_an_open_dds_image_is_read_in_this_blender(blender, tmp_path):
    # An image the artist already opened stays in process; a DDS one once failed there ("enum '' not found").
    path = tmp_path / "texture.dds"
    Image.new("RGBA", (64, 32), (200, 30, 30, 255)).save(path)
    image = bpy.data.images.load(str(path))
    try:
        prepared, _note = prepare_datablock(image)
        assert sniff(prepared.data).format in ("PNG", "JPEG") and (prepared.info.width, prepared.info.height) == (64, 32)
        assert image.filepath == str(path)  # the artist's image is as it was
    finally:
        bpy.data.images.remove(image)


@pytest.mark.slow
def test_a_batch_with_files_that_crash_or_hang_the_reader_runs_to_the_end(sim, cli_env, tmp_path):  # noqa: F811
    folder = tmp_path / "in"
    folder.mkdir()
    for crasher in ("00r1_graya_la.jp2", "tiff_tiled_cmyk_jpeg.tif"):
        shutil.copy(os.path.join(CRASHERS, crasher), folder / crasher)
    _picture().save(folder / "a_turned.tif", format="TIFF", tiffinfo={274: 8})
    _padding_bmp(folder / "b_padding.bmp", _picture())
    _picture().save(folder / "c_hangs.tif", format="TIFF")
    _picture().save(folder / "d_fine.tif", format="TIFF")
    (folder / "e_plain.png").write_bytes(make_image("PNG", size=(50, 40), color=(10, 200, 30)))
    report = tmp_path / "r.json"
    marker = f"TRIPO_TEST_RUN={tmp_path.name}"
    env = {**cli_env, "TRIPO3D_DECODE_SECONDS": "8", "TRIPO3D_DECODE_MEMORY_MB": "1024",
           "TRIPO_DECODER_TEST_FAULT": "hang:c_hangs", "TRIPO_TEST_RUN": tmp_path.name}
    proc = run_cli(["--online-mode", "--jobs", "3", "--poll-interval", "1", str(folder), "--report", str(report)],
                   env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in out, out[-4000:]
    jobs = {os.path.basename(j["image"]): j for j in json.loads(report.read_text())["jobs"]}
    assert sorted(jobs) == sorted(os.listdir(folder))  # one entry per input
    assert jobs["c_hangs.tif"]["error"] == STOPPED.format("c_hangs.tif")
    for crasher in ("00r1_graya_la.jp2", "tiff_tiled_cmyk_jpeg.tif"):
        # Blender 4.5 crashes on both; another version may read them, or read one wrong (refused, never sent).
        error = jobs[crasher]["error"]
        assert jobs[crasher]["status"] == "COMPLETED" or error == STOPPED.format(crasher) or error.startswith(
            f"{crasher} cannot be read: Blender could not decode this"), jobs[crasher]
        if jobs[crasher]["error"]:
            assert jobs[crasher]["error"] in out  # said on its own line too
    for name in ("a_turned.tif", "b_padding.bmp", "d_fine.tif", "e_plain.png"):
        assert jobs[name]["status"] == "COMPLETED", jobs[name]
    source = _picture()
    turned = _sent(sim, jobs["a_turned.tif"]["request_id"])
    assert turned.convert("RGB").tobytes() == source.transpose(Image.Transpose.ROTATE_90).tobytes()
    padded = _sent(sim, jobs["b_padding.bmp"]["request_id"])
    assert padded.mode == "RGB" or padded.getchannel("A").getextrema() == (255, 255)  # padding is never alpha
    assert padded.convert("RGB").tobytes() == source.tobytes()
    assert _decoder_children(marker) == []  # no child outlives the batch


@pytest.mark.slow
def test_a_memory_blow_up_in_the_reader_fails_that_picture_alone(sim, cli_env, tmp_path):  # noqa: F811
    folder = tmp_path / "in"
    folder.mkdir()
    _picture().save(folder / "a_hog.tif", format="TIFF")
    _picture().save(folder / "b_fine.tif", format="TIFF")
    report = tmp_path / "r.json"
    env = {**cli_env, "TRIPO3D_DECODE_MEMORY_MB": "512", "TRIPO_DECODER_TEST_FAULT": "memory:a_hog"}
    proc = run_cli(["--online-mode", "--jobs", "1", "--poll-interval", "1", str(folder), "--report", str(report)],
                   env)
    assert proc.returncode == 1, (proc.stdout + proc.stderr)[-3000:]
    jobs = {os.path.basename(j["image"]): j for j in json.loads(report.read_text())["jobs"]}
    assert jobs["a_hog.tif"]["error"] == STOPPED.format("a_hog.tif")
    assert jobs["b_fine.tif"]["status"] == "COMPLETED"


@pytest.mark.matrix
def test_the_generate_button_on_a_tiff_uses_the_decoder_which_ends_with_the_addon(env, tmp_path):
    import tripo_addon
    from tripo_addon import api
    from tripo_addon.blender.engine.manager import manager
    from tripo_addon.core.jobs import State

    path = tmp_path / "button.tif"
    _picture().save(path, format="TIFF")
    tripo_addon.register()
    try:
        manager.jobs.clear()
        assert bpy.ops.tripo3d.generate(source=str(path)) == {"FINISHED"}  # returns at once
        (job,) = manager.jobs.values()
        done = api.wait(job.id, timeout=60)
        assert done.state == State.IMPORTED, done.error
        assert _sent(env, done.request_id).convert("RGB").tobytes() == _picture().tobytes()
        pid = decoding.shared().pid
        assert pid is not None  # the child lives on for the next picture while the add-on is enabled
    finally:
        tripo_addon.unregister()
    assert decoding.shared().pid is None and _decoder_children(f"BLENDER_USER_RESOURCES={os.environ['BLENDER_USER_RESOURCES']}") == []


@pytest.mark.slow
def test_the_installed_extension_decodes_apart_too(built_zip, sim, tmp_path):  # noqa: F811
    # The child loads the add-on's core from the installed extension's folder, under a private name.
    from test_extension_zip import _generate_run

    path = tmp_path / "installed.tif"
    _picture().save(path, format="TIFF", tiffinfo={274: 3})
    got = _generate_run(built_zip, str(path), sim, tmp_path / "user")
    assert got["state"].lower().endswith("imported"), got
    (sim_job,) = sim._jobs.values()
    assert _sent(sim, sim_job.request_id).convert("RGB").tobytes() == _picture().rotate(180).tobytes()


@pytest.mark.matrix
def test_the_sidebar_never_makes_a_thumbnail_with_a_reader_that_may_crash(blender, tmp_path):
    import tripo_addon
    from tripo_addon.blender.ui import thumbnails

    png = tmp_path / "fine.png"
    png.write_bytes(make_image("PNG"))
    tripo_addon.register()
    try:
        for crasher in ("00r1_graya_la.jp2", "tiff_tiled_cmyk_jpeg.tif"):
            # Blender 4.5 would die here making its thumbnail (this test's process with it).
            assert thumbnails._file_icon(os.path.join(CRASHERS, crasher)) == 0
        assert thumbnails._safe_to_preview(str(png))
    finally:
        tripo_addon.unregister()
