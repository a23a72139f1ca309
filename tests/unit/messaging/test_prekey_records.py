"""The ``umbra-prekeys`` DHT record: signature, key binding, clock, selection."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from umbra.core import decode_canonical, encode_canonical
from umbra.core.crypto import SigningKey
from umbra.net.messaging import (
    InvalidPrekeyRecord,
    SessionManager,
    check_prekey_record_at,
    parse_prekey_record,
    prekey_key,
    select_prekey_record,
    sign_prekey_record,
)
from umbra.net.messaging._service import PrekeyRecordValidator

NOW = 1_700_000_000
PEER = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"


def _persona(seed: int) -> tuple[SigningKey, SessionManager]:
    key = SigningKey(bytes([seed]) * 32)
    manager, _ = SessionManager.create(key, now=NOW)
    return key, manager


KEY, MANAGER = _persona(7)
OTHER_KEY, OTHER_MANAGER = _persona(8)


def record(at: int = NOW, peer: str | None = PEER) -> bytes:
    bundle = MANAGER.prekey_bundle(KEY, now=at)
    return sign_prekey_record(KEY, bundle, peer=peer, now=at)


def test_valid_record() -> None:
    got = check_prekey_record_at(prekey_key(KEY.public_key), record(), NOW)
    assert got.persona == KEY.public_key
    assert got.peer == PEER
    assert got.published_at == NOW
    assert got.bundle.certificate == MANAGER.certificate
    assert check_prekey_record_at(prekey_key(KEY.public_key), record(peer=None), NOW).peer is None


def test_record_under_another_personas_key() -> None:
    with pytest.raises(InvalidPrekeyRecord):
        check_prekey_record_at(prekey_key(OTHER_KEY.public_key), record(), NOW)


@pytest.mark.parametrize(
    "key",
    ["/umbra-prekeys/" + "AB" * 32, "/umbra-prekeys/abcd", "/umbra-catalog/" + "ab" * 32, "x"],
)
def test_malformed_keys(key: str) -> None:
    with pytest.raises(InvalidPrekeyRecord):
        check_prekey_record_at(key, record(), NOW)


def test_future_record() -> None:
    value = record(at=NOW + 3601)
    with pytest.raises(InvalidPrekeyRecord):
        check_prekey_record_at(prekey_key(KEY.public_key), value, NOW)
    check_prekey_record_at(prekey_key(KEY.public_key), value, NOW + 1)


def test_forged_peer_or_time() -> None:
    obj = decode_canonical(record(), max_size=1 << 16)
    for field, value in (("peer", "12D3KooWattacker"), ("at", NOW + 1), ("peer", None)):
        forged = encode_canonical({**obj, field: value})
        with pytest.raises(InvalidPrekeyRecord):
            parse_prekey_record(forged)


def test_signed_by_someone_else() -> None:
    """A record carrying K's bundle but signed by another key is refused."""
    obj = decode_canonical(record(), max_size=1 << 16)
    body = {k: v for k, v in obj.items() if k != "sig"}
    from umbra.core.crypto import tags

    sig = OTHER_KEY.sign(tags.MSG_PREKEY_RECORD_SIG, encode_canonical(body))
    with pytest.raises(InvalidPrekeyRecord):
        parse_prekey_record(encode_canonical({**body, "sig": sig}))


def test_unknown_fields_and_version() -> None:
    obj = decode_canonical(record(), max_size=1 << 16)
    with pytest.raises(InvalidPrekeyRecord):
        parse_prekey_record(encode_canonical({**obj, "extra": 1}))
    with pytest.raises(InvalidPrekeyRecord):
        parse_prekey_record(encode_canonical({**obj, "v": 2}))


def test_selection_prefers_newer_and_ignores_invalid() -> None:
    old, new = record(at=NOW), record(at=NOW + 10)
    assert select_prekey_record([old, new]) == 1
    assert select_prekey_record([new, old]) == 0
    assert select_prekey_record([b"junk", old]) == 1
    v = PrekeyRecordValidator(clock=lambda: NOW)
    v.validate(prekey_key(KEY.public_key), old)
    assert v.select(prekey_key(KEY.public_key), [old, new]) == 1
    with pytest.raises(ValueError, match="invalid prekey record"):
        v.validate(prekey_key(KEY.public_key), b"junk")


def test_signing_someone_elses_bundle_is_refused() -> None:
    with pytest.raises(ValueError, match="another persona"):
        sign_prekey_record(OTHER_KEY, MANAGER.prekey_bundle(KEY, now=NOW), peer=None, now=NOW)


@settings(deadline=None)  # wall-clock deadlines flake on the shared, loaded machine
@given(st.binary(max_size=2048))
def test_random_bytes_never_crash(data: bytes) -> None:
    with pytest.raises(InvalidPrekeyRecord):
        check_prekey_record_at(prekey_key(KEY.public_key), data, NOW)
    assert select_prekey_record([data]) == 0
