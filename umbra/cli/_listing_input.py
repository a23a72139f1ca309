"""Parsing listing input from command-line flags and from a listing.toml file."""

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from umbra.core import ShippingOption, UsageError, first_error, limits, parse_xmr
from umbra.market import DEFAULT_LIFETIME_DAYS, ListingDraft

# A listing.toml holds text fields only (images are separate files): far below this.
MAX_LISTING_FILE_BYTES = 256 * 1024
TOML_KEYS = {
    "title",
    "description",
    "price",
    "quantity",
    "category",
    "tags",
    "condition",
    "ships_from",
    "shipping",
    "expires_in_days",
    "images",
}


def parse_shipping_flag(text: str) -> ShippingOption:
    """``NAME:REGION[,REGION...]:COST`` e.g. ``"Standard post:DE,AT:0.002"``."""
    parts = text.rsplit(":", 2)
    if len(parts) != 3:
        raise UsageError(f"--shipping {text!r}: use NAME:REGION[,REGION...]:COST_XMR")
    name, regions, cost = parts
    return shipping_option(name, [r.strip() for r in regions.split(",")], cost)


def shipping_option(name: str, regions: list[str], cost: str) -> ShippingOption:
    try:
        return ShippingOption(
            name=name.strip(), regions=[r.upper() for r in regions if r], cost=parse_xmr(cost)
        )
    except ValidationError as exc:
        raise UsageError(f"shipping option: {first_error(exc, 'shipping')}") from None


def read_bounded(path: Path, limit: int, what: str) -> bytes:
    """A regular file's bytes, at most ``limit`` of them.

    The size is checked on what is read, not on what ``stat`` said: a file may grow in
    between, and ``/dev/zero`` reports size 0 but never ends. The file is opened without
    blocking so that a FIFO is refused rather than waited on.

    Raises:
        UsageError: not a regular file, unreadable, or larger than ``limit``.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UsageError(f"{what} {path} is not a regular file")
        try:
            data = file.read(limit + 1)
        except OSError as exc:
            raise UsageError(f"cannot read {what} {path}: {exc.strerror}") from exc
    if len(data) > limit:
        size = f"{limit // 2**20} MB" if limit >= 2**20 else f"{limit // 2**10} KB"
        raise UsageError(f"{what} {path} is larger than the {size} limit")
    return data


def read_image(path: Path) -> bytes:
    """An image file for a listing (checked and re-encoded later by `process_image`)."""
    return read_bounded(path, limits.MAX_IMAGE_INPUT_BYTES, "image")


def read_text_file(path: Path, limit: int, what: str) -> str:
    """A UTF-8 text file of at most ``limit`` bytes (a listing.toml, a description)."""
    try:
        return read_bounded(path, limit, what).decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{what} {path} is not UTF-8 text") from None


def _require(table: dict[str, Any], key: str, kind: type) -> Any:
    if key not in table:
        raise UsageError(f"listing file: {key!r} is required")
    value = table[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise UsageError(f"listing file: {key!r} must be a {kind.__name__}")
    return value


def draft_from_toml(path: Path) -> ListingDraft:
    """Read a listing.toml (see docs/operations.md for an example)."""
    text = read_text_file(path, MAX_LISTING_FILE_BYTES, "listing file")
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from exc
    unknown = set(table) - TOML_KEYS
    if unknown:
        raise UsageError(f"listing file: unknown keys {', '.join(sorted(unknown))}")
    price = table.get("price")
    if not isinstance(price, str):
        raise UsageError('listing file: price must be a string in XMR, e.g. price = "0.25"')
    shipping = []
    for i, opt in enumerate(table.get("shipping", [])):
        if not isinstance(opt, dict) or set(opt) != {"name", "regions", "cost"}:
            raise UsageError(f"listing file: shipping[{i}] needs exactly name, regions, cost")
        if not isinstance(opt["regions"], list) or not isinstance(opt["cost"], str):
            raise UsageError(f"listing file: shipping[{i}]: regions is a list, cost a string")
        shipping.append(shipping_option(str(opt["name"]), list(opt["regions"]), opt["cost"]))
    images = table.get("images", [])
    if not isinstance(images, list) or not all(isinstance(i, str) for i in images):
        raise UsageError("listing file: images is a list of file paths")
    tags = table.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise UsageError("listing file: tags is a list of strings")
    return ListingDraft(
        title=_require(table, "title", str),
        description=str(table.get("description", "")),
        price=parse_xmr(price),
        quantity=int(table.get("quantity", 1)),
        category=_require(table, "category", str),
        condition=str(table.get("condition", "new")),
        ships_from=_require(table, "ships_from", str),
        tags=tuple(tags),
        shipping=tuple(shipping),
        lifetime_days=int(table.get("expires_in_days", DEFAULT_LIFETIME_DAYS)),
        images=tuple(read_image(path.parent / p) for p in images),
    )
