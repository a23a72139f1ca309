"""Every trade protocol message, typed and versioned, with its strict wire format.

Wire format: one canonical DAG-CBOR map per message, the plaintext of one end-to-end
encrypted messaging record (`umbra.net.messaging`)::

    {"v": 1, "type": "shipped", "order": <16 bytes>, "id": 3, "from": "seller", ...fields}

- ``order`` names the trade (16 random bytes chosen by the buyer), ``id`` numbers the
  sender's messages in that trade (1, 2, 3, ...): ``(order, from, id)`` is the message id a
  receiver uses to refuse replays. Ids are assigned by the sender's order machine, so a
  message re-sent after a crash keeps its id and is recognised as a duplicate.
- Parsing is strict: size cap first, canonical encoding, exact key set per type (no unknown
  or missing fields; optional fields are present as ``null``), type and range checks on every
  field. Every failure is `InvalidDocument` with a reason code.
- The escrow's own messages (``umbra.wallet``) ride inside `EscrowWrapper` as the wallet's
  bytes, parsed by the wallet's parser: their schema lives in one place, there.
- Nothing here decides whether a message is allowed *now*; that is the order machine's job.
- Sealed fields (shipping address, tracking, dispute evidence) are opaque bytes here: the
  driver seals them with ``umbra.core.crypto.seal_envelope`` to the one party that may read
  them; `Evidence` is the format inside the sealed evidence.
"""

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from multiformats import CID

from umbra.core import MAX_AMOUNT, InvalidDocument, decode_canonical, encode_canonical, limits
from umbra.core.crypto import PUBLIC_KEY_BYTES as _KEY_BYTES
from umbra.wallet import EscrowMessage, EscrowProtocolError, decode_message

from ._trade_limits import (
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

VERSION = 1
# A trade message is one payload of the messaging channel (kind "trade"), which carries bodies
# up to 1 MiB in chunks: room for the escrow's multisig transaction sets (up to 1 MiB).
MAX_TRADE_MESSAGE_BYTES = 1 << 20

Role: TypeAlias = Literal["buyer", "seller", "arbiter"]
ROLES: tuple[Role, ...] = ("buyer", "seller", "arbiter")
PaymentMode: TypeAlias = Literal["escrow", "direct"]
PAYMENT_MODES: tuple[PaymentMode, ...] = ("escrow", "direct")
ClaimKind: TypeAlias = Literal["not-shipped", "not-confirmed"]
CLAIM_KINDS: tuple[ClaimKind, ...] = ("not-shipped", "not-confirmed")

_ADDRESS = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{95}$|^[1-9A-HJ-NP-Za-km-z]{106}$")


# -- messages ------------------------------------------------------------------------------
# Common fields come last and have defaults: a local command is written without them and the
# order machine stamps ``order``, ``id`` and ``sender`` before checking and sending it.


@dataclass(frozen=True, kw_only=True)
class _Message:
    order: bytes = b""
    id: int = 0
    sender: Role = "buyer"


@dataclass(frozen=True, kw_only=True)
class OrderRequest(_Message):
    """Buyer → seller (and arbiter, escrow mode): the order, priced as the buyer read it."""

    listing: CID  # the listing revision's document CID
    revision: int
    quantity: int
    shipping_option: int | None  # index into the listing's options; None: nothing to ship
    sealed_address: bytes | None  # sealed to the seller; present iff shipping_option is
    payment: PaymentMode
    seller: bytes  # the seller's public key (from the listing)
    arbiter: bytes | None  # from the seller's accepted list; escrow only
    refund_address: str | None  # required for escrow
    unit_price: int
    shipping_cost: int
    ship_days: int  # the seller must ship within this many days of funding
    confirm_days: int  # the buyer must confirm or dispute this many days after shipping

    @property
    def total(self) -> int:
        """What the buyer pays (the escrow amount): price × quantity + shipping."""
        return self.unit_price * self.quantity + self.shipping_cost


@dataclass(frozen=True, kw_only=True)
class OrderAccept(_Message):
    """Seller → buyer (and arbiter): escrow mode names the seller's payout address, direct
    mode the subaddress to pay. Exactly one of the two is set, per the order's mode."""

    payout_address: str | None
    payment_address: str | None


@dataclass(frozen=True, kw_only=True)
class OrderDecline(_Message):
    reason: str


@dataclass(frozen=True, kw_only=True)
class Cancel(_Message):
    reason: str


@dataclass(frozen=True, kw_only=True)
class ArbiterAccept(_Message):
    """Arbiter → buyer, seller: it takes the case; everyone starts the escrow set-up."""


@dataclass(frozen=True, kw_only=True)
class PaymentReceived(_Message):
    """Seller → buyer (direct mode): the seller's wallet saw the payment confirmed."""

    amount: int


@dataclass(frozen=True, kw_only=True)
class EscrowWrapper(_Message):
    """One escrow message (``umbra.wallet``'s wire bytes) from ``sender`` to ``to``."""

    to: Role
    payload: bytes

    def escrow_message(self) -> EscrowMessage:
        """The wallet message inside (already validated when this wrapper was parsed)."""
        return decode_message(self.payload)


@dataclass(frozen=True, kw_only=True)
class Shipped(_Message):
    sealed_tracking: bytes | None  # sealed to the buyer


@dataclass(frozen=True, kw_only=True)
class ReceiptConfirmed(_Message):
    """Buyer → all: the goods arrived; in escrow mode this releases the funds to the seller."""


@dataclass(frozen=True, kw_only=True)
class DisputeOpened(_Message):
    sealed_evidence: bytes  # an `Evidence` document sealed to the arbiter


@dataclass(frozen=True, kw_only=True)
class EvidenceAdded(_Message):
    sealed_evidence: bytes


@dataclass(frozen=True, kw_only=True)
class ArbiterDecision(_Message):
    """How the escrow is split. ``to_buyer + to_seller`` is the whole escrow amount; the
    ``cosigner`` signs the arbiter's payout with it and pays the network fee from its share
    (the wallet's rule: the arbiter is never paid out of the escrow)."""

    to_buyer: int
    to_seller: int
    cosigner: Role
    reason: str


@dataclass(frozen=True, kw_only=True)
class TimeoutClaim(_Message):
    """Buyer: "not shipped in time" (asks for a refund); seller: "not confirmed in time"
    (asks for release). Sent to the arbiter and the other party; opens a dispute."""

    kind: ClaimKind
    note: str


TradeMessage: TypeAlias = (
    OrderRequest
    | OrderAccept
    | OrderDecline
    | Cancel
    | ArbiterAccept
    | PaymentReceived
    | EscrowWrapper
    | Shipped
    | ReceiptConfirmed
    | DisputeOpened
    | EvidenceAdded
    | ArbiterDecision
    | TimeoutClaim
)

TYPE_NAMES: dict[type, str] = {
    OrderRequest: "order",
    OrderAccept: "accept",
    OrderDecline: "decline",
    Cancel: "cancel",
    ArbiterAccept: "arbiter-accept",
    PaymentReceived: "payment-received",
    EscrowWrapper: "escrow",
    Shipped: "shipped",
    ReceiptConfirmed: "confirm",
    DisputeOpened: "dispute",
    EvidenceAdded: "evidence",
    ArbiterDecision: "decision",
    TimeoutClaim: "claim",
}
_BY_NAME: dict[str, type] = {name: cls for cls, name in TYPE_NAMES.items()}


def message_type(message: TradeMessage) -> str:
    return TYPE_NAMES[type(message)]


# -- field validators: each takes the wire value and returns it or raises ------------------

Check: TypeAlias = Callable[[Any], Any]


def _bad(reason: str, detail: str) -> InvalidDocument:
    return InvalidDocument(reason, detail)


def _int(low: int, high: int) -> Check:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _bad("bad-field", f"expected an integer in [{low}, {high}]")
        return value

    return check


def _text(max_chars: int, *, allow_empty: bool = True) -> Check:
    def check(value: Any) -> str:
        if not isinstance(value, str) or len(value) > max_chars:
            raise _bad("bad-field", f"expected text of at most {max_chars} characters")
        if not allow_empty and not value:
            raise _bad("bad-field", "expected non-empty text")
        if any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
            raise _bad("bad-field", "control characters are not allowed")
        return value

    return check


def _bytes(low: int, high: int) -> Check:
    def check(value: Any) -> bytes:
        if not isinstance(value, bytes) or not low <= len(value) <= high:
            raise _bad("bad-field", f"expected {low}..{high} bytes")
        return value

    return check


def _choice(options: tuple[str, ...]) -> Check:
    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in options:
            raise _bad("bad-field", f"expected one of {', '.join(options)}")
        return value

    return check


def _optional(inner: Check) -> Check:
    def check(value: Any) -> Any:
        return None if value is None else inner(value)

    return check


def _address(value: Any) -> str:
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise _bad("bad-field", "expected a Monero address")
    return value


def _cid(value: Any) -> CID:
    if not isinstance(value, CID) or value.version != 1 or value.hashfun.name != "sha2-256":
        raise _bad("bad-field", "expected a CIDv1 (sha2-256) link")
    return value


def _listing_cid(value: Any) -> CID:
    cid = _cid(value)
    if cid.codec.name != "dag-cbor":
        raise _bad("bad-field", "a listing is a dag-cbor document")
    return cid


def _payload(value: Any) -> bytes:
    data: bytes = _bytes(1, MAX_TRADE_MESSAGE_BYTES)(value)
    try:
        decode_message(data)
    except EscrowProtocolError as exc:
        raise _bad("bad-escrow-payload", str(exc)[:200]) from exc
    return data


_AMOUNT = _int(0, MAX_AMOUNT)
_ROLE = _choice(ROLES)
_KEY = _bytes(_KEY_BYTES, _KEY_BYTES)
_NOTE = _text(MAX_NOTE_CHARS)
_EVIDENCE = _bytes(1, MAX_EVIDENCE_SEALED_BYTES)
_DAYS = _int(MIN_DAYS, MAX_DAYS)

_COMMON: dict[str, Check] = {
    "order": _bytes(ORDER_ID_BYTES, ORDER_ID_BYTES),
    "id": _int(1, MAX_MESSAGE_ID),
    "from": _ROLE,
}
_FIELDS: dict[type, dict[str, Check]] = {
    OrderRequest: {
        "listing": _listing_cid,
        "revision": _int(1, 2**31),
        "quantity": _int(1, limits.MAX_QUANTITY),
        "shipping_option": _optional(_int(0, limits.MAX_SHIPPING_OPTIONS - 1)),
        "sealed_address": _optional(_bytes(1, MAX_SEALED_ADDRESS_BYTES)),
        "payment": _choice(PAYMENT_MODES),
        "seller": _KEY,
        "arbiter": _optional(_KEY),
        "refund_address": _optional(_address),
        "unit_price": _int(1, MAX_AMOUNT),
        "shipping_cost": _AMOUNT,
        "ship_days": _DAYS,
        "confirm_days": _DAYS,
    },
    OrderAccept: {"payout_address": _optional(_address), "payment_address": _optional(_address)},
    OrderDecline: {"reason": _NOTE},
    Cancel: {"reason": _NOTE},
    ArbiterAccept: {},
    PaymentReceived: {"amount": _AMOUNT},
    EscrowWrapper: {"to": _ROLE, "payload": _payload},
    Shipped: {"sealed_tracking": _optional(_bytes(1, MAX_SEALED_TRACKING_BYTES))},
    ReceiptConfirmed: {},
    DisputeOpened: {"sealed_evidence": _EVIDENCE},
    EvidenceAdded: {"sealed_evidence": _EVIDENCE},
    ArbiterDecision: {
        "to_buyer": _AMOUNT,
        "to_seller": _AMOUNT,
        "cosigner": _choice(("buyer", "seller")),
        "reason": _text(MAX_NOTE_CHARS, allow_empty=False),
    },
    TimeoutClaim: {"kind": _choice(CLAIM_KINDS), "note": _NOTE},
}


def _check_consistent(message: TradeMessage) -> None:
    """Rules across fields of one message (rules that need the trade are the machine's)."""
    match message:
        case OrderRequest():
            if (message.shipping_option is None) != (message.sealed_address is None):
                raise _bad("bad-field", "a shipping option needs a sealed address and back")
            escrow = message.payment == "escrow"
            if escrow and (message.arbiter is None or message.refund_address is None):
                raise _bad("bad-field", "an escrow order names an arbiter and a refund address")
            if not escrow and message.arbiter is not None:
                raise _bad("bad-field", "a direct-payment order has no arbiter")
            if message.total > MAX_AMOUNT:
                raise _bad("bad-field", "the order total is above the maximum amount")
            if message.arbiter == message.seller:
                raise _bad("bad-field", "the seller cannot be its own arbiter")
        case OrderAccept():
            if (message.payout_address is None) == (message.payment_address is None):
                raise _bad("bad-field", "an acceptance names exactly one address")
        case EscrowWrapper():
            inner = message.escrow_message()
            if inner.sender != message.sender:
                raise _bad("bad-escrow-payload", "the escrow message is from another party")
            if message.to == message.sender:
                raise _bad("bad-field", "an escrow message to its own sender")
        case _:
            pass


# -- encode / parse ----------------------------------------------------------------------------


def to_wire(message: TradeMessage) -> dict[str, Any]:
    """The message as the map that is encoded (also used to store it)."""
    body: dict[str, Any] = {
        "v": VERSION,
        "type": message_type(message),
        "order": message.order,
        "id": message.id,
        "from": message.sender,
    }
    for f in dataclasses.fields(message):
        if f.name not in ("order", "id", "sender"):
            body[f.name] = getattr(message, f.name)
    return body


def encode_trade_message(message: TradeMessage) -> bytes:
    """Serialize a message to its canonical wire bytes, checking it as a receiver would.

    Raises:
        InvalidDocument: the message would not pass `parse_trade_message` (a local bug or a
            too-large payload); nothing invalid is ever sent.
    """
    wire = to_wire(message)
    from_wire(wire)  # validate first: the encoder is never handed unchecked values
    data = encode_canonical(wire)
    if len(data) > MAX_TRADE_MESSAGE_BYTES:
        raise _bad("oversize", f"a trade message is at most {MAX_TRADE_MESSAGE_BYTES} bytes")
    return data


def parse_trade_message(data: bytes) -> TradeMessage:
    """Parse and validate bytes from a peer.

    Raises:
        InvalidDocument: reasons ``oversize``, ``malformed-encoding``, ``non-canonical``,
            ``not-a-map``, ``unknown-version``, ``unknown-type``, ``wrong-fields``,
            ``bad-field``, ``bad-escrow-payload``.
    """
    value = decode_canonical(data, max_size=MAX_TRADE_MESSAGE_BYTES)
    return from_wire(value)


def from_wire(value: Any) -> TradeMessage:
    """Validate a decoded map (see `parse_trade_message`)."""
    if not isinstance(value, dict):
        raise _bad("not-a-map", "a trade message is a map")
    if value.get("v") != VERSION or isinstance(value.get("v"), bool):
        raise _bad("unknown-version", f"unsupported trade message version {value.get('v')!r:.20}")
    kind = value.get("type")
    cls = _BY_NAME.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise _bad("unknown-type", f"unknown trade message type {str(kind)[:20]!r}")
    checks = _FIELDS[cls]
    expected = {"v", "type", *_COMMON, *checks}
    if set(value) != expected:
        unknown = sorted(str(k)[:20] for k in set(value) - expected)
        missing = sorted(expected - set(value))
        raise _bad("wrong-fields", f"{kind}: unknown {unknown}, missing {missing}")
    args: dict[str, Any] = {}
    for name, check in (*_COMMON.items(), *checks.items()):
        try:
            args["sender" if name == "from" else name] = check(value[name])
        except InvalidDocument as exc:
            raise _bad(exc.reason, f"{kind}.{name}: {exc.detail}") from exc
    message: TradeMessage = cls(**args)
    _check_consistent(message)
    return message


# -- dispute evidence (the plaintext inside DisputeOpened.sealed_evidence) -------------------


@dataclass(frozen=True)
class Evidence:
    """What a party shows the arbiter: a statement and attachments stored as blocks."""

    text: str
    attachments: tuple[CID, ...] = ()


_EVIDENCE_TEXT = _text(MAX_EVIDENCE_CHARS, allow_empty=False)


def encode_evidence(evidence: Evidence) -> bytes:
    _EVIDENCE_TEXT(evidence.text)
    if len(evidence.attachments) > MAX_ATTACHMENTS:
        raise _bad("bad-field", f"at most {MAX_ATTACHMENTS} attachments")
    for cid in evidence.attachments:
        _cid(cid)
    body = {"v": VERSION, "text": evidence.text, "attachments": list(evidence.attachments)}
    data = encode_canonical(body)
    if len(data) > MAX_EVIDENCE_BYTES:
        raise _bad("oversize", "evidence is too large to seal into a dispute message")
    return data


def parse_evidence(data: bytes) -> Evidence:
    """Parse opened evidence. Raises `InvalidDocument` like `parse_trade_message`."""
    value = decode_canonical(data, max_size=MAX_EVIDENCE_BYTES)
    if not isinstance(value, dict):
        raise _bad("not-a-map", "evidence is a map")
    if value.get("v") != VERSION or isinstance(value.get("v"), bool):
        raise _bad("unknown-version", "unsupported evidence version")
    if set(value) != {"v", "text", "attachments"}:
        raise _bad("wrong-fields", "evidence has the fields v, text, attachments")
    attachments = value["attachments"]
    if not isinstance(attachments, list) or len(attachments) > MAX_ATTACHMENTS:
        raise _bad("bad-field", f"at most {MAX_ATTACHMENTS} attachments")
    return Evidence(_EVIDENCE_TEXT(value["text"]), tuple(_cid(c) for c in attachments))
