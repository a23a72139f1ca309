"""Listing images: strict decoding, metadata stripping, re-encoding to two sizes.

Every image is decoded and re-encoded from raw pixels, so nothing from the original file
survives but the pixels: no EXIF (GPS, camera serials), XMP, ICC profiles or comments. The
output is WebP sized to fit one IPFS block, so its raw CIDv1 equals what IPFS computes.

An image file is hostile input (an upload, a listing.toml's file, anything a user was sent).
Its size is capped before Pillow sees it; what the header declares (format, pixel count,
sides, frames) is checked before any pixel is decoded; and every later step (decoding, EXIF
rotation, mode conversion, resizing, WebP encoding) runs inside one boundary,
`process_image`, that turns whatever Pillow raises on a malformed file into one `UsageError`.
Pillow's parsers fail with many exception types (``struct.error``, ``TypeError`` and
``KeyError`` from EXIF parsing, ``OSError``, ``SyntaxError``, ...), so the boundary catches
`Exception` rather than a list that the next Pillow release would make incomplete.
"""

import io
import logging
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from umbra.core import MAX_BLOCK_BYTES, UsageError, limits, still_webp_size

log = logging.getLogger(__name__)

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
FULL_MAX_SIDE = 1600
THUMB_MAX_SIDE = 320
# Refuse decompression bombs early: 40 megapixels is far above any phone photo.
MAX_INPUT_PIXELS = 40_000_000
# WebP cannot hold more than 16383 pixels a side; no photo needs more either way.
MAX_INPUT_SIDE = 16_383
UNREADABLE = "the file is not a readable JPEG, PNG or WebP image"
TOO_MANY_PIXELS = "image has too many pixels (more than 40 megapixels)"


@dataclass(frozen=True)
class ProcessedImage:
    """A cleaned image in two sizes, each WebP bytes of at most one block."""

    full: bytes
    thumb: bytes
    width: int
    height: int


def _check_declared(image: Image.Image) -> None:
    """What the header says, checked before a pixel is decoded."""
    if image.format not in ACCEPTED_FORMATS:
        raise UsageError(f"image format {image.format} is not accepted (JPEG, PNG, WebP)")
    width, height = image.size
    if width * height > MAX_INPUT_PIXELS:
        raise UsageError(TOO_MANY_PIXELS)
    if not (1 <= width <= MAX_INPUT_SIDE and 1 <= height <= MAX_INPUT_SIDE):
        raise UsageError(f"image is {width} × {height} pixels; a side may be at most 16383")
    # APNG and animated WebP declare their frame count up front; only one would be kept.
    if getattr(image, "n_frames", 1) != 1:
        raise UsageError("animated images are not accepted; send a still image")


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data), formats=sorted(ACCEPTED_FORMATS))
    _check_declared(image)
    # A JPEG can be decoded at 1/2, 1/4 or 1/8 scale: ask for the smallest that still covers
    # the full-size output, so a 40-megapixel photo never exists in memory at full size.
    width, height = image.size
    scale = min(1.0, FULL_MAX_SIDE / max(width, height))
    image.draft(None, (max(1, round(width * scale)), max(1, round(height * scale))))
    image.load()
    return image


def _pixels_only(image: Image.Image) -> Image.Image:
    """The picture upright, at most `FULL_MAX_SIDE`, as a new image made of pixels only."""
    # Honour the camera's rotation before the EXIF that carries it is dropped. In place, and
    # no conversion when the mode is already right: at most one full-size copy at a time.
    ImageOps.exif_transpose(image, in_place=True)
    mode = "RGBA" if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info else "RGB"
    converted = image if image.mode == mode else image.convert(mode)
    del image
    # Scaled down first, so the copies below are at most the output's size.
    converted.thumbnail((FULL_MAX_SIDE, FULL_MAX_SIDE), Image.Resampling.LANCZOS)
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


def _process(data: bytes) -> ProcessedImage:
    clean = _pixels_only(_decode(data))
    full = _encode_webp(clean, FULL_MAX_SIDE)
    thumb = _encode_webp(clean, THUMB_MAX_SIDE)
    # Our output must pass the check every node applies to image blocks from peers.
    width, height = still_webp_size(full)
    still_webp_size(thumb)
    return ProcessedImage(full, thumb, width, height)


def process_image(data: bytes) -> ProcessedImage:
    """Validate an uploaded image and produce its metadata-free full and thumbnail versions.

    Raises:
        UsageError: the input is too large, not an accepted format, declares too many pixels
            or frames, or is unreadable in any way (one sentence, never Pillow's exception).
    """
    if len(data) > limits.MAX_IMAGE_INPUT_BYTES:
        raise UsageError(
            f"image is {len(data) // 1024 // 1024} MB; the limit is "
            f"{limits.MAX_IMAGE_INPUT_BYTES // 1024 // 1024} MB"
        )
    try:
        with warnings.catch_warnings():
            # Pillow warns (to stderr) about corrupt EXIF and the like; the outcome is what
            # counts. Its decompression-bomb warning is promoted to an error instead.
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _process(data)
    except UsageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UsageError(TOO_MANY_PIXELS) from None
    except MemoryError:
        raise UsageError("image is too large to process on this device") from None
    except Exception as exc:  # noqa: BLE001 - hostile file: Pillow may raise anything (see top)
        log.debug("image refused: %s: %s", type(exc).__name__, exc)
        raise UsageError(UNREADABLE) from None
