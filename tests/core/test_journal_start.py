"""Start-up reads the unfinished jobs and a short history, not the whole
journal: the markers in ``open/`` say which records to read, and no order of
crashes can hide an unfinished (perhaps paid) job from them. The markers in
``uploads/`` do the same for the clean-up of the user's bucket."""

from __future__ import annotations

import errno
import os
import shutil

import pytest

from tripo_addon.core import errors as E
from tripo_addon.core.journal import store as journal_mod
from tripo_addon.core.jobs import Job, State
from tripo_addon.core.journal.store import Journal


def a_job(i: int, state: str = State.IMPORTED, **kw) -> Job:
    return Job(source=f"img{i}.png", params={"texture": "standard"}, content_hash=f"{i:064x}",
               created_at=1000.0 + i, state=state, **kw)


@pytest.fixture
def reads(monkeypatch):
    """The paths of every record read."""
    seen: list[str] = []
    real = journal_mod._read_record
    monkeypatch.setattr(journal_mod, "_read_record", lambda path: seen.append(path) or real(path))
    return seen


def test_start_reads_only_unfinished_records_and_the_newest_others(journal, reads):
    finished = [a_job(i) for i in range(60)]
    waiting = [a_job(100, State.QUEUED, request_id="tripo3d-v2-5-413_a"), a_job(101, State.DOWNLOADED),
               a_job(102, State.SUBMITTING), a_job(103, State.NEW)]
    for job in finished[:30] + waiting + finished[30:]:
        journal.save(job)
    for n, job in enumerate(finished):  # modification times in creation order, a second apart
        os.utime(journal._path(job.id), (2000.0 + n, 2000.0 + n))
    for job in waiting:  # unfinished records untouched for longest: found all the same
        os.utime(journal._path(job.id), (1500.0, 1500.0))
    reads.clear()
    fresh = Journal(journal.directory)  # a new Blender start
    assert reads == []  # opening it reads no record
    got = fresh.at_start(history=5)
    assert [j.id for j in got] == [j.id for j in finished[55:]] + [j.id for j in waiting]  # oldest first
    assert len(reads) <= 5 + len(waiting)
    assert {j.id for j in fresh.unfinished()} == {j.id for j in waiting}


def test_start_reads_an_unfinished_job_changed_lately_once(journal, reads):
    """A batch stopped mid-run: its unfinished jobs are also the records changed last."""
    for i in range(10):
        journal.save(a_job(i))
    waiting = [a_job(100 + i, State.QUEUED, request_id=f"tripo3d-v2-5-413_{i}") for i in range(3)]
    for job in waiting:
        journal.save(job)
    reads.clear()
    got = Journal(journal.directory).at_start(history=5)
    assert {j.id for j in got if not j.finished} == {j.id for j in waiting} and len(got) == 5
    assert sorted(reads) == sorted(set(reads)) and len(reads) == 5


def test_a_job_is_marked_while_unfinished_and_again_when_it_is_retried(journal):
    job = a_job(1, State.NEW)
    journal.save(job)
    assert journal.open.ids() == [job.id]
    job.state = State.DOWNLOAD_FAILED
    journal.save(job)
    assert journal.open.ids() == [] and journal.unfinished() == []
    other = Journal(journal.directory)  # another process retries the download
    job.state = State.DOWNLOADING
    other.save(job)
    job.state = State.IMPORTED
    other.save(job)
    job.state = State.DOWNLOADING  # and this process retries it again: marked anew, not remembered
    journal.save(job)
    assert [j.id for j in Journal(journal.directory).unfinished()] == [job.id]


def test_markers_left_by_a_crash_are_harmless(journal):
    done = a_job(1)
    journal.save(done)
    journal.open.mark(done.id)  # crashed after the finished record, before the marker went
    journal.open.mark("f" * 32)  # crashed after the marker, before the first record
    assert Journal(journal.directory).unfinished() == []


def test_removing_a_job_removes_its_marker(journal):
    job = a_job(1, State.QUEUED, request_id="tripo3d-v2-5-413_d")
    journal.save(job)
    journal.remove(job.id)
    assert journal.open.ids() == [] and journal.unfinished() == []


def test_the_marker_is_made_before_the_record(journal, monkeypatch):
    """A crash between the two leaves a marker without its record, never an unfinished record without a marker."""
    order = []
    real_mark, real_replace = journal.open.mark, journal_mod.replace
    monkeypatch.setattr(journal.open, "mark", lambda job_id: order.append("marker") or real_mark(job_id))
    monkeypatch.setattr(journal_mod, "replace", lambda a, b: order.append("record") or real_replace(a, b))
    journal.save(a_job(1, State.QUEUED, request_id="tripo3d-v2-5-413_b"))
    assert order == ["marker", "record"]


def test_a_marker_that_cannot_be_made_keeps_the_record_in_memory(journal, monkeypatch):
    job = a_job(1, State.SUBMITTING)

    def no_room(job_id):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(journal.open, "mark", no_room)
    with pytest.raises(E.JournalUnwritable):
        journal.save(job)
    assert [j.id for j in journal.unfinished()] == [job.id]  # served from memory meanwhile
    assert not os.path.exists(journal._path(job.id))
    monkeypatch.undo()
    assert journal.flush_unsaved() == 1
    assert [j.id for j in Journal(journal.directory).unfinished()] == [job.id]


def test_a_journal_from_before_the_markers_is_marked_once(journal, reads):
    waiting, done = a_job(1, State.PROCESSING, request_id="tripo3d-v2-5-413_c"), a_job(2)
    journal.save(waiting)
    journal.save(done)
    shutil.rmtree(journal.open.directory)  # as written by a version without the markers
    reads.clear()
    again = Journal(journal.directory)
    assert again.open.complete and len(reads) == 2  # one full scan, when first opened
    reads.clear()
    assert [j.id for j in Journal(journal.directory).unfinished()] == [waiting.id] and len(reads) == 1


def test_recent_is_by_last_change_and_skips_junk(journal):
    jobs = [a_job(i) for i in range(4)]
    for n, job in enumerate(jobs):
        journal.save(job)
        os.utime(journal._path(job.id), (5000.0 - n, 5000.0 - n))  # the oldest created changed last
    with open(os.path.join(journal.jobs_dir, "deadbeef.json"), "w") as f:
        f.write("{")
    os.utime(os.path.join(journal.jobs_dir, "deadbeef.json"), (9000.0, 9000.0))
    assert [j.id for j in journal.recent(2)] == [jobs[0].id]  # the junk took a place and was dropped
    assert [j.id for j in journal.recent(3)] == [jobs[0].id, jobs[1].id]
    assert journal.recent(0) == []


def test_a_job_is_marked_while_its_image_may_be_in_the_bucket(journal):
    job = a_job(1, State.NEW)
    journal.save(job)
    assert journal.uploads.ids() == [] and journal.with_uploads() == []
    job.delivery = {"route": "s3", "key": "tripo3d/abc.png", "deleted": False, "uploaded_at": None}
    job.state = State.UPLOADING
    journal.save(job)  # the key is on disk before the object exists: marked with it
    assert journal.uploads.ids() == [job.id]
    job.state = State.IMPORTED
    journal.save(job)  # finished, object still there: still marked
    assert [j.id for j in Journal(journal.directory).with_uploads()] == [job.id]
    job.delivery["deleted"] = True
    journal.save(job)
    assert journal.uploads.ids() == [] and Journal(journal.directory).with_uploads() == []


def test_a_journal_from_before_the_upload_markers_is_marked_once(journal):
    job = a_job(1, delivery={"route": "s3", "key": "tripo3d/abc.png", "deleted": False})
    journal.save(job)
    shutil.rmtree(journal.uploads.directory)
    again = Journal(journal.directory)
    assert again.uploads.complete and [j.id for j in again.with_uploads()] == [job.id]
