"""Answering a search: choose how to read, then read as little as the answer needs.

Measured facts this design follows (100k listings, this 2-core machine): every FTS5 MATCH
evaluation of a prefix longer than the prefix index (``"availa"*``) first merges the doclists
of all its terms (5-10 ms for a common word); a word or a short prefix is read lazily (well
under 1 ms for a few hundred rows); bm25 costs 10-20 µs per row; looking a row up in the
listings table about 2 µs. So:

- Only price and expiry filters, no text: the ``(price, expires_at)`` index or the rowid
  order (ids grow with ``created_at``) answers directly; FTS5 is not involved.
- A last word longer than the prefix index (``"availa"*``) is first replaced by the index
  terms it stands for (``search_vocab``), so every MATCH below reads lazily.
- Otherwise one FTS5 query reads the newest `COUNT_CAP` + 1 matches (rowids descending,
  native in FTS5), which gives the count and, per sort:
  - newest: the page itself;
  - relevance: bm25 for the newest `RANK_WINDOW` of them, best first; older matches
    follow, newest first. Exact when there are at most `RANK_WINDOW` matches. The window is
    scored in a second query that holds only the text: bm25 weighs each phrase of its MATCH
    by reading that phrase's whole doclist, and filter tokens have huge ones.
  - price: with at most `COUNT_CAP` matches, their prices (sorted here). Above that, the
    newest matches are a sample of all of them: if they are a fraction f of the time span of
    the index, about f of all matches are in it, so the page's ``need``-th cheapest match
    overall is likely below the sample's ``PRICE_SAMPLE_MARGIN * need * f``-th price. Only
    the matches up to that price are sorted (a few times ``need`` rows instead of thousands);
    if fewer than ``need`` are that cheap, the sample's ``need``-th price, a sure bound, is
    used instead (a binary search over the price buckets finds it when paging deeper).
- Counts stop at `COUNT_CAP`: above it ``total`` is a lower bound and ``total_exact`` False.
- Expired listings and the listings at the edges of a price range are left out by
  ``rowid NOT IN`` a small set read from an index (purging expired listings keeps it small).
"""

import json
import math
from dataclasses import dataclass
from typing import Any

from . import _facets as facets
from ._database import Database, Row
from ._search_plan import Match, Plan, build_plan
from ._search_types import IndexEntry, SearchHit, SearchPage, SearchQuery
from ._snippets import make_snippet, plain_snippet

COUNT_CAP = 1_000
RANK_WINDOW = 250
# How much cheaper than the sure bound the first price sort tries: the sample's rank that is
# expected to hold this many times the rows a page needs (see `tight_price_rank`).
PRICE_SAMPLE_MARGIN = 3
# Longest prefix the FTS index keeps ready (``prefix = '2 3'`` in the schema).
_INDEXED_PREFIX = 3
_MAX_EXPANSION = 32
# Column weights title 10, tags 5, description 1, facets 0. Called directly rather than via
# the table's configured rank: measured about twice as fast per row.
_BM25 = "bm25(search_fts, 10.0, 5.0, 1.0, 0.0)"

SELECT_ENTRIES = (
    "SELECT l.id, l.cid, l.seller, l.listing_id, l.revision, l.category, l.price,"
    " l.ship_regions, l.ships_from, l.created_at, l.expires_at, l.thumbnail, l.quantity,"
    " t.title, t.tags, t.description"
    " FROM search_listings l JOIN search_texts t ON t.id = l.id"
)


def run_search(db: Database, query: SearchQuery) -> SearchPage:
    plan = build_plan(query)
    if plan.empty:
        return SearchPage((), 0)
    scores: dict[int, float] = {}
    if not plan.uses_fts:
        total, ids = _from_table(db, plan, query)
    else:
        plan = _expand_prefix(db, plan)
        matches = _Matches(db, plan.match())
        if query.sort == "price":
            total, ids = _by_price(db, plan, query, matches)
        elif query.sort == "newest" or not plan.words:
            wanted = max(COUNT_CAP + 1, query.offset + query.limit)
            rows = matches.newest(wanted)
            total = _Total.of(len(rows), wanted)
            ids = rows[query.offset : query.offset + query.limit]
        else:
            total, ids, scores = _by_relevance(db, plan, query, matches)
    return SearchPage(_hits(db, ids, scores, plan), total.value, total.exact)


@dataclass(frozen=True)
class _Total:
    value: int
    exact: bool

    @classmethod
    def of(cls, found: int, wanted: int) -> "_Total":
        """From reading up to ``wanted`` matches and finding ``found``."""
        if found < wanted:
            return cls(found, True)  # read them all
        return cls(COUNT_CAP if found == COUNT_CAP + 1 else found, False)


def _from_table(db: Database, plan: Plan, query: SearchQuery) -> tuple[_Total, list[int]]:
    """No text and no facets: read ``search_listings`` in price or id (age) order."""
    params = {"now": plan.now, "low": plan.low, "high": plan.high, "cap": COUNT_CAP + 1}
    where = "price BETWEEN :low AND :high AND expires_at > :now"
    found = int(
        db.scalar(
            "SELECT count(*) FROM (SELECT 1 FROM search_listings"  # noqa: S608 (constant)
            f" INDEXED BY search_listings_price WHERE {where} LIMIT :cap)",
            params,
        )
    )
    if query.sort == "price":
        order = "INDEXED BY search_listings_price WHERE {} ORDER BY price, id"
    elif found <= COUNT_CAP:  # few rows: take them from the price index, then sort
        order = "INDEXED BY search_listings_price WHERE {} ORDER BY id DESC"
    else:  # many rows: walk the newest first and stop at the page
        order = "NOT INDEXED WHERE {} ORDER BY id DESC"
    ids = _ids(
        db,
        f"SELECT id FROM search_listings {order.format(where)} LIMIT :limit OFFSET :offset",  # noqa: S608
        {**params, "limit": query.limit, "offset": query.offset},
    )
    return _Total.of(found, COUNT_CAP + 1), ids


class _Matches:
    """Queries over the set of listings one FTS5 expression selects (minus excluded rows)."""

    def __init__(self, db: Database, match: Match) -> None:
        self._db = db
        self._params = match.params
        # Usually no row is expired or at a price edge: then skip the NOT IN entirely.
        drop = ""
        if db.query_one(f"{match.excluded} LIMIT 1", match.params) is not None:
            drop = f" AND f.rowid NOT IN ({match.excluded})"
        self._from = f"FROM search_fts f WHERE search_fts MATCH :match{drop}"

    def _query(self, sql: str, **extra: Any) -> list[Row]:
        return self._db.query(sql, {**self._params, **extra})

    def count(self, cap: int) -> int:
        sql = f"SELECT count(*) FROM (SELECT 1 {self._from} LIMIT :cap)"  # noqa: S608
        return int(self._query(sql, cap=cap)[0][0])

    def newest(self, limit: int, offset: int = 0, *, below: int | None = None) -> list[int]:
        bound = "" if below is None else " AND f.rowid < :below"
        rows = self._query(
            f"SELECT f.rowid {self._from}{bound} ORDER BY f.rowid DESC LIMIT :limit OFFSET :offset",
            limit=limit,
            offset=offset,
            below=below,
        )
        return [int(row[0]) for row in rows]

    def newest_priced(self, limit: int) -> list[tuple[int, int]]:
        """(rowid, price) of the newest ``limit`` matches."""
        rows = self._query(
            f"SELECT m.id, l.price FROM (SELECT f.rowid AS id {self._from}"  # noqa: S608
            " ORDER BY f.rowid DESC LIMIT :limit) m CROSS JOIN search_listings l ON l.id = m.id",
            limit=limit,
        )
        return [(int(rowid), int(price)) for rowid, price in rows]

    def cheapest(self, count: int) -> list[int]:
        """Ids of the ``count`` cheapest matches (price, then id)."""
        return self.by_price(count, 0)

    def by_price(self, limit: int, offset: int) -> list[int]:
        rows = self._query(
            f"SELECT l.id FROM (SELECT f.rowid AS id {self._from}) m"  # noqa: S608
            " CROSS JOIN search_listings l ON l.id = m.id"
            " ORDER BY l.price, l.id LIMIT :limit OFFSET :offset",
            limit=limit,
            offset=offset,
        )
        return [int(row[0]) for row in rows]


def _by_relevance(
    db: Database, plan: Plan, query: SearchQuery, matches: _Matches
) -> tuple[_Total, list[int], dict[int, float]]:
    newest = matches.newest(COUNT_CAP + 1)
    total = _Total.of(len(newest), COUNT_CAP + 1)
    window = newest[:RANK_WINDOW]
    # Scored in a second query that holds only the text: bm25 weighs each phrase of its
    # MATCH by reading the phrase's whole doclist, and filter tokens have huge ones.
    ranked = sorted(_score_text(db, plan, window), key=lambda pair: (-pair[1], pair[0]))
    page = ranked[query.offset : query.offset + query.limit]
    ids = [rowid for rowid, _ in page]
    if len(ids) < query.limit and len(newest) > RANK_WINDOW:  # older ones, newest first
        skip = max(0, query.offset - RANK_WINDOW)
        older = newest[RANK_WINDOW:]
        if skip + query.limit - len(ids) <= len(older):
            ids += older[skip : skip + query.limit - len(ids)]
        else:
            ids += matches.newest(query.limit - len(ids), skip, below=min(window))
            if ids:  # they exist, so there are at least this many
                total = _Total(max(total.value, query.offset + len(ids)), total.exact)
    return total, ids, dict(page)


def _score_text(db: Database, plan: Plan, rowids: list[int]) -> list[tuple[int, float]]:
    """bm25 of the text of ``plan`` for ``rowids``, as (rowid, score)."""
    if not rowids:
        return []
    marks = ", ".join("?" * len(rowids))
    # The range lets FTS5 seek; "+f.rowid IN" is checked by SQLite (not handed to FTS5, which
    # would re-run the MATCH once per value), and bm25 runs only for the rows that pass.
    rows = db.query(
        f"SELECT f.rowid, {_BM25} FROM search_fts f WHERE search_fts MATCH ?"  # noqa: S608
        f" AND f.rowid BETWEEN ? AND ? AND +f.rowid IN ({marks})",
        [plan.scoring_match, min(rowids), max(rowids), *rowids],
    )
    return [(int(rowid), -float(rank)) for rowid, rank in rows]


def _by_price(
    db: Database, plan: Plan, query: SearchQuery, matches: _Matches
) -> tuple[_Total, list[int]]:
    head = matches.newest_priced(COUNT_CAP + 1)
    total = _Total.of(len(head), COUNT_CAP + 1)
    ordered = sorted(head, key=lambda pair: (pair[1], pair[0]))
    if total.exact:  # every match is in hand: sort them here
        return total, [rowid for rowid, _ in ordered[query.offset : query.offset + query.limit]]
    # Many matches: only the cheapest `need` matter, and they cost at most what the
    # `need`-th cheapest of the newest ones we hold costs. So sort only the matches up to
    # that price (a few times `need` rows, not all of them).
    need = query.offset + query.limit
    if need <= len(ordered):
        # Two subqueries: each is one B-tree seek, while min() and max() together scan.
        lowest, highest = db.query(
            "SELECT (SELECT min(id) FROM search_listings), (SELECT max(id) FROM search_listings)"
        )[0]
        rank = tight_price_rank(need, min(rowid for rowid, _ in head), int(lowest), int(highest))
        if rank < need:  # try the likely bound first: it sorts far fewer rows
            cheapest = _Matches(db, plan.match(high=ordered[rank - 1][1])).cheapest(need)
            if len(cheapest) == need:  # so these are the `need` cheapest of all matches
                return total, cheapest[query.offset :]
        bound = ordered[need - 1][1]
    else:  # paging deeper than we hold: binary search over the price buckets instead
        first, last = facets.price_bucket(plan.low), facets.price_bucket(plan.high)
        while first < last:
            middle = (first + last) // 2
            if _Matches(db, plan.match(high=facets.bucket_end(middle))).count(need) >= need:
                last = middle
            else:
                first = middle + 1
        bound = facets.bucket_end(first)
    bounded = _Matches(db, plan.match(high=bound))
    return total, bounded.by_price(query.limit, query.offset)


def tight_price_rank(need: int, oldest_sampled: int, lowest: int, highest: int) -> int:
    """The rank in the sample of newest matches whose price likely bounds the ``need`` cheapest.

    The sample holds the matches with ids (creation times) from ``oldest_sampled`` up; ids of
    all listings span ``lowest`` to ``highest``. When matches are spread evenly over time,
    the sample's k-th price has about k / f matches at or below it overall, f being the
    sample's share of the span. So rank ``PRICE_SAMPLE_MARGIN * need * f`` leaves a margin;
    the caller checks the outcome, so a wrong guess costs time, never correctness.
    """
    span = highest - lowest
    if span <= 0:
        return need
    share = (highest - oldest_sampled) / span
    return max(1, min(need, math.ceil(PRICE_SAMPLE_MARGIN * need * share)))


def _expand_prefix(db: Database, plan: Plan) -> Plan:
    """``plan`` with a long last-word prefix replaced by an OR of the terms it matches."""
    last = plan.words[-1].lower() if plan.words else ""
    if not plan.prefix_last or len(last) <= _INDEXED_PREFIX or not last.isascii():
        return plan
    upper = last[:-1] + chr(ord(last[-1]) + 1)
    terms = [
        str(row[0])
        for row in db.query(
            "SELECT term FROM search_vocab WHERE term >= ? AND term < ? LIMIT ?",
            (last, upper, _MAX_EXPANSION + 1),
        )
    ]
    if len(terms) > _MAX_EXPANSION:
        return plan
    return plan.with_last_word_terms(terms)


def _ids(db: Database, sql: str, params: dict[str, Any]) -> list[int]:
    return [int(row[0]) for row in db.query(sql, params)]


def _hits(
    db: Database, ids: list[int], scores: dict[int, float], plan: Plan
) -> tuple[SearchHit, ...]:
    if not ids:
        return ()
    marks = ", ".join("?" * len(ids))
    rows = db.query(f"{SELECT_ENTRIES} WHERE l.id IN ({marks})", ids)
    entries: dict[int, IndexEntry] = {int(row[0]): entry_from_row(row) for row in rows}
    words = list(plan.words)
    prefix_last = plan.prefix_last
    hits = []
    for listing in ids:
        entry = entries[listing]
        if words:
            snippet = make_snippet(entry.description, words, prefix_last=prefix_last)
        else:
            snippet = plain_snippet(entry.description)
        hits.append(SearchHit(entry, scores.get(listing, 0.0), snippet))
    return tuple(hits)


def entry_from_row(row: Row) -> IndexEntry:
    """Decode a row of `SELECT_ENTRIES`."""
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
        quantity,
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
        quantity=None if quantity is None else int(quantity),
    )
