"""`create_app`: the one ASGI app for a profile: JSON API, docs, and (plugged in) pages.

The pages live in ``umbra.web``, a sibling layer that this package may not import; whoever
composes the two (the CLI, later the node) passes them in as a `PageSet`. Everything, pages
included, sits behind the same `SecurityGate`.
"""

from collections.abc import Sequence
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from umbra.net import StartingNode

from ._docs import DOCS_CSS, render_docs
from ._errors import ErrorPage, install_error_handlers
from ._message_routes import message_router
from ._order_routes import order_router
from ._routes import api_router
from ._security import SecurityGate
from ._services import Services
from ._starting import StartingGate
from ._wallet_routes import wallet_router

API_DESCRIPTION = (
    "Every action of the Umbra web app, as JSON. Served only on 127.0.0.1, for this "
    "profile, to clients holding its access token. While the node serving it is still "
    "starting (over Tor: tor's bootstrap, then its onion service), every route but "
    "`GET /api/v1/status` and `GET /api/v1/session` answers 503 with a `Retry-After` "
    "header and says how far the start got; nothing is done."
)


class PageSet(Protocol):
    """What the pages package hands to `create_app`."""

    @property
    def routes(self) -> Sequence[BaseRoute]: ...

    def error_response(self, request: Request, status: int, message: str) -> Response: ...

    def starting_response(self, request: Request, starting: StartingNode) -> Response:
        """The screen every page shows while the node starts (or failed to start)."""
        ...


class UmbraApp:
    """The ASGI app: the FastAPI routes wrapped in the security gate.

    Attributes:
        api: the FastAPI app (routes, OpenAPI description).
        gate: the security gate; `serve_app` tells it the bound port.
    """

    def __init__(self, api: FastAPI, gate: SecurityGate) -> None:
        self.api = api
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.gate(scope, receive, send)


def create_app(
    services: Services,
    *,
    token: str,
    port: int | None = None,
    pages: PageSet | None = None,
) -> UmbraApp:
    """Build the app for one profile.

    Args:
        services: the profile's services (store, catalog, optional node and wallet).
        token: the access token (`new_token`); it opens a browser session or is sent as a
            Bearer header.
        port: the port it is served on, if already known; `serve_app` sets it otherwise.
        pages: the server-rendered pages (``umbra.web.page_set``), or None for API only.
    """
    api = FastAPI(
        title="Umbra",
        version="1",
        description=API_DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    api.include_router(api_router(services))
    api.include_router(wallet_router(services))
    api.include_router(message_router(services))
    api.include_router(order_router(services))
    error_page: ErrorPage | None = None
    if pages is not None:
        api.router.routes.extend(pages.routes)
        error_page = pages.error_response
    install_error_handlers(api, error_page)

    @api.get("/api/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(render_docs(api.openapi()))

    @api.get("/api/docs.css", include_in_schema=False)
    async def docs_css() -> Response:
        return Response(DOCS_CSS, media_type="text/css")

    if pages is None:

        @api.get("/", include_in_schema=False)
        async def root() -> JSONResponse:
            body: dict[str, Any] = {"api": "/api/v1", "docs": "/api/docs"}
            return JSONResponse(body)

    inner: ASGIApp = api
    if services.startup is not None:  # a node starting on this loop: 503 until it is up
        page = None if pages is None else pages.starting_response
        inner = StartingGate(api, services.startup, page)
    return UmbraApp(api, SecurityGate(inner, token=token, port=port))
