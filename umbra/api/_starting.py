"""The gate that keeps a half-started node's profile out of reach: 503 until it is usable.

`umbra node` and `umbra app` serve the web app before the node is usable (over Tor, tor's
bootstrap and the onion service's publication come first). Until it is, no page and no
endpoint that reads or changes the profile runs: a wallet payment, an order or a listing
published now would go to a node that cannot reach anyone yet (or never will, when it failed
to start). Every request is answered 503 with ``Retry-After``: the API with
``{"error": "the node is starting: Tor 45 % (…); …", "starting": {…}}``, pages with the
starting screen (``umbra.web``), which reloads itself and becomes the page asked for once the
node is up. Let through: the static files, the API docs, ``/api/v1/session`` and
``/api/v1/status`` (whose ``starting`` field says how far the start got).

It sits behind the security gate: a request it sees is already authenticated.
"""

import json
from collections.abc import Callable
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from umbra.net import StartingNode

RETRY_AFTER_S = 2
OPEN_WHILE_STARTING = frozenset(
    {"/api/docs", "/api/docs.css", "/api/openapi.json", "/api/v1/session", "/api/v1/status"}
)


class StartupSource(Protocol):
    """How far the node got (``umbra.net.NodeStartup``)."""

    def snapshot(self) -> StartingNode | None:
        """None once the node is usable."""
        ...


StartingPage = Callable[[Request, StartingNode], Response]


class StartingGate:
    """ASGI middleware: 503 for everything but `OPEN_WHILE_STARTING` until the node is up."""

    def __init__(
        self, app: ASGIApp, startup: StartupSource, page: StartingPage | None = None
    ) -> None:
        self._app = app
        self._startup = startup
        self._page = page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        starting = self._startup.snapshot() if scope["type"] == "http" else None
        if starting is None or _open(scope):
            await self._app(scope, receive, send)
            return
        headers = {"retry-after": str(RETRY_AFTER_S)}
        if scope["path"].startswith("/api/") or self._page is None:
            body = {"error": starting.api_message(), "starting": starting.to_json()}
            response: Response = Response(
                json.dumps(body), status_code=503, media_type="application/json", headers=headers
            )
        else:
            response = self._page(Request(scope), starting)
            response.headers.update(headers)
        await response(scope, receive, send)


def _open(scope: Scope) -> bool:
    path = str(scope.get("path", ""))
    if scope.get("method") in ("GET", "HEAD") and path.startswith("/static/"):
        return True
    return path in OPEN_WHILE_STARTING and scope.get("method") in ("GET", "HEAD")
