"""Trade messages: round trips, strict rejection, and parsers that only ever say InvalidDocument."""

import contextlib
import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from umbra.core import InvalidDocument, compute_cid, decode_canonical, encode_canonical
from umbra.market import (
    MAX_TRADE_MESSAGE_BYTES,
    ArbiterAccept,
    ArbiterDecision,
    Cancel,
    DisputeOpened,
    EscrowWrapper,
    Evidence,
    EvidenceAdded,
    OrderDecline,
    PaymentReceived,
    ReceiptConfirmed,
    Shipped,
    TimeoutClaim,
    TradeMessage,
    encode_evidence,
    encode_trade_message,
    parse_evidence,
    parse_trade_message,
)
from umbra.market._trade_messages import to_wire

from .trade_helpers import ORDER, accept, direct_request, escrow_payload, request


def _common(message: Any, sender: str = "buyer") -> Any:
    return dataclasses.replace(message, order=ORDER, id=7, sender=sender)


SAMPLES: list[TradeMessage] = [
    _common(request()),
    _common(direct_request()),
    _common(request(shipping_option=None, sealed_address=None)),
    _common(accept(), "seller"),
    _common(accept("direct"), "seller"),
    _common(OrderDecline(reason="sold out"), "seller"),
    _common(Cancel(reason="")),
    _common(ArbiterAccept(), "arbiter"),
    _common(PaymentReceived(amount=5), "seller"),
    _common(EscrowWrapper(to="seller", payload=escrow_payload("buyer"))),
    _common(Shipped(sealed_tracking=b"t"), "seller"),
    _common(Shipped(sealed_tracking=None), "seller"),
    _common(ReceiptConfirmed()),
    _common(DisputeOpened(sealed_evidence=b"e" * 100)),
    _common(EvidenceAdded(sealed_evidence=b"more"), "seller"),
    _common(ArbiterDecision(to_buyer=1, to_seller=2, cosigner="seller", reason="r"), "arbiter"),
    _common(TimeoutClaim(kind="not-shipped", note="late")),
]


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip(message: TradeMessage) -> None:
    data = encode_trade_message(message)
    assert parse_trade_message(data) == message
    assert encode_trade_message(parse_trade_message(data)) == data


def _reason(wire: dict[str, Any]) -> str:
    with pytest.raises(InvalidDocument) as info:
        parse_trade_message(encode_canonical(wire))
    return info.value.reason


def test_strict_rejections() -> None:
    good = to_wire(SAMPLES[0])
    assert _reason({**good, "v": 2}) == "unknown-version"
    assert _reason({**good, "v": True}) == "unknown-version"
    assert _reason({**good, "type": "bogus"}) == "unknown-type"
    assert _reason({**good, "extra": 1}) == "wrong-fields"
    assert _reason({k: v for k, v in good.items() if k != "quantity"}) == "wrong-fields"
    assert _reason({**good, "quantity": 0}) == "bad-field"
    assert _reason({**good, "quantity": True}) == "bad-field"
    assert _reason({**good, "order": b"short"}) == "bad-field"
    assert _reason({**good, "id": 0}) == "bad-field"
    assert _reason({**good, "from": "mallory"}) == "bad-field"
    assert _reason({**good, "payment": "credit"}) == "bad-field"
    assert _reason({**good, "refund_address": "not an address"}) == "bad-field"
    assert _reason({**good, "sealed_address": None}) == "bad-field"  # option without address
    assert _reason({**good, "arbiter": None}) == "bad-field"  # escrow without arbiter
    assert _reason({**good, "arbiter": good["seller"]}) == "bad-field"
    raw = compute_cid(b"x", "raw")
    assert _reason({**good, "listing": raw}) == "bad-field"
    assert _reason({**good, "ship_days": 365}) == "bad-field"
    assert _reason([1, 2]) == "not-a-map"  # type: ignore[arg-type]
    acc = to_wire(SAMPLES[3])
    assert _reason({**acc, "payment_address": acc["payout_address"]}) == "bad-field"
    wrapped = to_wire(SAMPLES[9])
    assert _reason({**wrapped, "payload": b"\xa0"}) == "bad-escrow-payload"
    assert _reason({**wrapped, "from": "arbiter"}) == "bad-escrow-payload"  # inner sender
    assert _reason({**wrapped, "to": "buyer"}) == "bad-field"
    dec = to_wire(SAMPLES[15])
    assert _reason({**dec, "cosigner": "arbiter"}) == "bad-field"
    assert _reason({**dec, "reason": "bad\x00text"}) == "bad-field"


def test_size_cap_and_canonical_form() -> None:
    with pytest.raises(InvalidDocument) as info:
        parse_trade_message(b"\xa0" + b"\x00" * MAX_TRADE_MESSAGE_BYTES)
    assert info.value.reason == "oversize"
    data = encode_trade_message(SAMPLES[12])
    # The same map with a non-minimal integer (id 7 as a 2-byte int) is refused.
    noncanonical = data.replace(b"bid\x07", b"bid\x19\x00\x07")
    assert noncanonical != data
    with pytest.raises(InvalidDocument) as info:
        parse_trade_message(noncanonical)
    assert info.value.reason in ("non-canonical", "malformed-encoding")


def test_nothing_invalid_is_ever_encoded() -> None:
    with pytest.raises(InvalidDocument):
        encode_trade_message(dataclasses.replace(SAMPLES[12], id=0))
    big = _common(DisputeOpened(sealed_evidence=b"e" * (MAX_TRADE_MESSAGE_BYTES + 1)))
    with pytest.raises(InvalidDocument):
        encode_trade_message(big)


def test_evidence_round_trip_and_limits() -> None:
    ev = Evidence("the box was empty", (compute_cid(b"photo", "raw"),))
    assert parse_evidence(encode_evidence(ev)) == ev
    with pytest.raises(InvalidDocument):
        encode_evidence(Evidence(""))
    with pytest.raises(InvalidDocument):
        parse_evidence(encode_canonical({"v": 1, "text": "x", "attachments": [1]}))


# -- properties --------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_only_invalid_document(data: bytes) -> None:
    for parse in (parse_trade_message, parse_evidence):
        with contextlib.suppress(InvalidDocument):
            parse(data)


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64) + 1, max_value=2**64 - 1),
    st.text(max_size=40),
    st.binary(max_size=40),
    # Within CBOR's integer range: umbra.core.encode_canonical leaks dag_cbor's own error
    # type for larger ones (reported to its owner); here the test only builds its input.
    st.lists(st.integers(-(2**63), 2**63), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(-(2**63), 2**63), max_size=3),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SAMPLES),
    st.lists(st.tuples(st.text(min_size=1, max_size=20), _VALUES), max_size=3),
    st.lists(st.text(max_size=20), max_size=2),
)
def test_mutated_messages_only_invalid_document(
    message: TradeMessage, changes: list[tuple[str, Any]], drops: list[str]
) -> None:
    wire = to_wire(message)
    keys = sorted(wire)
    for key, value in changes:
        wire[keys[len(key) % len(keys)] if len(key) % 3 else key] = value
    for key in drops:
        wire.pop(key, None)
    try:
        data = encode_canonical(wire)
    except InvalidDocument:
        return
    try:
        parsed = parse_trade_message(data)
    except InvalidDocument:
        return
    assert encode_trade_message(parsed) == data  # what parses re-encodes to the same bytes


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SAMPLES), st.data())
def test_bit_flips_only_invalid_document(message: TradeMessage, data: st.DataObject) -> None:
    raw = bytearray(encode_trade_message(message))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= 1 << data.draw(st.integers(0, 7))
    with contextlib.suppress(InvalidDocument):
        parse_trade_message(bytes(raw))


def test_decode_of_samples_is_strictly_a_map() -> None:
    for message in SAMPLES:
        assert isinstance(decode_canonical(encode_trade_message(message), max_size=10**6), dict)
