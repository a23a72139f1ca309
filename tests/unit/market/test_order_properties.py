"""Random trades among three order machines: nothing but `Refuse` ever goes wrong.

Hypothesis drives a buyer, a seller and an arbiter with random moves (right or wrong for
their role and state), delivers messages out of order and twice, forges messages, fires
escrow events and moves the clock. After every step:

- no machine raised; a step that only refused left the stored state byte-for-byte unchanged;
- a machine in a terminal state stays in it; every committed state loads back equal;
- money: each machine asks its escrow for at most one payout, only in its own role
  (proposer or co-signer, never both), of a shape the wallet allows, for the funded amount;
  a release is proposed only by a buyer who confirmed receipt and expected only by a seller
  who saw that confirmation; so every payout needs two distinct roles' machines to agree.
"""

import copy
import dataclasses
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from umbra.market import (
    TERMINAL,
    ArbiterAccept,
    ArbiterDecision,
    Cancel,
    Command,
    CommitState,
    DisputeOpened,
    EscrowFailed,
    EscrowFunded,
    EscrowFundingSent,
    EscrowPaidOut,
    EscrowWrapper,
    EvidenceAdded,
    ExpectPayout,
    OrderDecline,
    OrderEvent,
    OrderMachine,
    PaymentReceived,
    ReceiptConfirmed,
    Received,
    Refuse,
    Shipped,
    StartPayout,
    Tick,
    TimeoutClaim,
    parse_trade_message,
)

from .trade_helpers import (
    CFG,
    DAY,
    HOUR,
    ORDER,
    T0,
    TOTAL,
    Trade,
    accept,
    direct_request,
    escrow_payload,
    request,
)

ROLES = ("buyer", "seller", "arbiter")
role_st = st.sampled_from(ROLES)


def _moves(role: str, draw: Any) -> list[Any]:
    other = draw(st.sampled_from([r for r in ROLES if r != role]))
    to_buyer = draw(st.sampled_from([0, 1, TOTAL // 2, TOTAL]))
    return [
        request(),
        direct_request(),
        accept(),
        accept("direct"),
        OrderDecline(reason="no"),
        Cancel(reason="bye"),
        ArbiterAccept(),
        PaymentReceived(amount=draw(st.sampled_from([TOTAL, TOTAL - 1]))),
        EscrowWrapper(to=other, payload=escrow_payload(role)),
        Shipped(sealed_tracking=draw(st.sampled_from([None, b"trk"]))),
        ReceiptConfirmed(),
        DisputeOpened(sealed_evidence=b"ev"),
        EvidenceAdded(sealed_evidence=b"more"),
        ArbiterDecision(
            to_buyer=to_buyer,
            to_seller=draw(st.sampled_from([TOTAL - to_buyer, 7])),
            cosigner=draw(st.sampled_from(["buyer", "seller"])),
            reason="decided",
        ),
        TimeoutClaim(kind=draw(st.sampled_from(["not-shipped", "not-confirmed"])), note=""),
    ]


_SENSIBLE: dict[tuple[str, int], tuple[type, ...]] = {
    ("buyer", 0): (type(request()),),
    ("seller", 1): (type(accept()),),
    ("arbiter", 2): (ArbiterAccept,),
    ("seller", 2): (PaymentReceived,),
    ("seller", 4): (Shipped, Shipped, Shipped, Cancel, DisputeOpened),
    ("buyer", 4): (TimeoutClaim, DisputeOpened),
    ("buyer", 5): (ReceiptConfirmed, ReceiptConfirmed, DisputeOpened, TimeoutClaim),
    ("seller", 5): (TimeoutClaim,),
    ("arbiter", 7): (ArbiterDecision,),
    ("buyer", 7): (EvidenceAdded, ReceiptConfirmed),
}


def _sensible(role: str, machine: OrderMachine, draw: Any) -> list[Any]:
    """Moves that make progress for this role in this state (most of them are allowed)."""
    kinds = _SENSIBLE.get((role, int(machine.state)), ())
    mode = machine.mode or draw(st.sampled_from(["escrow", "escrow", "direct"]))
    out = []
    for kind in kinds:
        if kind is type(request()):
            out.append(request() if mode == "escrow" else direct_request())
        elif kind is type(accept()):
            out.append(accept(mode))
        elif kind is ArbiterDecision:
            to_buyer = draw(st.sampled_from([0, TOTAL // 3, TOTAL]))
            cosigner = "buyer" if to_buyer else "seller"
            decision = ArbiterDecision(
                to_buyer=to_buyer, to_seller=TOTAL - to_buyer, cosigner=cosigner, reason="fair"
            )
            out.append(decision)
        else:
            out += [m for m in _moves(role, draw) if type(m) is kind]
    return out


class RandomTrades(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.trade = Trade()
        self.now = T0
        self.payouts: dict[str, list[Any]] = {r: [] for r in ROLES}
        self.terminal: dict[str, int] = {}

    # -- driving ----------------------------------------------------------------------------

    def _feed(self, role: str, event: OrderEvent) -> None:
        machine = self.trade.machines[role]
        before = copy.deepcopy(machine.data)
        actions = self.trade.feed(role, event)
        if all(isinstance(a, Refuse) for a in actions):
            assert machine.data == before, "a refused event changed the state"
        else:
            assert isinstance(actions[0], CommitState), "commit comes before acting"
            assert actions[0].state == int(machine.state)
            # What the driver commits loads back equal.
            assert OrderMachine.from_bytes(machine.to_bytes(), CFG).data == machine.data
        for action in actions:
            if isinstance(action, StartPayout | ExpectPayout):
                self.payouts[role].append(action)
                self._check_payout(role, action)

    def _check_payout(self, role: str, action: StartPayout | ExpectPayout) -> None:
        p = action.payout
        p.check_shape()  # the wallet's rule for who may sign what
        assert p.proposer != p.cosigner
        assert role == (p.proposer if isinstance(action, StartPayout) else p.cosigner)
        assert p.total == TOTAL
        machine = self.trade.machines[role]
        if p.kind == "release":
            # Only from the buyer's own "confirm", on both sides.
            assert "confirm" in machine.data.taken
            assert machine.state == 6

    @rule(data=st.data(), choice=st.integers(0, 99))
    def step(self, data: st.DataObject, choice: int) -> None:
        """One weighted random step, so that random trades also get deep into the table."""
        role = data.draw(role_st)
        if choice < 40:
            self.sensible_move(role, data)
        elif choice < 55:
            self.sensible_move_delivered(role, data)
        elif choice < 77 and self.trade.inbox:
            self.deliver_one(data, data.draw(st.integers(0, 4)) == 0)
        elif choice < 83:
            self.time_passes(role, data.draw(st.sampled_from([60, HOUR, DAY, 3 * DAY, 8 * DAY])))
        elif choice < 88:
            self.escrow_event(
                role, data.draw(st.sampled_from(["funded", "sent", "paid", "failed"]))
            )
        elif choice < 94 or not self.forging:
            self.move(role, data)
        else:
            self.forged(data)

    forging = True

    def move(self, role: str, data: st.DataObject) -> None:
        message = data.draw(st.sampled_from(_moves(role, data.draw)))
        self.now += data.draw(st.sampled_from([0, 60, HOUR]))
        self._feed(role, Command(message, self.now))

    def sensible_move(self, role: str, data: st.DataObject) -> None:
        """A move that fits the role and state (keeps random trades going deep)."""
        machine = self.trade.machines[role]
        if machine.state == 3 and data.draw(st.booleans()):
            self._feed(role, EscrowFunded(TOTAL, self.now))
            return
        choices = _sensible(role, machine, data.draw)
        if choices:
            self.now += data.draw(st.sampled_from([0, 60, HOUR]))
            self._feed(role, Command(data.draw(st.sampled_from(choices)), self.now))

    def sensible_move_delivered(self, role: str, data: st.DataObject) -> None:
        self.sensible_move(role, data)
        while self.trade.inbox:
            to, sender, wire = self.trade.inbox.popleft()
            self._feed(to, Received(parse_trade_message(wire), sender, self.now))  # type: ignore[arg-type]

    def deliver_one(self, data: st.DataObject, again: bool) -> None:
        index = data.draw(st.integers(0, len(self.trade.inbox) - 1))
        to, sender, wire = self.trade.inbox[index]
        if not again:
            del self.trade.inbox[index]
        self._feed(to, Received(parse_trade_message(wire), sender, self.now))  # type: ignore[arg-type]

    def escrow_event(self, role: str, kind: str) -> None:
        event: OrderEvent = {
            "funded": EscrowFunded(TOTAL, self.now),
            "sent": EscrowFundingSent(self.now),
            "paid": EscrowPaidOut(("ab" * 32,), self.now),
            "failed": EscrowFailed("boom", self.now),
        }[kind]
        self._feed(role, event)

    def time_passes(self, role: str, step: int) -> None:
        self.now += step
        self._feed(role, Tick(self.now))

    def forged(self, data: st.DataObject) -> None:
        """A message that did not come from a party's machine: any claims, any ids."""
        to, claimed, actual = (data.draw(role_st) for _ in range(3))
        msg_id = data.draw(st.integers(1, 5))
        order = data.draw(st.sampled_from([ORDER, b"\xff" * 16]))
        message = data.draw(st.sampled_from(_moves(claimed, data.draw)))
        message = dataclasses.replace(message, order=order, id=msg_id, sender=claimed)
        self._feed(to, Received(message, actual, self.now))  # type: ignore[arg-type]

    # -- invariants -------------------------------------------------------------------------

    def teardown(self) -> None:
        taken = set().union(*(m.data.taken for m in self.trade.machines.values()))
        names = ("escrow-funded", "shipped", "confirm", "dispute", "decision", "cancel")
        for name in names:
            event(f"{name} {'taken' if name in taken else 'not taken'}")

    @invariant()
    def terminal_states_stay_terminal(self) -> None:
        for role, machine in self.trade.machines.items():
            if role in self.terminal:
                assert int(machine.state) == self.terminal[role]
            elif machine.state in TERMINAL:
                self.terminal[role] = int(machine.state)

    @invariant()
    def at_most_one_payout_per_machine(self) -> None:
        for role in ROLES:
            assert len(self.payouts[role]) <= 1, self.payouts[role]


RandomTrades.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_random_trades = RandomTrades.TestCase


class HonestTrades(RandomTrades):
    """Honest parties, any delivery order: whatever both signers of a payout agreed on matches."""

    forging = False

    @invariant()
    def both_signers_agree(self) -> None:
        started = [a.payout for r in ROLES for a in self.payouts[r] if isinstance(a, StartPayout)]
        expected = [a.payout for r in ROLES for a in self.payouts[r] if isinstance(a, ExpectPayout)]
        for payout in expected:
            # A co-signer only ever expects a payout whose proposer, from the same messages,
            # reaches (or has reached) that same payout: never a different split.
            assert all(p == payout or p.kind != payout.kind for p in started)


HonestTrades.TestCase.settings = RandomTrades.TestCase.settings
test_honest_trades = HonestTrades.TestCase


def test_a_full_trade_is_reachable_by_the_harness() -> None:
    """Guards the property tests against vacuity: the moves they use can finish a trade."""
    t = Trade()
    for role, message, at in [
        ("buyer", request(), T0),
        ("seller", accept(), T0),
        ("arbiter", ArbiterAccept(), T0),
    ]:
        t.feed(role, Command(message, at))
        t.deliver(at)
    for role in ROLES:
        t.feed(role, EscrowFunded(TOTAL, T0))
    t.feed("seller", Command(Shipped(sealed_tracking=None), T0))
    t.deliver(T0)
    t.feed("buyer", Command(ReceiptConfirmed(), T0 + DAY))
    t.deliver(T0 + DAY)
    assert t.states() == {"buyer": 6, "seller": 6, "arbiter": 6}
