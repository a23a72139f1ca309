"""What the node keeps in the profile's encrypted database (namespace ``net``).

Synchronous methods, called by the node through ``trio.to_thread.run_sync`` with one
`CapacityLimiter(1)` (the connection is not thread-safe). Tables:

- ``net_identity``: the node's own libp2p key seed (random, never derived from a persona key).
- ``net_peers``: the peer store (peer id, addresses, last seen) used to rejoin after a restart.
- ``net_catalogs``: per seller, the head we synced (signed bytes kept, so we can pass it on),
  its seq and catalog CID, when and how many listings.
- ``net_listings``: which listing ids (and CIDs) each synced seller currently has.
- ``net_own_head``: the last head we signed for our own catalog.
- ``net_status``: the running node's status snapshot, for ``umbra status``.
- ``net_owned_blocks``, ``net_block_refs`` (schema 2): which synced blocks are still needed,
  for garbage collection (see `_blockrefs`).
- ``net_catalogs.sources`` (schema 3): the peers a catalog was synced from, the seller's node
  first when known; they are asked for the images fetched on demand. Schema 3 also gives
  every image of an already synced listing its reference row (`backfill_listing_refs`).
- ``net_tor`` (schema 4): Tor mode's secrets: the onion service key tor created on the first
  start (kept so the .onion address survives restarts) and the profile's SOCKS isolation
  token (random: two profiles on one tor never share a circuit).
"""

import json
import secrets
from collections.abc import Sequence, Set
from dataclasses import dataclass
from typing import Any

from multiformats import CID

from umbra.core import SignedListing, cid_text
from umbra.store import Profile, index_entry_for

from ._blockrefs import (
    BLOCK_REFS_MIGRATION,
    ImageOrigin,
    backfill_listing_refs,
    collect_garbage,
    image_origin,
    store_fetched_block,
    store_listing_blocks,
    store_update_blocks,
)
from ._ingest import CatalogUpdate

NET_NAMESPACE = "net"

NET_MIGRATIONS = [
    """
    CREATE TABLE net_identity (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        key_seed BLOB NOT NULL CHECK (length(key_seed) = 32)
    );
    CREATE TABLE net_peers (
        peer_id TEXT PRIMARY KEY,
        addrs TEXT NOT NULL,            -- JSON array of multiaddrs
        last_seen INTEGER NOT NULL
    );
    CREATE INDEX net_peers_seen ON net_peers (last_seen);
    CREATE TABLE net_catalogs (
        seller BLOB PRIMARY KEY CHECK (length(seller) = 32),
        seq INTEGER NOT NULL,
        catalog_cid TEXT NOT NULL,
        head BLOB NOT NULL,             -- the signed head, as received
        synced_at INTEGER NOT NULL,
        listings INTEGER NOT NULL
    );
    CREATE INDEX net_catalogs_synced ON net_catalogs (synced_at);
    CREATE TABLE net_listings (
        seller BLOB NOT NULL,
        listing_id BLOB NOT NULL,
        cid TEXT NOT NULL,
        PRIMARY KEY (seller, listing_id)
    );
    CREATE TABLE net_own_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        head BLOB NOT NULL
    );
    CREATE TABLE net_status (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        updated_at REAL NOT NULL,
        status TEXT NOT NULL            -- JSON, see NodeStatus
    );
    """,
    BLOCK_REFS_MIGRATION,
    # sources: a JSON list of peer ids
    """
    ALTER TABLE net_catalogs ADD COLUMN sources TEXT NOT NULL DEFAULT '[]';
    """,
    # onion_key: ``ED25519-V3:<base64>`` as tor's ADD_ONION returned it (NULL until then)
    """
    CREATE TABLE net_tor (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        socks_isolation TEXT NOT NULL CHECK (length(socks_isolation) BETWEEN 16 AND 64),
        onion_key TEXT
    );
    """,
]
# The first version whose reference rows name every image of a synced listing.
_IMAGE_REFS_VERSION = 3
_MAX_SOURCES = 8

_MAX_PEER_ROWS = 500


@dataclass(frozen=True)
class SyncSummary:
    catalogs: int
    listings: int
    last_sync: int | None


class NetState:
    """The ``net`` tables of one profile."""

    def __init__(self, profile: Profile) -> None:
        self._profile = profile
        self._db = profile.db
        with self._db.transaction():
            before = self._db.schema_version(NET_NAMESPACE)
            self._db.migrate(NET_NAMESPACE, NET_MIGRATIONS)
            if 0 < before < _IMAGE_REFS_VERSION:
                backfill_listing_refs(profile)

    # -- identity and peers --------------------------------------------------------------------

    def network_key_seed(self) -> bytes:
        """The node's libp2p key seed, created on first use."""
        with self._db.transaction():
            seed = self._db.scalar("SELECT key_seed FROM net_identity WHERE id = 1")
            if seed is None:
                seed = secrets.token_bytes(32)
                self._db.execute("INSERT INTO net_identity (id, key_seed) VALUES (1, ?)", (seed,))
        return bytes(seed)

    # -- Tor mode ------------------------------------------------------------------------------

    def socks_isolation(self) -> str:
        """This profile's SOCKS username for tor's stream isolation, created on first use."""
        with self._db.transaction():
            token = self._db.scalar("SELECT socks_isolation FROM net_tor WHERE id = 1")
            if token is None:
                token = secrets.token_hex(16)
                self._db.execute(
                    "INSERT INTO net_tor (id, socks_isolation) VALUES (1, ?)", (token,)
                )
        return str(token)

    def onion_key(self) -> str | None:
        """The onion service key tor made on this profile's first Tor start, if any."""
        value = self._db.scalar("SELECT onion_key FROM net_tor WHERE id = 1")
        return None if value is None else str(value)

    def save_onion_key(self, key: str) -> None:
        self.socks_isolation()  # the row exists
        with self._db.transaction():
            self._db.execute("UPDATE net_tor SET onion_key = ? WHERE id = 1", (key,))

    def save_peers(self, peers: Sequence[tuple[str, Sequence[str]]], now: int) -> None:
        with self._db.transaction():
            self._db.executemany(
                "INSERT INTO net_peers (peer_id, addrs, last_seen) VALUES (?, ?, ?) ON CONFLICT"
                " (peer_id) DO UPDATE SET addrs = excluded.addrs, last_seen = excluded.last_seen",
                [(peer, json.dumps(list(addrs)), now) for peer, addrs in peers if addrs],
            )
            self._db.execute(
                "DELETE FROM net_peers WHERE peer_id NOT IN"
                " (SELECT peer_id FROM net_peers ORDER BY last_seen DESC LIMIT ?)",
                (_MAX_PEER_ROWS,),
            )

    def known_peers(self, limit: int) -> list[tuple[str, list[str]]]:
        rows = self._db.query(
            "SELECT peer_id, addrs FROM net_peers ORDER BY last_seen DESC LIMIT ?", (limit,)
        )
        out = []
        for peer, addrs in rows:
            try:
                parsed = json.loads(addrs)
            except ValueError:
                continue
            if isinstance(parsed, list):
                out.append((str(peer), [str(a) for a in parsed]))
        return out

    # -- sync state ----------------------------------------------------------------------------

    def known_seqs(self) -> dict[bytes, int]:
        return {bytes(s): int(q) for s, q in self._db.query("SELECT seller, seq FROM net_catalogs")}

    def known_heads(self, limit: int) -> list[bytes]:
        """Signed heads we can pass on, most recently synced first."""
        rows = self._db.query(
            "SELECT head FROM net_catalogs ORDER BY synced_at DESC LIMIT ?", (limit,)
        )
        return [bytes(r[0]) for r in rows]

    def synced_catalog_cid(self, seller: bytes) -> str | None:
        """The CID of the catalog of ``seller`` we synced last (its block is stored), if any."""
        value = self._db.scalar("SELECT catalog_cid FROM net_catalogs WHERE seller = ?", (seller,))
        return None if value is None else str(value)

    def synced_listings(self, seller: bytes) -> dict[bytes, str]:
        rows = self._db.query(
            "SELECT listing_id, cid FROM net_listings WHERE seller = ?", (seller,)
        )
        return {bytes(listing_id): str(cid) for listing_id, cid in rows}

    def has_block(self, cid: str) -> bool:
        return self._profile.blocks.has(cid)

    def get_block(self, cid: str) -> bytes | None:
        return self._profile.blocks.get(cid)

    def get_blocks(self, cids: Sequence[str], budget: int) -> list[bytes | None]:
        """Blocks in order, None for those not held or past ``budget`` bytes in all."""
        out: list[bytes | None] = []
        for cid in cids:
            data = self._profile.blocks.get(cid)
            if data is not None and len(data) > budget:
                data = None
            if data is not None:
                budget -= len(data)
            out.append(data)
        return out

    def catalog_sources(self, seller: bytes) -> list[str]:
        """The peers ``seller``'s catalog was last synced from (the seller's node first)."""
        value = self._db.scalar("SELECT sources FROM net_catalogs WHERE seller = ?", (seller,))
        try:
            parsed = json.loads(value) if value is not None else []
        except ValueError:
            return []
        if not isinstance(parsed, list):
            return []
        return [str(p) for p in parsed if isinstance(p, str)][:_MAX_SOURCES]

    def image_origin(self, cid: str, now: int) -> ImageOrigin | None:
        """The live synced listing that names image ``cid`` (see `_blockrefs.image_origin`)."""
        return image_origin(self._db, cid, now)

    def store_fetched_block(self, cid: CID, data: bytes) -> None:
        store_fetched_block(self._profile, cid, data)

    def apply_listings(
        self,
        seller: bytes,
        seq: int,
        listings: Sequence[SignedListing],
        blocks: Sequence[tuple[CID, bytes]],
    ) -> bool:
        """Index listings of ``seller``'s catalog ``seq`` while its sync runs, with ``blocks``
        (thumbnails). Searchable at once, and a sync stopped part-way need not fetch them
        again: they count as synced listings (`synced_listings`); the catalog row follows in
        `apply`. False (nothing written) if catalog ``seq`` or a newer one is applied already.
        """
        with self._db.transaction():
            current = self._db.scalar("SELECT seq FROM net_catalogs WHERE seller = ?", (seller,))
            if current is not None and int(current) >= seq:
                return False
            store_listing_blocks(self._profile, seller, listings, blocks)
            self._profile.search.upsert_many(index_entry_for(item) for item in listings)
            self._db.executemany(
                "INSERT OR REPLACE INTO net_listings (seller, listing_id, cid) VALUES (?, ?, ?)",
                [(seller, item.body.listing_id, cid_text(item.cid)) for item in listings],
            )
        return True

    def apply(self, update: CatalogUpdate) -> None:
        """Write one catalog sync: blocks, index rows, removals and the new sync state."""
        seller = update.head.body.seller
        with self._db.transaction():
            current = self._db.scalar("SELECT seq FROM net_catalogs WHERE seller = ?", (seller,))
            if current is not None and int(current) >= update.head.body.seq:
                return  # another worker applied a newer one meanwhile
            store_update_blocks(self._profile, update)
            self._profile.search.upsert_many(index_entry_for(item) for item in update.added)
            for listing_id in update.removed:
                self._profile.search.remove(seller, listing_id)
            self._db.execute("DELETE FROM net_listings WHERE seller = ?", (seller,))
            rows = [(seller, lid, cid) for lid, cid in update.kept]
            rows += [(seller, item.body.listing_id, cid_text(item.cid)) for item in update.added]
            self._db.executemany(
                "INSERT OR REPLACE INTO net_listings (seller, listing_id, cid) VALUES (?, ?, ?)",
                rows,
            )
            self._db.execute(
                "INSERT INTO net_catalogs"
                " (seller, seq, catalog_cid, head, synced_at, listings, sources)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (seller) DO UPDATE SET"
                " seq = excluded.seq, catalog_cid = excluded.catalog_cid, head = excluded.head,"
                " synced_at = excluded.synced_at, listings = excluded.listings,"
                " sources = excluded.sources",
                (
                    seller,
                    update.head.body.seq,
                    cid_text(update.catalog.cid),
                    update.head.data,
                    update.synced_at,
                    len(rows),
                    json.dumps(list(update.sources[:_MAX_SOURCES])),
                ),
            )

    def summary(self) -> SyncSummary:
        row = self._db.query_one(
            "SELECT count(*), coalesce(sum(listings), 0), max(synced_at) FROM net_catalogs"
        )
        assert row is not None
        return SyncSummary(int(row[0]), int(row[1]), None if row[2] is None else int(row[2]))

    def purge_expired(self, now: int) -> int:
        return self._profile.search.purge_expired(now)

    def collect_garbage(self, now: int, keep: Set[str] = frozenset()) -> int:
        """Delete synced blocks no current or unexpired listing needs (not those in ``keep``)."""
        return collect_garbage(self._db, now, keep)

    def data_version(self) -> int:
        """SQLite's ``PRAGMA data_version``: changes when *another* connection commits.

        A cheap way to notice that `umbra listing create` (another process) changed the
        database, without reading and verifying the catalog. This connection's own commits
        do not change it.
        """
        return int(self._db.scalar("PRAGMA data_version"))

    # -- own head ------------------------------------------------------------------------------

    def own_head(self) -> tuple[int, bytes] | None:
        row = self._db.query_one("SELECT seq, head FROM net_own_head WHERE id = 1")
        return None if row is None else (int(row[0]), bytes(row[1]))

    def save_own_head(self, seq: int, head: bytes) -> None:
        with self._db.transaction():
            self._db.execute(
                "INSERT INTO net_own_head (id, seq, head) VALUES (1, ?, ?) ON CONFLICT (id)"
                " DO UPDATE SET seq = excluded.seq, head = excluded.head",
                (seq, head),
            )

    # -- status --------------------------------------------------------------------------------

    def write_status(self, status: dict[str, Any], now: float) -> None:
        with self._db.transaction():
            self._db.execute(
                "INSERT INTO net_status (id, updated_at, status) VALUES (1, ?, ?) ON CONFLICT (id)"
                " DO UPDATE SET updated_at = excluded.updated_at, status = excluded.status",
                (now, json.dumps(status, sort_keys=True)),
            )

    def read_status(self) -> tuple[float, dict[str, Any]] | None:
        row = self._db.query_one("SELECT updated_at, status FROM net_status WHERE id = 1")
        if row is None:
            return None
        try:
            status = json.loads(row[1])
        except ValueError:
            return None
        return (float(row[0]), status) if isinstance(status, dict) else None
