"""Every range and size limit of the trade messages, at its boundary and one past it.

Each case takes a valid message's wire map, sets one field to the limit (it must parse) and
to one step past it (it must be refused with ``bad-field``), through the receiver's parser.
"""

import dataclasses
from typing import Any

import pytest

from umbra.core import MAX_AMOUNT, InvalidDocument, compute_cid, encode_canonical, limits
from umbra.market import (
    ArbiterDecision,
    Cancel,
    DisputeOpened,
    EscrowWrapper,
    Evidence,
    EvidenceAdded,
    OrderDecline,
    PaymentReceived,
    Shipped,
    TimeoutClaim,
    encode_evidence,
    encode_trade_message,
    parse_evidence,
    parse_trade_message,
)
from umbra.market._trade_limits import (
    MAX_ATTACHMENTS,
    MAX_DAYS,
    MAX_EVIDENCE_BYTES,
    MAX_EVIDENCE_CHARS,
    MAX_EVIDENCE_SEALED_BYTES,
    MAX_MESSAGE_ID,
    MAX_NOTE_CHARS,
    MAX_SEALED_ADDRESS_BYTES,
    MAX_SEALED_TRACKING_BYTES,
    MIN_DAYS,
    ORDER_ID_BYTES,
)
from umbra.market._trade_messages import to_wire

from .trade_helpers import ORDER, accept, direct_request, escrow_payload, request


def _wire(message: Any, sender: str = "buyer") -> dict[str, Any]:
    return to_wire(dataclasses.replace(message, order=ORDER, id=7, sender=sender))


ORDER_WIRE = _wire(request())
# One unit of price and no shipping cost: quantity and price reach their limits alone.
CHEAP_ORDER = {**ORDER_WIRE, "unit_price": 1, "shipping_cost": 0, "quantity": 1}
DECLINE = _wire(OrderDecline(reason="sold out"), "seller")
DECISION = _wire(ArbiterDecision(to_buyer=1, to_seller=2, cosigner="seller", reason="r"), "arbiter")


def parses(wire: dict[str, Any]) -> Any:
    return parse_trade_message(encode_canonical(wire))


def refused(wire: dict[str, Any]) -> str:
    with pytest.raises(InvalidDocument) as info:
        parse_trade_message(encode_canonical(wire))
    return info.value.reason


# (base wire, field, values at the limits, values one step past them)
CASES: list[tuple[str, dict[str, Any], str, list[Any], list[Any]]] = [
    ("id", DECLINE, "id", [1, MAX_MESSAGE_ID], [0, MAX_MESSAGE_ID + 1]),
    (
        "order-id",
        DECLINE,
        "order",
        [b"o" * ORDER_ID_BYTES],
        [b"o" * (ORDER_ID_BYTES - 1), b"o" * (ORDER_ID_BYTES + 1)],
    ),
    ("revision", ORDER_WIRE, "revision", [1, 2**31], [0, 2**31 + 1]),
    ("quantity", CHEAP_ORDER, "quantity", [1, limits.MAX_QUANTITY], [0, limits.MAX_QUANTITY + 1]),
    (
        "shipping-option",
        ORDER_WIRE,
        "shipping_option",
        [0, limits.MAX_SHIPPING_OPTIONS - 1],
        [-1, limits.MAX_SHIPPING_OPTIONS],
    ),
    (
        "sealed-address",
        ORDER_WIRE,
        "sealed_address",
        [b"a", b"a" * MAX_SEALED_ADDRESS_BYTES],
        [b"", b"a" * (MAX_SEALED_ADDRESS_BYTES + 1)],
    ),
    ("unit-price", CHEAP_ORDER, "unit_price", [1, MAX_AMOUNT], [0, MAX_AMOUNT + 1]),
    ("shipping-cost", ORDER_WIRE, "shipping_cost", [0], [-1]),
    ("ship-days", ORDER_WIRE, "ship_days", [MIN_DAYS, MAX_DAYS], [MIN_DAYS - 1, MAX_DAYS + 1]),
    (
        "confirm-days",
        ORDER_WIRE,
        "confirm_days",
        [MIN_DAYS, MAX_DAYS],
        [MIN_DAYS - 1, MAX_DAYS + 1],
    ),
    (
        "seller-key",
        ORDER_WIRE,
        "seller",
        [b"\x05" * 32],
        [b"\x05" * 31, b"\x05" * 33],
    ),
    (
        "amount",
        _wire(PaymentReceived(amount=5), "seller"),
        "amount",
        [0, MAX_AMOUNT],
        [-1, MAX_AMOUNT + 1],
    ),
    ("note", DECLINE, "reason", ["", "n" * MAX_NOTE_CHARS], ["n" * (MAX_NOTE_CHARS + 1)]),
    (
        "cancel-note",
        _wire(Cancel(reason="")),
        "reason",
        ["n" * MAX_NOTE_CHARS, "tab\tand\nnewline"],
        ["n" * (MAX_NOTE_CHARS + 1), "\x1f", "\x00"],
    ),
    (
        "claim-note",
        _wire(TimeoutClaim(kind="not-shipped", note="late")),
        "note",
        ["n" * MAX_NOTE_CHARS],
        ["n" * (MAX_NOTE_CHARS + 1)],
    ),
    (
        "decision-reason",
        DECISION,
        "reason",
        ["r", "r" * MAX_NOTE_CHARS],
        ["", "r" * (MAX_NOTE_CHARS + 1)],
    ),
    (
        "tracking",
        _wire(Shipped(sealed_tracking=b"t"), "seller"),
        "sealed_tracking",
        [None, b"t", b"t" * MAX_SEALED_TRACKING_BYTES],
        [b"", b"t" * (MAX_SEALED_TRACKING_BYTES + 1)],
    ),
    (
        "dispute-evidence",
        _wire(DisputeOpened(sealed_evidence=b"e")),
        "sealed_evidence",
        [b"e", b"e" * MAX_EVIDENCE_SEALED_BYTES],
        [b"", b"e" * (MAX_EVIDENCE_SEALED_BYTES + 1)],
    ),
    (
        "added-evidence",
        _wire(EvidenceAdded(sealed_evidence=b"e"), "seller"),
        "sealed_evidence",
        [b"e" * MAX_EVIDENCE_SEALED_BYTES],
        [b"", b"e" * (MAX_EVIDENCE_SEALED_BYTES + 1)],
    ),
]


@pytest.mark.parametrize(
    ("base", "field", "good", "bad"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_field_limits(base: dict[str, Any], field: str, good: list[Any], bad: list[Any]) -> None:
    for value in good:
        message = parses({**base, field: value})
        assert encode_trade_message(message) == encode_canonical({**base, field: value})
    for value in bad:
        assert refused({**base, field: value}) == "bad-field", value


def test_limit_values() -> None:
    assert (MAX_MESSAGE_ID, ORDER_ID_BYTES, MAX_NOTE_CHARS) == (2**31, 16, 500)
    assert (MIN_DAYS, MAX_DAYS, MAX_ATTACHMENTS) == (1, 90, 10)
    assert (MAX_SEALED_ADDRESS_BYTES, MAX_SEALED_TRACKING_BYTES) == (2048, 1024)
    assert MAX_EVIDENCE_SEALED_BYTES == 32 * 1024
    assert (MAX_EVIDENCE_BYTES, MAX_EVIDENCE_CHARS) == (31 * 1024, 10_000)


def test_order_total_may_reach_the_maximum_amount_but_not_pass_it() -> None:
    at_max = {**ORDER_WIRE, "quantity": 2, "unit_price": MAX_AMOUNT // 2 - 5, "shipping_cost": 10}
    assert parses(at_max).total == MAX_AMOUNT - (MAX_AMOUNT % 2)
    exact = {**ORDER_WIRE, "quantity": 1, "unit_price": MAX_AMOUNT - 10, "shipping_cost": 10}
    assert parses(exact).total == MAX_AMOUNT
    assert refused({**exact, "shipping_cost": 11}) == "bad-field"


def test_a_direct_order_without_an_arbiter_or_refund_address_is_fine() -> None:
    wire = {**_wire(direct_request()), "refund_address": None}
    assert parses(wire).arbiter is None
    assert refused({**wire, "arbiter": b"\x02" * 32}) == "bad-field"
    # An escrow order needs both.
    assert refused({**ORDER_WIRE, "refund_address": None}) == "bad-field"
    assert refused({**ORDER_WIRE, "arbiter": None}) == "bad-field"


def test_an_acceptance_names_exactly_one_address() -> None:
    acc = _wire(accept(), "seller")
    assert parses(acc).payout_address is not None
    assert refused({**acc, "payout_address": None}) == "bad-field"


def test_wire_version_must_be_exactly_one() -> None:
    assert refused({**DECLINE, "v": 0}) == "unknown-version"
    assert refused({**DECLINE, "v": 2}) == "unknown-version"
    assert refused({**DECLINE, "type": 7}) == "unknown-type"


# -- dispute evidence ----------------------------------------------------------------------------

PHOTO = compute_cid(b"photo", "raw")


def test_evidence_text_and_attachment_limits() -> None:
    full = Evidence("t" * MAX_EVIDENCE_CHARS, (PHOTO,) * MAX_ATTACHMENTS)
    assert parse_evidence(encode_evidence(full)) == full
    with pytest.raises(InvalidDocument, match="characters"):
        encode_evidence(Evidence("t" * (MAX_EVIDENCE_CHARS + 1)))
    with pytest.raises(InvalidDocument, match="attachments"):
        encode_evidence(Evidence("t", (PHOTO,) * (MAX_ATTACHMENTS + 1)))
    too_many = {"v": 1, "text": "t", "attachments": [PHOTO] * (MAX_ATTACHMENTS + 1)}
    with pytest.raises(InvalidDocument, match="attachments"):
        parse_evidence(encode_canonical(too_many))
    with pytest.raises(InvalidDocument):
        parse_evidence(encode_canonical({"v": 1, "text": "", "attachments": []}))


def _evidence_of_size(size: int) -> Evidence:
    """Evidence whose encoding is exactly ``size`` bytes (4-byte characters fill it fast)."""
    wide = "\U0001f4e6" * 7_800
    overhead = len(encode_evidence(Evidence(wide + "a"))) - len(wide.encode()) - 1
    # The text's length prefix stays 3 bytes (a 2-byte length) across the sizes used here.
    text = wide + "a" * (size - overhead - len(wide.encode()))
    evidence = Evidence(text)
    assert len(encode_canonical({"v": 1, "text": text, "attachments": []})) == size
    return evidence


def test_evidence_encoding_size_limit() -> None:
    at_limit = _evidence_of_size(MAX_EVIDENCE_BYTES)
    data = encode_evidence(at_limit)
    assert len(data) == MAX_EVIDENCE_BYTES
    assert parse_evidence(data) == at_limit
    with pytest.raises(InvalidDocument) as info:
        encode_evidence(_evidence_of_size(MAX_EVIDENCE_BYTES + 1))
    assert info.value.reason == "oversize"


@pytest.mark.parametrize(
    "wire",
    [
        {"v": 2, "text": "t", "attachments": []},
        {"v": True, "text": "t", "attachments": []},
        {"v": 1, "text": "t"},
        {"v": 1, "text": "t", "attachments": [], "x": 1},
        {"v": 1, "text": "t", "attachments": "none"},
        {"v": 1, "text": "t", "attachments": [compute_cid(b"x", "raw").encode()]},
        [1],
    ],
)
def test_malformed_evidence_is_refused(wire: Any) -> None:
    with pytest.raises(InvalidDocument):
        parse_evidence(encode_canonical(wire))


def test_messages_and_evidence_are_frozen() -> None:
    from umbra.market._trade_messages import TYPE_NAMES

    samples = [parses(ORDER_WIRE), parses(DECLINE), parses(DECISION), Evidence("t")]
    assert {type(m) for m in samples[:3]} < set(TYPE_NAMES)
    for cls in TYPE_NAMES:
        assert cls.__dataclass_params__.frozen, cls  # type: ignore[attr-defined]
    for message in samples:
        with pytest.raises(dataclasses.FrozenInstanceError):
            message.id = 99  # type: ignore[misc,union-attr]


def test_size_cap_is_one_mebibyte_and_checked_first() -> None:
    with pytest.raises(InvalidDocument) as info:
        parse_trade_message(b"\xff" * 1_048_576)
    assert info.value.reason != "oversize"
    with pytest.raises(InvalidDocument) as info:
        parse_trade_message(b"\xff" * 1_048_577)
    assert info.value.reason == "oversize"


def test_an_empty_escrow_payload_is_a_bad_field() -> None:
    wrapped = _wire(EscrowWrapper(to="seller", payload=escrow_payload("buyer")))
    assert refused({**wrapped, "payload": b""}) == "bad-field"


def test_an_escrow_payload_error_is_cut_to_200_characters() -> None:
    wrapped = _wire(EscrowWrapper(to="seller", payload=escrow_payload("buyer")))
    payload = encode_canonical({"v": "x" * 400, "type": "setup"})
    with pytest.raises(InvalidDocument) as info:
        parse_trade_message(encode_canonical({**wrapped, "payload": payload}))
    assert info.value.reason == "bad-escrow-payload"
    assert len(info.value.detail.removeprefix("escrow.payload: ")) == 200


def test_unknown_types_and_fields_are_named_in_at_most_20_characters() -> None:
    with pytest.raises(InvalidDocument) as info:
        parses({**DECLINE, "type": "t" * 30})
    assert info.value.detail.endswith(repr("t" * 20))
    with pytest.raises(InvalidDocument) as info:
        parses({**DECLINE, "k" * 30: 1})
    assert repr("k" * 20) + "]" in info.value.detail


def test_message_fields_are_keyword_only() -> None:
    """Commands are written without the common fields, so no field may be filled by
    position: a positional argument is a bug (it would land in the wrong field)."""
    from umbra.market._trade_messages import TYPE_NAMES, _Message

    with pytest.raises(TypeError):
        _Message(b"o" * 16)  # type: ignore[misc]
    for cls in TYPE_NAMES:
        own = [f for f in dataclasses.fields(cls) if f.name not in ("order", "id", "sender")]
        if own:
            with pytest.raises(TypeError):
                cls(*[None] * len(own))
