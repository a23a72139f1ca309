"""What a person reads about an order: the status per party, the timeline in words, the
item's title on every party's node, and one queued move at a time.

The table walk checks every input of the order table has words (no protocol slugs); the
trade tests run the three real drivers in one process (as `test_trade_driver` does) and
read what each party's page would show.
"""

import re

import pytest

from umbra.core import UsageError, parse_cid
from umbra.market import (
    TERMINAL,
    TITLE_UNKNOWN,
    TRANSITIONS,
    State,
    TimelineEntry,
    entry_text,
    order_status,
    stored_listing,
    timeline_lines,
)
from umbra.market._order_table import LOCAL_INPUTS, rule_for
from umbra.market._order_types import EscrowFunded
from umbra.market._trade_messages import ROLES

from .test_trade_driver import (  # noqa: F401 - fixtures
    Party,
    _listing,
    _pump,
    clock,
    parties,
)

INPUTS = sorted({name for (_state, name) in TRANSITIONS})
# What must never reach a person: table inputs, state names, message numbers.
SLUG = re.compile(
    r"\b(?:" + "|".join(re.escape(n) for n in INPUTS if "-" in n or ":" in n) + r")\b"
    r"|S\d+_[a-z]|#\d|\bfrom the (?:buyer|seller|arbiter)$"
)


def _human(text: str) -> None:
    assert text and text[0].isupper(), text
    assert not SLUG.search(text), f"protocol words in {text!r}"


@pytest.mark.parametrize("name", INPUTS)
def test_every_input_of_the_table_has_words_for_every_party(name: str) -> None:
    for role in ROLES:
        if name in LOCAL_INPUTS:
            entries = [TimelineEntry(1, "notice", "S4_funded", name)]
        else:
            entries = [
                TimelineEntry(1, "sent", "S4_funded", f"{name} #12 to the seller"),
                *(
                    TimelineEntry(1, "notice", "S4_funded", f"{name} from the {who}")
                    for who in ROLES
                    if who != role
                ),
            ]
        for e in entries:
            text = entry_text(e, role, funded_amount=510_000_000_000)
            _human(text)
            assert text != e.detail


def test_the_words_of_some_entries() -> None:
    def say(kind: str, detail: str, role: str = "buyer", state: str = "") -> str:
        return entry_text(TimelineEntry(1, kind, state, detail), role, funded_amount=51 * 10**10)

    assert say("sent", "order #1 to the seller") == "You placed the order"
    assert say("notice", "arbiter-accept from the arbiter") == "The arbiter accepted the case"
    assert say("notice", "escrow-funded") == "Escrow funded — 0.51 XMR"
    assert say("notice", "escrow-funding-sent") == "Your wallet sent the payment into the escrow"
    assert say("sent", "confirm #12 to the seller") == "You confirmed that it arrived"
    assert say("state", "S4_funded -> S5_shipped", state="S5_shipped") == "Shipped"
    assert say("notice", "ship-deadline").endswith("you can now claim it was not shipped")
    assert say("notice", "ship-deadline", role="seller") == "The time to ship has passed"
    assert (
        say("escrow", "proposing release: 0.10 XMR to the seller, 0.00 XMR to the buyer")
        == "Your node proposes the payout (release): 0.10 XMR to the seller, 0.00 XMR to the"
        " buyer"
    )
    assert say("escrow", "escrow set-up started (0.51 XMR)") == "Escrow set-up started — 0.51 XMR"
    assert (
        say("refused", "a peer message: wrong-state: accept is not allowed in S4_funded")
        == "A message was refused: it does not fit where the order stands"
    )
    assert (
        say(
            "refused",
            "our move: not-allowed: decision: the condition 'split-adds-up' does not hold",
        )
        == "Your node did not make your move: the split does not add up to the escrow's amount"
    )
    assert say("payment", "paid: 0.51 XMR") == "Payment confirmed — 0.51 XMR"
    why = "the seller declined: this seller requires escrow above 1.00 XMR"
    assert say("reason", why) == "The seller declined: this seller requires escrow above 1.00 XMR"
    assert say("reason", why, role="seller").startswith("You declined: this seller requires")
    assert say("reason", "the buyer cancelled: found it cheaper") == (
        "You cancelled: found it cheaper"
    )
    shipped = "escrow " + "ab" * 16 + ": funded and confirmed"
    assert say("escrow", shipped) == "Escrow: funded and confirmed"
    # A message sent to two parties is one line.
    lines = timeline_lines(
        [
            TimelineEntry(1, "sent", "S1_requested", "order #1 to the seller"),
            TimelineEntry(1, "sent", "S1_requested", "order #1 to the arbiter"),
        ],
        "buyer",
    )
    assert [line.text for line in lines] == ["You placed the order"]


@pytest.mark.parametrize("payment", ["escrow", "direct"])
def test_each_party_is_told_what_to_do_or_whom_it_waits_for(payment: str) -> None:
    for state in State:
        for role in ROLES:
            if role == "arbiter" and payment == "direct":
                continue
            status = order_status(state.name, role, payment)
            _human(status.text)
            if state in TERMINAL:
                assert status.acting == "nobody"
            if status.acting == "you":
                # Told to act: the table lets this party move now.
                movable = [
                    name
                    for (s, name) in TRANSITIONS
                    if s == state
                    and name not in LOCAL_INPUTS
                    and (rule := rule_for(state, name, payment)) is not None  # type: ignore[arg-type]
                    and role in rule.senders
                ]
                assert movable, (state, role)
                assert "waiting" not in status.text.lower()
            if status.acting == "other":
                assert "waiting for the" in status.text.lower(), (state, role, status.text)
    new_order = order_status("S1_requested", "seller", payment)
    assert new_order.acting == "you" and "accept" in new_order.text.lower()
    assert order_status("S1_requested", "buyer", payment).text.startswith("Waiting for the seller")


def _texts(p: Party, order_id: str) -> list[str]:
    view = p.service.order(order_id)
    lines = timeline_lines(view.timeline, view.summary.role, funded_amount=view.funded_amount)
    for line in lines:
        _human(line.text)
    return [line.text for line in lines]


def test_an_escrow_trade_in_each_partys_words(parties: dict[str, Party]) -> None:  # noqa: F811
    cid = _listing(parties)
    buyer, seller, arbiter = (parties[r].service for r in ROLES)
    order_id, _seq = buyer.place_order(cid, shipping_option=0, address="1 Main St, Springfield")
    _pump(parties)
    title = buyer.order(order_id).summary.title
    assert title and title != TITLE_UNKNOWN
    assert seller.order(order_id).summary.title == title
    # The arbiter's node never held the listing: it says so, not a CID prefix ...
    assert arbiter.order(order_id).summary.title == TITLE_UNKNOWN
    # ... and shows the title once the listing is on this device.
    signed = stored_listing(parties["seller"].profile, parse_cid(cid))
    assert signed is not None
    parties["arbiter"].profile.blocks.put_verified(signed.cid, signed.data)
    assert arbiter.order(order_id).summary.title == title
    assert [o.title for o in arbiter.orders()] == [title]

    assert seller.order(order_id).summary.status == "New order: accept it or decline it"
    assert buyer.order(order_id).summary.status.startswith("Waiting for the seller")
    seller_view = seller.order(order_id)
    assert seller_view.shipping_kind == "address"
    assert buyer.order(order_id).shipping_kind == "address"  # the buyer's own address

    seller.accept(order_id)
    with pytest.raises(UsageError, match="not yet carried out your last step"):
        seller.accept(order_id)  # a second click while the node has not made the first
    with pytest.raises(UsageError, match="not yet carried out"):
        seller.decline(order_id)
    _pump(parties)
    for role in ROLES:
        parties[role].driver.escrow_event(bytes.fromhex(order_id), EscrowFunded(2 * 10**12, 0))
    assert seller.order(order_id).summary.acting == "you"  # ship it
    assert (
        buyer.order(order_id).summary.status == "Paid into escrow; waiting for the seller to ship"
    )
    seller.ship(order_id, tracking="TRACK-123")
    _pump(parties)
    assert buyer.order(order_id).shipping_kind == "tracking"
    assert buyer.order(order_id).summary.status == "Shipped: confirm once it has arrived"
    buyer.dispute(order_id, "It arrived broken.")
    _pump(parties)
    assert arbiter.order(order_id).summary.acting == "you"
    assert "decide" in arbiter.order(order_id).next_actions

    buyer_says, seller_says, arbiter_says = (_texts(parties[r], order_id) for r in ROLES)
    assert buyer_says[:1] == ["You placed the order"]
    assert "The buyer placed the order" in seller_says
    assert "The seller accepted the order" in buyer_says
    assert "You accepted the order" in seller_says
    assert "The arbiter accepted the case" in buyer_says
    assert "The arbiter accepted the case" in seller_says
    assert "You took the case as its arbiter" in arbiter_says
    assert "Escrow funded — 2.00 XMR" in buyer_says
    assert "You marked the order shipped" in seller_says
    assert "The seller marked the order shipped" in buyer_says
    assert "You opened a dispute" in buyer_says
    assert "The buyer opened a dispute" in arbiter_says
    assert buyer_says.count("You placed the order") == 1  # sent to the seller and the arbiter
