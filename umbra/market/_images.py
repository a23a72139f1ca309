"""Listing images: strict decoding, metadata stripping, re-encoding to two sizes.

Every image is decoded and re-encoded from raw pixels, so nothing from the original file
survives but the pixels: no EXIF (GPS, camera serials), XMP, ICC profiles or comments. The
output is WebP sized to fit one IPFS block, so its raw CIDv1 equals what IPFS computes.
"""

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from umbra.core import MAX_BLOCK_BYTES, UsageError, limits

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
FULL_MAX_SIDE = 1600
THUMB_MAX_SIDE = 320
# Refuse decompression bombs early: 40 megapixels is far above any phone photo.
MAX_INPUT_PIXELS = 40_000_000


@dataclass(frozen=True)
class ProcessedImage:
    """A cleaned image in two sizes, each WebP bytes of at most one block."""

    full: bytes
    thumb: bytes
    width: int
    height: int


def _decode(data: bytes) -> Image.Image:
    if len(data) > limits.MAX_IMAGE_INPUT_BYTES:
        raise UsageError(
            f"image is {len(data) // 1024 // 1024} MB; the limit is "
            f"{limits.MAX_IMAGE_INPUT_BYTES // 1024 // 1024} MB"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in ACCEPTED_FORMATS:
                raise UsageError(f"image format {image.format} is not accepted (JPEG, PNG, WebP)")
            if image.width * image.height > MAX_INPUT_PIXELS:
                raise UsageError("image has too many pixels (more than 40 megapixels)")
            image.load()
    except UsageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UsageError("the file is not a readable JPEG, PNG or WebP image") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UsageError("image has too many pixels (more than 40 megapixels)") from exc
    return image


def _pixels_only(image: Image.Image) -> Image.Image:
    # Honour the camera's rotation before the EXIF that carries it is dropped.
    image = ImageOps.exif_transpose(image)
    mode = "RGBA" if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info else "RGB"
    converted = image.convert(mode)
    # A new image built from raw bytes carries no info dict: no EXIF, XMP, ICC or comments.
    return Image.frombytes(mode, converted.size, converted.tobytes())


def _encode_webp(image: Image.Image, max_side: int) -> bytes:
    scaled = image.copy()
    scaled.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    for quality in (82, 70, 55, 40, 25):
        out = io.BytesIO()
        scaled.save(out, format="WEBP", quality=quality, method=4)
        if out.tell() <= MAX_BLOCK_BYTES:
            return out.getvalue()
    # Still too large (extremely noisy image): shrink until it fits one block.
    smaller = max(64, int(max_side * 0.7))
    if smaller == max_side:
        raise UsageError("image cannot be compressed to fit the size limit")
    return _encode_webp(image, smaller)


def process_image(data: bytes) -> ProcessedImage:
    """Validate an uploaded image and produce its metadata-free full and thumbnail versions.

    Raises:
        UsageError: the input is too large, not an accepted format, or unreadable.
    """
    clean = _pixels_only(_decode(data))
    full = _encode_webp(clean, FULL_MAX_SIDE)
    with Image.open(io.BytesIO(full)) as reopened:
        width, height = reopened.size
    return ProcessedImage(full, _encode_webp(clean, THUMB_MAX_SIDE), width, height)
