"""The batch command sends a photo's pixels without its metadata, and as it is
with --keep-metadata: checked on what the gateway simulator received."""

from __future__ import annotations

import base64
import io

import numpy as np
from image_samples import SECRETS, private_jpeg
from PIL import Image
from test_cli import cli_env, run_cli  # noqa: F401  (cli_env is a fixture)


def sent_pictures(sim) -> list[tuple[str, bytes]]:
    out = []
    for job in sim._jobs.values():
        assert job.image_url.startswith("data:image/jpeg;base64,")  # no bucket here: inline
        out.append((job.image_url, base64.b64decode(job.image_url.split(",", 1)[1])))
    return out


def test_the_batch_sends_no_metadata_unless_asked(sim, cli_env, tmp_path):  # noqa: F811
    folder = tmp_path / "private folder"
    folder.mkdir()
    photo = folder / "Jane Doe passport.jpg"
    photo.write_bytes(private_jpeg())
    proc = run_cli(["--online-mode", str(photo), "--poll-interval", "1"], cli_env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    [(url, image)] = sent_pictures(sim)
    assert not [s for s in SECRETS if s in image]
    assert "passport" not in url and "Jane" not in url
    with Image.open(io.BytesIO(image)) as sent, Image.open(photo) as original:
        assert len(sent.getexif()) == 0 and "xmp" not in sent.info
        assert np.array_equal(np.asarray(sent), np.asarray(original))

    kept = run_cli(["--online-mode", str(photo), "--poll-interval", "1", "--keep-metadata"], cli_env)
    assert kept.returncode == 0, kept.stdout[-2000:] + kept.stderr[-2000:]
    assert sim.stats()["submits"] == 2  # other bytes: another job
    assert photo.read_bytes() in [image for _url, image in sent_pictures(sim)]
