"""What the HTTP app needs from the rest of Umbra, bundled in one object.

The store is synchronous SQLCipher with one connection, so every store call goes through
`Services.run`: a worker thread, one at a time (one shared `trio.CapacityLimiter`, the node's
when a node runs). A request waits at most `STORE_WAIT_S` for its turn and is then refused
with `StoreBusy` (nothing was done), so a store held by something else is a clear "busy, try
again" and never a page that does not answer. The node and the wallet are optional parts,
filled in by whoever runs them on the same trio loop; pages and endpoints say "not connected
yet" while they are ``None``.
"""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol, TypeVar

import trio
from multiformats import CID

from umbra.market import SellerCatalog
from umbra.net import read_node_status
from umbra.store import Profile

from ._errors import StoreBusy
from ._starting import StartupSource
from ._views import iso_time
from ._wallet import WalletAccess

T = TypeVar("T")

# How long a request waits for the store before it is refused. A store call takes milliseconds
# (a large sync's commit about a second); waiting longer means something holds the store.
STORE_WAIT_S = 30.0


class ImageSource(Protocol):
    """Where images this device does not hold come from (the running node, `umbra.net`)."""

    async def fetch_image(self, cid: CID) -> bytes:
        """The image block, fetched from peers if need be.

        Raises:
            umbra.net.ImageNotReferenced: no listing on this device names it.
            umbra.net.ImageUnavailable: no peer sent it (try later) or it is not an image.
        """
        ...


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
        images: fetches images a page shows that this device does not hold yet (the node).
        startup: how far the node on this loop got while it starts (`umbra.net.NodeStartup`);
            until it is usable every page and endpoint but a few answers 503 (`_starting`).
        clock: seconds since the epoch; injected so tests can move time.
        store_wait_s: how long a call waits for its turn at the store (`StoreBusy` after).
        wallet_access: the profile's own Monero wallet (sandbox or connected wallet-rpc),
            found afresh for each request; see ``_wallet``.
    """

    profile: Profile
    catalog: SellerCatalog
    limiter: trio.CapacityLimiter = field(default_factory=lambda: trio.CapacityLimiter(1))
    node: StatusSource | None = None
    wallet: StatusSource | None = None
    images: ImageSource | None = None
    startup: StartupSource | None = None
    clock: Callable[[], float] = time.time
    store_wait_s: float = STORE_WAIT_S
    wallet_access: WalletAccess = field(init=False)

    def __post_init__(self) -> None:
        self.wallet_access = WalletAccess(self.profile, self.run, self.now)

    @classmethod
    def for_profile(cls, profile: Profile, **kwargs: Any) -> "Services":
        return cls(profile=profile, catalog=SellerCatalog(profile), **kwargs)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking store call in a worker thread, one at a time.

        Raises:
            StoreBusy: the store was not free within ``store_wait_s``; ``fn`` did not run.
        """
        turn = object()  # whose turn at the limiter this is
        got_it = False
        with trio.move_on_after(self.store_wait_s):
            await self.limiter.acquire_on_behalf_of(turn)
            got_it = True
        if not got_it:
            raise StoreBusy(self.store_wait_s)
        try:
            # Once started, the call runs to its end even if the request is cancelled (trio
            # waits for the thread): a write is never left half done, and the turn is
            # given back only then.
            return await trio.to_thread.run_sync(partial(fn, *args))
        finally:
            self.limiter.release_on_behalf_of(turn)

    def now(self) -> int:
        return int(self.clock())

    async def network_status(self) -> dict[str, Any]:
        """The node's health: from the node running on this loop, else from the snapshot a
        separate ``umbra node`` process keeps writing (stale after 15 s means stopped)."""
        if self.node is not None:
            return dict(await self.node.status_summary())
        status = await self.run(read_node_status, self.profile)
        return {
            "running": status.running,
            "network": status.network if status.running else None,
            "tor_bootstrap": status.tor_bootstrap_json() if status.running else None,
            "tor_error": status.tor_error if status.running else None,
            "tor_socks": status.tor_socks if status.running else None,
            "peer_id": status.peer_id,
            "addresses": list(status.addrs),
            "peers": status.peers,
            "dht_routing_table": status.routing_table,
            "catalogs_synced": status.catalogs_synced,
            "listings_synced": status.listings_synced,
            "last_sync": None if status.last_sync is None else iso_time(status.last_sync),
            "syncs_failed": status.syncs_failed,
            "syncs_pending": status.pending_syncs,
        }
