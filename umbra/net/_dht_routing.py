"""Lookups that really walk the DHT: FIND_NODE and GET_VALUE walks driven by `_dht_walk.Walk`.

py-libp2p 0.8.1's lookup (``PeerRouting.find_closest_peers_network``) asks FIND_NODE with the
raw key, which its servers refuse for Umbra's 79-byte value keys, and ends a lookup as soon
as one round brings no closer peer, even when most of the k closest were never asked. Here a
lookup asks about the key's routing key (`_dht_walk.routing_key`, a multihash every Kademlia
accepts) and stops only when the k closest peers it knows have all answered. Every caller of
the library's lookup (PUT, provide, find_providers, the routing-table refresh, the mailbox
lookup) goes through this walk, since `UmbraDHT` installs `UmbraPeerRouting` as its router.

A GET walk (`search_values`) asks GET_VALUE of the closest peers instead: each answer carries
the holder's record (if any) and the peers it knows closer to the key, so one walk both finds
records and converges on the key's neighbourhood.
"""

import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache

import trio
from libp2p.abc import IHost
from libp2p.custom_types import TProtocol
from libp2p.kad_dht.pb.kademlia_pb2 import Message, Record
from libp2p.kad_dht.peer_routing import PeerRouting
from libp2p.kad_dht.routing_table import RoutingTable
from libp2p.kad_dht.utils import maybe_consume_signed_record
from libp2p.peer.id import ID
from libp2p.peer.peerstore import env_to_send_in_RPC
from libp2p.utils.varint import encode_varint_prefixed, read_varint_prefixed_bytes_limited
from multiaddr import Multiaddr

from ._config import KAD_PROTOCOL_ID
from ._dht_walk import Walk, key_position, position, routing_key

log = logging.getLogger(__name__)

QUERY_TIMEOUT_S = 10.0
PEER_ADDR_TTL_S = 3600
_MAX_REPLY_BYTES = 64 * 1024  # = _dht.MAX_DHT_MESSAGE_BYTES (not imported: _dht imports us)


@lru_cache(maxsize=65536)
def peer_position(peer: ID) -> int:
    return position(peer.to_bytes())


class QueryFailed(Exception):
    """A peer did not give a usable answer (unreachable, timed out, reset, wrong type)."""


@dataclass
class ValueSearch:
    """What a GET walk found: valid records by peer, and who answered without one."""

    records: list[tuple[ID, Record]] = field(default_factory=list)
    without: list[ID] = field(default_factory=list)
    closest: list[ID] = field(default_factory=list)


class UmbraPeerRouting(PeerRouting):
    """The library's peer routing with Umbra's lookup (see the module docstring).

    Args:
        k: how many closest peers a lookup returns (the replication factor).
        alpha: queries in flight at once.
    """

    def __init__(self, host: IHost, routing_table: RoutingTable, *, k: int, alpha: int) -> None:
        super().__init__(host, routing_table)
        self.k = k
        self.alpha = alpha
        self.protocol = TProtocol(KAD_PROTOCOL_ID)

    # -- walks ---------------------------------------------------------------------------------

    def _seeds(self, key: bytes, count: int) -> list[ID]:
        seeds = self.routing_table.find_local_closest_peers(key, count)
        if len(seeds) < count:  # a young table: start from whoever we are connected to
            seeds += [p for p in self.host.get_connected_peers() if p not in seeds]
        return seeds

    def new_walk(self, key: bytes, count: int | None = None) -> Walk[ID]:
        count = count or self.k
        return Walk(
            key_position(key),
            self._seeds(key, count),
            place=peer_position,
            k=count,
            alpha=self.alpha,
            exclude=[self.host.get_id()],
        )

    async def drive(
        self,
        walk: Walk[ID],
        ask: Callable[[ID], Awaitable[list[ID]]],
        *,
        stop: Callable[[], bool] = lambda: False,
    ) -> None:
        """Run ``walk`` to its end (or until ``stop()``), asking peers with ``ask``."""
        send, receive = trio.open_memory_channel[tuple[ID, list[ID] | None]](math.inf)

        async def one(peer: ID) -> None:
            closer: list[ID] | None = None
            try:
                with trio.fail_after(QUERY_TIMEOUT_S):
                    closer = await ask(peer)
            except trio.Cancelled:
                raise
            except Exception as exc:  # noqa: BLE001 - a failed peer is just left out
                log.debug("DHT query to %s failed: %s", peer, exc)
            send.send_nowait((peer, closer))

        async with trio.open_nursery() as nursery:
            while True:
                for peer in walk.next_queries():
                    nursery.start_soon(one, peer)
                if walk.done or stop():
                    break
                peer, closer = await receive.receive()
                if closer is None:
                    walk.failed(peer)
                else:
                    walk.answered(peer, closer)
            nursery.cancel_scope.cancel()

    async def find_closest_peers_network(self, target_key: bytes, count: int = 0) -> list[ID]:
        """The ``count`` (default k) peers closest to ``target_key`` that answered a walk."""
        walk = self.new_walk(target_key, count or self.k)
        key = routing_key(target_key)
        await self.drive(walk, lambda peer: self.find_node(peer, key))
        log.debug("lookup: %d queries, %d closest", walk.queries, len(walk.closest()))
        return walk.closest()

    async def search_values(
        self,
        key: bytes,
        *,
        quorum: int,
        validate: Callable[[bytes], bool],
    ) -> ValueSearch:
        """Walk with GET_VALUE until ``quorum`` valid records are found (0: the whole walk)."""
        found = ValueSearch()
        walk = self.new_walk(key)

        async def ask(peer: ID) -> list[ID]:
            record, closer = await self.get_value(peer, key)
            if record is not None and validate(record.value):
                found.records.append((peer, record))
            else:
                found.without.append(peer)
            return closer

        await self.drive(walk, ask, stop=lambda: quorum > 0 and len(found.records) >= quorum)
        found.closest = walk.closest()
        return found

    # -- one request ---------------------------------------------------------------------------

    async def _request(self, peer: ID, message: Message) -> Message:
        if peer == self.host.get_id():
            raise QueryFailed("not asking ourselves")
        message.senderRecord = env_to_send_in_RPC(self.host)[0]
        try:
            stream = await self.host.new_stream(peer, [self.protocol])
        except Exception as exc:  # noqa: BLE001 - dial failures come in many types
            raise QueryFailed(f"cannot open a kad stream: {exc}") from None
        try:
            data = message.SerializeToString()
            await stream.write(encode_varint_prefixed(data))
            reply = Message()
            data = await read_varint_prefixed_bytes_limited(stream, _MAX_REPLY_BYTES)
            reply.ParseFromString(data)
        except trio.Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - reset, EOF, oversized, bad protobuf
            raise QueryFailed(f"no answer: {exc}") from None
        finally:
            with (
                trio.CancelScope(shield=True),
                trio.move_on_after(1),
                contextlib.suppress(Exception),  # closing a broken stream
            ):
                await stream.close()
        if reply.type != message.type:
            raise QueryFailed("the answer is of another type")
        if not maybe_consume_signed_record(reply, self.host, peer):
            raise QueryFailed("an invalid signed peer record")
        return reply

    def _closer_peers(self, reply: Message) -> list[ID]:
        peers: list[ID] = []
        store = self.host.get_peerstore()
        me = self.host.get_id()
        for entry in reply.closerPeers[: self.k * 2]:
            try:
                if not entry.id or not maybe_consume_signed_record(entry, self.host):
                    continue
                peer = ID(entry.id)
                addrs = [Multiaddr(a) for a in entry.addrs[:8]]
            except Exception:  # noqa: BLE001, S112 - one malformed entry is skipped
                continue
            if peer == me or peer in peers:
                continue
            if addrs:
                store.add_addrs(peer, addrs, PEER_ADDR_TTL_S)
            peers.append(peer)
        return peers

    async def find_node(self, peer: ID, key: bytes) -> list[ID]:
        """FIND_NODE ``key`` (a routing key) at ``peer``: the closer peers it names."""
        message = Message()
        message.type = Message.MessageType.FIND_NODE
        message.key = key
        closer = self._closer_peers(await self._request(peer, message))
        await self.routing_table.add_peer(peer)  # it answered: a live server (if identified)
        return closer

    async def get_value(self, peer: ID, key: bytes) -> tuple[Record | None, list[ID]]:
        """GET_VALUE ``key`` (a value key) at ``peer``: its record, if any, and closer peers."""
        message = Message()
        message.type = Message.MessageType.GET_VALUE
        message.key = key
        reply = await self._request(peer, message)
        record = None
        if reply.HasField("record") and reply.record.key == key and reply.record.value:
            record = Record()
            record.CopyFrom(reply.record)
        return record, self._closer_peers(reply)
