"""Writing the search index: batched upserts and deletes over its three tables.

Rules:
- One entry per (seller, listing_id); a higher revision replaces it, anything else is ignored.
- A listing's id is ``created_at << 20 | slot`` so that rowid order is age order (see
  ``_schema``); the slot comes from a CRC of (seller, listing_id), moved on if taken.
- A batch is written with ``executemany`` in ascending id order. Both matter for speed: per
  row Python overhead is most of the cost of small statements, and FTS5 flushes its buffer of
  pending terms whenever a rowid is not larger than the previous one in the transaction.
"""

import json
import zlib
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from umbra.core import MAX_AMOUNT, UsageError

from . import _facets as facets
from ._database import Database
from ._errors import StoreError
from ._search_types import IndexEntry

ID_SHIFT = 20
_SLOTS = 1 << ID_SHIFT
_MAX_ID_TIME = (1 << 42) - 1
# Rows per "IN (...)" lookup: far below SQLite's limit on bound parameters.
_CHUNK = 400

_T = TypeVar("_T")

_TEXT_COLUMNS = "(id, title, tags, description, facets) VALUES (?, ?, ?, ?, ?)"


def upsert_entries(db: Database, entries: Iterable[IndexEntry]) -> int:
    """Store every entry that is newer than what is indexed; returns how many were stored.

    Call inside a transaction. The outcome is that of storing the entries one by one in
    the given order.
    """
    latest: dict[tuple[bytes, bytes], IndexEntry] = {}
    for entry in entries:
        if not 0 <= entry.price <= MAX_AMOUNT:
            raise UsageError(f"price {entry.price} is out of range")
        key = (entry.seller, entry.listing_id)
        if key not in latest or entry.revision > latest[key].revision:
            latest[key] = entry
    existing = _existing(db, list(latest))
    fresh = [
        entry
        for key, entry in latest.items()
        if key not in existing or entry.revision > existing[key][1]
    ]
    if not fresh:
        return 0
    replaced = sorted(
        existing[(e.seller, e.listing_id)][0] for e in fresh if (e.seller, e.listing_id) in existing
    )
    for chunk in _chunks(replaced):
        delete_where(db, f"id IN ({_marks(chunk)})", tuple(chunk))
    rows = sorted(zip(_assign_ids(db, fresh), fresh, strict=True), key=lambda pair: pair[0])
    inserted = db.executemany(
        "INSERT INTO search_listings (id, cid, seller, listing_id, revision, category, price,"
        " ship_regions, ships_from, created_at, expires_at, thumbnail, quantity)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (cid) DO NOTHING",
        [_listing_row(listing, entry) for listing, entry in rows],
    )
    if inserted != len(rows):  # a CID is the hash of a document naming seller and listing
        raise UsageError("a listing CID in this batch is already indexed for another listing")
    texts = [_text_row(listing, entry) for listing, entry in rows]
    db.executemany(f"INSERT INTO search_texts {_TEXT_COLUMNS}", texts)
    db.executemany(f"INSERT INTO search_fts {_TEXT_COLUMNS.replace('id', 'rowid', 1)}", texts)
    return len(rows)


def delete_where(db: Database, condition: str, params: Sequence[Any]) -> int:
    """Delete the listings matching ``condition`` from all three tables; returns how many.

    ``condition`` is a constant SQL fragment over ``search_listings`` with bound values. An
    external-content FTS5 table forgets a row only when told the exact values it indexed,
    so those are read back from ``search_texts`` first (in id order, see module notes).
    """
    chosen = f"SELECT id FROM search_listings WHERE {condition}"  # noqa: S608 (constant)
    forget = (
        "INSERT INTO search_fts (search_fts, rowid, title, tags, description, facets)"  # noqa: S608
        " SELECT 'delete', id, title, tags, description, facets FROM search_texts"
        f" WHERE id IN ({chosen}) ORDER BY id"
    )
    db.execute(forget, params)
    db.execute(f"DELETE FROM search_texts WHERE id IN ({chosen})", params)  # noqa: S608
    return db.execute(f"DELETE FROM search_listings WHERE {condition}", params)  # noqa: S608


def _existing(
    db: Database, keys: list[tuple[bytes, bytes]]
) -> dict[tuple[bytes, bytes], tuple[int, int]]:
    """(id, revision) of the listings already indexed under ``keys``."""
    found: dict[tuple[bytes, bytes], tuple[int, int]] = {}
    for chunk in _chunks(keys):
        pairs = ", ".join("(?, ?)" for _ in chunk)
        rows = db.query(
            "SELECT seller, listing_id, id, revision FROM search_listings"  # noqa: S608
            f" WHERE (seller, listing_id) IN (VALUES {pairs})",
            [part for key in chunk for part in key],
        )
        for seller, listing_id, listing, revision in rows:
            found[(bytes(seller), bytes(listing_id))] = (int(listing), int(revision))
    return found


def _assign_ids(db: Database, entries: list[IndexEntry]) -> list[int]:
    """Free ids for ``entries``: their creation second, and a slot from a CRC of their key."""
    wanted = []
    for entry in entries:
        base = min(max(entry.created_at, 0), _MAX_ID_TIME) << ID_SHIFT
        slot = zlib.crc32(entry.seller + entry.listing_id) % _SLOTS
        wanted.append((base, slot))
    taken: set[int] = set()
    ids: list[int] = []
    for base, slot in wanted:
        candidate = base | slot
        while candidate in taken:
            candidate = base | ((candidate - base + 1) % _SLOTS)
            if candidate == base | slot:
                raise StoreError("too many listings share one creation time; not indexed")
        taken.add(candidate)
        ids.append(candidate)
    # Ids already used by stored listings: move those entries on, and check again.
    while True:
        used = {
            int(row[0])
            for chunk in _chunks(ids)
            for row in db.query(
                f"SELECT id FROM search_listings WHERE id IN ({_marks(chunk)})",  # noqa: S608
                chunk,
            )
        }
        if not used:
            return ids
        for index, listing in enumerate(ids):
            if listing in used:
                base = listing >> ID_SHIFT << ID_SHIFT
                candidate = listing
                while candidate in taken or candidate in used:
                    candidate = base | ((candidate - base + 1) % _SLOTS)
                    if candidate == listing:
                        raise StoreError("too many listings share one creation time; not indexed")
                taken.add(candidate)
                ids[index] = candidate


def _listing_row(listing: int, entry: IndexEntry) -> tuple[Any, ...]:
    return (
        listing,
        entry.cid,
        entry.seller,
        entry.listing_id,
        entry.revision,
        entry.category,
        entry.price,
        json.dumps(list(entry.ship_regions), ensure_ascii=False),
        entry.ships_from,
        entry.created_at,
        entry.expires_at,
        entry.thumbnail,
        entry.quantity,
    )


def _text_row(listing: int, entry: IndexEntry) -> tuple[Any, ...]:
    return (
        listing,
        entry.title,
        json.dumps(list(entry.tags), ensure_ascii=False),
        entry.description,
        facets.facet_text(entry.category, entry.ship_regions, entry.price),
    )


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" * len(values))


def _chunks(values: list[_T]) -> list[list[_T]]:
    return [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]
