"""Umbra's DHT server: py-libp2p 0.8.1's `KadDHT` with its doors narrowed to what Umbra needs.

What the library does by default, and what `UmbraDHT` does instead (docs/specifications/
network.md, "DHT server rules"; each change is listed in `_dht`'s docstring with its test):

- It stores any key in any namespace, or none, up to 1 MiB. Here only Umbra's record types
  are accepted (`UmbraRecords`: each a `RecordValidator` with a size cap, checked before the
  value is parsed), and a DHT message is at most `_dht.MAX_DHT_MESSAGE_BYTES`.
- It has no PUT limit and evicts its oldest value at 50,000. Here each peer has a token
  bucket of PUT_VALUE messages and a byte quota of stored values and provider records, and
  a full store gives way only from its heaviest holders (`_dht_ledger.HolderLedger`).
- It keeps an existing record when a PUT carries the same bytes, so a republished record
  is never refreshed. Here the later of identical values wins, so a re-PUT renews it.
- It adds every peer that opens a kad stream, and every peer a response names, to its
  routing table, and hands them out as closer peers, alive or not. Here the routing table
  (`GuardedRoutingTable`) admits only connected peers whose identify lists our kad protocol,
  and a peer leaves it when its last connection closes.
- It splits every full bucket (a table of every peer), and its lookups cannot route Umbra's
  value keys. Here only our own bucket splits, and lookups go through
  `_dht_routing.UmbraPeerRouting` (value keys placed by their routing key, `_dht_walk`);
  puts, reads and replication are in `_dht_values`.

The library's stream handler is reused; the inbound peer reaches the stores and the PUT
limiter through a context variable (`inbound_peer`) set for the handler's task only.
"""

import contextvars
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

import trio
from libp2p.abc import IHost, INetConn, INetStream, INetwork, INotifee
from libp2p.custom_types import TProtocol
from libp2p.kad_dht.common import BUCKET_SIZE
from libp2p.kad_dht.kad_dht import DHTMode, KadDHT
from libp2p.kad_dht.pb.kademlia_pb2 import Record
from libp2p.kad_dht.peer_routing import PeerRouting
from libp2p.kad_dht.provider_store import ProviderStore
from libp2p.kad_dht.routing_table import KBucket, RoutingTable
from libp2p.kad_dht.value_store import ValueStore
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.records.utils import InvalidRecordType, split_key
from libp2p.records.validator import NamespacedValidator, Validator
from multiaddr import Multiaddr

from ._config import KAD_PROTOCOL_ID, DhtLimits, DhtRouting
from ._dht import tune_dht
from ._dht_ledger import LOCAL, HolderLedger
from ._dht_routing import UmbraPeerRouting
from ._dht_values import put_value, search_value, serve_replication
from ._dht_walk import bucket_may_split, position, routing_key
from ._ratelimit import PeerLimiter
from ._records import InvalidRecord, RecordValidator

log = logging.getLogger(__name__)

# The remote peer (base58) whose kad stream the current task is handling; None outside.
inbound_peer: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "umbra_kad_inbound_peer", default=None
)

IDENTIFY_WAIT_S = 5.0

# Umbra's provider keys are sha2-256 multihashes: catalog CIDs and `_records.provider_key`.
_SHA256_MULTIHASH_PREFIX = b"\x12\x20"
_SHA256_MULTIHASH_BYTES = 34


class PutRateLimited(ValueError):
    """A peer sent PUT_VALUE messages faster than its bucket allows."""


def is_provider_key(key: bytes) -> bool:
    """Whether ``key`` has the form of Umbra's provider keys (a sha2-256 multihash)."""
    return len(key) == _SHA256_MULTIHASH_BYTES and key.startswith(_SHA256_MULTIHASH_PREFIX)


class UmbraRecords(NamespacedValidator):
    """Only Umbra's record types, each with its size cap; identical re-PUTs refresh.

    Args:
        admit_put: asked once per PUT_VALUE from a remote peer (before any parsing) whether
            that peer may put now; False refuses the PUT.
    """

    def __init__(self, admit_put: Callable[[str], bool]) -> None:
        super().__init__({}, strict_validation=True)
        self._admit_put = admit_put

    def add_validator(self, namespace: str, validator: Validator) -> None:
        if not isinstance(validator, RecordValidator):
            raise TypeError(f"{namespace!r}: only Umbra record types (RecordValidator) are served")
        super().add_validator(namespace, validator)

    def record_type(self, key: str) -> RecordValidator:
        """The validator of ``key``'s namespace.

        Raises:
            InvalidRecordType: the key has no namespace, or one that is not Umbra's.
        """
        namespace, _rest = split_key(key)  # raises InvalidRecordType without a namespace
        validator = self._validators.get(namespace)
        if not isinstance(validator, RecordValidator):
            raise InvalidRecordType(f"{namespace[:40]!r} is not an Umbra record namespace")
        return validator

    def validate(self, key: str, value: bytes) -> None:
        peer = inbound_peer.get()
        if peer is not None and not self._admit_put(peer):
            raise PutRateLimited("too many PUT_VALUE messages from this peer")
        validator = self.record_type(key)
        if len(value) > validator.max_bytes:
            raise InvalidRecord(
                f"a record of {len(value)} bytes exceeds the {validator.max_bytes}-byte cap"
            )
        validator.validate(key, value)

    def select(self, key: str, values: list[bytes]) -> int:
        """The best value; of byte-identical values the last one.

        The library's PUT handler passes ``[stored, offered]`` and keeps the stored record
        when 0 comes back, so only the last of identical values lets a re-PUT renew it.
        """
        if values and all(value == values[0] for value in values):
            return len(values) - 1
        return self.record_type(key).select(key, values)


class GuardedValueStore(ValueStore):
    """The value store, with every record charged to the peer that stored it."""

    def __init__(self, host: IHost, local_peer_id: ID, limits: DhtLimits) -> None:
        super().__init__(host=host, local_peer_id=local_peer_id)
        self.ledger = HolderLedger[bytes](
            capacity=limits.value_capacity, per_peer=limits.value_quota
        )
        self._overhead = limits.record_overhead
        # When each record was last stored here (by us or a peer's PUT), on the monotonic
        # clock: `_dht_values.serve_replication` re-puts the ones left alone for a while.
        self.touched: dict[bytes, float] = {}

    def _charge(self, key: bytes, value: bytes) -> None:
        holder = inbound_peer.get() or LOCAL
        evicted = self.ledger.store(key, holder, len(key) + len(value) + self._overhead)
        for victim in evicted:
            ValueStore.remove(self, victim)  # the ledger already let go of it
            self.touched.pop(victim, None)
        self.touched[key] = time.monotonic()
        if evicted:
            log.info("DHT value store full: evicted %d records of heavier holders", len(evicted))

    def put(self, key: bytes, value: bytes, validity: float = 0.0) -> None:
        self._charge(key, value)
        super().put(key, value, validity)

    def put_record(self, key: bytes, record: Record) -> None:
        """Store a record; raises `StoreRefused` when its peer's budget does not allow it."""
        self._charge(key, record.value)
        super().put_record(key, record)

    def _evict_if_full(self) -> None:
        """The ledger decides what gives way (the library evicted the oldest of anyone's)."""

    def remove(self, key: bytes) -> bool:
        self.ledger.release(key)
        self.touched.pop(key, None)
        return super().remove(key)

    def cleanup_expired(self) -> int:
        now = time.time()
        expired = [key for key, (_record, validity) in self.store.items() if now > validity]
        for key in expired:
            self.remove(key)
        return len(expired)


class GuardedProviderStore(ProviderStore):
    """The provider store: Umbra's key form only, records charged to their provider."""

    def __init__(self, host: IHost, peer_routing: PeerRouting, limits: DhtLimits) -> None:
        super().__init__(host=host, peer_routing=peer_routing)
        self.ledger = HolderLedger[tuple[bytes, str]](
            capacity=limits.provider_capacity, per_peer=limits.provider_quota
        )
        self._limits = limits

    def add_provider(self, key: bytes, provider: PeerInfo) -> None:
        """Add or refresh a provider record.

        Raises:
            InvalidRecord: the key is not of Umbra's form.
            StoreRefused: the provider's budget does not allow it (see `_dht_ledger`).
        """
        if not provider or not provider.peer_id:
            return
        local = provider.peer_id == self.local_peer_id
        if not local and not is_provider_key(key):
            raise InvalidRecord("not an Umbra provider key (a sha2-256 multihash)")
        peer = str(provider.peer_id)
        held = self.providers.get(key, {})
        if peer not in held and len(held) >= BUCKET_SIZE:
            return  # the library's per-key cap: first come, see docs/known-issues.md
        addrs: list[Multiaddr] = list(provider.addrs)[: self._limits.max_provider_addrs]
        cost = len(key) + sum(len(a.to_bytes()) for a in addrs) + self._limits.record_overhead
        for victim_key, victim_peer in self.ledger.store(
            (key, peer), LOCAL if local else peer, cost
        ):
            self._drop(victim_key, victim_peer)
        super().add_provider(key, PeerInfo(provider.peer_id, addrs))

    def _drop(self, key: bytes, peer: str) -> None:
        self.ledger.release((key, peer))
        held = self.providers.get(key)
        if held is not None:
            held.pop(peer, None)
            if not held:
                del self.providers[key]

    def get_providers(self, key: bytes) -> list[PeerInfo]:
        before = set(self.providers.get(key, ()))
        providers = super().get_providers(key)  # deletes expired records
        for peer in before - set(self.providers.get(key, ())):
            self.ledger.release((key, peer))
        return providers

    def cleanup_expired(self) -> None:
        super().cleanup_expired()
        for key, peer in list(self.ledger):
            if peer not in self.providers.get(key, ()):
                self.ledger.release((key, peer))


class GuardedRoutingTable(RoutingTable):
    """A bounded routing table of live DHT servers only (see the module docstring).

    Args:
        bucket_size: Kademlia's k: each bucket holds at most this many peers, and only the
            bucket holding our own position splits (`_dht_walk.bucket_may_split`).
    """

    def __init__(self, local_id: ID, host: IHost, *, bucket_size: int = BUCKET_SIZE) -> None:
        super().__init__(local_id, host)
        self.buckets = [KBucket(host, bucket_size)]
        self.own_position = position(local_id.to_bytes())

    async def add_peer(
        self, peer_obj: PeerInfo | ID, *, skip_server_mode_check: bool = False
    ) -> bool:
        """Add a peer if it serves our DHT now; the library's ``skip`` flag is ignored.

        The library skips its server-mode check for any peer that opens a kad stream, which
        is how DHT clients got in. A full bucket that may not split keeps its peers while
        they serve (Kademlia prefers long-lived peers); one that stopped serving makes room.
        """
        peer = peer_obj.peer_id if isinstance(peer_obj, PeerInfo) else peer_obj
        if not self.serves_dht(peer):
            return False
        bucket = self.find_bucket(peer)
        if (
            not bucket.has_peer(peer)
            and bucket.size() >= bucket.bucket_size
            and not self._should_split_bucket(bucket)
        ):
            gone = [p for p in bucket.peer_ids() if not self.serves_dht(p)]
            if not gone:
                return False
            bucket.remove_peer(gone[0])
        return await super().add_peer(peer_obj, skip_server_mode_check=True)

    def _should_split_bucket(self, bucket: KBucket) -> bool:
        return len(bucket.peers) >= bucket.bucket_size and bucket_may_split(
            bucket.min_range, bucket.max_range, self.own_position
        )

    def serves_dht(self, peer: ID) -> bool:
        """Connected now, and identify listed `KAD_PROTOCOL_ID` among its protocols."""
        connections = self.host.get_network().get_connections(peer)
        if not any(not c.is_closed for c in connections):
            return False
        try:
            protocols = self.host.get_peerstore().get_protocols(peer)
        except Exception:  # noqa: BLE001 - unknown peer
            return False
        return KAD_PROTOCOL_ID in protocols

    def find_local_closest_peers(self, key: bytes, count: int = 20) -> list[ID]:
        """The closest peers we hold to ``key``'s position (a value key is placed by its
        routing key, `_dht_walk.routing_key`), without any whose connection closed."""
        closest = super().find_local_closest_peers(routing_key(key), self.size())
        return [peer for peer in closest if self.serves_dht(peer)][:count]


class _LeaveOnDisconnect(INotifee):
    """Drops a peer from the routing table when its last connection closes."""

    def __init__(self, table: RoutingTable) -> None:
        self._table = table

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        peer = conn.muxed_conn.peer_id
        if not any(not c.is_closed for c in network.get_connections(peer)):
            self._table.remove_peer(peer)

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        pass

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        pass

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        pass

    async def listen(self, network: INetwork, multiaddr: Multiaddr) -> None:
        pass

    async def listen_close(self, network: INetwork, multiaddr: Multiaddr) -> None:
        pass


class UmbraDHT(KadDHT):
    """A DHT server for Umbra's records only. Register each record type with
    `register_validator` (a `RecordValidator`); everything else is refused."""

    routing_table: GuardedRoutingTable
    peer_routing: UmbraPeerRouting
    value_store: GuardedValueStore
    provider_store: GuardedProviderStore

    def __init__(
        self,
        host: IHost,
        limits: DhtLimits,
        *,
        routing: DhtRouting | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        tune_dht()  # Umbra's protocol id must be bound before the handler is registered
        self._clock = clock
        self.routing = routing or DhtRouting()
        # Only its token buckets are used (bounded memory over many peers); no strikes here.
        self._put_limits = PeerLimiter(
            burst=limits.put_burst, rate=limits.put_rate, max_strikes=1 << 30, ban_seconds=0
        )
        records = UmbraRecords(admit_put=lambda peer: self._put_limits.allow_at(peer, clock()))
        super().__init__(
            host,
            DHTMode.SERVER,
            validator=records,
            validator_changed=True,  # no /pk/ or /ipns/ validators
            strict_validation=True,
            protocol_prefix=TProtocol("/umbra"),
        )
        self.records = records
        self.routing_table = GuardedRoutingTable(
            self.local_peer_id, host, bucket_size=self.routing.bucket_size
        )
        self.peer_routing = UmbraPeerRouting(
            host, self.routing_table, k=self.routing.replication, alpha=self.routing.alpha
        )
        self.value_store = GuardedValueStore(host, self.local_peer_id, limits)
        self.provider_store = GuardedProviderStore(host, self.peer_routing, limits)
        host.get_network().register_notifee(_LeaveOnDisconnect(self.routing_table))
        self._background: trio.Nursery | None = None

    async def run(self) -> None:
        """The library's service (table refresh, provider republish) and replication."""
        async with trio.open_nursery() as nursery:
            self._background = nursery
            nursery.start_soon(
                functools.partial(
                    serve_replication,
                    self,
                    interval=self.routing.replicate_interval,
                    clock=time.monotonic,
                )
            )
            try:
                await super().run()
            finally:
                self._background = None
                nursery.cancel_scope.cancel()

    def spawn(self, job: Callable[..., Awaitable[object]], *args: object) -> None:
        """Run ``job`` in the background while the DHT runs (dropped when it does not)."""
        if self._background is not None:
            self._background.start_soon(job, *args)

    async def put_value(self, key: str, value: bytes) -> int:  # type: ignore[override]
        """Store ``value`` at ``key``'s closest peers (`_dht_values.put_value`)."""
        return await put_value(self, key, value)

    async def get_value(self, key: str, quorum: int = 0) -> bytes | None:
        """The local copy if we hold one (as py-libp2p does), else `search_value`'s answer.

        Use `_dht.get_fresh` for the newest record: this one never asks the network when a
        copy is held here.
        """
        record = self.value_store.get(key.encode())
        if record is not None:
            return record.value
        return await self.search_value(key, quorum=quorum)

    async def search_value(
        self, key: str, *, quorum: int, select: Callable[[Sequence[bytes]], int] | None = None
    ) -> bytes | None:
        """The best record the network holds for ``key`` (`_dht_values.search_value`)."""
        return await search_value(self, key, quorum=quorum, select=select)

    async def handle_stream(self, stream: INetStream) -> None:
        token = inbound_peer.set(str(stream.muxed_conn.peer_id))
        try:
            await super().handle_stream(stream)
        finally:
            inbound_peer.reset(token)

    def register_validator(self, namespace: str, validator: Validator) -> None:
        """Serve one Umbra record type (raises TypeError for anything else)."""
        self.records.add_validator(namespace, validator)

    async def adopt_connected(self) -> int:
        """Add connected DHT servers missing from the table; how many were added.

        A peer is added when it opens a kad stream or answers ours, but only if identify had
        finished by then; one that was not yet identified would otherwise stay out for good.
        """
        added = 0
        for peer in self.host.get_connected_peers():
            if not self.routing_table.peer_in_table(peer) and await self.add_peer(peer):
                added += 1
        return added

    async def add_server(self, peer: ID, *, wait: float = IDENTIFY_WAIT_S) -> bool:
        """Add a peer we just dialled, once identify says whether it serves our DHT.

        Identify runs in the background after a connection opens; `add_peer` alone (which
        never waits: the library calls it from the inbound handler) would refuse a peer
        whose identify has not finished yet.
        """
        with trio.move_on_after(wait):
            while not self._identified(peer):
                await trio.sleep(0.05)
        return await self.add_peer(peer)

    def _identified(self, peer: ID) -> bool:
        try:
            return bool(self.host.get_peerstore().get_protocols(peer))
        except Exception:  # noqa: BLE001 - unknown peer
            return False
