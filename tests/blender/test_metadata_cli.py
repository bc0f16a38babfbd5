"""A photo's pixels leave without its metadata, and as they are when asked: the
batch command (checked on what the gateway simulator received) and a Blender image."""

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


def test_a_blender_image_of_a_photo_is_sent_without_its_metadata_unless_asked(blender, tmp_path):
    import bpy

    from tripo_addon.blender.exp.image_source import picture_request

    photo = tmp_path / "IMG_2041.jpg"
    photo.write_bytes(private_jpeg())
    image = bpy.data.images.load(str(photo))
    try:
        for packed in (False, True):
            if packed:
                image.pack()  # the bytes now come from the .blend, not the file
            _label, sent, _note = picture_request("", image)
            assert sent is not None and not [s for s in SECRETS if s in sent.data], packed
            with Image.open(io.BytesIO(sent.data)) as a, Image.open(photo) as b:
                assert np.array_equal(np.asarray(a), np.asarray(b))
            _label, kept, _note = picture_request("", image, keep_metadata=True)
            assert kept.data == photo.read_bytes(), packed
    finally:
        bpy.data.images.remove(image)
