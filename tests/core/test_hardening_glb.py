"""Issue 9, class 13: a GLB whose buffers or images point at files outside it
(a ``uri`` that is not a ``data:`` URI) is refused before import, in one
sentence; the download is not kept and the job is not retried."""

from __future__ import annotations

import base64
import os

import pytest
from hardening_servers import make_glb

from tripo_addon.core import errors as E
from tripo_addon.core.glb import check_glb_file, external_references
from tripo_addon.core.jobs import Job, State
from tripo_addon.core.engine.runner import RunSettings, advance

DATA_URI = "data:application/octet-stream;base64," + base64.b64encode(b"\0" * 12).decode()


def doc_with(**parts) -> dict:
    doc = {"asset": {"version": "2.0"}, "scenes": [{"nodes": []}], "scene": 0}
    doc.update(parts)
    return doc


UNSAFE = {
    "relative_buffer": doc_with(buffers=[{"byteLength": 12, "uri": "model.bin"}]),
    "escaping_image": doc_with(images=[{"uri": "../../../../home/user/.ssh/id_rsa.png"}]),
    "absolute_image": doc_with(images=[{"uri": "/etc/passwd"}]),
    "file_url": doc_with(buffers=[{"byteLength": 4, "uri": "file:///etc/shadow"}]),
    "windows_path": doc_with(images=[{"uri": "C:\\Users\\me\\Documents\\secret.png"}]),
    "http_buffer": doc_with(buffers=[{"byteLength": 4, "uri": "https://tracker.example/b.bin"}]),
    "second_image": doc_with(images=[{"uri": "data:image/png;base64,AAAA"}, {"uri": "textures/albedo.png"}]),
    "in_an_extension": doc_with(extensions={"KHR_audio": {"sources": [{"uri": "sound.mp3"}]}}),
}
SAFE = {
    "bin_chunk_only": doc_with(buffers=[{"byteLength": 12}]),
    "data_uris": doc_with(buffers=[{"byteLength": 12, "uri": DATA_URI}],
                          images=[{"uri": "data:image/png;base64,AAAA"}]),
    "image_in_buffer_view": doc_with(images=[{"bufferView": 0, "mimeType": "image/png"}]),
    "extras_are_user_data": doc_with(extras={"uri": "notes.txt"}),
}


def write(tmp_path, name: str, data: bytes) -> str:
    path = tmp_path / f"{name}.glb"
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_external_reference_is_found(tmp_path, case):
    path = write(tmp_path, case, make_glb(UNSAFE[case], b"\0" * 12))
    assert check_glb_file(path) is None  # a whole, valid GLB: only the new check stops it
    reason = external_references(path)
    assert reason and "outside itself" in reason


@pytest.mark.parametrize("case", sorted(SAFE))
def test_self_contained_glb_passes(tmp_path, case):
    assert external_references(write(tmp_path, case, make_glb(SAFE[case], b"\0" * 12))) is None


def test_unparsable_or_odd_files_are_left_to_the_other_checks(tmp_path):
    assert external_references(write(tmp_path, "text", b"hello, not a model at all")) is None
    broken = make_glb(doc_with())[:20] + b"{ not json"
    assert external_references(write(tmp_path, "broken", broken)) is None
    deep = b"glTF" + b"\2\0\0\0" + b"\0\0\0\0"
    nested = b"[" * 100_000 + b"]" * 100_000
    deep += len(nested).to_bytes(4, "little") + b"JSON" + nested
    assert external_references(write(tmp_path, "deep", deep)) in (None, "its description is nested too deeply "
                                                                        "to be checked")


def test_download_of_unsafe_glb_is_refused_and_not_kept(sim, client, tmp_path, parts):
    data = make_glb(UNSAFE["escaping_image"], b"\0" * 12)
    url = sim.add_asset("out/model.glb", data, "model/gltf-binary")
    dest = str(tmp_path / "model.glb")
    with pytest.raises(E.UnsafeGlb) as info:
        client.download([url], dest)
    exc = info.value
    assert isinstance(exc, E.NotAGlb) and exc.kind == "glb_external_refs" and not exc.retryable
    assert "outside itself" in exc.message and "images[0]" in exc.message
    assert len(exc.message.splitlines()) == 1
    assert not os.path.exists(dest) and parts(tmp_path) == []
    assert sim.stats()["asset_requests"] == 1  # refused, not retried


def test_job_with_unsafe_model_ends_download_failed(sim, client, journal, tmp_path):
    url = sim.add_asset("out/model.glb", make_glb(UNSAFE["relative_buffer"], b"\0" * 12), "model/gltf-binary")
    job = Job(source="chair.png", params={}, content_hash="c" * 64)
    job.request_id, job.state, job.media_urls = "tripo3d-v2-5-413_x", State.COMPLETED, [url]
    journal.save(job)
    advance(job, client, journal, settings=RunSettings(poll_interval=0.02, downloads_dir=str(tmp_path)))
    assert job.state == State.DOWNLOAD_FAILED  # final: downloading it again would give the same file
    assert job.error_kind == "glb_external_refs" and "outside itself" in job.error
    assert job.glb_path is None and not [n for n in os.listdir(tmp_path) if n.endswith(".glb")]
