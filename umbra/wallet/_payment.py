"""Direct payment for one order (sans-IO): a fresh subaddress, detection, confirmations.

Rules:
- Numbered states; the table below is every allowed move. No clock inside: every event
  carries ``now`` (Unix seconds), so expiry is decided from the event, not the wall clock.
- The driver (`_payment_driver.DirectPayments`) polls ``get_transfers {in, pool,
  subaddr_indices: [index]}`` and feeds the totals as `PaymentObserved`; seen-in-pool is
  reported at once, "paid" only once ``confirmed`` (coins with at least the required
  confirmations, default 10, configurable per order) covers the amount.
- Underpayment stays open until expiry (the buyer may top up); overpayment is accepted and
  flagged so the seller can refund the excess; after expiry, late coins are flagged too.
"""

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, TypeAlias


class PaymentState(IntEnum):
    P0_AWAITING = 0
    P1_SEEN = 1  # enough coins in the pool or with too few confirmations
    P2_UNDERPAID = 2  # some coins, not enough yet
    P3_PAID = 3  # enough coins with enough confirmations
    P4_EXPIRED = 4  # nothing or not enough arrived in time


P = PaymentState
TABLE: dict[tuple[PaymentState, str], frozenset[PaymentState]] = {
    # from the wallet (observations)
    (P.P0_AWAITING, "observed"): frozenset({P.P0_AWAITING, P.P1_SEEN, P.P2_UNDERPAID, P.P3_PAID}),
    # A transaction seen in the pool can be dropped (double spend): coins may "go back".
    (P.P1_SEEN, "observed"): frozenset({P.P0_AWAITING, P.P1_SEEN, P.P2_UNDERPAID, P.P3_PAID}),
    (P.P2_UNDERPAID, "observed"): frozenset({P.P0_AWAITING, P.P1_SEEN, P.P2_UNDERPAID, P.P3_PAID}),
    (P.P4_EXPIRED, "observed"): frozenset({P.P4_EXPIRED}),
    # from the clock (the driver's timer)
    (P.P0_AWAITING, "tick"): frozenset({P.P0_AWAITING, P.P4_EXPIRED}),
    (P.P2_UNDERPAID, "tick"): frozenset({P.P2_UNDERPAID, P.P4_EXPIRED}),
    (P.P1_SEEN, "tick"): frozenset({P.P1_SEEN}),  # seen in time: wait for confirmations
}


@dataclass(frozen=True)
class PaymentObserved:
    now: int
    received: int  # all incoming to the subaddress, pool included
    confirmed: int  # incoming with at least the required confirmations
    min_confirmations: int  # the fewest confirmations among the incoming transfers (shown)
    txids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tick:
    now: int


PaymentEvent: TypeAlias = PaymentObserved | Tick


@dataclass(frozen=True)
class PaymentNotice:
    """Something to show the user (and record in the audit log)."""

    kind: str  # "seen" | "underpaid" | "paid" | "overpaid" | "expired" | "late"
    amount: int


@dataclass
class PaymentData:
    order_id: str
    address: str
    subaddress_index: int
    amount: int
    expires_at: int
    confirmations: int = 10
    state: PaymentState = P.P0_AWAITING
    received: int = 0
    notified: list[str] = field(default_factory=list)
    confirmed: int = 0
    seen_confirmations: int = 0
    txids: list[str] = field(default_factory=list)
    uri: str = ""
    checked_at: int = 0  # when the wallet was last asked (Unix seconds)

    def to_wire(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["state"] = int(self.state)
        d["notified"] = list(self.notified)
        d["txids"] = list(self.txids)
        return d

    @classmethod
    def from_wire(cls, value: dict[str, Any]) -> "PaymentData":
        v = dict(value)
        v["state"] = PaymentState(v["state"])
        v["notified"] = [str(n) for n in v.get("notified", [])]
        v["txids"] = [str(t) for t in v.get("txids", [])]
        return cls(**v)


class PaymentMachine:
    def __init__(self, data: PaymentData) -> None:
        self.data = data

    @property
    def state(self) -> PaymentState:
        return self.data.state

    def handle(self, event: PaymentEvent) -> list[PaymentNotice]:
        d = self.data
        name = "observed" if isinstance(event, PaymentObserved) else "tick"
        allowed = TABLE.get((d.state, name))
        if allowed is None:
            return []  # P3_PAID is final; nothing changes it
        notices: list[PaymentNotice] = []
        new = d.state
        if isinstance(event, PaymentObserved):
            before = d.received
            d.received, d.confirmed = event.received, event.confirmed
            d.seen_confirmations, d.txids = event.min_confirmations, list(event.txids)
            d.checked_at = max(d.checked_at, event.now)
            if d.state == P.P4_EXPIRED:
                if event.received > before:  # new coins after the deadline: refund them
                    notices += self._once(f"late:{event.received}", event.received - before)
            elif event.confirmed >= d.amount:
                new = P.P3_PAID
                notices += self._once("paid", event.confirmed)
                if event.received > d.amount:
                    notices += self._once("overpaid", event.received - d.amount)
            elif event.received >= d.amount:
                new = P.P1_SEEN
                notices += self._once("seen", event.received)
            elif event.received > 0:
                new = P.P2_UNDERPAID
                notices += self._once(f"underpaid:{event.received}", d.amount - event.received)
            else:
                new = P.P0_AWAITING
        elif event.now >= d.expires_at and d.state in (P.P0_AWAITING, P.P2_UNDERPAID):
            new = P.P4_EXPIRED
            notices += self._once("expired", d.received)
        assert new in allowed, (d.state, name, new)
        d.state = new
        return notices

    def _once(self, kind: str, amount: int) -> list[PaymentNotice]:
        if kind in self.data.notified:
            return []
        self.data.notified.append(kind)
        return [PaymentNotice(kind.split(":")[0], amount)]
