"""The header check of image blocks from peers: still WebP, exact length, bounded size."""

import io
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from umbra.core import MAX_IMAGE_SIDE, InvalidDocument, is_still_webp, still_webp_size


def _webp(size: tuple[int, int], mode: str = "RGB", **options: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (10, 20, 30, 128)[: len(mode)]).save(out, "WEBP", **options)
    return out.getvalue()


@pytest.mark.parametrize(
    ("mode", "options", "chunk"),
    [("RGB", {}, b"VP8 "), ("RGB", {"lossless": True}, b"VP8L"), ("RGBA", {}, b"VP8X")],
)
def test_each_kind_of_still_webp_gives_its_size(mode: str, options: dict, chunk: bytes) -> None:  # type: ignore[type-arg]
    data = _webp((37, 23), mode, **options)
    assert data[12:16] == chunk
    assert still_webp_size(data) == (37, 23)


def _with_canvas(width: int, height: int) -> bytes:
    data = bytearray(_webp((8, 8), "RGBA"))  # VP8X: canvas size in 24-bit fields
    data[24:30] = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return bytes(data)


def test_declared_size_at_and_past_the_limit() -> None:
    assert still_webp_size(_with_canvas(MAX_IMAGE_SIDE, MAX_IMAGE_SIDE)) == (4096, 4096)
    for width, height in ((MAX_IMAGE_SIDE + 1, 1), (1, MAX_IMAGE_SIDE + 1), (16_384, 16_384)):
        with pytest.raises(InvalidDocument, match="declares"):
            still_webp_size(_with_canvas(width, height))


def test_lossless_header_declaring_a_bomb_is_refused() -> None:
    data = bytearray(_webp((8, 8), lossless=True))
    bits = struct.unpack_from("<I", data, 21)[0]
    data[21:25] = struct.pack("<I", bits | 0x0FFF_FFFF)  # 16384 × 16384
    with pytest.raises(InvalidDocument, match="declares"):
        still_webp_size(bytes(data))


def test_animation_is_refused() -> None:
    frames = [Image.new("RGB", (8, 8), (n * 80, 0, 0)) for n in range(2)]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:])
    with pytest.raises(InvalidDocument, match="animated"):
        still_webp_size(out.getvalue())


def test_length_must_match_the_riff_header() -> None:
    data = _webp((8, 8))
    for bad in (data[:-1], data + b"\x00", data[:30]):
        with pytest.raises(InvalidDocument, match="RIFF length"):
            still_webp_size(bad)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"RIFF",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 30,
        b"<html><script>alert(1)</script></html>",
        b"RIFF\x0c\x00\x00\x00WEBPVP8 \x00\x00\x00\x00",  # an empty frame
    ],
)
def test_other_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidDocument):
        still_webp_size(data)
    assert not is_still_webp(data)


@settings(max_examples=300)
@given(st.binary(max_size=64), st.sampled_from([b"VP8 ", b"VP8L", b"VP8X", b"ALPH"]))
def test_any_header_is_judged_without_crashing(tail: bytes, chunk: bytes) -> None:
    body = b"WEBP" + chunk + struct.pack("<I", len(tail)) + tail
    data = b"RIFF" + struct.pack("<I", len(body)) + body
    try:
        width, height = still_webp_size(data)
    except InvalidDocument:
        return
    assert 1 <= width <= MAX_IMAGE_SIDE and 1 <= height <= MAX_IMAGE_SIDE
