"""The order state machine, one instance per party and order (sans-IO).

Rules (the table itself is in `_order_table`):
- ``handle(event) -> list[action]``: no I/O, no clock, no randomness. Time comes in the
  events; deadlines go out as `SetTimer`; the order id of a new order is chosen by the driver.
- Every event first runs the deadlines that are due at its ``now``, then the event itself.
- Our moves (`Command`) and a peer's (`Received`) go through the same `_apply`: the same
  rule lookup, the same sender check, the same guard. Only two checks are ours alone:
  things only we can know (the buyer cancels during escrow set-up only before it sent the
  funding) and that we never send a message the receiver's parser would refuse.
- Anything refused comes back as one `Refuse` action, state unchanged; nothing raises.
- Replays: a peer message whose ``(sender, id)`` was already applied (or is waiting as
  early) is refused. Our own ids are consecutive, so a message re-sent after a crash is a
  duplicate, never a second move.
- Money: a machine asks its escrow to propose (`StartPayout`) or to co-sign (`ExpectPayout`)
  at most one payout per order, and only the payout its role plays in: the buyer proposes a
  release on confirming receipt, the seller a refund when it cancels after funding (or when
  funds arrive after the order ended), the arbiter its decision. The other signer's machine
  reaches the same transition from the same message and expects exactly that payout.
"""

import dataclasses

from umbra.core import InvalidDocument
from umbra.wallet import EscrowProtocolError, EscrowTerms, Payout

from ._order_data import OrderData
from ._order_table import (
    INPUT_SENDERS,
    LOCAL_INPUTS,
    TERMINAL,
    Rule,
    State,
    allowed_later,
    rule_for,
)
from ._order_types import (
    DAY_S,
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
    RefuseReason,
    SendTo,
    SetTimer,
    StartEscrow,
    StartPayout,
    StoreEvidence,
    Tick,
)
from ._trade_limits import MAX_EARLY_PER_SENDER, MAX_MESSAGES_PER_SENDER
from ._trade_messages import (
    ArbiterDecision,
    ClaimKind,
    DisputeOpened,
    EscrowWrapper,
    EvidenceAdded,
    OrderAccept,
    OrderRequest,
    PaymentMode,
    PaymentReceived,
    Role,
    Shipped,
    TimeoutClaim,
    TradeMessage,
    encode_trade_message,
    message_type,
)

S = State
# Inputs that may happen more than once in a trade (others, once taken, are never early).
REPEATABLE = frozenset({"escrow", "evidence", "escrow-funded", "escrow-paid-out"})


def input_name(message: TradeMessage) -> str:
    """The table input a message is (its wire type; timeout claims add their kind)."""
    if isinstance(message, TimeoutClaim):
        return f"claim:{message.kind}"
    return message_type(message)


class _Refused(Exception):
    def __init__(self, reason: RefuseReason, detail: str) -> None:
        super().__init__(detail)
        self.reason: RefuseReason = reason
        self.detail = detail


class OrderMachine:
    """One party's view of one order.

    Args:
        data: fresh (`OrderMachine.create`) or loaded (`OrderMachine.from_bytes`).
        config: protocol timing; every party must use the same values.
    """

    def __init__(self, data: OrderData, config: OrderConfig | None = None) -> None:
        self.data = data
        self.config = config or OrderConfig()
        self._dirty = False  # set when ``data`` changed during the current event

    @classmethod
    def create(cls, role: Role, config: OrderConfig | None = None) -> "OrderMachine":
        return cls(OrderData(role), config)

    @classmethod
    def from_bytes(cls, data: bytes, config: OrderConfig | None = None) -> "OrderMachine":
        """Raises `InvalidDocument` if the stored state is not valid."""
        return cls(OrderData.from_bytes(data), config)

    def to_bytes(self) -> bytes:
        return self.data.to_bytes()

    @property
    def state(self) -> State:
        return self.data.state

    @property
    def role(self) -> Role:
        return self.data.role

    @property
    def mode(self) -> PaymentMode | None:
        return None if self.data.request is None else self.data.request.payment

    @property
    def participants(self) -> tuple[Role, ...]:
        if self.mode == "direct":
            return ("buyer", "seller")
        return ("buyer", "seller", "arbiter")

    @property
    def escrow_id(self) -> str:
        return self.data.order_id.hex()

    # -- entry point ---------------------------------------------------------------------------

    def handle(self, event: OrderEvent) -> list[OrderAction]:
        """Apply one event; return the actions to carry out, in order.

        Never raises for any event: what is not allowed comes back as `Refuse`. If anything
        changed, the first action is `CommitState`.
        """
        self._dirty = False
        before = self.data.state
        actions = self._run_clock(event.now)
        match event:
            case Tick():
                pass
            case Command():
                actions += self._command(event.message, event.now)
            case Received():
                actions += self._receive(event.message, event.sender, event.now)
            case EscrowFundingSent():
                actions += self._local("escrow-funding-sent", event.now)
            case EscrowFunded():
                actions += self._local("escrow-funded", event.now, amount=event.amount)
            case EscrowPaidOut():
                actions += self._local("escrow-paid-out", event.now, txids=event.txids)
            case EscrowFailed():
                actions += self._local("escrow-failed", event.now)
        if self.data.state != before:
            actions += self._retry_early(event.now)
        if self._dirty:
            actions.insert(0, CommitState(int(self.data.state)))
        return actions

    # -- the three ways in -------------------------------------------------------------------

    def _command(self, message: TradeMessage, now: int) -> list[OrderAction]:
        d = self.data
        order = d.order_id
        if d.state == S.S0_draft and isinstance(message, OrderRequest):
            order = message.order
        stamped = dataclasses.replace(message, order=order, id=d.next_id, sender=d.role)
        try:
            encode_trade_message(stamped)
            self._local_preconditions(stamped)
            actions = self._apply(input_name(stamped), d.role, now, stamped)
        except InvalidDocument as exc:
            return [Refuse("not-allowed", str(exc)[:300], local=True)]
        except _Refused as exc:
            return [Refuse(exc.reason, exc.detail, local=True)]
        d.next_id += 1
        if isinstance(stamped, EscrowWrapper):
            sends: list[OrderAction] = [SendTo(stamped.to, stamped)]
        else:
            sends = [SendTo(r, stamped) for r in self.participants if r != d.role]
        return sends + actions

    def _receive(self, message: TradeMessage, sender: Role, now: int) -> list[OrderAction]:
        try:
            return self._receive_checked(message, sender, now)
        except _Refused as exc:
            return [Refuse(exc.reason, exc.detail)]

    def _receive_checked(self, message: TradeMessage, sender: Role, now: int) -> list[OrderAction]:
        d = self.data
        name = input_name(message)
        if message.sender != sender or sender == d.role:
            raise _Refused("wrong-sender", f"{name} claims to be from the {message.sender}")
        if sender not in INPUT_SENDERS.get(name, ()) or sender not in self.participants:
            raise _Refused("wrong-sender", f"the {sender} may not send {name}")
        if d.state != S.S0_draft and message.order != d.order_id:
            raise _Refused("wrong-order", f"{name} is for another order")
        if message.id in d.seen.get(sender, ()) or any(
            r == sender and m.id == message.id for r, m in d.early
        ):
            raise _Refused("replay", f"{name} #{message.id} from the {sender} was seen before")
        if len(d.seen.get(sender, ())) >= MAX_MESSAGES_PER_SENDER:
            raise _Refused("too-many", f"too many messages from the {sender}")
        if isinstance(message, EscrowWrapper) and message.to != d.role:
            raise _Refused("wrong-sender", "an escrow message addressed to another party")
        if rule_for(d.state, name, self.mode) is not None:
            actions = self._apply(name, sender, now, message)
            d.seen.setdefault(sender, set()).add(message.id)
            return actions
        if (name in d.taken and name not in REPEATABLE) or not allowed_later(
            d.state, name, sender, self.mode
        ):
            raise _Refused("wrong-state", f"{name} is not allowed in {d.state.name}")
        if sum(r == sender for r, _m in d.early) >= MAX_EARLY_PER_SENDER:
            raise _Refused("too-many", "too many messages waiting for a later state")
        d.early.append((sender, message))
        self._dirty = True
        return []

    def _local(
        self, name: str, now: int, *, amount: int = 0, txids: tuple[str, ...] = ()
    ) -> list[OrderAction]:
        try:
            return self._apply(name, self.data.role, now, None, amount=amount, txids=txids)
        except _Refused as exc:
            return [Refuse(exc.reason, exc.detail, local=True)]

    def _retry_early(self, now: int) -> list[OrderAction]:
        """Try waiting messages again after a state change, until none applies."""
        actions: list[OrderAction] = []
        progress = True
        while progress and self.data.early:
            progress = False
            waiting, self.data.early = self.data.early, []
            self._dirty = True
            for sender, message in waiting:
                before = self.data.state
                actions += self._receive(message, sender, now)
                progress = progress or self.data.state != before
        return actions

    # -- the table -----------------------------------------------------------------------------

    def _apply(
        self,
        name: str,
        sender: Role,
        now: int,
        message: TradeMessage | None,
        *,
        amount: int = 0,
        txids: tuple[str, ...] = (),
    ) -> list[OrderAction]:
        """Check ``name`` from ``sender`` against the table and take the transition.

        Raises:
            _Refused: the table or a guard does not allow it (nothing changed).
        """
        d = self.data
        rule = rule_for(d.state, name, self.mode)
        if sender not in INPUT_SENDERS.get(name, ()):
            raise _Refused("wrong-sender", f"the {sender} may not send {name}")
        if rule is None:
            raise _Refused("wrong-state", f"{name} is not allowed in {d.state.name}")
        if sender not in rule.senders:
            raise _Refused("wrong-sender", f"the {sender} may not send {name} now")
        if rule.guard is not None and not self._guard(rule.guard, message, sender, now):
            raise _Refused("not-allowed", f"{name}: the condition {rule.guard!r} does not hold")
        before = d.state
        d.state = rule.next
        d.taken.add(name)
        self._dirty = True
        actions = self._effects(name, rule, sender, now, message, amount, txids)
        if (sender != d.role or name in LOCAL_INPUTS) and name not in ("escrow", "purge"):
            actions.insert(0, NotifyUser(name, f"from the {sender}" if message else ""))
        if d.state != before:
            actions += self._entered(now)
        return actions

    def claim_opens_at(self, kind: ClaimKind) -> int | None:
        """From when a timeout claim of ``kind`` is accepted (None: its clock has not started).

        ``grace_s`` before the deadline, so a claim is not refused by a receiver whose clock
        runs a little behind ours."""
        d = self.data
        if d.request is None:
            return None
        if kind == "not-shipped":
            start, days = d.funded_at, d.request.ship_days
        else:
            start, days = d.shipped_at, d.request.confirm_days
        return None if start is None else start + days * DAY_S - self.config.grace_s

    def _guard(self, guard: str, message: TradeMessage | None, sender: Role, now: int) -> bool:
        d = self.data
        assert d.request is not None  # every guarded rule comes after the order
        match guard:
            case "accept-fits-mode":
                assert isinstance(message, OrderAccept)
                if d.request.payment == "escrow":
                    return message.payout_address is not None
                return message.payment_address is not None
            case "paid-in-full":
                assert isinstance(message, PaymentReceived)
                return message.amount >= d.request.total
            case "ship-overdue" | "confirm-overdue":
                kind: ClaimKind = "not-shipped" if guard == "ship-overdue" else "not-confirmed"
                opens = self.claim_opens_at(kind)
                return opens is not None and now >= opens
            case "split-adds-up":
                assert isinstance(message, ArbiterDecision)
                share = message.to_buyer if message.cosigner == "buyer" else message.to_seller
                return message.to_buyer + message.to_seller == d.funded_amount and share > 0
            case "escrow-started":
                return d.escrow_started
            case "escrow-relay":
                assert isinstance(message, EscrowWrapper)
                try:
                    inner = message.escrow_message()
                except EscrowProtocolError:
                    return False
                return d.escrow_started and inner.escrow == self.escrow_id
        raise AssertionError(f"unknown guard {guard}")

    def _local_preconditions(self, message: TradeMessage) -> None:
        """Checks on our own moves that use what only we know (peers cannot check them)."""
        d = self.data
        name = input_name(message)
        if name == "cancel" and d.state == S.S3_escrow_setup and d.funding_sent:
            raise _Refused("not-allowed", "the escrow funding was sent: ask the seller instead")

    # -- what each transition does -------------------------------------------------------------

    def _effects(
        self,
        name: str,
        rule: Rule,
        sender: Role,
        now: int,
        message: TradeMessage | None,
        amount: int,
        txids: tuple[str, ...],
    ) -> list[OrderAction]:
        d = self.data
        me = d.role
        match name:
            case "order":
                assert isinstance(message, OrderRequest)
                d.order_id, d.request, d.requested_at = message.order, message, now
            case "accept":
                assert isinstance(message, OrderAccept)
                d.accept, d.accepted_at = message, now
            case "arbiter-accept":
                d.escrow_started = True
                return [StartEscrow(self._terms(), me)]
            case "payment-received":
                assert isinstance(message, PaymentReceived)
                d.funded_at, d.funded_amount = now, message.amount
            case "escrow-funding-sent":
                d.funding_sent = True
            case "escrow-funded":
                d.funded_amount = amount
                if rule.next == S.S4_funded:
                    d.funded_at = now
                    return []
                return self._payout(self._refund())  # late funds after the order ended
            case "escrow-failed" | "fund-deadline":
                return [HaltFunding()] if me == "buyer" and d.escrow_started else []
            case "cancel":
                if rule.next == S.S9_cancelled and d.funded_at is not None:
                    return self._payout(self._refund())
                return [HaltFunding()] if me == "buyer" and d.escrow_started else []
            case "shipped":
                assert isinstance(message, Shipped)
                d.shipped = message
                if d.shipped_at is None:
                    d.shipped_at = now
            case "confirm":
                if self.mode == "escrow":
                    release = Payout("release", "buyer", "seller", d.funded_amount, 0)
                    return self._payout(release)
            case "dispute" | "claim:not-shipped" | "claim:not-confirmed" | "evidence":
                if name != "evidence":
                    d.disputed_by = sender
                if me == "arbiter" and isinstance(message, DisputeOpened | EvidenceAdded):
                    return [StoreEvidence(sender, message.sealed_evidence)]
            case "decision":
                assert isinstance(message, ArbiterDecision)
                d.decision = message
                payout = Payout(
                    "dispute", "arbiter", message.cosigner, message.to_seller, message.to_buyer
                )
                return self._payout(payout)
            case "escrow":
                assert isinstance(message, EscrowWrapper)
                return [] if sender == me else [ForwardEscrow(sender, message.payload)]
            case "escrow-paid-out":
                d.payout_txids = txids
            case "ship-deadline" | "confirm-deadline":
                d.fired.add(name)
            case "purge":
                d.fired.add(name)
                d.purged = True
                if d.request is not None:
                    d.request = dataclasses.replace(d.request, sealed_address=None)
                if d.shipped is not None:
                    d.shipped = dataclasses.replace(d.shipped, sealed_tracking=None)
        return []

    def escrow_terms(self) -> EscrowTerms:
        """The terms `StartEscrow` carried (for an escrow started again later)."""
        return self._terms()

    def _terms(self) -> EscrowTerms:
        d = self.data
        assert d.request is not None and d.accept is not None
        assert d.request.refund_address is not None and d.accept.payout_address is not None
        return EscrowTerms(
            self.escrow_id, d.request.total, d.request.refund_address, d.accept.payout_address
        )

    def _refund(self) -> Payout:
        return Payout("refund", "seller", "buyer", 0, self.data.funded_amount)

    def _payout(self, payout: Payout) -> list[OrderAction]:
        """Our part in a payout: propose it, co-sign it, or nothing (at most one per order)."""
        d = self.data
        if d.payout is not None:
            return [NotifyUser("payout-conflict", f"a {d.payout.kind} payout is already set")]
        if d.role not in (payout.proposer, payout.cosigner):
            return []
        d.payout = payout
        return [StartPayout(payout) if d.role == payout.proposer else ExpectPayout(payout)]

    def _entered(self, now: int) -> list[OrderAction]:
        """Actions on entering a new state: the trade's end, and the next timer."""
        d = self.data
        actions: list[OrderAction] = []
        if d.state in TERMINAL and d.ended_at is None:
            d.ended_at = now
            actions.append(DeleteShippingData(now + self.config.shipping_retention_s))
        nxt = self._deadline()
        if nxt is not None:
            actions.append(SetTimer(nxt[1], nxt[0]))
        return actions

    # -- the clock -----------------------------------------------------------------------------

    def _deadline(self) -> tuple[str, int] | None:
        """The next clock input of the current state and when it is due.

        The party who must act meets its own deadline; the others give it ``grace_s`` more.
        """
        d, cfg = self.data, self.config

        def slack(actor: Role) -> int:
            return 0 if d.role == actor else cfg.grace_s

        r = d.request
        match d.state:
            case S.S1_requested if d.requested_at is not None:
                return "accept-deadline", d.requested_at + cfg.accept_timeout_s + slack("seller")
            case S.S2_accepted | S.S3_escrow_setup if d.accepted_at is not None:
                # A buyer whose escrow funding is on its way has done its part: it waits for
                # the confirmations as long as the others do. Otherwise funds confirmed in
                # the others' grace period would fund the order at the seller and the arbiter
                # and arrive "late" (void, refund) at the buyer.
                wait = cfg.grace_s if d.funding_sent else slack("buyer")
                return "fund-deadline", d.accepted_at + cfg.fund_timeout_s + wait
            case S.S4_funded if r and d.funded_at is not None and "ship-deadline" not in d.fired:
                return "ship-deadline", d.funded_at + r.ship_days * DAY_S + slack("seller")
            case S.S5_shipped if (
                r and d.shipped_at is not None and "confirm-deadline" not in d.fired
            ):
                return "confirm-deadline", d.shipped_at + r.confirm_days * DAY_S + slack("buyer")
            case _ if d.state in TERMINAL and d.ended_at is not None and "purge" not in d.fired:
                return "purge", d.ended_at + cfg.shipping_retention_s
        return None

    def _run_clock(self, now: int) -> list[OrderAction]:
        actions: list[OrderAction] = []
        for _ in range(8):  # a chain of due deadlines is short; the bound is a safety net
            due = self._deadline()
            if due is None or now < due[1]:
                break
            actions += self._local(due[0], now)
        return actions

    def next_timer(self) -> SetTimer | None:
        """The timer to (re)arm, e.g. after loading the state at start-up."""
        due = self._deadline()
        return None if due is None else SetTimer(due[1], due[0])
