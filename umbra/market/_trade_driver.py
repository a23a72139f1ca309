"""The trade driver: runs every order of one profile inside `umbra node`.

It feeds each order's `OrderMachine` with three kinds of events and carries out the actions:

- **user commands** queued in ``trade_commands`` (`TradeService`): turned into messages
  (sealing the shipping address to the seller, tracking to the buyer, evidence to the
  arbiter; fresh wallet subaddresses for refunds and payouts), then ``Command`` events;
- **peer payloads** of kind ``"trade"`` from the messaging channel: strictly parsed, the
  sender's role taken from the persona key the session authenticated (never from the
  message), then ``Received`` events. A payload for an order we do not know yet (messages of
  different senders race) stays in the channel until the order arrives;
- **timers** (``Tick``) and the escrow's reports (funding sent / funded / paid out / failed).

The rule of every step (nothing lost, nothing done twice): ``machine.handle(event)`` → ONE
transaction that stores the new machine state and carries out the actions in their order
(queues the outgoing payloads, records a new escrow, writes each peer escrow message into our
escrow's inbox, the timeline, the timer) and consumes the payload or finishes the command →
only then wake the escrow. A peer message is therefore marked applied (its id in the
machine's ``seen``) exactly when its effect is stored, never before; a node killed at any
point redoes at most the last step, and the machines refuse the duplicates.
The seller's stock moves in that same transaction (`_stock`): taken when it accepts an
order, given back when an accepted order ends cancelled or void.
Refused events (wrong state, wrong sender, replay...) change nothing and are logged on the
order's timeline (or, for unknown orders, in the node log).
"""

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from multiformats import CID

from umbra.core import InvalidDocument, UmbraError, format_xmr
from umbra.core.crypto import seal_envelope
from umbra.store import Profile
from umbra.wallet import DatabaseMailbox

from ._arbiters import ArbiterDirectory
from ._escrow_rule import seller_refusal
from ._listings import SellerCatalog
from ._order_machine import OrderMachine, input_name
from ._order_table import State
from ._order_types import (
    Command,
    CommitState,
    DeleteShippingData,
    EscrowFailed,
    EscrowFunded,
    EscrowFundingSent,
    EscrowPaidOut,
    ExpectPayout,
    ForwardEscrow,
    HaltFunding,
    NotifyUser,
    OrderAction,
    OrderConfig,
    OrderEvent,
    Received,
    Refuse,
    SendTo,
    StartEscrow,
    StartPayout,
    StoreEvidence,
    Tick,
)
from ._payout_fees import payout_fee_payer
from ._stock import OutOfStock, StockKeeper, stock_move, stock_problem
from ._trade_messages import (
    ArbiterAccept,
    ArbiterDecision,
    Cancel,
    ClaimKind,
    DisputeOpened,
    EscrowWrapper,
    Evidence,
    EvidenceAdded,
    OrderAccept,
    OrderDecline,
    OrderRequest,
    ReceiptConfirmed,
    Role,
    Shipped,
    TimeoutClaim,
    TradeMessage,
    encode_evidence,
    encode_trade_message,
    parse_evidence,
    parse_trade_message,
)
from ._trade_ports import (
    TRADE_KIND,
    DirectPort,
    EscrowPort,
    InboundPayload,
    PayloadChannel,
    TradePorts,
)
from ._trade_store import CommandRow, OrderRow, TradeStore

log = logging.getLogger(__name__)

ARBITER_KEY = "arbiter-profile"  # set when this profile acts as an arbiter (`node --arbiter`)
MAX_PENDING = 256  # payloads read per page
# Payloads one persona may leave waiting for orders we do not know (yet): an honest party's
# few race the order by seconds; a flood of them is dropped, oldest first, and never keeps
# later payloads (anyone's) from being read.
MAX_WAITING_PER_SENDER = 32
ARBITER_PROFILE_WAIT_S = 120  # how long a buy waits for the arbiter's profile to be found


class CommandFailed(UmbraError):
    """A queued command cannot be carried out (the reason is shown to the user)."""


class Retry(Exception):
    """A command cannot run yet (e.g. the seller's key is not found yet): keep it queued."""


class TradeDriver:
    """Runs the orders of one profile. Synchronous steps; async only where it must wait.

    Args:
        profile: the profile (its own database connection, see `_trade_node`).
        channel: the trade payload channel.
        ports: sealing keys and wallet addresses.
        escrow: the escrow side, or None when this profile has no wallet (escrow orders then
            wait in "escrow set-up" and say why on their timeline).
        direct: the seller side of direct payments, or None without a wallet (accepting a
            direct-payment order then fails with a clear reason).
        confirmations: funding confirmations our escrow waits for (small on regtest).
    """

    def __init__(
        self,
        profile: Profile,
        channel: PayloadChannel,
        ports: TradePorts,
        escrow: EscrowPort | None,
        *,
        direct: DirectPort | None = None,
        config: OrderConfig | None = None,
        confirmations: int = 10,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.profile = profile
        self.store = TradeStore(profile.db)
        self.channel = channel
        self.ports = ports
        self.escrow = escrow
        self.direct = direct
        self.config = config or OrderConfig()
        self.confirmations = confirmations
        self._clock = clock
        self.me = profile.identity.signing_public
        self.stock = StockKeeper(profile)
        DatabaseMailbox.prepare(profile.db)  # our escrows' inboxes (see `ForwardEscrow`)
        self.on_change: Callable[[bytes, State], None] | None = None  # after each commit

    def now(self) -> int:
        return int(self._clock())

    @property
    def is_arbiter(self) -> bool:
        return bool(self.store.get_config(ARBITER_KEY))

    def machine(self, order_id: bytes) -> tuple[OrderRow, OrderMachine]:
        row = self.store.order(order_id)
        if row is None:
            raise CommandFailed(f"no order {order_id.hex()}")
        return row, OrderMachine.from_bytes(row.machine, self.config)

    # -- one step ------------------------------------------------------------------------------

    def step(
        self,
        row: OrderRow,
        machine: OrderMachine,
        event: OrderEvent,
        *,
        new: bool = False,
        consume: int | None = None,
        command: CommandRow | None = None,
    ) -> list[OrderAction]:
        """Apply one event to one order and carry out its actions (see the module rule).

        Raises:
            OutOfStock: the seller's accept needs more than is left; nothing was stored (the
                in-memory ``machine`` must be reloaded).
        """
        before = machine.state
        actions = machine.handle(event)
        order_id = row.order_id
        now = self.now()
        committed = any(isinstance(a, CommitState) for a in actions)
        local_refusal = next((a for a in actions if isinstance(a, Refuse) and a.local), None)
        state = machine.state.name
        with self.store.db.transaction():
            if committed:
                if new:
                    self.store.insert_order(
                        dataclasses.replace(
                            row, state=int(machine.state), machine=machine.to_bytes()
                        )
                    )
                else:
                    self.store.save_machine(
                        order_id, int(machine.state), machine.to_bytes(), now=now
                    )
                timer = machine.next_timer()
                self.store.set_fields(order_id, timer_at=None if timer is None else timer.at)
            for a in actions:
                self._record(row, machine, a, now)
            if committed:
                self._record_reason(order_id, machine, event, now)
            if committed and machine.state != before:
                self.store.log(order_id, "state", state, f"{before.name} -> {state}", now=now)
                self._move_stock(row, machine, before, now)
            if consume is not None:
                self.channel.consume(consume)
            if command is not None:
                error = "" if local_refusal is None else local_refusal.detail
                if committed or error:
                    self.store.finish_command(command.seq, error=error, now=now)
        if self.escrow is not None and any(
            isinstance(a, StartEscrow | StartPayout | ExpectPayout | HaltFunding) for a in actions
        ):
            self.escrow.update(order_id)
        if committed and self.on_change is not None:
            self.on_change(order_id, machine.state)
        if committed and machine.state != before:
            self._after_state_change(row, machine)
        return actions

    def _record(self, row: OrderRow, machine: OrderMachine, a: OrderAction, now: int) -> None:
        """Carry out one action inside the step's transaction."""
        oid, state = row.order_id, machine.state.name
        match a:
            case SendTo():
                peer = row.key_of(a.to)
                if peer is None:
                    self.store.log(oid, "refused", state, f"no {a.to} to send to", now=now)
                    return
                body = encode_trade_message(a.message)
                self.channel.queue_payload_at(peer, TRADE_KIND, body, now=now)
                if not isinstance(a.message, EscrowWrapper):
                    name = input_name(a.message)
                    detail = f"{name} #{a.message.id} to the {a.to}"
                    self.store.log(oid, "sent", state, detail, now=now)
            case StartEscrow():
                terms = dataclasses.replace(a.terms, confirmations=self.confirmations)
                if self.escrow is None:
                    detail = "no wallet: the escrow starts when the node runs with one"
                    self.store.log(oid, "notice", state, detail, now=now)
                    return
                self.escrow.create(oid, terms, a.role)
                self.store.set_fields(oid, escrow="running")
                detail = f"escrow set-up started ({format_xmr(terms.amount, unit=True)})"
                self.store.log(oid, "escrow", state, detail, now=now)
            case ForwardEscrow():
                # Into our escrow's inbox in this transaction, after any `StartEscrow` before
                # it: the inbox is keyed by order and role, not by an escrow record, so a
                # message kept early and replayed in the step that starts the escrow (or one
                # for a profile without a wallet yet) waits there for the escrow, in order.
                DatabaseMailbox(self.store.db, oid.hex(), a.sender).send(row.role, a.payload)
            case StartPayout() | ExpectPayout():
                verb = "proposing" if isinstance(a, StartPayout) else "co-signing"
                p = a.payout
                to_seller, to_buyer = (format_xmr(x, unit=True) for x in (p.to_seller, p.to_buyer))
                detail = f"{verb} {p.kind}: {to_seller} to the seller, {to_buyer} to the buyer"
                self.store.log(oid, "escrow", state, detail, now=now)
            case HaltFunding():
                self.store.set_fields(oid, escrow="halted")
                self.store.log(oid, "escrow", state, "escrow funding halted", now=now)
            case StoreEvidence():
                try:
                    opened: str | None = parse_evidence(
                        self.ports.open_sealed(a.sealed_evidence)
                    ).text
                except InvalidDocument:
                    opened = None
                self.store.add_evidence(oid, a.sender, a.sealed_evidence, opened, now=now)
            case DeleteShippingData():
                self.store.set_fields(oid, purge_at=a.at)
            case NotifyUser():
                self.store.log(oid, "notice", state, f"{a.kind} {a.detail}".strip(), now=now)
            case Refuse():
                who = "our move" if a.local else "a peer message"
                self.store.log(oid, "refused", state, f"{who}: {a.reason}: {a.detail}", now=now)
                log.info("order %s: refused %s (%s: %s)", oid.hex(), who, a.reason, a.detail)
            case _:
                pass

    def _move_stock(self, row: OrderRow, machine: OrderMachine, before: State, now: int) -> None:
        """The seller takes or gives back the order's stock (inside the step's transaction)."""
        request = machine.data.request
        move = stock_move(before, machine.state)
        if machine.role != "seller" or request is None or move == 0:
            return
        oid, state = row.order_id, machine.state.name
        if move > 0:
            taken = self.stock.take(oid, request.listing, request.quantity)
            detail = f"Taken from the listing's stock: {taken.quantity}"
            self.store.log(oid, "notice", state, detail, now=now)
        elif self.stock.give_back(oid) is not None:
            detail = f"Returned to the listing's stock: {request.quantity}"
            self.store.log(oid, "notice", state, detail, now=now)

    def _after_state_change(self, row: OrderRow, machine: OrderMachine) -> None:
        """Moves a party makes by itself: the arbiter takes every escrow case it is asked to."""
        if machine.role == "arbiter" and machine.state == State.S2_accepted:
            self.step(row, machine, Command(ArbiterAccept(), self.now()))

    # -- inbound payloads ----------------------------------------------------------------------

    def process_inbound(self) -> int:
        """Apply every trade payload that can be applied now; returns how many were taken.

        Every pending payload is read, page after page: those waiting for an order we do not
        know yet stay in the channel, and never hide the ones behind them."""
        taken = 0
        waiting: dict[bytes, list[tuple[int, bytes]]] = {}  # sender -> (seq, order id)
        after = 0
        while True:
            page = self.channel.pending(TRADE_KIND, MAX_PENDING, after=after)
            for payload in page:
                order = self._inbound(payload)
                if order is None:
                    taken += 1
                else:
                    waiting.setdefault(payload.sender, []).append((payload.seq, order))
            if len(page) < MAX_PENDING:
                break
            after = page[-1].seq
        return taken + self._bound_waiting(waiting)

    def _bound_waiting(self, waiting: dict[bytes, list[tuple[int, bytes]]]) -> int:
        """Drop the oldest payloads of a sender beyond `MAX_WAITING_PER_SENDER`."""
        dropped = 0
        for sender, items in waiting.items():
            # Orders that arrived later in this pass take their payloads in the next one.
            still = [seq for seq, order in items if self.store.order(order) is None]
            extra = still[: max(0, len(still) - MAX_WAITING_PER_SENDER)]
            if not extra:
                continue
            log.warning(
                "dropped %d trade payloads of %s for orders we do not know (over %d waiting)",
                len(extra), sender.hex()[:16], MAX_WAITING_PER_SENDER,
            )  # fmt: skip
            with self.store.db.transaction():
                for seq in extra:
                    self.channel.consume(seq)
            dropped += len(extra)
        return dropped

    def _inbound(self, payload: InboundPayload) -> bytes | None:
        """Apply or drop one payload (None), or leave it waiting: the unknown order's id."""
        try:
            message = parse_trade_message(payload.body)
        except InvalidDocument as exc:
            log.warning("dropped a malformed trade payload: %s", exc)
            self._drop(payload)
            return None
        row = self.store.order(message.order)
        if row is None:
            if isinstance(message, OrderRequest):
                self._new_order(payload, message)
                return None
            return message.order  # not ours, or its order has not arrived yet: it waits
        role = row.peer_role(payload.sender)
        if role is None or role == row.role:
            self._log_refusal(row, f"a payload from a persona that is not a party ({role})")
            self._drop(payload)
            return None
        machine = OrderMachine.from_bytes(row.machine, self.config)
        actions = self.step(row, machine, Received(message, role, self.now()), consume=payload.seq)  # type: ignore[arg-type]
        self._opened(row, machine, message, actions)
        return None

    def _drop(self, payload: InboundPayload) -> None:
        with self.store.db.transaction():
            self.channel.consume(payload.seq)

    def _log_refusal(self, row: OrderRow, detail: str) -> None:
        with self.store.db.transaction():
            self.store.log(row.order_id, "refused", "", detail, now=self.now())

    def _new_order(self, payload: InboundPayload, request: OrderRequest) -> None:
        if request.seller == self.me:
            role: Role = "seller"
        elif request.arbiter == self.me and request.payment == "escrow" and self.is_arbiter:
            role = "arbiter"
        else:
            log.warning("dropped an order that does not name us as seller or arbiter")
            self._drop(payload)
            return
        if payload.sender in (request.seller, request.arbiter):
            log.warning("dropped an order whose buyer is also its seller or arbiter")
            self._drop(payload)
            return
        now = self.now()
        title = ""
        problem = None
        if role == "seller":
            title, problem = self._check_against_listing(request)
            problem = problem or self._check_escrow_rule(request)
        row = OrderRow(
            order_id=request.order, role=role, state=0, machine=b"",
            buyer=payload.sender, seller=request.seller, arbiter=request.arbiter,
            title=title or str(request.listing)[:24], created_at=now, updated_at=now,
            timer_at=None, escrow="", opened_shipping=None, purge_at=None,
        )  # fmt: skip
        machine = OrderMachine.create(role, self.config)
        actions = self.step(
            row, machine, Received(request, "buyer", now), new=True, consume=payload.seq
        )
        if not any(isinstance(a, CommitState) for a in actions):
            return
        if role == "seller" and request.sealed_address is not None:
            self._open_shipping(row.order_id, request.sealed_address)
        if problem is not None:
            self.step(row, machine, Command(OrderDecline(reason=problem), self.now()))

    def _check_against_listing(self, request: OrderRequest) -> tuple[str, str | None]:
        """The seller compares the order with its own listing: (title, problem or None)."""
        found = SellerCatalog(self.profile).revision_of(request.listing)
        if found is None:
            return "", "this listing is not (or no longer) offered"
        signed, same_terms = found
        body = signed.body
        # An older revision is fine if only its stock changed (each sale makes a revision).
        if not same_terms or body.price != request.unit_price:
            return body.title, "the listing changed since the order was made"
        problem = stock_problem(body.quantity, request.quantity)
        if problem is not None:
            return body.title, problem
        option = request.shipping_option
        if (option is None) != (not body.shipping):
            return body.title, "the shipping choice does not fit the listing"
        if option is not None and (
            option >= len(body.shipping) or body.shipping[option].cost != request.shipping_cost
        ):
            return body.title, "the shipping option does not match the listing"
        # The same list our catalog publishes (first = default); an empty list accepts none.
        if (
            request.payment == "escrow"
            and request.arbiter not in SellerCatalog(self.profile).arbiters()
        ):
            return body.title, "the arbiter is not one this seller accepts"
        return body.title, None

    def _check_escrow_rule(self, request: OrderRequest) -> str | None:
        """The seller's signed "escrow above" rule: a direct order above it is declined."""
        if request.payment != "direct":
            return None
        return seller_refusal(request.total, SellerCatalog(self.profile).escrow_above())

    def _record_reason(
        self, order_id: bytes, machine: OrderMachine, event: OrderEvent, now: int
    ) -> None:
        """A decline's or cancel's reason goes on both parties' timelines: it is what the
        other side needs to read (e.g. "this seller requires escrow above 1 XMR")."""
        if not isinstance(event, Command | Received):
            return
        message = event.message
        if isinstance(message, OrderDecline | Cancel) and message.reason:
            who = machine.role if isinstance(event, Command) else event.sender
            verb = "declined" if isinstance(message, OrderDecline) else "cancelled"
            detail = f"the {who} {verb}: {message.reason}"
            self.store.log(order_id, "reason", machine.state.name, detail, now=now)

    def _opened(
        self, row: OrderRow, machine: OrderMachine, message: TradeMessage, actions: list[Any]
    ) -> None:
        if (
            isinstance(message, Shipped)
            and machine.role == "buyer"
            and message.sealed_tracking is not None
            and any(isinstance(a, CommitState) for a in actions)
        ):
            self._open_shipping(row.order_id, message.sealed_tracking)

    def _open_shipping(self, order_id: bytes, sealed: bytes) -> None:
        """Keep the opened address (seller) or tracking (buyer) until the purge."""
        try:
            text = self.ports.open_sealed(sealed).decode("utf-8")
        except (InvalidDocument, UnicodeDecodeError) as exc:
            text = f"(could not be opened: {exc})"
        with self.store.db.transaction():
            self.store.set_fields(order_id, opened_shipping=text)

    # -- escrow reports ------------------------------------------------------------------------

    def escrow_event(self, order_id: bytes, event: OrderEvent) -> None:
        """Our escrow reports funding sent / funded / paid out / failed."""
        row, machine = self.machine(order_id)
        self.step(row, machine, event)

    def send_escrow(self, order_id: bytes, to: Role, payload: bytes) -> bool:
        """Our escrow sends ``payload`` to ``to``: wrapped, committed, queued. False if refused."""
        row, machine = self.machine(order_id)
        wrapper = EscrowWrapper(to=to, payload=payload)
        actions = self.step(row, machine, Command(wrapper, self.now()))
        return any(isinstance(a, CommitState) for a in actions)

    # -- timers --------------------------------------------------------------------------------

    def process_timers(self) -> None:
        now = self.now()
        for order_id in self.store.due_timers(now):
            row, machine = self.machine(order_id)
            if row.purge_at is not None and row.purge_at <= now and row.opened_shipping:
                with self.store.db.transaction():
                    self.store.set_fields(order_id, opened_shipping=None)
                    detail = "shipping data deleted"
                    self.store.log(order_id, "notice", machine.state.name, detail, now=now)
            if row.timer_at is not None and row.timer_at <= now:
                self.step(row, machine, Tick(now))

    # -- user commands -------------------------------------------------------------------------

    async def process_commands(self) -> int:
        done = 0
        for command in self.store.queued_commands():
            try:
                await self._command(command)
            except Retry as exc:
                log.info("command %d waits: %s", command.seq, exc)
                continue
            except (CommandFailed, UmbraError) as exc:
                with self.store.db.transaction():
                    self.store.finish_command(command.seq, error=str(exc), now=self.now())
            done += 1
        return done

    async def _command(self, c: CommandRow) -> None:
        a = c.args
        if c.kind == "buy":
            await self._buy(c)
            return
        row, machine = self.machine(c.order_id)
        if c.kind == "accept":
            await self._accept_command(c, row, machine)
            return
        message: TradeMessage
        match c.kind:
            case "decline":
                message = OrderDecline(reason=str(a.get("reason", "")))
            case "cancel":
                message = Cancel(reason=str(a.get("reason", "")))
            case "ship":
                tracking = a.get("tracking")
                sealed = None
                if tracking:
                    sealed = await self._seal_to(row.buyer, str(tracking).encode())
                message = Shipped(sealed_tracking=sealed)
            case "confirm":
                message = ReceiptConfirmed()
            case "dispute" | "evidence":
                if row.arbiter is None:
                    raise CommandFailed("this order has no arbiter")
                doc = encode_evidence(Evidence(text=str(a["text"])))
                sealed_evidence = await self._seal_to(row.arbiter, doc)
                message = (
                    DisputeOpened(sealed_evidence=sealed_evidence)
                    if c.kind == "dispute"
                    else EvidenceAdded(sealed_evidence=sealed_evidence)
                )
            case "claim-not-shipped" | "claim-not-confirmed":
                kind: ClaimKind = (
                    "not-shipped" if c.kind == "claim-not-shipped" else "not-confirmed"
                )
                message = TimeoutClaim(kind=kind, note=str(a.get("note", "")))
            case "decide":
                funded = machine.data.funded_amount
                to_buyer = int(a["to_buyer"])
                if not 0 <= to_buyer <= funded:
                    raise CommandFailed(f"the escrow holds {funded} piconero")
                to_seller = funded - to_buyer
                # The side paying the payout's fee signs it last (see `_payout_fees`).
                cosigner: Role = payout_fee_payer(to_buyer, to_seller)
                message = ArbiterDecision(
                    to_buyer=to_buyer, to_seller=to_seller, cosigner=cosigner,
                    reason=str(a["reason"]),
                )  # fmt: skip
            case _:
                raise CommandFailed(f"unknown command {c.kind!r}")
        self.step(row, machine, Command(message, self.now()), command=c)

    async def _accept_command(self, c: CommandRow, row: OrderRow, machine: OrderMachine) -> None:
        """Accept, taking the stock; an order that no longer fits it is declined instead.

        The check before asking the wallet for an address spares it a useless address; the
        one that counts runs in the step's transaction (`StockKeeper.take`).
        """
        request = machine.data.request
        if row.role == "seller" and machine.state != State.S1_requested:
            reason = self.store.last_reason(row.order_id)
            state = machine.state.name.split("_", 1)[1]
            because = f" ({reason})" if reason else ""
            raise CommandFailed(f"the order is already {state}{because}")
        try:
            if request is not None:
                offered = self.stock.offered(request.listing)
                if offered is None:
                    raise OutOfStock("this listing is no longer offered")
                problem = stock_problem(offered[0], request.quantity)
                if problem is not None:
                    raise OutOfStock(problem)
            message = await self._accept(row, machine)
            self.step(row, machine, Command(message, self.now()), command=c)
        except OutOfStock as exc:
            self._decline_for_stock(row.order_id, str(exc))
            raise CommandFailed(f"{exc}: the order was declined") from None
        if request is not None and machine.state == State.S2_accepted:
            reservation = self.stock.reservation(row.order_id)
            if reservation is not None:
                self._decline_unfillable(reservation.listing_id)

    def _decline_for_stock(self, order_id: bytes, reason: str) -> None:
        """Decline a waiting order (as the seller) with the stock ``reason`` the buyer sees."""
        row, machine = self.machine(order_id)  # reloaded: a refused step left no trace
        if row.role == "seller" and machine.state == State.S1_requested:
            self.step(row, machine, Command(OrderDecline(reason=reason), self.now()))

    def _decline_unfillable(self, listing_id: bytes) -> None:
        """Decline every order still waiting for our answer that the listing's stock left
        after an acceptance cannot fill: their buyers learn it now, not at the deadline."""
        current = SellerCatalog(self.profile).listing(listing_id)
        left = 0 if current is None else current.body.quantity
        for row in self.store.orders(state=int(State.S1_requested)):
            if row.role != "seller":
                continue
            request = OrderMachine.from_bytes(row.machine, self.config).data.request
            if request is None or self.stock.listing_id_of(request.listing) != listing_id:
                continue
            problem = stock_problem(left, request.quantity)
            if problem is not None:
                self._decline_for_stock(row.order_id, problem)

    async def _accept(self, row: OrderRow, machine: OrderMachine) -> OrderAccept:
        if machine.mode == "escrow":
            address = await self.ports.fresh_address(f"order {row.order_id.hex()[:8]}")
            return OrderAccept(payout_address=address, payment_address=None)
        request = machine.data.request
        if self.direct is None or request is None:
            raise CommandFailed("no wallet: run `umbra sandbox up` (or connect a wallet)")
        # The subaddress is recorded with the total and the deadline, and watched from now on.
        expires_at = self.now() + self.config.fund_timeout_s
        address = await self.direct.payment_address(row.order_id, request.total, expires_at)
        return OrderAccept(payout_address=None, payment_address=address)

    async def _seal_to(self, persona: bytes, plaintext: bytes) -> bytes:
        key = await self.ports.envelope_key(persona)
        if key is None:
            raise Retry("the recipient's keys are not found yet")
        return seal_envelope(key, plaintext)

    async def _buy(self, c: CommandRow) -> None:
        a = c.args
        seller = bytes(a["seller"])
        arbiter = None if a["arbiter"] is None else bytes(a["arbiter"])
        if (
            arbiter is not None
            and ArbiterDirectory(self.profile, clock=self._clock).profile(arbiter) is None
        ):
            # The node fetches the profiles the seller's catalog names; give it a while.
            if self.now() - c.queued_at < ARBITER_PROFILE_WAIT_S:
                raise Retry("the arbiter's profile is not found yet")
            raise CommandFailed(
                "the arbiter's profile was not found in the network (is the arbiter's node"
                " running?); try again later or choose another arbiter the seller accepts"
            )
        sealed = None
        if a["address"] is not None:
            sealed = await self._seal_to(seller, str(a["address"]).encode())
        refund = a["refund_address"]
        if refund is None and a["payment"] == "escrow":
            refund = await self.ports.fresh_address(f"refund {c.order_id.hex()[:8]}")
        request = OrderRequest(
            listing=CID.decode(str(a["listing"])), revision=int(a["revision"]),
            quantity=int(a["quantity"]), shipping_option=a["shipping_option"],
            sealed_address=sealed, payment=a["payment"], seller=seller, arbiter=arbiter,
            refund_address=refund, unit_price=int(a["unit_price"]),
            shipping_cost=int(a["shipping_cost"]), ship_days=int(a["ship_days"]),
            confirm_days=int(a["confirm_days"]), order=c.order_id,
        )  # fmt: skip
        now = self.now()
        row = OrderRow(
            order_id=c.order_id, role="buyer", state=0, machine=b"", buyer=self.me,
            seller=seller, arbiter=arbiter, title=str(a.get("title", "")), created_at=now,
            updated_at=now, timer_at=None, escrow="", opened_shipping=None, purge_at=None,
        )  # fmt: skip
        machine = OrderMachine.create("buyer", self.config)
        actions = self.step(row, machine, Command(request, now), new=True, command=c)
        if any(isinstance(a, CommitState) for a in actions) and a["address"] is not None:
            with self.store.db.transaction():
                self.store.set_fields(c.order_id, opened_shipping=str(a["address"]))

    # -- start-up ------------------------------------------------------------------------------

    def open_orders(self) -> list[bytes]:
        """Orders whose escrow should run (resumed at start-up)."""
        return [r.order_id for r in self.store.orders() if r.escrow == "running"]

    def start_missing_escrows(self) -> list[bytes]:
        """Create the escrows our orders started while this profile had no wallet.

        Such an order waited in escrow set-up (its timeline says why) and the peers' escrow
        messages waited in its inbox; with a wallet now, its escrow starts and reads them.
        """
        if self.escrow is None:
            return []
        started = []
        now = self.now()
        for row in self.store.orders():
            if row.escrow or row.state != State.S3_escrow_setup:
                continue
            machine = OrderMachine.from_bytes(row.machine, self.config)
            if not machine.data.escrow_started:
                continue
            terms = dataclasses.replace(machine.escrow_terms(), confirmations=self.confirmations)
            with self.store.db.transaction():
                self.escrow.create(row.order_id, terms, machine.role)
                self.store.set_fields(row.order_id, escrow="running")
                detail = f"escrow set-up started ({format_xmr(terms.amount, unit=True)})"
                self.store.log(row.order_id, "escrow", machine.state.name, detail, now=now)
            started.append(row.order_id)
        return started


class DriverAttached:
    """Base of the wallet bridges, made before the driver they report to (see `attach`)."""

    _driver: TradeDriver | None = None

    def attach(self, driver: TradeDriver) -> None:
        self._driver = driver

    @property
    def driver(self) -> TradeDriver:
        assert self._driver is not None, "attach the trade driver first"
        return self._driver


__all__ = [
    "ARBITER_KEY",
    "CommandFailed",
    "DriverAttached",
    "EscrowFailed",
    "EscrowFunded",
    "EscrowFundingSent",
    "EscrowPaidOut",
    "Retry",
    "TradeDriver",
]
