"""The demo's sample pictures: the caption stays inside the square a listing card shows, and
every character of it is drawn (no "no such glyph" boxes)."""

import io

import pytest
from PIL import Image

import umbra.market._samples as samples
from umbra.market import sample_image

TITLE = "Translation English → German, per page"


def _caption_columns(png: bytes) -> tuple[int, int, int]:
    """(first, last) column with caption ink, and the picture's width."""
    image = Image.open(io.BytesIO(png)).convert("L")
    width, height = image.size
    band = image.crop((0, height // 2, width, height))
    columns = [
        x for x in range(width) if any(band.getpixel((x, y)) > 230 for y in range(band.height))
    ]
    return columns[0], columns[-1], width


@pytest.mark.parametrize("size", [(800, 600), (900, 600), (600, 800)])
def test_the_caption_fits_the_centre_square_of_the_picture(size: tuple[int, int]) -> None:
    first, last, width = _caption_columns(sample_image(9, TITLE, size=size))
    side = min(size)
    left = (width - side) // 2
    assert left <= first and last < left + side, (first, last, left, side)


def test_every_character_is_drawn_or_spelled_out(monkeypatch: pytest.MonkeyPatch) -> None:
    font, text = samples._font(TITLE)
    missing = samples._ink(font, "\uffff")
    assert all(samples._ink(font, c) != missing for c in text if c != " ")
    # Without a system font, Pillow's own font lacks "→": it is spelled out, not boxed.
    monkeypatch.setattr(samples, "_FONTS", ())
    font, text = samples._font(TITLE)
    assert text == "Translation English -> German, per page"
    missing = samples._ink(font, "\uffff")
    assert all(samples._ink(font, c) != missing for c in text if c != " ")
