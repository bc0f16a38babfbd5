"""The delivery step: local images through the user's bucket (real SeaweedFS),
the gateway simulator fetching the presigned link, nothing left behind."""

from __future__ import annotations

import json
import os
import uuid

import pytest
import requests

from tripo_addon.core import errors as E
from tripo_addon.core.storage.config import INLINE, S3, parse_upload_option, upload_choice
from tripo_addon.core.storage.delivery import (
    URL,
    Delivery,
    choose_route,
    deliver,
    object_due_for_deletion,
    sweep,
)
from tripo_addon.core.images import prepare
from tripo_addon.core.jobs import Job, State
from tripo_addon.core.engine.runner import RunSettings, advance
from tripo_addon.core.storage.client import S3Storage
from tripo_addon.core.storage.config import StorageConfig

FAST = RunSettings(poll_interval=0.02)


@pytest.fixture
def bucket(seaweed):
    """A fresh bucket on the real S3 server, and a config for it."""
    name = f"t-{uuid.uuid4().hex[:20]}"
    seaweed.create_bucket(name)
    return StorageConfig(bucket=name, prefix="tripo/in", endpoint=seaweed.endpoint, region=seaweed.region,
                         access_key_id=seaweed.access_key_id, secret_access_key=seaweed.secret_access_key)


class CountingStorage(S3Storage):
    """The real client, counting what it sends (to prove an upload is reused)."""

    puts = 0

    def put(self, key, data, content_type, progress=None):
        CountingStorage.puts += 1
        return super().put(key, data, content_type, progress=progress)


@pytest.fixture
def counting():
    CountingStorage.puts = 0
    return CountingStorage


def new_job(journal, prepared, params) -> Job:
    job = Job(source=prepared.source, params=params, content_hash=prepared.content_hash)
    journal.save(job)
    return job


def test_the_upload_choice_keeps_a_bucket_that_cannot_work_for_the_job_that_needs_it():
    keys = {"AWS_ACCESS_KEY_ID": "K", "AWS_SECRET_ACCESS_KEY": "S"}
    assert upload_choice("inline", {"bucket": "s3://b-c-d"}, {}, prefer_env=False) == (INLINE, None, None)
    assert upload_choice("", {}, keys, prefer_env=True) == ("auto", None, None)
    route, config, error = upload_choice("s3://b-c-d/in", {}, keys, prefer_env=True)
    assert (route, config.bucket, config.prefix, error) == (S3, "b-c-d", "in", None)
    route, config, error = upload_choice("auto", {"bucket": "b-c-d"}, {"AWS_ACCESS_KEY_ID": "K"}, prefer_env=False)
    assert (route, config) == ("auto", None) and "lack the secret access key" in error.message
    with pytest.raises(E.StorageConfigError, match="--upload must be"):
        upload_choice("ftp://x", {}, keys, prefer_env=True)  # the caller's own option: said at once


def test_routes_are_chosen_as_documented(prepared, bucket):
    remote = prepare("https://example.com/chair.png")
    assert parse_upload_option("") == ("auto", "")
    assert parse_upload_option("INLINE") == ("inline", "")
    assert parse_upload_option("s3://my-bucket/in") == (S3, "s3://my-bucket/in")
    with pytest.raises(E.TripoError, match="--upload must be"):
        parse_upload_option("ftp://x")
    assert choose_route("auto", remote, bucket) == URL
    assert choose_route("auto", prepared, bucket) == S3
    assert choose_route("auto", prepared, None) == INLINE
    assert choose_route("inline", prepared, bucket) == INLINE
    with pytest.raises(E.TripoError, match="no bucket is set"):
        choose_route("s3", prepared, None)


def test_local_image_goes_through_the_bucket_and_nothing_is_left(sim, client, journal, prepared, params, bucket,
                                                                 seaweed):
    sim.configure(refuse_inline=True)
    job = new_job(journal, prepared, params)
    events = []
    job = advance(job, client, journal, delivery=Delivery(S3, prepared, bucket), storage=bucket, settings=FAST,
                  on_event=lambda j, e: events.append((e, j.state)))
    assert job.state == State.DOWNLOADED, job.error
    [sent] = sim.jobs()
    # The gateway got a presigned link to the bucket, fetched the very bytes we uploaded.
    assert sent["image_url"].startswith(f"{seaweed.endpoint}/{bucket.bucket}/tripo/in/")
    assert "X-Amz-Signature=" in sent["image_url"]
    assert sent["image_bytes_len"] == len(prepared.data)
    states = [s for _e, s in events]
    assert states.index(State.UPLOADING) < states.index(State.SUBMITTING)
    assert job.upload_bytes == job.upload_total == len(prepared.data)
    # The server finished with it: the object is gone, and the record says so.
    assert seaweed.list_keys(bucket.bucket) == []
    assert job.delivery["deleted"] is True and job.delivery["key"].startswith("tripo/in/")
    record = open(os.path.join(journal.jobs_dir, f"{job.id}.json"), encoding="utf-8").read()
    for secret in (bucket.secret_access_key, "X-Amz-Signature", "X-Amz-Credential"):
        assert secret not in record


def test_inline_refused_says_how_to_set_up_a_bucket(sim, client, journal, prepared, params):
    sim.configure(refuse_inline=True)
    job = advance(new_job(journal, prepared, params), client, journal,
                  delivery=Delivery(INLINE, prepared), settings=FAST)
    assert job.state == State.REJECTED and job.error_kind == "inline_refused"
    assert "refused the image sent inline" in job.error and "nothing was charged" in job.error
    assert "s3://BUCKET/PREFIX" in job.error and "public image URL" in job.error
    assert sim.stats()["inline_refused"] == 1 and sim.stats()["submits"] == 0


def test_bucket_errors_stop_before_anything_is_submitted(sim, client, journal, prepared, params, bucket):
    from dataclasses import replace

    wrong = replace(bucket, secret_access_key="not-the-secret-at-all")
    job = advance(new_job(journal, prepared, params), client, journal, delivery=Delivery(S3, prepared, wrong),
                  storage=wrong, settings=FAST)
    assert job.state == State.REJECTED and job.error_kind == "storage_auth", job.error
    assert "not-the-secret-at-all" not in job.error
    assert sim.stats()["submit_attempts"] == 0


def test_an_upload_not_yet_submitted_is_reused(sim, client, journal, prepared, params, bucket, seaweed, counting):
    job = new_job(journal, prepared, params)
    # The upload happens, then the process dies before the submit.
    link = deliver(job, Delivery(S3, prepared, bucket), lambda *_a: journal.save(job), storage_factory=counting)
    job.state = State.NEW
    journal.save(job)
    assert requests.get(link, timeout=5).content == prepared.data
    first_key = job.delivery["key"]
    assert counting.puts == 1

    again = journal.load(job.id)
    again = advance(again, client, journal, delivery=Delivery(S3, prepared, bucket), storage=bucket,
                    settings=FAST, storage_factory=counting)
    assert again.state == State.DOWNLOADED
    assert counting.puts == 1, "the object already in the bucket was uploaded again"
    assert again.delivery["key"] == first_key
    assert sim.jobs()[0]["image_url"].split("?")[0].endswith(first_key)
    assert seaweed.list_keys(bucket.bucket) == []


def test_a_deleted_upload_is_not_reused(sim, client, journal, prepared, params, bucket, seaweed, counting):
    job = new_job(journal, prepared, params)
    deliver(job, Delivery(S3, prepared, bucket), lambda *_a: journal.save(job), storage_factory=counting)
    S3Storage(bucket).delete(job.delivery["key"])  # a lifecycle rule or someone else removed it
    job.state = State.NEW
    job = advance(job, client, journal, delivery=Delivery(S3, prepared, bucket), storage=bucket, settings=FAST,
                  storage_factory=counting)
    assert job.state == State.DOWNLOADED and counting.puts == 2


def test_leftovers_are_swept_on_the_next_start(journal, prepared, params, bucket, seaweed):
    now = 1_000_000.0
    made = {}
    for name, state, request_id, expires in (
        ("crashed_unsent", State.STOPPED, None, now + 3600),  # never sent: due now
        ("done", State.IMPORTED, "rid-1", now + 3600),  # server finished, delete failed: due now
        ("maybe_sent_fresh", State.SUBMIT_UNKNOWN, "", now + 3600),  # may still be fetched: keep
        ("maybe_sent_old", State.SUBMIT_UNKNOWN, "", now - 1),  # its link expired: due
        ("waiting_new", State.NEW, None, now + 3600),  # reusable by a re-run: keep
    ):
        job = new_job(journal, prepared, {**params, "texture": name})
        deliver(job, Delivery(S3, prepared, bucket), lambda *_a: None)
        job.state, job.request_id = state, request_id
        job.delivery["url_expires_at"] = expires
        journal.save(job)
        made[name] = job
    assert len(seaweed.list_keys(bucket.bucket)) == 5

    deleted, problems = sweep(journal, bucket, clock=lambda: now)
    assert (deleted, problems) == (3, [])
    left = set(seaweed.list_keys(bucket.bucket))
    assert left == {made["maybe_sent_fresh"].delivery["key"], made["waiting_new"].delivery["key"]}
    assert journal.load(made["done"].id).delivery["deleted"] is True
    # A second start finds nothing more to do.
    assert sweep(journal, bucket, clock=lambda: now) == (0, [])


def test_the_clean_up_reads_only_the_records_that_name_an_object(journal, prepared, params, bucket, seaweed,
                                                                 monkeypatch):
    from tripo_addon.core.journal import store as journal_mod

    monkeypatch.setattr(os, "fsync", lambda fd: None)  # set-up only: 100 records
    for i in range(100):
        journal.save(Job(source=f"plain{i}.png", params=params, content_hash=f"{i:064x}", state=State.IMPORTED))
    job = new_job(journal, prepared, params)
    deliver(job, Delivery(S3, prepared, bucket), lambda *_a: None)
    job.state, job.request_id = State.IMPORTED, "rid-2"
    journal.save(job)
    monkeypatch.undo()
    reads = []
    real = journal_mod._read_record
    monkeypatch.setattr(journal_mod, "_read_record", lambda path: reads.append(path) or real(path))
    assert sweep(journal, bucket) == (1, [])
    assert len(reads) == 2  # its record, and again under the claim; none of the other 100
    assert seaweed.list_keys(bucket.bucket) == [] and journal.uploads.ids() == []
    reads.clear()
    assert sweep(journal, bucket) == (0, []) and reads == []  # the next start reads nothing


def test_a_job_worked_on_elsewhere_keeps_its_object(journal, prepared, params, bucket, seaweed):
    job = new_job(journal, prepared, params)
    deliver(job, Delivery(S3, prepared, bucket), lambda *_a: None)
    job.state = State.FAILED
    journal.save(job)
    claim = journal.try_lock(job.key)  # another worker holds the job
    try:
        assert sweep(journal, bucket) == (0, [])
        assert len(seaweed.list_keys(bucket.bucket)) == 1
    finally:
        claim.release()
    assert sweep(journal, bucket)[0] == 1


def test_keep_uploads_when_the_user_says_so(sim, client, journal, prepared, params, bucket, seaweed):
    from dataclasses import replace

    keep = replace(bucket, delete_after=False)
    job = advance(new_job(journal, prepared, params), client, journal, delivery=Delivery(S3, prepared, keep),
                  storage=keep, settings=FAST)
    assert job.state == State.DOWNLOADED
    assert seaweed.list_keys(bucket.bucket) == [job.delivery["key"]]
    assert object_due_for_deletion(job, 0) and sweep(journal, keep) == (0, [])


def test_record_shape_is_json_and_holds_no_link(journal, prepared, params, bucket):
    job = new_job(journal, prepared, params)
    deliver(job, Delivery(S3, prepared, bucket), lambda *_a: journal.save(job))
    data = json.loads(open(os.path.join(journal.jobs_dir, f"{job.id}.json"), encoding="utf-8").read())
    assert set(data["delivery"]) >= {"route", "bucket", "key", "uploaded_at", "url_expires_at", "deleted"}
    assert "http" not in json.dumps(data["delivery"]).replace(bucket.endpoint, "")
