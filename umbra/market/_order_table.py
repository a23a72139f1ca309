"""The order protocol's states and transition table: all order state changes are listed here.

Rules:
- A trade has up to three parties (buyer, seller, arbiter), each running an `OrderMachine`
  over this one table. The table does not know which role we play: our own moves and a
  peer's messages are checked against it in exactly the same way (same rule, same guard).
- ``TRANSITIONS[(state, input)]`` lists the rules for that input in that state; a rule names
  the next state, the roles that may cause it, the payment mode it applies to (``None``:
  both) and an optional guard, a named condition on the message and the trade
  (`OrderMachine._guard`). Anything not listed is refused.
- Inputs are grouped by where they come from. Messages are named after their wire type
  (``claim:<kind>`` for timeout claims). Inputs from our escrow machine and the clock are
  caused by "us": their sender is our own role.
- A peer message that is not allowed now but is allowed later (for that sender, along some
  path of the table) is *early* (messages of different senders race): it is kept and tried
  again after each state change. Anything else out of place is refused.
- Terminal states are never left; only self-loops (escrow messages, late funds, a payout
  report, the shipping-data purge) happen there.
"""

from dataclasses import dataclass
from enum import IntEnum

from ._trade_messages import ROLES, PaymentMode, Role


class State(IntEnum):
    S0_draft = 0
    S1_requested = 1
    S2_accepted = 2
    S3_escrow_setup = 3
    S4_funded = 4
    S5_shipped = 5
    S6_completed = 6
    S7_disputed = 7
    S8_resolved = 8
    S9_cancelled = 9
    S10_void = 10
    S11_declined = 11


S = State
TERMINAL: frozenset[State] = frozenset(
    {S.S6_completed, S.S8_resolved, S.S9_cancelled, S.S10_void, S.S11_declined}
)


@dataclass(frozen=True)
class Rule:
    next: State
    senders: frozenset[Role]
    mode: PaymentMode | None = None
    guard: str | None = None


B: Role = "buyer"
SL: Role = "seller"
A: Role = "arbiter"
ALL: tuple[Role, ...] = ROLES


def _r(
    next_state: State, *senders: Role, mode: PaymentMode | None = None, guard: str | None = None
) -> tuple[Rule, ...]:
    return (Rule(next_state, frozenset(senders), mode, guard),)


_AFTER_SETUP = (
    S.S3_escrow_setup,
    S.S4_funded,
    S.S5_shipped,
    S.S6_completed,
    S.S7_disputed,
    S.S8_resolved,
    S.S9_cancelled,
    S.S10_void,
)

TRANSITIONS: dict[tuple[State, str], tuple[Rule, ...]] = {
    # from the buyer
    (S.S0_draft, "order"): _r(S.S1_requested, B),
    (S.S5_shipped, "confirm"): _r(S.S6_completed, B),
    (S.S7_disputed, "confirm"): _r(S.S6_completed, B, mode="escrow"),  # releases after all
    (S.S4_funded, "claim:not-shipped"): _r(S.S7_disputed, B, mode="escrow", guard="ship-overdue"),
    (S.S5_shipped, "claim:not-shipped"): _r(  # crossed the seller's "shipped"
        S.S7_disputed, B, mode="escrow", guard="ship-overdue"
    ),
    # from the seller
    (S.S1_requested, "accept"): _r(S.S2_accepted, SL, guard="accept-fits-mode"),
    (S.S1_requested, "decline"): _r(S.S11_declined, SL),
    (S.S2_accepted, "payment-received"): _r(S.S4_funded, SL, mode="direct", guard="paid-in-full"),
    (S.S4_funded, "shipped"): _r(S.S5_shipped, SL),
    (S.S7_disputed, "shipped"): _r(S.S7_disputed, SL, mode="escrow"),  # crossed a claim
    (S.S5_shipped, "claim:not-confirmed"): _r(
        S.S7_disputed, SL, mode="escrow", guard="confirm-overdue"
    ),
    # from the buyer or the seller
    (S.S1_requested, "cancel"): _r(S.S9_cancelled, B),  # the seller declines instead
    (S.S2_accepted, "cancel"): _r(S.S9_cancelled, B, SL),
    (S.S3_escrow_setup, "cancel"): _r(S.S9_cancelled, B, SL, mode="escrow"),
    (S.S4_funded, "cancel"): _r(S.S9_cancelled, SL, mode="escrow"),  # the seller refunds
    (S.S4_funded, "dispute"): _r(S.S7_disputed, B, SL, mode="escrow"),
    (S.S5_shipped, "dispute"): _r(S.S7_disputed, B, SL, mode="escrow"),
    (S.S7_disputed, "evidence"): _r(S.S7_disputed, B, SL, mode="escrow"),
    # from the arbiter
    (S.S2_accepted, "arbiter-accept"): _r(S.S3_escrow_setup, A, mode="escrow"),
    (S.S7_disputed, "decision"): _r(S.S8_resolved, A, mode="escrow", guard="split-adds-up"),
    # from any party: the escrow machines' messages, relayed
    **{(s, "escrow"): _r(s, *ALL, mode="escrow", guard="escrow-relay") for s in _AFTER_SETUP},
    # from our escrow machine
    (S.S3_escrow_setup, "escrow-funding-sent"): _r(S.S3_escrow_setup, B),
    (S.S3_escrow_setup, "escrow-funded"): _r(S.S4_funded, *ALL),
    (S.S9_cancelled, "escrow-funded"): _r(S.S9_cancelled, *ALL, guard="escrow-started"),
    (S.S10_void, "escrow-funded"): _r(S.S10_void, *ALL, guard="escrow-started"),
    (S.S3_escrow_setup, "escrow-failed"): _r(S.S9_cancelled, *ALL),
    **{
        (s, "escrow-paid-out"): _r(s, *ALL)
        for s in (S.S6_completed, S.S7_disputed, S.S8_resolved, S.S9_cancelled, S.S10_void)
    },
    # from the clock
    (S.S1_requested, "accept-deadline"): _r(S.S10_void, *ALL),
    (S.S2_accepted, "fund-deadline"): _r(S.S10_void, *ALL),
    (S.S3_escrow_setup, "fund-deadline"): _r(S.S10_void, *ALL),
    (S.S4_funded, "ship-deadline"): _r(S.S4_funded, *ALL),
    (S.S5_shipped, "confirm-deadline"): (
        Rule(S.S5_shipped, frozenset(ALL), "escrow"),  # the seller may now claim
        Rule(S.S6_completed, frozenset(ALL), "direct"),  # nothing held back: done
    ),
    **{(s, "purge"): _r(s, *ALL) for s in sorted(TERMINAL)},
}

# Where each input comes from (for documents and for the driver).
LOCAL_INPUTS: frozenset[str] = frozenset(
    {
        "escrow-funding-sent",
        "escrow-funded",
        "escrow-failed",
        "escrow-paid-out",
        "accept-deadline",
        "fund-deadline",
        "ship-deadline",
        "confirm-deadline",
        "purge",
    }
)

# Every role that may send a message input in some state ("wrong sender" if not listed).
INPUT_SENDERS: dict[str, frozenset[Role]] = {}
for (_state, _input), _rules in TRANSITIONS.items():
    for _rule in _rules:
        INPUT_SENDERS[_input] = INPUT_SENDERS.get(_input, frozenset()) | _rule.senders


def _reachable() -> dict[State, frozenset[State]]:
    edges: dict[State, set[State]] = {s: set() for s in State}
    for (state, _), rules in TRANSITIONS.items():
        edges[state].update(rule.next for rule in rules if rule.next != state)
    out: dict[State, frozenset[State]] = {}
    for start in State:
        seen: set[State] = set()
        todo = list(edges[start])
        while todo:
            s = todo.pop()
            if s not in seen:
                seen.add(s)
                todo.extend(edges[s])
        out[start] = frozenset(seen)
    return out


# States reachable from each state by at least one transition (to tell "early" from "late").
REACHABLE: dict[State, frozenset[State]] = _reachable()


def rule_for(state: State, name: str, mode: PaymentMode | None) -> Rule | None:
    """The rule for ``name`` in ``state`` under ``mode`` (``None`` before the order is known)."""
    for rule in TRANSITIONS.get((state, name), ()):
        if rule.mode is None or mode is None or rule.mode == mode:
            return rule
    return None


def allowed_later(state: State, name: str, sender: Role, mode: PaymentMode | None) -> bool:
    """Whether ``sender`` may cause ``name`` in some state after ``state``."""
    for later in REACHABLE[state]:
        rule = rule_for(later, name, mode)
        if rule is not None and sender in rule.senders:
            return True
    return False
