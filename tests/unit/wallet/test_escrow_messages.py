"""Strict parsing of escrow messages: round trips, and hostile bytes never crash."""

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from umbra.core import encode_canonical
from umbra.wallet import (
    AddressAnnounce,
    EscrowProtocolError,
    Payout,
    PayoutDone,
    PayoutProposal,
    SetupInfo,
    SyncInfo,
    decode_message,
    encode_message,
)

ADDR = "4" + "A" * 94
PAYOUT = Payout("release", "buyer", "seller", 10, 0)
SAMPLES = [
    SetupInfo("e-1", "buyer", 0, "MultisigxV2R1abc"),
    AddressAnnounce("e-1", "seller", ADDR),
    SyncInfo("e-1", "buyer", 1, PAYOUT, "deadbeef"),
    PayoutProposal("e-1", "buyer", 1, PAYOUT, "0a0b"),
    PayoutDone("e-1", "seller", 1, ("ab" * 32,)),
]


@pytest.mark.parametrize("message", SAMPLES)
def test_round_trip(message: object) -> None:
    assert decode_message(encode_message(message)) == message  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "body",
    [
        {"v": 2, "type": "setup", "escrow": "e", "from": "buyer", "round": 0, "info": "x"},
        {"v": 1, "type": "setup", "escrow": "e", "from": "mallory", "round": 0, "info": "x"},
        {"v": 1, "type": "setup", "escrow": "e", "from": "buyer", "round": 3, "info": "x"},
        {"v": 1, "type": "setup", "escrow": "e", "from": "buyer", "round": 0, "info": ""},
        {"v": 1, "type": "setup", "escrow": "E!", "from": "buyer", "round": 0, "info": "x"},
        {"v": 1, "type": "setup", "escrow": "e", "from": "buyer", "round": 0, "info": "x", "z": 1},
        {"v": 1, "type": "address", "escrow": "e", "from": "buyer", "address": "nope"},
        {"v": 1, "type": "nuke", "escrow": "e", "from": "buyer"},
        {"v": 1, "type": "done", "escrow": "e", "from": "buyer", "seq": 1, "txids": []},
        {"v": 1, "type": "sync", "escrow": "e", "from": "buyer", "seq": 1, "info": "x",
         "payout": {"kind": "release", "proposer": "seller", "cosigner": "buyer",
                    "to_seller": 1, "to_buyer": 0}},
    ],
)  # fmt: skip
def test_rejects_bad_fields(body: dict[str, object]) -> None:
    with pytest.raises(EscrowProtocolError):
        decode_message(encode_canonical(body))


def test_rejects_oversize() -> None:
    with pytest.raises(EscrowProtocolError):
        decode_message(b"\xa0" * (1024 * 1024 + 1))


@given(st.binary(max_size=512))
@settings(max_examples=500)
def test_random_bytes_never_crash(data: bytes) -> None:
    with contextlib.suppress(EscrowProtocolError):
        decode_message(data)
