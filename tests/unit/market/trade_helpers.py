"""Shared fixtures for the trade protocol tests: sample messages and a three-party harness.

The harness runs one `OrderMachine` per role in one process and carries `SendTo` actions as
wire bytes (encode, then the receiver's strict parser), like the real transport would.
"""

import dataclasses
from collections import deque
from typing import Any

from umbra.core import compute_cid
from umbra.market import (
    Command,
    OrderAccept,
    OrderAction,
    OrderConfig,
    OrderEvent,
    OrderMachine,
    OrderRequest,
    Received,
    SendTo,
    encode_trade_message,
    parse_trade_message,
)
from umbra.wallet import SetupInfo, encode_message

ORDER = bytes(range(16))
SELLER_KEY = b"\x01" * 32
ARBITER_KEY = b"\x02" * 32
REFUND = "4" + "B" * 94
PAYOUT = "4" + "A" * 94
SUBADDRESS = "8" + "C" * 94
LISTING = compute_cid(b"a listing document", "dag-cbor")
T0 = 1_700_000_000
HOUR = 3600
DAY = 24 * HOUR
CFG = OrderConfig()
PRICE = 10**12
SHIPPING = 10**11
TOTAL = 2 * PRICE + SHIPPING


def request(**changes: Any) -> OrderRequest:
    base = OrderRequest(
        listing=LISTING,
        revision=3,
        quantity=2,
        shipping_option=0,
        sealed_address=b"sealed address for the seller",
        payment="escrow",
        seller=SELLER_KEY,
        arbiter=ARBITER_KEY,
        refund_address=REFUND,
        unit_price=PRICE,
        shipping_cost=SHIPPING,
        ship_days=5,
        confirm_days=14,
        order=ORDER,
    )
    return dataclasses.replace(base, **changes)


def direct_request() -> OrderRequest:
    return request(payment="direct", arbiter=None)


def accept(mode: str = "escrow") -> OrderAccept:
    if mode == "escrow":
        return OrderAccept(payout_address=PAYOUT, payment_address=None)
    return OrderAccept(payout_address=None, payment_address=SUBADDRESS)


def escrow_payload(sender: str, rnd: int = 0, info: str = "MultisigV1abc") -> bytes:
    return encode_message(SetupInfo(ORDER.hex(), sender, rnd, info))  # type: ignore[arg-type]


def over_the_wire(message: Any) -> Any:
    return parse_trade_message(encode_trade_message(message))


class Trade:
    """Three machines and the messages in flight between them."""

    def __init__(self, roles: tuple[str, ...] = ("buyer", "seller", "arbiter")) -> None:
        self.machines = {r: OrderMachine.create(r, CFG) for r in roles}  # type: ignore[arg-type]
        self.inbox: deque[tuple[str, str, bytes]] = deque()  # (to, from, wire bytes)
        self.actions: dict[str, list[OrderAction]] = {r: [] for r in roles}

    def feed(self, role: str, event: OrderEvent) -> list[OrderAction]:
        actions = self.machines[role].handle(event)
        self.actions[role] += actions
        for action in actions:
            if isinstance(action, SendTo) and action.to in self.machines:
                self.inbox.append((action.to, role, encode_trade_message(action.message)))
        return actions

    def command(self, role: str, message: Any, now: int) -> list[OrderAction]:
        return self.feed(role, Command(message, now))

    def deliver(self, now: int) -> dict[str, list[OrderAction]]:
        """Deliver everything in flight (and what that causes); return each role's actions."""
        out: dict[str, list[OrderAction]] = {r: [] for r in self.machines}
        while self.inbox:
            to, sender, data = self.inbox.popleft()
            out[to] += self.feed(to, Received(parse_trade_message(data), sender, now))  # type: ignore[arg-type]
        return out

    def state(self, role: str) -> int:
        return int(self.machines[role].state)

    def states(self) -> dict[str, int]:
        return {r: int(m.state) for r, m in self.machines.items()}
