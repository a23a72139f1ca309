"""Document bodies as strict pydantic models (listing, catalog, catalog head, arbiter profile).

The models validate what a document may contain; ``_documents`` adds signing, encoding and CIDs.
Models are strict (no type coercion: ``True`` is not an int, ``"5"`` is not an int), forbid
unknown fields and are frozen.
"""

from typing import Annotated, Any, Literal

from multiformats import CID
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    model_validator,
)

from . import _limits as limits
from ._categories import CATEGORY_PATTERN
from ._cid import normalize_cid
from ._errors import InvalidDocument
from ._money import MAX_AMOUNT
from ._regions import is_region
from ._text import check_line
from ._webp import MAX_IMAGE_SIDE

SCHEMA_VERSION = 1
# Catalogs are signed at version 3 (with ``arbiters`` and ``escrow_above``); versions 1 and 2
# still parse.
CATALOG_VERSION: Literal[3] = 3


def _validate_cid(value: Any) -> CID:
    if not isinstance(value, CID):
        raise ValueError("expected a CID link")
    try:
        return normalize_cid(value)
    except InvalidDocument as exc:
        raise ValueError(exc.detail) from exc


def _validate_region(value: str) -> str:
    if not is_region(value):
        raise ValueError(f"unknown region code {value!r} (use ISO 3166-1 alpha-2, WW or EU)")
    return value


def _validate_category(value: str) -> str:
    if not CATEGORY_PATTERN.fullmatch(value):
        raise ValueError(f"malformed category {value!r}")
    return value


def _validate_description(value: str) -> str:
    if len(value.encode("utf-8")) > limits.MAX_DESCRIPTION_BYTES:
        raise ValueError(f"description is longer than {limits.MAX_DESCRIPTION_BYTES} bytes")
    return value


def _validate_text(value: str) -> str:
    """Free text (descriptions, terms): no control characters but newline and tab. Other
    hidden characters are removed where the text is shown (`umbra.core.neutralize`)."""
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
        raise ValueError("control characters are not allowed")
    return value


def first_error(exc: ValidationError, default_field: str) -> str:
    """``field.path: message`` for the first error of a validation, on one line."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or default_field
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}"


CidLink = Annotated[CID, PlainValidator(_validate_cid)]
Region = Annotated[str, AfterValidator(_validate_region)]
Piconero = Annotated[int, Field(ge=0, le=MAX_AMOUNT)]
PublicKey = Annotated[bytes, Field(min_length=32, max_length=32)]
# One-line fields shown to other people refuse invisible and direction-changing characters
# (`check_line`); free text keeps them and is neutralized where it is shown.
Line = AfterValidator(check_line)
Title = Annotated[str, Field(min_length=1, max_length=limits.MAX_TITLE_CHARS), Line]
Description = Annotated[str, AfterValidator(_validate_description), AfterValidator(_validate_text)]


def _line_before_pattern(value: Any) -> Any:
    # Before the pattern, so that the error names the hidden character, not the pattern.
    return check_line(value) if isinstance(value, str) else value


Tag = Annotated[
    str,
    Field(min_length=1, max_length=limits.MAX_TAG_CHARS, pattern=r"^[\w-]+$"),
    BeforeValidator(_line_before_pattern),
    Line,
]
Condition = Literal[
    "new", "used-like-new", "used-good", "used-fair", "refurbished", "not-applicable"
]
CONDITIONS: tuple[str, ...] = Condition.__args__  # type: ignore[attr-defined]


class _Strict(BaseModel):
    model_config = ConfigDict(
        strict=True, extra="forbid", frozen=True, arbitrary_types_allowed=True
    )


class ShippingOption(_Strict):
    """One way to ship: a name, the destinations it covers and its cost."""

    name: Annotated[str, Field(min_length=1, max_length=limits.MAX_SHIPPING_NAME_CHARS), Line]
    regions: Annotated[list[Region], Field(min_length=1, max_length=limits.MAX_REGIONS_PER_OPTION)]
    cost: Piconero


class ImageRef(_Strict):
    """A listing image: metadata-free WebP in two sizes, each a raw block."""

    full: CidLink
    thumb: CidLink
    width: Annotated[int, Field(ge=1, le=MAX_IMAGE_SIDE)]
    height: Annotated[int, Field(ge=1, le=MAX_IMAGE_SIDE)]


class ListingBody(_Strict):
    """What a seller signs for one revision of one listing."""

    v: Literal[1]
    kind: Literal["listing"]
    seller: PublicKey
    listing_id: Annotated[bytes, Field(min_length=16, max_length=16)]
    revision: Annotated[int, Field(ge=1, le=2**31)]
    created_at: Annotated[int, Field(ge=0, le=2**40)]
    expires_at: Annotated[int, Field(ge=0, le=2**40)]
    title: Title
    description: Description
    price: Annotated[int, Field(ge=1, le=MAX_AMOUNT)]
    quantity: Annotated[int, Field(ge=0, le=limits.MAX_QUANTITY)]
    category: Annotated[str, AfterValidator(_validate_category)]
    tags: Annotated[list[Tag], Field(max_length=limits.MAX_TAGS)]
    condition: Condition
    shipping: Annotated[list[ShippingOption], Field(max_length=limits.MAX_SHIPPING_OPTIONS)]
    ships_from: Region
    images: Annotated[list[ImageRef], Field(max_length=limits.MAX_IMAGES)]

    @model_validator(mode="after")
    def _check_times(self) -> "ListingBody":
        if self.expires_at <= self.created_at:
            raise ValueError("expires_at must be after created_at")
        if self.expires_at - self.created_at > limits.MAX_LISTING_LIFETIME_S:
            raise ValueError("a listing may live at most 366 days")
        return self

    def ship_regions(self) -> tuple[str, ...]:
        """Every region any shipping option covers (empty for services/digital goods)."""
        return tuple(sorted({r for option in self.shipping for r in option.regions}))

    def is_expired_at(self, now: int) -> bool:
        return self.expires_at <= now


class CatalogBody(_Strict):
    """What a seller signs to say which listings are current. ``seq`` only ever grows.

    Version 2 adds ``arbiters``: the persona keys of the arbiters the seller accepts for
    escrow orders, the first being the default. Version 3 adds ``escrow_above``: orders whose
    total is above this many piconero must be paid into escrow (``None``: no such rule). Each
    version has exactly the fields it introduced, always present (``arbiters`` possibly empty,
    ``escrow_above`` possibly null), so each catalog has exactly one encoding. Wire dumps use
    ``exclude_unset`` to leave the later fields out of earlier versions.
    """

    v: Literal[1, 2, 3]
    kind: Literal["catalog"]
    seller: PublicKey
    seq: Annotated[int, Field(ge=1, le=2**53)]
    updated_at: Annotated[int, Field(ge=0, le=2**40)]
    listings: Annotated[list[CidLink], Field(max_length=limits.MAX_CATALOG_LISTINGS)]
    arbiters: Annotated[list[PublicKey], Field(max_length=limits.MAX_CATALOG_ARBITERS)] = Field(
        default_factory=list
    )
    escrow_above: Piconero | None = None

    @model_validator(mode="after")
    def _check(self) -> "CatalogBody":
        if len(set(self.listings)) != len(self.listings):
            raise ValueError("a catalog lists each listing once")
        for name, since in (("arbiters", 2), ("escrow_above", 3)):
            given = name in self.model_fields_set
            if self.v < since and given:
                raise ValueError(f"a version {self.v} catalog has no {name} field")
            if self.v >= since and not given:
                raise ValueError(f"a version {self.v} catalog has an {name} field")
        if len(set(self.arbiters)) != len(self.arbiters):
            raise ValueError("a catalog names each arbiter once")
        if self.seller in self.arbiters:
            raise ValueError("a seller cannot be its own arbiter")
        return self

    def requires_escrow(self, total: int) -> bool:
        """True if this seller takes an order of ``total`` piconero only into escrow."""
        return self.escrow_above is not None and total > self.escrow_above


class CatalogHeadBody(_Strict):
    """The small record a seller puts in the DHT: which catalog is current.

    ``seq`` equals the catalog's ``seq``; a reader accepts a head only if its ``seq`` is higher
    than any it has seen for that seller (so stale and replayed heads are refused).
    """

    v: Literal[1]
    kind: Literal["catalog-head"]
    seller: PublicKey
    seq: Annotated[int, Field(ge=1, le=2**53)]
    catalog: CidLink
    published_at: Annotated[int, Field(ge=0, le=2**40)]


def _validate_terms(value: str) -> str:
    if len(value.encode("utf-8")) > limits.MAX_ARBITER_TERMS_BYTES:
        raise ValueError(f"terms are longer than {limits.MAX_ARBITER_TERMS_BYTES} bytes")
    return value


class ArbiterProfileBody(_Strict):
    """What an arbiter signs to offer its service: who it is (a name), what it charges and on
    what terms. Published as a DHT record under the arbiter's persona key.

    ``fee`` and ``terms`` are text for people: no fee is taken from the escrow in v1. How to
    reach the arbiter is not repeated here: its signed prekey record (``umbra-prekeys``) is.
    """

    v: Literal[1]
    kind: Literal["arbiter-profile"]
    arbiter: PublicKey
    name: Annotated[str, Field(min_length=1, max_length=limits.MAX_ARBITER_NAME_CHARS), Line]
    fee: Annotated[str, Field(max_length=limits.MAX_ARBITER_FEE_CHARS), Line]
    terms: Annotated[str, AfterValidator(_validate_terms), AfterValidator(_validate_text)]
    created_at: Annotated[int, Field(ge=0, le=2**40)]
    expires_at: Annotated[int, Field(ge=0, le=2**40)]

    @model_validator(mode="after")
    def _check_times(self) -> "ArbiterProfileBody":
        if self.expires_at <= self.created_at:
            raise ValueError("expires_at must be after created_at")
        if self.expires_at - self.created_at > limits.MAX_ARBITER_PROFILE_LIFETIME_S:
            raise ValueError("an arbiter profile lives at most 30 days")
        return self

    def is_expired_at(self, now: int) -> bool:
        return self.expires_at <= now
