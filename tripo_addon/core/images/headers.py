"""What an image file's header says (format, size, orientation, pixel layout),
read before any of its body: :func:`sniff` and :func:`check_header`.

PNG, JPEG and WebP can be sent as they are; the other formats Blender reads
(BMP, TIFF, DDS, OpenEXR, Radiance HDR, JPEG 2000, TGA, Iris, Cineon, DPX,
PSD) and GIF are recognised so that the size is known, and a file declaring
too many pixels is refused, before anything decodes it.
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass

from ..errors import BadImage
from . import orientation as orient
from .orientation import Read

MIME_BY_FORMAT = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
#: How much of a file is read to learn what it is (a JPEG's frame can follow 64 KB of EXIF).
HEAD_BYTES = 256 * 1024
#: Most pixels a file may declare (16k x 16k); ``TRIPO3D_MAX_PIXELS`` changes it.
DEFAULT_MAX_PIXELS = 16384 * 16384
#: Largest file read at all.
MAX_FILE_BYTES = 2 * 1024 * 1024 * 1024
#: How much more may be read past the head, for headers that point further in.
FAR_BYTES = 64 * 1024
#: Formats Blender's own readers take (GIF only through FFmpeg, where a build has it).
BLENDER_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "BMP", "TIFF", "DDS", "OPEN_EXR", "HDR", "JPEG2000", "TARGA",
                             "IRIS", "CINEON", "DPX", "PSD"})
TGA_EXTENSIONS = (".tga", ".tpic", ".icb", ".vda", ".vst")


@dataclass(frozen=True)
class ImageInfo:
    """What the first bytes of an image say about it.

    ``bits``: bits per pixel (all channels) and ``channels`` when the header
    says (0: it does not); ``alpha``:
    whether it declares an alpha channel (None: it does not say);
    ``compression`` and ``photometric``: the BMP/TIFF codes; ``alpha_mask``:
    a BMP's alpha bit mask; ``top_down``: rows stored from the top (BMP).
    """

    format: str  # upper case: "PNG", "JPEG", "WEBP", "BMP", "TIFF", ...
    width: int  # as stored, before any orientation
    height: int
    orientation: int = 1  # EXIF/TIFF 1..8; 1 is upright
    bits: int = 0
    channels: int = 0
    alpha: bool | None = None
    compression: int = 0
    photometric: int = -1
    alpha_mask: int = 0
    top_down: bool = False

    @property
    def sendable(self) -> bool:
        """Whether the gateway takes this format as it is (PNG, JPEG, WebP)."""
        return self.format in MIME_BY_FORMAT

    @property
    def blender_reads(self) -> bool:
        """Whether Blender's own readers take this format (so a failure means a damaged file)."""
        return self.format in BLENDER_FORMATS

    @property
    def mime(self) -> str:
        return MIME_BY_FORMAT[self.format]

    @property
    def upright_size(self) -> tuple[int, int]:
        """(width, height) once turned upright: orientations 5..8 swap the stored edges."""
        return (self.height, self.width) if self.orientation >= 5 else (self.width, self.height)

    @property
    def pixels(self) -> int:
        return self.width * self.height


def sniff(data: bytes, name: str = "") -> ImageInfo | None:
    """Format and size from the first bytes of an image, or None if it is no image we know.

    ``name`` (the file's name) is only used for TGA, which has no signature.
    """
    return sniff_with(lambda o, n: data[o : o + n] if o >= 0 else b"", name)


def sniff_with(read: Read, name: str = "") -> ImageInfo | None:
    """:func:`sniff` reading through ``read(offset, size)``."""
    head = read(0, 128)
    for _kind, test, parse in _PARSERS:
        if test(head):
            try:
                info = parse(read, head)
            except (struct.error, ValueError, IndexError):
                return None
            return info if info and info.width > 0 and info.height > 0 else None
    if name.lower().endswith(TGA_EXTENSIONS):
        return _tga(head)
    return None


def signature(head: bytes) -> str | None:
    """The kind of image the first bytes say a file is ("TIFF", "PNG", ...), whether or not the rest
    of its header can be read; None when they name no kind we know."""
    return next((kind for kind, test, _parse in _PARSERS if test(head)), None)


def not_an_image(name: str, head: bytes) -> BadImage:
    """The sentence for a file whose header could not be read: a damaged file of a kind its first
    bytes name, or no image at all."""
    kind = signature(head)
    if kind is not None:
        return BadImage(f"{name} cannot be read: it looks like a {kind} file, but its header is damaged or cut "
                        "short (an interrupted copy or download?); save or copy it again.")
    return BadImage(f"{name} is not a PNG, JPEG or WebP image, nor another image Blender can read; "
                    "convert it to PNG or JPEG and try again.")


def pixel_limit() -> int:
    """The pixel limit: ``TRIPO3D_MAX_PIXELS`` when set to a positive number, else 16k x 16k."""
    try:
        value = int(os.environ.get("TRIPO3D_MAX_PIXELS", "") or DEFAULT_MAX_PIXELS)
    except ValueError:
        return DEFAULT_MAX_PIXELS
    return value if value > 0 else DEFAULT_MAX_PIXELS


def check_header(path: str, *, max_pixels: int | None = None, max_bytes: int = MAX_FILE_BYTES) -> ImageInfo:
    """Stat ``path`` and read at most its header; the :class:`ImageInfo`, or
    :class:`BadImage` with one sentence when it is missing, no regular file,
    empty, no image, or declares more bytes or pixels than allowed."""
    limit = pixel_limit() if max_pixels is None else max_pixels
    name = os.path.basename(path) or path
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise BadImage(f"The image file {path} does not exist; check the path.") from None
    except OSError as exc:
        raise BadImage(f"Could not read the image file {name} ({exc.strerror}); check its permissions.") from None
    if stat.S_ISDIR(st.st_mode):
        raise BadImage(f"{path} is a folder, not an image file; give a PNG, JPEG or WebP file.")
    if not stat.S_ISREG(st.st_mode):
        raise BadImage(f"{name} is not a regular file; give a PNG, JPEG or WebP file.")
    if st.st_size == 0:
        raise BadImage(f"The image file {name} is empty; give a PNG, JPEG or WebP image.")
    if st.st_size > max_bytes:
        raise BadImage(f"{name} is {st.st_size / 2**30:.1f} GB, over the {max_bytes / 2**30:g} GB a picture "
                       "may have; save it smaller and try again.")
    try:
        with open(path, "rb", buffering=0) as f:  # unbuffered: no read-ahead past what is asked
            reader = _FileReader(f)
            info = sniff_with(reader, name)
    except OSError as exc:
        raise BadImage(f"Could not read the image file {name} ({exc.strerror}); check its permissions.") from None
    if info is None:
        raise not_an_image(name, reader.head)
    if info.pixels > limit:
        raise BadImage(f"{name} declares {info.width}x{info.height} pixels, over the limit of {limit:,} "
                       "pixels (TRIPO3D_MAX_PIXELS); scale it down and try again.")
    return info


class _FileReader:
    """``read(offset, size)`` on an open file: its first :data:`HEAD_BYTES`
    are read once; past them (a TIFF's IFD at the end), at most
    :data:`FAR_BYTES` more in all."""

    def __init__(self, f):
        self.f, self.budget = f, FAR_BYTES
        self.head = f.read(HEAD_BYTES)

    def __call__(self, offset: int, size: int) -> bytes:
        if offset < 0 or size <= 0:
            return b""
        if offset + size <= len(self.head) or len(self.head) < HEAD_BYTES:
            return self.head[offset : offset + size]
        size = min(size, self.budget)
        self.f.seek(offset)
        data = self.f.read(size)
        self.budget -= len(data)
        return data


# --- one parser per format ---------------------------------------------------

def _png(read: Read, head: bytes) -> ImageInfo | None:
    if head[12:16] != b"IHDR":
        return None
    w, h, depth, colour = struct.unpack(">IIBB", head[16:26])
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour, 0)
    return ImageInfo("PNG", w, h, orient.png(read), bits=depth * channels, channels=channels, alpha=colour in (4, 6))


def _jpeg(read: Read, head: bytes) -> ImageInfo | None:
    pos = 2
    while True:
        seg = read(pos, 10)
        if len(seg) < 4:
            return None
        if seg[0] != 0xFF:
            pos += 1
            continue
        marker = seg[1]
        if marker in (0xD8, 0x01, 0xFF) or 0xD0 <= marker <= 0xD7:
            pos += 1 if marker == 0xFF else 2
            continue
        (length,) = struct.unpack(">H", seg[2:4])
        # Start-of-frame markers carry the size; C4, C8 and CC are not frames.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if len(seg) < 10:
                return None
            depth, h, w, comps = struct.unpack(">BHHB", seg[4:10])
            return ImageInfo("JPEG", w, h, orient.jpeg(read), bits=depth * comps, channels=comps, alpha=False)
        if marker == 0xDA:
            return None
        pos += 2 + length


def _webp(read: Read, head: bytes) -> ImageInfo | None:
    chunk, data = head[12:16], head
    if chunk == b"VP8 " and len(data) >= 30:
        w, h = struct.unpack("<HH", data[26:30])
        return ImageInfo("WEBP", w & 0x3FFF, h & 0x3FFF, alpha=False)
    if chunk == b"VP8L" and len(data) >= 25:
        b = data[21:25]
        w = 1 + (((b[1] & 0x3F) << 8) | b[0])
        h = 1 + (((b[3] & 0xF) << 10) | (b[2] << 2) | ((b[1] & 0xC0) >> 6))
        return ImageInfo("WEBP", w, h, alpha=bool(b[3] & 0x10))
    if chunk == b"VP8X" and len(data) >= 30:
        flags = data[20]
        w = 1 + int.from_bytes(data[24:27], "little")
        h = 1 + int.from_bytes(data[27:30], "little")
        turn = orient.webp(read) if flags & 0x08 else 1
        return ImageInfo("WEBP", w, h, turn, alpha=bool(flags & 0x10))
    return None


def _bmp(read: Read, head: bytes) -> ImageInfo | None:
    (dib,) = struct.unpack("<I", head[14:18])
    if dib == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        w, h, _planes, bits = struct.unpack("<HHHH", head[18:26])
        return ImageInfo("BMP", w, h, bits=bits, alpha=False)
    if dib < 40 or len(head) < 54:
        return None
    w, h, _planes, bits, compression = struct.unpack("<iiHHI", head[18:34])
    alpha_mask = 0
    if dib >= 56:  # V3 and later hold the masks in the header
        alpha_mask = struct.unpack("<I", head[66:70])[0]
    elif compression == 6 and dib == 40:  # BI_ALPHABITFIELDS: four masks after the header
        alpha_mask = struct.unpack("<I", read(66, 4).ljust(4, b"\0"))[0]
    real_alpha = bits == 32 and compression in (3, 6) and alpha_mask != 0
    return ImageInfo("BMP", abs(w), abs(h), bits=bits, alpha=real_alpha, compression=compression,
                     alpha_mask=alpha_mask, top_down=h < 0)


_TIFF_TAGS = {256, 257, 258, 259, 262, 274, 277, 338}


def _tiff(read: Read, head: bytes) -> ImageInfo | None:
    little = head[:2] == b"II"
    e = "<" if little else ">"
    big = head[2:4] in (b"+\x00", b"\x00+")  # BigTIFF: 8-byte offsets
    (first,) = struct.unpack(e + "Q", head[8:16]) if big else struct.unpack(e + "I", head[4:8])
    tags = orient.read_ifd(read, first, little, _TIFF_TAGS, big=big)
    if 256 not in tags or 257 not in tags:
        return None
    samples = tags.get(277, (1,))[0]
    bits = sum(tags.get(258, (1,))[:samples]) or samples
    photometric = tags.get(262, (-1,))[0]
    alpha = 338 in tags or (photometric == 2 and samples > 3)
    return ImageInfo("TIFF", tags[256][0], tags[257][0], orient.valid(tags.get(274, (1,))[0]), bits=bits,
                     channels=samples, alpha=alpha, compression=tags.get(259, (1,))[0], photometric=photometric)


def _gif(read: Read, head: bytes) -> ImageInfo:
    w, h = struct.unpack("<HH", head[6:10])
    return ImageInfo("GIF", w, h, bits=8)


def _dds(read: Read, head: bytes) -> ImageInfo:
    h, w = struct.unpack("<II", head[12:20])
    return ImageInfo("DDS", w, h)


def _exr(read: Read, head: bytes) -> ImageInfo | None:
    block = read(8, 64 * 1024)  # attributes: name\0 type\0 size value, until an empty name
    pos = 0
    while True:
        name_end = block.find(b"\0", pos)
        type_end = block.find(b"\0", name_end + 1)
        if name_end <= pos or type_end < 0:
            return None
        (size,) = struct.unpack("<i", block[type_end + 1 : type_end + 5])
        if size < 0:
            return None
        value = block[type_end + 5 : type_end + 5 + size]
        if block[pos:name_end] == b"dataWindow" and len(value) == 16:
            x0, y0, x1, y1 = struct.unpack("<iiii", value)
            return ImageInfo("OPEN_EXR", x1 - x0 + 1, y1 - y0 + 1)
        pos = type_end + 5 + size


def _hdr(read: Read, head: bytes) -> ImageInfo | None:
    text = read(0, 8192)
    end = text.find(b"\n\n")
    if end < 0:
        return None
    line = text[end + 2 :].split(b"\n", 1)[0].split()
    if len(line) != 4:
        return None
    sizes = {line[0][-1:]: int(line[1]), line[2][-1:]: int(line[3])}
    if set(sizes) != {b"X", b"Y"}:
        return None
    return ImageInfo("HDR", sizes[b"X"], sizes[b"Y"], bits=32)


def _jp2(read: Read, head: bytes) -> ImageInfo | None:
    if head[:2] == b"\xff\x4f":  # a bare codestream: SOC then SIZ
        return _j2k_siz(head[4:])
    pos = 0
    while True:  # boxes: jP, ftyp, then jp2h holding ihdr
        box = read(pos, 8)
        if len(box) < 8:
            return None
        length, kind = struct.unpack(">I4s", box)
        if kind == b"jp2h":
            inner = read(pos + 8, 64)
            if inner[4:8] == b"ihdr":
                h, w, comps, bpc = struct.unpack(">IIHB", inner[8:19])
                return ImageInfo("JPEG2000", w, h, bits=comps * ((bpc & 0x7F) + 1), channels=comps,
                                 alpha=comps in (2, 4))
            return None
        if kind == b"jp2c":
            return _j2k_siz(read(pos + 12, 64))
        if length < 8:
            return None
        pos += length


def _j2k_siz(siz: bytes) -> ImageInfo | None:
    _lsiz, _rsiz, xs, ys, xo, yo = struct.unpack(">HHIIII", siz[:20])
    (comps,) = struct.unpack(">H", siz[36:38])
    return ImageInfo("JPEG2000", xs - xo, ys - yo, channels=comps, alpha=comps in (2, 4))


def _tga(head: bytes) -> ImageInfo | None:
    if len(head) < 18 or head[1] not in (0, 1) or head[2] not in (1, 2, 3, 9, 10, 11, 32, 33):
        return None
    w, h, depth, descriptor = struct.unpack("<HHBB", head[12:18])
    if depth not in (8, 15, 16, 24, 32):
        return None
    return ImageInfo("TARGA", w, h, bits=depth, alpha=bool(descriptor & 0x0F), top_down=bool(descriptor & 0x20))


def _iris(read: Read, head: bytes) -> ImageInfo:
    _storage, bpc, _dim, w, h, z = struct.unpack(">BBHHHH", head[2:12])
    return ImageInfo("IRIS", w, h, bits=8 * bpc * z, channels=z, alpha=z == 4)


def _cineon(read: Read, head: bytes) -> ImageInfo:
    e = ">" if head[:4] == b"\x80\x2a\x5f\xd7" else "<"
    block = read(192, 16)
    w, h = struct.unpack(e + "II", block[8:16])
    return ImageInfo("CINEON", w, h, bits=block[6] * block[1])


def _dpx(read: Read, head: bytes) -> ImageInfo:
    e = ">" if head[:4] == b"SDPX" else "<"
    block = read(768, 36)
    w, h = struct.unpack(e + "II", block[4:12])
    return ImageInfo("DPX", w, h, bits=block[35])


def _psd(read: Read, head: bytes) -> ImageInfo:
    channels, h, w, depth = struct.unpack(">HIIH", head[12:24])
    return ImageInfo("PSD", w, h, bits=channels * depth, channels=channels, alpha=channels in (2, 4, 5))


#: (the kind the first bytes name, the test of those bytes, the parser of the header).
_PARSERS = (
    ("PNG", lambda h: h[:8] == b"\x89PNG\r\n\x1a\n", _png),
    ("JPEG", lambda h: h[:3] == b"\xff\xd8\xff", _jpeg),
    ("WebP", lambda h: h[:4] == b"RIFF" and h[8:12] == b"WEBP", _webp),
    ("BMP", lambda h: h[:2] == b"BM" and len(h) >= 26, _bmp),
    ("TIFF", lambda h: h[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"), _tiff),
    ("GIF", lambda h: h[:6] in (b"GIF87a", b"GIF89a"), _gif),
    ("DDS", lambda h: h[:4] == b"DDS " and len(h) >= 20, _dds),
    ("OpenEXR", lambda h: h[:4] == b"\x76\x2f\x31\x01", _exr),
    ("Radiance HDR", lambda h: h[:10] == b"#?RADIANCE" or h[:6] == b"#?RGBE", _hdr),
    ("JPEG 2000", lambda h: h[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n" or h[:4] == b"\xff\x4f\xff\x51", _jp2),
    ("Iris", lambda h: h[:2] == b"\x01\xda", _iris),
    ("Cineon", lambda h: h[:4] in (b"\x80\x2a\x5f\xd7", b"\xd7\x5f\x2a\x80"), _cineon),
    ("DPX", lambda h: h[:4] in (b"SDPX", b"XPDS"), _dpx),
    ("Photoshop", lambda h: h[:4] == b"8BPS", _psd),
)
