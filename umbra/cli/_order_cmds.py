"""`umbra order buy|accept|decline|ship|confirm|dispute|evidence|cancel|claim|decide|show|list`,
and the settings `umbra order arbiters` and `umbra order escrow-rule`.

Moves only *queue* a command in the profile (`umbra.market.TradeService`); the running node
(`umbra node`) carries it out: it seals private fields, commits the order's new state and
sends the messages. ``--wait SECONDS`` waits until the node took the command and fails with
its one-line reason if the node refused it. ``show`` and ``list`` read the local store.
"""

import time
from typing import Any

import click

from umbra.core import UsageError, format_xmr, parse_xmr
from umbra.market import MOVE_LABELS, TradeService, seller_rule_text, timeline_lines

from ._app import CliState, emit, json_option, pass_state
from ._format import iso_time


def _service(state: CliState) -> TradeService:
    return TradeService(state.profile())


def _wait(service: TradeService, seq: int, seconds: float) -> dict[str, Any]:
    """Wait for the node to carry out command ``seq``; raise its error if it failed."""
    deadline = time.monotonic() + seconds
    while True:
        command = service.command(seq)
        if command is None:
            raise UsageError(f"command {seq} disappeared")
        if command.status == "failed":
            raise UsageError(f"the node refused it: {command.error}")
        if command.status == "done":
            return {"seq": seq, "status": "done"}
        if time.monotonic() >= deadline:
            raise UsageError("the node has not taken the command yet (is `umbra node` running?)")
        time.sleep(0.1)


def _done(state: CliState, service: TradeService, seq: int, wait: float, what: str) -> None:
    result = {"seq": seq, "status": "queued"}
    if wait > 0:
        result = _wait(service, seq, wait)
    emit(
        state,
        result,
        lambda: click.echo(
            f"{what}: {'done' if result['status'] == 'done' else 'queued for the node'}"
        ),
    )


wait_option = click.option(
    "--wait",
    type=click.FloatRange(0, 3600),
    default=0.0,
    help="Wait up to this many seconds for the running node to carry it out.",
)


@click.group()
def order() -> None:
    """Buy and sell: orders, escrow, shipping, disputes (the node carries moves out)."""


@order.command()
@click.argument("listing")
@click.option("--quantity", type=click.IntRange(1), default=1, show_default=True)
@click.option("--shipping-option", type=click.IntRange(0), default=None, help="Index, from 0.")
@click.option("--address", default=None, help="Shipping address (sealed to the seller).")
@click.option(
    "--direct",
    is_flag=True,
    help="Pay the seller directly, no escrow: your node pays once the seller accepts"
    " (no arbiter, no refund if something goes wrong).",
)
@click.option(
    "--arbiter",
    default=None,
    help="The arbiter's persona id (escrow); one the seller's catalog lists."
    " Default: the seller's default (first) arbiter.",
)
@click.option("--refund-address", default=None, help="Default: a fresh subaddress of yours.")
@wait_option
@json_option
@pass_state
def buy(
    state: CliState,
    listing: str,
    quantity: int,
    shipping_option: int | None,
    address: str | None,
    direct: bool,
    arbiter: str | None,
    refund_address: str | None,
    wait: float,
) -> None:
    """Order LISTING (its CID, from `umbra search`).

    Above the seller's "escrow above" amount (signed in its catalog) or your own
    (`umbra order escrow-rule --buyer`), only escrow is offered: `--direct` is refused.
    """
    service = _service(state)
    order_id, seq = service.place_order(
        listing,
        quantity=quantity,
        shipping_option=shipping_option,
        address=address,
        payment="direct" if direct else "escrow",
        arbiter=arbiter,
        refund_address=refund_address,
    )
    rule = service.listing_escrow_rule(listing)
    result: dict[str, Any] = {
        "order": order_id,
        "seq": seq,
        "status": "queued",
        "escrow_rule": {"seller_above": rule.seller_above, "buyer_above": rule.buyer_above},
    }
    if wait > 0:
        result.update(_wait(service, seq, wait))

    def human() -> None:
        click.echo(f"Order {order_id}: {result['status']} ({'direct' if direct else 'escrow'})")
        for line in _rule_lines(rule.seller_above, rule.buyer_above):
            click.echo(line)

    emit(state, result, human)


def _rule_lines(seller_above: int | None, buyer_above: int | None) -> list[str]:
    lines = []
    if seller_above is not None:
        lines.append(f"{seller_rule_text(seller_above)}.")
    if buyer_above is not None:
        lines.append(f"You always use escrow above {format_xmr(buyer_above, unit=True)}.")
    return lines


def _rule_amount(text: str | None) -> int | None:
    return None if text is None or text.strip().lower() == "none" else parse_xmr(text)


@order.command()
@click.argument("order_id")
@wait_option
@json_option
@pass_state
def accept(state: CliState, order_id: str, wait: float) -> None:
    """Seller: accept ORDER_ID (adds a fresh subaddress: the escrow's payout, or where the
    buyer pays a direct payment)."""
    service = _service(state)
    _done(state, service, service.accept(order_id), wait, "Accept")


@order.command()
@click.argument("order_id")
@wait_option
@json_option
@pass_state
def confirm(state: CliState, order_id: str, wait: float) -> None:
    """Buyer: the goods arrived (escrow: releases the funds to the seller)."""
    service = _service(state)
    _done(state, service, service.confirm(order_id), wait, "Confirm")


@order.command()
@click.argument("order_id")
@click.option("--reason", default="", help="Why (seen by the other parties).")
@wait_option
@json_option
@pass_state
def decline(state: CliState, order_id: str, reason: str, wait: float) -> None:
    """Seller: decline ORDER_ID."""
    service = _service(state)
    _done(state, service, service.decline(order_id, reason), wait, "Decline")


@order.command()
@click.argument("order_id")
@click.option("--reason", default="", help="Why (seen by the other parties).")
@wait_option
@json_option
@pass_state
def cancel(state: CliState, order_id: str, reason: str, wait: float) -> None:
    """Cancel ORDER_ID (the seller after funding: refunds the buyer)."""
    service = _service(state)
    _done(state, service, service.cancel(order_id, reason), wait, "Cancel")


@order.command()
@click.argument("order_id")
@click.option("--tracking", default=None, help="Tracking number (sealed to the buyer).")
@wait_option
@json_option
@pass_state
def ship(state: CliState, order_id: str, tracking: str | None, wait: float) -> None:
    """Seller: ORDER_ID was shipped."""
    service = _service(state)
    _done(state, service, service.ship(order_id, tracking), wait, "Shipped")


@order.command()
@click.argument("order_id")
@click.option(
    "--evidence", "text", required=True, help="Your statement (only the arbiter reads it)."
)
@wait_option
@json_option
@pass_state
def dispute(state: CliState, order_id: str, text: str, wait: float) -> None:
    """Open a dispute on ORDER_ID; the arbiter decides."""
    service = _service(state)
    _done(state, service, service.dispute(order_id, text), wait, "Dispute")


@order.command()
@click.argument("order_id")
@click.option("--text", required=True, help="More evidence (only the arbiter reads it).")
@wait_option
@json_option
@pass_state
def evidence(state: CliState, order_id: str, text: str, wait: float) -> None:
    """Add evidence to a dispute on ORDER_ID."""
    service = _service(state)
    _done(state, service, service.add_evidence(order_id, text), wait, "Evidence")


@order.command()
@click.argument("order_id")
@click.option("--note", default="", help="A note for the arbiter and the other party.")
@wait_option
@json_option
@pass_state
def claim(state: CliState, order_id: str, note: str, wait: float) -> None:
    """After a missed deadline: buyer "not shipped", seller "not confirmed"."""
    service = _service(state)
    _done(state, service, service.claim(order_id, note), wait, "Claim")


@order.command()
@click.argument("order_id")
@click.option("--to-buyer", required=True, help="XMR refunded to the buyer (the rest: seller).")
@click.option("--reason", required=True, help="The decision's reason (seen by both).")
@wait_option
@json_option
@pass_state
def decide(state: CliState, order_id: str, to_buyer: str, reason: str, wait: float) -> None:
    """Arbiter: decide a dispute on ORDER_ID."""
    service = _service(state)
    seq = service.decide(order_id, to_buyer=parse_xmr(to_buyer), reason=reason)
    _done(state, service, seq, wait, "Decision")


@order.command(name="arbiters")
@click.argument("arbiters", nargs=-1)
@click.option("--none", "clear", is_flag=True, help="Accept no arbiter (no escrow orders).")
@click.option("--seller", default=None, help="Show the arbiters another seller accepts.")
@json_option
@pass_state
def arbiters(state: CliState, arbiters: tuple[str, ...], clear: bool, seller: str | None) -> None:
    """Seller: set the arbiters you accept, first = default (none given: show them).

    The list goes into your signed catalog, which the node publishes; buyers' one-click buy
    uses the first. Names and terms come from each arbiter's published profile, once the
    node has found it.
    """
    service = _service(state)
    if arbiters or clear:
        if seller is not None:
            raise UsageError("--seller only shows another seller's list")
        service.set_accepted_arbiters(list(arbiters))
    who = seller if seller is not None else state.profile().identity.signing_public
    listed = service.seller_arbiters(who)
    if listed is None:
        raise UsageError("no catalog of this seller is synced yet")

    def human() -> None:
        if not listed:
            click.echo("No arbiter accepted: escrow orders cannot be placed.")
        for index, a in enumerate(listed):
            about = "profile not found yet"
            if a["known"]:
                about = f"{a['name']} (fee: {a['fee'] or '-'})"
            click.echo(f"{a['id']}  {about}{'  [default]' if index == 0 else ''}")

    emit(state, {"arbiters": [a["id"] for a in listed], "profiles": listed}, human)


@order.command(name="escrow-rule")
@click.option(
    "--seller",
    "as_seller",
    default=None,
    metavar="XMR|none",
    help="As a seller: take orders above this total only into escrow (signed into your"
    " catalog, which the node publishes; your node declines a direct order above it).",
)
@click.option(
    "--buyer",
    "as_buyer",
    default=None,
    metavar="XMR|none",
    help="As a buyer: always use escrow above this total (kept on this device only).",
)
@click.option("--of", "of", default=None, help="Show the rule of another seller (its id).")
@json_option
@pass_state
def escrow_rule(
    state: CliState, as_seller: str | None, as_buyer: str | None, of: str | None
) -> None:
    """Escrow above a size: set or show your rules ("none" removes one)."""
    service = _service(state)
    if of is not None:
        if as_seller is not None or as_buyer is not None:
            raise UsageError("--of only shows another seller's rule")
        seller_above = service.escrow_rule(of).seller_above
        emit(
            state,
            {"seller": of, "seller_above": seller_above},
            lambda: click.echo(
                "No escrow rule in this seller's catalog (or it is not synced yet)."
                if seller_above is None
                else f"{seller_rule_text(seller_above)}."
            ),
        )
        return
    if as_seller is not None:
        service.set_seller_escrow_above(_rule_amount(as_seller))
    if as_buyer is not None:
        service.set_buyer_escrow_above(_rule_amount(as_buyer))
    mine = {
        "seller_above": service.seller_escrow_above(),
        "buyer_above": service.buyer_escrow_above(),
    }

    def human() -> None:
        seller, buyer = mine["seller_above"], mine["buyer_above"]
        click.echo(
            "As a seller: "
            + ("no rule" if seller is None else f"escrow required above {format_xmr(seller)} XMR")
        )
        click.echo(
            "As a buyer: "
            + ("no rule" if buyer is None else f"always escrow above {format_xmr(buyer)} XMR")
        )

    emit(state, mine, human)


@order.command(name="list")
@json_option
@pass_state
def list_orders(state: CliState) -> None:
    """List your orders (as buyer, seller or arbiter), newest first."""
    orders = [o.to_json() for o in _service(state).orders()]

    def human() -> None:
        if not orders:
            click.echo("No orders yet.")
        for o in orders:
            click.echo(
                f"{o['order_id'][:12]}  {o['role']:7}  {format_xmr(o['total']):>14} XMR  "
                f"{o['title'][:40]}\n    {o['status']}"
            )

    emit(state, {"orders": orders}, human)


@order.command()
@click.argument("order_id")
@json_option
@pass_state
def show(state: CliState, order_id: str) -> None:
    """Show ORDER_ID: state, amounts, what you can do next, and its timeline."""
    service = _service(state)
    view = service.order(order_id)
    data = view.to_json()
    evidence = service.evidence(order_id) if view.summary.role == "arbiter" else []
    data["evidence"] = [
        {"from": e.sender, "at": iso_time(e.at), "text": e.opened} for e in evidence
    ]

    def human() -> None:
        s = view.summary
        click.echo(f"Order {s.order_id}  ({s.role}, {s.payment or '-'})")
        click.echo(f"  {s.title}  x{s.quantity}  total {format_xmr(s.total)} XMR")
        click.echo(f"  {s.status}")
        pending = [c for c in view.commands if c.status == "queued"]
        if pending:
            step = MOVE_LABELS.get(pending[0].kind, "your last step")
            click.echo(f"  waiting for your node to carry out: {step}")
        if view.shipping:
            label = {"tracking": "tracking (from the seller)", "address": "ship to"}
            if s.role == "buyer" and view.shipping_kind == "address":
                label["address"] = "your delivery address"
            click.echo(f"  {label.get(view.shipping_kind or 'address')}: {view.shipping}")
        if view.payout_txids:
            click.echo(f"  payout: {', '.join(view.payout_txids)}")
        moves = ", ".join(f"{MOVE_LABELS.get(k, k)} ({k})" for k in view.next_actions)
        click.echo(f"  you can: {moves or 'nothing now'}")
        lines = timeline_lines(view.timeline, s.role, funded_amount=view.funded_amount)
        for line in lines:
            click.echo(f"  {iso_time(line.at)}  {line.text}")
        for ev in evidence:
            click.echo(f"  evidence from the {ev.sender}: {ev.opened or '(could not be opened)'}")

    emit(state, data, human)
