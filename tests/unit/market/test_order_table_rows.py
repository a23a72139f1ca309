"""Every row of the order table, in both payment modes: the next state, or the refusal.

For every state a trade can be in (several paths into the end states: whether the escrow was
started or funded decides what late funds do), in an escrow and in a direct trade, every
input goes to a copy of each party's machine from each role: as our own move (`Command`)
when the role is the machine's, as a peer's message (`Received`) otherwise; then our
escrow's four reports and the clock. Each outcome is compared with
`order_table_expected.predict`, written by hand from the spec: the next state, or the refusal
and its reason, or (a peer's message allowed later) kept waiting. Guarded rows are tried with
the guard holding and failing. States a direct trade never reaches (S3, S7, S8: the tests
below show no input leads there) are loaded from a stored record that says so, as a damaged
or hostile file could: "escrow only" still refuses there.
"""

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

import pytest

from umbra.core import decode_canonical, encode_canonical
from umbra.market import (
    ArbiterAccept,
    ArbiterDecision,
    Cancel,
    Command,
    CommitState,
    DeleteShippingData,
    DisputeOpened,
    EscrowFailed,
    EscrowFunded,
    EscrowFundingSent,
    EscrowPaidOut,
    EscrowWrapper,
    EvidenceAdded,
    OrderAccept,
    OrderAction,
    OrderDecline,
    OrderEvent,
    OrderMachine,
    OrderRequest,
    PaymentReceived,
    ReceiptConfirmed,
    Received,
    Refuse,
    SetTimer,
    Shipped,
    Tick,
    TimeoutClaim,
)
from umbra.wallet import SetupInfo, encode_message

from . import order_table_expected as spec
from .trade_helpers import (
    CFG,
    ORDER,
    T0,
    TOTAL,
    Trade,
    accept,
    direct_request,
    escrow_payload,
    over_the_wire,
    request,
)

HOUR, DAY, GRACE = spec.HOUR, spec.DAY, spec.GRACE
PEER_ID = 900  # an id no sender used yet in any position
HALF = TOTAL // 2
# Inputs whose rows have a guard somewhere: each is also sent in a variant that fails it.
GUARDED = frozenset(
    {"accept", "payment-received", "escrow", "decision", "claim:not-shipped", "claim:not-confirmed"}
)

# The table's input for each message (written here, not taken from the code).
INPUT_OF: dict[type, str] = {
    OrderRequest: "order",
    OrderAccept: "accept",
    OrderDecline: "decline",
    Cancel: "cancel",
    ArbiterAccept: "arbiter-accept",
    PaymentReceived: "payment-received",
    Shipped: "shipped",
    ReceiptConfirmed: "confirm",
    DisputeOpened: "dispute",
    ArbiterDecision: "decision",
}


@dataclass(frozen=True)
class Position:
    """Every party's machine at one point of a trade, and what the test knows about it."""

    label: str
    mode: str
    state: int
    machines: dict[str, OrderMachine]
    now: int  # the time of the last step
    times: spec.Times
    taken: frozenset[str]  # the messages the order took on its way here
    escrow_started: bool
    fired: frozenset[str] = frozenset()


# -- walking a trade into each position --------------------------------------------------------

# (who, what, when): a role and its move; "all" (every party's escrow) or "buyer's escrow"
# and its report; "clock" and None.
Step = tuple[str, Any, int]


def walk(label: str, mode: str, steps: list[Step], state: int) -> Position:
    roles = spec.ROLES if mode == "escrow" else ("buyer", "seller")
    trade = Trade(roles)
    at: dict[str, int] = {}
    taken: set[str] = set()
    for who, what, when in steps:
        if who == "clock":
            for role in roles:
                trade.feed(role, Tick(when))
        elif who == "all":  # every party's escrow reports the funds
            for role in roles:
                trade.feed(role, what)
            at.setdefault("funded", when)
        elif who == "buyer's escrow":
            trade.feed("buyer", what)
            at.setdefault("funding sent", when)
        else:
            name = INPUT_OF[type(what)]
            trade.command(who, what, when)
            taken.add(name)
            key = {"order": "requested", "accept": "accepted", "payment-received": "funded"}
            at.setdefault(key.get(name, name), when)
        trade.deliver(when)
        states = set(trade.states().values())
        assert len(states) == 1, f"{label}: the parties disagree after {what}: {trade.states()}"
        if states <= spec.TERMINAL:
            at.setdefault("ended", when)
    assert set(trade.states().values()) == {state}, f"{label}: {trade.states()}"
    times = spec.Times(
        requested_at=at.get("requested"),
        accepted_at=at.get("accepted"),
        funded_at=at.get("funded"),
        shipped_at=at.get("shipped"),
        ended_at=at.get("ended"),
        funding_sent="funding sent" in at,
    )
    now = steps[-1][2] if steps else T0
    started = "arbiter-accept" in taken
    return Position(label, mode, state, trade.machines, now, times, frozenset(taken), started)  # type: ignore[arg-type]


def loaded_as(position: Position, state: int) -> Position:
    """The same machines stored, then loaded from a record that says ``state``."""
    machines = {}
    for role, machine in position.machines.items():
        record = decode_canonical(machine.to_bytes(), max_size=1 << 20)
        record["state"] = state
        machines[role] = OrderMachine.from_bytes(encode_canonical(record), CFG)
    return dataclasses.replace(
        position, label=f"{position.label}, stored as S{state}", state=state, machines=machines
    )


def _escrow_positions() -> list[Position]:
    ordered: list[Step] = [("buyer", request(), T0)]
    accepted = [*ordered, ("seller", accept(), T0 + HOUR)]
    setup = [*accepted, ("arbiter", ArbiterAccept(), T0 + 2 * HOUR)]
    funded = [*setup, ("all", EscrowFunded(TOTAL, T0 + 3 * HOUR), T0 + 3 * HOUR)]
    shipped = [*funded, ("seller", Shipped(sealed_tracking=b"tracking"), T0 + DAY)]
    disputed = [*shipped, ("buyer", DisputeOpened(sealed_evidence=b"ev"), T0 + 2 * DAY)]
    split = ArbiterDecision(to_buyer=HALF, to_seller=TOTAL - HALF, cosigner="buyer", reason="r")
    bye = Cancel(reason="changed my mind")
    sent = T0 + 3 * HOUR
    paths: list[tuple[str, list[Step], int]] = [
        ("draft", [], 0),
        ("requested", ordered, 1),
        ("accepted", accepted, 2),
        ("set-up", setup, 3),
        ("set-up, funding sent", [*setup, ("buyer's escrow", EscrowFundingSent(sent), sent)], 3),
        ("funded", funded, 4),
        ("shipped", shipped, 5),
        ("completed", [*shipped, ("buyer", ReceiptConfirmed(), T0 + 2 * DAY)], 6),
        ("disputed", disputed, 7),
        ("resolved", [*disputed, ("arbiter", split, T0 + 3 * DAY)], 8),
        ("cancelled when requested", [*ordered, ("buyer", bye, T0 + 60)], 9),
        ("cancelled in set-up", [*setup, ("buyer", bye, T0 + 3 * HOUR)], 9),
        ("cancelled when funded", [*funded, ("seller", bye, T0 + 4 * HOUR)], 9),
        ("void when requested", [*ordered, ("clock", None, T0 + 50 * HOUR)], 10),
        ("void in set-up", [*setup, ("clock", None, T0 + 4 * DAY)], 10),
        ("declined", [*ordered, ("seller", OrderDecline(reason="no"), T0 + HOUR)], 11),
    ]
    return [walk(f"escrow {label}", "escrow", steps, state) for label, steps, state in paths]


def _direct_positions() -> list[Position]:
    ordered: list[Step] = [("buyer", direct_request(), T0)]
    accepted = [*ordered, ("seller", accept("direct"), T0 + HOUR)]
    funded = [*accepted, ("seller", PaymentReceived(amount=TOTAL), T0 + 3 * HOUR)]
    shipped = [*funded, ("seller", Shipped(sealed_tracking=b"tracking"), T0 + DAY)]
    bye = Cancel(reason="changed my mind")
    paths: list[tuple[str, list[Step], int]] = [
        ("draft", [], 0),
        ("requested", ordered, 1),
        ("accepted", accepted, 2),
        ("funded", funded, 4),
        ("shipped", shipped, 5),
        ("completed", [*shipped, ("buyer", ReceiptConfirmed(), T0 + 2 * DAY)], 6),
        ("cancelled when requested", [*ordered, ("buyer", bye, T0 + 60)], 9),
        ("cancelled when accepted", [*accepted, ("buyer", bye, T0 + 2 * HOUR)], 9),
        ("void when requested", [*ordered, ("clock", None, T0 + 50 * HOUR)], 10),
        ("void when accepted", [*accepted, ("clock", None, T0 + 4 * DAY)], 10),
        ("declined", [*ordered, ("seller", OrderDecline(reason="no"), T0 + HOUR)], 11),
    ]
    walked = [walk(f"direct {label}", "direct", steps, state) for label, steps, state in paths]
    by_state = {p.state: p for p in walked}
    # Never reached by a direct trade; loaded from a record that says so.
    return [
        *walked,
        loaded_as(by_state[2], 3),
        loaded_as(by_state[5], 7),
        loaded_as(by_state[5], 8),
    ]


POSITIONS = _escrow_positions() + _direct_positions()
BY_LABEL = {p.label: p for p in POSITIONS}


def test_every_state_is_covered_in_both_modes() -> None:
    assert {(p.mode, p.state) for p in POSITIONS} == {
        (mode, s) for mode in ("escrow", "direct") for s in range(12)
    }


# -- one input, and what came of it ------------------------------------------------------------


def message_for(name: str, sender: str, to: str, position: Position, good: bool) -> Any:
    """A valid message for input ``name``; ``good`` False: one that fails the row's guard."""
    match name:
        case "order":
            return request() if position.mode == "escrow" else direct_request()
        case "accept":
            other = "direct" if position.mode == "escrow" else "escrow"
            return accept(position.mode if good else other)
        case "decline":
            return OrderDecline(reason="no")
        case "cancel":
            return Cancel(reason="bye")
        case "arbiter-accept":
            return ArbiterAccept()
        case "payment-received":
            return PaymentReceived(amount=TOTAL if good else TOTAL - 1)
        case "escrow":
            if good:
                return EscrowWrapper(to=to, payload=escrow_payload(sender))
            other_escrow = SetupInfo("ff" * 16, sender, 0, "MultisigV1abc")  # type: ignore[arg-type]
            return EscrowWrapper(to=to, payload=encode_message(other_escrow))
        case "shipped":
            return Shipped(sealed_tracking=b"tracking")
        case "confirm":
            return ReceiptConfirmed()
        case "dispute":
            return DisputeOpened(sealed_evidence=b"ev")
        case "evidence":
            return EvidenceAdded(sealed_evidence=b"more")
        case "decision":
            to_seller = TOTAL - HALF if good else TOTAL - HALF - 1
            return ArbiterDecision(to_buyer=HALF, to_seller=to_seller, cosigner="buyer", reason="r")
        case _:
            kind = name.removeprefix("claim:")
            return TimeoutClaim(kind=kind, note="")  # type: ignore[arg-type]


def guard_holds(name: str, position: Position, good: bool) -> bool:
    """Whether the row's guard holds for this variant here (the spec's conditions)."""
    if not good:
        return False
    t = position.times
    return {
        "escrow": position.escrow_started,
        "claim:not-shipped": t.funded_at is not None,
        "claim:not-confirmed": t.shipped_at is not None,
        "decision": t.funded_at is not None,
        "escrow-funded": position.escrow_started,
    }.get(name, True)


def when(name: str, position: Position, good: bool) -> int:
    """A claim is sent at the second it opens (``good``) or one before; the rest a minute on."""
    if name.startswith("claim:"):
        opens = spec.claim_opens(name.removeprefix("claim:"), position.times)
        if opens is not None:
            return opens if good else opens - 1
    return position.now + 60


def observe(
    machine: OrderMachine, before: bytes, actions: list[OrderAction], local: bool, waiting: Any
) -> spec.Outcome:
    """What happened, with what must go with it: a refusal changes nothing and says whose move
    it was; a change is committed first; a message kept for later is committed and waits."""
    refusals = [a for a in actions if isinstance(a, Refuse)]
    if refusals:
        if len(actions) != 1 or refusals[0].local != local or machine.to_bytes() != before:
            return spec.Outcome("refused, but also acted", reason=str(actions))
        return spec.refused(refusals[0].reason)
    if not actions or actions[0] != CommitState(int(machine.state)):
        return spec.Outcome("acted without committing first", reason=str(actions[:2]))
    if machine.data.early:
        ok = machine.data.early == [waiting] and actions == [CommitState(int(machine.state))]
        return spec.EARLY if ok else spec.Outcome("kept, but also acted", reason=str(actions))
    return spec.applied(int(machine.state))


def ended_properly(position: Position, outcome: spec.Outcome, actions: list[Any], now: int) -> bool:
    """Entering an end state schedules the deletion of the shipping data (spec, "Timeouts")."""
    entered = outcome.kind == "next" and outcome.state in spec.TERMINAL
    if not entered or position.state in spec.TERMINAL:
        return True
    return DeleteShippingData(now + spec.RETENTION) in actions


def check(
    position: Position,
    name: str,
    sender: str,
    role: str,
    good: bool,
    event: OrderEvent,
    waiting: Any = None,
) -> str | None:
    """Feed ``event`` to a copy of the ``role``'s machine; a line if it is not as specified."""
    machine = copy.deepcopy(position.machines[role])
    before = machine.to_bytes()
    actions = machine.handle(event)
    got = observe(machine, before, actions, local=sender == role, waiting=waiting)
    want = spec.predict(
        state=position.state,
        mode=None if position.state == 0 else position.mode,
        name=name,
        sender=sender,
        role=role,
        guard_holds=guard_holds(name, position, good),
        taken=position.taken,
        funding_sent=position.times.funding_sent,
    )
    if got == want and ended_properly(position, got, actions, event.now):
        return None
    variant = "" if good else " (guard failing)"
    return f"{position.label}: {name}{variant} from the {sender} at the {role}: {got}, spec {want}"


# -- the tests ---------------------------------------------------------------------------------

LABELS = [p.label for p in POSITIONS]


def _report(wrong: list[str]) -> str:
    return f"{len(wrong)} cases differ from the spec:\n" + "\n".join(wrong[:25])


@pytest.mark.parametrize("label", LABELS)
def test_every_message_from_every_role_at_every_party(label: str) -> None:
    position = BY_LABEL[label]
    wrong = []
    cases = 0
    for name in spec.MESSAGE_INPUTS:
        for sender in spec.ROLES:
            for role in position.machines:
                for good in (True, False) if name in GUARDED else (True,):
                    others = [r for r in position.machines if r != sender]
                    to = role if role != sender else others[0]
                    message = message_for(name, sender, to, position, good)
                    now = when(name, position, good)
                    if sender == role:
                        event: OrderEvent = Command(message, now)
                        waiting = None
                    else:
                        stamped = dataclasses.replace(
                            message, order=ORDER, id=PEER_ID, sender=sender
                        )
                        received = over_the_wire(stamped)
                        event = Received(received, sender, now)  # type: ignore[arg-type]
                        waiting = (sender, received)
                    cases += 1
                    problem = check(position, name, sender, role, good, event, waiting)
                    if problem:
                        wrong.append(problem)
    assert cases >= (len(spec.MESSAGE_INPUTS) + len(GUARDED)) * 3 * (len(position.machines) - 1)
    assert not wrong, _report(wrong)


def _escrow_report(name: str, now: int) -> OrderEvent:
    return {
        "escrow-funding-sent": EscrowFundingSent(now),
        "escrow-funded": EscrowFunded(TOTAL, now),
        "escrow-failed": EscrowFailed("the wallet gave up", now),
        "escrow-paid-out": EscrowPaidOut(("ab" * 32,), now),
    }[name]


@pytest.mark.parametrize("label", LABELS)
def test_every_escrow_report_at_every_party(label: str) -> None:
    position = BY_LABEL[label]
    wrong = []
    for name in spec.ESCROW_INPUTS:
        for role in position.machines:
            event = _escrow_report(name, position.now + 60)
            problem = check(position, name, role, role, True, event)
            if problem:
                wrong.append(problem)
    assert not wrong, _report(wrong)


@pytest.mark.parametrize("label", LABELS)
def test_every_deadline_at_every_party(label: str) -> None:
    """The clock's input in each state, when it is due for each party, and where it leads."""
    position = BY_LABEL[label]
    for role, original in position.machines.items():
        due = spec.next_deadline(position.state, role, position.times, position.fired)
        machine = copy.deepcopy(original)
        timer = machine.next_timer()
        assert timer == (None if due is None else SetTimer(due[1], due[0])), (label, role)
        if due is None:
            continue
        name, at = due
        before = machine.to_bytes()
        assert machine.handle(Tick(at - 1)) == [], (label, role, "a second early")
        assert machine.to_bytes() == before
        problem = check(position, name, role, role, True, Tick(at))
        assert problem is None, problem
        machine.handle(Tick(at))
        after = int(machine.state)
        times = position.times
        if after in spec.TERMINAL and position.state not in spec.TERMINAL:
            times = dataclasses.replace(times, ended_at=at)
        fired = position.fired | ({name} if after == position.state else set())
        then = spec.next_deadline(after, role, times, fired)
        assert machine.next_timer() == (None if then is None else SetTimer(then[1], then[0]))


def test_direct_trades_never_reach_the_escrow_states() -> None:
    """By the spec's table, from every state a direct trade reaches: no S3, S7 or S8."""
    direct = {p.state for p in POSITIONS if p.mode == "direct" and "stored as" not in p.label}
    assert direct == {0, 1, 2, 4, 5, 6, 9, 10, 11}
    for state in direct:
        assert not spec.reachable(state, "direct") & {3, 7, 8}
