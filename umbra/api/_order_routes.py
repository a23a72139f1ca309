"""``/api/v1/orders``: buy, the orders list, one order with its timeline, and every next move.

Moves are *queued* (``umbra.market.TradeService``): the running node carries each one out
(sealing private fields, talking to the other parties, driving the escrow) and records the
result; ``GET /api/v1/orders/commands/{seq}`` says whether it is ``queued``, ``done`` or
``failed`` (with the reason). A new order appears in the list once the node has sent it.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from umbra.core import UsageError, parse_xmr
from umbra.market import OrderSummary, OrderView, TradeService, entry_text

from ._errors import ApiError, NotFound
from ._routes import load_listing
from ._services import Services
from ._views import amount, iso_time

OrderRef = Annotated[
    str, Path(min_length=4, max_length=32, description="The order id (hex) or a unique prefix.")
]
Move = Literal[
    "accept", "decline", "ship", "confirm", "dispute", "evidence", "cancel", "claim", "decide"
]


class BuyBody(BaseModel):
    listing: Annotated[str, Field(min_length=10, max_length=120, description="Listing CID")]
    quantity: Annotated[int, Field(ge=1, le=10_000)] = 1
    shipping_option: Annotated[int | None, Field(ge=0, le=100)] = None
    address: Annotated[
        str | None, Field(max_length=1000, description="Sealed so only the seller reads it.")
    ] = None
    payment: Literal["escrow", "direct"] = "escrow"
    expected_total: Annotated[
        str | None,
        Field(
            max_length=40,
            description="XMR: the order total (price × quantity + shipping) you were shown."
            " If the node computes another, nothing is placed (400).",
        ),
    ] = None
    arbiter: Annotated[
        str | None,
        Field(
            max_length=120,
            description="One the seller's catalog lists. Default: the seller's default"
            " (first) arbiter.",
        ),
    ] = None


class MoveBody(BaseModel):
    text: Annotated[str | None, Field(max_length=10_000, description="dispute, evidence")] = None
    reason: Annotated[str | None, Field(max_length=2000, description="decline, cancel, decide")] = (
        None
    )
    tracking: Annotated[str | None, Field(max_length=500, description="ship (optional)")] = None
    note: Annotated[str | None, Field(max_length=2000, description="claim (optional)")] = None
    to_buyer: Annotated[
        str | None, Field(max_length=40, description="decide: XMR to the buyer; rest to seller")
    ] = None


class ArbitersBody(BaseModel):
    arbiters: Annotated[list[Annotated[str, Field(max_length=120)]], Field(max_length=20)]


RuleAmount = Annotated[str | None, Field(max_length=40, description="XMR; null: no rule")]


class EscrowRuleBody(BaseModel):
    seller_above: RuleAmount = None
    buyer_above: RuleAmount = None


def summary_json(s: OrderSummary) -> dict[str, Any]:
    out = s.to_json()
    out.update(
        state=s.state.split("_", 1)[1],
        total=amount(s.total),
        created_at=iso_time(s.created_at),
        updated_at=iso_time(s.updated_at),
    )
    return out


def order_json(view: OrderView) -> dict[str, Any]:
    out = view.to_json()
    out.update(summary_json(view.summary))
    for key in ("unit_price", "shipping_cost", "funded_amount"):
        out[key] = amount(out[key])
    out["timeline"] = [
        {
            "at": iso_time(e.at),
            "kind": e.kind,
            "state": e.state,
            "detail": e.detail,
            # the entry in words for this party, as the web page shows it
            "text": entry_text(e, view.summary.role, funded_amount=view.funded_amount),
        }
        for e in view.timeline
    ]
    return out


def run_move(service: TradeService, order_id: str, move: str, body: MoveBody) -> int:
    """Queue one move; the checks are the trade service's (UsageError → 400)."""
    match move:
        case "accept":
            return service.accept(order_id)
        case "decline":
            return service.decline(order_id, body.reason or "")
        case "ship":
            return service.ship(order_id, body.tracking or None)
        case "confirm":
            return service.confirm(order_id)
        case "dispute":
            return service.dispute(order_id, body.text or "")
        case "evidence":
            return service.add_evidence(order_id, body.text or "")
        case "cancel":
            return service.cancel(order_id, body.reason or "")
        case "claim":
            return service.claim(order_id, body.note or "")
        case "decide":
            if not body.to_buyer:
                raise UsageError("to_buyer: the XMR amount that goes back to the buyer")
            return service.decide(
                order_id, to_buyer=parse_xmr(body.to_buyer), reason=body.reason or ""
            )
    raise ApiError(404, f"there is no move {move!r}")


def order_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["orders"])

    def trade() -> TradeService:
        return TradeService(services.profile, clock=services.clock)

    @router.get("/orders", summary="Your orders (as buyer, seller or arbiter)")
    async def orders() -> dict[str, Any]:
        found = await services.run(lambda: trade().orders())
        return {"orders": [summary_json(s) for s in found]}

    @router.post("/orders", summary="Buy: place an order", status_code=202)
    async def buy(body: BuyBody) -> JSONResponse:
        """Queues the order for the node. Escrow (2-of-3 multisig with an arbiter) is the
        default; without ``arbiter`` the seller's default arbiter (the first its catalog
        lists) is used. Answers 202 with the order id and the command's ``seq``."""
        await services.run(load_listing, services, body.listing)  # 404 / 400 first
        expected = None if body.expected_total is None else parse_xmr(body.expected_total)

        def place() -> tuple[str, int]:
            return trade().place_order(
                body.listing,
                quantity=body.quantity,
                shipping_option=body.shipping_option,
                address=body.address,
                payment=body.payment,
                arbiter=body.arbiter or None,
                expected_total=expected,
            )

        order_id, seq = await services.run(place)
        return JSONResponse({"order_id": order_id, "seq": seq, "status": "queued"}, 202)

    @router.get("/orders/commands/{seq}", summary="Whether the node carried out a move")
    async def command(seq: Annotated[int, Path(ge=1, le=2**62)]) -> dict[str, Any]:
        row = await services.run(lambda: trade().command(seq))
        if row is None:
            raise NotFound("There is no queued move with this number.")
        return {
            "seq": row.seq,
            "order_id": row.order_id.hex(),
            "kind": row.kind,
            "status": row.status,
            "error": row.error or None,
            "queued_at": iso_time(row.queued_at),
            "done_at": None if row.done_at is None else iso_time(row.done_at),
        }

    @router.get("/orders/{order_id}", summary="One order: timeline and next moves")
    async def order(order_id: OrderRef) -> dict[str, Any]:
        """``next_actions`` are the moves you may make now (POST them to
        ``/orders/{order_id}/{move}``). The arbiter also gets the dispute ``evidence``
        (``text`` is null when it could not be opened)."""

        def read() -> dict[str, Any]:
            service = trade()
            out = order_json(service.order(order_id))
            if out["role"] == "arbiter":  # only the arbiter's node can open the evidence
                out["evidence"] = [
                    {"sender": e.sender, "at": iso_time(e.at), "text": e.opened}
                    for e in service.evidence(order_id)
                ]
            return out

        return await services.run(read)

    @router.post("/orders/{order_id}/{move}", summary="Make a move on an order", status_code=202)
    async def move(order_id: OrderRef, move: Move, body: MoveBody) -> JSONResponse:
        """``ship`` (optional ``tracking``), ``confirm``, ``dispute`` (``text``, only the
        arbiter reads it), ``evidence`` (``text``), ``cancel`` / ``decline`` (``reason``),
        ``claim`` (after a missed deadline), ``decide`` (arbiter: ``to_buyer`` XMR and
        ``reason``), ``accept`` (seller)."""
        seq = await services.run(lambda: run_move(trade(), order_id, move, body))
        return JSONResponse({"seq": seq, "status": "queued"}, 202)

    @router.get("/arbiters", summary="Arbiters you accept as a seller")
    async def arbiters() -> dict[str, Any]:
        """The arbiters your catalog lists (the first is buyers' default); escrow orders
        naming any other are declined. ``profiles``: each one's published name, fee and
        terms, once your node found them."""
        return await services.run(lambda: _arbiters_json(trade()))

    @router.put("/arbiters", summary="Set the arbiters you accept (publishes your catalog)")
    async def set_arbiters(body: ArbitersBody) -> dict[str, Any]:
        def store() -> dict[str, Any]:
            service = trade()
            service.set_accepted_arbiters(body.arbiters)
            return _arbiters_json(service)

        return await services.run(store)

    @router.get("/escrow-rule", summary="Your escrow-above-a-size rules")
    async def escrow_rule() -> dict[str, Any]:
        """``seller_above``: signed in your catalog, your node declines a direct order whose
        total is above it. ``buyer_above``: kept on this device, direct orders above it are
        refused before they are queued. Null: no rule."""
        return await services.run(lambda: _rule_json(trade()))

    @router.put("/escrow-rule", summary="Set both escrow rules (publishes your catalog)")
    async def set_escrow_rule(body: EscrowRuleBody) -> dict[str, Any]:
        def store() -> dict[str, Any]:
            service = trade()
            service.set_seller_escrow_above(_rule_amount(body.seller_above))
            service.set_buyer_escrow_above(_rule_amount(body.buyer_above))
            return _rule_json(service)

        return await services.run(store)

    @router.get("/sellers/{seller}/escrow-rule", summary="A seller's escrow rule, for you")
    async def seller_escrow_rule(seller: Annotated[str, Path(max_length=120)]) -> dict[str, Any]:
        """``seller_above`` from the seller's synced catalog (null: no rule, or not synced
        yet), ``buyer_above`` your own rule: a direct order above either is refused."""
        rule = await services.run(lambda: trade().escrow_rule(seller))
        return {
            "seller_above": None if rule.seller_above is None else amount(rule.seller_above),
            "buyer_above": None if rule.buyer_above is None else amount(rule.buyer_above),
        }

    @router.get("/sellers/{seller}/arbiters", summary="The arbiters a seller accepts")
    async def seller_arbiters(seller: Annotated[str, Path(max_length=120)]) -> dict[str, Any]:
        """From the seller's synced catalog, default first, with profiles where known."""
        listed = await services.run(lambda: trade().seller_arbiters(seller))
        if listed is None:
            raise NotFound("No catalog of this seller is synced yet.")
        return {"arbiters": [a["id"] for a in listed], "profiles": listed}

    return router


def _rule_amount(text: str | None) -> int | None:
    return None if text is None or not text.strip() else parse_xmr(text)


def _rule_json(service: TradeService) -> dict[str, Any]:
    seller, buyer = service.seller_escrow_above(), service.buyer_escrow_above()
    return {
        "seller_above": None if seller is None else amount(seller),
        "buyer_above": None if buyer is None else amount(buyer),
    }


def _arbiters_json(service: TradeService) -> dict[str, Any]:
    own = service.seller_arbiters(service.me) or []
    return {"arbiters": [a["id"] for a in own], "profiles": own}


__all__ = ["order_router"]
