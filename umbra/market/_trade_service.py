"""The trade service: what the CLI, the REST API and the web pages call for orders.

Two halves, both synchronous and safe to call while `umbra node` runs (they use their own
database connection; SQLite WAL lets the node and the CLI share the file):

- **Commands** (`place_order`, `accept`, `decline`, `ship`, `confirm`, `dispute`,
  `add_evidence`, `cancel`, `decide`, `claim`) only check their input and *queue* the move
  in the profile database (``trade_commands``); the running node (`TradeDriver`) executes
  it: it stamps, checks and commits the move in the order machine, seals private fields and
  sends the messages. Like `umbra messages send`, nothing leaves the device without the
  node. Each returns the command's sequence number; `command` tells whether the node took it
  (``queued`` → ``done`` | ``failed`` with a one-line reason).
- **Reads**: `orders` (one summary per order, newest first) and `order` (one order with its
  timeline, the commands queued for it, and the moves available to this party now).

Order ids are 16 random bytes, shown as 32 lowercase hex characters; `resolve` accepts any
unique prefix of at least 4 characters.
"""

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from multiformats import CID

from umbra.core import InvalidDocument, UsageError, format_xmr
from umbra.core.crypto import decode_public_key, encode_public_key
from umbra.store import Profile

from ._arbiters import ArbiterDirectory
from ._escrow_rule import (
    BUYER_ESCROW_ABOVE_KEY,
    EscrowRule,
    check_rule_amount,
    seller_escrow_above,
)
from ._listings import SellerCatalog
from ._order_machine import OrderMachine
from ._order_table import TERMINAL, TRANSITIONS, State
from ._order_words import move_label, order_status
from ._stored import stored_listing
from ._trade_limits import MAX_NOTE_CHARS
from ._trade_messages import ClaimKind
from ._trade_store import CommandRow, EvidenceRow, OrderRow, TimelineEntry, TradeStore

PaymentChoice = Literal["escrow", "direct"]

# Commands a user may queue, and the order-table input each one is.
COMMAND_INPUTS: dict[str, str] = {
    "accept": "accept",
    "decline": "decline",
    "ship": "shipped",
    "confirm": "confirm",
    "dispute": "dispute",
    "evidence": "evidence",
    "cancel": "cancel",
    "decide": "decision",
    "claim-not-shipped": "claim:not-shipped",
    "claim-not-confirmed": "claim:not-confirmed",
}
MAX_ADDRESS_CHARS = 1_000
MAX_TRACKING_CHARS = 500
MAX_EVIDENCE_TEXT = 10_000
DEFAULT_SHIP_DAYS = 7
DEFAULT_CONFIRM_DAYS = 14
ARBITERS_KEY = "accepted-arbiters"
# The title of an order whose listing this device never held (an arbiter's node may not).
TITLE_UNKNOWN = "Listing not on this device"


@dataclass(frozen=True)
class OrderSummary:
    """One order as a list shows it. Amounts are piconero."""

    order_id: str
    role: str
    state: str
    payment: str | None
    title: str
    quantity: int
    total: int
    buyer: str
    seller: str
    arbiter: str | None
    created_at: int
    updated_at: int
    finished: bool
    status: str = ""  # the state in words for this party (`order_status`)
    acting: str = ""  # who moves the order on: 'you' | 'other' | 'node' | 'nobody'

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class OrderView:
    """One order in full, for ``umbra order show`` and the order page."""

    summary: OrderSummary
    listing: str | None
    revision: int | None
    unit_price: int
    shipping_cost: int
    shipping_option: int | None
    refund_address: str | None
    payout_address: str | None
    funded_amount: int
    payout: dict[str, Any] | None
    payout_txids: tuple[str, ...]
    shipping: str | None  # the seller: the opened address; the buyer: the opened tracking
    # What `shipping` holds: "address" (the seller's view, or the buyer's own address until
    # the seller's tracking replaced it) or "tracking" (the buyer, after "shipped").
    shipping_kind: str | None
    decision: dict[str, Any] | None
    next_actions: tuple[str, ...]
    timeline: tuple[TimelineEntry, ...]
    commands: tuple[CommandRow, ...] = field(default_factory=tuple)
    reason: str | None = None  # why it was declined or cancelled (e.g. "sold out")

    def to_json(self) -> dict[str, Any]:
        out = self.summary.to_json()
        out.update(
            listing=self.listing,
            revision=self.revision,
            unit_price=self.unit_price,
            shipping_cost=self.shipping_cost,
            shipping_option=self.shipping_option,
            refund_address=self.refund_address,
            payout_address=self.payout_address,
            funded_amount=self.funded_amount,
            payout=self.payout,
            payout_txids=list(self.payout_txids),
            shipping=self.shipping,
            shipping_kind=self.shipping_kind,
            decision=self.decision,
            reason=self.reason,
            next_actions=list(self.next_actions),
            timeline=[e.__dict__ for e in self.timeline],
            commands=[
                {"seq": c.seq, "kind": c.kind, "status": c.status, "error": c.error}
                for c in self.commands
            ],
        )
        return out


CLAIMS: dict[str, ClaimKind] = {
    "claim-not-shipped": "not-shipped",
    "claim-not-confirmed": "not-confirmed",
}


def next_actions(machine: OrderMachine, now: int) -> tuple[str, ...]:
    """The commands our role may queue in the order's current state (by the table); a
    timeout claim only once its deadline has passed. Other guards (e.g. an arbiter's split
    adding up) are checked by the node, and the command fails with the reason."""
    state, role, mode = machine.state, machine.role, machine.mode
    out: list[str] = []
    for kind, name in COMMAND_INPUTS.items():
        if kind in CLAIMS:
            opens = machine.claim_opens_at(CLAIMS[kind])
            if opens is None or now < opens:
                continue
        for rule in TRANSITIONS.get((state, name), ()):
            if role in rule.senders and (rule.mode is None or mode is None or rule.mode == mode):
                out.append(kind)
                break
    return tuple(out)


class TradeService:
    """Orders of one profile. ``clock`` returns unix seconds (injected for tests)."""

    def __init__(self, profile: Profile, *, clock: Callable[[], float] = time.time) -> None:
        self._profile = profile
        self._store = TradeStore(profile.db)
        self._clock = clock

    def _now(self) -> int:
        return int(self._clock())

    # -- commands: the buyer -------------------------------------------------------------------

    def place_order(
        self,
        listing: CID | str,
        *,
        quantity: int = 1,
        shipping_option: int | None = None,
        address: str | None = None,
        payment: PaymentChoice = "escrow",
        arbiter: bytes | str | None = None,
        refund_address: str | None = None,
        ship_days: int = DEFAULT_SHIP_DAYS,
        confirm_days: int = DEFAULT_CONFIRM_DAYS,
        expected_total: int | None = None,
    ) -> tuple[str, int]:
        """Queue a new order for a listing in the local index; returns ``(order id, seq)``.

        ``expected_total`` is the order's total (price × quantity + shipping) the buyer saw and
        confirmed: if given and different, nothing is placed, so a page that showed one
        option and total can never place another.

        The listing is read back from the local store and verified (signature, CID); the
        price and shipping cost are taken from it. The node seals ``address`` to the seller
        (only the seller can open it), picks a fresh refund subaddress from this profile's
        wallet when ``refund_address`` is None, and sends the order.

        Raises:
            UsageError: unknown listing, bad quantity / option / address / arbiter.
        """
        cid = _cid(listing)
        signed = stored_listing(self._profile, cid)
        if signed is None:
            raise UsageError(f"listing {cid} is not in the local index (search or sync first)")
        body = signed.body
        if body.seller == self._profile.identity.signing_public:
            raise UsageError("this is your own listing")
        if body.is_expired_at(self._now()):
            raise UsageError("this listing has expired")
        if body.quantity <= 0:
            raise UsageError("this listing is sold out")
        if not 1 <= quantity <= body.quantity:
            raise UsageError(f"the quantity must be between 1 and {body.quantity}")
        if body.shipping and shipping_option is None:
            raise UsageError(f"choose a shipping option 0..{len(body.shipping) - 1}")
        if shipping_option is not None and not 0 <= shipping_option < len(body.shipping):
            raise UsageError("this listing has no such shipping option")
        if shipping_option is not None:
            if not address or not address.strip() or len(address) > MAX_ADDRESS_CHARS:
                raise UsageError(f"a shipping address of 1..{MAX_ADDRESS_CHARS} characters")
        elif address:
            raise UsageError("a shipping address is only given with a shipping option")
        if payment not in ("escrow", "direct"):
            raise UsageError("payment is 'escrow' or 'direct'")
        arbiter_key = None if arbiter is None else _persona(arbiter)
        if payment == "direct" and arbiter_key is not None:
            raise UsageError("a direct payment has no arbiter")
        if payment == "escrow":
            arbiter_key = self.choose_arbiter(body.seller, arbiter_key)
        if arbiter_key is not None and arbiter_key in (body.seller, self._me()):
            raise UsageError("the arbiter must be a third party")
        for days in (ship_days, confirm_days):
            if not 1 <= days <= 90:
                raise UsageError("ship and confirm days are 1..90")
        cost = 0 if shipping_option is None else body.shipping[shipping_option].cost
        total = body.price * quantity + cost
        if expected_total is not None and expected_total != total:
            raise UsageError(
                f"the total of this order is {format_xmr(total)} XMR, not the"
                f" {format_xmr(expected_total)} XMR you confirmed; check it and confirm again"
            )
        if payment == "direct":
            refusal = self.escrow_rule(body.seller).direct_refusal(total)
            if refusal is not None:
                raise UsageError(refusal)
        order_id = secrets.token_bytes(16)
        args: dict[str, Any] = {
            "listing": str(cid),
            "revision": body.revision,
            "title": body.title,
            "quantity": quantity,
            "shipping_option": shipping_option,
            "address": address,
            "payment": payment,
            "seller": body.seller,
            "arbiter": arbiter_key,
            "refund_address": refund_address,
            "unit_price": body.price,
            "shipping_cost": cost,
            "ship_days": ship_days,
            "confirm_days": confirm_days,
        }
        with self._store.db.transaction():
            seq = self._store.queue_command(order_id, "buy", args, now=self._now())
        return order_id.hex(), seq

    # -- commands: every other move ------------------------------------------------------------

    def accept(self, order_id: str) -> int:
        """Seller: accept (the node adds a fresh payout or payment subaddress)."""
        return self._queue(order_id, "accept", {})

    def decline(self, order_id: str, reason: str = "") -> int:
        return self._queue(order_id, "decline", {"reason": _note(reason)})

    def ship(self, order_id: str, tracking: str | None = None) -> int:
        """Seller: shipped; ``tracking`` is sealed so only the buyer can read it."""
        if tracking is not None and not 0 < len(tracking) <= MAX_TRACKING_CHARS:
            raise UsageError(f"tracking is 1..{MAX_TRACKING_CHARS} characters")
        return self._queue(order_id, "ship", {"tracking": tracking})

    def confirm(self, order_id: str) -> int:
        """Buyer: the goods arrived (escrow: releases the funds to the seller)."""
        return self._queue(order_id, "confirm", {})

    def dispute(self, order_id: str, text: str) -> int:
        """Buyer or seller: open a dispute; ``text`` is sealed so only the arbiter reads it."""
        return self._queue(order_id, "dispute", {"text": _evidence(text)})

    def add_evidence(self, order_id: str, text: str) -> int:
        return self._queue(order_id, "evidence", {"text": _evidence(text)})

    def cancel(self, order_id: str, reason: str = "") -> int:
        return self._queue(order_id, "cancel", {"reason": _note(reason)})

    def claim(self, order_id: str, note: str = "") -> int:
        """After a missed deadline: the buyer claims "not shipped", the seller "not confirmed"."""
        row = self._row(order_id)
        kind = "claim-not-shipped" if row.role == "buyer" else "claim-not-confirmed"
        return self._queue(order_id, kind, {"note": _note(note)})

    def decide(self, order_id: str, *, to_buyer: int, reason: str) -> int:
        """Arbiter: split the escrow; the rest of the funded amount goes to the seller.

        The party with the larger share co-signs (and pays the network fee from it).
        """
        if to_buyer < 0:
            raise UsageError("amounts are not negative")
        if not reason.strip():
            raise UsageError("a decision needs a reason")
        return self._queue(order_id, "decide", {"to_buyer": to_buyer, "reason": _note(reason)})

    def _queue(self, order_id: str, kind: str, args: dict[str, Any]) -> int:
        row = self._row(order_id)
        waiting = [c for c in self._store.commands_of(row.order_id) if c.status == "queued"]
        if waiting:
            # One move at a time: a second click (or a second tab) must not queue the same
            # move twice, nor a move the first one makes impossible.
            raise UsageError(
                f"your node has not yet carried out your last step"
                f" ({move_label(waiting[0].kind)}); wait until it has, then look again"
            )
        machine = OrderMachine.from_bytes(row.machine)
        if kind not in next_actions(machine, self._now()):
            opens = machine.claim_opens_at(CLAIMS[kind]) if kind in CLAIMS else None
            if opens is not None and self._now() < opens:
                when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(opens))
                raise UsageError(f"this claim can be made from {when}, once the deadline passed")
            state = machine.state.name.split("_", 1)[1]
            reason = self._store.last_reason(row.order_id) if machine.state in TERMINAL else None
            why = f": {reason}" if reason else ""  # e.g. "declined: sold out"
            raise UsageError(
                f"cannot {kind} this order now (it is {state}{why}, you are the {row.role})"
            )
        with self._store.db.transaction():
            return self._store.queue_command(row.order_id, kind, args, now=self._now())

    # -- arbiters a seller accepts -------------------------------------------------------------

    def choose_arbiter(self, seller: bytes, named: bytes | None) -> bytes:
        """The arbiter of an escrow order: ``named`` if the seller's catalog lists it, else
        the seller's default (the first it lists).

        Raises:
            UsageError: no catalog of the seller synced, it lists no arbiter, or not ``named``.
        """
        listed = ArbiterDirectory(self._profile, clock=self._clock).seller_arbiters(seller)
        if listed is None:
            raise UsageError("the seller's catalog is not synced yet: run the node and retry")
        if not listed:
            raise UsageError(
                "this seller accepts no arbiter yet, so an escrow order cannot be placed;"
                " ask the seller to add one (`umbra order arbiters ID`)"
            )
        if named is None:
            return listed[0]
        if named not in listed:
            names = ", ".join(encode_public_key(a) for a in listed)
            raise UsageError(f"the seller does not accept this arbiter; it accepts: {names}")
        return named

    def seller_arbiters(self, seller: bytes | str) -> list[dict[str, Any]] | None:
        """The arbiters a seller accepts, default first, with their profiles where known."""
        directory = ArbiterDirectory(self._profile, clock=self._clock)
        listed = directory.seller_arbiters(_persona(seller))
        return None if listed is None else [directory.describe(a) for a in listed]

    def accepted_arbiters(self) -> list[str]:
        """Seller: the arbiters this profile accepts, first = default (from its catalog)."""
        return [encode_public_key(a) for a in SellerCatalog(self._profile).arbiters()]

    def set_accepted_arbiters(self, arbiters: list[str]) -> None:
        """Seller: publish a new catalog naming ``arbiters`` (first = default)."""
        keys = list(dict.fromkeys(_persona(a) for a in arbiters))
        SellerCatalog(self._profile, clock=self._clock).set_arbiters(keys)
        with self._store.db.transaction():  # the list of older versions is superseded
            self._store.set_config(ARBITERS_KEY, "")

    # -- escrow above a size (`_escrow_rule`) -------------------------------------------------

    def escrow_rule(self, seller: bytes | str) -> EscrowRule:
        """The seller's signed rule (as far as we know it) and our own, for one purchase."""
        seller_above = seller_escrow_above(self._profile, _persona(seller))
        return EscrowRule(seller_above, self.buyer_escrow_above())

    def listing_escrow_rule(self, listing: CID | str) -> EscrowRule:
        """`escrow_rule` for the seller of a listing in the local index."""
        signed = stored_listing(self._profile, _cid(listing))
        if signed is None:
            return EscrowRule(None, self.buyer_escrow_above())
        return self.escrow_rule(signed.body.seller)

    def buyer_escrow_above(self) -> int | None:
        """Buyer: our own "always use escrow above" amount (piconero), None if not set."""
        text = self._store.get_config(BUYER_ESCROW_ABOVE_KEY)
        return int(text) if text else None

    def set_buyer_escrow_above(self, amount: int | None) -> None:
        """Buyer: set (or with None clear) "always use escrow above"; kept on this device."""
        value = check_rule_amount(amount)
        with self._store.db.transaction():
            self._store.set_config(BUYER_ESCROW_ABOVE_KEY, "" if value is None else str(value))

    def seller_escrow_above(self) -> int | None:
        """Seller: the amount above which our catalog takes only escrow orders."""
        return SellerCatalog(self._profile).escrow_above()

    def set_seller_escrow_above(self, amount: int | None) -> None:
        """Seller: sign and publish a new catalog with this rule (None: no rule)."""
        SellerCatalog(self._profile, clock=self._clock).set_escrow_above(check_rule_amount(amount))

    # -- reads ---------------------------------------------------------------------------------

    def resolve(self, order_id: str) -> bytes:
        """The order id for a hex id or unique prefix. Raises: UsageError."""
        text = order_id.strip().lower()
        if len(text) < 4 or any(c not in "0123456789abcdef" for c in text):
            raise UsageError(f"{order_id!r} is not an order id (at least 4 hex characters)")
        found = self._store.find_orders(text)
        if not found:
            queued = [
                c.order_id for c in self._store.queued_commands(1000)
                if c.kind == "buy" and c.order_id.hex().startswith(text)
            ]  # fmt: skip
            if queued:
                raise UsageError("this order is queued: the node has not sent it yet")
            raise UsageError(f"no order {order_id!r} in this profile")
        if len(found) > 1:
            raise UsageError(f"{order_id!r} matches {len(found)} orders: give more characters")
        return found[0]

    def _row(self, order_id: str) -> OrderRow:
        row = self._store.order(self.resolve(order_id))
        assert row is not None
        return row

    def orders(self) -> list[OrderSummary]:
        return [self._summary(row, _machine(row)) for row in self._store.orders()]

    def order(self, order_id: str) -> OrderView:
        row = self._row(order_id)
        m = _machine(row)
        d = m.data
        r, a = d.request, d.accept
        return OrderView(
            summary=self._summary(row, m),
            listing=None if r is None else str(r.listing),
            revision=None if r is None else r.revision,
            unit_price=0 if r is None else r.unit_price,
            shipping_cost=0 if r is None else r.shipping_cost,
            shipping_option=None if r is None else r.shipping_option,
            refund_address=None if r is None else r.refund_address,
            payout_address=None if a is None else a.payout_address or a.payment_address,
            funded_amount=d.funded_amount,
            payout=None if d.payout is None else d.payout.to_wire(),
            payout_txids=d.payout_txids,
            shipping=row.opened_shipping,
            shipping_kind=_shipping_kind(row, m),
            decision=None
            if d.decision is None
            else {
                "to_buyer": d.decision.to_buyer,
                "to_seller": d.decision.to_seller,
                "cosigner": d.decision.cosigner,
                "reason": d.decision.reason,
            },
            next_actions=next_actions(m, self._now()),
            timeline=tuple(self._store.timeline(row.order_id)),
            commands=tuple(self._store.commands_of(row.order_id)),
            reason=self._store.last_reason(row.order_id),
        )

    def acts_as_arbiter(self) -> bool:
        """Whether this profile is an arbiter: its node publishes an arbiter profile
        (``umbra node --arbiter``, still valid) or it holds an arbiter's case."""
        own = ArbiterDirectory(self._profile, clock=self._clock).profile(self._me())
        return own is not None or any(r.role == "arbiter" for r in self._store.orders())

    def _summary(self, row: OrderRow, m: OrderMachine) -> OrderSummary:
        return _summary(row, m, self._title(row, m))

    def _title(self, row: OrderRow, m: OrderMachine) -> str:
        """The item's title: the one stored with the order, else the listing's if this device
        holds it (a seller's or arbiter's node that did not have the listing when the order
        came stored the CID's first characters), else `TITLE_UNKNOWN`."""
        r = m.data.request
        if r is None:
            return row.title or TITLE_UNKNOWN
        if row.title and row.title != str(r.listing)[:24]:
            return row.title
        signed = stored_listing(self._profile, r.listing)
        return TITLE_UNKNOWN if signed is None else signed.body.title

    def evidence(self, order_id: str) -> list[EvidenceRow]:
        """Arbiter: the dispute evidence received, opened by this node where it could."""
        return self._store.evidence(self.resolve(order_id))

    def command(self, seq: int) -> CommandRow | None:
        return self._store.command(seq)

    def _me(self) -> bytes:
        return self._profile.identity.signing_public

    @property
    def me(self) -> bytes:
        """This profile's persona key."""
        return self._me()


def _machine(row: OrderRow) -> OrderMachine:
    try:
        return OrderMachine.from_bytes(row.machine)
    except InvalidDocument as exc:
        raise UsageError(f"order {row.order_id.hex()} is damaged in the store: {exc}") from exc


def _shipping_kind(row: OrderRow, m: OrderMachine) -> str | None:
    if row.opened_shipping is None:
        return None
    shipped = m.data.shipped
    if row.role == "buyer" and shipped is not None and shipped.sealed_tracking is not None:
        return "tracking"
    return "address"


def _summary(row: OrderRow, m: OrderMachine, title: str) -> OrderSummary:
    r = m.data.request
    payment = None if r is None else r.payment
    status = order_status(m.state.name, row.role, payment)
    return OrderSummary(
        order_id=row.order_id.hex(),
        role=row.role,
        state=m.state.name,
        payment=None if r is None else r.payment,
        title=title,
        quantity=0 if r is None else r.quantity,
        total=0 if r is None else r.total,
        buyer=encode_public_key(row.buyer),
        seller=encode_public_key(row.seller),
        arbiter=None if row.arbiter is None else encode_public_key(row.arbiter),
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished=m.state in TERMINAL,
        status=status.text,
        acting=status.acting,
    )


def _cid(value: CID | str) -> CID:
    if isinstance(value, CID):
        return value
    try:
        return CID.decode(value.strip())
    except Exception:  # noqa: BLE001 - any decoding failure means the same to the user
        raise UsageError(f"{value!r} is not a listing CID") from None


def _persona(value: bytes | str) -> bytes:
    if isinstance(value, bytes):
        if len(value) != 32:
            raise UsageError("a persona key is 32 bytes")
        return value
    try:
        return decode_public_key(value.strip())
    except Exception:  # noqa: BLE001
        raise UsageError(f"{value!r} is not a persona id") from None


def _note(text: str) -> str:
    if len(text) > MAX_NOTE_CHARS:
        raise UsageError(f"at most {MAX_NOTE_CHARS} characters")
    return text


def _evidence(text: str) -> str:
    if not 0 < len(text.strip()) <= MAX_EVIDENCE_TEXT:
        raise UsageError(f"evidence is 1..{MAX_EVIDENCE_TEXT} characters")
    return text


__all__ = ["OrderSummary", "OrderView", "State", "TradeService", "next_actions"]
