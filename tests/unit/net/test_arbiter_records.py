"""The DHT arbiter-profile validator and record selection."""

import pytest

from umbra.core import ArbiterProfileBody, sign_arbiter_profile
from umbra.core.crypto import SigningKey
from umbra.net import (
    ArbiterProfileValidator,
    InvalidRecord,
    arbiter_key,
    check_arbiter_record_at,
    select_arbiter_record,
)

NOW = 1_800_000_000
KEY = SigningKey(bytes(range(32)))
OTHER = SigningKey(bytes(range(1, 33)))


def profile(created_at: int = NOW, *, key: SigningKey = KEY, days: int = 7) -> bytes:
    body = ArbiterProfileBody(
        v=1, kind="arbiter-profile", arbiter=key.public_key, name="Judge", fee="1 %",
        terms="", created_at=created_at, expires_at=created_at + days * 86400,
    )  # fmt: skip
    return sign_arbiter_profile(key, body).data


def test_valid_record() -> None:
    got = check_arbiter_record_at(arbiter_key(KEY.public_key), profile(), NOW)
    assert got.body.name == "Judge"
    ArbiterProfileValidator(lambda: NOW).validate(arbiter_key(KEY.public_key), profile())


@pytest.mark.parametrize(
    "key",
    [
        arbiter_key(OTHER.public_key),  # another persona's key
        "/umbra-arbiter/" + KEY.public_key.hex().upper(),
        "/umbra-arbiter/" + KEY.public_key.hex()[:-2],
        "/umbra-catalog/" + KEY.public_key.hex(),
        "/umbra-arbiter/" + "zz" * 32,
    ],
)
def test_wrong_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidRecord):
        check_arbiter_record_at(key, profile(), NOW)


def test_future_expired_and_garbage_records_are_refused() -> None:
    key = arbiter_key(KEY.public_key)
    with pytest.raises(InvalidRecord):
        check_arbiter_record_at(key, profile(NOW + 7200), NOW)
    with pytest.raises(InvalidRecord):
        check_arbiter_record_at(key, profile(NOW - 8 * 86400), NOW)
    with pytest.raises(InvalidRecord):
        check_arbiter_record_at(key, b"\xa0", NOW)
    with pytest.raises(InvalidRecord):
        check_arbiter_record_at(key, profile(key=OTHER), NOW)


def test_the_newest_valid_profile_wins() -> None:
    old, new = profile(NOW - 100), profile(NOW)
    assert select_arbiter_record([old, new]) == 1
    assert select_arbiter_record([new, old]) == 0
    assert select_arbiter_record([b"junk", old]) == 1
    assert ArbiterProfileValidator(lambda: NOW).select("k", [old, b"junk", new]) == 2
