"""Every failure becomes one plain sentence: ``{"error": "..."}`` for the API, a page otherwise.

Who is at fault decides the status: bad input from the client is 4xx (`UsageError` 400,
`InvalidDocument` 422, request validation 422, missing things 404, a refusal of the wallet
400), an unreachable wallet or a store that stays busy (`StoreBusy`) is 503, a failure inside
Umbra is 500 with a sentence that says it is a bug. Bad input never produces a 500.
"""

import logging
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from umbra.core import InvalidDocument, UmbraError, UsageError
from umbra.wallet import WalletRpcError, WalletUnavailable

log = logging.getLogger("umbra.api")

ErrorPage = Callable[[Request, int, str], Response]


class ApiError(Exception):
    """An error with an HTTP status and a message written for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class StoreBusy(UmbraError):
    """The store stayed in use for longer than a request waits (`Services.run`); the request
    did nothing."""

    def __init__(self, waited: float) -> None:
        super().__init__(
            f"Your node is busy: its store has been in use for more than {waited:g} s, so"
            " nothing was done. Try again in a moment; if this keeps happening, restart Umbra"
        )


class NotFound(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(404, message)


_DEFAULT_MESSAGES = {
    404: "There is nothing at this address. Check the link, or start again from the home page.",
    405: "This address does not accept that kind of request.",
}


# monero-wallet-rpc error codes (wallet_rpc_server_error_codes.h) that have a user-level fix.
_NOT_OPEN = -13
_NOT_ENOUGH_MONEY = -17
_NOT_ENOUGH_UNLOCKED = -18


def wallet_error_message(exc: WalletRpcError) -> str:
    """What a refusal of the wallet means for the user, and what to do next."""
    text = exc.message.lower()
    if exc.code in (_NOT_ENOUGH_MONEY, _NOT_ENOUGH_UNLOCKED) or "not enough" in text:
        return (
            "There is not enough spendable money for this amount plus the network fee. "
            "Add funds, or wait until locked coins unlock (10 blocks; the wallet page says how"
            " long that is on this chain)."
        )
    if exc.code == _NOT_OPEN or "no wallet file" in text:
        return (
            "The monero-wallet-rpc answers but has no wallet open. Open one in it "
            "(or start it with --wallet-file), then reload this page."
        )
    if exc.code == 401:
        return "The wallet refused the login. Connect it again with the right user and password."
    return f"The wallet refused this: {exc.message.rstrip('.')}. Check the values and try again."


_FIELD_PREFIX = re.compile(r"[a-z_]+(\[\d+\])?:")


def sentence(text: str) -> str:
    """A message as a sentence: lower layers raise fragments ("x is not an amount")."""
    text = text.strip() or "The request is not valid"
    if not _FIELD_PREFIX.match(text):  # "price: ..." keeps the field's name as sent
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def validation_message(exc: RequestValidationError) -> str:
    """The first problem of a request, as 'query parameter limit: <what is wrong>'."""
    errors = exc.errors()
    if not errors:
        return "The request is not valid."
    first: dict[str, Any] = dict(errors[0])
    loc = [str(p) for p in first.get("loc", ())]
    where = {"query": "query parameter ", "path": "path part ", "body": "body field "}.get(
        loc[0] if loc else "", ""
    )
    name = ".".join(loc[1:]) or "request"
    return f"{where}{name}: {first.get('msg', 'is not valid')}."


def install_error_handlers(app: FastAPI, error_page: ErrorPage | None) -> None:
    """Route every exception to `respond`, which picks JSON or a page by the path."""

    def respond(request: Request, status: int, message: str) -> Response:
        if error_page is not None and not request.url.path.startswith("/api/"):
            return error_page(request, status, message)
        return JSONResponse({"error": message}, status_code=status)

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return respond(request, exc.status, sentence(exc.message))

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return respond(request, 422, validation_message(exc))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        message = _DEFAULT_MESSAGES.get(exc.status_code) or str(exc.detail)
        response = respond(request, exc.status_code, message)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def on_usage(request: Request, exc: Exception) -> Response:
        return respond(request, 400, sentence(str(exc)))

    async def on_invalid(request: Request, exc: Exception) -> Response:
        return respond(request, 422, sentence(str(exc)))

    async def on_wallet_refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, WalletRpcError)
        return respond(request, 400, wallet_error_message(exc))

    async def on_wallet_unavailable(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, WalletUnavailable)
        return respond(
            request,
            503,
            f"The wallet does not answer ({exc.detail}). Check that monero-wallet-rpc "
            "(or `umbra sandbox up`) is running, then try again.",
        )

    async def on_store_busy(request: Request, exc: Exception) -> Response:
        log.warning("%s %s refused: %s", request.method, request.url.path, exc)
        return respond(request, 503, sentence(str(exc)))

    async def on_umbra(request: Request, exc: Exception) -> Response:
        log.error("request failed: %s", exc)
        return respond(request, 500, f"{exc}. Try again; if it keeps happening, restart Umbra.")

    async def on_bug(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        return respond(
            request,
            500,
            f"Something went wrong inside Umbra ({type(exc).__name__}); this is a bug. "
            "Try again, and report it if it happens again.",
        )

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(UsageError, on_usage)
    app.add_exception_handler(InvalidDocument, on_invalid)
    app.add_exception_handler(WalletRpcError, on_wallet_refused)
    app.add_exception_handler(WalletUnavailable, on_wallet_unavailable)
    app.add_exception_handler(StoreBusy, on_store_busy)
    app.add_exception_handler(UmbraError, on_umbra)
    app.add_exception_handler(Exception, on_bug)
