"""Search filters as FTS5 tokens, so FTS5 does the filtering by merging sorted doclists.

Why: a filter checked row by row (look the listing up, compare a column) costs about a
microsecond per candidate, which at 100k listings and a broad query is far over the latency
budget. As tokens in a ``facets`` column of the FTS table, "category is X and ships to DE and
costs at most P" becomes ``facets : (...) AND facets : (...)``, evaluated inside FTS5 and
counted without touching the listings table. User text is restricted to the other columns, so
it can never match a facet token.

Prices are bucketed: a fine bucket is a quarter of a power of two, a coarse bucket sixteen fine
ones. A price range becomes the buckets it overlaps (coarse ones in the middle, fine ones at
the edges); the few listings in the two edge buckets that fall outside the range are removed
by an exact check (see ``price_edge_ranges``).
"""

from umbra.core import MAX_AMOUNT

CATEGORY_PREFIX = "zc"
REGION_PREFIX = "zr"
FINE_PREFIX = "zp"
COARSE_PREFIX = "zq"

_FINE_PER_COARSE = 16


def _hex(text: str) -> str:
    # Hex keeps any input a single FTS5 token made of ASCII letters and digits.
    # (backslashreplace: a lone surrogate in a filter must not raise.)
    return text.encode("utf-8", "backslashreplace").hex()


def normalize_category(category: str) -> str:
    return category.strip().strip("/").lower()


def category_token(category: str) -> str:
    """The token a category filter looks for."""
    return CATEGORY_PREFIX + _hex(normalize_category(category))


def category_tokens(category: str) -> list[str]:
    """Tokens for a listing's category and each of its parents ("a/b" → "a", "a/b")."""
    parts = normalize_category(category).split("/")
    return [category_token("/".join(parts[: i + 1])) for i in range(len(parts))]


def region_token(region: str) -> str:
    return REGION_PREFIX + _hex(region.strip().upper())


def price_bucket(price: int) -> int:
    """Fine bucket of a price: 0 for 0, else 4k + q + 1 for the q-th quarter of [2^k, 2^(k+1))."""
    if price <= 0:
        return 0
    k = price.bit_length() - 1
    quarter = ((price - (1 << k)) << 2) >> k
    return 4 * k + quarter + 1


def bucket_start(bucket: int) -> int:
    """The smallest price in ``bucket`` (empty buckets start where the next one does)."""
    if bucket <= 0:
        return 0
    k, quarter = divmod(bucket - 1, 4)
    return (1 << k) + (quarter * (1 << k) + 3) // 4


def bucket_end(bucket: int) -> int:
    """The largest price in ``bucket``."""
    return bucket_start(bucket + 1) - 1


def _fine(bucket: int) -> str:
    return f"{FINE_PREFIX}{bucket}"


def _coarse(bucket: int) -> str:
    return f"{COARSE_PREFIX}{(bucket - 1) // _FINE_PER_COARSE}"


def price_tokens(price: int) -> list[str]:
    bucket = price_bucket(price)
    return [_fine(bucket)] if bucket == 0 else [_fine(bucket), _coarse(bucket)]


def price_range_tokens(low: int, high: int) -> list[str]:
    """Tokens whose union covers every price in [low, high] (and a little around the edges)."""
    first, last = price_bucket(max(0, low)), price_bucket(min(high, MAX_AMOUNT))
    tokens = []
    bucket = first
    while bucket <= last:
        aligned = bucket >= 1 and (bucket - 1) % _FINE_PER_COARSE == 0
        if aligned and bucket + _FINE_PER_COARSE - 1 <= last:
            tokens.append(_coarse(bucket))
            bucket += _FINE_PER_COARSE
        else:
            tokens.append(_fine(bucket))
            bucket += 1
    return tokens


def price_edge_ranges(low: int, high: int) -> list[tuple[int, int]]:
    """Price ranges inside the edge buckets of [low, high] but outside it: to be excluded."""
    ranges = []
    start = bucket_start(price_bucket(max(0, low)))
    if start < low:
        ranges.append((start, low - 1))
    end = bucket_end(price_bucket(min(high, MAX_AMOUNT)))
    if high < end:
        ranges.append((high + 1, end))
    return ranges


def facet_text(category: str, regions: tuple[str, ...], price: int) -> str:
    """The ``facets`` column of one listing."""
    tokens = [*category_tokens(category), *(region_token(r) for r in regions), *price_tokens(price)]
    return " ".join(dict.fromkeys(tokens))
