"""The background flush of a big download (core.download._Flusher): a head start
for the final fsync, which still runs on the download's own descriptor before
the file is renamed into place, i.e. before anything may call it downloaded."""

from __future__ import annotations

import os
import threading

import pytest
from hardening_servers import make_glb

from tripo_addon.core.net import download
from tripo_addon.core import errors as E
from tripo_addon.core.glb import check_glb_file

STEP = 64 * 1024
BODY = make_glb({"asset": {"version": "2.0"}, "buffers": [{"byteLength": 1 << 20}]}, bytes(range(256)) * 4096)


@pytest.fixture
def small_steps(monkeypatch):
    """Flush every 64 KB; record background flushes and final fsyncs, in order, with what they saw."""
    monkeypatch.setattr(download, "FLUSH_EVERY", STEP)
    events: list = []
    flushed = threading.Event()
    events_flushed.append(flushed)
    real_datasync, real_fsync, real_replace = download._datasync, os.fsync, download.replace

    def datasync(fd):
        events.append(("background", threading.current_thread().name, os.fstat(fd).st_size))
        real_datasync(fd)
        flushed.set()

    def fsync(fd):
        events.append(("final", threading.current_thread().name, os.fstat(fd).st_size))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("rename", threading.current_thread().name, os.path.getsize(src)))
        real_replace(src, dst)

    monkeypatch.setattr(download, "_datasync", datasync)
    monkeypatch.setattr(download.os, "fsync", fsync)
    monkeypatch.setattr(download, "replace", replace)
    return events


events_flushed: list = []  # the current test's "a background flush happened" event


def wait_for_a_flush(received, total):
    """A progress callback that holds the download once, until the helper has flushed."""
    if received > 2 * STEP:
        events_flushed[-1].wait(5)


def flush_threads() -> list:
    return [t for t in threading.enumerate() if t.name == "tripo3d-flush"]


def test_big_download_flushes_in_background_then_fsyncs_before_the_rename(sim, client, tmp_path, small_steps):
    url = sim.add_asset("big.glb", BODY, "model/gltf-binary")
    dest = str(tmp_path / "model.glb")
    assert client.download([url], dest, progress=wait_for_a_flush) == dest
    with open(dest, "rb") as f:
        assert f.read() == BODY
    assert check_glb_file(dest) is None
    kinds = [e[0] for e in small_steps]
    assert "background" in kinds and all(e[1] == "tripo3d-flush" for e in small_steps if e[0] == "background")
    # The last two steps, in the download's thread: the whole file fsynced, then renamed.
    assert small_steps[-2:] == [("final", "MainThread", len(BODY)), ("rename", "MainThread", len(BODY))]
    assert not flush_threads()


def test_small_download_starts_no_flush_thread(sim, client, tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(download._Flusher, "_run", lambda self: started.append(self))
    url = sim.add_asset("small.glb", make_glb({"asset": {"version": "2.0"}}, b"\1" * 1000),
                        "model/gltf-binary")
    client.download([url], str(tmp_path / "model.glb"))
    assert started == []


def test_a_failing_background_flush_does_not_fail_the_download(sim, client, tmp_path, small_steps, monkeypatch):
    def broken(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(download, "_datasync", broken)
    url = sim.add_asset("big.glb", BODY, "model/gltf-binary")
    dest = str(tmp_path / "model.glb")
    client.download([url], dest)
    assert small_steps[-2:] == [("final", "MainThread", len(BODY)), ("rename", "MainThread", len(BODY))]
    assert not flush_threads()


def test_a_failing_final_fsync_still_fails_the_download(sim, client, tmp_path, small_steps, monkeypatch):
    def broken(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(download.os, "fsync", broken)
    url = sim.add_asset("big.glb", BODY, "model/gltf-binary")
    dest = str(tmp_path / "model.glb")
    with pytest.raises(OSError):
        client.download([url], dest)
    assert not os.path.exists(dest)
    assert not flush_threads()


def test_stop_mid_download_leaves_no_flush_thread(sim, client, tmp_path, small_steps, monkeypatch):
    url = sim.add_asset("big.glb", BODY, "model/gltf-binary")
    helpers = []
    real_close = download._Flusher.close

    def close(self):
        helpers.append(self._thread)
        real_close(self)

    monkeypatch.setattr(download._Flusher, "close", close)

    def progress(received, total):
        if received > 3 * STEP:
            client.stop.set()

    with pytest.raises(E.Stopped):
        client.download([url], str(tmp_path / "model.glb"), progress=progress)
    assert helpers and helpers[0] is not None  # a helper had started
    assert not flush_threads()
    assert "final" not in [e[0] for e in small_steps]


def test_resumed_download_with_flushes_is_whole(sim, client, finished_job, tmp_path, small_steps, monkeypatch):
    monkeypatch.setattr(download, "FLUSH_EVERY", 4096)  # the simulated model is small
    sim.configure(queue_seconds=0.0, processing_seconds=0.0)
    st = finished_job(client)
    sim.configure(faults={"download": ["truncate"]})
    dest = str(tmp_path / "model.glb")
    client.download(st.media_urls, dest, media_type=st.media_type)
    assert check_glb_file(dest) is None
    size = os.path.getsize(dest)
    assert size > 4 * 4096
    assert [e[0] for e in small_steps].count("final") == 1  # the cut attempt ended before its fsync
    assert small_steps[-2:] == [("final", "MainThread", size), ("rename", "MainThread", size)]
    assert not flush_threads()


def test_a_slow_disk_after_the_last_byte_is_not_a_slow_server(sim, tmp_path, monkeypatch):
    """The read deadline (2 x 0.3 s here) is disarmed once every byte has come:
    a final fsync slower than it still ends in a whole, downloaded file."""
    from conftest import SIM_KEY, fast_retry

    from tripo_addon.core.net.gateway import GatewayClient

    real_fsync = os.fsync

    def slow_fsync(fd):
        import time

        time.sleep(1.0)
        real_fsync(fd)

    monkeypatch.setattr(download.os, "fsync", slow_fsync)
    url = sim.add_asset("big.glb", BODY, "model/gltf-binary")
    dest = str(tmp_path / "model.glb")
    client = GatewayClient(SIM_KEY, sim.url, retry=fast_retry(), connect_timeout=0.3, read_timeout=0.3)
    try:
        client.download([url], dest)
    finally:
        client.close()
    assert os.path.getsize(dest) == len(BODY) and check_glb_file(dest) is None
