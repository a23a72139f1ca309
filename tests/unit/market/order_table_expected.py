"""The order table as docs/specifications/trade.md states it, written out by hand, and what it
predicts for one input (a model for the tests, independent of `umbra.market._order_table`).

Sources in the spec: "Who may send what" (who, in which states, which mode), "Timeouts" (the
clock's inputs and where they lead), "The order machine" rules 3 (refusals and their reasons),
4 (early messages), 5 (terminal states), 7 and 8 (late funds are refunded), and the table
under the state diagram for the self-loops. Nothing here is read from the code under test: a
changed row in the code makes the tests disagree with this file.
"""

from dataclasses import dataclass

ROLES = ("buyer", "seller", "arbiter")
LETTER = {"B": "buyer", "S": "seller", "A": "arbiter"}
TERMINAL = frozenset({6, 8, 9, 10, 11})
NO = None  # no rule in this payment mode: refused

# Peer messages ("claim:<kind>" for the two timeout claims), our escrow's reports, the clock.
MESSAGE_INPUTS = (
    "order",
    "accept",
    "decline",
    "cancel",
    "arbiter-accept",
    "payment-received",
    "escrow",
    "shipped",
    "confirm",
    "dispute",
    "evidence",
    "decision",
    "claim:not-shipped",
    "claim:not-confirmed",
)
ESCROW_INPUTS = ("escrow-funding-sent", "escrow-funded", "escrow-failed", "escrow-paid-out")
CLOCK_INPUTS = ("accept-deadline", "fund-deadline", "ship-deadline", "confirm-deadline", "purge")
# Inputs a machine may take more than once, so a second one can still be early (rule 4).
REPEATABLE = frozenset({"escrow", "evidence"})


@dataclass(frozen=True)
class Row:
    state: int
    input: str
    senders: str  # letters of the roles that may cause it (our own role for local inputs)
    guard: str | None
    escrow: int | None  # the next state in an escrow trade (None: refused)
    direct: int | None  # the next state in a direct-payment trade

    def next_in(self, mode: str | None) -> int | None:
        """``mode`` None: the machine does not know the mode yet (S0), either rule counts."""
        if mode is None:
            return self.escrow if self.escrow is not None else self.direct
        return self.escrow if mode == "escrow" else self.direct


_ROWS = [
    #   state  input                    from   guard               escrow  direct
    Row(0, "order", "B", None, 1, 1),
    Row(1, "accept", "S", "accept-fits-mode", 2, 2),
    Row(1, "decline", "S", None, 11, 11),
    Row(1, "cancel", "B", None, 9, 9),  # the seller declines instead
    Row(1, "accept-deadline", "BSA", None, 10, 10),
    Row(2, "arbiter-accept", "A", None, 3, NO),
    Row(2, "payment-received", "S", "paid-in-full", NO, 4),
    Row(2, "cancel", "BS", None, 9, 9),
    Row(2, "fund-deadline", "BSA", None, 10, 10),
    Row(3, "cancel", "BS", None, 9, NO),
    Row(3, "escrow", "BSA", "escrow-relay", 3, NO),
    Row(3, "escrow-funding-sent", "B", None, 3, 3),
    Row(3, "escrow-funded", "BSA", None, 4, 4),
    Row(3, "escrow-failed", "BSA", None, 9, 9),
    Row(3, "fund-deadline", "BSA", None, 10, 10),
    Row(4, "shipped", "S", None, 5, 5),
    Row(4, "cancel", "S", None, 9, NO),  # the seller refunds
    Row(4, "dispute", "BS", None, 7, NO),
    Row(4, "claim:not-shipped", "B", "ship-overdue", 7, NO),
    Row(4, "escrow", "BSA", "escrow-relay", 4, NO),
    Row(4, "ship-deadline", "BSA", None, 4, 4),  # only a notice
    Row(5, "confirm", "B", None, 6, 6),
    Row(5, "dispute", "BS", None, 7, NO),
    Row(5, "claim:not-shipped", "B", "ship-overdue", 7, NO),  # crossed the shipment
    Row(5, "claim:not-confirmed", "S", "confirm-overdue", 7, NO),
    Row(5, "escrow", "BSA", "escrow-relay", 5, NO),
    Row(5, "confirm-deadline", "BSA", None, 5, 6),  # escrow: the seller may claim now
    Row(6, "escrow", "BSA", "escrow-relay", 6, NO),
    Row(6, "escrow-paid-out", "BSA", None, 6, 6),
    Row(6, "purge", "BSA", None, 6, 6),
    Row(7, "confirm", "B", None, 6, NO),  # the buyer releases after all
    Row(7, "shipped", "S", None, 7, NO),  # crossed a claim
    Row(7, "evidence", "BS", None, 7, NO),
    Row(7, "decision", "A", "split-adds-up", 8, NO),
    Row(7, "escrow", "BSA", "escrow-relay", 7, NO),
    Row(7, "escrow-paid-out", "BSA", None, 7, 7),
    Row(8, "escrow", "BSA", "escrow-relay", 8, NO),
    Row(8, "escrow-paid-out", "BSA", None, 8, 8),
    Row(8, "purge", "BSA", None, 8, 8),
    Row(9, "escrow", "BSA", "escrow-relay", 9, NO),
    Row(9, "escrow-funded", "BSA", "escrow-started", 9, 9),  # late funds: refunded
    Row(9, "escrow-paid-out", "BSA", None, 9, 9),
    Row(9, "purge", "BSA", None, 9, 9),
    Row(10, "escrow", "BSA", "escrow-relay", 10, NO),
    Row(10, "escrow-funded", "BSA", "escrow-started", 10, 10),  # late funds: refunded
    Row(10, "escrow-paid-out", "BSA", None, 10, 10),
    Row(10, "purge", "BSA", None, 10, 10),
    Row(11, "purge", "BSA", None, 11, 11),
]
EXPECTED: dict[tuple[int, str], Row] = {(r.state, r.input): r for r in _ROWS}
assert len(EXPECTED) == len(_ROWS), "one row per (state, input)"


def senders_of(row: Row) -> frozenset[str]:
    return frozenset(LETTER[c] for c in row.senders)


def ever_sent_by(name: str) -> frozenset[str]:
    """Every role that may cause ``name`` in some state ("wrong-sender" for the others)."""
    out: frozenset[str] = frozenset()
    for row in _ROWS:
        if row.input == name:
            out |= senders_of(row)
    return out


def participants(mode: str | None) -> tuple[str, ...]:
    """Who takes part: a direct trade has no arbiter (unknown before the order: anyone)."""
    return ("buyer", "seller") if mode == "direct" else ROLES


def reachable(state: int, mode: str | None) -> frozenset[int]:
    """States reachable from ``state`` by at least one transition of this mode."""
    seen: set[int] = set()
    todo = [state]
    while todo:
        s = todo.pop()
        for row in _ROWS:
            nxt = row.next_in(mode)
            if row.state == s and nxt is not None and nxt != s and nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return frozenset(seen)


def allowed_later(state: int, name: str, sender: str, mode: str | None) -> bool:
    for later in reachable(state, mode):
        row = EXPECTED.get((later, name))
        if row is not None and row.next_in(mode) is not None and sender in senders_of(row):
            return True
    return False


@dataclass(frozen=True)
class Outcome:
    """``next`` (applied), ``refused`` with ``reason``, or ``early`` (kept for later)."""

    kind: str
    state: int | None = None
    reason: str | None = None


def applied(state: int) -> Outcome:
    return Outcome("next", state=state)


def refused(reason: str) -> Outcome:
    return Outcome("refused", reason=reason)


EARLY = Outcome("early")


def predict(
    *,
    state: int,
    mode: str | None,
    name: str,
    sender: str,
    role: str,
    guard_holds: bool,
    taken: frozenset[str] = frozenset(),
    funding_sent: bool = False,
) -> Outcome:
    """What the spec says happens when ``sender`` causes ``name`` at a ``role``'s machine.

    ``sender == role``: our own move (or our escrow's report, or our clock); otherwise a
    peer's message. ``taken``: the inputs this order already took (for rule 4);
    ``funding_sent``: the buyer's escrow reported its funding sent (rule 8).
    """
    row = EXPECTED.get((state, name))
    nxt = None if row is None else row.next_in(mode)
    peer = sender != role
    if name in MESSAGE_INPUTS and not peer and state == 0 and name != "order":
        # Our own message before the order exists has no order id: it cannot be encoded.
        return refused("not-allowed")
    if not peer and (state, name, role, funding_sent) == (3, "cancel", "buyer", True):
        return refused("not-allowed")  # only the buyer knows: it must ask the seller
    if sender not in ever_sent_by(name) or (peer and sender not in participants(mode)):
        return refused("wrong-sender")
    if row is None or nxt is None:
        repeat = name in taken and name not in REPEATABLE
        if peer and not repeat and allowed_later(state, name, sender, mode):
            return EARLY
        return refused("wrong-state")
    if sender not in senders_of(row):
        return refused("wrong-sender")
    if row.guard is not None and not guard_holds:
        return refused("not-allowed")
    return applied(nxt)


# -- the clock (spec, "Timeouts") -------------------------------------------------------------

HOUR = 3600
DAY = 24 * HOUR
GRACE = 2 * HOUR
ACCEPT_TIMEOUT = 48 * HOUR
FUND_TIMEOUT = 3 * DAY
RETENTION = 30 * DAY


@dataclass(frozen=True)
class Times:
    """When each clock of an order started (None: not started)."""

    requested_at: int | None = None
    accepted_at: int | None = None
    funded_at: int | None = None
    shipped_at: int | None = None
    ended_at: int | None = None
    ship_days: int = 5
    confirm_days: int = 14
    funding_sent: bool = False  # the buyer's escrow reported its funding sent


def next_deadline(state: int, role: str, t: Times, fired: frozenset[str]) -> tuple[str, int] | None:
    """The clock input a ``role``'s machine waits for in ``state`` and when it is due.

    The party who must act meets its own deadline; the others give it ``GRACE`` more (and so
    does a buyer whose funding is sent: it has acted). The notices of S4 and S5 fire once.
    """

    def slack(actor: str) -> int:
        acted = actor == "buyer" and t.funding_sent
        return 0 if role == actor and not acted else GRACE

    if state == 1 and t.requested_at is not None:
        return "accept-deadline", t.requested_at + ACCEPT_TIMEOUT + slack("seller")
    if state in (2, 3) and t.accepted_at is not None:
        return "fund-deadline", t.accepted_at + FUND_TIMEOUT + slack("buyer")
    if state == 4 and t.funded_at is not None and "ship-deadline" not in fired:
        return "ship-deadline", t.funded_at + t.ship_days * DAY + slack("seller")
    if state == 5 and t.shipped_at is not None and "confirm-deadline" not in fired:
        return "confirm-deadline", t.shipped_at + t.confirm_days * DAY + slack("buyer")
    if state in TERMINAL and t.ended_at is not None and "purge" not in fired:
        return "purge", t.ended_at + RETENTION
    return None


def claim_opens(kind: str, t: Times) -> int | None:
    """From when a timeout claim is accepted, by every party: ``GRACE`` before the deadline
    of the party that had to act (the seller's ship-by, the buyer's confirm-by)."""
    if kind == "not-shipped":
        return None if t.funded_at is None else t.funded_at + t.ship_days * DAY - GRACE
    return None if t.shipped_at is None else t.shipped_at + t.confirm_days * DAY - GRACE
