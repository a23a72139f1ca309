"""Every limit of the DHT record validators, at its boundary and just past it.

Catalog heads, arbiter profiles and prekey records: the clock-skew limit (accepted at exactly
`MAX_CLOCK_SKEW_S` ahead, refused one second later), the expiry, the key format, and what
the selectors answer when no value is valid.
"""

import pytest

from umbra.core import (
    ArbiterProfileBody,
    CatalogHeadBody,
    compute_cid,
    decode_canonical,
    encode_canonical,
    sign_arbiter_profile,
    sign_catalog_head,
)
from umbra.core.crypto import MAX_BUNDLE_BYTES, SigningKey
from umbra.net import (
    ArbiterProfileValidator,
    CatalogHeadValidator,
    InvalidRecord,
    arbiter_key,
    check_arbiter_record_at,
    check_head_record_at,
    head_key,
    keyword_keys,
    provider_key,
    select_arbiter_record,
    select_head,
)
from umbra.net._records import MAX_CLOCK_SKEW_S
from umbra.net.messaging import (
    InvalidPrekeyRecord,
    SessionManager,
    check_prekey_record_at,
    parse_prekey_record,
    prekey_key,
    select_prekey_record,
    sign_prekey_record,
)

NOW = 1_800_000_000
KEY = SigningKey(bytes(range(32)))
DAY = 86_400
INVALID = [b"", b"junk", b"\xa0", b"\xff" * 40]


def head(seq: int = 1, *, published_at: int = NOW) -> bytes:
    body = CatalogHeadBody(
        v=1,
        kind="catalog-head",
        seller=KEY.public_key,
        seq=seq,
        catalog=compute_cid(b"catalog %d" % seq, "dag-cbor"),
        published_at=published_at,
    )
    return sign_catalog_head(KEY, body).data


def profile(created_at: int = NOW, *, lifetime: int = 7 * DAY) -> bytes:
    body = ArbiterProfileBody(
        v=1, kind="arbiter-profile", arbiter=KEY.public_key, name="Judge", fee="1 %",
        terms="", created_at=created_at, expires_at=created_at + lifetime,
    )  # fmt: skip
    return sign_arbiter_profile(KEY, body).data


def test_the_skew_limit_is_one_hour() -> None:
    assert MAX_CLOCK_SKEW_S == 3600


# -- catalog heads ------------------------------------------------------------------------------


def test_head_dated_exactly_the_skew_limit_ahead_is_accepted() -> None:
    value = head(published_at=NOW + MAX_CLOCK_SKEW_S)
    assert check_head_record_at(head_key(KEY.public_key), value, NOW).data == value
    CatalogHeadValidator(clock=lambda: NOW).validate(head_key(KEY.public_key), value)


def test_head_dated_one_second_past_the_skew_limit_is_refused() -> None:
    value = head(published_at=NOW + MAX_CLOCK_SKEW_S + 1)
    with pytest.raises(InvalidRecord, match="future"):
        check_head_record_at(head_key(KEY.public_key), value, NOW)
    with pytest.raises(InvalidRecord, match="future"):
        CatalogHeadValidator(clock=lambda: NOW).validate(head_key(KEY.public_key), value)
    # The same head is fine once the checker's clock has caught up by that second.
    check_head_record_at(head_key(KEY.public_key), value, NOW + 1)


def test_head_key_with_non_hex_digits_is_refused() -> None:
    with pytest.raises(InvalidRecord, match="malformed umbra-catalog key"):
        check_head_record_at("/umbra-catalog/" + "zz" * 32, head(), NOW)


@pytest.mark.parametrize("count", [1, 2, len(INVALID)])
def test_select_head_among_only_invalid_values_answers_the_first(count: int) -> None:
    assert select_head(INVALID[:count]) == 0
    assert CatalogHeadValidator(clock=lambda: NOW).select("k", INVALID[:count]) == 0


def test_select_head_skips_invalid_values_wherever_they_are() -> None:
    assert select_head([b"junk", b"\xa0", head(1)]) == 2
    assert select_head([head(2), b"junk", head(1)]) == 0
    assert select_head([b"junk", head(1), b"\xa0", head(3), head(2)]) == 3


def test_provider_keys_cover_every_parent_category_once() -> None:
    keys = keyword_keys(["a/b/c"], [], 16)
    assert keys == [provider_key("category", p) for p in ("a", "a/b", "a/b/c")]


# -- arbiter profiles ---------------------------------------------------------------------------


def test_profile_created_exactly_the_skew_limit_ahead_is_accepted() -> None:
    value = profile(NOW + MAX_CLOCK_SKEW_S)
    assert check_arbiter_record_at(arbiter_key(KEY.public_key), value, NOW).data == value


def test_profile_created_one_second_past_the_skew_limit_is_refused() -> None:
    value = profile(NOW + MAX_CLOCK_SKEW_S + 1)
    with pytest.raises(InvalidRecord, match="future"):
        check_arbiter_record_at(arbiter_key(KEY.public_key), value, NOW)
    check_arbiter_record_at(arbiter_key(KEY.public_key), value, NOW + 1)


def test_profile_expires_at_its_expiry_second() -> None:
    value = profile(NOW - DAY, lifetime=DAY)  # expires_at == NOW
    with pytest.raises(InvalidRecord, match="expired"):
        check_arbiter_record_at(arbiter_key(KEY.public_key), value, NOW)
    check_arbiter_record_at(arbiter_key(KEY.public_key), value, NOW - 1)
    # A fractional clock is rounded down: half a second before expiry is still valid.
    check_arbiter_record_at(arbiter_key(KEY.public_key), value, NOW - 0.5)


@pytest.mark.parametrize("count", [1, 2, len(INVALID)])
def test_select_arbiter_record_among_only_invalid_values_answers_the_first(count: int) -> None:
    assert select_arbiter_record(INVALID[:count]) == 0
    assert ArbiterProfileValidator(clock=lambda: NOW).select("k", INVALID[:count]) == 0


def test_select_arbiter_record_ranks_by_creation_time_then_bytes() -> None:
    older, newer = profile(NOW - 10), profile(NOW)
    assert select_arbiter_record([b"junk", newer, b"\xa0", older]) == 1
    same_time = [profile(NOW, lifetime=DAY), profile(NOW, lifetime=2 * DAY)]
    best = max(same_time)
    assert select_arbiter_record(same_time) == same_time.index(best)
    assert select_arbiter_record(same_time[::-1]) == same_time[::-1].index(best)


# -- prekey records -----------------------------------------------------------------------------

PEER = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
PERSONA = SigningKey(bytes([7]) * 32)
MANAGER, _ = SessionManager.create(PERSONA, now=NOW)
BUNDLE = MANAGER.prekey_bundle(PERSONA, now=NOW)


def prekey_record(at: int = NOW, peer: str | None = PEER) -> bytes:
    return sign_prekey_record(PERSONA, BUNDLE, peer=peer, now=at)


def test_prekey_record_at_the_skew_limit() -> None:
    key = prekey_key(PERSONA.public_key)
    check_prekey_record_at(key, prekey_record(NOW + 3600), NOW)
    with pytest.raises(InvalidPrekeyRecord, match="future"):
        check_prekey_record_at(key, prekey_record(NOW + 3601), NOW)


@pytest.mark.parametrize("at", [0, 2**40 - 1])
def test_prekey_record_time_range_accepted(at: int) -> None:
    assert parse_prekey_record(prekey_record(at)).published_at == at


@pytest.mark.parametrize("at", [-1, 2**40])
def test_prekey_record_time_range_refused(at: int) -> None:
    with pytest.raises(InvalidPrekeyRecord, match="'at' must be a timestamp"):
        parse_prekey_record(prekey_record(at))


@pytest.mark.parametrize("peer", ["p", "p" * 128])
def test_prekey_record_peer_length_accepted(peer: str) -> None:
    assert parse_prekey_record(prekey_record(peer=peer)).peer == peer


@pytest.mark.parametrize("peer", ["", "p" * 129])
def test_prekey_record_peer_length_refused(peer: str) -> None:
    with pytest.raises(InvalidPrekeyRecord, match="'peer' must be a peer id or null"):
        parse_prekey_record(prekey_record(peer=peer))


def test_prekey_key_with_non_hex_digits_is_refused() -> None:
    with pytest.raises(InvalidPrekeyRecord, match="malformed umbra-prekeys key"):
        check_prekey_record_at("/umbra-prekeys/" + "zz" * 32, prekey_record(), NOW)


@pytest.mark.parametrize("count", [1, 2, len(INVALID)])
def test_select_prekey_record_among_only_invalid_values_answers_the_first(count: int) -> None:
    assert select_prekey_record(INVALID[:count]) == 0


def test_select_prekey_record_ranks_by_time_then_bytes() -> None:
    old, new = prekey_record(NOW), prekey_record(NOW + 5)
    assert select_prekey_record([b"junk", new, b"\xa0", old]) == 1
    same_time = [prekey_record(NOW, peer="a"), prekey_record(NOW, peer="b")]
    best = max(same_time)
    assert select_prekey_record(same_time) == same_time.index(best)
    assert select_prekey_record(same_time[::-1]) == same_time[::-1].index(best)


def test_prekey_record_wire_version_is_one() -> None:
    assert decode_canonical(prekey_record(), max_size=1 << 16)["v"] == 1


def test_prekey_record_size_cap_is_the_bundle_cap_plus_512() -> None:
    cap = MAX_BUNDLE_BYTES + 512
    with pytest.raises(InvalidPrekeyRecord) as info:
        parse_prekey_record(b"\xff" * cap)
    assert "oversize" not in str(info.value)
    with pytest.raises(InvalidPrekeyRecord, match="oversize"):
        parse_prekey_record(b"\xff" * (cap + 1))


@pytest.mark.parametrize("key", ["/umbra-prekeys/abcd", "/umbra-prekeys/" + "AB" * 32, "x"])
def test_malformed_prekey_keys_are_named_as_such(key: str) -> None:
    with pytest.raises(InvalidPrekeyRecord, match="malformed umbra-prekeys key"):
        check_prekey_record_at(key, prekey_record(), NOW)


@pytest.mark.parametrize("field", ["sig", "bundle"])
def test_prekey_record_sig_and_bundle_must_be_bytes(field: str) -> None:
    obj = decode_canonical(prekey_record(), max_size=1 << 16)
    with pytest.raises(InvalidPrekeyRecord, match="'sig' and 'bundle' must be bytes"):
        parse_prekey_record(encode_canonical({**obj, field: "text"}))


def test_prekey_records_are_frozen() -> None:
    import dataclasses

    record = parse_prekey_record(prekey_record())
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.peer = "someone else"  # type: ignore[misc]


def test_provider_keys_match_the_specified_derivation() -> None:
    """Every node must derive the same key: pin it against the spec's formula, byte for byte
    (multihash of SHA-256 over ``umbra:provider-key:v1 || 0 || kind || 0 || value``)."""
    import hashlib

    for kind, value in (("category", "home/kitchen"), ("tag", "oak")):
        text = b"umbra:provider-key:v1\x00" + kind.encode() + b"\x00" + value.encode()
        assert provider_key(kind, value) == "1220" + hashlib.sha256(text).hexdigest()
    assert keyword_keys([], ["oak"], 16) == [provider_key("tag", "oak")]
