"""The on-disk journal: one JSON file per job, written atomically, no key."""

from __future__ import annotations

import json
import os
import time

import pytest
from helpers import SIM_KEY

from tripo_addon.core.jobs import DEFAULT_PARAMS, Job, State, idempotency_key
from tripo_addon.core.engine.runner import RunSettings, advance


def full_job() -> Job:
    job = Job(source="/photos/chair.png", params={"texture": "HD", "orientation": "align_image"},
              content_hash="ab" * 32, origin="ui", blend_file="/projects/room.blend",
              import_options={"ground": True, "scale": 1.5})
    job.state = State.DOWNLOADED
    job.request_id = "tripo3d-v2-5-413_0123"
    job.polling_url = "https://gateway.pixazo.ai/v2/requests/status/tripo3d-v2-5-413_0123"
    job.server_status = "COMPLETED"
    job.media_urls = ["https://cdn.example/a/output.glb", "https://cdn.example/a/preview.png"]
    job.media_type = "model/glb"
    job.glb_path = "/tmp/x/chair-0123.glb"
    job.objects = ["chair", "chair.001"]
    job.submitted_at = 1.5
    job.completed_seen_at = 2.5
    job.downloaded_at = 3.5
    job.download_bytes = 1234
    job.download_total = 1234
    return job


def files_in(directory) -> list[str]:
    return sorted(os.listdir(directory))


def test_save_load_round_trip(journal):
    job = full_job()
    journal.save(job)
    loaded = journal.load(job.id)
    assert loaded is not None
    assert loaded.to_dict() == job.to_dict()
    assert loaded.key == idempotency_key(job.content_hash, job.params)
    assert files_in(journal.jobs_dir) == [f"{job.id}.json"]


def test_save_overwrites_and_bumps_updated_at(journal):
    job = full_job()
    journal.save(job)
    first = job.updated_at
    time.sleep(0.01)
    job.state = State.IMPORTED
    journal.save(job)
    loaded = journal.load(job.id)
    assert loaded.state == State.IMPORTED and loaded.updated_at > first
    assert files_in(journal.jobs_dir) == [f"{job.id}.json"]


def test_many_saves_leave_no_temp_files(journal):
    jobs = [Job(source=f"img{i}.png", params=dict(DEFAULT_PARAMS), content_hash=f"{i:064x}") for i in range(5)]
    for _ in range(4):
        for job in jobs:
            job.download_bytes += 1
            journal.save(job)
    assert files_in(journal.jobs_dir) == sorted(f"{j.id}.json" for j in jobs)
    assert [j.download_bytes for j in journal.all()] == [4] * 5


def test_failed_write_keeps_the_old_record_and_no_temp(journal):
    job = full_job()
    journal.save(job)
    job.params = {"bad": object()}  # not JSON-serialisable: the write fails
    with pytest.raises(TypeError):
        journal.save(job)
    assert journal.load(job.id).params == {"texture": "HD", "orientation": "align_image"}
    assert files_in(journal.jobs_dir) == [f"{job.id}.json"]


def test_saved_file_is_plain_json(journal):
    job = full_job()
    journal.save(job)
    with open(os.path.join(journal.jobs_dir, f"{job.id}.json"), encoding="utf-8") as f:
        data = json.load(f)
    assert data["request_id"] == job.request_id and data["state"] == State.DOWNLOADED


@pytest.mark.parametrize("content", [
    b"", b"{", b'{"source": "a.png", "params": {}', b"\xff\xfe\x00garbage", b"[]", b"null", b"42",
    b'"a string"', b'{"unexpected": 1}', b'{"source": "a.png"}',
])
def test_corrupt_job_file_is_ignored(journal, content):
    good = full_job()
    journal.save(good)
    with open(os.path.join(journal.jobs_dir, "deadbeef.json"), "wb") as f:
        f.write(content)
    assert journal.load("deadbeef") is None
    assert [j.id for j in journal.all()] == [good.id]
    assert journal.find_by_key(good.key).id == good.id


def test_record_with_odd_created_at_does_not_break_listing(journal):
    good = full_job()
    journal.save(good)
    odd = Job(source="odd.png", params={}, content_hash="c" * 64)
    data = odd.to_dict()
    data["created_at"] = None
    with open(os.path.join(journal.jobs_dir, f"{odd.id}.json"), "w", encoding="utf-8") as f:
        json.dump(data, f)
    assert sorted(j.id for j in journal.all()) == sorted([good.id, odd.id])
    assert journal.find_by_key(good.key).id == good.id


def test_temp_and_foreign_files_are_ignored(journal):
    good = full_job()
    journal.save(good)
    for name in (".job-abc.tmp", ".hidden.json", "notes.txt"):
        with open(os.path.join(journal.jobs_dir, name), "w") as f:
            f.write(json.dumps(good.to_dict()))
    assert [j.id for j in journal.all()] == [good.id]


def test_load_missing(journal):
    assert journal.load("0" * 32) is None


def test_all_sorted_by_creation(journal):
    a = Job(source="a.png", params={}, content_hash="1" * 64, created_at=300.0)
    b = Job(source="b.png", params={}, content_hash="2" * 64, created_at=100.0)
    c = Job(source="c.png", params={}, content_hash="3" * 64, created_at=200.0)
    for j in (a, b, c):
        journal.save(j)
    assert [j.source for j in journal.all()] == ["b.png", "c.png", "a.png"]


def test_find_by_key_returns_newest(journal):
    params = dict(DEFAULT_PARAMS)
    old = Job(source="x.png", params=params, content_hash="f" * 64, created_at=1000.0)
    new = Job(source="x.png", params=params, content_hash="f" * 64, created_at=2000.0)
    other = Job(source="x.png", params={**params, "texture": "HD"}, content_hash="f" * 64, created_at=3000.0)
    assert old.key == new.key != other.key
    for j in (new, other, old):  # save order must not matter
        journal.save(j)
    assert journal.find_by_key(old.key).id == new.id
    assert journal.find_by_key(other.key).id == other.id
    assert journal.find_by_key("0" * 64) is None


def test_remove(journal):
    job = full_job()
    journal.save(job)
    journal.remove(job.id)
    journal.remove(job.id)  # twice is fine
    assert journal.load(job.id) is None and journal.all() == []


def test_job_id_cannot_escape_jobs_folder(journal, tmp_path):
    job = full_job()
    job.id = "../../evil"
    journal.save(job)
    assert os.listdir(tmp_path) == ["journal"]
    assert files_in(journal.jobs_dir) == ["evil.json"]


@pytest.mark.parametrize("source,request_id", [
    ("../../../../etc/passwd", "../../../etc/cron.d/x"),
    ("/abs/dir/../../model.png", "/abs/path"),
    ("https://cdn.example/a/..%2F..%2Fevil.glb?x=/../../", "tripo3d_../../x"),
    ("C:\\Users\\..\\..\\evil.png", "..\\..\\x"),
    ("..", ".."),
    ("/", "/"),
    ("", ""),
])
def test_download_path_stays_inside(journal, source, request_id, tmp_path):
    job = Job(source=source, params={}, content_hash="a" * 64)
    job.request_id = request_id
    job.media_urls = ["https://cdn.example/../../../etc/output.glb"]
    for directory in ("", str(tmp_path / "custom")):
        path = journal.download_path(job, directory)
        root = os.path.realpath(directory or journal.downloads_dir)
        assert os.path.dirname(os.path.realpath(path)) == root
        name = os.path.basename(path)
        assert name.endswith(".glb") and job.id[:8] in name
        assert "/" not in name and "\\" not in name and ".." not in name
        assert "etc" not in name and "output" not in name  # never the server's names


def test_download_path_named_after_source(journal):
    job = Job(source="/photos/My Chair (v2).png", params={}, content_hash="a" * 64)
    name = os.path.basename(journal.download_path(job))
    assert name == f"My_Chair__v2_-{job.id[:8]}.glb"


def test_key_never_in_journal_after_full_job(sim, make_client, journal, prepared, params, tmp_path):
    """Run real jobs (success, failure, rejection) and grep every file the journal holds."""
    client = make_client()
    settings = RunSettings(poll_interval=0.02)
    ok = Job(source=prepared.source, params=params, content_hash=prepared.content_hash)
    journal.save(ok)
    advance(ok, client, journal, image_url=prepared.image_url, settings=settings)
    assert ok.state == State.DOWNLOADED

    sim.configure(outcome="FAILED")
    failed = Job(source=prepared.source, params={**params, "texture": "HD"}, content_hash=prepared.content_hash)
    advance(failed, client, journal, image_url=prepared.image_url, settings=settings)
    assert failed.state == State.FAILED

    wrong = make_client("sim-forbidden")
    rejected = Job(source=prepared.source, params={**params, "texture": "no"}, content_hash=prepared.content_hash)
    advance(rejected, wrong, journal, image_url=prepared.image_url, settings=settings)
    assert rejected.state == State.REJECTED

    seen = 0
    for root, _dirs, names in os.walk(journal.directory):
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                data = f.read()
            seen += 1
            assert SIM_KEY.encode() not in data, name
            assert b"sim-forbidden" not in data, name
            assert b"Ocp-Apim" not in data, name
    # three job files, one model, the index (three keys and its marker), the
    # unfinished markers (the downloaded job's and the set's own) and the
    # uploads set's own marker (no job went through a bucket)
    assert seen == 11


def test_finding_a_job_is_an_index_lookup_not_a_scan(journal, prepared, params, monkeypatch):
    jobs = [Job(source=f"img{i}.png", params=params, content_hash=f"{i:064x}") for i in range(50)]
    for job in jobs:
        journal.save(job)
    monkeypatch.setattr(type(journal), "all", lambda self: pytest.fail("find_by_key scanned the journal"))
    assert journal.find_by_key(jobs[17].key).id == jobs[17].id
    newer = Job(source="img17.png", params=params, content_hash=f"{17:064x}", created_at=jobs[17].created_at + 1)
    journal.save(newer)
    assert journal.find_by_key(jobs[17].key).id == newer.id  # the newest of that image and options
    assert journal.find_by_key("0" * 64) is None


def test_a_journal_from_before_the_index_is_indexed_once(tmp_path, params):
    from tripo_addon.core.journal.store import Journal

    old = Journal(str(tmp_path / "j"))
    job = Job(source="a.png", params=params, content_hash="ab" * 32)
    old.save(job)
    import shutil

    shutil.rmtree(old.index.directory)  # as written by a version without the index
    again = Journal(str(tmp_path / "j"))
    assert again.index.complete and again.find_by_key(job.key).id == job.id


def test_records_of_one_shape_are_checked_by_type_not_only_by_names(journal):
    """Start-up checks a record's shape (field names and value types) once and
    copies records of a known shape whole: a hand-edited value of another type
    under the same names must still be put right, and lists still filtered."""
    good = full_job()
    journal.save(good)
    assert journal.load(good.id).request_id == good.request_id  # the shape is now known
    edited = full_job().to_dict()
    edited.update(request_id=777, objects=["Chair", 3, None])
    with open(os.path.join(journal.jobs_dir, f"{edited['id']}.json"), "w", encoding="utf-8") as f:
        json.dump(edited, f)
    job = journal.load(edited["id"])
    assert job.request_id == "777" and job.objects == ["Chair"]
    same_shape = full_job().to_dict()  # the known shape again: copied whole
    same_shape["objects"] = ["Chair", "Seat"]
    with open(os.path.join(journal.jobs_dir, f"{same_shape['id']}.json"), "w", encoding="utf-8") as f:
        json.dump(same_shape, f)
    assert journal.load(same_shape["id"]).objects == ["Chair", "Seat"]
    odd_item = dict(same_shape, id="b" * 32, objects=["Chair", {"x": 1}])
    with open(os.path.join(journal.jobs_dir, f"{odd_item['id']}.json"), "w", encoding="utf-8") as f:
        json.dump(odd_item, f)
    assert journal.load(odd_item["id"]).objects == ["Chair"]
    assert len(journal.all()) == 4


def test_a_save_without_the_folder_sync_still_writes_the_record_whole(journal, monkeypatch):
    """Only the rename's durability is skipped: the bytes are fsynced before
    the rename, so a crash leaves the old record or the new one, never a hole."""
    import tripo_addon.core.journal.store as journal_mod

    job = full_job()
    journal.save(job)
    synced, folders = [], []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    monkeypatch.setattr(journal_mod, "_fsync_dir", lambda path: folders.append(path))
    job.state = State.IMPORTED
    journal.save(job, sync_folder=False)
    assert synced and folders == []
    assert journal.load(job.id).state == State.IMPORTED
    journal.save(job)
    assert folders == [journal.jobs_dir]
