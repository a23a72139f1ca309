"""Signed documents: round trips, tampering and every rejection path."""

from typing import Any

import dag_cbor
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from umbra.core import (
    CatalogBody,
    CatalogHeadBody,
    InvalidDocument,
    ListingBody,
    compute_cid,
    decode_canonical,
    encode_canonical,
    limits,
    parse_catalog,
    parse_catalog_head,
    parse_listing,
    sign_catalog,
    sign_catalog_head,
    sign_listing,
)
from umbra.core.crypto import SigningKey, tags

from .conftest import make_body, random_key


def _resign(key: SigningKey, wire: dict[str, Any]) -> bytes:
    """Sign an arbitrary (possibly invalid) body the way a malicious peer could."""
    body_bytes = encode_canonical(wire)
    return encode_canonical({"body": wire, "sig": key.sign(tags.LISTING_SIG, body_bytes)})


def _reason(data: bytes, **kw: Any) -> str:
    with pytest.raises(InvalidDocument) as exc:
        parse_listing(data, **kw)
    return exc.value.reason


def test_sign_parse_round_trip(key: SigningKey, body: ListingBody) -> None:
    signed = sign_listing(key, body)
    parsed = parse_listing(signed.data, expected_cid=signed.cid)
    assert parsed.body == body
    assert parsed.cid == signed.cid == compute_cid(signed.data, "dag-cbor")
    assert encode_canonical(decode_canonical(signed.data, max_size=10**6)) == signed.data


# A title is one line of visible text: no controls, format characters, separators or fillers.
titles = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc", "Cf", "Zl", "Zp"),
        blacklist_characters="\u115f\u1160\u3164\uffa0",
    ),
    min_size=1,
    max_size=200,
)


@settings(max_examples=60, deadline=None)
@given(
    title=titles,
    description=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=300),
    price=st.integers(1, 10**18),
    quantity=st.integers(0, 1_000_000),
    tags_=st.lists(st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True), max_size=5, unique=True),
)
def test_encode_decode_encode_is_identity(
    title: str, description: str, price: int, quantity: int, tags_: list[str]
) -> None:
    key = SigningKey(bytes(32))
    body = make_body(
        key, title=title, description=description, price=price, quantity=quantity, tags=tags_
    )
    signed = sign_listing(key, body)
    again = parse_listing(signed.data)
    assert again.body == body
    assert sign_listing(key, again.body).data == signed.data  # ed25519 is deterministic


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_change_to_a_signed_listing_is_rejected(data: st.DataObject) -> None:
    key = SigningKey(bytes(32))
    signed = sign_listing(key, make_body(key))
    position = data.draw(st.integers(0, len(signed.data) - 1))
    flip = data.draw(st.integers(1, 255))
    tampered = bytearray(signed.data)
    tampered[position] ^= flip
    with pytest.raises(InvalidDocument):
        parse_listing(bytes(tampered))


def test_changed_field_with_old_signature_is_bad_signature(
    key: SigningKey, body: ListingBody
) -> None:
    signed = sign_listing(key, body)
    wire = dag_cbor.decode(signed.data)
    wire["body"]["price"] = 1
    assert _reason(encode_canonical(wire)) == "bad-signature"


def test_signature_by_another_key_is_rejected(key: SigningKey, body: ListingBody) -> None:
    wire = body.model_dump()
    assert _reason(_resign(random_key(), wire)) == "bad-signature"


def test_listing_signature_does_not_verify_as_catalog(key: SigningKey) -> None:
    catalog = sign_catalog(
        key,
        CatalogBody(v=1, kind="catalog", seller=key.public_key, seq=1, updated_at=5, listings=[]),
    )
    wire = dag_cbor.decode(catalog.data)
    wire["body"]["kind"] = "listing"
    assert _reason(encode_canonical(wire)) in {"invalid-field", "bad-signature"}


def test_wrong_cid(key: SigningKey, body: ListingBody) -> None:
    signed = sign_listing(key, body)
    assert _reason(signed.data, expected_cid=compute_cid(b"other", "dag-cbor")) == "cid-mismatch"


def test_unknown_schema_version(key: SigningKey, body: ListingBody) -> None:
    wire = body.model_dump()
    wire["v"] = 2
    assert _reason(_resign(key, wire)) == "unknown-version"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "x" * (limits.MAX_TITLE_CHARS + 1)),
        ("title", ""),
        ("description", "é" * (limits.MAX_DESCRIPTION_BYTES // 2 + 1)),
        ("tags", [f"t{i}" for i in range(limits.MAX_TAGS + 1)]),
        ("price", 0),
        ("price", -5),
        ("price", True),
        ("quantity", "1"),
        ("category", "Not A Slug"),
        ("ships_from", "XX"),
        ("listing_id", b"short"),
        ("expires_at", 1),
        ("title", "bell\x07"),
    ],
)
def test_invalid_fields_are_rejected_with_the_field_named(
    key: SigningKey, body: ListingBody, field: str, value: object
) -> None:
    wire = body.model_dump()
    wire[field] = value
    with pytest.raises(InvalidDocument) as exc:
        parse_listing(_resign(key, wire))
    assert exc.value.reason == "invalid-field"
    assert field in str(exc.value) or "expires_at" in str(exc.value) or "body" in str(exc.value)


def test_too_many_images(key: SigningKey, body: ListingBody) -> None:
    wire = body.model_dump()
    wire["images"] = wire["images"] * (limits.MAX_IMAGES + 1)
    assert _reason(_resign(key, wire)) == "invalid-field"


def test_unknown_field_is_rejected(key: SigningKey, body: ListingBody) -> None:
    wire = body.model_dump()
    wire["surprise"] = 1
    assert _reason(_resign(key, wire)) == "invalid-field"


def test_oversize_document(key: SigningKey) -> None:
    assert _reason(b"\x00" * (limits.MAX_LISTING_DOCUMENT_BYTES + 1)) == "oversize"


def test_non_canonical_encoding_is_rejected(key: SigningKey, body: ListingBody) -> None:
    # Same value, but the integer 1 (revision) written in a 2-byte form instead of 1 byte:
    # a second encoding of a signed document must never be accepted.
    canonical = sign_listing(key, body).data
    needle = b"hrevision\x01"
    assert needle in canonical
    longer = canonical.replace(needle, b"hrevision\x18\x01")
    assert _reason(longer) in {"non-canonical", "malformed-encoding"}


def test_malformed_bytes(key: SigningKey) -> None:
    assert _reason(b"\xff\x00garbage") == "malformed-encoding"
    assert _reason(b"\x81" * 5000) == "malformed-encoding"  # deep nesting, no crash


def test_envelope_shape(key: SigningKey, body: ListingBody) -> None:
    assert _reason(encode_canonical([1, 2])) == "bad-envelope"
    assert _reason(encode_canonical({"body": {}, "sig": b"", "x": 1})) == "bad-envelope"
    assert _reason(encode_canonical({"body": "no", "sig": b""})) == "bad-envelope"
    assert _reason(encode_canonical({"body": {"kind": "catalog"}, "sig": b""})) == "wrong-kind"


def test_catalog_and_head_round_trip(key: SigningKey) -> None:
    listing = sign_listing(key, make_body(key))
    catalog = sign_catalog(
        key,
        CatalogBody(
            v=1, kind="catalog", seller=key.public_key, seq=3, updated_at=10, listings=[listing.cid]
        ),
    )
    assert parse_catalog(catalog.data, expected_cid=catalog.cid).body.listings == [listing.cid]
    head = sign_catalog_head(
        key,
        CatalogHeadBody(
            v=1,
            kind="catalog-head",
            seller=key.public_key,
            seq=3,
            catalog=catalog.cid,
            published_at=11,
        ),
    )
    assert len(head.data) <= limits.MAX_CATALOG_HEAD_BYTES
    assert parse_catalog_head(head.data).body.catalog == catalog.cid


def test_catalog_rejects_duplicate_listings(key: SigningKey) -> None:
    cid = compute_cid(b"x", "dag-cbor")
    with pytest.raises(ValueError, match="once"):
        CatalogBody(
            v=1, kind="catalog", seller=key.public_key, seq=1, updated_at=1, listings=[cid, cid]
        )


def test_signing_for_another_seller_is_refused(body: ListingBody) -> None:
    with pytest.raises(InvalidDocument) as exc:
        sign_listing(random_key(), body)
    assert exc.value.reason == "wrong-key"
