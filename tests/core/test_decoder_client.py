"""Decoding apart: the client with a real decoder child (this Python running the child under the
``bpy`` module). A reader that crashes, hangs or blows its memory fails one picture with one sentence;
the child is started again and the next picture goes on. What comes back is checked with Pillow."""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import os
import subprocess
import sys
import threading
import time

import pytest
from PIL import Image  # the reference decoder (a dev dependency)

from tripo_addon.core.errors import BadImage
from tripo_addon.core.images import check_header
from tripo_addon.core.images.decoder_client import DecoderClient

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHILD = os.path.join(REPO, "tripo_addon", "blender", "exp", "decoder_child.py")
CRASHERS = os.path.join(REPO, "tests", "data", "crashers")

# The child imports bpy (the .venv's and every matrix leg's); this process never does.
assert importlib.util.find_spec("bpy") is not None
pytestmark = pytest.mark.matrix  # Blender's readers differ between versions


@pytest.fixture
def decoder():
    made = []

    def make(**kw) -> DecoderClient:
        env = {**os.environ, **kw.pop("env", {})}
        client = DecoderClient([sys.executable, CHILD], env=env, **kw)
        made.append(client)
        return client

    yield make
    for client in made:
        client.stop()


def _picture(size=(120, 80)):
    """An 8-bit picture with a distinct colour in each corner, so any turn or flip shows."""
    im = Image.new("RGB", size, (30, 120, 200))
    w, h = size
    for (x0, y0), colour in (((0, 0), (250, 10, 10)), ((w - 20, 0), (10, 250, 10)),
                             ((0, h - 20), (250, 250, 10)), ((w - 20, h - 20), (250, 10, 250))):
        for x in range(x0, x0 + 20):
            for y in range(y0, y0 + 20):
                im.putpixel((x, y), colour)
    for x in range(w):  # a gradient row: every value must survive exactly
        im.putpixel((x, h // 2), (x % 256, (x * 7) % 256, (x * 13) % 256))
    return im


def _decode(client: DecoderClient, path) -> tuple[bytes, str]:
    return client.decode(str(path), check_header(str(path)))


def _sent(data: bytes):
    sent = Image.open(io.BytesIO(data))
    assert sent.format in ("PNG", "JPEG")
    assert "exif" not in sent.info and not sent.getexif()  # no tag left for a server to honour
    return sent


def test_an_8bit_tiff_comes_back_as_a_png_with_its_exact_colours(decoder, tmp_path):
    path = tmp_path / "photo.tif"
    _picture().save(path, format="TIFF")
    data, note = _decode(decoder(), path)
    sent = _sent(data)
    assert sent.format == "PNG" and note == ""
    assert sent.convert("RGB").tobytes() == Image.open(path).convert("RGB").tobytes()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_tiff_orientation_tag_is_applied_and_gone(decoder, tmp_path, orientation):
    from PIL import ImageOps

    path = tmp_path / f"turned{orientation}.tif"
    _picture().save(path, format="TIFF", tiffinfo={274: orientation})
    assert check_header(str(path)).orientation == orientation
    sent = _sent(_decode(decoder(), path)[0])
    upright = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    assert sent.size == upright.size
    assert sent.convert("RGB").tobytes() == upright.tobytes()


def test_a_32bit_bmp_whose_fourth_byte_is_padding_is_sent_opaque(decoder, tmp_path):
    import struct

    im = _picture((64, 40))
    w, h = im.size
    rows = [b"".join(bytes((b, g, r, 0)) for r, g, b in (im.getpixel((x, y)) for x in range(w)))
            for y in reversed(range(h))]  # bottom-up BGRX, the X byte 0 as many Windows tools write it
    pixels = b"".join(rows)
    header = struct.pack("<2sIHHI", b"BM", 54 + len(pixels), 0, 0, 54)
    dib = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 32, 0, len(pixels), 2835, 2835, 0, 0)
    path = tmp_path / "padding.bmp"
    path.write_bytes(header + dib + pixels)
    sent = _sent(_decode(decoder(), path)[0])
    assert sent.mode in ("RGB", "RGBA")
    if sent.mode == "RGBA":
        assert sent.getchannel("A").getextrema() == (255, 255)
    assert sent.convert("RGB").tobytes() == im.tobytes()


@pytest.fixture(scope="module")
def blender_version(tmp_path_factory) -> tuple[int, int]:
    """The version of the Blender the child runs, as the child says (this process has no bpy)."""
    client = DecoderClient([sys.executable, CHILD])
    probe = str(tmp_path_factory.mktemp("probe") / "probe.tif")
    _picture().save(probe, format="TIFF")
    try:
        client.decode(probe, check_header(probe))
    finally:
        client.stop()
    return client.blender_version[:2]


@pytest.mark.parametrize("crasher", ["00r1_graya_la.jp2", "tiff_tiled_cmyk_jpeg.tif"])
def test_a_file_that_crashes_blenders_reader_fails_alone(decoder, tmp_path, crasher, blender_version):
    # Real files from Pillow's test suite: Blender 4.5's reader dies on them (SIGSEGV, SIGABRT).
    client = decoder()
    path = os.path.join(CRASHERS, crasher)
    stopped = f"Blender's reader stopped on {crasher}; convert it to PNG and try again."
    try:
        data, _note = _decode(client, path)
    except BadImage as exc:
        # The JPEG 2000 one corrupts the reader's memory: it crashes, or is read wrong and refused (never sent).
        if "cannot be read" not in exc.message or (blender_version == (4, 5) and crasher.endswith(".tif")):
            assert exc.message == stopped
            assert client.pid is None  # the crashed child is gone, not left behind
    else:  # a Blender whose reader was fixed: then it is a picture like any other
        assert blender_version != (4, 5), "Blender 4.5's reader was expected to crash on this file"
        assert _sent(data).size == Image.open(path).size
    good = tmp_path / "good.tif"
    _picture().save(good, format="TIFF")
    assert _sent(_decode(client, good)[0]).size == (120, 80)  # the next picture goes on, in a new child
    assert client.pid is not None


def test_a_picture_blender_reads_at_the_wrong_size_is_refused(decoder, tmp_path):
    # A header that declares one size while Blender's reader makes another picture of it.
    path = tmp_path / "liar.tif"
    _picture().save(path, format="TIFF")
    info = check_header(str(path))
    with pytest.raises(BadImage, match="liar.tif cannot be read"):
        decoder().decode(str(path), dataclasses.replace(info, width=info.width + 1))


@pytest.mark.parametrize("fault", ["abort", "hang", "memory"])
def test_a_crash_a_hang_or_a_memory_blow_up_is_one_sentence_and_the_next_goes_on(decoder, tmp_path, fault):
    client = decoder(time_limit=8, memory_mb=512, env={"TRIPO_DECODER_TEST_FAULT": f"{fault}:poison"})
    good, bad = tmp_path / "good.tif", tmp_path / "poison.tif"
    _picture().save(good, format="TIFF")
    _picture().save(bad, format="TIFF")
    _decode(client, good)
    began = time.monotonic()
    with pytest.raises(BadImage) as info:
        _decode(client, bad)
    assert info.value.message == "Blender's reader stopped on poison.tif; convert it to PNG and try again."
    assert time.monotonic() - began < 60  # a hang is cut at the time limit
    assert client.pid is None
    data, _ = _decode(client, good)
    assert _sent(data).size == (120, 80) and client.starts == 2


def test_a_damaged_file_is_one_sentence_and_the_child_lives_on(decoder, tmp_path):
    client = decoder()
    good = tmp_path / "good.tif"
    _picture().save(good, format="TIFF")
    _decode(client, good)
    pid = client.pid
    damaged = tmp_path / "damaged.tif"
    damaged.write_bytes(good.read_bytes()[:200])
    try:
        data, _ = _decode(client, damaged)
        _sent(data)  # Blender may read what is there; then it is a picture
    except BadImage as exc:
        assert "damaged.tif" in exc.message and len(exc.message.splitlines()) == 1
    _decode(client, good)
    assert client.pid == pid and client.starts == 1


def test_workers_share_one_child_safely(decoder, tmp_path):
    client = decoder()
    paths = []
    for i in range(6):
        p = tmp_path / f"p{i}.tif"
        _picture((60 + i * 10, 40)).save(p, format="TIFF")
        paths.append(p)
    results: dict = {}

    def work(p):
        results[p.name] = _sent(_decode(client, p)[0]).size

    threads = [threading.Thread(target=work, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results == {p.name: (60 + i * 10, 40) for i, p in enumerate(paths)} and client.starts == 1


def test_the_child_ends_with_its_parent(tmp_path):
    good = tmp_path / "good.tif"
    _picture().save(good, format="TIFF")
    code = (
        "import os, sys\n"
        f"sys.path.insert(0, {REPO!r})\n"
        "from tripo_addon.core.images import check_header\n"
        "from tripo_addon.core.images.decoder_client import DecoderClient\n"
        f"c = DecoderClient([sys.executable, {CHILD!r}])\n"
        f"c.decode({str(good)!r}, check_header({str(good)!r}))\n"
        "print(c.pid, flush=True)\n"
        "os._exit(0)\n"  # no clean-up at all: as if the parent crashed
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    pid = int(out.stdout.split()[-1])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _srgb8(linear: float) -> int:
    v = 12.92 * linear if linear <= 0.0031308 else 1.055 * linear ** (1 / 2.4) - 0.055
    return round(255 * v)


def test_a_float_picture_is_mapped_as_the_image_editor_shows_it(decoder, tmp_path):
    # A Radiance HDR file written by hand, so its linear values are known: 0.25, 0.5 and 2.0 (over 1).
    w, h = 16, 4
    rgbe = bytes((128, 128, 128, 127)) * w * 2 + bytes((128, 128, 128, 128)) * w + bytes((128, 128, 128, 130)) * w
    path = tmp_path / "light.hdr"
    path.write_bytes(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n" + f"-Y {h} +X {w}\n".encode() + rgbe)
    sent = _sent(_decode(decoder(), path)[0]).convert("RGB")
    assert sent.size == (w, h)
    rows = [sent.getpixel((0, y))[0] for y in range(h)]
    # The Standard view transform: linear to sRGB, clipped at 1.0.
    expected = [_srgb8(0.25), _srgb8(0.25), _srgb8(0.5), 255]
    assert all(abs(a - b) <= 1 for a, b in zip(rows, expected, strict=True)), (rows, expected)


def test_a_16bit_picture_is_sent_as_8bit_with_its_values(decoder, tmp_path):
    import numpy as np

    values = np.array([[0, 1000, 20000, 40000, 65535]] * 3, dtype=np.uint16)
    path = tmp_path / "deep.tif"
    Image.fromarray(values).save(path, format="TIFF")
    sent = _sent(_decode(decoder(), path)[0])
    got = [sent.convert("L").getpixel((x, 1)) for x in range(5)]
    assert all(abs(g - round(int(v) / 257)) <= 1 for g, v in zip(got, values[0], strict=True)), got


def test_keep_metadata_keeps_it_on_files_sent_as_they_are_and_a_decoded_picture_has_none(decoder, tmp_path):
    from PIL import ImageOps

    from tripo_addon.core.images.decoder_client import prepare_local

    exif = Image.Exif()
    exif[0x8825] = {2: (48.0, 51.0, 24.0)}  # GPS latitude
    exif[0xA431] = "SERIAL-1234"  # the camera's serial number
    upright, turned = tmp_path / "upright.jpg", tmp_path / "turned.jpg"
    _picture().save(upright, exif=exif.tobytes(), quality=95)
    exif[274] = 6
    _picture().save(turned, exif=exif.tobytes(), quality=95)
    client = decoder()
    kept, _ = prepare_local(str(upright), client, keep_metadata=True)
    assert kept.data == upright.read_bytes() and client.starts == 0  # as it is: no decode at all
    stripped, _ = prepare_local(str(upright), client)
    assert b"SERIAL-1234" not in stripped.data and client.starts == 0
    decoded, _ = prepare_local(str(turned), client, keep_metadata=True)
    sent = Image.open(io.BytesIO(decoded.data))
    assert client.starts == 1 and b"SERIAL-1234" not in decoded.data and not sent.getexif()
    assert sent.size == ImageOps.exif_transpose(Image.open(turned)).size == (80, 120)


def test_a_turned_16bit_picture_keeps_its_values(decoder, tmp_path):
    import numpy as np

    values = np.array([[0, 1000, 20000, 40000, 65535]] * 3, dtype=np.uint16)
    path = tmp_path / "deep-turned.png"
    exif = Image.Exif()
    exif[274] = 6
    Image.fromarray(values).save(path, exif=exif.tobytes())
    data, note = _decode(decoder(), path)
    sent = _sent(data)
    assert sent.size == (3, 5) and "8-bit" in note
    got = [sent.convert("L").getpixel((1, y)) for y in range(5)]
    assert all(abs(g - round(int(v) / 257)) <= 1 for g, v in zip(got, values[0], strict=True)), got
