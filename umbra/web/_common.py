"""What every page module shares: the navigation, rendering a page, redirects, page errors."""

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.requests import Request

from umbra.core import CATEGORIES

from ._render import render

SESSION_SCOPE_KEY = "umbra.session"  # set by umbra.api's security gate
NAV: list[tuple[str, str]] = [
    ("/", "Browse"),
    ("/search", "Search"),
    ("/my", "My listings"),
    ("/my/new", "New listing"),
    ("/orders", "Orders"),
    ("/wallet", "Wallet"),
    ("/messages", "Messages"),
    ("/settings", "Settings"),
]

# An arbiter's node opens on its console, and the navigation puts it first (`_role`).
ARBITER_NAV: list[tuple[str, str]] = [
    ("/", "Arbiter console"),
    ("/browse", "Browse"),
    *[item for item in NAV if item[0] != "/"],
]
ARBITER_SCOPE_KEY = "umbra.arbiter"
NETWORK_SCOPE_KEY = "umbra.network"  # "tor" | "clearnet" | None, see `_network_note`

Handler = Callable[[Request], Awaitable[Response]]


class PageError(Exception):
    """A page-level failure: a status and a sentence saying what to do next."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with the navigation, the session's CSRF token and, while the node
    runs on clearnet, the warning banner."""
    session = request.scope.get(SESSION_SCOPE_KEY)
    csrf = getattr(session, "csrf_token", "")
    nav = ARBITER_NAV if request.scope.get(ARBITER_SCOPE_KEY) else NAV
    body = render(
        template,
        csrf=csrf,
        nav=nav,
        path=request.url.path,
        categories=CATEGORIES,
        clearnet=request.scope.get(NETWORK_SCOPE_KEY) == "clearnet",
        **context,
    )
    return HTMLResponse(body, status_code=status)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def error_page(request: Request, status: int, message: str) -> Response:
    return page(request, "error.html", status=status, status_code=status, message=message)


def guarded(handler: Handler) -> Handler:
    """Turn a `PageError` raised by ``handler`` into the error page."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except PageError as exc:
            return error_page(request, exc.status, exc.message)

    return run


def sentence(text: str) -> str:
    """A message as a sentence: capital first letter, full stop at the end."""
    text = text.strip() or "That did not work"
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def form_text(request: Request, name: str, cap: int) -> str:
    """A text field of the form the security gate parsed (``""`` if absent), stripped, capped."""
    form = request.scope.get("umbra.form")
    value = None if form is None else form.get(name)
    return value.strip()[:cap] if isinstance(value, str) else ""
