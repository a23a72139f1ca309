"""Sample listings for the demo marketplace, with images drawn locally (no downloads)."""

import io
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from umbra.core import PICONERO_PER_XMR, ShippingOption

from ._listings import ListingDraft


@dataclass(frozen=True)
class _Sample:
    title: str
    category: str
    price_milli_xmr: int
    condition: str
    tags: tuple[str, ...]
    description: str


_SAMPLES = [
    _Sample(
        "Road bike, 56 cm aluminium frame",
        "sports/cycling",
        450,
        "used-good",
        ("bike", "road"),
        "Shimano 105 groupset, new tyres. Small scratch on the top tube.",
    ),
    _Sample(
        "Mechanical keyboard, brown switches",
        "electronics/components",
        60,
        "used-like-new",
        ("keyboard", "mechanical"),
        "Tenkeyless, PBT keycaps, USB-C. Used for three months.",
    ),
    _Sample(
        "Hand-thrown ceramic mug",
        "home/kitchen",
        18,
        "new",
        ("ceramic", "handmade"),
        "Stoneware, 350 ml, dishwasher safe. Each one is slightly different.",
    ),
    _Sample(
        "Vintage film camera (35 mm)",
        "electronics/cameras",
        95,
        "used-fair",
        ("film", "camera", "vintage"),
        "Light meter works. Shutter tested at all speeds.",
    ),
    _Sample(
        "Logo design, three concepts",
        "services/design",
        120,
        "not-applicable",
        ("logo", "branding"),
        "Three concepts, two revision rounds, SVG and PNG delivery.",
    ),
    _Sample(
        "Python code review (2 hours)",
        "services/programming",
        80,
        "not-applicable",
        ("python", "review"),
        "I read your code and send a written review within 3 days.",
    ),
    _Sample(
        "Paperback: collected short stories",
        "books/fiction",
        9,
        "used-good",
        ("stories", "paperback"),
        "Some pencil notes in the margins of the first story.",
    ),
    _Sample(
        "Wool beanie, forest green",
        "clothing/accessories",
        14,
        "new",
        ("wool", "winter"),
        "Knitted from undyed merino, one size.",
    ),
    _Sample(
        "Noise-cancelling headphones",
        "electronics/audio",
        110,
        "refurbished",
        ("headphones", "bluetooth"),
        "Refurbished, new ear pads, 30 h battery.",
    ),
    _Sample(
        "Cast-iron skillet, 26 cm",
        "home/kitchen",
        35,
        "used-good",
        ("cast-iron", "pan"),
        "Seasoned and ready to use.",
    ),
    _Sample(
        "Translation English → German, per page",
        "services/translation",
        25,
        "not-applicable",
        ("translation", "german"),
        "Native speaker, 24 h turnaround.",
    ),
    _Sample(
        "Board game: cooperative dungeon crawl",
        "toys/games",
        40,
        "used-like-new",
        ("boardgame", "coop"),
        "All pieces present, cards sleeved.",
    ),
    _Sample(
        "Trail running shoes, EU 43",
        "clothing/shoes",
        48,
        "used-good",
        ("running", "trail"),
        "About 200 km on them, plenty of grip left.",
    ),
    _Sample(
        "Raspberry Pi starter kit",
        "electronics/computers",
        70,
        "new",
        ("raspberry-pi", "kit"),
        "Board, case, power supply and a 32 GB card.",
    ),
    _Sample(
        "Watercolour print, A4",
        "art/prints",
        22,
        "new",
        ("watercolour", "print"),
        "Giclée print on cotton paper, signed.",
    ),
    _Sample(
        "Silver coin, 1 oz",
        "collectibles/coins",
        30,
        "new",
        ("silver", "bullion"),
        "In capsule, never handled.",
    ),
    _Sample(
        "Guitar lessons online (1 hour)",
        "services/tutoring",
        20,
        "not-applicable",
        ("guitar", "lessons"),
        "Beginners welcome. Video call, any timezone.",
    ),
    _Sample(
        "Camping stove, gas",
        "sports/outdoor",
        32,
        "used-good",
        ("camping", "stove"),
        "Lightweight, with windscreen. Gas canister not included.",
    ),
    _Sample(
        "E-book: beginner's guide to Monero",
        "digital/ebooks",
        5,
        "not-applicable",
        ("monero", "privacy"),
        "PDF and EPUB, 120 pages.",
    ),
    _Sample(
        "Jigsaw puzzle, 1000 pieces",
        "toys/puzzles",
        12,
        "used-like-new",
        ("puzzle", "jigsaw"),
        "Completed once, all pieces counted.",
    ),
]

_PHYSICAL_SHIPPING = (
    ShippingOption(name="Standard post", regions=["DE", "AT", "CH"], cost=PICONERO_PER_XMR // 200),
    ShippingOption(name="Tracked, EU", regions=["EU"], cost=PICONERO_PER_XMR // 100),
)


def sample_image(seed: int, label: str, size: tuple[int, int] = (800, 600)) -> bytes:
    """A colourful PNG drawn from ``seed`` (stands in for a product photo)."""
    rng = random.Random(seed)
    width, height = size
    top = tuple(rng.randrange(40, 220) for _ in range(3))
    bottom = tuple(rng.randrange(40, 220) for _ in range(3))
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / height
        draw.line(
            [(0, y), (width, y)],
            fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
        )
    for _ in range(6):
        x, y, r = rng.randrange(width), rng.randrange(height), rng.randrange(30, 140)
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.ellipse([x - r, y - r, x + r, y + r], outline=colour, width=8)
    _caption(draw, label[:60], width, height)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


# Fonts with the glyphs of every sample title (e.g. "→"), tried in order; Pillow's own
# font (Latin only) is the last resort, with the characters it lacks spelled out.
_FONTS = ("DejaVuSans.ttf", "NotoSans-Regular.ttf", "LiberationSans-Regular.ttf")
_SPELLED = {"→": "->", "—": "-", "–": "-", "’": "'"}
_CAPTION_SIZE = 40


def _font(text: str) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, str]:
    for name in _FONTS:
        try:
            return ImageFont.truetype(name, _CAPTION_SIZE), text
        except OSError:
            continue
    font = ImageFont.load_default(_CAPTION_SIZE)
    missing = _ink(font, "\uffff")  # the "no such glyph" box
    kept = "".join(c if c == " " or _ink(font, c) != missing else _SPELLED.get(c, "") for c in text)
    return font, kept


def _ink(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, char: str) -> bytes:
    image = Image.new("L", (2 * _CAPTION_SIZE, 2 * _CAPTION_SIZE))
    ImageDraw.Draw(image).text((0, 0), char, fill=255, font=font)
    return image.tobytes()


def _caption(draw: ImageDraw.ImageDraw, label: str, width: int, height: int) -> None:
    """The label on a dark band, centred in the middle square of the picture: listing cards
    show square thumbnails cropped from the centre, so a caption outside it is cut off."""
    font, text = _font(label)
    side = min(width, height)
    room = side - 48
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= room:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    lines = lines[:3]
    line_height = _CAPTION_SIZE + 8
    band = line_height * len(lines) + 24
    top = (height + side) // 2 - band
    draw.rectangle([0, top, width, top + band], fill=(20, 20, 28))
    for n, line in enumerate(lines):
        x = (width - draw.textlength(line, font=font)) / 2
        draw.text((max(x, 0), top + 12 + n * line_height), line, fill=(240, 240, 240), font=font)


def sample_drafts(count: int = 20) -> list[ListingDraft]:
    """Up to ``count`` varied listing drafts with generated images."""
    drafts = []
    for n, sample in enumerate(_SAMPLES[:count]):
        physical = sample.condition != "not-applicable"
        drafts.append(
            ListingDraft(
                title=sample.title,
                description=sample.description,
                price=sample.price_milli_xmr * PICONERO_PER_XMR // 1000,
                quantity=1 if physical else 10,
                category=sample.category,
                condition=sample.condition,
                ships_from="DE",
                tags=sample.tags,
                shipping=_PHYSICAL_SHIPPING if physical else (),
                images=(sample_image(n, sample.title),),
            )
        )
    return drafts
