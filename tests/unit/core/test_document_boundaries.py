"""Every limit of the signed documents, at its boundary and one past it, through the parsers.

Each case signs a body map that differs from a valid one in one field (so the signature is
good and only the field is at fault) and hands the bytes to the receiver's parser: the value
at the limit parses, the value one step past it is refused with ``invalid-field``. The limits
are written as the numbers docs/specifications/ promise, not as the constants, so a changed
constant fails here.
"""

import dataclasses
from typing import Any

import pytest

from umbra.core import (
    CATALOG_VERSION,
    MAX_AMOUNT,
    SCHEMA_VERSION,
    ArbiterProfileBody,
    CatalogBody,
    CatalogHeadBody,
    InvalidDocument,
    compute_cid,
    encode_canonical,
    limits,
    parse_arbiter_profile,
    parse_catalog,
    parse_catalog_head,
    parse_listing,
    sign_arbiter_profile,
    sign_catalog,
    sign_catalog_head,
    sign_listing,
)
from umbra.core._documents import _LISTING, _Kind, _sign
from umbra.core._models import ListingBody
from umbra.core.crypto import SigningKey, tags

from .conftest import make_body

KEY = SigningKey(bytes(range(32)))
OTHER = SigningKey(bytes(range(1, 33)))
T0 = 1_700_000_000
DAY = 86_400
SIG_TAGS = {
    "listing": tags.LISTING_SIG,
    "catalog": tags.CATALOG_SIG,
    "catalog-head": tags.CATALOG_HEAD_SIG,
    "arbiter-profile": tags.ARBITER_PROFILE_SIG,
}
PARSERS = {
    "listing": parse_listing,
    "catalog": parse_catalog,
    "catalog-head": parse_catalog_head,
    "arbiter-profile": parse_arbiter_profile,
}


def signed(body: dict[str, Any], key: SigningKey = KEY) -> bytes:
    """A document over any body map, signed correctly (the signer's checks are bypassed)."""
    sig = key.sign(SIG_TAGS[body["kind"]], encode_canonical(body))
    return encode_canonical({"body": body, "sig": sig})


def parses(body: dict[str, Any]) -> Any:
    return PARSERS[body["kind"]](signed(body)).body


def refusal(body: dict[str, Any]) -> InvalidDocument:
    with pytest.raises(InvalidDocument) as info:
        PARSERS[body["kind"]](signed(body))
    return info.value


def cid(n: int) -> Any:
    return compute_cid(b"block %d" % n, "raw")


def image(width: int = 800, height: int = 600) -> dict[str, Any]:
    return {"full": cid(1), "thumb": cid(2), "width": width, "height": height}


def option(**changes: Any) -> dict[str, Any]:
    return {"name": "Post", "regions": ["DE"], "cost": 0, **changes}


LISTING = make_body(KEY).model_dump(mode="python")
CATALOG = {
    "v": 2,
    "kind": "catalog",
    "seller": KEY.public_key,
    "seq": 1,
    "updated_at": T0,
    "listings": [cid(1)],
    "arbiters": [],
}
HEAD = {
    "v": 1,
    "kind": "catalog-head",
    "seller": KEY.public_key,
    "seq": 1,
    "catalog": compute_cid(b"catalog", "dag-cbor"),
    "published_at": T0,
}
PROFILE = {
    "v": 1,
    "kind": "arbiter-profile",
    "arbiter": KEY.public_key,
    "name": "Judge",
    "fee": "1 %",
    "terms": "",
    "created_at": T0,
    "expires_at": T0 + DAY,
}
REGIONS = sorted(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE EU WW "
    "US CA MX BR AR CL JP CN KR IN AU NZ ZA EG NG KE MA TR UA NO CH GB IS IL AE SA SG TH VN "
    "PE CO UY".split()
)
assert len(REGIONS) >= 61

# (name, base body, field, values at the limits, values one step past them)
CASES: list[tuple[str, dict[str, Any], str, list[Any], list[Any]]] = [
    (
        "title",
        LISTING,
        "title",
        ["t", "t" * 200],
        ["", "t" * 201, "a\tb", "a\nb", "a\x1fb", "\x00"],
    ),
    (
        "description",
        LISTING,
        "description",
        ["", "d" * 20_000, "é" * 10_000],
        ["d" * 20_001, "é" * 10_000 + "d", "a\x07"],
    ),
    ("tags", LISTING, "tags", [[], [f"t{i}" for i in range(20)]], [[f"t{i}" for i in range(21)]]),
    ("tag", LISTING, "tags", [["t"], ["t" * 32], ["a-b_c"]], [[""], ["t" * 33], ["a b"]]),
    ("images", LISTING, "images", [[], [image()] * 10], [[image()] * 11]),
    ("image-width", LISTING, "images", [[image(1)], [image(4096)]], [[image(0)], [image(4097)]]),
    (
        "image-height",
        LISTING,
        "images",
        [[image(height=1)], [image(height=4096)]],
        [[image(height=0)], [image(height=4097)]],
    ),
    ("options", LISTING, "shipping", [[], [option()] * 10], [[option()] * 11]),
    (
        "regions",
        LISTING,
        "shipping",
        [[option(regions=REGIONS[:60])]],
        [[option(regions=REGIONS[:61])], [option(regions=[])], [option(regions=["XX"])]],
    ),
    (
        "option-name",
        LISTING,
        "shipping",
        [[option(name="n")], [option(name="n" * 60)]],
        [[option(name="")], [option(name="n" * 61)]],
    ),
    (
        "option-cost",
        LISTING,
        "shipping",
        [[option(cost=0)], [option(cost=MAX_AMOUNT)]],
        [[option(cost=-1)], [option(cost=MAX_AMOUNT + 1)]],
    ),
    ("quantity", LISTING, "quantity", [0, 1_000_000], [-1, 1_000_001]),
    ("price", LISTING, "price", [1, MAX_AMOUNT], [0, MAX_AMOUNT + 1]),
    ("revision", LISTING, "revision", [1, 2**31], [0, 2**31 + 1]),
    ("listing-id", LISTING, "listing_id", [b"i" * 16], [b"i" * 15, b"i" * 17]),
    ("seller", LISTING, "seller", [KEY.public_key], [KEY.public_key[:31], KEY.public_key + b"x"]),
    ("ships-from", LISTING, "ships_from", ["DE", "WW", "EU"], ["XX", "de"]),
    ("category", LISTING, "category", ["home", "home/kitchen"], ["Home", "home//x", ""]),
    (
        "listings",
        CATALOG,
        "listings",
        [[], [cid(i) for i in range(1000)]],
        [[cid(i) for i in range(1001)], [cid(1), cid(1)]],
    ),
    (
        "arbiters",
        CATALOG,
        "arbiters",
        [[bytes([i]) * 32 for i in range(16)]],
        [[bytes([i]) * 32 for i in range(17)], [b"\x05" * 32] * 2, [KEY.public_key]],
    ),
    ("catalog-seq", CATALOG, "seq", [1, 2**53], [0, 2**53 + 1]),
    ("updated-at", CATALOG, "updated_at", [0, 2**40], [-1, 2**40 + 1]),
    ("head-seq", HEAD, "seq", [1, 2**53], [0, 2**53 + 1]),
    ("published-at", HEAD, "published_at", [0, 2**40], [-1, 2**40 + 1]),
    ("head-link", HEAD, "catalog", [compute_cid(b"c", "dag-cbor")], ["not a link"]),
    ("name", PROFILE, "name", ["n", "n" * 60], ["", "n" * 61, "a\nb", "a\tb", "a\x1bb"]),
    ("fee", PROFILE, "fee", ["", "f" * 200], ["f" * 201, "\x00"]),
    ("terms", PROFILE, "terms", ["t" * 2000, "é" * 1000, "a\nb"], ["t" * 2001, "é" * 1000 + "t"]),
]


@pytest.mark.parametrize(
    ("base", "field", "good", "bad"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_field_limits(base: dict[str, Any], field: str, good: list[Any], bad: list[Any]) -> None:
    for value in good:
        assert getattr(parses({**base, field: value}), field) is not None
    for value in bad:
        exc = refusal({**base, field: value})
        assert exc.reason == "invalid-field", value
        # A field's own check names the field; a check across fields names the document.
        assert exc.detail.startswith((field, base["kind"])), exc.detail


def test_listing_lifetime_is_at_most_366_days() -> None:
    start = {**LISTING, "created_at": T0}
    assert parses({**start, "expires_at": T0 + 366 * DAY}).expires_at == T0 + 366 * DAY
    assert parses({**start, "expires_at": T0 + 1}).expires_at == T0 + 1
    assert "366 days" in refusal({**start, "expires_at": T0 + 366 * DAY + 1}).detail
    assert "after created_at" in refusal({**start, "expires_at": T0}).detail
    assert "after created_at" in refusal({**start, "expires_at": T0 - 1}).detail


def test_profile_lifetime_is_at_most_30_days() -> None:
    start = {**PROFILE, "created_at": T0}
    assert parses({**start, "expires_at": T0 + 30 * DAY}).expires_at == T0 + 30 * DAY
    assert parses({**start, "expires_at": T0 + 1}).expires_at == T0 + 1
    assert "30 days" in refusal({**start, "expires_at": T0 + 30 * DAY + 1}).detail
    assert "after created_at" in refusal({**start, "expires_at": T0}).detail


def test_expiry_is_at_the_expiry_second() -> None:
    listing = parses({**LISTING, "created_at": T0, "expires_at": T0 + DAY})
    profile = parses(PROFILE)
    for body in (listing, profile):
        assert not body.is_expired_at(T0 + DAY - 1)
        assert body.is_expired_at(T0 + DAY)
        assert body.is_expired_at(T0 + DAY + 1)


def test_ship_regions_are_every_region_of_every_option() -> None:
    body = parses(
        {**LISTING, "shipping": [option(regions=["FR", "DE"]), option(regions=["DE", "WW"])]}
    )
    assert body.ship_regions() == ("DE", "FR", "WW")


def test_catalog_versions() -> None:
    assert (SCHEMA_VERSION, CATALOG_VERSION) == (1, 3)
    v1 = {k: v for k, v in CATALOG.items() if k != "arbiters"} | {"v": 1}
    assert parses(v1).v == 1
    assert "version 1 catalog has no arbiters" in refusal({**v1, "arbiters": []}).detail
    assert "version 2 catalog has an arbiters" in refusal({**v1, "v": 2}).detail
    assert refusal({**CATALOG, "v": 4}).reason == "unknown-version"
    assert refusal({**CATALOG, "v": 0}).reason == "unknown-version"
    assert refusal({**CATALOG, "v": True}).reason == "unknown-version"


def test_the_first_invalid_field_is_named() -> None:
    # Two bad fields: the message names the first one of the schema (title before quantity).
    exc = refusal({**LISTING, "title": "", "quantity": -1})
    assert exc.detail.startswith("title:")


def test_limit_values() -> None:
    """The numbers docs/specifications/listing.md and arbiter.md promise."""
    assert limits.MAX_IMAGE_INPUT_BYTES == 10 * 1024 * 1024
    assert limits.MAX_LISTING_DOCUMENT_BYTES == limits.MAX_CATALOG_DOCUMENT_BYTES == 65_536
    assert (limits.MAX_CATALOG_HEAD_BYTES, limits.MAX_ARBITER_PROFILE_BYTES) == (512, 4096)


# -- document size caps --------------------------------------------------------------------------

SIZE_CAPS = {"listing": 65_536, "catalog": 65_536, "catalog-head": 512, "arbiter-profile": 4096}


@pytest.mark.parametrize("kind", sorted(SIZE_CAPS))
def test_size_cap_is_checked_first(kind: str) -> None:
    """Bytes at the cap reach the decoder (and fail there: junk); one more is refused unread."""
    cap = SIZE_CAPS[kind]
    with pytest.raises(InvalidDocument) as info:
        PARSERS[kind](b"\xff" * cap)
    assert info.value.reason != "oversize"
    with pytest.raises(InvalidDocument) as info:
        PARSERS[kind](b"\xff" * (cap + 1))
    assert info.value.reason == "oversize"


def test_signing_refuses_a_document_over_its_kind_cap() -> None:
    body = make_body(KEY)
    size = len(sign_listing(KEY, body).data)
    exact = _Kind("listing", ListingBody, tags.LISTING_SIG, size)
    assert len(_sign(exact, KEY, body).data) == size
    smaller = dataclasses.replace(exact, max_bytes=size - 1)
    with pytest.raises(InvalidDocument) as info:
        _sign(smaller, KEY, body)
    assert info.value.reason == "oversize"
    assert _LISTING.max_bytes == 65_536


def test_signing_with_another_key_is_refused() -> None:
    head = CatalogHeadBody(**HEAD)
    profile = ArbiterProfileBody(**PROFILE)
    catalog = CatalogBody(**CATALOG)
    for sign, body in (
        (sign_listing, make_body(KEY)),
        (sign_catalog, catalog),
        (sign_catalog_head, head),
        (sign_arbiter_profile, profile),
    ):
        with pytest.raises(InvalidDocument) as info:
            sign(OTHER, body)  # type: ignore[operator]
        assert info.value.reason == "wrong-key"
        document = sign(KEY, body)  # type: ignore[operator]
        assert document.body == body


def test_every_kind_round_trips_and_verifies() -> None:
    for sign, parse, body in (
        (sign_catalog, parse_catalog, CatalogBody(**CATALOG)),
        (sign_catalog_head, parse_catalog_head, CatalogHeadBody(**HEAD)),
        (sign_arbiter_profile, parse_arbiter_profile, ArbiterProfileBody(**PROFILE)),
    ):
        document = sign(KEY, body)  # type: ignore[operator]
        again = parse(document.data)  # type: ignore[operator]
        assert (again.body, again.data, again.cid) == (body, document.data, document.cid)


@pytest.mark.parametrize(
    "wire",
    [
        {"body": [1], "sig": b"s" * 64},
        {"body": PROFILE, "sig": "not bytes"},
        {"body": PROFILE},
        {"body": PROFILE, "sig": b"s" * 64, "extra": 1},
    ],
)
def test_bad_envelopes(wire: dict[str, Any]) -> None:
    with pytest.raises(InvalidDocument) as info:
        parse_arbiter_profile(encode_canonical(wire))
    assert info.value.reason == "bad-envelope"


def test_signed_documents_are_frozen() -> None:
    document = sign_arbiter_profile(KEY, ArbiterProfileBody(**PROFILE))
    with pytest.raises(dataclasses.FrozenInstanceError):
        document.data = b""  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        _LISTING.max_bytes = 1 << 30  # type: ignore[misc]


def test_links_must_be_cids_we_produce() -> None:
    from multiformats import CID as AnyCID
    from multiformats import multihash

    foreign = AnyCID("base32", 1, "dag-json", multihash.digest(b"x", "sha2-256"))
    for value in ("not a link", b"\x01" * 36):
        exc = refusal({**HEAD, "catalog": value})
        assert exc.reason == "invalid-field" and exc.detail.startswith("catalog"), exc.detail
    # A CID we do not produce cannot even be signed: the encoder refuses what the decoder
    # would (bytes holding one are refused as "bad-cid": tests/unit/core/test_cbor_decoder.py).
    with pytest.raises(InvalidDocument, match="unsupported CID"):
        signed({**HEAD, "catalog": foreign})


@pytest.mark.parametrize(
    ("field", "value"), [("quantity", True), ("price", "5"), ("revision", b"\x01")]
)
def test_models_are_strict_about_types(field: str, value: object) -> None:
    assert refusal({**LISTING, field: value}).reason == "invalid-field"


def test_bodies_are_frozen() -> None:
    from pydantic import ValidationError

    body = parses(PROFILE)
    with pytest.raises(ValidationError):
        body.name = "Someone else"


def test_the_size_cap_comes_before_the_cid_check() -> None:
    """An oversize blob is refused as such, before its hash is computed against the CID."""
    data = b"\xff" * 65_537
    with pytest.raises(InvalidDocument) as info:
        parse_listing(data, expected_cid=compute_cid(b"something else", "dag-cbor"))
    assert info.value.reason == "oversize"
