"""Local full-text search over downloaded listings (SQLite FTS5, bm25 ranking).

Searching happens on this machine over an index built from catalogs we fetched, so the query
itself never leaves the node (fetching a hit's details still shows interest to whoever serves
them).

Rules:
- User text is never given to MATCH as is: it is cut into words (Unicode letters and digits),
  each word is quoted as an FTS5 string, the last one gets a prefix match, and the whole is
  restricted to the title, tags and description columns. So operators typed by a user (``"``,
  ``*``, ``NEAR``, ``-``, ``:``, parentheses) are plain text and no input can break a query.
- One entry per (seller, listing_id); a revision replaces it only if it is higher.
- Expired listings (``expires_at <= now``) never match. The caller passes ``now``.

How a query runs (the work stays bounded at 100k+ listings):
- Filters other than expiry and exact price edges are facet tokens (``_facets``), so FTS5
  computes the matching set and its exact count by merging doclists. Expired listings and the
  listings at the edges of a price range are removed by ``rowid NOT IN`` a small set read
  from an index; expired listings should be purged regularly (`SearchIndex.purge_expired`)
  to keep that set small.
- "newest" walks rowids downwards (ids grow with ``created_at``).
- "relevance" computes bm25 for every match when there are at most `RANK_WINDOW` of them.
  Above that it ranks the newest `RANK_WINDOW` matches and lists the older ones after them,
  newest first: bm25 costs a few microseconds per row, and a one-word query can match half
  the index. Every match is still reachable by paging and counted in the total.
- "price" sorts the matches when there are few, else walks the price index and keeps the
  rows that are in the match set.
"""

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from umbra.core import EU_MEMBERS, EUROPEAN_UNION, MAX_AMOUNT, WORLDWIDE, UsageError

from . import _facets as facets
from ._database import Database, Row
from ._errors import StoreError
from ._snippets import make_snippet, plain_snippet

Sort = Literal["relevance", "price", "newest"]
SORTS: tuple[str, ...] = get_args(Sort)

MAX_LIMIT = 100
MAX_OFFSET = 10_000
MAX_QUERY_WORDS = 10
RANK_WINDOW = 2_000
SORT_WINDOW = 4_000
_MAX_QUERY_CHARS = 1_000
# A one-letter prefix expands to a large share of the vocabulary; it is matched as a word.
_MIN_PREFIX_CHARS = 2
_TEXT_COLUMNS = "{title tags description}"
# Column weights title 10, tags 5, description 1, facets 0. Called directly rather than via
# the table's configured rank: measured about twice as fast per row.
_BM25 = "bm25(search_fts, 10.0, 5.0, 1.0, 0.0)"
# Ids are created_at << 20 | n, so they sort by age and up to 2^20 listings share a second.
_ID_SHIFT = 20
_MAX_ID_TIME = (1 << 42) - 1

_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class IndexEntry:
    """What the index keeps of one listing revision (taken from a verified listing)."""

    cid: str
    seller: bytes
    listing_id: bytes
    revision: int
    title: str
    description: str
    tags: tuple[str, ...]
    category: str
    price: int  # piconero
    ship_regions: tuple[str, ...]  # ISO 3166-1 alpha-2, "WW" worldwide or "EU"
    ships_from: str
    created_at: int
    expires_at: int
    thumbnail: str | None


@dataclass(frozen=True, kw_only=True)
class SearchQuery:
    """One search: free text plus filters. Empty ``text`` browses everything that passes.

    ``now`` is required rather than read from the clock, so expiry is testable and the
    whole query is a value.
    """

    text: str = ""
    category: str | None = None  # "electronics" also matches "electronics/phones"
    max_price: int | None = None
    min_price: int | None = None
    ships_to: str | None = None  # a country code; matches WW and, for EU members, EU
    sort: Sort = "relevance"
    limit: int = 20
    offset: int = 0
    now: int

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise UsageError(f"unknown sort {self.sort!r}; use one of {', '.join(SORTS)}")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise UsageError(f"limit must be between 1 and {MAX_LIMIT}")
        if not 0 <= self.offset <= MAX_OFFSET:
            raise UsageError(f"offset must be between 0 and {MAX_OFFSET}")
        for bound in (self.min_price, self.max_price):
            if bound is not None and bound < 0:
                raise UsageError("prices cannot be negative")


@dataclass(frozen=True)
class SearchHit:
    """One result: the entry, its bm25 score and a snippet of its description.

    ``score`` is higher for better matches; it is 0.0 unless the results are sorted by
    relevance of a text query. In ``snippet`` the query words sit between `SNIPPET_START`
    and `SNIPPET_END`.
    """

    entry: IndexEntry
    score: float
    snippet: str


@dataclass(frozen=True)
class SearchPage:
    """One page of results and how many results there are in all."""

    hits: tuple[SearchHit, ...]
    total: int


def query_words(text: str) -> list[str]:
    """The words of user text that a search uses (letters and digits; at most ten)."""
    # NFC first: a decomposed "é" would otherwise split the word at its combining accent.
    return _WORD.findall(unicodedata.normalize("NFC", text[:_MAX_QUERY_CHARS]))[:MAX_QUERY_WORDS]


def match_expression(text: str) -> str | None:
    """The FTS5 MATCH expression for user text, or None if it has no words.

    Each word becomes a quoted FTS5 string (implicit AND between them); the last word, if it
    has at least two characters, becomes a prefix query so results appear while typing.
    """
    words = query_words(text)
    if not words:
        return None
    # Words hold only letters and digits, so they cannot contain '"' or end the string.
    parts = [f'"{word}"' for word in words]
    if len(words[-1]) >= _MIN_PREFIX_CHARS:
        parts[-1] += "*"
    return f"{_TEXT_COLUMNS} : ({' '.join(parts)})"


def ship_regions_for(destination: str) -> tuple[str, ...]:
    """Listing regions that cover shipping to ``destination``."""
    regions = [destination, WORLDWIDE]
    if destination in EU_MEMBERS:
        regions.append(EUROPEAN_UNION)
    return tuple(dict.fromkeys(regions))


@dataclass(frozen=True)
class _Plan:
    """A query turned into SQL pieces: the FTS match (None: no text and no facets) and the
    ``NOT IN`` set of rows to drop."""

    match: str | None
    exclude: str | None
    params: dict[str, Any]
    words: list[str]
    empty: bool = False


def _plan(query: SearchQuery) -> _Plan:
    words = query_words(query.text)
    text = match_expression(query.text)
    parts = [] if text is None else [text]
    params: dict[str, Any] = {"now": query.now}
    excluded = ["SELECT id FROM search_listings WHERE expires_at <= :now"]
    category = facets.normalize_category(query.category or "")
    if category:
        parts.append(f'facets : "{facets.category_token(category)}"')
    destination = (query.ships_to or "").strip().upper()
    if destination:
        tokens = (f'"{facets.region_token(r)}"' for r in ship_regions_for(destination))
        parts.append(f"facets : ({' OR '.join(tokens)})")
    low = min(query.min_price or 0, MAX_AMOUNT + 1)
    high = MAX_AMOUNT if query.max_price is None else min(query.max_price, MAX_AMOUNT)
    if low > high:
        return _Plan(None, None, params, words, empty=True)
    params.update(low=low, high=high)
    if low > 0 or high < MAX_AMOUNT:
        tokens = (f'"{token}"' for token in facets.price_range_tokens(low, high))
        parts.append(f"facets : ({' OR '.join(tokens)})")
        for i, (start, end) in enumerate(facets.price_edge_ranges(low, high)):
            excluded.append(
                "SELECT id FROM search_listings"  # noqa: S608 (placeholder names only)
                f" WHERE price BETWEEN :edge{i}a AND :edge{i}b"
            )
            params.update({f"edge{i}a": start, f"edge{i}b": end})
    match = " AND ".join(parts) if parts else None
    if match is not None:
        params["match"] = match
    return _Plan(match, " UNION ALL ".join(excluded), params, words)


class SearchIndex:
    """The local search index of one profile. Knows nothing of how listings arrive."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- writing -------------------------------------------------------------------------------

    def upsert(self, entry: IndexEntry) -> bool:
        """Index ``entry`` unless a same-or-higher revision of that listing is already there.

        Returns:
            True if the entry was stored, False if it was stale and ignored.
        """
        with self._db.transaction():
            return self._upsert(entry)

    def upsert_many(self, entries: Iterable[IndexEntry]) -> int:
        """`upsert` every entry in one transaction; returns how many listings changed.

        Same outcome as calling `upsert` in order. The entries are written in ``created_at``
        order, which is id order: FTS5 flushes its buffer of pending terms whenever a rowid
        is not larger than the previous one in the transaction, and written in arrival
        order that happened on almost every row (about five times slower).
        """
        latest: dict[tuple[bytes, bytes], IndexEntry] = {}
        for entry in entries:
            key = (entry.seller, entry.listing_id)
            if key not in latest or entry.revision > latest[key].revision:
                latest[key] = entry
        with self._db.transaction():
            return sum(self._upsert(entry) for entry in sorted(latest.values(), key=_by_creation))

    def _upsert(self, entry: IndexEntry) -> bool:
        if not 0 <= entry.price <= MAX_AMOUNT:
            raise UsageError(f"price {entry.price} is out of range")
        existing = self._db.query_one(
            "SELECT id, revision FROM search_listings WHERE seller = ? AND listing_id = ?",
            (entry.seller, entry.listing_id),
        )
        if existing is not None and existing[1] >= entry.revision:
            return False
        if existing is not None:
            # Replaced whole: the id depends on created_at, and FTS5 needs delete + insert.
            self._delete("id = ?", (existing[0],))
        listing = self._new_id(entry.created_at)
        inserted = self._db.execute(
            "INSERT INTO search_listings (id, cid, seller, listing_id, revision, category,"
            " price, ship_regions, ships_from, created_at, expires_at, thumbnail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (cid) DO NOTHING",
            (
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
            ),
        )
        if inserted == 0:  # a CID is the hash of a document naming seller and listing id
            raise UsageError(f"{entry.cid} is already indexed for another listing")
        texts = (
            listing,
            entry.title,
            json.dumps(list(entry.tags), ensure_ascii=False),
            entry.description,
            facets.facet_text(entry.category, entry.ship_regions, entry.price),
        )
        columns = "(id, title, tags, description, facets) VALUES (?, ?, ?, ?, ?)"
        self._db.execute(f"INSERT INTO search_texts {columns}", texts)
        self._db.execute(f"INSERT INTO search_fts {columns.replace('id', 'rowid', 1)}", texts)
        return True

    def _delete(self, condition: str, params: tuple[Any, ...]) -> int:
        """Delete the listings matching ``condition`` from all three tables; returns how many.

        An external-content FTS5 table forgets a row only when told the exact values it
        indexed, so those are read back from ``search_texts`` first.
        """
        # ``condition`` is one of the constant fragments of this class; values are bound.
        chosen = f"SELECT id FROM search_listings WHERE {condition}"  # noqa: S608
        forget = (
            "INSERT INTO search_fts (search_fts, rowid, title, tags, description, facets)"  # noqa: S608
            " SELECT 'delete', id, title, tags, description, facets FROM search_texts"
            f" WHERE id IN ({chosen})"
        )
        self._db.execute(forget, params)
        self._db.execute(f"DELETE FROM search_texts WHERE id IN ({chosen})", params)  # noqa: S608
        return self._db.execute(f"DELETE FROM search_listings WHERE {condition}", params)  # noqa: S608

    def clear(self) -> None:
        """Forget every listing (e.g. before rebuilding the index from stored blocks)."""
        with self._db.transaction():
            self._db.execute("INSERT INTO search_fts (search_fts) VALUES ('delete-all')")
            self._db.execute("DELETE FROM search_texts")
            self._db.execute("DELETE FROM search_listings")

    def _new_id(self, created_at: int) -> int:
        base = min(max(created_at, 0), _MAX_ID_TIME) << _ID_SHIFT
        top = self._db.scalar(
            "SELECT max(id) FROM search_listings WHERE id BETWEEN ? AND ?",
            (base, base + (1 << _ID_SHIFT) - 1),
        )
        if top is None:
            return base
        if top + 1 < base + (1 << _ID_SHIFT):
            return int(top) + 1
        raise StoreError("too many listings share one creation time; not indexed")

    def remove(self, seller: bytes, listing_id: bytes) -> bool:
        """Drop one listing; returns whether it was indexed."""
        with self._db.transaction():
            return self._delete("seller = ? AND listing_id = ?", (seller, listing_id)) > 0

    def remove_seller(self, seller: bytes) -> int:
        """Drop every listing of a seller (e.g. one the user blocked); returns how many."""
        with self._db.transaction():
            return self._delete("seller = ?", (seller,))

    def purge_expired(self, now: int) -> int:
        """Drop listings that expired at or before ``now``; returns how many.

        Searches never show expired listings either way; purging keeps the set they exclude
        row by row small, so run it periodically (e.g. at start and then hourly).
        """
        with self._db.transaction():
            return self._delete("expires_at <= ?", (now,))

    def optimize(self) -> None:
        """Merge the FTS index into one segment and refresh planner statistics.

        Worth calling after a large ingest: fewer segments mean fewer pages per query.
        """
        with self._db.transaction():
            self._db.execute("INSERT INTO search_fts (search_fts) VALUES ('optimize')")
        self._db.execute("ANALYZE")

    # -- reading -------------------------------------------------------------------------------

    def get(self, cid: str) -> IndexEntry | None:
        row = self._db.query_one(f"{_SELECT_ENTRIES} WHERE l.cid = ?", (cid,))
        return None if row is None else _entry_from_row(row)

    def count(self) -> int:
        """How many listings are indexed, expired ones included."""
        return int(self._db.scalar("SELECT count(*) FROM search_listings"))

    def search(self, query: SearchQuery) -> SearchPage:
        """Run a query; never raises because of what the text contains.

        The SQL is assembled from constant fragments chosen by which filters are set; every
        value, the MATCH expression included, is a bound parameter.
        """
        plan = _plan(query)
        if plan.empty:
            return SearchPage((), 0)
        if plan.match is None:
            total, ids, scores = self._browse(query, plan)
        else:
            total, ids, scores = self._matching(query, plan)
        return SearchPage(self._hits(ids, scores, plan, query), total)

    def _browse(self, query: SearchQuery, plan: _Plan) -> tuple[int, list[int], dict[int, float]]:
        """No text and no facet filters: read the listings table in id or price order."""
        params = {**plan.params, "limit": query.limit, "offset": query.offset}
        order = "price, id" if query.sort == "price" else "id DESC"
        ids = self._ids(
            "SELECT id FROM search_listings WHERE expires_at > :now"  # noqa: S608 (constant)
            f" ORDER BY {order} LIMIT :limit OFFSET :offset",
            params,
        )
        total = self._db.scalar(
            "SELECT count(*) FROM search_listings WHERE expires_at > :now", plan.params
        )
        return int(total), ids, {}

    def _matching(self, query: SearchQuery, plan: _Plan) -> tuple[int, list[int], dict[int, float]]:
        # Only a handful of rows are expired or at price edges: skip the clause if none are.
        drop = ""
        if self._db.query_one(f"{plan.exclude} LIMIT 1", plan.params) is not None:
            drop = f" AND f.rowid NOT IN ({plan.exclude})"
        matches = f"FROM search_fts f WHERE search_fts MATCH :match{drop}"
        total = int(self._db.scalar(f"SELECT count(*) {matches}", plan.params))
        if total <= query.offset:
            return total, [], {}
        page = {**plan.params, "limit": query.limit, "offset": query.offset}
        if query.sort == "price":
            if total <= SORT_WINDOW:
                sql = (
                    "SELECT l.id FROM search_fts f CROSS JOIN search_listings l"  # noqa: S608
                    f" ON l.id = f.rowid WHERE search_fts MATCH :match{drop}"
                )
            else:
                sql = (
                    "SELECT l.id FROM search_listings l INDEXED BY search_listings_price"  # noqa: S608
                    " WHERE l.price BETWEEN :low AND :high"
                    f" AND l.id IN (SELECT f.rowid {matches})"
                )
            sql += " ORDER BY l.price, l.id LIMIT :limit OFFSET :offset"
            return total, self._ids(sql, page), {}
        if query.sort == "newest" or not plan.words:
            sql = f"SELECT f.rowid {matches} ORDER BY f.rowid DESC LIMIT :limit OFFSET :offset"
            return total, self._ids(sql, page), {}
        return total, *self._ranked(query, matches, total, page)

    def _ranked(
        self, query: SearchQuery, matches: str, total: int, page: dict[str, Any]
    ) -> tuple[list[int], dict[int, float]]:
        """bm25 order over all matches, or over the newest RANK_WINDOW then by age."""
        if total <= RANK_WINDOW:
            rows = self._db.query(
                f"SELECT f.rowid, {_BM25} {matches}"
                " ORDER BY 2, f.rowid LIMIT :limit OFFSET :offset",
                page,
            )
            return [int(r[0]) for r in rows], {int(r[0]): -float(r[1]) for r in rows}
        cutoff = self._db.scalar(
            f"SELECT f.rowid {matches} ORDER BY f.rowid DESC LIMIT 1 OFFSET :window",
            {**page, "window": RANK_WINDOW - 1},
        )
        rows = []
        if query.offset < RANK_WINDOW:
            rows = self._db.query(
                f"SELECT f.rowid, {_BM25} {matches} AND f.rowid >= :cutoff"
                " ORDER BY 2, f.rowid LIMIT :limit OFFSET :offset",
                {**page, "cutoff": cutoff},
            )
        ids = [int(r[0]) for r in rows]
        scores = {int(r[0]): -float(r[1]) for r in rows}
        if len(ids) < query.limit:
            ids += self._ids(
                f"SELECT f.rowid {matches} AND f.rowid < :cutoff"
                " ORDER BY f.rowid DESC LIMIT :limit OFFSET :offset",
                {
                    **page,
                    "cutoff": cutoff,
                    "limit": query.limit - len(ids),
                    "offset": max(0, query.offset - RANK_WINDOW),
                },
            )
        return ids, scores

    def _ids(self, sql: str, params: dict[str, Any]) -> list[int]:
        return [int(row[0]) for row in self._db.query(sql, params)]

    def _hits(
        self, ids: list[int], scores: dict[int, float], plan: _Plan, query: SearchQuery
    ) -> tuple[SearchHit, ...]:
        if not ids:
            return ()
        marks = ", ".join("?" * len(ids))
        rows = self._db.query(f"{_SELECT_ENTRIES} WHERE l.id IN ({marks})", ids)
        entries = {int(row[0]): _entry_from_row(row) for row in rows}
        prefix_last = bool(plan.words) and len(plan.words[-1]) >= _MIN_PREFIX_CHARS
        hits = []
        for listing in ids:
            entry = entries[listing]
            if plan.words:
                snippet = make_snippet(entry.description, plan.words, prefix_last=prefix_last)
            else:
                snippet = plain_snippet(entry.description)
            hits.append(SearchHit(entry, scores.get(listing, 0.0), snippet))
        return tuple(hits)


def _by_creation(entry: IndexEntry) -> int:
    return entry.created_at


_SELECT_ENTRIES = (
    "SELECT l.id, l.cid, l.seller, l.listing_id, l.revision, l.category, l.price,"
    " l.ship_regions, l.ships_from, l.created_at, l.expires_at, l.thumbnail,"
    " t.title, t.tags, t.description"
    " FROM search_listings l JOIN search_texts t ON t.id = l.id"
)


def _entry_from_row(row: Row) -> IndexEntry:
    (
        _id,
        cid,
        seller,
        listing_id,
        revision,
        category,
        price,
        regions,
        ships_from,
        created_at,
        expires_at,
        thumbnail,
        title,
        tags,
        description,
    ) = row
    return IndexEntry(
        cid=cid,
        seller=bytes(seller),
        listing_id=bytes(listing_id),
        revision=int(revision),
        title=title,
        description=description,
        tags=tuple(json.loads(tags)),
        category=category,
        price=int(price),
        ship_regions=tuple(json.loads(regions)),
        ships_from=ships_from,
        created_at=int(created_at),
        expires_at=int(expires_at),
        thumbnail=thumbnail,
    )
