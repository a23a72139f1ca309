"""Which home and navigation a profile gets: an arbiter's node opens on its console.

Whether the profile acts as an arbiter (its node publishes an arbiter profile with
``umbra node --arbiter``, or it holds a case) is read in the worker thread and kept for
`ROLE_TTL_S`, then put in the request's scope for `umbra.web._common.page` to pick the
navigation.
"""

import inspect
import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from umbra.market import TradeService

from ._common import ARBITER_SCOPE_KEY, Handler
from ._services import PageServices

ROLE_TTL_S = 15.0


class ArbiterRole:
    """This profile's role for the pages, cached (a lookup is a few small queries)."""

    def __init__(
        self, services: PageServices, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._services = services
        self._clock = clock
        self._value = False
        self._until = float("-inf")

    async def is_arbiter(self) -> bool:
        if self._clock() >= self._until:
            profile = self._services.profile
            self._value = await self._services.run(lambda: TradeService(profile).acts_as_arbiter())
            self._until = self._clock() + ROLE_TTL_S
        return self._value

    async def note(self, request: Request) -> None:
        request.scope[ARBITER_SCOPE_KEY] = await self.is_arbiter()

    def wrap(self, routes: list[BaseRoute]) -> list[BaseRoute]:
        """The same routes, each first noting the role in the request's scope."""
        return noting(routes, self.note)


def noting(routes: list[BaseRoute], note: Callable[[Request], Awaitable[None]]) -> list[BaseRoute]:
    """The same routes, each page first calling ``note`` (which puts a fact in the scope)."""
    out: list[BaseRoute] = []
    for r in routes:
        if (
            isinstance(r, Route)
            and inspect.isfunction(r.endpoint)
            and not r.path.startswith("/static/")
        ):
            out.append(Route(r.path, _noting(r.endpoint, note), methods=r.methods))
        else:
            out.append(r)
    return out


def _noting(endpoint: Handler, note: Callable[[Request], Awaitable[None]]) -> Handler:
    async def run(request: Request):  # type: ignore[no-untyped-def]
        await note(request)
        return await endpoint(request)

    return run
