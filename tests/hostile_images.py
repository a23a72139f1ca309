"""Hostile image files shared by the unit, CLI and web tests."""

import io
import struct

from PIL import Image


def jpeg_with_hostile_exif() -> bytes:
    """A valid JPEG whose EXIF (APP1) gives a numeric tag as text next to a rotation.

    Found by fuzzing (issue #14): Pillow reads it, but ``ImageOps.exif_transpose`` re-encodes
    the tag by its known numeric type and fails with ``TypeError``/``struct.error``.
    """
    out = io.BytesIO()
    Image.new("RGB", (16, 12), (1, 2, 3)).save(out, "JPEG")
    ifd = struct.pack("<H", 2)
    ifd += struct.pack("<HHIHH", 0x0112, 3, 1, 6, 0)  # orientation 6: rotate 90°
    ifd += struct.pack("<HHI4s", 0x0156, 2, 4, b"Cam\x00")  # TransferRange given as ASCII
    body = b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)
    data = out.getvalue()
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + data[2:]
