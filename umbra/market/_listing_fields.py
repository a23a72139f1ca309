"""Listing fields as people type them (the web form, the API's form, files): shared checks.

Each function takes the text as typed and returns the value a `ListingDraft` holds, or raises
`UsageError` with a sentence that names the field (by the label the caller passes) and what
to write instead. Callers keep the raw text themselves, e.g. to show a form again.
"""

from collections.abc import Iterable

from pydantic import ValidationError

from umbra.core import ShippingOption, UsageError, first_error, limits, parse_xmr

LIFETIME_DAYS = (1, 365)
QUANTITY = (0, limits.MAX_QUANTITY)
REQUIRED_FIELDS = ("title", "price", "category", "ships_from")
SHIPPING_FORMAT = "NAME:REGION[,REGION...]:COST, e.g. Standard post:DE,AT:0.002"


def whole_number(label: str, text: str, low: int, high: int) -> int:
    """A whole number in ``low..high`` from text such as ``" 3 "``."""
    text = text.strip()
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise UsageError(f"{label}: write a whole number from {low} to {high}")
    return int(text)


def price_field(label: str, text: str) -> int:
    """An amount in XMR, in piconero."""
    try:
        return parse_xmr(text)
    except UsageError as exc:
        raise UsageError(f"{label}: {exc}") from None


def tag_list(texts: Iterable[str]) -> tuple[str, ...]:
    """Comma-separated tags (from one or more fields), blanks dropped."""
    return tuple(t.strip() for text in texts for t in text.split(",") if t.strip())


def shipping_option(name: str, regions: str, cost: str) -> ShippingOption:
    """One shipping option from its three texts; regions are comma-separated codes."""
    if not name.strip() or not regions.strip():
        raise UsageError(
            "each shipping option needs a name and at least one region (country codes like "
            "DE, or EU, or WW for worldwide)"
        )
    try:
        return ShippingOption(
            name=name.strip(),
            regions=[r.strip().upper() for r in regions.split(",") if r.strip()],
            cost=parse_xmr(cost or "0"),
        )
    except ValidationError as exc:
        raise UsageError(f"shipping option: {first_error(exc, 'shipping')}") from None


def shipping_line(text: str) -> ShippingOption:
    """``NAME:REGION[,REGION...]:COST_XMR`` on one line, e.g. ``Standard post:DE,AT:0.002``."""
    parts = text.rsplit(":", 2)
    if len(parts) != 3:
        raise UsageError(f"shipping {text[:60]!r}: write {SHIPPING_FORMAT}")
    return shipping_option(*parts)


def shipping_options(options: list[ShippingOption]) -> tuple[ShippingOption, ...]:
    if len(options) > limits.MAX_SHIPPING_OPTIONS:
        raise UsageError(f"shipping: at most {limits.MAX_SHIPPING_OPTIONS} options")
    return tuple(options)
