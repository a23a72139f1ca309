"""The DHT store's budget: per-peer quotas, eviction from the heaviest holder only, refreshes.

Every limit is tested at its boundary and one byte past it.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from umbra.net import LOCAL, HolderLedger, StoreRefused


def _ledger(capacity: int = 100, per_peer: int = 30) -> HolderLedger[str]:
    return HolderLedger[str](capacity=capacity, per_peer=per_peer)


def test_quota_at_and_just_past_the_boundary() -> None:
    ledger = _ledger()
    ledger.store("a1", "flooder", 20)
    ledger.store("a2", "flooder", 10)  # exactly the quota
    assert ledger.load("flooder") == 30
    with pytest.raises(StoreRefused, match="quota"):
        ledger.store("a3", "flooder", 1)  # one byte past it
    assert "a3" not in ledger and ledger.load("flooder") == 30
    ledger.store("b1", "other", 30)  # quotas are per peer


def test_capacity_at_the_boundary_needs_no_eviction() -> None:
    ledger = _ledger(capacity=60, per_peer=30)
    ledger.store("a", "p", 30)
    assert ledger.store("b", "q", 30) == ()  # exactly full
    assert ledger.total == 60


def test_one_byte_past_capacity_evicts_the_heaviest_holders_oldest_item() -> None:
    ledger = _ledger(capacity=60, per_peer=40)
    ledger.store("heavy-old", "heavy", 20)
    ledger.store("heavy-new", "heavy", 20)
    ledger.store("light", "light", 20)
    assert ledger.store("new", "newcomer", 1) == ("heavy-old",)
    assert "heavy-old" not in ledger and "heavy-new" in ledger and "light" in ledger
    assert ledger.total == 41 and ledger.load("heavy") == 20


def test_a_flood_never_evicts_a_lighter_peers_record() -> None:
    ledger = _ledger(capacity=100, per_peer=1000)
    ledger.store("real-head", "seller", 10)
    for i in range(9):
        ledger.store(f"junk{i}", "flooder", 10)
    assert ledger.total == 100
    # The store is full; the only other holder is lighter than the flooder: refused.
    with pytest.raises(StoreRefused, match="full"):
        ledger.store("junk9", "flooder", 10)
    assert "real-head" in ledger
    assert ledger.load("flooder") == 90


def test_the_newcomer_must_stay_lighter_than_its_victim() -> None:
    ledger = _ledger(capacity=40, per_peer=40)
    ledger.store("a", "p", 20)
    ledger.store("b", "q", 20)
    # q would hold 20 + 1 = 21 after the store; p holds 20: not heavier, so nothing gives way.
    with pytest.raises(StoreRefused, match="full"):
        ledger.store("c", "q", 1)
    assert "a" in ledger and ledger.total == 40
    # r would hold 19 < 20: p (the oldest of the heaviest) gives way.
    assert ledger.store("d", "r", 19) == ("a",)


def test_sybils_at_quota_evict_each_other_not_the_single_record_holder() -> None:
    ledger = _ledger(capacity=100, per_peer=30)
    ledger.store("real-head", "seller", 10)
    for sybil in range(3):
        for i in range(3):
            ledger.store(f"s{sybil}-{i}", f"sybil{sybil}", 10)
    assert ledger.total == 100
    for sybil in range(3, 20):
        for i in range(3):
            try:
                ledger.store(f"s{sybil}-{i}", f"sybil{sybil}", 10)
            except StoreRefused:
                break
    assert "real-head" in ledger and ledger.holder("real-head") == "seller"
    assert ledger.total <= 100


def test_a_refused_item_evicts_nothing() -> None:
    ledger = _ledger(capacity=50, per_peer=50)
    ledger.store("a", "p", 25)
    ledger.store("b", "p", 24)
    ledger.store("q1", "q", 1)
    # q would hold 50, within its quota; evicting p's 49 bytes would make room, but p is not
    # heavier than q would be: refused, and p loses nothing on the way.
    with pytest.raises(StoreRefused):
        ledger.store("q2", "q", 49)
    assert {"a", "b", "q1"} <= set(ledger)


def test_a_refresh_moves_the_item_to_the_lighter_putter() -> None:
    ledger = _ledger(capacity=1000, per_peer=100)
    ledger.store("head", "flooder", 10)
    for i in range(5):
        ledger.store(f"junk{i}", "flooder", 10)
    ledger.store("head", "seller", 10)  # the seller re-puts its own head: it holds less
    assert ledger.holder("head") == "seller"
    assert ledger.load("flooder") == 50 and ledger.load("seller") == 10
    ledger.store("head", "flooder", 10)  # the flooder cannot take it back
    assert ledger.holder("head") == "seller"


def test_a_refresh_by_a_peer_at_quota_keeps_the_holder_and_is_not_refused() -> None:
    ledger = _ledger(capacity=1000, per_peer=20)
    ledger.store("x", "p", 20)
    ledger.store("y", "q", 20)
    assert ledger.store("x", "q", 20) == ()  # q is at quota: p keeps holding x
    assert ledger.holder("x") == "p" and ledger.load("q") == 20


def test_a_larger_new_version_counts_against_the_quota() -> None:
    ledger = _ledger(capacity=1000, per_peer=20)
    ledger.store("x", "p", 10)
    ledger.store("x", "p", 20)  # exactly the quota
    assert ledger.load("p") == 20
    with pytest.raises(StoreRefused):
        ledger.store("x", "p", 21)
    assert ledger.load("p") == 20


def test_local_items_are_never_refused_evicted_or_evicting() -> None:
    ledger = _ledger(capacity=30, per_peer=10)
    ledger.store("own", LOCAL, 25)  # past the per-peer quota
    ledger.store("p1", "p", 5)
    ledger.store("cache", LOCAL, 20)  # past capacity: nobody is evicted for it
    assert {"own", "p1", "cache"} <= set(ledger)
    # 21 bytes must go: p's 5 are not enough and LOCAL's are never taken.
    with pytest.raises(StoreRefused):
        ledger.store("q1", "q", 1)
    assert "p1" in ledger
    ledger.store("p1", LOCAL, 5)  # our own re-put of a held record makes it ours
    assert ledger.holder("p1") == LOCAL


def test_release_forgets_and_unknown_items_are_ignored() -> None:
    ledger = _ledger()
    ledger.store("a", "p", 10)
    ledger.release("a")
    ledger.release("a")
    ledger.release("never")
    assert len(ledger) == 0 and ledger.total == 0 and ledger.load("p") == 0
    assert ledger.items_of("p") == []


# -- properties over random operation sequences -------------------------------------------------

HOLDERS = ["a", "b", "c", "d", LOCAL]
operations = st.lists(
    st.tuples(
        st.sampled_from(["store", "release"]),
        st.integers(0, 11),  # item
        st.sampled_from(HOLDERS),
        st.integers(1, 40),  # cost
    ),
    max_size=60,
)


def _evictable(ledger: HolderLedger[str], holder: str, after: int, exclude: str) -> int:
    """Bytes that may go, order aside: each other holder gives oldest-first while heavier."""
    total = 0
    for other in {h for h in map(ledger.holder, ledger) if h not in (None, LOCAL, holder)}:
        load = ledger.load(other)
        for item in ledger.items_of(other):
            if load <= after:
                break
            if item == exclude:
                continue
            cost = ledger._items[item][1]
            total, load = total + cost, load - cost
    return total


@settings(max_examples=300, deadline=None)
@given(operations)
def test_invariants_and_refusals_match_a_simple_model(ops: list[tuple[str, int, str, int]]) -> None:
    ledger = HolderLedger[str](capacity=100, per_peer=50)
    for op, index, holder, cost in ops:
        item = f"i{index}"
        if op == "release":
            ledger.release(item)
        elif item not in ledger and holder != LOCAL:
            after = ledger.load(holder) + cost
            over = ledger.total + cost - ledger.capacity
            fits = after <= ledger.per_peer and (
                over <= 0 or _evictable(ledger, holder, after, item) >= over
            )
            loads = {h: ledger.load(h) for h in HOLDERS}
            try:
                evicted = ledger.store(item, holder, cost)
            except StoreRefused:
                assert not fits
                assert {h: ledger.load(h) for h in HOLDERS} == loads  # nothing changed
                continue
            assert fits
            assert all(v not in ledger for v in evicted) and ledger.holder(item) == holder
            assert ledger.total <= ledger.capacity  # LOCAL's bytes count too
        else:
            try:
                ledger.store(item, holder, cost)
            except StoreRefused:
                continue
        # Bookkeeping agrees with itself.
        assert ledger.total == sum(ledger.load(h) for h in HOLDERS)
        assert ledger.total == sum(ledger._items[i][1] for i in ledger)
        assert all(ledger.load(h) <= ledger.per_peer for h in HOLDERS if h != LOCAL)
        assert len(ledger._heaviest) <= 2 * len(HOLDERS) + 64 + 1
