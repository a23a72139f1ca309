"""Arbiter profiles and catalog version 2 (``arbiters``): round trips, tampering, bad input,
and version 1 catalogs that still parse."""

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from umbra.core import (
    ArbiterProfileBody,
    CatalogBody,
    InvalidDocument,
    decode_canonical,
    encode_canonical,
    limits,
    parse_arbiter_profile,
    parse_catalog,
    sign_arbiter_profile,
    sign_catalog,
)
from umbra.core.crypto import SigningKey, tags

KEY = SigningKey(bytes(range(32)))
OTHER = SigningKey(bytes(range(1, 33)))


def _profile(**changes: Any) -> ArbiterProfileBody:
    fields: dict[str, Any] = {
        "v": 1,
        "kind": "arbiter-profile",
        "arbiter": KEY.public_key,
        "name": "Fair Judge",
        "fee": "1 % of the escrow",
        "terms": "I decide within 3 days.\nEvidence in English.",
        "created_at": 1_700_000_000,
        "expires_at": 1_700_000_000 + 7 * 86400,
    }
    fields.update(changes)
    return ArbiterProfileBody(**fields)


def _resign(key: SigningKey, tag: bytes, wire: dict[str, Any]) -> bytes:
    return encode_canonical({"body": wire, "sig": key.sign(tag, encode_canonical(wire))})


def _reason(fn: Any, data: bytes) -> str:
    with pytest.raises(InvalidDocument) as exc:
        fn(data)
    return str(exc.value.reason)


def test_arbiter_profile_round_trip() -> None:
    signed = sign_arbiter_profile(KEY, _profile())
    parsed = parse_arbiter_profile(signed.data)
    assert parsed.body == signed.body and parsed.cid == signed.cid
    assert len(signed.data) <= limits.MAX_ARBITER_PROFILE_BYTES


def test_arbiter_profile_signed_by_another_key_is_refused() -> None:
    with pytest.raises(InvalidDocument):
        sign_arbiter_profile(OTHER, _profile())
    wire = _profile().model_dump()
    assert _reason(parse_arbiter_profile, _resign(OTHER, tags.ARBITER_PROFILE_SIG, wire)) == (
        "bad-signature"
    )
    # a catalog signature (another tag) never passes as a profile signature
    assert _reason(parse_arbiter_profile, _resign(KEY, tags.CATALOG_SIG, wire)) == "bad-signature"


@settings(max_examples=150, deadline=None)
@given(index=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=255))
def test_any_changed_byte_of_a_profile_is_refused(index: int, mask: int) -> None:
    data = bytearray(sign_arbiter_profile(KEY, _profile()).data)
    data[index % len(data)] ^= mask
    with pytest.raises(InvalidDocument):
        parse_arbiter_profile(bytes(data))


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"name": ""}, "invalid-field"),
        ({"name": "x" * 61}, "invalid-field"),
        ({"name": "two\nlines"}, "invalid-field"),
        ({"fee": "\x07"}, "invalid-field"),
        ({"terms": "é" * 1001}, "invalid-field"),
        ({"expires_at": 1_700_000_000}, "invalid-field"),
        ({"expires_at": 1_700_000_000 + 31 * 86400}, "invalid-field"),
        ({"arbiter": b"short"}, "invalid-field"),
        ({"extra": 1}, "invalid-field"),
        ({"v": 2}, "unknown-version"),
        ({"v": True}, "unknown-version"),
        ({"kind": "catalog"}, "wrong-kind"),
    ],
)
def test_bad_profiles_are_refused(changes: dict[str, Any], reason: str) -> None:
    wire = _profile().model_dump()
    wire.update(changes)
    assert _reason(parse_arbiter_profile, _resign(KEY, tags.ARBITER_PROFILE_SIG, wire)) == reason


def test_oversize_and_garbage_profiles_are_refused() -> None:
    assert _reason(parse_arbiter_profile, b"\x00" * 5000) == "oversize"
    with pytest.raises(InvalidDocument):
        parse_arbiter_profile(b"\xa1")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_profile_parser_only_raises_invalid_document(data: bytes) -> None:
    with contextlib.suppress(InvalidDocument):
        parse_arbiter_profile(data)


def _catalog(v: int = 2, **changes: Any) -> CatalogBody:
    fields: dict[str, Any] = {
        "v": v, "kind": "catalog", "seller": KEY.public_key, "seq": 3, "updated_at": 5,
        "listings": [],
    }  # fmt: skip
    if v == 2:
        fields["arbiters"] = [OTHER.public_key]
    fields.update(changes)
    return CatalogBody(**fields)


def test_catalog_v2_round_trip_keeps_the_arbiters_in_order() -> None:
    third = SigningKey(bytes(range(2, 34))).public_key
    signed = sign_catalog(KEY, _catalog(arbiters=[third, OTHER.public_key]))
    parsed = parse_catalog(signed.data, expected_cid=signed.cid)
    assert parsed.body.v == 2 and parsed.body.arbiters == [third, OTHER.public_key]
    assert decode_canonical(signed.data, max_size=10**5)["body"]["arbiters"] == [
        third,
        OTHER.public_key,
    ]


def test_an_old_version_1_catalog_still_parses_without_arbiters() -> None:
    signed = sign_catalog(KEY, _catalog(v=1))
    wire = decode_canonical(signed.data, max_size=10**5)
    assert "arbiters" not in wire["body"]  # signed exactly as session-2 nodes did
    parsed = parse_catalog(signed.data)
    assert parsed.body.v == 1 and parsed.body.arbiters == []


@pytest.mark.parametrize(
    ("v", "change", "reason"),
    [
        (1, {"arbiters": []}, "invalid-field"),  # v1 has no such field: one encoding only
        (2, {"arbiters": None}, "invalid-field"),
        (2, {"arbiters": [b"x" * 31]}, "invalid-field"),
        (2, {"arbiters": [OTHER.public_key, OTHER.public_key]}, "invalid-field"),
        (2, {"arbiters": [KEY.public_key]}, "invalid-field"),  # the seller itself
        (2, {"arbiters": [bytes([i]) * 32 for i in range(17)]}, "invalid-field"),
        (4, {}, "unknown-version"),
    ],
)
def test_bad_catalog_arbiters_are_refused(v: int, change: dict[str, Any], reason: str) -> None:
    wire = _catalog().model_dump()
    wire["v"] = v
    wire.update(change)
    if change.get("arbiters", 0) is None:
        del wire["arbiters"]
    assert _reason(parse_catalog, _resign(KEY, tags.CATALOG_SIG, wire)) == reason


@settings(max_examples=100, deadline=None)
@given(index=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=255))
def test_any_changed_byte_of_a_v2_catalog_is_refused(index: int, mask: int) -> None:
    data = bytearray(sign_catalog(KEY, _catalog()).data)
    data[index % len(data)] ^= mask
    with pytest.raises(InvalidDocument):
        parse_catalog(bytes(data))
