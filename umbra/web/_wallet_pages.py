"""The wallet pages: balance, add funds (QR code, copy button), history, send with one
confirmation showing the exact fee, and connecting a wallet when none is connected.

Every action here is also in the JSON API (``/api/v1/wallet``). The wallet is reached through
``services.wallet_access`` (see ``umbra.api._wallet``); a wallet that does not answer or
refuses becomes a sentence on the page, never an error page without a way back.
"""

import base64

from fastapi.responses import Response
from starlette.requests import Request
from starlette.routing import Route

from umbra.core import UsageError, parse_xmr
from umbra.wallet import Balance, Transfer, WalletUnavailable, proxy_hint

from ._common import form_text, guarded, page, see_other, sentence
from ._services import PageServices

CONNECT_HELP = (
    "No wallet is connected yet. For a test wallet with play money, run `umbra sandbox up` "
    "and reload this page. To use your own Monero wallet, start monero-wallet-rpc and "
    "connect it below."
)


def _amount(text: str, field: str, *, optional: bool = False) -> int | None:
    if not text and optional:
        return None
    if not text:
        raise UsageError(f"{field}: write an amount in XMR, like 0.25")
    value = parse_xmr(text)
    if value <= 0:
        raise UsageError(f"{field}: the amount must be more than zero")
    return value


async def _tor_hint(services: PageServices) -> str:
    """How to start one's own wallet-rpc so that it reaches its daemon only through Tor (when
    the node runs over Tor); the sandbox's wallets need none (their daemon is local)."""
    status = await services.network_status()
    if not (status.get("running") and status.get("network") == "tor"):
        return ""
    socks = status.get("tor_socks")
    return proxy_hint(socks if isinstance(socks, str) else None)


def wallet_routes(services: PageServices) -> list[Route]:
    access = services.wallet_access

    async def show(
        request: Request,
        *,
        status: int = 200,
        error: str = "",
        address: str = "",
        amount: str = "",
        connect_error: str = "",
    ) -> Response:
        found = await access.endpoint()
        balance: Balance | None = None
        history: list[Transfer] = []
        problem = unlock_wait = ""
        if found is not None:
            try:
                balance = await access.balance()
                history = list(reversed(await access.history()))[:50]
                if balance.locked:
                    unlock_wait = await access.unlock_wait()
            except WalletUnavailable as exc:
                problem = (
                    f"The wallet does not answer ({exc.detail}). Check that monero-wallet-rpc "
                    "(or `umbra sandbox up`) is running, then reload this page."
                )
            except UsageError as exc:
                problem = sentence(str(exc))
        return page(
            request,
            "wallet.html",
            status=status,
            endpoint=found,
            tor_hint=await _tor_hint(services) if found is None or found.source == "config" else "",
            balance=balance,
            history=history,
            problem=problem,
            unlock_wait=unlock_wait,
            connect_help=CONNECT_HELP,
            error=error,
            connect_error=connect_error,
            address=address,
            amount=amount,
            sent=request.query_params.get("sent", "")[:64],
            connected=request.query_params.get("connected") == "1",
        )

    async def wallet(request: Request) -> Response:
        return await show(request)

    async def add_funds(request: Request) -> Response:
        amount_text = form_text(request, "amount", 40)
        try:
            amount = _amount(amount_text, "Amount", optional=True)
            funding = await access.funding_request(amount)
        except UsageError as exc:
            return await show(request, status=400, error=sentence(str(exc)))
        qr = "data:image/png;base64," + base64.b64encode(funding.qr_png).decode("ascii")
        return page(
            request,
            "wallet_funds.html",
            funding=funding,
            qr=qr,
            amount=amount,
            asked=amount_text,
            unlock_wait=await access.unlock_wait(),
        )

    async def send_preview(request: Request) -> Response:
        address = form_text(request, "address", 200)
        amount_text = form_text(request, "amount", 40)
        try:
            if not address:
                raise UsageError("Address: paste the Monero address to send to")
            amount = _amount(amount_text, "Amount")
            assert amount is not None
            pending = await access.preview_send(address, amount)
        except UsageError as exc:
            return await show(
                request, status=400, error=sentence(str(exc)), address=address, amount=amount_text
            )
        return page(request, "wallet_confirm.html", pending=pending)

    async def send_confirm(request: Request) -> Response:
        preview_id = form_text(request, "preview_id", 64)
        try:
            _, txid = await access.send(preview_id)
        except UsageError as exc:
            return await show(request, status=400, error=sentence(str(exc)))
        return see_other(f"/wallet?sent={txid}")

    async def connect(request: Request) -> Response:
        host = form_text(request, "host", 255) or "127.0.0.1"
        port_text = form_text(request, "port", 6)
        try:
            if not (port_text.isascii() and port_text.isdigit()):
                raise UsageError("Port: write the --rpc-bind-port of your monero-wallet-rpc")
            await access.connect(
                host,
                int(port_text),
                form_text(request, "user", 200),
                form_text(request, "password", 500),
            )
        except UsageError as exc:
            return await show(request, status=400, connect_error=sentence(str(exc)))
        except WalletUnavailable:
            return await show(
                request,
                status=400,
                connect_error=(
                    f"Nothing answers at {host}:{port_text}. Start monero-wallet-rpc with "
                    "--rpc-bind-port and a wallet, then try again."
                ),
            )
        return see_other("/wallet?connected=1")

    return [
        Route("/wallet", guarded(wallet), methods=["GET"]),
        Route("/wallet/address", guarded(add_funds), methods=["POST"]),
        Route("/wallet/send", guarded(send_preview), methods=["POST"]),
        Route("/wallet/send/confirm", guarded(send_confirm), methods=["POST"]),
        Route("/wallet/connect", guarded(connect), methods=["POST"]),
    ]
