"""Routing keys, the lookup walk and the bucket rule (`umbra.net._dht_walk`), pure."""

import hashlib
import os
import random

import multihash
from hypothesis import given, settings
from hypothesis import strategies as st
from libp2p.bitswap.cid import parse_cid

from umbra.core import compute_cid
from umbra.net import arbiter_key, head_key, provider_key
from umbra.net._dht_walk import (
    KEYSPACE_BITS,
    Walk,
    bucket_may_split,
    key_position,
    position,
    routing_key,
)
from umbra.net.messaging import prekey_key


def _find_node_accepts(key: bytes) -> bool:
    """py-libp2p 0.8.1's FIND_NODE key check (kad_dht.py, `_do_handle_stream`)."""
    try:
        multihash.decode(key)
        return True
    except Exception:
        return 2 <= len(key) <= 50


PERSONA = bytes(range(32))
VALUE_KEYS = [
    head_key(PERSONA).encode(),
    prekey_key(PERSONA).encode(),
    arbiter_key(PERSONA).encode(),
]


def test_every_value_key_routes_on_a_key_find_node_accepts() -> None:
    for key in VALUE_KEYS:
        assert not _find_node_accepts(key)  # the bug: the raw key (79 bytes) is refused
        routed = routing_key(key)
        assert _find_node_accepts(routed)
        assert routed == b"\x12\x20" + hashlib.sha256(key).digest()
        assert key_position(key) == position(routed)
    assert len({routing_key(k) for k in VALUE_KEYS}) == len(VALUE_KEYS)


def test_provider_keys_and_peer_ids_route_as_they_are() -> None:
    keys = [
        bytes.fromhex(provider_key("category", "electronics")),
        parse_cid(str(compute_cid(b"catalog", "dag-cbor"))).multihash,  # as `provide` sends it
        b"\x00\x24" + os.urandom(36),  # an ed25519 peer id (identity multihash)
    ]
    for key in keys:
        assert routing_key(key) == key
        assert _find_node_accepts(key)


def test_bucket_may_split_only_around_our_position() -> None:
    top = 1 << KEYSPACE_BITS
    own = 5 << (KEYSPACE_BITS - 4)
    assert bucket_may_split(0, top, own)
    assert bucket_may_split(own, own + 2, own)
    assert not bucket_may_split(0, own, own)
    assert not bucket_may_split(own + 1, top, own)
    assert not bucket_may_split(own, own + 1, own)  # one position cannot split


def _run(walk: Walk[int], answer: dict[int, list[int]], dead: set[int]) -> None:
    """Drive ``walk`` synchronously: ``answer[p]`` is what peer p names; dead peers fail."""
    while not walk.done:
        asked = walk.next_queries()
        assert asked, "a walk that is not done always has someone to ask"
        for peer in asked:
            if peer in dead:
                walk.failed(peer)
            else:
                walk.answered(peer, answer[peer])


def _closest(peers: list[int], target: int, count: int) -> list[int]:
    return sorted(peers, key=lambda p: p ^ target)[:count]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, (1 << 32) - 1), min_size=2, max_size=120, unique=True),
    st.integers(0, (1 << 32) - 1),
    st.integers(1, 12),
    st.integers(1, 4),
    st.randoms(use_true_random=False),
)
def test_a_walk_over_full_tables_finds_exactly_the_k_closest_live_peers(
    peers: list[int], target: int, k: int, alpha: int, rnd: random.Random
) -> None:
    """Each peer names its k closest to the target (as a FIND_NODE answer does); a third of
    the peers are dead. Started from a table of everyone, the walk ends with exactly the k
    closest live peers: a dead peer is replaced by the next one."""
    dead = {p for p in peers[1:] if rnd.random() < 0.3}
    answer = {p: _closest([q for q in peers if q != p], target, k) for p in peers}
    start = peers[0]
    seeds = [p for p in peers if p != start]
    walk = Walk(target, seeds, place=lambda p: p, k=k, alpha=alpha, exclude=[start])
    _run(walk, answer, dead)
    live = [p for p in peers if p not in dead and p != start]
    assert walk.closest() == _closest(live, target, k)
    assert walk.queries <= len(peers)


def _bounded_tables(peers: list[int], bits: int, bucket: int, rnd: random.Random) -> dict:
    """Kademlia tables: per common-prefix length with the owner, at most ``bucket`` peers
    (chosen at random), as buckets that split only around their owner end up."""
    tables: dict[int, list[int]] = {}
    for owner in peers:
        by_prefix: dict[int, list[int]] = {}
        for other in peers:
            if other != owner:
                prefix = bits - (owner ^ other).bit_length()
                by_prefix.setdefault(prefix, []).append(other)
        table: list[int] = []
        for group in by_prefix.values():
            rnd.shuffle(group)
            table += group[:bucket]
        tables[owner] = table
    return tables


def test_walks_over_bounded_tables_find_the_k_closest() -> None:
    """300 peers, k = 8 per bucket: each table is a small fraction of the network, and walks
    from random peers to random keys still end at the true 8 closest (nearly always)."""
    rnd = random.Random(17)
    bits, k = 32, 8
    peers = rnd.sample(range(1 << bits), 300)
    tables = _bounded_tables(peers, bits, k, rnd)
    assert max(len(t) for t in tables.values()) <= k * 8  # ~k·log2(N/k) + k, not N
    found = wanted = 0
    for _ in range(100):
        target, start = rnd.randrange(1 << bits), rnd.choice(peers)
        answer = {p: _closest(tables[p], target, k) for p in peers}
        walk = Walk(target, answer[start], place=lambda p: p, k=k, alpha=3, exclude=[start])
        _run(walk, answer, set())
        truth = set(_closest([p for p in peers if p != start], target, k))
        found += len(truth & set(walk.closest()))
        wanted += k
    assert found / wanted >= 0.97


def test_a_walk_asks_at_most_alpha_at_once_and_only_among_the_k_closest() -> None:
    walk = Walk(0, [1, 2, 3, 4, 50, 60], place=lambda p: p, k=4, alpha=2)
    assert walk.next_queries() == [1, 2]
    assert walk.next_queries() == []  # two in flight
    walk.failed(1)
    assert walk.next_queries() == [3]
    walk.answered(2, [0b101])
    walk.answered(3, [])
    assert walk.next_queries() == [4, 5]  # 5 is new and among the 4 closest live
    assert not walk.done
    walk.answered(4, [])
    walk.answered(5, [])
    assert walk.done and walk.closest() == [2, 3, 4, 5]
