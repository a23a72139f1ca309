"""Umbra's DHT accepts only its own record types, each under its size cap, and an identical
re-PUT wins over the stored copy (so it refreshes the record). Pure: no network."""

import time

import pytest
from libp2p.records.utils import InvalidRecordType

from umbra.core import (
    ArbiterProfileBody,
    CatalogHeadBody,
    compute_cid,
    limits,
    sign_arbiter_profile,
    sign_catalog_head,
)
from umbra.core.crypto import SigningKey
from umbra.net import (
    ArbiterProfileValidator,
    CatalogHeadValidator,
    InvalidRecord,
    RecordValidator,
    UmbraRecords,
    arbiter_key,
    head_key,
)
from umbra.net._dht_guard import PutRateLimited, inbound_peer, is_provider_key
from umbra.net.messaging import SessionManager, prekey_key, sign_prekey_record
from umbra.net.messaging._bundles import MAX_RECORD_BYTES
from umbra.net.messaging._service import PrekeyRecordValidator

NOW = int(time.time())
KEY = SigningKey(bytes(range(32)))


class _Accepting(RecordValidator):
    """Accepts any value that reaches it (so the size gate in front is what is tested)."""

    max_bytes = 100

    def validate(self, key: str, value: bytes) -> None:
        pass

    def select(self, key: str, values: list[bytes]) -> int:
        return 0


def _records(admit: bool = True) -> UmbraRecords:
    records = UmbraRecords(admit_put=lambda _peer: admit)
    records.add_validator("umbra-catalog", CatalogHeadValidator())
    records.add_validator("umbra-arbiter", ArbiterProfileValidator())
    records.add_validator("umbra-prekeys", PrekeyRecordValidator())
    records.add_validator("test", _Accepting())
    return records


def _head(seq: int) -> bytes:
    body = CatalogHeadBody(
        v=1,
        kind="catalog-head",
        seller=KEY.public_key,
        seq=seq,
        catalog=compute_cid(b"c%d" % seq, "dag-cbor"),
        published_at=NOW,
    )
    return sign_catalog_head(KEY, body).data


def _profile(created_at: int) -> bytes:
    body = ArbiterProfileBody(
        v=1, kind="arbiter-profile", arbiter=KEY.public_key, name="Judge", fee="1 %",
        terms="", created_at=created_at, expires_at=created_at + 86400,
    )  # fmt: skip
    return sign_arbiter_profile(KEY, body).data


def _prekeys(at: int) -> bytes:
    manager, _ = SessionManager.create(KEY, now=at)
    return sign_prekey_record(KEY, manager.prekey_bundle(KEY, now=at), peer=None, now=at)


@pytest.mark.parametrize(
    "key",
    [
        "plain-key-without-namespace",
        "",
        "/",
        "/other-app/" + KEY.public_key.hex(),  # a namespace that is not Umbra's
        "/pk/" + KEY.public_key.hex(),  # the library's default namespaces are not served
        "/ipns/" + KEY.public_key.hex(),
    ],
)
def test_foreign_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidRecordType):
        _records().validate(key, b"x")


def test_only_record_validators_can_be_registered() -> None:
    from libp2p.records.validator import BlankValidator

    with pytest.raises(TypeError):
        _records().add_validator("anything", BlankValidator())


def test_size_cap_at_and_just_past_the_boundary() -> None:
    records = _records()
    records.validate("/test/k", b"x" * 100)  # exactly the cap
    with pytest.raises(InvalidRecord, match="101 bytes exceeds the 100-byte cap"):
        records.validate("/test/k", b"x" * 101)


@pytest.mark.parametrize(
    ("validator", "cap"),
    [
        (CatalogHeadValidator, limits.MAX_CATALOG_HEAD_BYTES),
        (ArbiterProfileValidator, limits.MAX_ARBITER_PROFILE_BYTES),
        (PrekeyRecordValidator, MAX_RECORD_BYTES),
    ],
)
def test_each_record_type_has_its_cap(validator: type[RecordValidator], cap: int) -> None:
    assert validator.max_bytes == cap


def test_real_records_pass_and_oversized_ones_are_refused_before_parsing() -> None:
    records = _records()
    records.validate(head_key(KEY.public_key), _head(1))
    records.validate(arbiter_key(KEY.public_key), _profile(NOW))
    records.validate(prekey_key(KEY.public_key), _prekeys(NOW))
    with pytest.raises(InvalidRecord, match="cap"):
        records.validate(head_key(KEY.public_key), b"\xa0" * (limits.MAX_CATALOG_HEAD_BYTES + 1))


@pytest.mark.parametrize(
    ("key", "older", "newer"),
    [
        (head_key(KEY.public_key), _head(1), _head(2)),
        (arbiter_key(KEY.public_key), _profile(NOW - 10), _profile(NOW)),
        (prekey_key(KEY.public_key), _prekeys(NOW - 10), _prekeys(NOW)),
    ],
)
def test_identical_reput_wins_and_otherwise_the_best_wins(
    key: str, older: bytes, newer: bytes
) -> None:
    records = _records()
    # The library's PUT handler asks select([stored, offered]) and keeps "stored" on 0.
    assert records.select(key, [newer, newer]) == 1  # a re-PUT refreshes
    assert records.select(key, [newer, older]) == 0  # a rollback does not
    assert records.select(key, [older, newer]) == 1
    assert records.select(key, [newer, newer, newer]) == 2


def test_put_rate_is_asked_only_for_remote_puts() -> None:
    records = _records(admit=False)
    records.validate("/test/k", b"x")  # our own put: no peer in context
    token = inbound_peer.set("12D3KooWpeer")
    try:
        with pytest.raises(PutRateLimited):
            records.validate("/test/k", b"x")
    finally:
        inbound_peer.reset(token)


def test_provider_key_form_at_the_boundaries() -> None:
    digest = b"\x12\x20" + bytes(32)
    assert is_provider_key(digest)
    assert not is_provider_key(digest[:-1])
    assert not is_provider_key(digest + b"\x00")
    assert not is_provider_key(b"\x13\x20" + bytes(32))  # sha3, not sha2-256
    assert not is_provider_key(b"")
