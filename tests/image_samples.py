"""Pictures that carry private metadata (EXIF with GPS and a serial number, XMP,
IPTC, comments, a trailer), made with Pillow, for the tests that prove it stays home."""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image, ImageCms

SECRETS = (b"Jane Doe", b"SERIAL-12345", b"Secret Street", b"private note", b"xmp-creator-name")
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description dc:creator="xmp-creator-name"/></rdf:RDF></x:xmpmeta>')
ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def private_exif(orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[0x013B] = "Jane Doe"  # Artist
    exif[0x010E] = "Secret Street"  # ImageDescription
    exif[274] = orientation
    exif.get_ifd(0x8769)[0xA431] = "SERIAL-12345"  # BodySerialNumber
    exif.get_ifd(0x8825).update({1: "N", 2: (52.0, 22.0, 1.0), 3: "E", 4: (4.0, 53.0, 2.0)})  # GPS
    return exif.tobytes()


def photo(mode: str = "RGB", size=(120, 80)) -> Image.Image:
    rng = np.random.default_rng(11)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 4), dtype=np.uint8), "RGBA").convert(mode)


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def private_jpeg(orientation: int = 1, **kw) -> bytes:
    buf = io.BytesIO()
    photo().save(buf, format="JPEG", exif=private_exif(orientation), comment=b"private note", icc_profile=ICC,
                 quality=90, **kw)
    data = buf.getvalue()
    iptc = b"Photoshop 3.0\x008BIM\x04\x04\x00\x00" + struct.pack(">I", 14) + b"\x1c\x02\x50\x00\x08Jane Doe" + b"\0"
    extra = segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP) + segment(0xED, iptc)
    extra += segment(0xE5, b"maker notes SERIAL-12345")
    trailer = b"MotionPhoto video by Jane Doe"  # what some phones append after the picture
    return data[:2] + extra + data[2:] + trailer
