"""Damaged headers never raise nor hang: every sample of the header tests, cut
short at many points and with bytes flipped, gives an ImageInfo or None, and
stripping the metadata of a damaged PNG, JPEG or WebP returns bytes."""

from __future__ import annotations

import random

import pytest
from image_samples import private_jpeg
from test_images_headers import HAND_CASES, PILLOW_CASES

from tripo_addon.core.images import sniff
from tripo_addon.core.images.headers import ImageInfo
from tripo_addon.core.images.metadata import strip

SAMPLES = {**{k: f for k, f in PILLOW_CASES.items()}, **{k: (lambda d=d: d) for k, (d, _w) in HAND_CASES.items()},
           "private_jpeg": private_jpeg}


def damaged(data: bytes, rng: random.Random, count: int = 60):
    for cut in sorted({0, 1, 2, 4, 8, 12, 16, 20, 24, 30, 40, 64, 100, 200, len(data) // 2, len(data) - 1}):
        yield data[:cut]
    for _ in range(count):
        buf = bytearray(data[:4096])
        for _ in range(rng.randint(1, 6)):
            buf[rng.randrange(4, len(buf))] = rng.randrange(256)  # keep the signature: the parser runs
        yield bytes(buf)


@pytest.mark.parametrize("case", sorted(SAMPLES))
def test_damaged_headers_give_an_answer(case):
    rng = random.Random(case)
    data = SAMPLES[case]()
    for bad in damaged(data, rng):
        info = sniff(bad, name="x.tga")
        assert info is None or isinstance(info, ImageInfo) and info.width > 0 and info.height > 0
        if info is not None and info.sendable:
            assert isinstance(strip(bad, info), bytes)
