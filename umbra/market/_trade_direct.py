"""Direct-payment orders: the seller's payment subaddress and its watch, the buyer's payment.

An order with ``payment: "direct"`` has no escrow. The seller's accept names a fresh
subaddress of its own wallet, recorded with the amount and the deadline by
`umbra.wallet.DirectPayments`. The buyer's node pays exactly the order's total there (the
user agreed to it when buying: one-click buy). The seller's node sends `PaymentReceived`
once that subaddress holds the whole total with enough confirmations, and both orders move
to "funded".

Nothing is paid twice. The buyer commits ``payment = "paying"`` (the order row's ``escrow``
column, which holds the payment progress) before the transfer and ``"paid"`` after it. A
node killed in between looks for its transfer among the wallet's outgoing transfers first
(a subaddress serves one order only) instead of sending another. The seller's record and its
checks live in the wallet tables, so both sides simply carry on after a restart.

The buyer pays only until ``grace_s`` before the funding deadline, so its coins reach the
seller's wallet before the seller's record expires.
"""

import logging
from typing import Any

import trio

from umbra.core import UmbraError, format_xmr
from umbra.wallet import (
    DirectPayments,
    PaymentState,
    RpcClient,
    WalletError,
    earlier_transfer_to,
)

from ._order_machine import OrderMachine
from ._order_table import State
from ._order_types import Command
from ._trade_driver import DriverAttached
from ._trade_messages import PaymentReceived
from ._trade_store import OrderRow

log = logging.getLogger(__name__)

POLL_S = 1.0
RETRY_S = 10.0  # after a wallet error, per order (e.g. not enough unlocked coins yet)
PAYING, PAID = "paying", "paid"


class NotPaid(UmbraError):
    """The buyer's node will not pay (said on the timeline once)."""


class DirectPaymentBridge(DriverAttached):
    """Runs the wallet side of this profile's direct-payment orders.

    Args:
        desk: the seller side's payment records, on this profile's own wallet.
        wallet: the same wallet, for the buyer side's transfers.
    """

    def __init__(self, desk: DirectPayments, wallet: RpcClient, *, poll_s: float = POLL_S):
        self.desk = desk
        self.wallet = wallet
        self.poll_s = poll_s
        self._retry_at: dict[bytes, float] = {}
        self._last_problem: dict[bytes, str] = {}

    # -- the seller's accept -------------------------------------------------------------------

    async def payment_address(self, order_id: bytes, amount: int, expires_at: int) -> str:
        """A fresh subaddress that is watched for this order's payment (idempotent)."""
        status = await self.desk.request(
            order_id.hex(), amount, expires_at=expires_at, description=f"order {order_id.hex()}"
        )
        return status.address

    # -- the loop ------------------------------------------------------------------------------

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            try:
                await self.step_all()
            except UmbraError as exc:  # e.g. the database busy for long: try again soon
                log.warning("direct payments: %s", exc)
            await trio.sleep(self.poll_s)

    async def step_all(self) -> None:
        """One look at every direct-payment order that waits for its payment."""
        now = self.driver.now()
        for row in self.driver.store.orders(state=int(State.S2_accepted)):
            if self._retry_at.get(row.order_id, 0) > now:
                continue
            machine = OrderMachine.from_bytes(row.machine, self.driver.config)
            if machine.mode != "direct" or (row.role == "buyer" and row.escrow == PAID):
                continue
            try:
                if row.role == "seller":
                    await self._watch(row, machine)
                elif row.role == "buyer":
                    await self._pay(row, machine)
            except (WalletError, NotPaid) as exc:  # said once, tried again later
                self._retry_at[row.order_id] = now + RETRY_S
                self._problem(row, machine, str(exc))
            else:
                self._retry_at.pop(row.order_id, None)
                self._last_problem.pop(row.order_id, None)

    # -- seller --------------------------------------------------------------------------------

    async def _watch(self, row: OrderRow, machine: OrderMachine) -> None:
        order_hex = row.order_id.hex()
        if self.desk.store.load_payment(order_hex) is None:
            raise WalletError(
                "this order has no payment record in the wallet (accepted elsewhere?)"
            )
        status = await self.desk.check(order_hex)
        if status.notices:
            now = self.driver.now()
            with self.driver.store.db.transaction():
                for n in status.notices:
                    detail = f"{n.kind}: {format_xmr(n.amount, unit=True)}"
                    self.driver.store.log(
                        row.order_id, "payment", machine.state.name, detail, now=now
                    )
        if status.state == PaymentState.P3_PAID:
            received = PaymentReceived(amount=status.confirmed)
            self.driver.step(row, machine, Command(received, self.driver.now()))

    # -- buyer ---------------------------------------------------------------------------------

    async def _pay(self, row: OrderRow, machine: OrderMachine) -> None:
        d, cfg = machine.data, self.driver.config
        assert d.request is not None and d.accept is not None  # S2_accepted
        address, amount = d.accept.payment_address, d.request.total
        if address is None:
            raise WalletError("the seller's accept names no payment address")
        now = self.driver.now()
        state = machine.state.name
        # Only a node that may have crashed after its transfer (still "paying") looks first.
        txid = (
            await earlier_transfer_to(self.wallet, address, amount)
            if row.escrow == PAYING
            else None
        )
        if txid is None:
            if now >= (d.accepted_at or 0) + cfg.fund_timeout_s - cfg.grace_s:
                raise NotPaid("too close to the funding deadline: not paid")
            if row.escrow != PAYING:
                with self.driver.store.db.transaction():
                    self.driver.store.set_fields(row.order_id, escrow=PAYING)
                    detail = f"paying {format_xmr(amount, unit=True)} to the seller's address"
                    self.driver.store.log(row.order_id, "payment", state, detail, now=now)
            r = await self.wallet.call(
                "transfer", {"destinations": [{"address": address, "amount": amount}]}
            )
            txid = str(r["tx_hash"])
        with self.driver.store.db.transaction():
            self.driver.store.set_fields(row.order_id, escrow=PAID)
            detail = (
                f"paid {format_xmr(amount, unit=True)} (transaction {txid}); "
                "the seller's wallet confirms it after its confirmations"
            )
            self.driver.store.log(row.order_id, "payment", state, detail, now=self.driver.now())

    def _problem(self, row: OrderRow, machine: OrderMachine, detail: str) -> None:
        """Put a wallet problem on the order's timeline once (not on every retry)."""
        if self._last_problem.get(row.order_id) == detail:
            return
        self._last_problem[row.order_id] = detail
        log.info("order %s: payment: %s", row.order_id.hex(), detail)
        with self.driver.store.db.transaction():
            self.driver.store.log(
                row.order_id,
                "notice",
                machine.state.name,
                f"payment: {detail}",
                now=self.driver.now(),
            )


__all__ = ["DirectPaymentBridge", "NotPaid"]
