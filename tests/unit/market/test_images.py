"""Image processing: strict decoding, nothing but pixels survives, one-block outputs."""

import contextlib
import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from tests.hostile_images import jpeg_with_hostile_exif
from umbra.core import MAX_BLOCK_BYTES, UsageError, compute_cid
from umbra.market import process_image


def _jpeg_with_metadata(size: tuple[int, int] = (1200, 800), orientation: int = 1) -> bytes:
    image = Image.new("RGB", size, (10, 200, 90))
    exif = Image.Exif()
    exif[0x010F] = "SpyCamMaker"
    exif[0x0112] = orientation
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), icc_profile=b"ICCPROFILE" * 10, comment=b"hello")
    return out.getvalue()


def _webp_info(data: bytes) -> tuple[str, dict, tuple[int, int]]:  # type: ignore[type-arg]
    with Image.open(io.BytesIO(data)) as img:
        return str(img.format), dict(img.info), img.size


def test_jpeg_metadata_is_gone() -> None:
    processed = process_image(_jpeg_with_metadata())
    for data in (processed.full, processed.thumb):
        fmt, info, _ = _webp_info(data)
        assert fmt == "WEBP"
        assert "exif" not in info
        assert "icc_profile" not in info
        for marker in (b"SpyCamMaker", b"ICCPROFILE", b"Exif", b"EXIF", b"XMP", b"hello"):
            assert marker not in data


def test_png_text_chunks_are_gone() -> None:
    meta = PngImagePlugin.PngInfo()
    meta.add_text("Author", "Secret Person")
    out = io.BytesIO()
    Image.new("RGBA", (400, 300), (255, 0, 0, 128)).save(out, "PNG", pnginfo=meta)
    processed = process_image(out.getvalue())
    assert b"Secret Person" not in processed.full
    with Image.open(io.BytesIO(processed.full)) as img:
        assert img.mode == "RGBA"  # transparency is kept


def test_exif_rotation_is_applied_before_stripping() -> None:
    processed = process_image(_jpeg_with_metadata((1200, 800), orientation=6))  # 90° CW
    assert (processed.width, processed.height) == (800, 1200)


def test_sizes_and_block_limit() -> None:
    noisy = Image.frombytes("RGB", (3000, 2000), os.urandom(3000 * 2000 * 3))
    out = io.BytesIO()
    noisy.save(out, "PNG")
    assert len(out.getvalue()) <= 20 * 1024 * 1024
    processed = process_image(_jpeg_with_metadata((4000, 3000)))
    assert max(processed.width, processed.height) == 1600
    assert max(_webp_info(processed.thumb)[2]) == 320
    assert len(processed.full) <= MAX_BLOCK_BYTES


def test_noisy_image_still_fits_one_block() -> None:
    noisy = Image.frombytes("RGB", (1800, 1800), os.urandom(1800 * 1800 * 3))
    out = io.BytesIO()
    noisy.save(out, "WEBP", lossless=True)
    data = out.getvalue()
    if len(data) > 10 * 1024 * 1024:
        pytest.skip("input above the upload cap")
    processed = process_image(data)
    assert len(processed.full) <= MAX_BLOCK_BYTES
    assert len(processed.thumb) <= MAX_BLOCK_BYTES


def test_processing_is_deterministic_so_cids_are_stable() -> None:
    data = _jpeg_with_metadata()
    assert compute_cid(process_image(data).full, "raw") == compute_cid(
        process_image(data).full, "raw"
    )


def test_decompression_bomb_is_refused() -> None:
    out = io.BytesIO()
    Image.new("1", (9000, 9000)).save(out, "PNG")  # tiny file, 81 megapixels
    with pytest.raises(UsageError, match="megapixels"):
        process_image(out.getvalue())


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "ICO", "PPM"])
def test_other_formats_are_refused(fmt: str) -> None:
    # Only the JPEG, PNG and WebP parsers ever see the bytes (``Image.open(formats=...)``).
    out = io.BytesIO()
    Image.new("RGB", (20, 20)).save(out, fmt)
    with pytest.raises(UsageError, match="not a readable JPEG, PNG or WebP image"):
        process_image(out.getvalue())


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_animated_images_are_refused(fmt: str) -> None:
    frames = [Image.new("RGB", (20, 20), (n * 60, 0, 0)) for n in range(3)]
    out = io.BytesIO()
    frames[0].save(out, fmt, save_all=True, append_images=frames[1:])
    with pytest.raises(UsageError, match="animated"):
        process_image(out.getvalue())


def _png_declaring(width: int, height: int) -> bytes:
    """A real 1×1 PNG whose header (CRC fixed up) declares another size."""
    out = io.BytesIO()
    Image.new("L", (1, 1)).save(out, "PNG")
    data = bytearray(out.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@pytest.mark.parametrize(
    ("width", "height", "message"),
    [
        (40_000, 40_000, "megapixels"),  # 1.6 gigapixels declared in 70 bytes
        (8_000, 5_001, "megapixels"),  # just past 40 megapixels
        (16_384, 1, "at most 16383"),  # just past the longest side
        (2**31 - 1, 2**31 - 1, "megapixels"),
    ],
)
def test_declared_size_is_refused_before_decoding(width: int, height: int, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        process_image(_png_declaring(width, height))


def test_declared_size_at_the_limits_is_decoded() -> None:
    # 8000 × 5000 is exactly 40 megapixels and 16383 × 1 the longest side: both pass the
    # header checks and reach the decoder, which finds the 1×1 pixel data too short.
    for width, height in ((8_000, 5_000), (16_383, 1)):
        with pytest.raises(UsageError, match="not a readable"):
            process_image(_png_declaring(width, height))


def test_malformed_exif_from_fuzzing_is_a_clear_error() -> None:
    # The crash: ImageOps.exif_transpose raised TypeError outside the error handling.
    with pytest.raises(UsageError, match=r"^the file is not a readable JPEG, PNG or WebP image$"):
        process_image(jpeg_with_hostile_exif())


def test_oversize_input_is_refused_before_decoding() -> None:
    with pytest.raises(UsageError, match="10 MB"):
        process_image(b"\xff\xd8" + b"\x00" * (10 * 1024 * 1024))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes_never_crash(data: bytes) -> None:
    with contextlib.suppress(UsageError):
        process_image(data)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2000), st.integers(1, 255))
def test_corrupted_jpeg_never_crashes(position: int, flip: int) -> None:
    data = bytearray(_jpeg_with_metadata((200, 150)))
    data[position % len(data)] ^= flip
    with contextlib.suppress(UsageError):
        process_image(bytes(data))


MEASURE = """
import resource, sys
from umbra.market import process_image
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = process_image(data)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before, result.width, result.height)
"""


def test_a_40_megapixel_jpeg_never_exists_at_full_size(tmp_path: Path) -> None:
    # Decoded at reduced scale (JPEG draft mode): the peak memory of intake does not grow
    # with the declared pixel count. Full-size decoding of this file took about 400 MiB.
    path = tmp_path / "big.jpg"
    Image.new("L", (8000, 5000), 128).save(path, "JPEG")
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout.split()  # fmt: skip
    grown_kib, width, height = (int(v) for v in out)
    assert (width, height) == (1600, 1000)
    assert grown_kib < 100 * 1024, f"intake grew the process by {grown_kib // 1024} MiB"
