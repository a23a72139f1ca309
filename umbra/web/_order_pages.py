"""Buying and orders: the one-click-buy confirmation, the orders list, one order with its
timeline and next moves, and the arbiter console.

Moves are queued with ``umbra.market.TradeService`` and carried out by the running node;
pages of orders with work in progress reload themselves every few seconds (a plain
``<meta http-equiv="refresh">``, no script) so the user sees escrow set-up and delivery
advance. Everything here is also in the JSON API under ``/api/v1/orders``.
"""

from dataclasses import dataclass
from typing import Literal

from fastapi.responses import Response
from starlette.requests import Request
from starlette.routing import Route

from umbra.core import InvalidDocument, SignedListing, UsageError, parse_cid, parse_xmr
from umbra.core.crypto import encode_public_key
from umbra.market import (
    MOVE_LABELS,
    PAYOUT_FEE_CAP,
    EvidenceRow,
    OrderView,
    PayoutAmounts,
    TradeService,
    payout_fee_payer,
    stored_listing,
    timeline_lines,
)
from umbra.wallet import Transfer, WalletRpcError, WalletUnavailable

from ._common import PageError, form_text, guarded, page, see_other, sentence
from ._services import PageServices

REFRESH_S = 4
MOVES = {
    "accept", "decline", "ship", "confirm", "dispute", "evidence", "cancel", "claim", "decide",
}  # fmt: skip


@dataclass(frozen=True)
class Quote:
    """What one click on "Buy" costs: price, shipping, the network fee, and the balance."""

    quantity: int
    shipping_option: int | None
    price: int
    shipping: int
    fee: int | None
    unlocked: int | None
    problem: str
    locked: int = 0  # money of ours still waiting for confirmations
    blocks_to_unlock: int = 0

    @property
    def subtotal(self) -> int:
        return self.price * self.quantity + self.shipping

    @property
    def total(self) -> int:
        return self.subtotal + (self.fee or 0)

    @property
    def short_by(self) -> int:
        return 0 if self.unlocked is None else max(0, self.total - self.unlocked)


@dataclass(frozen=True)
class PayoutFees:
    """The order page's fee facts: before a payout an estimate and the rule, after it what
    this profile's wallet received and, when its fee is known, every side's exact amount."""

    estimate: int | None  # about what a payout's network fee is now (None: unknown)
    cap: int  # the most any payout's fee may be (every escrow agrees it)
    to_buyer: int = 0  # the agreed split, once there is a payout
    to_seller: int = 0
    payer: str = ""  # "buyer" | "seller": whose share pays the payout's fee
    received: tuple[Transfer, ...] = ()
    outcome: PayoutAmounts | None = None


# A small amount to estimate a transaction's fee with (the fee hardly depends on the amount).
_FEE_PROBE = 10**8


def _payout_split(view: OrderView) -> tuple[int, int] | None:
    """(to the buyer, to the seller) of the order's payout, once it was paid out: as the escrow
    agreed it, else as the arbiter decided, else what the end state means (a completed order
    was released to the seller; any other paid-out order was refunded to the buyer)."""
    if not view.payout_txids:
        return None
    agreed = view.payout or view.decision
    if agreed:
        return int(agreed["to_buyer"]), int(agreed["to_seller"])
    funded = view.funded_amount
    return (0, funded) if view.summary.state == "S6_completed" else (funded, 0)


def _listing(services: PageServices, text: str) -> SignedListing:
    missing = PageError(
        404,
        "This listing is not on this device. It may have been deleted or expired, or not "
        "synced yet. Search again to see current listings.",
    )
    try:
        signed = stored_listing(services.profile, parse_cid(text))
    except InvalidDocument:
        raise missing from None
    if signed is None:
        raise missing
    return signed


def _int_param(text: str, default: int | None) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 5 else default


async def arbiter_console(services: PageServices, request: Request) -> Response:
    """The arbiter's cases, disputes first (also an arbiter node's home page)."""
    profile = services.profile
    found = await services.run(lambda: TradeService(profile, clock=services.now).orders())
    cases = [o for o in found if o.role == "arbiter"]
    cases.sort(key=lambda o: (o.state != "S7_disputed", -o.updated_at))
    return page(
        request,
        "arbiter.html",
        cases=cases,
        me=encode_public_key(profile.identity.signing_public),
        refresh=any(o.acting == "node" for o in cases),
        refresh_seconds=REFRESH_S * 2,
    )


def order_routes(services: PageServices) -> list[Route]:
    access = services.wallet_access

    def trade() -> TradeService:
        return TradeService(services.profile, clock=services.now)

    async def quote(signed: SignedListing, quantity: int, option: int | None) -> Quote:
        body = signed.body
        shipping = 0 if option is None else body.shipping[option].cost
        subtotal = body.price * quantity + shipping
        fee = unlocked = None
        locked = blocks = 0
        problem = ""
        if await access.endpoint() is None:
            problem = "no-wallet"
        else:
            try:
                balance = await access.balance()
                unlocked, locked, blocks = (
                    balance.unlocked,
                    balance.locked,
                    balance.blocks_to_unlock,
                )
                fee = await access.estimate_fee(subtotal) if unlocked >= subtotal else None
            except UsageError:
                fee = None  # not enough spendable money for the amount and a fee
            except WalletUnavailable:
                problem = "wallet-down"
            if not problem and fee is None:
                # Change from an earlier payment is locked for 10 blocks: if the money is
                # there but not yet spendable, say so and look again, rather than "add funds".
                problem = "locked" if (unlocked or 0) + locked > subtotal else "short"
        return Quote(quantity, option, body.price, shipping, fee, unlocked, problem, locked, blocks)

    async def payout_fees(view: OrderView) -> PayoutFees:
        """Before the payout: the rule and a fee estimate from our wallet; after it: what our
        wallet received from it, and so the fee and everyone's exact amounts."""
        received: list[Transfer] = []
        estimate = None
        if await access.endpoint() is not None:
            try:
                if view.payout_txids:
                    received = await access.received(view.payout_txids)
                elif view.funded_amount:
                    estimate = await access.estimate_fee(_FEE_PROBE)
            except (UsageError, WalletUnavailable, WalletRpcError):
                pass  # no wallet facts: the page states the rule and the cap
        split = _payout_split(view)
        if split is None:
            return PayoutFees(estimate, PAYOUT_FEE_CAP)
        to_buyer, to_seller = split
        fee = max((t.fee for t in received), default=0)
        return PayoutFees(
            estimate,
            PAYOUT_FEE_CAP,
            to_buyer,
            to_seller,
            payout_fee_payer(to_buyer, to_seller),
            tuple(received),
            PayoutAmounts.of(to_buyer, to_seller, fee) if fee else None,
        )

    async def buy_page(request: Request, *, error: str = "", status: int = 200) -> Response:
        signed = await services.run(_listing, services, request.path_params["cid"])
        body = signed.body
        if body.seller == services.profile.identity.signing_public:
            raise PageError(400, "This is your own listing; you cannot buy it.")
        if body.is_expired_at(services.now()):
            raise PageError(400, "This listing has expired. Search again for current listings.")
        if body.quantity <= 0:
            raise PageError(400, "This listing is sold out: the seller has none left.")
        params = request.query_params
        form = request.scope.get("umbra.form")
        source = form if form is not None else params
        quantity = _int_param(str(source.get("quantity", "1")), 1) or 1
        quantity = min(max(quantity, 1), max(body.quantity, 1))
        option: int | None = None
        if body.shipping:
            option = _int_param(str(source.get("shipping", "0")), 0)
            if option is None or option >= len(body.shipping):
                option = 0
        # The seller's catalog names the arbiters it accepts, first = default.
        offered = await services.run(lambda: trade().seller_arbiters(body.seller))
        chosen = form_text(request, "arbiter", 120) or (offered[0]["id"] if offered else "")
        current = await quote(signed, quantity, option)
        wait = ""
        if current.problem == "locked" and current.blocks_to_unlock:
            wait = await access.unlock_wait(current.blocks_to_unlock)
        rule = await services.run(lambda: trade().escrow_rule(body.seller))
        return page(
            request,
            "buy.html",
            status=status,
            listing=signed,
            body=body,
            quote=current,
            refresh=current.problem == "locked",
            refresh_seconds=REFRESH_S * 2,
            arbiter=chosen,
            unlock_wait=wait,
            arbiters=offered or [],
            arbiters_known=offered is not None,
            address=form_text(request, "address", 1000),
            payment=form_text(request, "payment", 10),
            error=error,
            rule=rule,
            direct_refused=rule.direct_refusal(current.subtotal),
        )

    async def buy_form(request: Request) -> Response:
        return await buy_page(request)

    async def buy(request: Request) -> Response:
        if form_text(request, "update", 5) == "yes":  # "Update the total": show, place nothing
            return await buy_page(request)
        cid = request.path_params["cid"]
        quantity = _int_param(form_text(request, "quantity", 5), 1) or 1
        shipping = form_text(request, "shipping", 5)
        expected = form_text(request, "expected_total", 40)
        arbiter = form_text(request, "arbiter", 120)
        address = form_text(request, "address", 1000)
        payment: Literal["escrow", "direct"] = (
            "direct" if form_text(request, "payment", 10) == "direct" else "escrow"
        )

        def place() -> tuple[str, int]:
            _listing(services, cid)
            # No arbiter chosen: the seller's default (its catalog's first arbiter).
            return trade().place_order(
                cid,
                quantity=quantity,
                shipping_option=_int_param(shipping, None) if shipping else None,
                address=address or None,
                payment=payment,
                arbiter=(arbiter or None) if payment == "escrow" else None,
                # The total the page showed: the node refuses to place a different order.
                expected_total=parse_xmr(expected) if expected else None,
            )

        try:
            order_id, seq = await services.run(place)
        except UsageError as exc:
            return await buy_page(request, error=sentence(str(exc)), status=400)
        return see_other(f"/orders/{order_id}?placed={seq}")

    async def orders(request: Request) -> Response:
        found = await services.run(lambda: trade().orders())
        return page(
            request,
            "orders.html",
            orders=found,
            refresh=any(o.acting == "node" for o in found),
            refresh_seconds=REFRESH_S * 2,
        )

    async def order(request: Request) -> Response:
        order_id = request.path_params["order_id"][:32]
        placed = _int_param(request.query_params.get("placed", ""), None)
        evidence: list[EvidenceRow] = []

        def read() -> tuple[OrderView | None, str, str]:
            service = trade()
            try:
                view = service.order(order_id)
                if view.summary.role == "arbiter":
                    evidence.extend(service.evidence(order_id))
                return view, "", ""
            except UsageError as exc:
                if placed is None:
                    raise PageError(404, sentence(str(exc)) + " Pick one from Orders.") from None
                row = service.command(placed)
                if row is None or row.order_id.hex() != order_id:
                    raise PageError(404, "There is no such order. Pick one from Orders.") from None
                return None, row.status, row.error

        view, command_status, command_error = await services.run(read)
        if view is None:
            return page(
                request,
                "order_placing.html",
                failed=command_status == "failed",
                error=sentence(command_error) if command_error else "",
                refresh=command_status != "failed",
                refresh_seconds=REFRESH_S,
            )
        # A move handed to the node and not carried out yet replaces the state's buttons
        # (one move at a time: `TradeService` refuses a second) until the node has made it.
        pending = [c for c in view.commands if c.status == "queued"]
        failed = [c for c in view.commands if c.status == "failed"]
        last_failure = failed[-1] if failed else None
        if last_failure is not None and any(c.seq > last_failure.seq for c in view.commands):
            last_failure = None  # a later move went through: the failure is history
        fees = await payout_fees(view) if view.summary.payment == "escrow" else None
        return page(
            request,
            "order.html",
            view=view,
            s=view.summary,
            action_labels=MOVE_LABELS,
            pending=pending,
            evidence=evidence,
            fees=fees,
            timeline=timeline_lines(
                view.timeline, view.summary.role, funded_amount=view.funded_amount
            ),
            last_failure=last_failure,
            refresh=bool(pending) or view.summary.acting == "node",
            refresh_seconds=REFRESH_S,
        )

    async def move(request: Request) -> Response:
        order_id = request.path_params["order_id"][:32]
        kind = request.path_params["move"]
        if kind not in MOVES:
            raise PageError(404, "There is no such action. Go back to the order.")
        text = form_text(request, "text", 10_000)
        reason = form_text(request, "reason", 2000)

        def queue() -> int:
            service = trade()
            match kind:
                case "accept":
                    return service.accept(order_id)
                case "decline":
                    return service.decline(order_id, reason)
                case "ship":
                    return service.ship(order_id, form_text(request, "tracking", 500) or None)
                case "confirm":
                    return service.confirm(order_id)
                case "dispute":
                    return service.dispute(order_id, text)
                case "evidence":
                    return service.add_evidence(order_id, text)
                case "cancel":
                    return service.cancel(order_id, reason)
                case "claim":
                    return service.claim(order_id, form_text(request, "note", 2000))
                case _:
                    to_buyer = form_text(request, "to_buyer", 40)
                    if not to_buyer:
                        raise UsageError("Write how much XMR goes back to the buyer (0 for none)")
                    return service.decide(order_id, to_buyer=parse_xmr(to_buyer), reason=reason)

        try:
            await services.run(queue)
        except UsageError as exc:
            raise PageError(
                400, sentence(str(exc)) + f" Go back to the order /orders/{order_id}."
            ) from None
        return see_other(f"/orders/{order_id}?done={kind}")

    async def arbiter(request: Request) -> Response:
        return await arbiter_console(services, request)

    async def escrow_rule(request: Request) -> Response:
        """Settings: the seller's rule (signed into the catalog) and the buyer's own."""
        texts = {name: form_text(request, name, 40).strip() for name in ("seller", "buyer")}

        def save() -> None:
            amounts = {k: parse_xmr(v) if v else None for k, v in texts.items()}
            service = trade()
            service.set_seller_escrow_above(amounts["seller"])
            service.set_buyer_escrow_above(amounts["buyer"])

        try:
            await services.run(save)
        except UsageError as exc:
            raise PageError(400, sentence(str(exc)) + " Go back to Settings.") from None
        return see_other("/settings?done=escrow-rule#escrow-rule")

    return [
        Route("/settings/escrow-rule", guarded(escrow_rule), methods=["POST"]),
        Route("/buy/{cid}", guarded(buy_form), methods=["GET"]),
        Route("/buy/{cid}", guarded(buy), methods=["POST"]),
        Route("/orders", guarded(orders), methods=["GET"]),
        Route("/orders/{order_id}", guarded(order), methods=["GET"]),
        Route("/orders/{order_id}/{move}", guarded(move), methods=["POST"]),
        Route("/arbiter", guarded(arbiter), methods=["GET"]),
    ]
