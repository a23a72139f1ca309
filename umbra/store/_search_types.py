"""The values of local search: what is indexed, what is asked, what comes back.

All frozen dataclasses: a query is a value (it even carries ``now``), so a search is a pure
function of the index and the query.
"""

from dataclasses import dataclass
from typing import Literal, get_args

from umbra.core import UsageError

Sort = Literal["relevance", "price", "newest"]
SORTS: tuple[str, ...] = get_args(Sort)

MAX_LIMIT = 100
MAX_OFFSET = 10_000


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
    # How many the seller still offers (0: sold out); None: indexed by a version that did
    # not keep it and not re-read since (shown as available, as before).
    quantity: int | None = None


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

    ``score`` is the bm25 score, higher for better matches. It is 0.0 unless the results
    are sorted by relevance of a text query, and for the matches older than the ranking
    window (broad queries rank their newest 250 matches; the rest follow, newest first).
    In ``snippet`` the query words sit between `SNIPPET_START` and `SNIPPET_END`.
    """

    entry: IndexEntry
    score: float
    snippet: str


@dataclass(frozen=True)
class SearchPage:
    """One page of results and how many results there are in all.

    Counting stops at 1,000 matches: above that ``total`` is a lower bound (1,000 on the
    first pages) and ``total_exact`` is False, so show "1,000+". Counting every match of a
    broad query costs more than the rest of the search. Every result stays reachable by
    paging, up to the offset limit.
    """

    hits: tuple[SearchHit, ...]
    total: int
    total_exact: bool = True
