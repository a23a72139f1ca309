from hypothesis import given
from hypothesis import strategies as st

from umbra.core import MAX_AMOUNT
from umbra.store import _facets as facets

prices = st.one_of(st.integers(0, 64), st.integers(0, MAX_AMOUNT))


@given(prices)
def test_bucket_bounds_contain_the_price(price: int) -> None:
    bucket = facets.price_bucket(price)
    assert facets.bucket_start(bucket) <= price <= facets.bucket_end(bucket)


@given(prices, prices)
def test_buckets_are_monotonic(a: int, b: int) -> None:
    if a <= b:
        assert facets.price_bucket(a) <= facets.price_bucket(b)


def _covered(price: int, tokens: list[str]) -> bool:
    return any(token in tokens for token in facets.price_tokens(price))


@given(prices, prices, prices)
def test_range_tokens_cover_the_range_and_edges_are_excluded(low: int, high: int, p: int) -> None:
    low, high = min(low, high), max(low, high)
    tokens = facets.price_range_tokens(low, high)
    assert len(tokens) <= 64
    edges = facets.price_edge_ranges(low, high)
    excluded = any(a <= p <= b for a, b in edges)
    selected = _covered(p, tokens) and not excluded
    assert selected == (low <= p <= high)


def test_category_tokens_cover_parents() -> None:
    assert facets.category_tokens("Electronics/Phones/") == [
        facets.category_token("electronics"),
        facets.category_token("electronics/phones"),
    ]
    assert facets.category_token("electronics") != facets.category_token("electronicsx")


def test_tokens_are_single_fts_tokens() -> None:
    text = facets.facet_text("a-b/c d", ("DE", "WW", "\udcff"), 12345)
    assert all(token.isascii() and token.isalnum() for token in text.split())
