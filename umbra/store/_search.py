"""`SearchIndex`: local full-text search over downloaded listings (SQLite FTS5, bm25).

Searching happens on this machine over an index built from catalogs we fetched, so the query
itself never leaves the node (fetching a hit's details still shows interest to whoever serves
them).

Rules:
- One entry per (seller, listing_id); a revision replaces it only if it is higher.
- Expired listings (``expires_at <= now``) never match. The caller passes ``now``.
- User text is never given to MATCH as is (see ``_search_plan``); no input makes a query fail.

The facade only routes: ``_search_write`` stores, ``_search_plan`` and ``_search_read``
answer. It knows nothing of how listings arrive or how results are shown.
"""

from collections.abc import Iterable
from contextlib import nullcontext

from ._database import Database
from ._search_plan import match_expression
from ._search_read import SELECT_ENTRIES, entry_from_row, run_search
from ._search_types import IndexEntry, SearchPage, SearchQuery
from ._search_write import delete_where, upsert_entries

__all__ = ["SearchIndex", "match_expression"]

# A write of at least BULK_ROWS entries runs with a BULK_CACHE_MIB page cache: FTS5 revisits
# many pages per row and each eviction costs a decrypt later (see Database.larger_page_cache).
BULK_ROWS = 1_000
BULK_CACHE_MIB = 128


class SearchIndex:
    """The local search index of one profile."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- writing -------------------------------------------------------------------------------

    def upsert(self, entry: IndexEntry) -> bool:
        """Index ``entry`` unless a same-or-higher revision of that listing is already there.

        Returns:
            True if the entry was stored, False if it was stale and ignored.

        Raises:
            UsageError: the price is out of range, or the CID is indexed for another listing.
        """
        return self.upsert_many([entry]) == 1

    def upsert_many(self, entries: Iterable[IndexEntry]) -> int:
        """`upsert` every entry in one transaction (much faster); returns how many stored."""
        batch = list(entries)
        bulk = len(batch) >= BULK_ROWS
        cache = self._db.larger_page_cache(BULK_CACHE_MIB) if bulk else nullcontext()
        with cache, self._db.transaction():
            return upsert_entries(self._db, batch)

    def remove(self, seller: bytes, listing_id: bytes) -> bool:
        """Drop one listing; returns whether it was indexed."""
        with self._db.transaction():
            return delete_where(self._db, "seller = ? AND listing_id = ?", (seller, listing_id)) > 0

    def remove_seller(self, seller: bytes) -> int:
        """Drop every listing of a seller (e.g. one the user blocked); returns how many."""
        with self._db.transaction():
            return delete_where(self._db, "seller = ?", (seller,))

    def purge_expired(self, now: int) -> int:
        """Drop listings that expired at or before ``now``; returns how many.

        Searches never show expired listings either way; purging keeps the set of rows they
        leave out one by one small, so run it periodically (e.g. at start, then hourly).
        """
        with self._db.transaction():
            return delete_where(self._db, "expires_at <= ?", (now,))

    def clear(self) -> None:
        """Forget every listing (e.g. before rebuilding the index from stored blocks)."""
        with self._db.transaction():
            self._db.execute("INSERT INTO search_fts (search_fts) VALUES ('delete-all')")
            self._db.execute("DELETE FROM search_texts")
            self._db.execute("DELETE FROM search_listings")

    def optimize(self) -> None:
        """Merge the FTS index into one segment and refresh planner statistics.

        Worth calling after a large ingest: fewer segments mean fewer pages per query.
        """
        with self._db.transaction():
            self._db.execute("INSERT INTO search_fts (search_fts) VALUES ('optimize')")
        self._db.execute("ANALYZE")

    # -- reading -------------------------------------------------------------------------------

    def get(self, cid: str) -> IndexEntry | None:
        row = self._db.query_one(f"{SELECT_ENTRIES} WHERE l.cid = ?", (cid,))
        return None if row is None else entry_from_row(row)

    def current(self, seller: bytes, listing_id: bytes) -> IndexEntry | None:
        """The indexed (highest) revision of one listing, e.g. to follow an older link."""
        row = self._db.query_one(
            f"{SELECT_ENTRIES} WHERE l.seller = ? AND l.listing_id = ?", (seller, listing_id)
        )
        return None if row is None else entry_from_row(row)

    def count(self) -> int:
        """How many listings are indexed, expired ones included."""
        return int(self._db.scalar("SELECT count(*) FROM search_listings"))

    def search(self, query: SearchQuery) -> SearchPage:
        """Run a query; never raises because of what the text or filters contain."""
        return run_search(self._db, query)
