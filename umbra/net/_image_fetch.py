"""Fetching a listing's image when a page shows it.

A sync brings in at most each listing's first thumbnail (`NodeConfig.storage`, none once the
node holds many listings): full images are large and most are never looked at. When the web app
needs an image this device does not hold, `ImageFetcher.fetch` gets it over the sync protocol
(``get-blocks``) from the peers that may have it, cheapest first: the connected peers (those
the seller's catalog was synced from, the seller's node first when known, and up to 8 others:
nodes that synced the catalog may have fetched the photo), then the catalog's sources dialled
anew, and last the seller's node as the DHT names it (the provider of its catalog). The peers
of one round are asked at once and the first answer wins: a peer that is gone but still looks
connected would otherwise hold the fetch for its whole request timeout.

Rules: only an image that a live synced listing names may be fetched (the reference rows of
`_blockrefs`), so the node is no proxy for arbitrary blocks; the bytes must hash to the CID,
fit the raw block cap and be one still WebP image of bounded size before they are stored or
shown; one fetch per CID runs at a time (a page's retries wait for it).
"""

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import trio
from libp2p.peer.id import ID
from multiformats import CID

from umbra.core import is_still_webp, parse_cid

from ._blockrefs import ImageOrigin
from ._errors import ImageNotReferenced, ImageUnavailable
from ._state import NetState

log = logging.getLogger(__name__)

DbCall = Callable[..., Awaitable[Any]]  # runs a NetState method in the store's worker thread
FetchBlocks = Callable[[list[ID], list[CID]], Awaitable[dict[CID, bytes]]]
FindProviders = Callable[[CID, Sequence[ID]], Awaitable[list[ID]]]
UsablePeers = Callable[[Sequence[ID]], list[ID]]
ConnectedPeers = Callable[[], Sequence[ID]]

FETCH_TIMEOUT_S = 20.0
_MAX_OTHER_PEERS = 8  # connected peers asked besides the catalog's sources


class ImageFetcher:
    """Gets images on demand for one node (see the module docstring)."""

    def __init__(
        self,
        state: NetState,
        *,
        db: DbCall,
        fetch: FetchBlocks,
        providers: FindProviders,
        usable: UsablePeers,
        connected: ConnectedPeers,
        now: Callable[[], int],
        timeout: float = FETCH_TIMEOUT_S,
    ) -> None:
        self._state = state
        self._db = db
        self._fetch = fetch
        self._providers = providers
        self._usable = usable
        self._connected = connected
        self._now = now
        self._timeout = timeout
        self._inflight: dict[str, trio.Event] = {}
        self.fetched = 0  # images fetched from peers since start

    async def fetch(self, cid: CID) -> bytes:
        """The image block ``cid``: from the store, else from the peers that should have it.

        Raises:
            ImageNotReferenced: no live listing on this device names this image.
            ImageUnavailable: no peer sent it (in time), or what came is not a valid image.
        """
        key = str(cid)
        if cid.codec.name != "raw":
            raise ImageNotReferenced("this is not an image CID")
        while True:
            held: bytes | None = await self._db(self._state.get_block, key)
            if held is not None:
                return held
            running = self._inflight.get(key)
            if running is None:
                break
            await running.wait()  # another request is fetching it: share its result
        origin: ImageOrigin | None = await self._db(self._state.image_origin, key, self._now())
        if origin is None:
            raise ImageNotReferenced("no listing on this device shows this image")
        done = self._inflight[key] = trio.Event()
        try:
            data = await self._from_peers(cid, origin)
            await self._db(self._state.store_fetched_block, cid, data)
            self.fetched += 1
            return data
        finally:
            del self._inflight[key]
            done.set()

    async def _from_peers(self, cid: CID, origin: ImageOrigin) -> bytes:
        sources = _peer_ids(await self._db(self._state.catalog_sources, origin.seller))
        catalog: str | None = await self._db(self._state.synced_catalog_cid, origin.seller)
        connected = set(self._connected())
        asked: list[ID] = []
        got: dict[CID, bytes] = {}

        async def ask(peers: Sequence[ID]) -> bool:
            # All at once, first answer wins: a peer that is gone but still looks connected
            # (its stream takes the whole request timeout to fail) must not hold up the rest.
            fresh = [p for p in self._usable(peers) if p not in asked]
            asked.extend(fresh)
            async with trio.open_nursery() as nursery:

                async def one(peer: ID) -> None:
                    found = await self._fetch([peer], [cid])
                    if cid in found and cid not in got:
                        got[cid] = found[cid]
                        nursery.cancel_scope.cancel()

                for peer in fresh:
                    nursery.start_soon(one, peer)
            return cid in got

        with trio.move_on_after(self._timeout):
            # Cheapest first, all at once: the peers we are connected to (the catalog's
            # sources, the seller's node first, and any other: one may have fetched the photo
            # already); then dial the sources; last, the seller's node as the DHT knows it.
            near = [p for p in sources if p in connected]
            others = [p for p in connected if p not in near][:_MAX_OTHER_PEERS]
            for peers in ([*near, *others], sources):
                if await ask(peers):
                    break
            else:
                if catalog is not None:
                    await ask(await self._providers(parse_cid(catalog), asked))
        data = got.get(cid)
        if data is None:
            log.info("image %s: none of %d peers sent it", cid, len(asked))
            raise ImageUnavailable(
                "no peer sent this photo: the seller's node and the nodes that synced its"
                " catalog are offline or do not have it. Try again later."
            )
        if not is_still_webp(data):
            # The bytes hash to the CID the seller signed: the seller's image is bad.
            raise ImageUnavailable("the seller's photo is not a valid image, so it is not shown")
        return data


def _peer_ids(texts: Sequence[str]) -> list[ID]:
    out = []
    for text in texts:
        try:
            out.append(ID.from_base58(text))
        except Exception:  # noqa: BLE001, S112 - a damaged row names no peer
            continue
    return out
