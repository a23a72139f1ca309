"""The header of a listing image block, checked without decoding it.

A listing names its images by CID; the blocks come from the seller's node and are served to
the browser as ``image/webp``. The node never decodes them, but a browser will, so before a
block is stored or served we read its header (a few dozen bytes, constant work) and insist on
what Umbra itself produces (`umbra.market.process_image`): one still WebP image in a RIFF
container whose length matches the block, with declared dimensions no larger than
`MAX_IMAGE_SIDE`. That keeps decompression bombs (a 16383 × 16383 canvas in a few hundred
bytes), animations and other file types out of every page that shows a stranger's image.
"""

import struct

from ._errors import InvalidDocument

# The largest side an `ImageRef` may declare; Umbra's own images are at most 1600 pixels.
MAX_IMAGE_SIDE = 4096
_VP8_START_CODE = b"\x9d\x01\x2a"
_VP8L_SIGNATURE = 0x2F
_VP8X_ANIMATION = 0x02


def _bad(detail: str) -> InvalidDocument:
    return InvalidDocument("bad-image", detail)


def _vp8_size(payload: bytes) -> tuple[int, int]:
    # Lossy: a 3-byte frame tag (bit 0 clear on a key frame), the start code, then 14-bit
    # width and height (the top two bits of each are a scaling hint).
    if len(payload) < 10 or payload[3:6] != _VP8_START_CODE or payload[0] & 0x01:
        raise _bad("the VP8 frame header is malformed")
    width, height = struct.unpack_from("<HH", payload, 6)
    return width & 0x3FFF, height & 0x3FFF


def _vp8l_size(payload: bytes) -> tuple[int, int]:
    # Lossless: a signature byte, then width-1 and height-1 in 14 bits each, an alpha bit and
    # a 3-bit version that must be 0.
    if len(payload) < 5 or payload[0] != _VP8L_SIGNATURE:
        raise _bad("the VP8L header is malformed")
    (bits,) = struct.unpack_from("<I", payload, 1)
    if bits >> 29:
        raise _bad("unknown VP8L version")
    return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1


def _vp8x_size(payload: bytes) -> tuple[int, int]:
    # Extended: flags, 3 reserved bytes, then canvas width-1 and height-1 in 24 bits each.
    if len(payload) < 10:
        raise _bad("the VP8X header is malformed")
    if payload[0] & _VP8X_ANIMATION:
        raise _bad("animated images are not accepted")
    width = int.from_bytes(payload[4:7], "little") + 1
    height = int.from_bytes(payload[7:10], "little") + 1
    return width, height


_FIRST_CHUNK = {b"VP8 ": _vp8_size, b"VP8L": _vp8l_size, b"VP8X": _vp8x_size}


def still_webp_size(data: bytes) -> tuple[int, int]:
    """The (width, height) a still WebP image declares, read from its header only.

    Raises:
        InvalidDocument: reason ``bad-image``: not a RIFF/WebP container of exactly this
            length, an unknown or malformed first chunk, an animation, or a side longer than
            `MAX_IMAGE_SIDE`.
    """
    if len(data) < 20 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise _bad("not a WebP image")
    (riff_size,) = struct.unpack_from("<I", data, 4)
    if riff_size + 8 != len(data):
        raise _bad("the RIFF length does not match the image's size")
    fourcc = data[12:16]
    (chunk_size,) = struct.unpack_from("<I", data, 16)
    if chunk_size > len(data) - 20:
        raise _bad("the first chunk is longer than the image")
    read_size = _FIRST_CHUNK.get(fourcc)
    if read_size is None:
        raise _bad("unknown WebP chunk")
    width, height = read_size(data[20 : 20 + chunk_size])
    if not (1 <= width <= MAX_IMAGE_SIDE and 1 <= height <= MAX_IMAGE_SIDE):
        raise _bad(f"the image declares {width} × {height} pixels (at most {MAX_IMAGE_SIDE})")
    return width, height


def is_still_webp(data: bytes) -> bool:
    """Whether `still_webp_size` accepts ``data``."""
    try:
        still_webp_size(data)
    except InvalidDocument:
        return False
    return True
