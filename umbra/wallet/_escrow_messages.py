"""Typed, versioned escrow protocol messages and their strict wire format.

Wire format: one canonical DAG-CBOR map (``umbra.core.encode_canonical``) per message::

    {"v": 1, "type": "setup", "escrow": "<id>", "from": "buyer", ...type fields}

Parsing is strict: size cap first, canonical encoding, exact key set per type, type and range
checks on every field. Nothing here decides whether a message is allowed *now*: that is the
state machine's job (`_escrow_machine`), which applies the same table to our moves and the
peer's. Messages are transport-agnostic: the in-process mailbox used by the tests and the
network layer of the next issue carry the same bytes.
"""

import re
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from umbra.core import MAX_AMOUNT, InvalidDocument, decode_canonical, encode_canonical

from ._errors import EscrowProtocolError

VERSION = 1
MAX_MESSAGE_BYTES = 1024 * 1024
MAX_INFO_CHARS = 256 * 1024
MAX_TXSET_CHARS = 768 * 1024
MAX_REASON_CHARS = 200

Role: TypeAlias = Literal["buyer", "seller", "arbiter"]
ROLES: tuple[Role, ...] = ("buyer", "seller", "arbiter")
PayoutKind: TypeAlias = Literal["release", "refund", "dispute"]
PAYOUT_KINDS: tuple[PayoutKind, ...] = ("release", "refund", "dispute")

_ESCROW_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_ADDRESS = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{95}$|^[1-9A-HJ-NP-Za-km-z]{106}$")
_TXID = re.compile(r"^[0-9a-f]{64}$")
# Multisig kex messages, exported multisig info and tx sets are ASCII (base58 or hex).
_ASCII_BLOB = re.compile(r"^[\x21-\x7e]*$")


@dataclass(frozen=True)
class Payout:
    """An agreed split of the escrow's funded amount (piconero).

    The proposer builds and signs first; the co-signer checks, signs and submits. The
    co-signer is always the one who pays the network fee out of their share: they are the
    one who would otherwise be asked to approve a transaction that pays them less.
    """

    kind: PayoutKind
    proposer: Role
    cosigner: Role
    to_seller: int
    to_buyer: int

    def to_wire(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "proposer": self.proposer,
            "cosigner": self.cosigner,
            "to_seller": self.to_seller,
            "to_buyer": self.to_buyer,
        }

    @classmethod
    def from_wire(cls, value: Any) -> "Payout":
        fields = _exact(value, {"kind", "proposer", "cosigner", "to_seller", "to_buyer"}, "payout")
        payout = cls(
            kind=_choice(fields["kind"], PAYOUT_KINDS, "payout kind"),
            proposer=_role(fields["proposer"]),
            cosigner=_role(fields["cosigner"]),
            to_seller=_amount(fields["to_seller"]),
            to_buyer=_amount(fields["to_buyer"]),
        )
        payout.check_shape()
        return payout

    def check_shape(self) -> None:
        """Who may sign which kind of payout (independent of the funded amount).

        Raises:
            EscrowProtocolError: the combination is not one of the allowed ones.
        """
        ok = {
            "release": self.proposer == "buyer" and self.cosigner == "seller" and not self.to_buyer,
            "refund": self.proposer in ("seller", "arbiter")
            and self.cosigner == "buyer"
            and not self.to_seller,
            "dispute": self.proposer == "arbiter" and self.cosigner in ("buyer", "seller"),
        }[self.kind]
        if not ok or self.proposer == self.cosigner:
            raise EscrowProtocolError(f"a {self.kind} payout cannot be signed that way")

    @property
    def total(self) -> int:
        return self.to_seller + self.to_buyer

    def share_of(self, role: Role) -> int:
        return {"seller": self.to_seller, "buyer": self.to_buyer, "arbiter": 0}[role]


@dataclass(frozen=True)
class SetupInfo:
    """A multisig key-exchange message. Round 0: prepare; 1: make; 2: first exchange."""

    escrow: str
    sender: Role
    round: int
    info: str


@dataclass(frozen=True)
class AddressAnnounce:
    """The multisig address the sender's wallet ended up with; all three must match."""

    escrow: str
    sender: Role
    address: str


@dataclass(frozen=True)
class FundingNotice:
    """Informational: the buyer says it paid. Every party still checks its own wallet."""

    escrow: str
    sender: Role
    txid: str


@dataclass(frozen=True)
class SyncInfo:
    """Exported multisig info for payout attempt ``seq``, with the payout it is for."""

    escrow: str
    sender: Role
    seq: int
    payout: Payout
    info: str


@dataclass(frozen=True)
class PayoutProposal:
    """The proposer's partially signed transaction set for attempt ``seq``."""

    escrow: str
    sender: Role
    seq: int
    payout: Payout
    txset: str


@dataclass(frozen=True)
class PayoutRefusal:
    """The co-signer did not sign attempt ``seq``. ``resync`` asks for a fresh attempt."""

    escrow: str
    sender: Role
    seq: int
    reason: str
    resync: bool


@dataclass(frozen=True)
class PayoutDone:
    """The payout of attempt ``seq`` was submitted to the network."""

    escrow: str
    sender: Role
    seq: int
    txids: tuple[str, ...]


EscrowMessage: TypeAlias = (
    SetupInfo
    | AddressAnnounce
    | FundingNotice
    | SyncInfo
    | PayoutProposal
    | PayoutRefusal
    | PayoutDone
)

_TYPE_NAMES: dict[type, str] = {
    SetupInfo: "setup",
    AddressAnnounce: "address",
    FundingNotice: "funding",
    SyncInfo: "sync",
    PayoutProposal: "proposal",
    PayoutRefusal: "refusal",
    PayoutDone: "done",
}


def message_type(message: EscrowMessage) -> str:
    return _TYPE_NAMES[type(message)]


def encode_message(message: EscrowMessage) -> bytes:
    """Serialize a message to its canonical wire bytes."""
    body: dict[str, Any] = {
        "v": VERSION,
        "type": message_type(message),
        "escrow": message.escrow,
        "from": message.sender,
    }
    match message:
        case SetupInfo():
            body |= {"round": message.round, "info": message.info}
        case AddressAnnounce():
            body["address"] = message.address
        case FundingNotice():
            body["txid"] = message.txid
        case SyncInfo():
            body |= {"seq": message.seq, "payout": message.payout.to_wire(), "info": message.info}
        case PayoutProposal():
            body |= {
                "seq": message.seq,
                "payout": message.payout.to_wire(),
                "txset": message.txset,
            }
        case PayoutRefusal():
            body |= {"seq": message.seq, "reason": message.reason, "resync": message.resync}
        case PayoutDone():
            body |= {"seq": message.seq, "txids": list(message.txids)}
    data = encode_canonical(body)
    if len(data) > MAX_MESSAGE_BYTES:
        raise EscrowProtocolError("escrow message too large to send")
    return data


def decode_message(data: bytes) -> EscrowMessage:
    """Parse wire bytes from a peer.

    Raises:
        EscrowProtocolError: oversize, malformed, unknown version/type, or a bad field.
    """
    try:
        value = decode_canonical(data, max_size=MAX_MESSAGE_BYTES)
    except InvalidDocument as exc:
        raise EscrowProtocolError(f"bad escrow message: {exc}") from exc
    if not isinstance(value, dict):
        raise EscrowProtocolError("bad escrow message: not a map")
    if value.get("v") != VERSION:
        raise EscrowProtocolError(f"unsupported escrow message version {value.get('v')!r}")
    kind = value.get("type")
    common = {"v", "type", "escrow", "from"}
    extra = _EXTRA_KEYS.get(kind) if isinstance(kind, str) else None
    if extra is None:
        raise EscrowProtocolError(f"unknown escrow message type {str(kind)[:20]!r}")
    fields = _exact(value, common | extra, f"{kind} message")
    escrow = _escrow_id(fields["escrow"])
    sender = _role(fields["from"])
    match kind:
        case "setup":
            return SetupInfo(
                escrow, sender, _int(fields["round"], 0, 2, "round"), _blob(fields["info"])
            )
        case "address":
            return AddressAnnounce(escrow, sender, _address(fields["address"]))
        case "funding":
            return FundingNotice(escrow, sender, _txid(fields["txid"]))
        case "sync":
            return SyncInfo(
                escrow,
                sender,
                _seq(fields["seq"]),
                Payout.from_wire(fields["payout"]),
                _blob(fields["info"]),
            )
        case "proposal":
            return PayoutProposal(
                escrow,
                sender,
                _seq(fields["seq"]),
                Payout.from_wire(fields["payout"]),
                _blob(fields["txset"], MAX_TXSET_CHARS),
            )
        case "refusal":
            reason = fields["reason"]
            if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS:
                raise EscrowProtocolError("bad escrow message: bad refusal reason")
            resync = fields["resync"]
            if not isinstance(resync, bool):
                raise EscrowProtocolError("bad escrow message: resync must be a boolean")
            return PayoutRefusal(escrow, sender, _seq(fields["seq"]), reason, resync)
        case _:  # "done"
            txids = fields["txids"]
            if not isinstance(txids, list) or not 1 <= len(txids) <= 16:
                raise EscrowProtocolError("bad escrow message: bad txid list")
            return PayoutDone(escrow, sender, _seq(fields["seq"]), tuple(_txid(t) for t in txids))


_EXTRA_KEYS: dict[str, set[str]] = {
    "setup": {"round", "info"},
    "address": {"address"},
    "funding": {"txid"},
    "sync": {"seq", "payout", "info"},
    "proposal": {"seq", "payout", "txset"},
    "refusal": {"seq", "reason", "resync"},
    "done": {"seq", "txids"},
}


def _bad(what: str) -> EscrowProtocolError:
    return EscrowProtocolError(f"bad escrow message: {what}")


def _exact(value: Any, keys: set[str], what: str) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != keys:
        raise _bad(f"{what} has the wrong fields")
    return value


def _int(value: Any, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(f"{what} out of range")
    return value


def _seq(value: Any) -> int:
    return _int(value, 1, 1_000_000, "seq")


def _amount(value: Any) -> int:
    return _int(value, 0, MAX_AMOUNT, "amount")


def _role(value: Any) -> Role:
    role: Role = _choice(value, ROLES, "role")
    return role


def _choice(value: Any, options: tuple[Any, ...], what: str) -> Any:
    if not isinstance(value, str) or value not in options:
        raise _bad(f"unknown {what}")
    return value


def escrow_id_ok(value: Any) -> bool:
    return isinstance(value, str) and _ESCROW_ID.fullmatch(value) is not None


def _escrow_id(value: Any) -> str:
    if not escrow_id_ok(value):
        raise _bad("bad escrow id")
    assert isinstance(value, str)
    return value


def address_ok(value: Any) -> bool:
    return isinstance(value, str) and _ADDRESS.fullmatch(value) is not None


def _address(value: Any) -> str:
    if not address_ok(value):
        raise _bad("bad address")
    assert isinstance(value, str)
    return value


def _txid(value: Any) -> str:
    if not isinstance(value, str) or not _TXID.fullmatch(value):
        raise _bad("bad txid")
    return value


def _blob(value: Any, limit: int = MAX_INFO_CHARS) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= limit or not _ASCII_BLOB.match(value):
        raise _bad("bad info field")
    return value
