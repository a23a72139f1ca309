"""Which stored blocks any peer may fetch over Bitswap: public ones only.

A block is public while a catalog names it: the node's own current catalog (the catalog
block, its listing documents and their images, full and thumbnail), or a catalog it synced
(`_blockrefs.live_referenced`: the catalog block, and the documents and images of listings
that have not expired). The block store holds only such blocks today, but the rule does not
rest on that: anything stored for another reason later (e.g. dispute evidence, a draft's
image) is not served unless a catalog names it. Messages, orders and keys are not blocks at
all; they live in their own tables, which this module never reads.

Synchronous: the node calls `PublicBlocks.get` in its database thread (one at a time).
"""

from collections.abc import Sequence
from typing import Protocol

from umbra.core import SignedCatalog, parse_listing
from umbra.store import Profile

from ._blockrefs import live_referenced


class OwnCatalog(Protocol):
    def current_catalog(self) -> SignedCatalog | None: ...


def own_block_cids(profile: Profile, catalog: SignedCatalog | None) -> set[str]:
    """The own catalog's block, its listing documents and every image they name."""
    if catalog is None:
        return set()
    keep = {str(catalog.cid)}
    for cid in catalog.body.listings:
        keep.add(str(cid))
        data = profile.blocks.get(cid)
        if data is None:
            continue
        try:
            images = parse_listing(data, expected_cid=cid).body.images
        except Exception:  # noqa: BLE001, S112 - our own block; if damaged, keep the rest
            continue
        for img in images:
            keep.update((str(img.full), str(img.thumb)))
    return keep


class PublicBlocks:
    """Reads the public blocks of one profile; remembers the own catalog's set.

    Reading the own catalog costs a parse and a signature check (~50 ms for 1,000 listings),
    too much per lookup, so the set is recomputed only when the caller's ``own_key`` changes:
    the node passes the catalog CID of its last published head, which follows the catalog
    within its poll interval. (A block of a listing removed meanwhile is already gone from the
    store; a new listing's blocks are served from the next publication on.)
    """

    def __init__(self, profile: Profile, source: OwnCatalog | None) -> None:
        self._profile = profile
        self._source = source
        self._own_key: object = _UNSET
        self._own: set[str] = set()

    def own(self, own_key: object) -> set[str]:
        """The own catalog's blocks (read again only when ``own_key`` changed)."""
        if own_key != self._own_key:
            catalog = None if self._source is None else self._source.current_catalog()
            self._own, self._own_key = own_block_cids(self._profile, catalog), own_key
        return self._own

    def get(
        self, cids: Sequence[str], budget: int, now: int, own_key: object = None
    ) -> list[bytes | None]:
        """The blocks in order: None for one not held, not public, or past ``budget`` bytes."""
        own = self.own(own_key)
        public = own.intersection(cids) | live_referenced(
            self._profile.db, [c for c in cids if c not in own], now
        )
        out: list[bytes | None] = []
        for cid in cids:
            data = self._profile.blocks.get(cid) if cid in public else None
            if data is not None and len(data) > budget:
                data = None
            if data is not None:
                budget -= len(data)
            out.append(data)
        return out


_UNSET = object()
