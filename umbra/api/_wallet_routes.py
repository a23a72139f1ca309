"""``/api/v1/wallet``: add funds, balance, history, send in two steps, connect a wallet.

Amounts go in as decimal XMR text (``"0.25"``) and come out as ``{"piconero", "xmr"}``. Every
route answers 409 with how to connect when no wallet is connected, 503 when the wallet does not
answer, and 400 when it refuses (e.g. not enough money), always as ``{"error": "..."}``.
"""

import base64
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from umbra.core import UsageError, parse_xmr
from umbra.wallet import Transfer

from ._errors import ApiError
from ._services import Services
from ._views import amount, iso_time
from ._wallet import HOW_TO_CONNECT, PendingSend

XmrText = Annotated[str, Field(min_length=1, max_length=40, examples=["0.25"])]


class FundingBody(BaseModel):
    amount: XmrText | None = Field(
        default=None, description="Amount to ask for, in XMR (goes into the URI and QR code)."
    )


class SendBody(BaseModel):
    address: Annotated[str, Field(min_length=1, max_length=200, description="Monero address")]
    amount: XmrText


class ConfirmBody(BaseModel):
    preview_id: Annotated[
        str, Field(min_length=8, max_length=64, description="From the send preview.")
    ]


class ConnectBody(BaseModel):
    host: Annotated[str, Field(min_length=1, max_length=255, examples=["127.0.0.1"])] = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535, examples=[18083])]
    user: Annotated[str, Field(max_length=200, description="--rpc-login user")] = ""
    password: Annotated[str, Field(max_length=500)] = ""


def xmr_amount(field: str, text: str) -> int:
    try:
        value = parse_xmr(text)
    except UsageError as exc:
        raise ApiError(400, f"{field}: {exc}") from None
    if value <= 0:
        raise ApiError(400, f"{field}: the amount must be more than zero")
    return value


def transfer_json(t: Transfer) -> dict[str, Any]:
    return {
        "txid": t.txid,
        "direction": t.direction,
        "amount": amount(t.amount),
        "fee": amount(t.fee),
        "height": t.height,
        "confirmations": t.confirmations,
        "time": iso_time(t.timestamp) if t.timestamp else None,
    }


def pending_json(p: PendingSend) -> dict[str, Any]:
    return {
        "preview_id": p.preview_id,
        "address": p.preview.address,
        "amount": amount(p.preview.amount),
        "fee": amount(p.preview.fee),
        "total": amount(p.total),
        "expires_at": iso_time(p.expires_at),
    }


def wallet_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/api/v1/wallet", tags=["wallet"])
    access = services.wallet_access

    @router.get("", summary="Connection and balance")
    async def wallet() -> dict[str, Any]:
        """Whether a wallet is connected (and how to connect one), and its balance: ``unlocked``
        is spendable now, ``locked`` waits for confirmations (10 blocks)."""
        found = await access.endpoint()
        if found is None:
            return {"connected": False, "how_to_connect": HOW_TO_CONNECT}
        balance = await access.balance()
        return {
            "connected": True,
            "source": found.source,
            "rpc": f"{found.host}:{found.port}",
            "balance": {
                "total": amount(balance.total),
                "unlocked": amount(balance.unlocked),
                "locked": amount(balance.locked),
                "blocks_to_unlock": balance.blocks_to_unlock,
            },
        }

    @router.post("/connect", summary="Connect your own monero-wallet-rpc")
    async def connect(body: ConnectBody) -> dict[str, Any]:
        """Checks that the wallet-rpc answers, then remembers it for this profile (in the
        encrypted store). While ``umbra sandbox up`` runs a wallet for this profile, that
        sandbox wallet is used instead."""
        found = await access.connect(body.host, body.port, body.user, body.password)
        return {"connected": True, "rpc": f"{found.host}:{found.port}"}

    @router.post("/address", summary="Add funds: a fresh address with QR code")
    async def address(body: FundingBody) -> dict[str, Any]:
        """A new subaddress, its ``monero:`` URI and the URI as a QR code (PNG, base64),
        generated on this device."""
        piconero = None if body.amount is None else xmr_amount("amount", body.amount)
        request = await access.funding_request(piconero)
        return {
            "address": request.address,
            "subaddress_index": request.subaddress_index,
            "uri": request.uri,
            "qr_png_base64": base64.b64encode(request.qr_png).decode("ascii"),
        }

    @router.get("/history", summary="Incoming and outgoing transfers")
    async def history() -> dict[str, Any]:
        """Oldest first; ``pool`` and ``pending`` are not in a block yet."""
        transfers = await access.history()
        return {"transfers": [transfer_json(t) for t in transfers]}

    @router.post("/send-preview", summary="Send, step 1: the exact fee")
    async def send_preview(body: SendBody) -> dict[str, Any]:
        """Builds the transaction without sending it. Confirm with ``POST /send`` and the
        ``preview_id`` within 10 minutes."""
        pending = await access.preview_send(body.address, xmr_amount("amount", body.amount))
        return pending_json(pending)

    @router.post("/send", summary="Send, step 2: confirm and relay")
    async def send(body: ConfirmBody) -> dict[str, Any]:
        """Relays exactly the previewed transaction, once."""
        pending, txid = await access.send(body.preview_id)
        return {"txid": txid, **pending_json(pending)}

    return router
