"""The escrow side of a node's orders: `umbra.wallet.EscrowParty` bridged to the trade channel.

The wallet's escrow driver talks to the other parties through a durable mailbox; in a node it is
`umbra.wallet.DatabaseMailbox`, a table in the profile's encrypted database. This bridge
connects that mailbox to the end-to-end encrypted trade channel:

- outbound: messages our escrow wrote for another role are wrapped in an ``escrow`` trade
  message, committed by the order machine, queued in the payload channel, and only then
  removed (a crash in between sends the message twice; escrow machines ignore duplicates);
- inbound: a peer's escrow message accepted by our order machine (`ForwardEscrow`) is
  put into our escrow's inbox by the trade driver, in the transaction of the step that
  accepted it and after any escrow that step creates. The inbox is keyed by order and role,
  so a message that arrives before our escrow exists waits there, in order, and the escrow
  reads it first thing when it starts (nothing is dropped for being early).

One runner task per order runs `EscrowParty.run_escrow`, restarted with the order's payout
when the order machine decides one we propose (`StartPayout`) or co-sign (`ExpectPayout`: the
only payout our escrow will co-sign; without one it co-signs nothing), and stopped when the
buyer must not fund any more (`HaltFunding`, until a refund is decided). The escrow's progress
(funding sent, funded, paid out, failed) is reported back to the order machine after each
escrow commit and at every (re)start, so a crash between the two commits is repaired. The
escrow's warnings (a payout refused, a peer message rejected) go on the order's timeline.
"""

import logging
from typing import Any

import trio

from umbra.core import UmbraError
from umbra.wallet import DatabaseMailbox, EscrowMachine, EscrowParty, EscrowTerms, State

from ._order_table import State as OrderState
from ._order_types import EscrowFailed, EscrowFunded, EscrowFundingSent, EscrowPaidOut
from ._trade_driver import DriverAttached
from ._trade_messages import ROLES

log = logging.getLogger(__name__)

PUMP_INTERVAL_S = 0.1
RESTART_DELAY_S = 2.0


class EscrowBridge(DriverAttached):
    """Implements `EscrowPort` for a `TradeDriver` (attach it with `attach`)."""

    def __init__(self, party: EscrowParty) -> None:
        self.party = party
        self.db = party.store.db
        DatabaseMailbox.prepare(self.db)
        party.mailbox_factory = lambda escrow_id, role: DatabaseMailbox(self.db, escrow_id, role)
        self._nursery: trio.Nursery | None = None
        self._scopes: dict[bytes, trio.CancelScope] = {}
        self._running: set[bytes] = set()
        self._wake: dict[bytes, trio.Event] = {}
        previous = party.options.on_state

        def on_state(escrow_id: str, state: State) -> None:
            if previous is not None:
                previous(escrow_id, state)
            self.report(bytes.fromhex(escrow_id))

        party.options.on_state = on_state
        previous_notice = party.options.on_notice

        def on_notice(escrow_id: str, level: str, text: str) -> None:
            if previous_notice is not None:
                previous_notice(escrow_id, level, text)
            self.notice(bytes.fromhex(escrow_id), level, text)

        party.options.on_notice = on_notice

    # -- EscrowPort ----------------------------------------------------------------------------

    def create(self, order_id: bytes, terms: EscrowTerms, role: str) -> None:
        self.party.create_escrow(terms, role)  # type: ignore[arg-type]

    def update(self, order_id: bytes) -> None:
        """Start the order's runner, or make it restart with the current decision."""
        if order_id in self._running:
            scope = self._scopes.get(order_id)
            if scope is not None:
                scope.cancel()
            event = self._wake.get(order_id)
            if event is not None:
                event.set()
            return
        if self._nursery is not None:
            self._running.add(order_id)
            self._nursery.start_soon(self._runner, order_id)

    # -- reports to the order machine ----------------------------------------------------------

    def report(self, order_id: bytes) -> None:
        """Tell the order machine what our escrow has reached that it does not know yet."""
        escrow_id = order_id.hex()
        try:
            escrow = self.party.load(escrow_id)
        except Exception:  # noqa: BLE001 - no escrow yet: nothing to report
            return
        _row, machine = self.driver.machine(order_id)
        d, e = machine.data, escrow.data
        now = self.driver.now()
        if (
            machine.role == "buyer"
            and e.funding_txid
            and not d.funding_sent
            and machine.state == OrderState.S3_escrow_setup
        ):
            self.driver.escrow_event(order_id, EscrowFundingSent(now))
            _row, machine = self.driver.machine(order_id)
            d = machine.data
        funded = escrow.state not in (State.S99_FAILED,) and escrow.state >= State.S7_FUNDED
        if funded and e.funded_amount > 0 and d.funded_amount == 0:
            self.driver.escrow_event(order_id, EscrowFunded(e.funded_amount, now))
            _row, machine = self.driver.machine(order_id)
            d = machine.data
        if escrow.state == State.S10_PAID_OUT and e.txids and not d.payout_txids:
            self.driver.escrow_event(order_id, EscrowPaidOut(tuple(e.txids), now))
        if escrow.state == State.S99_FAILED and machine.state == OrderState.S3_escrow_setup:
            self.driver.escrow_event(order_id, EscrowFailed("the escrow set-up failed", now))

    def notice(self, order_id: bytes, level: str, text: str) -> None:
        """Put an escrow warning on the order's timeline (and in the node's log)."""
        log.warning("order %s: escrow %s: %s", order_id.hex(), level, text)
        try:
            row = self.driver.store.order(order_id)
            state = "" if row is None else OrderState(row.state).name
            with self.driver.store.db.transaction():
                self.driver.store.log(order_id, "escrow", state, text, now=self.driver.now())
        except UmbraError as exc:  # e.g. the database busy: the escrow's audit log has it
            log.warning("order %s: escrow notice not on the timeline: %s", order_id.hex(), exc)

    # -- tasks ---------------------------------------------------------------------------------

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Run the escrows of every open order, and the outbound pump, until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self.driver.start_missing_escrows()
            for order_id in self.driver.open_orders():
                self.update(order_id)
            task_status.started()
            while True:
                try:
                    self.pump()
                except UmbraError as exc:  # e.g. the database busy: the files stay, retried
                    log.warning("escrow pump: %s", exc)
                await trio.sleep(PUMP_INTERVAL_S)

    def pump(self) -> int:
        """Wrap and queue what our escrows wrote for the other parties."""
        sent = 0
        # Every escrow's messages, not only running ones: a finished escrow's last messages
        # (e.g. "paid out") are written just before its runner ends.
        roles: dict[str, str | None] = {}
        for mail in DatabaseMailbox.waiting(self.db):
            if mail.escrow_id not in roles:
                stored = self.party.store.load_escrow(mail.escrow_id)
                roles[mail.escrow_id] = None if stored is None else stored.role
            role = roles[mail.escrow_id]
            if role is None or mail.from_role != role or mail.to_role == role:
                continue  # inbound for our escrow (or not ours): the escrow driver reads it
            try:
                order_id = bytes.fromhex(mail.escrow_id)
            except ValueError:
                continue
            if mail.to_role not in ROLES:
                continue
            if not self.driver.send_escrow(order_id, mail.to_role, mail.data):
                log.warning(
                    "order %s: escrow message to the %s refused", mail.escrow_id, mail.to_role
                )
            DatabaseMailbox.remove(self.db, mail.ref)
            sent += 1
        return sent

    async def _runner(self, order_id: bytes) -> None:
        escrow_id = order_id.hex()
        try:
            while True:
                row, machine = self.driver.machine(order_id)
                payout = machine.data.payout
                if row.escrow == "halted" and payout is None:
                    event = self._wake[order_id] = trio.Event()
                    await event.wait()
                    continue
                self.report(order_id)
                # Ours to propose or to co-sign; the escrow ignores a payout it plays no part in.
                result: EscrowMachine | None = None
                with trio.CancelScope() as scope:
                    self._scopes[order_id] = scope
                    try:
                        result = await self.party.run_escrow(escrow_id, agreed=payout)
                    except UmbraError as exc:  # recorded by the escrow; never stop the node
                        log.warning("order %s: escrow stopped: %s; restarting", escrow_id, exc)
                        await trio.sleep(RESTART_DELAY_S)
                self._scopes.pop(order_id, None)
                if scope.cancelled_caught or result is None:
                    continue
                self.report(order_id)
                if result.state in (State.S10_PAID_OUT, State.S99_FAILED):
                    with self.driver.store.db.transaction():
                        self.driver.store.set_fields(order_id, escrow="done")
                    return
        finally:
            self._running.discard(order_id)
            self._scopes.pop(order_id, None)
