"""Every limit of the escrow messages, at its boundary and one past it.

Each case takes a valid message's wire map, sets one field to the limit (it must decode) and
one step past it (it must be refused with `EscrowProtocolError`). The numbers are written as
docs/specifications/escrow.md gives them, so a changed constant fails here too.
"""

from typing import Any

import pytest

from umbra.core import MAX_AMOUNT, encode_canonical
from umbra.wallet import (
    EscrowProtocolError,
    Payout,
    PayoutRefusal,
    SetupInfo,
    decode_message,
    encode_message,
)

ADDR = "4" + "A" * 94
TXID = "ab" * 32
RELEASE = {
    "kind": "release",
    "proposer": "buyer",
    "cosigner": "seller",
    "to_seller": 10,
    "to_buyer": 0,
}


def wire(kind: str, **fields: Any) -> dict[str, Any]:
    return {"v": 1, "type": kind, "escrow": "e-1", "from": "buyer", **fields}


SETUP = wire("setup", round=0, info="x")
SYNC = wire("sync", seq=1, payout=RELEASE, info="x")
PROPOSAL = wire("proposal", seq=1, payout=RELEASE, txset="x")
REFUSAL = wire("refusal", seq=1, reason="", resync=False)
DONE = wire("done", seq=1, txids=[TXID])
ADDRESS = wire("address", address=ADDR)
FUNDING = wire("funding", txid=TXID)


def decodes(body: dict[str, Any]) -> Any:
    return decode_message(encode_canonical(body))


def refused(body: dict[str, Any]) -> str:
    with pytest.raises(EscrowProtocolError) as info:
        decode_message(encode_canonical(body))
    return str(info.value)


def payout(**changes: Any) -> dict[str, Any]:
    return {**RELEASE, **changes}


KIB = 1024
CASES: list[tuple[str, dict[str, Any], str, list[Any], list[Any]]] = [
    ("round", SETUP, "round", [0, 2], [-1, 3, True]),
    ("seq", SYNC, "seq", [1, 1_000_000], [0, 1_000_001, True]),
    (
        "info",
        SETUP,
        "info",
        ["x", "~!", "x" * (256 * KIB)],
        ["", "x" * (256 * KIB + 1), "a b", "é", 7],
    ),
    ("sync-info", SYNC, "info", ["x" * (256 * KIB)], ["x" * (256 * KIB + 1)]),
    ("txset", PROPOSAL, "txset", ["x" * (768 * KIB)], ["", "x" * (768 * KIB + 1)]),
    ("reason", REFUSAL, "reason", ["", "r" * 200], ["r" * 201, None]),
    ("resync", REFUSAL, "resync", [True, False], [1, None]),
    ("txids", DONE, "txids", [[TXID], [TXID] * 16], [[], [TXID] * 17, TXID]),
    ("txid", DONE, "txids", [["0" * 64]], [["AB" * 32], ["a" * 63], ["a" * 65], ["g" * 64], [7]]),
    ("funding-txid", FUNDING, "txid", [TXID], ["ab" * 31, None]),
    ("escrow-id", SETUP, "escrow", ["e", "a" * 64, "0-", "a-b-c"], ["", "a" * 65, "-a", "A", 5]),
    (
        "address",
        ADDRESS,
        "address",
        [ADDR, "8" + "C" * 105],
        [ADDR[:-1], ADDR + "A", "0" * 95, 5],
    ),
    ("sender", SETUP, "from", ["buyer", "seller", "arbiter"], ["mallory", None]),
    (
        "amount",
        SYNC,
        "payout",
        [payout(to_seller=0), payout(to_seller=MAX_AMOUNT)],
        [payout(to_seller=-1), payout(to_seller=MAX_AMOUNT + 1), payout(to_seller=True)],
    ),
    (
        "payout-fields",
        SYNC,
        "payout",
        [RELEASE],
        [{**RELEASE, "x": 1}, {k: v for k, v in RELEASE.items() if k != "kind"}, [1]],
    ),
]


@pytest.mark.parametrize(
    ("base", "field", "good", "bad"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_field_limits(base: dict[str, Any], field: str, good: list[Any], bad: list[Any]) -> None:
    for value in good:
        message = decodes({**base, field: value})
        assert encode_message(message) == encode_canonical({**base, field: value})
    for value in bad:
        assert refused({**base, field: value}).startswith("bad escrow message"), value


@pytest.mark.parametrize(
    ("changes", "allowed"),
    [
        ({}, True),  # release: buyer proposes, seller co-signs, nothing to the buyer
        ({"to_buyer": 1}, False),
        ({"proposer": "seller", "cosigner": "buyer"}, False),
        ({"cosigner": "arbiter"}, False),
        ({"kind": "refund", "proposer": "seller", "cosigner": "buyer", "to_seller": 0}, True),
        ({"kind": "refund", "proposer": "arbiter", "cosigner": "buyer", "to_seller": 0}, True),
        ({"kind": "refund", "proposer": "buyer", "cosigner": "buyer", "to_seller": 0}, False),
        ({"kind": "refund", "proposer": "seller", "cosigner": "arbiter", "to_seller": 0}, False),
        ({"kind": "refund", "proposer": "seller", "cosigner": "buyer", "to_seller": 1}, False),
        ({"kind": "dispute", "proposer": "arbiter", "cosigner": "buyer", "to_buyer": 3}, True),
        ({"kind": "dispute", "proposer": "arbiter", "cosigner": "seller", "to_buyer": 3}, True),
        ({"kind": "dispute", "proposer": "arbiter", "cosigner": "arbiter"}, False),
        ({"kind": "dispute", "proposer": "buyer", "cosigner": "seller"}, False),
        ({"kind": "steal"}, False),
    ],
)
def test_payout_shapes(changes: dict[str, Any], allowed: bool) -> None:
    body = {**SYNC, "payout": payout(**changes)}
    if allowed:
        assert decodes(body).payout == Payout(**payout(**changes))
    else:
        assert "cannot be signed that way" in refused(body) or "unknown payout kind" in refused(
            body
        )


def test_payout_total_and_shares() -> None:
    split = Payout("dispute", "arbiter", "buyer", 7, 5)
    assert split.total == 12
    assert (split.share_of("seller"), split.share_of("buyer"), split.share_of("arbiter")) == (
        7,
        5,
        0,
    )


def test_version_and_type() -> None:
    assert "version" in refused({**SETUP, "v": 0})
    assert "version" in refused({**SETUP, "v": 2})
    assert "unknown escrow message type" in refused({**SETUP, "type": 5})
    assert "not a map" in refused([1, 2])  # type: ignore[arg-type]
    assert isinstance(decodes(REFUSAL), PayoutRefusal)


def _setup_of_size(size: int) -> SetupInfo:
    """A setup message whose encoding is exactly ``size`` bytes (``info`` unchecked here)."""
    probe = SetupInfo("e-1", "buyer", 0, "x" * 70_000)
    overhead = len(encode_message(probe)) - 70_000
    message = SetupInfo("e-1", "buyer", 0, "x" * (size - overhead))
    assert len(encode_canonical({**SETUP, "info": message.info})) == size
    return message


def test_encoded_size_limit_is_one_mebibyte() -> None:
    assert len(encode_message(_setup_of_size(1024 * KIB))) == 1024 * KIB
    with pytest.raises(EscrowProtocolError, match="too large"):
        encode_message(_setup_of_size(1024 * KIB + 1))


def test_decoded_size_limit_is_checked_first() -> None:
    """1 MiB of junk reaches the decoder; one byte more is refused as oversize."""
    at_limit = refused_bytes(b"\xff" * (1024 * KIB))
    assert "oversize" not in at_limit
    assert "oversize" in refused_bytes(b"\xff" * (1024 * KIB + 1))


def refused_bytes(data: bytes) -> str:
    with pytest.raises(EscrowProtocolError) as info:
        decode_message(data)
    return str(info.value)


def test_messages_and_payouts_are_frozen() -> None:
    import dataclasses

    for value in (
        decodes(SETUP),
        decodes(SYNC),
        decodes(DONE),
        decodes(REFUSAL),
        Payout(**RELEASE),
    ):
        field = next(iter(value.__dataclass_fields__))
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, field, None)
    for body in (ADDRESS, FUNDING, PROPOSAL):
        message = decodes(body)
        with pytest.raises(dataclasses.FrozenInstanceError):
            message.escrow = "other"


def test_an_unknown_type_is_named_in_at_most_20_characters() -> None:
    assert refused({**SETUP, "type": "t" * 30}).endswith(repr("t" * 20))
