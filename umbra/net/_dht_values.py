"""Putting, finding and keeping value records in the DHT (used by `_dht_guard.UmbraDHT`).

- `put_value`: store locally, walk to the key's `DhtRouting.replication` closest peers
  (`_dht_routing`), PUT the record at each; returns how many took it.
- `search_value`: a GET walk, network only: the local copy is neither read nor set aside, so
  a holder keeps serving its copy to others while it looks for a newer one. The best record
  found replaces the local one only if it wins (`select`), and peers of the walk that
  answered with an older record or none (among the closest) get the best one afterwards, in
  the background (Kademlia's entry correction).
- `serve_replication`: every `DhtRouting.replicate_interval` a holder re-puts each record it
  holds to the key's current closest peers, unless the record was put to it during that
  interval (then another holder or the owner just did). So a record survives the peers that
  first held it leaving, and reaches peers that joined closer to its key. Copies a node
  cached from its own reads are served, and replicated only by a node among the key's k
  closest.
"""

import logging
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import trio
from libp2p.kad_dht.pb.kademlia_pb2 import Record
from libp2p.peer.id import ID

from ._dht_routing import QUERY_TIMEOUT_S, peer_position
from ._dht_walk import key_position

if TYPE_CHECKING:
    from ._dht_guard import UmbraDHT

log = logging.getLogger(__name__)


def due_for_replication(touched: Mapping[bytes, float], now: float, interval: float) -> list[bytes]:
    """Keys whose record nobody stored here (a PUT, ours or a peer's) for ``interval`` s."""
    return [key for key, at in touched.items() if now - at >= interval]


async def store_at(dht: "UmbraDHT", peers: Iterable[ID], key: bytes, record: Record) -> int:
    """PUT ``record`` at every peer in ``peers`` at once; how many acknowledged it."""
    stored = 0
    me = dht.host.get_id()

    async def one(peer: ID) -> None:
        nonlocal stored
        with trio.move_on_after(QUERY_TIMEOUT_S):
            if await dht.value_store._store_at_peer(peer, key, record.value, record=record):
                stored += 1

    async with trio.open_nursery() as nursery:
        for peer in peers:
            if peer != me:
                nursery.start_soon(one, peer)
    return stored


def _among_closest(dht: "UmbraDHT", key: bytes, closest: Sequence[ID]) -> bool:
    """Whether we are nearer to ``key`` than the farthest of the walk's k closest peers."""
    if len(closest) < dht.peer_routing.k:
        return True
    target = key_position(key)
    farthest = max(peer_position(p) ^ target for p in closest)
    return dht.routing_table.own_position ^ target < farthest


async def put_value(dht: "UmbraDHT", key: str, value: bytes) -> int:
    """Validate, store locally, then at the key's closest peers; how many took it.

    Raises:
        InvalidRecordType, InvalidRecord: not an Umbra record (nothing is stored).
        ValueError: the local copy is newer (a rollback of our own record is refused).
    """
    dht.records.validate(key, value)
    key_bytes = key.encode()
    local = dht.value_store.get(key_bytes)
    newer_here = local is not None and local.value != value
    if newer_here and local is not None and dht.records.select(key, [value, local.value]) != 0:
        raise ValueError("refusing to replace a newer value with an older one")
    dht.value_store.put(key_bytes, value)
    record = dht.value_store.get(key_bytes)
    assert record is not None
    peers = await dht.peer_routing.find_closest_peers_network(key_bytes)
    stored = await store_at(dht, peers, key_bytes, record)
    log.debug("put %s: stored at %d of %d closest peers", key[:24], stored, len(peers))
    return stored


async def search_value(
    dht: "UmbraDHT",
    key: str,
    *,
    quorum: int,
    select: Callable[[Sequence[bytes]], int] | None = None,
) -> bytes | None:
    """The best valid value the network holds for ``key`` (see the module docstring)."""
    key_bytes = key.encode()

    def valid(value: bytes) -> bool:
        try:
            dht.records.validate(key, value)
        except Exception:  # noqa: BLE001 - any invalid record just does not count
            return False
        return True

    found = await dht.peer_routing.search_values(key_bytes, quorum=quorum, validate=valid)
    if not found.records:
        return None
    choose = select or (lambda values: dht.records.select(key, list(values)))
    values = [record.value for _peer, record in found.records]
    best_peer, best = found.records[choose(values)]
    local = dht.value_store.get(key_bytes)
    if local is None or (local.value != best.value and choose([local.value, best.value]) == 1):
        try:
            dht.value_store.put_record(key_bytes, best)
            # A copy cached by a read is served, but replicated only if we are among the
            # key's k closest (a holder): else every reader would re-put it every interval.
            if not _among_closest(dht, key_bytes, found.closest):
                dht.value_store.touched.pop(key_bytes, None)
        except ValueError as exc:  # the store is full of lighter holders: keep reading
            log.debug("not caching %s: %s", key[:24], exc)
    stale = [p for p, r in found.records if r.value != best.value]
    missing = [p for p in found.without if p in found.closest]
    if stale or missing:
        dht.spawn(store_at, dht, [*stale, *missing], key_bytes, best)
    log.debug("get %s: %d records (best from %s)", key[:24], len(values), best_peer)
    return bytes(best.value)


async def serve_replication(
    dht: "UmbraDHT",
    *,
    interval: float,
    clock: Callable[[], float],
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Re-put held records that nobody re-put for ``interval`` s (see the module docstring)."""
    task_status.started()
    while True:
        # A random part of the interval: holders of one record do not all wake together,
        # so the first one's PUT spares the others theirs.
        await trio.sleep(interval * random.uniform(0.25, 0.5))
        touched = dht.value_store.touched
        for key in due_for_replication(touched, clock(), interval):
            entry = dht.value_store.store.get(key)
            if entry is None:
                touched.pop(key, None)
                continue
            try:
                peers = await dht.peer_routing.find_closest_peers_network(key)
                stored = await store_at(dht, peers, key, entry[0])
            except trio.Cancelled:
                raise
            except Exception as exc:  # noqa: BLE001 - the next round tries again
                log.debug("replicating %r failed: %s", key[:24], exc)
                continue
            if key in touched:
                touched[key] = clock()
            log.debug("replicated %r to %d peers", key[:24], stored)
