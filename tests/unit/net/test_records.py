"""The DHT catalog-head validator and record selection."""

import pytest

from umbra.core import CatalogHeadBody, compute_cid, sign_catalog_head
from umbra.core.crypto import SigningKey
from umbra.net import (
    CatalogHeadValidator,
    InvalidRecord,
    check_head_record_at,
    head_key,
    keyword_keys,
    provider_key,
    select_head,
)

NOW = 1_800_000_000
KEY = SigningKey(bytes(range(32)))


def head(seq: int, *, published_at: int = NOW, key: SigningKey = KEY) -> bytes:
    body = CatalogHeadBody(
        v=1,
        kind="catalog-head",
        seller=key.public_key,
        seq=seq,
        catalog=compute_cid(b"catalog %d" % seq, "dag-cbor"),
        published_at=published_at,
    )
    return sign_catalog_head(key, body).data


def test_valid_record() -> None:
    got = check_head_record_at(head_key(KEY.public_key), head(3), NOW)
    assert got.body.seq == 3


@pytest.mark.parametrize(
    "key",
    [
        "/umbra-catalog/" + "00" * 32,  # another seller's key
        "/umbra-catalog/" + KEY.public_key.hex().upper(),  # not canonical hex
        "/umbra-catalog/" + KEY.public_key.hex()[:-2],
        "/other/" + KEY.public_key.hex(),
    ],
)
def test_key_binding(key: str) -> None:
    with pytest.raises(InvalidRecord):
        check_head_record_at(key, head(1), NOW)


def test_forged_and_malformed_values() -> None:
    key = head_key(KEY.public_key)
    other = SigningKey(bytes(32))
    forged = head(1, key=other).replace(other.public_key, KEY.public_key)
    tampered = bytearray(head(1))
    tampered[-1] ^= 1
    for value in (forged, bytes(tampered), b"", b"\xff" * 40, head(1) + b"\x00"):
        with pytest.raises(InvalidRecord):
            check_head_record_at(key, value, NOW)


def test_future_dated_head_is_refused() -> None:
    with pytest.raises(InvalidRecord):
        check_head_record_at(head_key(KEY.public_key), head(1, published_at=NOW + 7200), NOW)


def test_select_prefers_higher_seq_and_ignores_invalid() -> None:
    assert select_head([head(1), head(2)]) == 1
    assert select_head([head(5), head(2)]) == 0
    assert select_head([b"junk", head(1)]) == 1
    later = head(2, published_at=NOW + 5)
    assert select_head([head(2), later]) == 1
    assert select_head([later, head(2)]) == 0  # ties are decided the same way everywhere


def test_libp2p_validator_adapter() -> None:
    validator = CatalogHeadValidator(clock=lambda: NOW)
    validator.validate(head_key(KEY.public_key), head(1))
    with pytest.raises(ValueError, match="another seller"):
        validator.validate(head_key(bytes(32)), head(1))
    assert validator.select("k", [head(1), head(4), head(2)]) == 1


def test_provider_keys_are_stable_and_bounded() -> None:
    assert provider_key("category", "home") == provider_key("category", "home")
    assert provider_key("category", "home") != provider_key("tag", "home")
    keys = keyword_keys(["home/kitchen", "home/garden"], ["oak", "chair"], 16)
    assert keys[0] == provider_key("category", "home")
    assert len(keys) == len(set(keys)) == 5
    assert len(keyword_keys(["a/b"], [f"t{i}" for i in range(40)], 16)) == 16
