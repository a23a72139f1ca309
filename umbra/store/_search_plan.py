"""From a `SearchQuery` to the pieces of SQL that answer it. Pure: no database here.

User text becomes words (Unicode letters and digits), each quoted as an FTS5 string, the last
one a prefix, all restricted to the title, tags and description columns. So FTS5 operators a
user types (``"``, ``*``, ``NEAR``, ``-``, ``:``, parentheses) are plain text, and no input can
break a query. Filters become facet tokens (``_facets``) in the ``facets`` column; expiry and
the exact edges of a price range become a ``NOT IN`` set of rows read from an index.
"""

import re
import unicodedata
from dataclasses import dataclass, replace
from typing import Any

from umbra.core import EU_MEMBERS, EUROPEAN_UNION, MAX_AMOUNT, WORLDWIDE

from . import _facets as facets
from ._search_types import SearchQuery

MAX_QUERY_WORDS = 10
_MAX_QUERY_CHARS = 1_000
# A one-letter prefix expands to a large share of the vocabulary; it is matched as a word.
MIN_PREFIX_CHARS = 2
_TEXT_COLUMNS = "{title tags description}"
_WORD = re.compile(r"[^\W_]+")


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
    if len(words[-1]) >= MIN_PREFIX_CHARS:
        parts[-1] += "*"
    return f"{_TEXT_COLUMNS} : ({' '.join(parts)})"


def ship_regions_for(destination: str) -> tuple[str, ...]:
    """Listing regions that cover shipping to ``destination``."""
    regions = [destination, WORLDWIDE]
    if destination in EU_MEMBERS:
        regions.append(EUROPEAN_UNION)
    return tuple(dict.fromkeys(regions))


@dataclass(frozen=True)
class Plan:
    """A query, normalized: the text match, facet filters, the price range and the time.

    ``low``/``high`` are clamped to valid prices; ``empty`` means nothing can match.
    """

    words: tuple[str, ...]
    text: str | None
    facets: tuple[str, ...]
    category: str | None  # the category part of ``facets``, if any
    low: int
    high: int
    now: int
    empty: bool

    @property
    def price_filtered(self) -> bool:
        return self.low > 0 or self.high < MAX_AMOUNT

    @property
    def uses_fts(self) -> bool:
        """False when only price and expiry filter: the listings table answers alone."""
        return self.text is not None or bool(self.facets)

    @property
    def scoring_match(self) -> str:
        """What bm25 scores against: the text, plus the category filter to keep FTS5 from
        reading far beyond the rows to score (category doclists are small, unlike region
        and price ones, whose full doclists bm25 would read to weigh them)."""
        return " AND ".join(p for p in (self.text, self.category) if p)

    @property
    def prefix_last(self) -> bool:
        return bool(self.words) and len(self.words[-1]) >= MIN_PREFIX_CHARS

    def with_last_word_terms(self, terms: list[str]) -> "Plan":
        """The plan with its last (prefix) word replaced by an OR of whole index terms.

        Same matches as the prefix when ``terms`` are all index terms with that prefix, but
        FTS5 reads whole terms lazily instead of merging their doclists up front.
        """
        if not terms or not self.words:
            return self
        quoted = [f'"{word}"' for word in self.words[:-1]]
        quoted.append("(" + " OR ".join('"' + t.replace('"', '""') + '"' for t in terms) + ")")
        # Explicit AND: FTS5 has no implicit AND before a parenthesized group.
        return replace(self, text=f"{_TEXT_COLUMNS} : ({' AND '.join(quoted)})")

    def match(self, high: int | None = None) -> "Match":
        """The FTS5 expression and excluded rows for this plan, prices capped at ``high``."""
        high = self.high if high is None else min(high, self.high)
        parts = [p for p in (self.text, *self.facets) if p]
        params: dict[str, Any] = {"now": self.now}
        excluded = ["SELECT id FROM search_listings WHERE expires_at <= :now"]
        if self.low > 0 or high < MAX_AMOUNT:
            tokens = (f'"{token}"' for token in facets.price_range_tokens(self.low, high))
            parts.append(f"facets : ({' OR '.join(tokens)})")
            for i, (start, end) in enumerate(facets.price_edge_ranges(self.low, high)):
                excluded.append(
                    "SELECT id FROM search_listings"  # noqa: S608 (placeholder names only)
                    f" WHERE price BETWEEN :edge{i}a AND :edge{i}b"
                )
                params.update({f"edge{i}a": start, f"edge{i}b": end})
        params["match"] = " AND ".join(parts)
        return Match(params, " UNION ALL ".join(excluded))


@dataclass(frozen=True)
class Match:
    """A MATCH expression (in ``params["match"]``) and the SQL of rows to leave out."""

    params: dict[str, Any]
    excluded: str


def build_plan(query: SearchQuery) -> Plan:
    words = tuple(query_words(query.text))
    parts = []
    category = facets.normalize_category(query.category or "")
    category_part = f'facets : "{facets.category_token(category)}"' if category else None
    if category_part:
        parts.append(category_part)
    destination = (query.ships_to or "").strip().upper()
    if destination:
        tokens = (f'"{facets.region_token(r)}"' for r in ship_regions_for(destination))
        parts.append(f"facets : ({' OR '.join(tokens)})")
    low = min(query.min_price or 0, MAX_AMOUNT + 1)
    high = MAX_AMOUNT if query.max_price is None else min(query.max_price, MAX_AMOUNT)
    return Plan(
        words=words,
        text=match_expression(query.text),
        facets=tuple(parts),
        category=category_part,
        low=low,
        high=high,
        now=query.now,
        empty=low > high,
    )
