"""Whole orders in a consistent world: what must hold for the order, not for one machine.

Hypothesis plays an honest buyer, seller and (escrow mode) arbiter who make the moves their
pages offer, at random times, with messages delivered in any order. Unlike
`test_order_properties.py`, the world is consistent: one clock for everyone; the buyer's
escrow funds only once every party's escrow is set up and its order did not stop it; the
chain confirms those funds for every party at the same moment; a direct payment is seen by
the seller's wallet. Then:

- a terminal state is never left, by any party;
- a direct trade never reaches escrow set-up, a dispute or a decision, never starts an
  escrow and never proposes or co-signs a payout;
- late funds always have a refund path: whenever the funds reach a party whose order has
  ended (cancelled or void), that party takes its part in the refund (the seller proposes
  it, the buyer co-signs it); and once the funds are confirmed and every message is
  delivered, if either signer's order ended, both signers are on that same refund. (This
  found the buyer voiding at its own funding deadline while its funds, sent in time, were
  still being confirmed: funded at the seller and the arbiter, void at the buyer.)
"""

from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from umbra.market import (
    ArbiterAccept,
    ArbiterDecision,
    Cancel,
    Command,
    DisputeOpened,
    EscrowFunded,
    EscrowFundingSent,
    EvidenceAdded,
    ExpectPayout,
    HaltFunding,
    OrderDecline,
    OrderEvent,
    PaymentReceived,
    ReceiptConfirmed,
    Received,
    Shipped,
    StartEscrow,
    StartPayout,
    Tick,
    TimeoutClaim,
    parse_trade_message,
)
from umbra.wallet import Payout

from .trade_helpers import CFG, DAY, HOUR, T0, TOTAL, Trade, accept, direct_request, request

MINUTE = 60
ENDED = (9, 10)  # cancelled, void
TERMINAL = (6, 8, 9, 10, 11)
REFUND = Payout("refund", "seller", "buyer", 0, TOTAL)


def page_moves(role: str, mode: str) -> list[Any]:
    """What a party's order page offers, in some state or other (the machine decides)."""
    if role == "buyer":
        return [
            Cancel(reason="changed my mind"),
            ReceiptConfirmed(),
            DisputeOpened(sealed_evidence=b"evidence"),
            EvidenceAdded(sealed_evidence=b"more"),
            TimeoutClaim(kind="not-shipped", note=""),
        ]
    if role == "seller":
        return [
            accept(mode),
            OrderDecline(reason="sold out"),
            Cancel(reason="cannot ship"),
            Shipped(sealed_tracking=b"tracking"),
            DisputeOpened(sealed_evidence=b"evidence"),
            TimeoutClaim(kind="not-confirmed", note=""),
        ]
    half = TOTAL // 2
    return [
        ArbiterAccept(),
        ArbiterDecision(to_buyer=half, to_seller=TOTAL - half, cosigner="buyer", reason="half"),
        ArbiterDecision(to_buyer=0, to_seller=TOTAL, cosigner="seller", reason="seller"),
    ]


# The moves that make progress, by role and state (most trades then get deep into the table).
PROGRESS: dict[tuple[str, int], tuple[type, ...]] = {
    ("seller", 1): (type(accept()),),
    ("arbiter", 2): (ArbiterAccept,),
    ("seller", 4): (Shipped, Cancel),
    ("buyer", 4): (TimeoutClaim, DisputeOpened),
    ("buyer", 5): (ReceiptConfirmed, DisputeOpened),
    ("seller", 5): (TimeoutClaim,),
    ("arbiter", 7): (ArbiterDecision,),
}


class WholeOrders(RuleBasedStateMachine):
    @initialize(
        mode=st.sampled_from(["escrow", "direct"]),
        stage=st.sampled_from(["requested", "accepted", "set up", "set up", "set up"]),
    )
    def buyer_orders(self, mode: str, stage: str) -> None:
        """The order is placed, and maybe accepted (and the arbiter joined) straight away:
        most of what can go wrong with money happens from there."""
        self.mode = mode
        self.roles = ("buyer", "seller", "arbiter") if mode == "escrow" else ("buyer", "seller")
        self.trade = Trade(self.roles)
        self.now = T0
        self.terminal: dict[str, int] = {}
        self.escrow_actions: dict[str, list[Any]] = {r: [] for r in self.roles}
        self.halted = self.funding_sent = self.confirmed = self.paid_directly = False
        self.feed("buyer", Command(request() if mode == "escrow" else direct_request(), T0))
        if stage != "requested":
            self.deliver_all()
            self.feed("seller", Command(accept(mode), T0))
            self.deliver_all()
        if stage == "set up" and mode == "escrow":
            self.feed("arbiter", Command(ArbiterAccept(), T0))
            self.deliver_all()

    # -- the world -------------------------------------------------------------------------

    def feed(self, role: str, event: OrderEvent) -> None:
        machine = self.trade.machines[role]
        before, had = int(machine.state), machine.data.payout
        actions = self.trade.feed(role, event)
        for action in actions:
            if isinstance(action, StartEscrow | StartPayout | ExpectPayout):
                self.escrow_actions[role].append(action)
            if isinstance(action, HaltFunding) and role == "buyer":
                self.halted = True
        if isinstance(event, EscrowFunded) and before in ENDED and machine.data.escrow_started:
            self.late_funds_have_a_refund_path(role, actions, had)

    def late_funds_have_a_refund_path(self, role: str, actions: list[Any], had: Any) -> None:
        machine = self.trade.machines[role]
        assert int(machine.state) in ENDED, "late funds do not reopen an order"
        if role == "arbiter":
            return  # it signs no refund
        assert machine.data.payout == REFUND, f"late funds at the {role}: {machine.data.payout}"
        if had is None:  # its part starts now
            part = StartPayout(REFUND) if role == "seller" else ExpectPayout(REFUND)
            assert part in actions, actions

    def everyone(self, event: Any) -> None:
        for role in self.roles:
            self.feed(role, event)

    def deliver_all(self) -> None:
        while self.trade.inbox:
            to, sender, wire = self.trade.inbox.popleft()
            self.feed(to, Received(parse_trade_message(wire), sender, self.now))  # type: ignore[arg-type]

    # -- rules -----------------------------------------------------------------------------

    @rule(data=st.data(), any_move=st.integers(0, 3))
    def a_party_moves(self, data: st.DataObject, any_move: int) -> None:
        """Mostly a move that makes progress (by a party that has one), else any page move
        of any party (often refused)."""
        useful = [
            (role, move)
            for role, machine in self.trade.machines.items()
            for move in page_moves(role, self.mode)
            if type(move) in PROGRESS.get((role, int(machine.state)), ())
        ]
        if any_move == 0 or not useful:
            role = data.draw(st.sampled_from(self.roles))
            useful = [(role, move) for move in page_moves(role, self.mode)]
        role, move = data.draw(st.sampled_from(useful))
        self.feed(role, Command(move, self.now))

    @rule()
    def every_message_arrives(self) -> None:
        self.deliver_all()

    @rule(data=st.data())
    def a_message_arrives(self, data: st.DataObject) -> None:
        if self.trade.inbox:
            index = data.draw(st.integers(0, len(self.trade.inbox) - 1))
            to, sender, wire = self.trade.inbox[index]
            del self.trade.inbox[index]
            self.feed(to, Received(parse_trade_message(wire), sender, self.now))  # type: ignore[arg-type]

    @rule(step=st.sampled_from([10 * MINUTE, HOUR, 2 * HOUR, DAY]))
    def time_passes(self, step: int) -> None:
        self.now += step
        self.everyone(Tick(self.now))

    @rule(
        role=st.sampled_from(["buyer", "seller", "arbiter"]),
        offset=st.sampled_from([-HOUR, -10 * MINUTE, 0, 10 * MINUTE, HOUR, 3 * HOUR]),
    )
    def time_passes_to_near_a_deadline(self, role: str, offset: int) -> None:
        """Where the rules change: just before, at and after some party's next deadline."""
        timer = self.trade.machines[role].next_timer() if role in self.trade.machines else None
        if timer is not None and timer.at + offset > self.now:
            self.now = timer.at + offset
            self.everyone(Tick(self.now))

    def escrow_can_fund(self) -> bool:
        """All three escrows are set up, and the buyer's order lets its escrow pay (in set-up,
        not halted)."""
        if self.mode != "escrow" or self.funding_sent or self.halted:
            return False
        machines = self.trade.machines
        ready = all(m.data.escrow_started for m in machines.values())
        return ready and int(machines["buyer"].state) == 3

    @precondition(escrow_can_fund)
    @rule(before_deadline=st.sampled_from([None, HOUR, 10 * MINUTE]))
    def the_buyers_escrow_funds(self, before_deadline: int | None) -> None:
        """At once, or late: the escrow set-up took until shortly before the buyer's deadline."""
        timer = self.trade.machines["buyer"].next_timer()
        if before_deadline is not None and timer is not None:
            self.now = max(self.now, timer.at - before_deadline)
            self.everyone(Tick(self.now))
        self.funding_sent = True
        self.feed("buyer", EscrowFundingSent(self.now))

    @precondition(lambda self: self.funding_sent and not self.confirmed)
    @rule(
        when=st.sampled_from(
            [-10 * MINUTE, 10 * MINUTE, HOUR, CFG.grace_s - MINUTE, CFG.grace_s + MINUTE, None]
        )
    )
    def the_chain_confirms_the_funds(self, when: int | None) -> None:
        """Ten minutes on, or around the funding deadline (acceptance + ``fund_timeout_s``):
        just before it, inside the others' grace period, or after it."""
        accepted_at = self.trade.machines["buyer"].data.accepted_at
        assert accepted_at is not None  # the escrow exists
        deadline = accepted_at + CFG.fund_timeout_s
        at = self.now + 10 * MINUTE if when is None else deadline + when
        self.now = max(self.now + 10 * MINUTE, at)
        self.confirmed = True
        self.everyone(EscrowFunded(TOTAL, self.now))
        self.deliver_all()
        self.signers_agree_on_the_funds()

    def buyer_can_pay(self) -> bool:
        """The buyer's node pays until ``grace_s`` before its deadline."""
        buyer = self.trade.machines["buyer"]
        accepted_at = buyer.data.accepted_at
        if self.mode != "direct" or self.paid_directly or accepted_at is None:
            return False
        last = accepted_at + CFG.fund_timeout_s - CFG.grace_s
        return int(buyer.state) == 2 and self.now < last

    @precondition(buyer_can_pay)
    @rule(delay=st.sampled_from([10 * MINUTE, HOUR]))
    def the_buyer_pays_the_seller(self, delay: int) -> None:
        """The seller's wallet sees it confirmed a little later and its node says so."""
        self.paid_directly = True
        self.now += delay
        self.feed("seller", Command(PaymentReceived(amount=TOTAL), self.now))

    # -- what must hold --------------------------------------------------------------------

    @invariant()
    def terminal_states_stay_terminal(self) -> None:
        for role, machine in self.trade.machines.items():
            if role in self.terminal:
                assert int(machine.state) == self.terminal[role], role
            elif int(machine.state) in TERMINAL:
                self.terminal[role] = int(machine.state)

    @invariant()
    def direct_trades_have_no_escrow_and_no_dispute(self) -> None:
        if self.mode == "direct":
            for role, machine in self.trade.machines.items():
                assert int(machine.state) not in (3, 7, 8), role
                assert not machine.data.escrow_started
                assert self.escrow_actions[role] == []

    def signers_agree_on_the_funds(self) -> None:
        """Once every message is delivered: if either signer's order ended, the funds go back
        to the buyer with both signers' agreement (the seller proposes, the buyer co-signs)."""
        buyer, seller = self.trade.machines["buyer"], self.trade.machines["seller"]
        if int(buyer.state) in ENDED or int(seller.state) in ENDED:
            states = {r: int(m.state) for r, m in self.trade.machines.items()}
            assert (buyer.data.payout, seller.data.payout) == (REFUND, REFUND), states

    def teardown(self) -> None:
        event(f"{self.mode}: funds {'confirmed' if self.confirmed else 'not confirmed'}")
        event(f"{self.mode}: buyer ends in S{int(self.trade.machines['buyer'].state)}")


WholeOrders.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_whole_orders = WholeOrders.TestCase


def test_funds_sent_in_time_and_confirmed_in_the_grace_period_fund_the_order_everywhere() -> None:
    """The case the property found: the buyer's escrow pays ten minutes before the buyer's
    funding deadline and the chain confirms ten minutes after it."""
    world = WholeOrders()
    world.buyer_orders(mode="escrow", stage="set up")
    world.the_buyers_escrow_funds(before_deadline=10 * MINUTE)
    world.the_chain_confirms_the_funds(when=10 * MINUTE)
    assert world.trade.states() == {"buyer": 4, "seller": 4, "arbiter": 4}
