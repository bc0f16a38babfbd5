"""Issue 9, class 2 (the journal's part): junk in the journal folder never
raises from ``all()``/``load()``; an unwritable folder is one clear sentence
(:class:`JournalUnwritable`); a record that cannot be written is kept in
memory, served, retried on every later save and on ``flush_unsaved()``.

Faults are real where this machine allows: a tiny tmpfs that is really full
(ENOSPC) and one remounted read-only (EROFS); root ignores chmod, so file
modes prove nothing here. Those tests need root and ``mount``; each has a
twin that injects the same OSError by monkeypatching, which always runs.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import threading

import pytest
from helpers import SIM_KEY, fast_retry

from tripo_addon.core import errors as E
from tripo_addon.core.journal import store as journal_mod
from tripo_addon.core.journal import records as journal_records
from tripo_addon.core.net.gateway import GatewayClient
from tripo_addon.core.jobs import Job, State
from tripo_addon.core.journal.store import Journal
from tripo_addon.core.engine.planning import Decision, plan
from tripo_addon.core.engine.runner import RunSettings, advance


def a_job(name: str = "chair.png", **kw) -> Job:
    return Job(source=name, params={"texture": "standard"}, content_hash=(name.encode().hex() * 64)[:64], **kw)


def mount_tmpfs(path, size: str = "64k") -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (the monkeypatched twin of this test still runs)")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")


@pytest.fixture
def tiny_fs(tmp_path):
    path = tmp_path / "tiny"
    path.mkdir()
    mount_tmpfs(path)
    yield path
    subprocess.run(["umount", "-l", str(path)], check=False)


def fill(folder) -> str:
    """Fill the file system of ``folder`` up; return the filler's path."""
    filler = os.path.join(str(folder), "filler")
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def on_disk(journal: Journal, job_id: str) -> dict | None:
    path = os.path.join(journal.jobs_dir, f"{job_id}.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# -- junk -------------------------------------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
def test_junk_in_the_folder_never_raises(journal, monkeypatch):
    good = a_job()
    journal.save(good)
    d = journal.jobs_dir
    os.mkdir(os.path.join(d, "adir.json"))  # a directory named like a record
    os.mkfifo(os.path.join(d, "fifo.json"))  # opening it for reading would block forever
    with open(os.path.join(d, "latin1.json"), "wb") as f:
        f.write('{"source": "caf\xe9.png"}'.encode("latin-1"))
    with open(os.path.join(d, "huge.json"), "wb") as f:
        f.write(b'{"source": "' + b"x" * (journal_records.MAX_RECORD_BYTES + 10) + b'"}')
    for name, data in {"list": [good.to_dict()], "number": 7, "params_list": {**a_job().to_dict(), "params": []}}.items():
        with open(os.path.join(d, f"{name}.json"), "w", encoding="utf-8") as f:
            json.dump(data, f)
    unreadable = os.path.join(d, "locked.json")
    with open(unreadable, "w") as f:
        json.dump(a_job("other.png").to_dict(), f)
    real_open = os.open

    def denying_open(path, *a, **k):  # root ignores file modes: the denial is injected
        if str(path) == unreadable:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path, *a, **k)

    monkeypatch.setattr(journal_mod.os, "open", denying_open)
    result = {}
    t = threading.Thread(target=lambda: result.update(all=journal.all()), daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "the listing hung on the FIFO"
    assert [j.id for j in result["all"]] == [good.id]
    for name in ("adir", "fifo", "latin1", "huge", "list", "number", "params_list", "locked"):
        assert journal.load(name) is None
    assert journal.find_by_key(good.key).id == good.id


def test_fields_of_wrong_types_are_put_right_not_raised(journal):
    paid = a_job("paid.png").to_dict()
    paid.update(request_id=12345, state=5, media_urls="https://cdn/x.glb", objects=[1, "Chair", None],
                created_at="yesterday", download_bytes="many", submitted_at=True, import_options=[1],
                error=["x"])
    with open(os.path.join(journal.jobs_dir, f"{paid['id']}.json"), "w", encoding="utf-8") as f:
        json.dump(paid, f)
    job = journal.load(paid["id"])
    assert job is not None
    assert job.request_id == "12345"  # a number where text belongs keeps its meaning
    assert job.state == State.INTERRUPTED  # unreadable state but a request id: resume it, never pay again
    assert job.media_urls == [] and job.objects == ["Chair"]
    assert isinstance(job.created_at, float) and job.download_bytes == 0 and job.submitted_at is None
    assert job.import_options == {} and job.error is None
    assert [j.id for j in journal.all()] == [paid["id"]]


def test_a_missing_jobs_folder_lists_nothing(tmp_path):
    j = Journal(str(tmp_path / "j"))
    os.rmdir(j.jobs_dir)
    assert j.all() == [] and j.load("abc") is None
    j.save(a_job())  # and writing makes it again
    assert len(j.all()) == 1


# -- unwritable -----------------------------------------------------------------------------

def check_unwritable_error(exc: E.JournalUnwritable, folder: str, reason: str) -> None:
    assert exc.kind == "journal_unwritable" and isinstance(exc, OSError)
    msg = exc.message
    assert folder in msg and reason in msg and "BLENDER_USER_RESOURCES" in msg
    assert len(msg.splitlines()) == 1 and "Traceback" not in msg and "Errno" not in msg


def test_full_disk_keeps_the_record_in_memory_and_writes_it_later(tiny_fs):
    journal = Journal(str(tiny_fs / "tripo3d"))
    first = a_job()
    journal.save(first)
    filler = fill(tiny_fs)
    first.request_id, first.state = "tripo3d-v2-5-413_paid", State.QUEUED
    with pytest.raises(E.JournalUnwritable) as info:
        journal.save(first)
    check_unwritable_error(info.value, journal.jobs_dir, "the disk is full")
    assert journal.unsaved[first.id]["request_id"] == "tripo3d-v2-5-413_paid"
    assert journal.load(first.id).request_id == "tripo3d-v2-5-413_paid"  # served from memory
    assert journal.find_by_key(first.key).request_id == "tripo3d-v2-5-413_paid"
    assert on_disk(journal, first.id)["request_id"] is None
    assert [n for n in os.listdir(journal.jobs_dir) if n.endswith(".tmp")] == []
    with pytest.raises(E.JournalUnwritable):
        journal.flush_unsaved()  # still full
    os.remove(filler)
    assert journal.flush_unsaved() == 1
    assert journal.unsaved == {} and on_disk(journal, first.id)["request_id"] == "tripo3d-v2-5-413_paid"


def test_read_only_folder_is_one_sentence_and_a_later_save_writes_what_waited(tiny_fs):
    journal = Journal(str(tiny_fs / "tripo3d"))
    waiting, later = a_job("a.png"), a_job("b.png")
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], check=True)
    with pytest.raises(E.JournalUnwritable) as info:
        journal.check_writable()
    check_unwritable_error(info.value, journal.jobs_dir, "read-only")
    with pytest.raises(E.JournalUnwritable) as info:
        journal.save(waiting)
    check_unwritable_error(info.value, journal.jobs_dir, "read-only")
    with pytest.raises(E.JournalUnwritable):  # no lock file can be made: said, not "busy"
        journal.try_lock("k" * 64)
    subprocess.run(["mount", "-o", "remount,rw", str(tiny_fs)], check=True)
    journal.save(later)  # works again: the waiting record goes with it
    assert journal.unsaved == {}
    assert on_disk(journal, waiting.id)["source"] == "a.png" and on_disk(journal, later.id)["source"] == "b.png"


@pytest.mark.parametrize("code,reason", [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "read-only"),
                                         (errno.EACCES, "permission denied")])
def test_injected_write_faults_keep_the_record(journal, monkeypatch, code, reason):
    """The same, with the OSError injected (runs without root)."""
    job = a_job()
    real = journal_mod._new_temp
    failing = {"on": True}

    def new_temp(*a, **k):  # where every record write starts
        if failing["on"]:
            raise OSError(code, os.strerror(code))
        return real(*a, **k)

    monkeypatch.setattr(journal_mod, "_new_temp", new_temp)
    with pytest.raises(E.JournalUnwritable) as info:
        journal.save(job)
    check_unwritable_error(info.value, journal.jobs_dir, reason)
    assert job.id in journal.unsaved and journal.load(job.id) is not None
    failing["on"] = False
    other = a_job("other.png")
    journal.save(other)  # a later save retries what waited
    assert journal.unsaved == {} and on_disk(journal, job.id)["id"] == job.id


def test_request_id_arriving_on_a_full_disk_is_not_lost(tiny_fs, sim, prepared, params):
    """The paid request id comes back while the disk is full: it stays in memory, is
    found by the next plan (resume, not a second payment) and is written once there is room."""
    journal = Journal(str(tiny_fs / "tripo3d"))
    p = plan(journal, prepared, params)
    filler = []

    def on_event(job, event):
        if job.state == State.SUBMITTING and not filler:  # on disk; now the disk fills up
            filler.append(fill(tiny_fs))

    c = GatewayClient(SIM_KEY, sim.url, retry=fast_retry())
    events = []
    try:
        # The job goes on in memory (the failed saves are announced as "unsaved"
        # events for the caller to print), until the model cannot be saved either.
        job = advance(p.job, c, journal, image_url=prepared.image_url, settings=RunSettings(poll_interval=0.02),
                      on_event=lambda j, e: (events.append(e), on_event(j, e)))
    finally:
        c.close()
        p.release()
    assert "unsaved" in events
    assert job.state == State.INTERRUPTED and "free some disk space" in job.error
    request_id = p.job.request_id
    assert request_id and sim.stats()["submits"] == 1
    assert journal.unsaved[p.job.id]["request_id"] == request_id
    assert on_disk(journal, p.job.id)["state"] == State.SUBMITTING  # the disk still has the old record
    assert journal.find_by_key(p.job.key).request_id == request_id  # served from memory meanwhile
    os.remove(filler[0])
    again = plan(journal, prepared, params)  # room again: resumed by its id, no second payment
    try:
        assert again.decision == Decision.RESUME and again.job.request_id == request_id
    finally:
        again.release()
    assert journal.unsaved == {} and on_disk(journal, p.job.id)["request_id"] == request_id
    assert sim.stats()["submits"] == 1


def test_download_folder_that_cannot_be_made_is_one_sentence(journal, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the download folder should be")
    with pytest.raises(E.JournalUnwritable) as info:
        journal.download_path(a_job(), str(blocker / "models"))
    msg = info.value.message
    assert str(blocker / "models") in msg and "Download Folder" in msg and len(msg.splitlines()) == 1
