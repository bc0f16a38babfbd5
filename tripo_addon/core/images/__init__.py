"""Checking what the user picked and keeping what will be sent: the images package.

An http(s) URL is passed on as is. A local file's header is read first
(:mod:`.headers`); an upright PNG, JPEG or WebP within the limits keeps its
pixels, with its metadata removed (:mod:`.metadata`), and
:mod:`..storage.delivery` decides how it travels. Any other picture is decoded
apart, turned upright and made to fit (:mod:`.fitting`, :mod:`.pixels`).
"""

from .fitting import MAX_EDGE_PX, MAX_INLINE_BYTES
from .headers import ImageInfo, check_header, sniff
from .prepared import PreparedImage, check_complete, check_size, data_uri, is_url, prepare, read_local_image, sendable_as_is

__all__ = [
    "MAX_EDGE_PX", "MAX_INLINE_BYTES", "ImageInfo", "PreparedImage", "check_complete", "check_header",
    "check_size", "data_uri", "is_url", "prepare", "read_local_image", "sendable_as_is", "sniff",
]
