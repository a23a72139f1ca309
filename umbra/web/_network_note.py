"""Which network the profile's node uses, noted on every page for the clearnet banner.

On clearnet every peer sees this machine's IP address, so each page says so while it is on
(``base.html``'s ``#clearnet-banner``). The mode comes from `PageServices.network_status`
(the node on this loop, or the status a separate ``umbra node`` keeps writing), read at most
every `NOTE_TTL_S` and put in the request's scope for `umbra.web._common.page`.
"""

import time
from collections.abc import Callable

from starlette.requests import Request

from ._common import NETWORK_SCOPE_KEY
from ._services import PageServices

NOTE_TTL_S = 15.0  # a separate node's status is stale after 15 s too


class NetworkNote:
    """The running node's network ("tor", "clearnet"; None when no node runs), cached."""

    def __init__(
        self, services: PageServices, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._services = services
        self._clock = clock
        self.last: str | None = None
        self._until = float("-inf")

    async def network(self) -> str | None:
        if self._clock() >= self._until:
            status = await self._services.network_status()
            found = status.get("network") if status.get("running") else None
            self.last = found if found in ("tor", "clearnet") else None
            self._until = self._clock() + NOTE_TTL_S
        return self.last

    async def note(self, request: Request) -> None:
        request.scope[NETWORK_SCOPE_KEY] = await self.network()
