"""Which stored blocks a sync brought in, and who still needs them (garbage collection).

Synced catalogs leave blocks behind when a seller removes or replaces a listing, publishes a
new catalog, or a listing expires. Two tables (schema 2 of the ``net`` namespace):

- ``net_owned_blocks``: blocks a sync *inserted* (absent before). Only these are ever deleted,
  so a block the node's own catalog (or anything else) stored first is never touched.
- ``net_block_refs``: (block, seller, listing id or empty for the catalog, expiry): one row per
  reason to keep a block. A sync replaces the rows of the listings it changed or removed and
  of the seller's previous catalog. Every image a synced listing names has a row even before
  its block is here: a sync fetches only first thumbnails, the rest on demand (a page shows
  them), and the row is what allows that fetch (`image_origin`) and keeps the block after it.

`collect_garbage` drops expired references, then deletes owned blocks nothing references any
more (and that the caller does not list in ``keep``, e.g. the own catalog's blocks).
Synchronous, called inside the node's database transactions (see `_state`).
"""

from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass

from multiformats import CID

from umbra.core import ListingBody, SignedListing, cid_text, parse_cid, parse_listing
from umbra.store import Database, Profile

from ._ingest import CatalogUpdate

BLOCK_REFS_MIGRATION = """
    CREATE TABLE net_owned_blocks (
        cid TEXT PRIMARY KEY
    );
    CREATE TABLE net_block_refs (
        cid TEXT NOT NULL,
        seller BLOB NOT NULL,
        listing_id BLOB NOT NULL,       -- empty for the catalog block
        expires_at INTEGER,             -- NULL: until the seller's next catalog
        PRIMARY KEY (cid, seller, listing_id)
    );
    CREATE INDEX net_block_refs_owner ON net_block_refs (seller, listing_id);
    CREATE INDEX net_block_refs_expiry ON net_block_refs (expires_at);
"""

_CATALOG = b""


def _store_owned(profile: Profile, blocks: Iterable[tuple[CID, bytes]]) -> None:
    """Store verified blocks; those that were not here yet are marked as the sync's."""
    db = profile.db
    for cid, data in blocks:
        text = cid_text(cid)
        if not profile.blocks.has(text):
            profile.blocks.put_verified(cid, data)
            db.execute("INSERT OR IGNORE INTO net_owned_blocks (cid) VALUES (?)", (text,))


def store_listing_blocks(
    profile: Profile,
    seller: bytes,
    listings: Sequence[SignedListing],
    blocks: Iterable[tuple[CID, bytes]],
) -> None:
    """Part of a sync still running: the listings' documents and ``blocks`` (thumbnails of
    these or earlier listings of the same sync), with the listings' reference rows."""
    _store_owned(profile, [(item.cid, item.data) for item in listings])
    _store_owned(profile, blocks)
    profile.db.executemany(
        "DELETE FROM net_block_refs WHERE seller = ? AND listing_id = ?",
        [(seller, item.body.listing_id) for item in listings],
    )
    _insert_listing_refs(profile.db, seller, listings)


def _insert_listing_refs(db: Database, seller: bytes, listings: Iterable[SignedListing]) -> None:
    refs: list[tuple[str, bytes, bytes, int | None]] = []
    for item in listings:
        body = item.body
        refs += [
            (c, seller, body.listing_id, body.expires_at) for c in _listing_cids(item.cid, body)
        ]
    db.executemany(
        "INSERT OR REPLACE INTO net_block_refs (cid, seller, listing_id, expires_at)"
        " VALUES (?, ?, ?, ?)",
        refs,
    )


def store_update_blocks(profile: Profile, update: CatalogUpdate) -> None:
    """Store the update's verified blocks and record why each is kept."""
    db = profile.db
    seller = update.head.body.seller
    _store_owned(profile, update.blocks)
    # The previous catalog block and the blocks of changed or removed listings lose their
    # reason to be kept; the new catalog and the added listings gain one.
    stale: Iterable[bytes] = [
        _CATALOG,
        *update.removed,
        *(item.body.listing_id for item in update.added),
    ]
    db.executemany(
        "DELETE FROM net_block_refs WHERE seller = ? AND listing_id = ?",
        [(seller, listing_id) for listing_id in stale],
    )
    db.execute(
        "INSERT OR REPLACE INTO net_block_refs (cid, seller, listing_id, expires_at)"
        " VALUES (?, ?, ?, NULL)",
        (cid_text(update.catalog.cid), seller, _CATALOG),
    )
    _insert_listing_refs(db, seller, update.added)


def _listing_cids(cid: CID, body: ListingBody) -> list[str]:
    """The listing document's CID and every image block it names (full and thumbnail)."""
    out = [cid_text(cid)]
    for img in body.images:
        out += [cid_text(img.full), cid_text(img.thumb)]
    return out


@dataclass(frozen=True)
class ImageOrigin:
    """Why this device may fetch an image: a synced listing of ``seller`` names it."""

    seller: bytes
    listing_id: bytes


def image_origin(db: Database, cid: str, now: int) -> ImageOrigin | None:
    """The live synced listing that names image ``cid``, or None (then nobody may fetch it)."""
    row = db.query_one(
        "SELECT seller, listing_id FROM net_block_refs WHERE cid = ? AND listing_id != ?"
        " AND (expires_at IS NULL OR expires_at > ?) LIMIT 1",
        (cid, _CATALOG, now),
    )
    return None if row is None else ImageOrigin(bytes(row[0]), bytes(row[1]))


def store_fetched_block(profile: Profile, cid: CID, data: bytes) -> None:
    """Keep a block fetched on demand (verified against ``cid`` by the caller and again here).

    It is marked as owned by the sync, so garbage collection deletes it once no listing
    names it any more (its reference row was written when the listing was synced).
    """
    with profile.db.transaction():
        text = cid_text(cid)
        if not profile.blocks.has(text):
            profile.blocks.put_verified(cid, data)
            profile.db.execute("INSERT OR IGNORE INTO net_owned_blocks (cid) VALUES (?)", (text,))


def backfill_listing_refs(profile: Profile) -> int:
    """Reference rows for the images of listings synced before schema 3 (which kept rows only
    for stored blocks); returns how many listings were read. Runs once, in the migration's
    transaction: a listing block that is missing or does not parse is skipped."""
    db = profile.db
    rows = db.query("SELECT seller, listing_id, cid FROM net_listings")
    refs: list[tuple[str, bytes, bytes, int | None]] = []
    for seller, listing_id, cid in rows:
        data = profile.blocks.get(str(cid))
        if data is None:
            continue
        try:
            signed = parse_listing(data, expected_cid=parse_cid(str(cid)))
        except Exception:  # noqa: BLE001, S112 - a damaged block: its listing keeps old rows
            continue
        body = signed.body
        refs += [
            (c, bytes(seller), bytes(listing_id), body.expires_at)
            for c in _listing_cids(signed.cid, body)
        ]
    db.executemany(
        "INSERT OR IGNORE INTO net_block_refs (cid, seller, listing_id, expires_at)"
        " VALUES (?, ?, ?, ?)",
        refs,
    )
    return len(rows)


def collect_garbage(db: Database, now: int, keep: Set[str]) -> int:
    """Delete owned blocks that no live reference needs; returns how many were deleted."""
    with db.transaction():
        db.execute(
            "DELETE FROM net_block_refs WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
        )
        rows = db.query(
            "SELECT cid FROM net_owned_blocks WHERE cid NOT IN (SELECT cid FROM net_block_refs)"
        )
        doomed = [str(r[0]) for r in rows if str(r[0]) not in keep]
        db.executemany("DELETE FROM blocks WHERE cid = ?", [(c,) for c in doomed])
        db.executemany("DELETE FROM net_owned_blocks WHERE cid = ?", [(c,) for c in doomed])
    return len(doomed)


def live_referenced(db: Database, cids: Sequence[str], now: int) -> set[str]:
    """Those of ``cids`` that a synced catalog names now: its catalog block, or a listing
    document or image of a listing that has not expired (what any peer may fetch)."""
    out: set[str] = set()
    for cid in dict.fromkeys(cids):
        row = db.query_one(
            "SELECT 1 FROM net_block_refs WHERE cid = ? AND (expires_at IS NULL OR expires_at > ?)"
            " LIMIT 1",
            (cid, now),
        )
        if row is not None:
            out.add(cid)
    return out
