"""The screen every page shows while the node starts: Tor's bootstrap, or why it failed.

``umbra.api``'s starting gate calls `starting_response` for every page request until the
node is usable. The screen reloads itself every `REFRESH_S` seconds (a meta refresh, no
script) and so becomes the page that was asked for once the node is up; a failed start does
not reload (the node stays off until it is started again).
"""

from fastapi.responses import HTMLResponse
from starlette.requests import Request

from umbra.core import CATEGORIES
from umbra.net import StartingNode

from ._common import SESSION_SCOPE_KEY
from ._render import render

REFRESH_S = 2
STATUS = 503  # "try again later": what the page is, for scripts and caches


def starting_response(request: Request, starting: StartingNode) -> HTMLResponse:
    """The starting (or failed-to-start) screen, without navigation: no page works yet."""
    session = request.scope.get(SESSION_SCOPE_KEY)
    body = render(
        "starting.html",
        csrf=getattr(session, "csrf_token", ""),
        nav=[],
        path=request.url.path,
        categories=CATEGORIES,
        clearnet=starting.network == "clearnet",
        starting=starting,
        refresh=not starting.failed,
        refresh_seconds=REFRESH_S,
    )
    return HTMLResponse(body, status_code=STATUS)
