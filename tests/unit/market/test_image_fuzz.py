"""Structure-aware fuzzing of image intake: valid images made with Pillow, then broken.

Property: `process_image` either returns a clean result (two still WebP blocks that pass the
check every node applies to peers' images) or raises `UsageError`; never another exception,
whatever is wrong with the EXIF/APP1 segment, the lengths, the declared dimensions or the
end of the file. Valid JPEG, PNG and WebP images are always accepted.

The number of examples per property is ``UMBRA_FUZZ_EXAMPLES`` (default small, so the normal
run stays well under a minute); a longer run is e.g. ``UMBRA_FUZZ_EXAMPLES=20000``.
"""

import io
import os
import struct
import warnings
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, TiffTags

from umbra.core import UsageError, still_webp_size
from umbra.market import ProcessedImage, process_image

EXAMPLES = int(os.environ.get("UMBRA_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
MODES = {
    "JPEG": ("RGB", "L", "CMYK"),
    "PNG": ("RGB", "RGBA", "L", "LA", "P", "1", "I;16"),
    "WEBP": ("RGB", "RGBA"),
    "GIF": ("P", "L"),
}
TAG_VALUES = st.one_of(
    st.integers(-(2**31), 2**32 - 1),
    st.text(max_size=20),
    st.binary(max_size=20),
    st.tuples(st.floats(0, 1e6, allow_nan=False), st.floats(0, 1e6, allow_nan=False)),
)
KNOWN_TAGS = st.sampled_from(sorted(TiffTags.TAGS_V2))
EXIF_TAGS = st.sampled_from([0x0112, 0x010F, 0x0110, 0x8825, 0x8769, 0x0132, 0x9003, 0xA002])


@st.composite
def valid_images(draw: st.DrawFn) -> tuple[str, bytes]:
    """A real image file in one of the formats, with EXIF where the format carries it."""
    fmt = draw(st.sampled_from(FORMATS))
    mode = draw(st.sampled_from(MODES[fmt]))
    size = (draw(st.integers(1, 48)), draw(st.integers(1, 48)))
    draw_offset = draw(st.integers(0, 255))
    # A gradient with a random offset: real image data for the encoders, not one flat colour.
    base = Image.eval(Image.radial_gradient("L").resize(size), lambda v: (v + draw_offset) % 256)
    image = base.convert("I").convert(mode) if mode == "I;16" else base.convert(mode)
    kwargs: dict[str, object] = {}
    if fmt in ("JPEG", "PNG", "WEBP") and draw(st.booleans()):
        exif = Image.Exif()
        exif[0x0112] = draw(st.integers(0, 10))  # orientation, sometimes out of range
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for tag, value in draw(st.dictionaries(EXIF_TAGS, TAG_VALUES, max_size=4)).items():
                try:
                    exif[tag] = value
                    exif.tobytes()
                except Exception:  # Pillow cannot write every value; leave it out
                    del exif[tag]
            kwargs["exif"] = exif.tobytes()
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's notes about the odd EXIF values above
        image.save(out, fmt, **kwargs)
    return fmt, out.getvalue()


def _app1(draw: st.DrawFn) -> bytes:
    """A malformed EXIF (APP1) segment: TIFF header, an IFD of entries with wrong types,
    counts and offsets (next to a valid rotation, so the rotation code reads them), a lying
    segment length."""
    order = draw(st.sampled_from([b"II*\x00", b"MM\x00*", b"II\x00\x00"]))
    fmt = "<" if order.startswith(b"II") else ">"
    entries = []
    if draw(st.integers(0, 9)) < 7:  # SHORT orientation 2..8: the image gets rotated
        entries.append(struct.pack(fmt + "HHIHH", 0x0112, 3, 1, draw(st.integers(2, 8)), 0))
    for _ in range(draw(st.integers(0, 6))):
        # Tags Pillow knows (it re-encodes them by their known type when it drops the
        # rotation) given another type: ASCII for a number, a number for text, and so on.
        tag = draw(KNOWN_TAGS | st.integers(0, 0xFFFF))
        kind = draw(st.sampled_from([1, 2, 3, 4, 5, 7, 10, 12]) | st.integers(0, 13))
        count = draw(st.integers(0, 4) | st.integers(0, 2**32 - 1))  # sometimes huge
        value = draw(st.binary(min_size=4, max_size=4) | st.integers(0, 2**32 - 1))
        if isinstance(value, bytes):  # inline data (e.g. "Cam\0"), not an offset
            value = struct.unpack(fmt + "I", value)[0]
        entries.append(struct.pack(fmt + "HHII", tag, kind, count, value))
    count = draw(st.integers(0, 0xFFFF)) if draw(st.integers(0, 9)) == 0 else len(entries)
    ifd = struct.pack(fmt + "H", count) + b"".join(entries)
    ifd += struct.pack(fmt + "I", draw(st.sampled_from([0, 8, 2**31])))  # next IFD
    offset = struct.pack(fmt + "I", draw(st.sampled_from([8, 8, 8, 0, 4, 2**31, 7])))
    body = b"Exif\x00\x00" + order + offset + ifd + draw(st.binary(max_size=48))
    length = len(body) + 2
    if draw(st.integers(0, 4)) == 0:
        length = draw(st.integers(0, 0xFFFF))  # a wrong segment length
    return b"\xff\xe1" + struct.pack(">H", length) + body


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def _huge_dimensions(draw: st.DrawFn, fmt: str, data: bytes) -> bytes:
    width, height = draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFF))
    b = bytearray(data)
    if fmt == "JPEG":
        for marker in (b"\xff\xc0", b"\xff\xc2"):  # SOF0 / SOF2: P, height, width
            at = data.find(marker)
            if at >= 0:
                b[at + 5 : at + 9] = struct.pack(">HH", height, width)
    elif fmt == "PNG":
        big = (draw(st.integers(0, 2**31 - 1)), draw(st.integers(0, 2**31 - 1)))
        ihdr = struct.pack(">II", *big) + bytes(b[24:29])
        fixed = (
            _png_chunk(b"IHDR", ihdr)
            if draw(st.booleans())
            else b[8:12] + b"IHDR" + ihdr + b[29:33]
        )
        b[8:33] = fixed
    elif fmt == "WEBP" and data[12:16] == b"VP8X":
        b[24:30] = min(width * 300, 0xFFFFFF).to_bytes(3, "little") + min(
            height * 300, 0xFFFFFF
        ).to_bytes(3, "little")
    elif fmt == "WEBP" and data[12:16] == b"VP8L":
        bits = ((width & 0x3FFF) | ((height & 0x3FFF) << 14)) | (data[24] >> 4 & 1) << 28
        b[21:25] = struct.pack("<I", bits)
    elif fmt == "WEBP":
        b[26:30] = struct.pack("<HH", width, height)
    return bytes(b)


@st.composite
def hostile_images(draw: st.DrawFn) -> bytes:
    """A valid image broken in one structured way (or several)."""
    fmt, data = draw(valid_images())
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["app1", "truncate", "flip", "length", "dimensions", "splice"]))
        if how == "app1" and data.startswith(b"\xff\xd8"):
            data = data[:2] + _app1(draw) + data[2:]
        elif how == "truncate":
            data = data[: draw(st.integers(0, len(data)))]
        elif how == "flip" and data:
            at = draw(st.integers(0, len(data) - 1))
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
        elif how == "length" and len(data) > 24:
            # Overwrite 2 or 4 bytes where formats keep lengths (segments, chunks, RIFF).
            at = draw(st.sampled_from([4, 8, 16, 20, min(len(data) - 4, 33)]))
            width = draw(st.sampled_from([2, 4]))
            data = data[:at] + draw(st.binary(min_size=width, max_size=width)) + data[at + width :]
        elif how == "dimensions":
            data = _huge_dimensions(draw, fmt, data)
        elif how == "splice":
            at = draw(st.integers(0, len(data)))
            data = data[:at] + draw(st.binary(max_size=64)) + data[at:]
    return data


def _check_result(result: ProcessedImage) -> None:
    assert still_webp_size(result.full) == (result.width, result.height)
    still_webp_size(result.thumb)


def _result_or_clear_error(data: bytes) -> None:
    try:
        result = process_image(data)
    except UsageError as exc:
        message = str(exc)
    else:
        _check_result(result)
        return
    assert message and "\n" not in message


@FUZZ
@given(valid_images())
def test_valid_images_are_accepted(image: tuple[str, bytes]) -> None:
    fmt, data = image
    if fmt == "GIF":
        with pytest.raises(UsageError, match="JPEG, PNG or WebP"):
            process_image(data)
        return
    _check_result(process_image(data))


@FUZZ
@given(hostile_images())
def test_broken_images_give_a_result_or_the_clear_error(data: bytes) -> None:
    _result_or_clear_error(data)


@st.composite
def jpegs_with_hostile_exif(draw: st.DrawFn) -> bytes:
    """A valid JPEG with a malformed EXIF segment in front of everything else."""
    mode = draw(st.sampled_from(MODES["JPEG"]))
    size = (draw(st.integers(1, 32)), draw(st.integers(1, 32)))
    out = io.BytesIO()
    Image.radial_gradient("L").resize(size).convert(mode).save(out, "JPEG")
    data = out.getvalue()
    return data[:2] + _app1(draw) + data[2:]


@FUZZ
@given(jpegs_with_hostile_exif())
def test_hostile_exif_gives_a_result_or_the_clear_error(data: bytes) -> None:
    _result_or_clear_error(data)
