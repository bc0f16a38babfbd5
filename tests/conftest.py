"""Shared fixtures: the local gateway simulator, test images, a private
Blender user folder for each test."""

from __future__ import annotations

import os

import pytest

from tools.gateway_sim import GatewaySimulator, SimConfig

from tripo_addon.core.net.gateway import GatewayClient

from helpers import SIM_KEY, fast_retry, make_image  # noqa: F401  (fixtures use them; tests import them from helpers)


@pytest.fixture(scope="session", autouse=True)
def _no_proxy_for_loopback():
    """The client keeps the environment's proxy settings (requests' trust_env);
    the simulator on 127.0.0.1 must still be reached directly, by this process
    and by the Blender processes the tests start."""
    saved = {k: os.environ.get(k) for k in ("NO_PROXY", "no_proxy")}
    for k, old in saved.items():
        parts = [p for p in (old or "").split(",") if p]
        os.environ[k] = ",".join(parts + ["127.0.0.1", "localhost", "::1"])
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def sim():
    """A fresh gateway simulator with short queue and processing times."""
    with GatewaySimulator(SimConfig(api_key=SIM_KEY, queue_seconds=0.1, processing_seconds=0.2, retry_after=0.05)) as s:
        yield s


@pytest.fixture
def client(sim):
    c = GatewayClient(SIM_KEY, sim.url, retry=fast_retry(), connect_timeout=2, read_timeout=2)
    yield c
    c.close()


@pytest.fixture
def user_res(tmp_path, monkeypatch):
    """A private Blender user folder: the journal and downloads land here."""
    path = tmp_path / "blender-user"
    path.mkdir()
    monkeypatch.setenv("BLENDER_USER_RESOURCES", str(path))
    return path


@pytest.fixture
def image_files(tmp_path):
    """Small PNG, JPEG and WebP files plus a file that is not an image."""
    out = {}
    for fmt, ext in (("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp")):
        path = tmp_path / f"picture_{ext}.{ext}"
        path.write_bytes(make_image(fmt, color=(40 * len(ext), 120, 200)))
        out[ext] = str(path)
    bad = tmp_path / "notes.png"
    bad.write_text("this is not an image\n")
    out["bad"] = str(bad)
    return out


# --- a real S3 server (SeaweedFS) for the storage route ---------------------------

@pytest.fixture(scope="session")
def seaweed():
    """One SeaweedFS S3 server on loopback for the whole session (starts in ~4 s).
    ``seaweed.endpoint``, ``.list_keys(bucket)``, ``.create_bucket(name)``; see tests/s3server.py."""
    from s3server import SeaweedS3

    with SeaweedS3() as server:
        yield server


@pytest.fixture
def s3_bucket(seaweed):
    """A fresh, empty bucket on ``seaweed``, as the admin identity's StorageConfig
    (``dataclasses.replace`` it for other keys, prefixes or lifetimes)."""
    import uuid

    from tripo_addon.core.storage.config import StorageConfig

    name = f"test-{uuid.uuid4().hex[:16]}"
    seaweed.create_bucket(name)
    yield StorageConfig(bucket=name, endpoint=seaweed.endpoint, region=seaweed.region,
                        access_key_id=seaweed.access_key_id, secret_access_key=seaweed.secret_access_key)
