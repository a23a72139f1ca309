"""Bounded routing tables, replication timing, connection protection, and a holder that
keeps serving during `get_fresh`. Pure logic; the routing table gets a stand-in host that
says every peer is a connected DHT server (only its bucket logic is under test)."""

import math
import os
from types import SimpleNamespace
from typing import Any

import trio
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from multiaddr import Multiaddr

from umbra.net import KAD_PROTOCOL_ID, get_fresh
from umbra.net._connections import (
    MESH,
    NEIGHBOUR,
    PARTNER,
    OpenConnection,
    Partners,
    neighbourhood,
    protection_changes,
    to_close,
)
from umbra.net._dht_guard import GuardedRoutingTable
from umbra.net._dht_values import due_for_replication
from umbra.net._dht_walk import position


def _peer() -> ID:
    return ID(b"\x00\x24" + os.urandom(36))


class _Everyone:
    """A host where every peer is connected and lists our kad protocol."""

    def get_network(self) -> Any:
        return SimpleNamespace(get_connections=lambda _p: [SimpleNamespace(is_closed=False)])

    def get_peerstore(self) -> Any:
        return SimpleNamespace(
            get_protocols=lambda _p: [KAD_PROTOCOL_ID],
            addrs=lambda _p: [Multiaddr("/ip4/127.0.0.1/tcp/1")],
        )


def test_a_full_bucket_splits_only_around_our_own_position() -> None:
    async def main() -> None:
        me = _peer()
        table = GuardedRoutingTable(me, _Everyone(), bucket_size=4)  # type: ignore[arg-type]
        addr = [Multiaddr("/ip4/127.0.0.1/tcp/1")]
        for _ in range(400):
            await table.add_peer(PeerInfo(_peer(), addr))
        own = position(me.to_bytes())
        for bucket in table.buckets:
            assert bucket.size() <= 4
        # Exactly one bucket holds our position; every other bucket is the sibling of a
        # bucket on our path (it could not split), so there is one per prefix length.
        assert sum(b.min_range <= own < b.max_range for b in table.buckets) == 1
        widths = sorted(b.max_range - b.min_range for b in table.buckets)
        assert len(set(widths[1:])) == len(widths) - 1  # one bucket per prefix length
        # About k·log2(N/k) + k, far below the 400 peers offered.
        assert table.size() <= 4 * (math.log2(400 / 4) + 2)

    trio.run(main)


def test_a_bucket_that_may_not_split_keeps_its_live_peers() -> None:
    async def main() -> None:
        me = _peer()
        table = GuardedRoutingTable(me, _Everyone(), bucket_size=2)  # type: ignore[arg-type]
        addr = [Multiaddr("/ip4/127.0.0.1/tcp/1")]
        for _ in range(200):
            await table.add_peer(PeerInfo(_peer(), addr))
        far = max(table.buckets, key=lambda b: b.max_range - b.min_range)
        before = far.peer_ids()
        newcomer = next(p for p in iter(_peer, None) if far.peer_id_in_range(p) and p not in before)
        assert not await table.add_peer(PeerInfo(newcomer, addr))
        assert far.peer_ids() == before

    trio.run(main)


def test_due_for_replication() -> None:
    touched = {b"a": 100.0, b"b": 150.0, b"c": 40.0}
    assert sorted(due_for_replication(touched, 160.0, 60.0)) == [b"a", b"c"]
    assert due_for_replication(touched, 100.0, 60.0) == [b"c"]
    assert due_for_replication(touched, 99.0, 60.0) == []


def test_protection_changes_and_partners() -> None:
    a, b, c = _peer(), _peer(), _peer()
    add, drop = protection_changes(
        {NEIGHBOUR: {a, b}, MESH: {c}}, {NEIGHBOUR: {b, c}, PARTNER: {a}}
    )
    assert sorted(map(str, add)) == sorted(map(str, [(c, NEIGHBOUR), (a, PARTNER)]))
    assert sorted(map(str, drop)) == sorted(map(str, [(a, NEIGHBOUR), (c, MESH)]))
    partners = Partners(keep=10)
    partners.met(a, now=0)
    partners.met(b, now=5)
    assert partners.active(9) == {a, b}
    assert partners.active(12) == {b}


class _Store:
    def __init__(self) -> None:
        self.records: dict[bytes, Any] = {}

    def get(self, key: bytes) -> Any:
        return self.records.get(key)


def test_a_holder_keeps_serving_its_copy_while_get_fresh_asks_the_network() -> None:
    """py-libp2p's get_value reads the local copy first; Umbra's get_fresh used to remove
    that copy during the lookup, so the node answered "not found" to every peer meanwhile."""
    key = "/umbra-catalog/" + "ab" * 32
    old, new = b"seq-1", b"seq-2"
    store = _Store()
    store.records[key.encode()] = SimpleNamespace(value=old)
    seen_during_lookup: list[Any] = []

    async def search_value(k: str, *, quorum: int, select: Any) -> bytes:
        seen_during_lookup.append(store.get(k.encode()))  # what a GET_VALUE would be served
        await trio.sleep(0)
        return new

    dht = SimpleNamespace(value_store=store, search_value=search_value)

    async def main() -> bytes | None:
        return await get_fresh(dht, key, quorum=1, select=lambda vs: vs.index(max(vs)))  # type: ignore[arg-type]

    assert trio.run(main) == new
    assert seen_during_lookup and seen_during_lookup[0] is not None
    assert seen_during_lookup[0].value == old


def test_connections_are_closed_above_the_high_watermark_only_and_never_kept_ones() -> None:
    peers = [_peer() for _ in range(10)]
    conns = [OpenConnection(p, opened_at=float(i), busy=False) for i, p in enumerate(peers)]
    keep = {peers[0], peers[1]}
    assert to_close(conns, keep, high=10, low=4, grace=5, now=100) == []
    busy = OpenConnection(peers[2], opened_at=2.0, busy=True)
    conns[2] = busy
    chosen = to_close(conns, keep, high=8, low=4, grace=5, now=100)
    # 10 open, 6 to close: the oldest idle ones, never a kept peer or a busy connection.
    assert [c.peer for c in chosen] == peers[3:9]
    young = to_close(conns, keep, high=8, low=4, grace=5, now=8.5)
    assert [c.peer for c in young] == peers[3:4]  # the others are within their grace


def test_the_neighbourhood_is_ours_and_the_peers_counting_on_us() -> None:
    a, b, c, d, e, f = (_peer() for _ in range(6))
    # Positions (XOR distances of small numbers): we are at 0.
    places = {a: 1, b: 2, c: 3, d: 64, e: 65, f: 66}
    # Our 2 closest are a and b; c has a and b closer than us; d, e and f have two of each
    # other closer than us: nobody else counts on us.
    assert neighbourhood(0, places, 2) == {a, b}
    # A lone far peer: we are (as far as we know) among its 2 closest, so we keep it.
    lone = _peer()
    assert neighbourhood(0, {a: 1, b: 2, lone: 64}, 2) == {a, b, lone}


def test_the_neighbourhood_is_bounded_when_the_table_is_small() -> None:
    # Each peer is nearer to us than to any other peer we know: by our table, every one of
    # them counts on us. We keep our 4 closest and the 4 nearest of the others, not 30.
    lonely = {_peer(): 1 << (20 + i) for i in range(30)}
    kept = neighbourhood(0, lonely, 4)
    assert len(kept) == 8
