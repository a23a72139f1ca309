"""Everything one order machine knows, and its stored form (versioned, strictly parsed).

The driver stores `OrderData.to_bytes()` (canonical DAG-CBOR) on every `CommitState`, before it
acts. Messages inside are kept in their wire form and re-validated by the message parser on
load; a record of an unknown schema version, or one that fails any check, is refused with
`InvalidDocument` (it came from disk, which we treat like any other outside input).
"""

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from umbra.core import InvalidDocument, decode_canonical, encode_canonical
from umbra.wallet import EscrowProtocolError, Payout

from ._order_table import State
from ._trade_messages import (
    ROLES,
    ArbiterDecision,
    OrderAccept,
    OrderRequest,
    Role,
    Shipped,
    TradeMessage,
    from_wire,
    to_wire,
)

STATE_SCHEMA = 1
# Up to 16 waiting (early) messages of up to 1 MiB each, plus the rest.
MAX_STATE_BYTES = 24 * 1024 * 1024
# Stands in for a purged sealed address while a stored request is re-validated.
_PURGED = b"\x00"


@dataclass
class OrderData:
    """The mutable state of one party's order machine. Times are unix seconds or ``None``."""

    role: Role
    state: State = State.S0_draft
    order_id: bytes = b""
    request: OrderRequest | None = None
    accept: OrderAccept | None = None
    shipped: Shipped | None = None
    decision: ArbiterDecision | None = None
    disputed_by: Role | None = None
    requested_at: int | None = None
    accepted_at: int | None = None
    funded_at: int | None = None
    shipped_at: int | None = None
    ended_at: int | None = None
    funded_amount: int = 0
    escrow_started: bool = False
    funding_sent: bool = False
    payout: Payout | None = None  # the one payout we propose or co-sign
    payout_txids: tuple[str, ...] = ()
    purged: bool = False
    fired: set[str] = field(default_factory=set)  # self-loop deadlines already handled
    taken: set[str] = field(default_factory=set)  # inputs applied so far
    next_id: int = 1  # the id of our next message
    seen: dict[str, set[int]] = field(default_factory=dict)  # sender -> message ids applied
    early: list[tuple[Role, TradeMessage]] = field(default_factory=list)

    def to_bytes(self) -> bytes:
        body: dict[str, Any] = {
            "schema": STATE_SCHEMA,
            "role": self.role,
            "state": int(self.state),
            "order_id": self.order_id,
            "request": None if self.request is None else to_wire(self.request),
            "accept": None if self.accept is None else to_wire(self.accept),
            "shipped": None if self.shipped is None else to_wire(self.shipped),
            "decision": None if self.decision is None else to_wire(self.decision),
            "disputed_by": self.disputed_by,
            "times": [
                self.requested_at,
                self.accepted_at,
                self.funded_at,
                self.shipped_at,
                self.ended_at,
            ],
            "funded_amount": self.funded_amount,
            "escrow_started": self.escrow_started,
            "funding_sent": self.funding_sent,
            "payout": None if self.payout is None else self.payout.to_wire(),
            "payout_txids": list(self.payout_txids),
            "purged": self.purged,
            "fired": sorted(self.fired),
            "taken": sorted(self.taken),
            "next_id": self.next_id,
            "seen": {role: sorted(ids) for role, ids in sorted(self.seen.items())},
            "early": [{"from": r, "message": to_wire(m)} for r, m in self.early],
        }
        if self.purged and body["request"] is not None:
            body["request"]["sealed_address"] = None
        return encode_canonical(body)

    @classmethod
    def from_bytes(cls, data: bytes) -> "OrderData":
        """Load a stored state.

        Raises:
            InvalidDocument: unknown schema version or a malformed record.
        """
        value = decode_canonical(data, max_size=MAX_STATE_BYTES)
        if not isinstance(value, dict) or value.get("schema") != STATE_SCHEMA:
            raise InvalidDocument("unknown-version", "unsupported order state schema")
        try:
            return _load_v1(value)
        except InvalidDocument:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, EscrowProtocolError) as exc:
            raise InvalidDocument("bad-state", f"stored order state: {exc}"[:200]) from exc


def _message(value: Any, cls: type) -> Any:
    if value is None:
        return None
    message = from_wire(value)
    if not isinstance(message, cls):
        raise InvalidDocument("bad-state", f"stored {cls.__name__} has another type")
    return message


def _role(value: Any) -> Role:
    if value not in ROLES:
        raise InvalidDocument("bad-state", "unknown role")
    role: Role = value
    return role


def _load_v1(v: dict[str, Any]) -> OrderData:
    purged = v["purged"] is True
    request_wire = v["request"]
    if purged and request_wire is not None and request_wire["shipping_option"] is not None:
        request_wire = {**request_wire, "sealed_address": _PURGED}
    request = _message(request_wire, OrderRequest)
    if purged and request is not None:
        request = dataclasses.replace(request, sealed_address=None)
    times = v["times"]
    if not isinstance(times, list) or len(times) != 5:
        raise InvalidDocument("bad-state", "bad times")
    if not all(t is None or (isinstance(t, int) and not isinstance(t, bool)) for t in times):
        raise InvalidDocument("bad-state", "bad times")
    seen = v["seen"]
    if not isinstance(seen, dict):
        raise InvalidDocument("bad-state", "bad seen ids")
    return OrderData(
        role=_role(v["role"]),
        state=State(v["state"]),
        order_id=bytes(v["order_id"]),
        request=request,
        accept=_message(v["accept"], OrderAccept),
        shipped=_message(v["shipped"], Shipped),
        decision=_message(v["decision"], ArbiterDecision),
        disputed_by=None if v["disputed_by"] is None else _role(v["disputed_by"]),
        requested_at=times[0],
        accepted_at=times[1],
        funded_at=times[2],
        shipped_at=times[3],
        ended_at=times[4],
        funded_amount=int(v["funded_amount"]),
        escrow_started=v["escrow_started"] is True,
        funding_sent=v["funding_sent"] is True,
        payout=None if v["payout"] is None else Payout.from_wire(v["payout"]),
        payout_txids=tuple(str(t) for t in v["payout_txids"]),
        purged=purged,
        fired={str(f) for f in v["fired"]},
        taken={str(f) for f in v["taken"]},
        next_id=int(v["next_id"]),
        seen={_role(r): {int(i) for i in ids} for r, ids in seen.items()},
        early=[(_role(e["from"]), from_wire(e["message"])) for e in v["early"]],
    )
