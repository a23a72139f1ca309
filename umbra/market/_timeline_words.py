"""An order's timeline in words for the party reading it.

The driver records what happened as short technical entries (``TimelineEntry``: a kind,
the state after it, and a detail such as ``"accept #2 to the buyer"`` or
``"arbiter-accept from the arbiter"``). `timeline_lines` turns them into sentences ("You
accepted the order", "The arbiter accepted the case", "Escrow funded — 0.51 XMR") at read
time, so timelines stored before these words existed read the same way. Every input of
the order table has words here (a test walks the table); an entry this module cannot
parse is shown as its own text, which the driver writes as a sentence.
"""

import re
from dataclasses import dataclass

from umbra.core import format_xmr

from ._trade_store import REASON_ENTRY, TimelineEntry

ROLE_NAMES = ("buyer", "seller", "arbiter")


@dataclass(frozen=True)
class TimelineLine:
    """One line of an order's timeline as a person reads it."""

    at: int
    kind: str  # the entry's kind ('state', 'sent', ...): for styling
    text: str
    milestone: bool = False  # a state change (shown in bold)


# State changes: where the order stands now, in a word or two (the status sentence, which
# names who acts, is at the top of the page).
MILESTONES: dict[str, str] = {
    "S0_draft": "Order drafted",
    "S1_requested": "Order requested",
    "S2_accepted": "Order accepted",
    "S3_escrow_setup": "Escrow being set up",
    "S4_funded": "Paid",
    "S5_shipped": "Shipped",
    "S6_completed": "Completed",
    "S7_disputed": "In dispute",
    "S8_resolved": "Resolved by the arbiter",
    "S9_cancelled": "Cancelled",
    "S10_void": "Void: a deadline passed",
    "S11_declined": "Declined",
}

# Messages between parties: (what we did, what another party did: "{who}" is "The seller").
MESSAGE_WORDS: dict[str, tuple[str, str]] = {
    "order": ("You placed the order", "{who} placed the order"),
    "accept": ("You accepted the order", "{who} accepted the order"),
    "decline": ("You declined the order", "{who} declined the order"),
    "cancel": ("You cancelled the order", "{who} cancelled the order"),
    "arbiter-accept": ("You took the case as its arbiter", "{who} accepted the case"),
    "payment-received": (
        "Your wallet received the buyer's payment",
        "{who}'s wallet received the payment",
    ),
    "shipped": ("You marked the order shipped", "{who} marked the order shipped"),
    "confirm": ("You confirmed that it arrived", "{who} confirmed that it arrived"),
    "dispute": ("You opened a dispute", "{who} opened a dispute"),
    "evidence": ("You sent evidence to the arbiter", "{who} sent evidence to the arbiter"),
    "decision": ("You decided the dispute", "{who} decided the dispute"),
    "claim:not-shipped": (
        "You claimed the item was not shipped in time",
        "{who} claimed the item was not shipped in time",
    ),
    "claim:not-confirmed": (
        "You claimed the buyer did not confirm in time",
        "{who} claimed the buyer did not confirm in time",
    ),
    "escrow": ("Your escrow wallet sent a message", "{who}'s escrow wallet sent a message"),
}

# What our own node, wallet and clock did ("{amount}": the escrow's funded amount).
LOCAL_WORDS: dict[str, str] = {
    "escrow-funding-sent": "Your wallet sent the payment into the escrow",
    "escrow-funded": "Escrow funded — {amount}",
    "escrow-failed": "The escrow could not be set up; the order is cancelled",
    "escrow-paid-out": "The escrow paid out",
    "accept-deadline": "The seller did not answer in time",
    "fund-deadline": "The escrow was not funded in time",
    "ship-deadline": "The time to ship has passed",
    "confirm-deadline": "The time to confirm receipt has passed",
    "purge": "Shipping details deleted (kept only while they were needed)",
}

# Why a move or a message was refused (`OrderMachine`'s reasons).
REFUSAL_WORDS: dict[str, str] = {
    "wrong-state": "it does not fit where the order stands",
    "wrong-sender": "it came from a party that may not make that move",
    "not-allowed": "its condition does not hold",
    "wrong-order": "it belongs to another order",
    "replay": "it repeated an earlier message",
    "too-many": "too many messages came for this order",
}

# The table's guards, for a refusal that names one.
GUARD_WORDS: dict[str, str] = {
    "ship-overdue": "the time to ship has not passed yet",
    "confirm-overdue": "the time to confirm has not passed yet",
    "accept-fits-mode": "the acceptance does not fit the payment method",
    "paid-in-full": "the payment is not complete",
    "split-adds-up": "the split does not add up to the escrow's amount",
    "escrow-relay": "the escrow message is not addressed to this party",
    "escrow-started": "this party never started an escrow",
}

PAYMENT_WORDS: dict[str, str] = {
    "paid": "Payment confirmed — {amount}",
    "seen": "Payment seen, waiting for confirmations — {amount}",
    "overpaid": "Paid {amount} more than the total",
    "underpaid": "Payment short by {amount}",
    "late": "{amount} arrived after the deadline",
    "expired": "The payment deadline passed ({amount} had arrived)",
}

PAYOUT_KINDS = {"release": "release", "refund": "refund", "dispute": "arbiter's split"}

_SENT = re.compile(r"^(?P<name>[a-z:-]+) #\d+ to the (?P<to>buyer|seller|arbiter)$")
_RECEIVED = re.compile(r"^(?P<name>[a-z:-]+)(?: from the (?P<who>buyer|seller|arbiter))?$")
_ESCROW_START = re.compile(r"^escrow set-up started \((?P<amount>[^)]*)\)$")
_PAYOUT = re.compile(
    r"^(?P<verb>proposing|co-signing) (?P<kind>[a-z]+): (?P<to_seller>.+) to the seller, "
    r"(?P<to_buyer>.+) to the buyer$"
)
_ESCROW_ID = re.compile(r"^escrow [0-9a-f]{32}: ")
_LONG_HEX = re.compile(r"\b([0-9a-f]{12})[0-9a-f]{20,}\b")
_REFUSED = re.compile(r"^(?P<who>our move|a peer message): (?P<reason>[a-z-]+): (?P<detail>.*)$")
_GUARD = re.compile(r"the condition '(?P<guard>[a-z-]+)' does not hold")
_PAYMENT_NOTICE = re.compile(r"^(?P<kind>[a-z]+): (?P<amount>.+)$")
_PAYING = re.compile(r"^paying (?P<amount>.+) to the seller's address$")
_PAID = re.compile(r"^paid (?P<amount>.+) \(transaction (?P<txid>[0-9a-f]+)\)")
_PLAIN = re.compile(r"^(?![a-z:-]+: )[^#_]+$")  # a sentence, not "name: ..." or "S4_funded"
_NO_PEER = re.compile(r"^no (?P<to>buyer|seller|arbiter) to send to$")


def timeline_lines(
    entries: list[TimelineEntry] | tuple[TimelineEntry, ...],
    role: str,
    *,
    funded_amount: int = 0,
) -> list[TimelineLine]:
    """The timeline ``role`` reads. A message sent to two parties is one line."""
    out: list[TimelineLine] = []
    seen_sent: set[str] = set()
    for e in entries:
        if e.kind == "sent":
            m = _SENT.match(e.detail)
            if m is not None:
                key = e.detail.split(" to the ", 1)[0]  # "order #1": one message, two copies
                if key in seen_sent:
                    continue
                seen_sent.add(key)
        text = entry_text(e, role, funded_amount=funded_amount)
        out.append(TimelineLine(e.at, e.kind, text, milestone=e.kind == "state"))
    return out


def entry_text(e: TimelineEntry, role: str, *, funded_amount: int = 0) -> str:
    """One entry in words (see the module docstring)."""
    amount = format_xmr(funded_amount, unit=True) if funded_amount else "amount not known yet"
    match e.kind:
        case "state":
            return MILESTONES.get(e.state, "The order moved on")
        case "sent":
            m = _SENT.match(e.detail)
            if m is not None and m["name"] in MESSAGE_WORDS:
                return MESSAGE_WORDS[m["name"]][0]
            m = _NO_PEER.match(e.detail)
            if m is not None:
                return f"Could not send to the {m['to']}: this order names no {m['to']}"
        case "notice":
            return _notice(e.detail, role, amount)
        case "escrow":
            return _escrow(e.detail)
        case "refused":
            return _refused(e.detail)
        case "payment":
            return _payment(e.detail)
        case "reason":
            return _reason(e.detail, role)
    return _sentence(_LONG_HEX.sub(r"\1…", e.detail))


def _notice(detail: str, role: str, amount: str) -> str:
    m = _RECEIVED.match(detail)
    if m is not None:
        name, who = m["name"], m["who"]
        if who is not None and name in MESSAGE_WORDS:
            if who == role:  # our own move, echoed (e.g. after a restart)
                return MESSAGE_WORDS[name][0]
            return MESSAGE_WORDS[name][1].format(who=f"The {who}")
        if name in LOCAL_WORDS:
            text = LOCAL_WORDS[name].format(amount=amount)
            if name == "ship-deadline" and role == "buyer":
                text += ": you can now claim it was not shipped"
            if name == "confirm-deadline" and role == "seller":
                text += ": you can now claim it was not confirmed"
            return text
    if detail.startswith("payout-conflict"):
        rest = detail.removeprefix("payout-conflict").strip()
        return _sentence(f"A second payout was refused: {rest}" if rest else "A second payout")
    if detail.startswith("payment: "):
        return "Payment problem: " + detail.removeprefix("payment: ")
    if detail == "shipping data deleted":
        return LOCAL_WORDS["purge"]
    return _sentence(detail)


def _reason(detail: str, role: str) -> str:
    """A decline's or cancel's reason ("the seller declined: only 1 available")."""
    m = REASON_ENTRY.match(detail)
    if m is None:
        return _sentence(detail)
    who = "You" if m["who"] == role else f"The {m['who']}"
    return f"{who} {m['verb']}: {m['why']}"


def _escrow(detail: str) -> str:
    m = _ESCROW_START.match(detail)
    if m is not None:
        return f"Escrow set-up started — {m['amount']}"
    m = _PAYOUT.match(detail)
    if m is not None:
        kind = PAYOUT_KINDS.get(m["kind"], m["kind"])
        verb = "proposes" if m["verb"] == "proposing" else "co-signs"
        return (
            f"Your node {verb} the payout ({kind}): {m['to_seller']} to the seller, "
            f"{m['to_buyer']} to the buyer"
        )
    if detail == "escrow funding halted":
        return "Paying into the escrow stopped"
    text = _LONG_HEX.sub(r"\1…", _ESCROW_ID.sub("", detail))
    return "Escrow: " + text


def _refused(detail: str) -> str:
    m = _REFUSED.match(detail)
    if m is None:
        m2 = _NO_PEER.match(detail)
        if m2 is not None:
            return f"Could not send to the {m2['to']}: this order names no {m2['to']}"
        if detail.startswith("a payload from a persona that is not a party"):
            return "A message from someone who is not part of this order was dropped"
        return _sentence(detail)
    why = REFUSAL_WORDS.get(m["reason"], "it is not allowed")
    guard = _GUARD.search(m["detail"])
    if guard is not None:
        why = GUARD_WORDS.get(guard["guard"], why)
    elif m["reason"] == "not-allowed" and m["who"] == "our move" and _PLAIN.match(m["detail"]):
        why = m["detail"]  # the machine's own sentence (e.g. "ask the seller instead")
    if m["who"] == "our move":
        return f"Your node did not make your move: {why}"
    return f"A message was refused: {why}"


def _payment(detail: str) -> str:
    m = _PAYING.match(detail)
    if m is not None:
        return f"Your wallet is paying {m['amount']} to the seller"
    m = _PAID.match(detail)
    if m is not None:
        return (
            f"You paid {m['amount']} (transaction {m['txid'][:12]}…); the seller's wallet "
            "confirms it after its confirmations"
        )
    m = _PAYMENT_NOTICE.match(detail)
    if m is not None and m["kind"] in PAYMENT_WORDS:
        return PAYMENT_WORDS[m["kind"]].format(amount=m["amount"])
    return _sentence(detail)


def _sentence(text: str) -> str:
    text = text.strip() or "Something happened to this order"
    return text[0].upper() + text[1:]
