"""A thin layer over py-libp2p 0.8.1's Kademlia DHT: workarounds for its known problems.

Each workaround has a test that shows the library's behaviour and ours: items 1-3 in
tests/integration/net/test_dht_records.py, the others where they are listed. py-libp2p is
pinned (==0.8.1); the tests fail if an upgrade moves what a workaround relies on.

1. Stale reads: ``KadDHT.get_value`` answers from the local value store when it holds the
   key, without asking the network, so a reader that once fetched seq 1 keeps seeing seq 1
   after the owner published seq 2. `get_fresh` asks the network (`UmbraDHT.search_value`)
   and keeps the best of the network's and the local record. It no longer sets the local copy
   aside during the lookup (a holder answered "not found" to everyone meanwhile). Tests:
   tests/unit/net/test_dht_bounds.py (test_a_holder_keeps_serving_its_copy_while_get_fresh_
   asks_the_network).
2. Empty routing tables: nodes that start together see only the bootstrap peer on their first
   self-lookup, and the library refreshes every 600 s. `fill_routing_table` repeats the
   self-lookup (only: the library's full refresh at every node's start flooded a network)
   a few times with a short backoff.
3. Slow lookups: ALPHA (lookup concurrency) is a module constant; `tune_dht` sets it.
4. The public IPFS protocol id: the library hard-codes ``/ipfs/kad/1.0.0`` (its
   ``protocol_prefix`` argument is not used on the wire), so an Umbra node meeting an IPFS
   node would merge the two DHTs. `tune_dht` rebinds the id to `KAD_PROTOCOL_ID` in every
   module that imported it, and caps DHT messages at `MAX_DHT_MESSAGE_BYTES` (the library
   reads up to 4 MiB). Tests: tests/unit/net/test_dht_tuning.py (every binding, every
   source occurrence) and tests/integration/net/test_dht_guard.py
   (test_kad_protocol_is_umbras).
5. Anyone's records: the library stores any key in any namespace (``strict_validation`` is
   off by default, ``/pk/`` and ``/ipns/`` validators are added), up to 1 MiB, with no PUT
   rate limit, and evicts the oldest entry at 50,000. `_dht_guard.UmbraDHT` accepts only
   Umbra's record types, each with a size cap, limits PUTs per peer and charges every stored
   value and provider record to the peer that stored it (`_dht_ledger`). Tests:
   tests/unit/net/test_dht_ledger.py, test_dht_records_guard.py, test_dht_guard_wiring.py
   (the replaced library parts are the ones in use) and
   tests/integration/net/test_dht_guard.py.
6. DHT clients in the routing table: the library adds every peer that opens a kad stream
   and every peer named in a response, and hands them out as closer peers, dead or alive.
   `_dht_guard.GuardedRoutingTable` admits only connected peers whose identify lists
   `KAD_PROTOCOL_ID`, and drops a peer when its last connection closes. Test:
   tests/integration/net/test_dht_guard.py (test_client_and_dead_peers_are_not_handed_out).
7. Republishing an unchanged record was refused by every holder (its ``select`` keeps the
   existing record on a tie), so the record's 24 h lifetime was never extended.
   `_dht_guard.UmbraRecords.select` picks the later of byte-identical values, so a re-PUT
   refreshes the record. Tests: tests/unit/net/test_dht_records_guard.py and
   tests/integration/net/test_dht_guard.py (test_unchanged_reput_extends_the_record).
8. Unroutable keys and lookups that stop early: FIND_NODE refuses keys that are neither a
   multihash nor 2-50 bytes, so lookups for Umbra's 79-byte value keys got nothing and a PUT
   landed on whichever peers the publisher knew; and the library's lookup ends after any
   round without a closer peer. `_dht_routing.UmbraPeerRouting` looks a value key up by its
   routing key (its sha2-256 multihash, `_dht_walk.routing_key`), walks until the k closest
   answered, and is the router of every lookup (PUT, GET, provide, refresh, mailboxes).
   Tests: tests/unit/net/test_dht_walk.py, tests/integration/net/test_dht_sparse.py.
9. Unbounded routing tables: the library splits any full bucket, so a table ends up holding
   every peer. `_dht_guard.GuardedRoutingTable` splits only the bucket holding our own
   position (k peers per bucket). Tests: tests/unit/net/test_dht_bounds.py, test_dht_sparse.
10. No replication: only the owner re-put a record, through the refused lookup. Holders
   re-put what they hold to the key's current closest peers (`_dht_values.
   serve_replication`). Test: tests/integration/net/test_dht_sparse.py.
11. Every node connected to every other: the library's dialer fills connections up to the
   middle of its watermarks from the peer store, and its pruner skips any connection with a
   stream (gossip keeps one on each). `_connections.ConnectionKeeper` stops the dialer and
   closes idle, unneeded connections above the high watermark. Tests:
   tests/unit/net/test_dht_bounds.py, tests/integration/net/test_dht_sparse.py.
"""

import importlib
import logging
import pkgutil
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import libp2p.kad_dht
import trio
from libp2p.custom_types import TProtocol
from libp2p.kad_dht import kad_dht as _kad_module
from libp2p.kad_dht import peer_routing as _routing_module
from libp2p.kad_dht import provider_store as _provider_module

from ._config import KAD_PROTOCOL_ID
from ._records import select_head

if TYPE_CHECKING:
    from ._dht_guard import UmbraDHT

log = logging.getLogger(__name__)

LOOKUP_ALPHA = 3
IPFS_KAD_PROTOCOL_ID = "/ipfs/kad/1.0.0"
# The largest DHT message we read (the library allows 4 MiB): our largest record is a prekey
# record of 8.7 KiB, and a response with 20 providers and 20 closer peers stays under 20 KiB.
MAX_DHT_MESSAGE_BYTES = 64 * 1024


def tune_dht() -> None:
    """Patch py-libp2p's DHT module constants; call before creating a DHT. Idempotent.

    - ALPHA (lookup concurrency) = `LOOKUP_ALPHA` (measured: quorum-1 gets ~5x faster at
      N=20).
    - The protocol id: every module-level name of ``libp2p`` bound to ``/ipfs/kad/1.0.0`` is
      rebound to `KAD_PROTOCOL_ID`. The library imports the constant by value into each of
      its DHT modules (handler registration, outbound streams, the routing table's
      server-mode check), so all ``libp2p.kad_dht`` modules are imported first and every
      loaded ``libp2p`` module is scanned, not a fixed list.
    - MAX_DHT_MESSAGE_SIZE = `MAX_DHT_MESSAGE_BYTES`, wherever it was imported.
    """
    for info in pkgutil.iter_modules(libp2p.kad_dht.__path__, "libp2p.kad_dht."):
        importlib.import_module(info.name)
    for module in (_kad_module, _routing_module, _provider_module):
        if hasattr(module, "ALPHA"):
            setattr(module, "ALPHA", LOOKUP_ALPHA)  # noqa: B010 - a module constant
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "libp2p" or name.startswith("libp2p.")):
            continue
        names = vars(module)
        for attr, value in list(names.items()):
            if isinstance(value, str) and value == IPFS_KAD_PROTOCOL_ID:
                names[attr] = TProtocol(KAD_PROTOCOL_ID)
        if name.startswith("libp2p.kad_dht.") and "MAX_DHT_MESSAGE_SIZE" in names:
            names["MAX_DHT_MESSAGE_SIZE"] = MAX_DHT_MESSAGE_BYTES


async def get_fresh(
    dht: "UmbraDHT",
    key: str,
    *,
    quorum: int,
    select: Callable[[Sequence[bytes]], int] = select_head,
) -> bytes | None:
    """The best record for ``key`` from the network, never only the local cache.

    The network is asked with `UmbraDHT.search_value`, which does not touch the local copy:
    while the lookup runs this node keeps serving its copy to others (it used to set the copy
    aside, and answered "not found" meanwhile). The better of the network's record and the
    local one is returned (``select``: catalog heads by default), and kept locally.
    """
    remote: bytes | None = None
    try:
        remote = await dht.search_value(key, quorum=quorum, select=select)
    except trio.Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - the library raises many types; a miss is a miss
        log.debug("DHT get %s failed: %s", key, exc)
    local = dht.value_store.get(key.encode("utf-8"))
    candidates = [v for v in (remote, None if local is None else local.value) if v is not None]
    if not candidates:
        return None
    return candidates[select(candidates)]


async def fill_routing_table(dht: "UmbraDHT", *, rounds: int, pause: float = 0.5) -> int:
    """Repeat the self-lookup until the table stops growing or ``rounds`` run out.

    Only the self-lookup: it fills the buckets near our own id, which every lookup ending
    near us needs. The library's full refresh (a lookup for a random key in every bucket)
    runs from its own loop every 10 minutes; run at start by every node at once it flooded
    a 28-node network with hundreds of walks.
    """
    size = dht.get_routing_table_size()
    me = dht.host.get_id().to_bytes()
    for attempt in range(rounds):
        try:
            await dht.peer_routing.find_closest_peers_network(me)
        except trio.Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001
            log.debug("self-lookup %d failed: %s", attempt, exc)
        new_size = dht.get_routing_table_size()
        if new_size == size and attempt > 0:
            break
        size = new_size
        await trio.sleep(pause * (attempt + 1))
    return size
