"""Words people read about an order: its status for the party viewing it, and its moves.

The order table speaks in states and inputs (``S1_requested``, ``arbiter-accept``); the web
pages, the CLI and the API's ``status`` field show these sentences instead. A status is
written for the party who reads it: the one who must act is told what to do, the others
whom they wait for; where nobody but the nodes acts (escrow set-up) the page says so and
reloads itself. The timeline's words are in `_timeline_words`.
"""

from dataclasses import dataclass
from typing import Literal

# Who moves the order on from here, as the viewer sees it.
Acting = Literal["you", "other", "node", "nobody"]


@dataclass(frozen=True)
class OrderStatus:
    """One order's state for one party: the sentence and who must act next."""

    text: str
    acting: Acting

    @property
    def working(self) -> bool:
        """The nodes move the order on by themselves: the page reloads to show it."""
        return self.acting == "node"


def _s(text: str, acting: Acting) -> OrderStatus:
    return OrderStatus(text, acting)


_FINAL = {
    "S6_completed": _s("Completed", "nobody"),
    "S9_cancelled": _s("Cancelled", "nobody"),
    "S10_void": _s("Void: a deadline passed before the next step", "nobody"),
}

# (state, role) -> status; the payment mode changes a few (see `order_status`).
_STATUS: dict[tuple[str, str], OrderStatus] = {
    ("S0_draft", "buyer"): _s("Your node is sending the order", "node"),
    ("S1_requested", "buyer"): _s("Waiting for the seller to accept your order", "other"),
    ("S1_requested", "seller"): _s("New order: accept it or decline it", "you"),
    ("S1_requested", "arbiter"): _s("Waiting for the seller to accept the order", "other"),
    ("S2_accepted", "buyer"): _s(
        "Accepted by the seller; waiting for the arbiter to take the case", "node"
    ),
    ("S2_accepted", "seller"): _s("You accepted; waiting for the arbiter to take the case", "node"),
    ("S2_accepted", "arbiter"): _s("Your node is taking the case", "node"),
    ("S3_escrow_setup", "buyer"): _s(
        "Setting up the escrow; your wallet pays into it (about a minute)", "node"
    ),
    ("S3_escrow_setup", "seller"): _s(
        "Setting up the escrow; waiting for the buyer's payment (about a minute)", "node"
    ),
    ("S3_escrow_setup", "arbiter"): _s(
        "Setting up the escrow; waiting for the buyer's payment", "node"
    ),
    ("S4_funded", "buyer"): _s("Paid into escrow; waiting for the seller to ship", "other"),
    ("S4_funded", "seller"): _s("Paid into escrow: ship the item, then mark it shipped", "you"),
    ("S4_funded", "arbiter"): _s("Paid into escrow; waiting for the seller to ship", "other"),
    ("S5_shipped", "buyer"): _s("Shipped: confirm once it has arrived", "you"),
    ("S5_shipped", "seller"): _s("Shipped; waiting for the buyer to confirm receipt", "other"),
    ("S5_shipped", "arbiter"): _s("Shipped; waiting for the buyer to confirm receipt", "other"),
    ("S7_disputed", "buyer"): _s(
        "In dispute; waiting for the arbiter's decision (you can add evidence)", "other"
    ),
    ("S7_disputed", "seller"): _s(
        "In dispute; waiting for the arbiter's decision (you can add evidence)", "other"
    ),
    ("S7_disputed", "arbiter"): _s(
        "In dispute: read both sides, then decide how the escrow is split", "you"
    ),
    ("S8_resolved", "buyer"): _s("Resolved by the arbiter", "nobody"),
    ("S8_resolved", "seller"): _s("Resolved by the arbiter", "nobody"),
    ("S8_resolved", "arbiter"): _s("Resolved: you decided this dispute", "nobody"),
    ("S11_declined", "buyer"): _s("Declined by the seller", "nobody"),
    ("S11_declined", "seller"): _s("You declined this order", "nobody"),
    ("S11_declined", "arbiter"): _s("Declined by the seller", "nobody"),
}

# Direct payment: no escrow, no arbiter; the buyer's node pays the seller's address.
_DIRECT: dict[tuple[str, str], OrderStatus] = {
    ("S2_accepted", "buyer"): _s("Accepted by the seller; your wallet pays the seller", "node"),
    ("S2_accepted", "seller"): _s(
        "You accepted; waiting for the buyer's payment to arrive and confirm", "node"
    ),
    ("S4_funded", "buyer"): _s("Paid; waiting for the seller to ship", "other"),
    ("S4_funded", "seller"): _s("Paid: ship the item, then mark it shipped", "you"),
}


def order_status(state: str, role: str, payment: str | None = None) -> OrderStatus:
    """The sentence ``role`` reads for an order in ``state`` (a `State` name)."""
    if state in _FINAL:
        return _FINAL[state]
    if payment == "direct" and (state, role) in _DIRECT:
        return _DIRECT[(state, role)]
    found = _STATUS.get((state, role))
    if found is not None:
        return found
    return _s("Being updated by your node", "node")  # a state this role never holds


# What each move a person can make is called, on buttons and in "waiting for your node".
MOVE_LABELS: dict[str, str] = {
    "buy": "Place the order",
    "accept": "Accept order",
    "decline": "Decline",
    "ship": "Mark shipped",
    "confirm": "Confirm received",
    "dispute": "Open dispute",
    "evidence": "Add evidence",
    "cancel": "Cancel order",
    "claim-not-shipped": "Claim: not shipped in time",
    "claim-not-confirmed": "Claim: not confirmed in time",
    "decide": "Decide",
}


def move_label(kind: str) -> str:
    return MOVE_LABELS.get(kind, "Your last step")


# Listing conditions (the wire's slugs, `umbra.core.CONDITIONS`) in words.
CONDITION_LABELS: dict[str, str] = {
    "new": "New",
    "used-like-new": "Used, like new",
    "used-good": "Used, good",
    "used-fair": "Used, fair",
    "refurbished": "Refurbished",
    "not-applicable": "Not applicable",
}


def condition_label(slug: str) -> str:
    return CONDITION_LABELS.get(slug, slug.replace("-", " ").capitalize())
