"""What the HTTP app needs from the rest of Umbra, bundled in one object.

The store is synchronous SQLCipher with one connection, so every store call goes through
`Services.run`: a worker thread, one at a time (one shared `trio.CapacityLimiter`). The node
and the wallet are optional parts, filled in by whoever runs them on the same trio loop; pages
and endpoints say "not connected yet" while they are ``None``.
"""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol, TypeVar

import trio

from umbra.market import SellerCatalog
from umbra.store import Profile

from ._wallet import WalletAccess

T = TypeVar("T")


class StatusSource(Protocol):
    """A part that can report its health (the node, the wallet) for the settings page."""

    async def status_summary(self) -> Mapping[str, Any]:
        """Short JSON-ready facts, e.g. ``{"peers": 4, "synced": "2 minutes ago"}``."""
        ...


@dataclass
class Services:
    """One profile's services, shared by the JSON API and the pages.

    Attributes:
        profile: the open profile (store, search index, identity).
        catalog: the seller's own listings.
        limiter: serialises store calls (one SQLCipher connection).
        node: the peer-to-peer node, once something runs it on this loop.
        wallet: the Monero wallet, once something runs it on this loop.
        clock: seconds since the epoch; injected so tests can move time.
        wallet_access: the profile's own Monero wallet (sandbox or connected wallet-rpc),
            found afresh for each request; see ``_wallet``.
    """

    profile: Profile
    catalog: SellerCatalog
    limiter: trio.CapacityLimiter = field(default_factory=lambda: trio.CapacityLimiter(1))
    node: StatusSource | None = None
    wallet: StatusSource | None = None
    clock: Callable[[], float] = time.time
    wallet_access: WalletAccess = field(init=False)

    def __post_init__(self) -> None:
        self.wallet_access = WalletAccess(self.profile, self.run, self.now)

    @classmethod
    def for_profile(cls, profile: Profile, **kwargs: Any) -> "Services":
        return cls(profile=profile, catalog=SellerCatalog(profile), **kwargs)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking store call in a worker thread, one at a time."""
        return await trio.to_thread.run_sync(partial(fn, *args), limiter=self.limiter)

    def now(self) -> int:
        return int(self.clock())
