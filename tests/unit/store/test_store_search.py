import math
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from umbra.core import UsageError, region_covers
from umbra.store import (
    SNIPPET_END,
    SNIPPET_START,
    IndexEntry,
    SearchIndex,
    SearchPage,
    SearchQuery,
    _search_read,
    match_expression,
)
from umbra.store import _search as search_module
from umbra.store import _search_write as search_write
from umbra.store._database import Database
from umbra.store._search import BULK_CACHE_MIB, BULK_ROWS

NOW = 1_000
SELLER_A = b"\xaa" * 32
SELLER_B = b"\xbb" * 32


def make(n: int, **fields: object) -> IndexEntry:
    base = IndexEntry(
        cid=f"cid-{n}",
        seller=SELLER_A,
        listing_id=n.to_bytes(16, "big"),
        revision=1,
        title=f"item {n}",
        description="plain words",
        tags=(),
        category="other",
        price=100,
        ship_regions=("WW",),
        ships_from="DE",
        created_at=n,
        expires_at=NOW + 1_000,
        thumbnail=None,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def cids(page: SearchPage) -> list[str]:
    return [hit.entry.cid for hit in page.hits]


def search(index: SearchIndex, **fields: object) -> SearchPage:
    return index.search(SearchQuery(now=fields.pop("now", NOW), **fields))  # type: ignore[arg-type]


# -- writing -----------------------------------------------------------------------------------


def test_upsert_get_count(index: SearchIndex) -> None:
    entry = make(1, tags=("a", "b"), ship_regions=("DE", "EU"), thumbnail="bafythumb")
    assert index.upsert(entry) is True
    assert index.get("cid-1") == entry
    assert index.get("nope") is None
    assert index.count() == 1


def test_revision_ordering(index: SearchIndex) -> None:
    assert index.upsert(make(1, revision=2, cid="r2", title="second"))
    assert index.upsert(make(1, revision=1, cid="r1", title="first")) is False  # stale
    assert index.upsert(make(1, revision=2, cid="r2b", title="equivocation")) is False
    assert index.get("r1") is None and index.get("r2b") is None
    assert index.upsert(make(1, revision=3, cid="r3", title="third", created_at=50))
    assert index.get("r2") is None
    assert index.get("r3") == make(1, revision=3, cid="r3", title="third", created_at=50)
    assert index.count() == 1
    assert cids(search(index, text="third")) == ["r3"]
    assert search(index, text="second").total == 0  # the old text left the FTS index too


def test_same_listing_id_different_sellers_are_distinct(index: SearchIndex) -> None:
    assert index.upsert(make(1, seller=SELLER_A, cid="a"))
    assert index.upsert(make(1, seller=SELLER_B, cid="b"))
    assert index.count() == 2


def test_cid_reused_for_another_listing_is_refused(index: SearchIndex) -> None:
    index.upsert(make(1, cid="same"))
    with pytest.raises(UsageError):
        index.upsert(make(2, cid="same"))


def test_price_out_of_range_is_refused(index: SearchIndex) -> None:
    with pytest.raises(UsageError):
        index.upsert(make(1, price=-1))
    with pytest.raises(UsageError):
        index.upsert(make(1, price=2**63))


def test_remove_remove_seller_purge(index: SearchIndex) -> None:
    index.upsert_many(
        [
            make(1),
            make(2),
            make(3, seller=SELLER_B),
            make(4, seller=SELLER_B, expires_at=NOW - 1),
            make(5, expires_at=NOW),
        ]
    )
    assert index.remove(SELLER_A, (1).to_bytes(16, "big")) is True
    assert index.remove(SELLER_A, (1).to_bytes(16, "big")) is False
    assert index.remove_seller(SELLER_B) == 2
    assert index.purge_expired(NOW) == 1
    assert index.count() == 1
    assert cids(search(index)) == ["cid-2"]
    assert search(index, text="item").total == 1


def test_many_listings_share_a_creation_time(index: SearchIndex) -> None:
    index.upsert_many([make(i, created_at=7) for i in range(50)])
    index.upsert_many([make(i, created_at=6 + i % 3) for i in range(50, 60)])
    page = search(index, sort="newest", limit=100)
    assert page.total == 60
    assert sorted(cids(page)) == sorted(f"cid-{i}" for i in range(60))
    created = [hit.entry.created_at for hit in page.hits]
    assert created == sorted(created, reverse=True)


def test_id_slot_collisions_move_on(index: SearchIndex) -> None:
    with patch("umbra.store._search_write.zlib.crc32", return_value=5):
        index.upsert_many([make(i, created_at=7) for i in range(20)])  # collide in the batch
        index.upsert_many([make(i, created_at=7) for i in range(20, 30)])  # and with stored
        assert index.upsert(make(3, created_at=7, revision=2, cid="again"))
    assert search(index, limit=100).total == 30
    assert index.get("again") is not None and index.get("cid-3") is None


# -- matching text -----------------------------------------------------------------------------


def test_match_expression_quotes_every_word() -> None:
    assert match_expression("") is None
    assert match_expression('  "*:()-  ') is None
    assert match_expression("red phone") == '{title tags description} : ("red" "phone"*)'
    assert match_expression("phone x") == '{title tags description} : ("phone" "x")'
    assert match_expression('NEAR(a b) "x" OR y:z -w*') == (
        '{title tags description} : ("NEAR" "a" "b" "x" "OR" "y" "z" "w")'
    )
    assert str(match_expression(" ".join(f"w{i}" for i in range(20)))).count('"') == 20


def test_operators_are_plain_words(index: SearchIndex) -> None:
    index.upsert_many(
        [make(1, title="red phone"), make(2, title="blue lamp"), make(3, title="phone or lamp")]
    )
    assert cids(search(index, text="phone OR lamp")) == ["cid-3"]
    assert search(index, text="phone NOT lamp").total == 0
    assert search(index, text='"phone').total == 2
    assert search(index, text="-lamp").total == 2
    assert search(index, text="title:phone").total == 0  # "title" is a word, not a column


def test_and_semantics_prefix_and_diacritics(index: SearchIndex) -> None:
    index.upsert_many(
        [
            make(1, title="Café crème", description="a cup"),
            make(2, title="cafe table"),
            make(3, title="Telephone", description="old phone"),
            make(4, title="phonebook"),
        ]
    )
    assert sorted(cids(search(index, text="CAFÉ"))) == ["cid-1", "cid-2"]
    assert cids(search(index, text="cafe creme")) == ["cid-1"]
    assert sorted(cids(search(index, text="pho"))) == ["cid-3", "cid-4"]  # prefix
    assert cids(search(index, text="phone ")) != []
    assert search(index, text="p").total == 0  # one letter: a whole word, not a prefix
    assert cids(search(index, text="cafe\u0301")) != []  # decomposed input


def test_no_words_means_browse(index: SearchIndex) -> None:
    index.upsert_many([make(1), make(2)])
    assert search(index, text="!!! ***").total == 2


def test_relevance_weights_title_then_tags_then_description(index: SearchIndex) -> None:
    filler = " ".join(["filler"] * 20)
    index.upsert_many(
        [
            make(1, title="something", description=f"nokia {filler}"),
            make(2, title="something", tags=("nokia",), description=filler),
            make(3, title="nokia", description=filler),
        ]
    )
    page = search(index, text="nokia")
    assert cids(page) == ["cid-3", "cid-2", "cid-1"]
    scores = [hit.score for hit in page.hits]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0


def test_snippets(index: SearchIndex) -> None:
    index.upsert(make(1, title="lamp", description="A lovely brass lamp, barely used."))
    hit = search(index, text="brass").hits[0]
    assert hit.snippet == f"A lovely {SNIPPET_START}brass{SNIPPET_END} lamp, barely used."
    browse = search(index).hits[0]
    assert browse.snippet == "A lovely brass lamp, barely used." and browse.score == 0.0


def test_long_prefix_with_many_matches_sorted_by_price(index: SearchIndex) -> None:
    with patch.object(_search_read, "COUNT_CAP", 3):
        index.upsert_many(
            [
                make(i, title=f"red {w} lamp", price=1000 - i)
                for i, w in enumerate(
                    ["native", "nation", "national", "natives", "nature", "nothing"]
                )
            ]
        )
        page = search(index, text="red nati", sort="price")
        assert [h.entry.title for h in page.hits] == [
            "red natives lamp",
            "red national lamp",
            "red nation lamp",
            "red native lamp",
        ]
        assert (page.total, page.total_exact) == (3, False)
        assert cids(search(index, text="lamp natio", sort="price", offset=1, limit=1)) == ["cid-1"]


def test_tight_price_rank_scales_with_the_sampled_share_of_time() -> None:
    rank = _search_read.tight_price_rank
    margin = _search_read.PRICE_SAMPLE_MARGIN
    assert rank(60, oldest_sampled=900, lowest=0, highest=1_000) == math.ceil(margin * 60 * 0.1)
    assert rank(20, oldest_sampled=999, lowest=0, highest=1_000) == 1  # never below rank 1
    assert rank(20, oldest_sampled=0, lowest=0, highest=1_000) == 20  # the sure bound
    assert rank(20, oldest_sampled=5, lowest=5, highest=5) == 20  # one creation time


@pytest.mark.parametrize("newest_cheapest", [False, True])
def test_price_sort_over_many_matches_is_exact(index: SearchIndex, newest_cheapest: bool) -> None:
    # 120 matches, the newest 11 sampled. Uncorrelated prices: the likely bound holds. Newest
    # cheapest: far fewer matches than the guess expects lie under it, so the sure bound runs.
    prices = [(i * 7919) % 1_000 + 1 for i in range(120)]
    if newest_cheapest:
        prices = [1_000 - i for i in range(120)]
    index.upsert_many([make(i, title="lamp", price=price) for i, price in enumerate(prices)])
    by_price = sorted(range(120), key=lambda i: (prices[i], i))
    with patch.object(_search_read, "COUNT_CAP", 10):
        for offset in (0, 5, 10):
            page = search(index, text="lamp", sort="price", limit=5, offset=offset)
            assert cids(page) == [f"cid-{i}" for i in by_price[offset : offset + 5]]
            assert (page.total, page.total_exact) == (10, False)


# -- filters -----------------------------------------------------------------------------------


def test_category_includes_subcategories(index: SearchIndex) -> None:
    index.upsert_many(
        [
            make(1, category="electronics"),
            make(2, category="electronics/phones"),
            make(3, category="electronicsx"),
            make(4, category="home/kitchen"),
        ]
    )
    assert sorted(cids(search(index, category="electronics"))) == ["cid-1", "cid-2"]
    assert cids(search(index, category="electronics/phones")) == ["cid-2"]
    assert cids(search(index, category="Electronics/Phones/")) == ["cid-2"]
    assert search(index, category="electronics/audio").total == 0
    assert search(index, category="").total == 4


def test_ships_to(index: SearchIndex) -> None:
    index.upsert_many(
        [
            make(1, ship_regions=("DE",)),
            make(2, ship_regions=("WW",)),
            make(3, ship_regions=("EU",)),
            make(4, ship_regions=("US", "CA")),
            make(5, ship_regions=()),
        ]
    )
    assert sorted(cids(search(index, ships_to="DE"))) == ["cid-1", "cid-2", "cid-3"]
    assert sorted(cids(search(index, ships_to="de"))) == ["cid-1", "cid-2", "cid-3"]
    assert sorted(cids(search(index, ships_to="FR"))) == ["cid-2", "cid-3"]
    assert sorted(cids(search(index, ships_to="US"))) == ["cid-2", "cid-4"]
    assert sorted(cids(search(index, ships_to="CH"))) == ["cid-2"]  # Switzerland: not EU
    assert search(index).total == 5


def test_price_bounds_are_inclusive(index: SearchIndex) -> None:
    index.upsert_many([make(i, price=p) for i, p in enumerate([0, 99, 100, 101, 10**12])])
    assert sorted(e.entry.price for e in search(index, min_price=100, limit=10).hits) == [
        100,
        101,
        10**12,
    ]
    assert [h.entry.price for h in search(index, max_price=100, sort="price").hits] == [0, 99, 100]
    assert [h.entry.price for h in search(index, min_price=99, max_price=101).hits] != []
    assert search(index, min_price=100, max_price=100).total == 1
    assert search(index, min_price=101, max_price=100).total == 0
    assert search(index, min_price=10**30).total == 0
    assert search(index, max_price=10**30).total == 5


def test_expired_listings_never_match(index: SearchIndex) -> None:
    index.upsert_many([make(1, expires_at=NOW), make(2, expires_at=NOW + 1)])
    for sort in ("relevance", "price", "newest"):
        assert cids(search(index, sort=sort)) == ["cid-2"]
        assert cids(search(index, text="item", sort=sort)) == ["cid-2"]
        assert cids(search(index, text="item", sort=sort, ships_to="DE")) == ["cid-2"]
    assert search(index, now=NOW - 1).total == 2
    assert search(index, now=NOW + 1).total == 0


def test_sorts_and_paging(index: SearchIndex) -> None:
    index.upsert_many([make(i, price=(i * 37) % 11, created_at=i) for i in range(30)])
    newest = [h.entry.created_at for h in search(index, sort="newest", limit=30).hits]
    assert newest == sorted(newest, reverse=True)
    seen = []
    for offset in range(0, 40, 7):
        page = search(index, sort="price", limit=7, offset=offset)
        assert page.total == 30
        seen += [h.entry for h in page.hits]
    assert [e.price for e in seen] == sorted(e.price for e in seen)
    assert sorted(e.cid for e in seen) == sorted(f"cid-{i}" for i in range(30))
    beyond = search(index, offset=100)
    assert beyond.hits == () and beyond.total == 30


@pytest.mark.parametrize(
    "fields",
    [
        {"limit": 0},
        {"limit": 101},
        {"offset": -1},
        {"offset": 10_001},
        {"min_price": -1},
        {"max_price": -5},
        {"sort": "random"},
    ],
)
def test_query_validation(fields: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        SearchQuery(now=NOW, **fields)  # type: ignore[arg-type]


# -- properties --------------------------------------------------------------------------------

VOCABULARY = ["red", "green", "phone", "phones", "lamp", "case", "nokia", "nok", "cafe", "or"]
CATEGORIES = ["electronics", "electronics/phones", "electronics/audio", "electronicsx", "home/a"]
REGIONS = ["DE", "FR", "US", "WW", "EU", "JP"]
PRICES = [0, 1, 2, 3, 99, 100, 101, 1023, 1024, 1025, 10**12, 10**12 + 1]

texts = st.lists(st.sampled_from(VOCABULARY), max_size=4).map(" ".join)


def _entry(
    key: int,
    seller: int,
    revision: int,
    title: str,
    description: str,
    tags: list[str],
    category: str,
    price: int,
    regions: list[str],
    created: int,
    life: int,
) -> IndexEntry:
    return IndexEntry(
        cid=f"c-{seller}-{key}-{revision}",
        seller=bytes([seller]) * 32,
        listing_id=bytes([key]) * 16,
        revision=revision,
        title=title or "x",
        description=description,
        tags=tuple(tags),
        category=category,
        price=price,
        ship_regions=tuple(regions),
        ships_from="DE",
        created_at=created,
        expires_at=created + life,
        thumbnail=None,
    )


entries = st.builds(
    _entry,
    st.integers(0, 6),
    st.integers(0, 2),
    st.integers(1, 3),
    texts,
    texts,
    st.lists(st.sampled_from(VOCABULARY), max_size=2),
    st.sampled_from(CATEGORIES),
    st.one_of(st.sampled_from(PRICES), st.integers(0, 10**13)),
    st.lists(st.sampled_from(REGIONS), max_size=3, unique=True),
    st.integers(0, 100),
    st.integers(1, 150),
)
queries = st.builds(
    SearchQuery,
    text=st.one_of(texts, texts.map(lambda t: t[:-1])),
    category=st.one_of(st.none(), st.sampled_from([*CATEGORIES, "electronics/", "home"])),
    min_price=st.one_of(st.none(), st.sampled_from(PRICES)),
    max_price=st.one_of(st.none(), st.sampled_from(PRICES)),
    ships_to=st.one_of(st.none(), st.sampled_from(["DE", "FR", "US", "JP", "CH"])),
    sort=st.sampled_from(["relevance", "price", "newest"]),
    limit=st.integers(1, 7),
    now=st.integers(0, 200),
)


def _words(entry: IndexEntry) -> set[str]:
    text = " ".join([entry.title, entry.description, *entry.tags]).lower()
    return set(re.findall(r"[a-z0-9]+", text))


def expected(stored: dict[tuple[bytes, bytes], IndexEntry], query: SearchQuery) -> set[str]:
    """A brute-force model of the search rules."""
    words = re.findall(r"[a-z0-9]+", query.text.lower())[:10]
    category = (query.category or "").strip("/")
    result = set()
    for entry in stored.values():
        have = _words(entry)
        if entry.expires_at <= query.now:
            continue
        for i, word in enumerate(words):
            prefix = i == len(words) - 1 and len(word) >= 2
            if not any(w == word or (prefix and w.startswith(word)) for w in have):
                break
        else:
            if category and not (
                entry.category == category or entry.category.startswith(category + "/")
            ):
                continue
            if query.min_price is not None and entry.price < query.min_price:
                continue
            if query.max_price is not None and entry.price > query.max_price:
                continue
            if query.ships_to and not any(
                region_covers(r, query.ships_to) for r in entry.ship_regions
            ):
                continue
            result.add(entry.cid)
    return result


@contextmanager
def windows(size: int | None) -> Iterator[None]:
    """Shrink the count cap and the ranking window so small data takes every path."""
    if size is None:
        yield
        return
    with (
        patch.object(_search_read, "COUNT_CAP", size + 2),
        patch.object(_search_read, "RANK_WINDOW", size),
    ):
        yield


@pytest.mark.parametrize("window", [None, 3])
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=st.lists(entries, max_size=25), query_list=st.lists(queries, min_size=1, max_size=4))
def test_search_agrees_with_a_brute_force_model(
    index: SearchIndex,
    window: int | None,
    batch: list[IndexEntry],
    query_list: list[SearchQuery],
) -> None:
    index.clear()
    stored: dict[tuple[bytes, bytes], IndexEntry] = {}
    for entry in batch:
        old = stored.get((entry.seller, entry.listing_id))
        if old is None or entry.revision > old.revision:
            stored[(entry.seller, entry.listing_id)] = entry
    # Entries with the same cid but a different key would be refused; keep cids unique.
    index.upsert_many(batch)
    assert index.count() == len(stored)
    with windows(window):
        for query in query_list:
            want = expected(stored, query)
            got: list[SearchPage] = []
            offset = 0
            while True:
                page = index.search(replace(query, offset=offset))
                got.append(page)
                cap = _search_read.COUNT_CAP
                if page.total_exact:
                    assert page.total == len(want)
                else:
                    assert len(want) > cap
                    assert min(cap, len(want)) <= page.total <= len(want)
                if offset == 0 and query.limit <= cap:
                    assert page.total == min(len(want), cap)
                    assert page.total_exact == (len(want) <= cap)
                if not page.hits:
                    break
                offset += query.limit
            hits = [hit for page in got for hit in page.hits]
            assert sorted(h.entry.cid for h in hits) == sorted(want)
            if query.sort == "price":
                prices = [h.entry.price for h in hits]
                assert prices == sorted(prices)
            elif query.sort == "newest" or not re.search(r"[a-z]", query.text):
                created = [h.entry.created_at for h in hits]
                assert created == sorted(created, reverse=True)
            else:
                ranked = [h.score for h in hits if h.score != 0.0]
                assert ranked == sorted(ranked, reverse=True)


fts_noise = st.sampled_from(
    ['"', "*", "NEAR", "NEAR(", "(", ")", "-", ":", "^", "+", "AND", "OR", "NOT", "{", "}", "\0"]
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.one_of(
        st.text(max_size=200),
        st.lists(st.one_of(fts_noise, st.text(max_size=5)), max_size=12).map(" ".join),
        st.lists(st.one_of(fts_noise, st.text(max_size=5)), max_size=12).map("".join),
    ),
    category=st.one_of(st.none(), st.text(max_size=20)),
    ships_to=st.one_of(st.none(), st.text(max_size=4)),
    low=st.one_of(st.none(), st.integers(0, 2**80)),
    high=st.one_of(st.none(), st.integers(0, 2**80)),
    sort=st.sampled_from(["relevance", "price", "newest"]),
)
def test_any_query_text_is_safe(
    index: SearchIndex,
    text: str,
    category: str | None,
    ships_to: str | None,
    low: int | None,
    high: int | None,
    sort: str,
) -> None:
    if index.count() == 0:
        index.upsert_many(
            [make(i, title=f"nokia phone {i}", description="NEAR the case") for i in range(5)]
        )
    page = index.search(
        SearchQuery(
            text=text,
            category=category,
            ships_to=ships_to,
            min_price=low,
            max_price=high,
            sort=sort,  # type: ignore[arg-type]
            now=NOW,
        )
    )
    assert isinstance(page, SearchPage)
    assert 0 <= len(page.hits) <= page.total


def test_bulk_upsert_uses_a_larger_cache_and_gives_it_back(db: Database) -> None:
    index = SearchIndex(db)
    usual = db.scalar("PRAGMA cache_size")
    seen: list[int] = []
    real_upsert = search_write.upsert_entries

    def watching(database: Database, entries: Iterable[IndexEntry]) -> int:
        seen.append(int(database.scalar("PRAGMA cache_size")))
        return real_upsert(database, entries)

    with patch.object(search_module, "upsert_entries", watching):
        assert index.upsert_many(make(n) for n in range(BULK_ROWS)) == BULK_ROWS
        assert index.upsert(make(BULK_ROWS)) is True
    # Negative cache sizes are KiB: the bulk write ran with BULK_CACHE_MIB, the single one not.
    assert seen == [-1024 * BULK_CACHE_MIB, usual]
    assert db.scalar("PRAGMA cache_size") == usual
    assert index.count() == BULK_ROWS + 1


def test_larger_page_cache_is_restored_after_an_error_and_never_shrinks(db: Database) -> None:
    usual = db.scalar("PRAGMA cache_size")
    inside: list[int] = []

    def fail_inside() -> None:
        with db.larger_page_cache(64):
            inside.append(int(db.scalar("PRAGMA cache_size")))
            raise UsageError("boom")

    with pytest.raises(UsageError):
        fail_inside()
    assert inside == [-1024 * 64]
    assert db.scalar("PRAGMA cache_size") == usual
    db.execute("PRAGMA cache_size = -262144")  # 256 MiB: already larger
    with db.larger_page_cache(64):
        assert db.scalar("PRAGMA cache_size") == -262144
