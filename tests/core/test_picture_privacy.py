"""What leaves the machine with a local picture: its pixels, nothing else. The
bytes the gateway (simulator) and the bucket (real SeaweedFS) receive hold no
EXIF, GPS, XMP or IPTC, and neither the request nor the object key names the file."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
from PIL import Image
from test_delivery import FAST, bucket  # noqa: F401  (bucket is a fixture)
from image_samples import SECRETS, private_jpeg

from tripo_addon.core.engine.intake import StartRequest, take_in
from tripo_addon.core.engine.runner import advance
from tripo_addon.core.jobs import State
from tripo_addon.core.storage.config import S3


class Route:
    """The bucket settings a job's request carries (what the Blender layer's Settings give)."""

    def __init__(self, upload_route, storage=None):
        self.upload_route, self.storage, self.storage_error = upload_route, storage, None


def what_the_gateway_got(sim, intake) -> tuple[str, bytes]:
    """The address the gateway was sent and the picture's bytes: those of the data URI
    inline, or, through the bucket, those uploaded (the simulator fetched that many)."""
    [job] = list(sim._jobs.values())
    if job.image_url.startswith("data:"):
        return job.image_url, base64.b64decode(job.image_url.split(",", 1)[1])
    assert job.image_bytes_len == len(intake.delivery.prepared.data)
    return job.image_url, intake.delivery.prepared.data


def same_pixels(a: bytes, b: bytes) -> bool:
    with Image.open(io.BytesIO(a)) as x, Image.open(io.BytesIO(b)) as y:
        return np.array_equal(np.asarray(x.convert("RGB")), np.asarray(y.convert("RGB")))


def private_file(tmp_path):
    path = tmp_path / "Jane Doe passport.jpg"
    path.write_bytes(private_jpeg())
    return path


def test_through_the_bucket_only_the_pixels_leave(sim, client, journal, params, bucket, seaweed, tmp_path):  # noqa: F811
    sim.configure(refuse_inline=True)
    path = private_file(tmp_path)
    intake = take_in(StartRequest(source=str(path), params=params, bucket=Route("auto", bucket)), journal)
    job = advance(intake.job, client, journal, delivery=intake.delivery, storage=bucket, settings=FAST)
    assert intake.delivery.route == S3 and job.state == State.DOWNLOADED, job.error
    url, image = what_the_gateway_got(sim, intake)
    for secret in SECRETS:
        assert secret not in image, secret
    assert same_pixels(image, path.read_bytes())
    # The object's key is random: the file's name goes neither to the bucket nor to the gateway.
    assert re.fullmatch(r"tripo/in/[0-9a-f]{32}\.jpg", job.delivery["key"]), job.delivery["key"]
    assert "Jane" not in url and "passport" not in url


def test_inline_only_the_pixels_leave_and_kept_when_asked(sim, client, journal, params, tmp_path):
    path = private_file(tmp_path)
    for keep in (False, True):
        sim.reset()
        request = StartRequest(source=str(path), params=params, bucket=Route("inline"), keep_metadata=keep)
        intake = take_in(request, journal)
        job = advance(intake.job, client, journal, delivery=intake.delivery, settings=FAST)
        assert job.state == State.DOWNLOADED, job.error
        url, image = what_the_gateway_got(sim, intake)
        assert "Jane" not in url and "passport" not in url
        if keep:
            assert image == path.read_bytes()  # asked for: sent as it is
        else:
            assert not any(secret in image for secret in SECRETS)
            assert same_pixels(image, path.read_bytes())
