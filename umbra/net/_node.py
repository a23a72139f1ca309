"""The long-lived node: one coordinator that owns the libp2p engine and runs the node's jobs.

Jobs (each a task in the node's nursery, see `Node.serve`):

- publish: watch the own catalog; on a change sign a head, announce it on gossip, put it in
  the DHT, provide the catalog and keyword keys; republish periodically.
- gossip: heads announced by others → `offer_head`.
- head exchange: ask connected peers which heads they know (late joiners, restarts).
- freshness: re-resolve known sellers in the DHT (catches missed gossip).
- sync workers: fetch a newer catalog and its new listings, verify, index, persist.
- status and peer store: written to the profile's database for ``umbra status``.

Every byte from outside is checked before use; a peer that breaks the protocol gets a strike
and, after `NetLimits.max_strikes`, is disconnected and banned for a while. Nothing a peer
sends can end the node: each job logs and survives malformed input.
"""

import contextlib
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, ParamSpec, Protocol, TypeVar

import multiaddr
import trio
from libp2p.abc import IHost, INetStream
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V11, GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.tools.anyio_service import background_trio_service
from multiformats import CID

from umbra.core import (
    CatalogHeadBody,
    SignedArbiterProfile,
    SignedCatalog,
    SignedCatalogHead,
    cid_text,
    parse_arbiter_profile,
    parse_catalog,
    parse_catalog_head,
    parse_listing,
    sign_catalog_head,
)
from umbra.store import Profile

from ._admission import ConnectionAdmission, ConnectionCaps
from ._arbiter_records import (
    ARBITER_NAMESPACE,
    ArbiterProfileValidator,
    arbiter_key,
    check_arbiter_record_at,
    select_arbiter_record,
)
from ._bitswap import BitswapServer
from ._block_cache import BlockCache
from ._config import DHT_NAMESPACE, HEADS_TOPIC, SYNC_PROTOCOL_ID, NodeConfig
from ._connections import ConnectionKeeper, neighbourhood
from ._dht import fill_routing_table, get_fresh, tune_dht
from ._dht_guard import UmbraDHT
from ._dht_routing import peer_position
from ._errors import NetError, ProtocolViolation
from ._image_fetch import ImageFetcher
from ._ingest import (
    CatalogUpdate,
    check_catalog_matches_head,
    new_listing_cids,
    plan_update,
)
from ._onion_addresses import check_announced, dialable, peer_store_addrs, rejoin_addrs
from ._public_blocks import PublicBlocks, own_block_cids
from ._ratelimit import PeerLimiter
from ._reach import PeerReacher
from ._records import CatalogHeadValidator, head_key, keyword_keys
from ._state import NetState
from ._status import NodeStatus
from ._swarm_fetch import SwarmFetch, SwarmFetcher
from ._sync import SyncClient, SyncServer
from ._sync_batches import ListingBatches
from ._transport import Transport, close_listeners
from ._transport_choice import tor_bootstrap_of, tor_endpoints_of, tor_error_of, transport_for

log = logging.getLogger(__name__)

# A store call takes milliseconds (a large sync's commit about a second): one that holds the
# store this long is logged, since everything else of the node and its pages waits meanwhile.
SLOW_STORE_CALL_S = 5.0

P = ParamSpec("P")
T = TypeVar("T")

_MAX_SOURCES = 8
# Recently served documents kept in memory (see `_block_cache`).
_SERVED_CACHE_BYTES = 4 * 1024 * 1024
_SYNC_RETRIES = 3
_RETRY_DELAY_S = 2.0


class CatalogSource(Protocol):
    """Where the node reads the seller's own current catalog (the market layer provides it).

    Called from a worker thread that holds the database limiter.
    """

    def current_catalog(self) -> SignedCatalog | None: ...


@dataclass
class _Pending:
    head: SignedCatalogHead
    sources: list[ID] = field(default_factory=list)
    attempts: int = 0


class Node:
    """A running node. Build it with `open_node`; it is live inside that context."""

    def __init__(
        self,
        profile: Profile,
        config: NodeConfig,
        source: CatalogSource | None,
        *,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._profile = profile
        self._config = config
        self._source = source
        self._transport = transport or transport_for(config.network, profile_dir=profile.path)
        self._clock = clock
        self._limiter = trio.CapacityLimiter(1)
        self._state: NetState | None = None
        lim = config.limits
        self._request_limits = PeerLimiter(
            burst=lim.request_burst,
            rate=lim.request_rate,
            max_strikes=lim.max_strikes,
            ban_seconds=lim.ban_seconds,
        )
        self._head_limits = PeerLimiter(
            burst=lim.head_burst,
            rate=lim.head_rate,
            max_strikes=lim.max_strikes,
            ban_seconds=lim.ban_seconds,
        )
        self._admission = ConnectionAdmission(
            ConnectionCaps(
                per_ip=lim.max_connections_per_ip,
                per_range=lim.max_connections_per_range,
                inbound=lim.max_inbound_connections,
                total=lim.max_connections,
                limit_loopback=lim.limit_loopback,
                handshakes=lim.max_pending_handshakes,
                handshake_timeout=lim.handshake_timeout,
                high_water=lim.connections_high_water,
                low_water=lim.connections_low_water,
                grace=lim.connection_grace,
            )
        )
        self._known_seq: dict[bytes, int] = {}
        self._pending: dict[bytes, _Pending] = {}
        self._syncing: dict[bytes, int] = {}  # seller → seq a worker is syncing now
        self._queue_send, self._queue_recv = trio.open_memory_channel[bytes](lim.max_catalogs)
        self._own_seller = profile.identity.signing_public
        self._own_head: SignedCatalogHead | None = None
        self._exchanged: set[ID] = set()
        self._started_at = clock()
        self._counters = {"syncs_ok": 0, "syncs_failed": 0, "rejected_heads": 0}
        self._synced = trio.Event()
        self._host: IHost | None = None
        self._dht: UmbraDHT | None = None
        self._keeper: ConnectionKeeper | None = None
        self._pubsub: Pubsub | None = None
        self._client: SyncClient | None = None
        self._reacher: PeerReacher | None = None
        self._images: ImageFetcher | None = None
        self._swarm: SwarmFetcher | None = None
        self._live: dict[bytes, SwarmFetch] = {}
        self._served = BlockCache(_SERVED_CACHE_BYTES)  # seller → the fetch of its syncing catalog

    # -- helpers -------------------------------------------------------------------------------

    async def _db(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a store call in a worker thread; one at a time (the connection is shared).

        Every page of the web app waits for its turn behind these calls (at most
        `umbra.api.STORE_WAIT_S`), so one that holds the store for long is named in the log.
        """

        def timed() -> T:
            started = time.monotonic()
            try:
                return fn(*args, **kwargs)
            finally:
                held = time.monotonic() - started
                if held >= SLOW_STORE_CALL_S:
                    name = getattr(fn, "__qualname__", type(fn).__name__)
                    log.warning("the store call %s held the store for %.1f s", name, held)

        return await trio.to_thread.run_sync(timed, limiter=self._limiter)

    @property
    def state(self) -> NetState:
        assert self._state is not None, "the node is not running"
        return self._state

    @property
    def host(self) -> IHost:
        assert self._host is not None, "the node is not running"
        return self._host

    @property
    def dht(self) -> UmbraDHT:
        assert self._dht is not None, "the node is not running"
        return self._dht

    @property
    def pubsub(self) -> Pubsub:
        assert self._pubsub is not None, "the node is not running"
        return self._pubsub

    @property
    def db_limiter(self) -> trio.CapacityLimiter:
        """The limiter every user of this profile's one connection must share (web app too)."""
        return self._limiter

    @property
    def peer_id(self) -> str:
        return str(self.host.get_id())

    @property
    def addrs(self) -> list[str]:
        return [str(a) for a in self.host.get_addrs()]

    def _now(self) -> int:
        return int(self._clock())

    def _strike(self, peer: str, reason: str) -> None:
        verdict = self._request_limits.strike_at(peer, self._clock())
        log.info("peer %s misbehaved (%s): strike %d", peer, reason, verdict.strikes)
        if verdict.ban and self._pubsub is not None:
            log.warning("banning peer %s for %.0f s", peer, self._config.limits.ban_seconds)
            try:
                peer_id = ID.from_base58(peer)
            except Exception:  # noqa: BLE001
                return
            self._head_limits.strike_at(peer, self._clock())
            # The pubsub blacklist only drops its gossip stream; the connection (DHT, sync)
            # stays up, so close it too. New connections are refused by the transport's
            # peer gate (`_banned`) until the ban ends, when the blacklist entry is lifted.
            self._pubsub.add_to_blacklist(peer_id)
            if self._retry_nursery is not None:
                self._retry_nursery.start_soon(self._enforce_ban, peer_id)

    async def _enforce_ban(self, peer_id: ID) -> None:
        with contextlib.suppress(Exception):  # already gone is fine
            await self.host.disconnect(peer_id)
        await trio.sleep(self._config.limits.ban_seconds)
        if not self._banned(str(peer_id)):
            self.pubsub.remove_from_blacklist(peer_id)

    def _banned(self, peer: str) -> bool:
        return self._request_limits.is_banned_at(peer, self._clock())

    # -- running -------------------------------------------------------------------------------

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled; ``task_status.started(self)`` once the node is reachable (over
        Tor: once its onion service is published).

        The status row is written from the start, so `umbra status` shows Tor's bootstrap
        while the transport comes up.
        """
        self._state = await self._db(NetState, self._profile)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._survive, self._status_loop)
                async with self._transport.open(_TransportStore(self)):
                    await self._serve_host(task_status)
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(3):
                await self._write_status(running=False)

    async def _serve_host(self, task_status: Any) -> None:
        config = self._config
        seed = await self._db(self.state.network_key_seed)
        self._known_seq = await self._db(self.state.known_seqs)
        key_pair = create_new_key_pair(seed)
        listen = [multiaddr.Multiaddr(a) for a in config.listen]
        tune_dht()
        host = self._transport.build_host(
            key_pair,
            listen,
            refuse_peer=lambda peer: self._banned(str(peer)),
            admission=self._admission,
            max_connections=config.limits.max_connections,
        )
        async with host.run(listen):
            try:
                # Over Tor: publish the onion service forwarding to the listener.
                await self._transport.publish(host)
            except BaseException:
                with trio.CancelScope(shield=True):
                    await close_listeners(host)
                raise
            self._host = host
            # In Tor mode the host must announce its onion address only (identify, signed
            # peer record, provider records): refuse to run before anyone can ask it.
            check_announced(config.network, self.addrs)
            dht = UmbraDHT(host, config.limits.dht, routing=config.dht)
            dht.register_validator(DHT_NAMESPACE, CatalogHeadValidator(self._clock))
            dht.register_validator(ARBITER_NAMESPACE, ArbiterProfileValidator(self._clock))
            router = GossipSub(
                protocols=[PROTOCOL_ID_V11],
                degree=6,
                degree_low=4,
                degree_high=12,
                heartbeat_interval=1,
                adaptive_gossip_enabled=False,
            )
            pubsub = Pubsub(host, router, max_inbound_rpc_size=64 * 1024)
            pubsub.set_topic_validator(HEADS_TOPIC, self._validate_gossip, False)
            server = SyncServer(
                limits=config.limits,
                get_blocks=self._serve_blocks,
                get_heads=self._serve_heads,
                admit=lambda peer: self._request_limits.allow_at(peer, self._clock()),
                strike=self._strike,
            )
            host.set_stream_handler(TProtocol(SYNC_PROTOCOL_ID), self._sync_handler(server))
            public = PublicBlocks(self._profile, self._source)
            BitswapServer(
                host,
                limits=config.limits.bitswap,
                get_blocks=lambda cids, budget: self._db(
                    public.get, cids, budget, self._now(), self._own_catalog_cid()
                ),
                strike=self._strike,
                clock=self._clock,
            ).register()
            self._reacher = PeerReacher(
                host, dht, usable=lambda addr: dialable(config.network, str(addr))
            )
            self._client = SyncClient(
                host, limits=config.limits, reach=self.reach, clock=self._clock
            )
            self._swarm = SwarmFetcher(
                self._client,
                strike=self._strike,
                batch=config.limits.max_cids_per_request,
                per_peer=config.limits.swarm_requests_per_peer,
                per_fetch=config.limits.swarm_requests_per_sync,
                hedge_after=config.limits.hedge_seconds_onion
                if config.network.onion_only
                else config.limits.hedge_seconds,
            )
            self._images = ImageFetcher(
                self.state,
                db=self._db,
                fetch=self._fetch,
                providers=self._catalog_providers,
                usable=self._usable,
                connected=lambda: self.host.get_connected_peers(),
                now=self._now,
            )
            keeper = ConnectionKeeper(
                host,
                neighbours=lambda: neighbourhood(
                    dht.routing_table.own_position,
                    {p: peer_position(p) for p in dht.routing_table.get_peer_ids()},
                    config.dht.neighbours,
                ),
                mesh=lambda: router.mesh.get(HEADS_TOPIC, set()),
                rejoin=self._join,
                tend_table=dht.adopt_connected,
                clock=time.monotonic,
                high=config.limits.connections_high_water,
                low=config.limits.connections_low_water,
                grace=config.limits.connection_grace,
            )
            self._keeper = keeper
            async with (
                background_trio_service(dht),
                background_trio_service(pubsub),
                background_trio_service(router),
            ):
                self._dht, self._pubsub = dht, pubsub
                await pubsub.wait_until_ready()
                subscription = await pubsub.subscribe(HEADS_TOPIC)
                async with trio.open_nursery() as nursery:
                    self._retry_nursery = nursery
                    nursery.start_soon(self._bootstrap)
                    nursery.start_soon(self._survive, self._gossip_loop, subscription)
                    for _ in range(config.sync_workers):
                        nursery.start_soon(self._survive, self._sync_worker)
                    nursery.start_soon(self._survive, self._publish_loop)
                    nursery.start_soon(self._survive, self._head_exchange_loop)
                    nursery.start_soon(self._survive, self._freshness_loop)
                    nursery.start_soon(self._survive, self._maintenance_loop)
                    nursery.start_soon(self._survive, keeper.serve)
                    task_status.started(self)
                    try:
                        await trio.sleep_forever()
                    finally:
                        with trio.CancelScope(shield=True), trio.move_on_after(3):
                            await close_listeners(host)

    def _sync_handler(self, server: SyncServer) -> Callable[[INetStream], Any]:
        async def handle(stream: INetStream) -> None:
            # A peer that opens a sync stream speaks the protocol, whatever it said before.
            if self._client is not None:
                self._client.peer_shows_support(stream.muxed_conn.peer_id)
            await server.handle(stream)

        return handle

    async def _survive(self, job: Callable[..., Any], *args: Any) -> None:
        """Run a long-lived job; if it fails, log and restart it: nothing ends the node."""
        while True:
            try:
                await job(*args)
                return
            except trio.Cancelled:
                raise
            except Exception:
                log.exception("%s failed; restarting it", getattr(job, "__name__", job))
                await trio.sleep(1)

    # -- bootstrap and peers -------------------------------------------------------------------

    async def connect(self, addr: str) -> bool:
        """Dial a peer given as ``/ip4/…/tcp/…/p2p/<id>`` (Tor mode: ``/onion3/…/p2p/<id>``
        only) and add it to the DHT table."""
        if not dialable(self._config.network, addr):
            log.warning("not dialling %r: in Tor mode only onion addresses are dialled", addr)
            return False
        try:
            info = info_from_p2p_addr(multiaddr.Multiaddr(addr))
        except Exception as exc:  # noqa: BLE001
            log.warning("ignoring bad peer address %r: %s", addr, exc)
            return False
        if info.peer_id == self.host.get_id():
            return False
        started = self._clock()
        try:
            # Over Tor a first connect builds a circuit to the peer's onion service.
            with trio.fail_after(30 if self._config.network.onion_only else 10):
                await self.host.connect(info)
            log.info("connected to %s in %.3f s", info.peer_id, self._clock() - started)
            await self.dht.add_server(info.peer_id)
        except trio.Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - dial failures come in many types
            log.info("cannot reach %s: %s", addr, exc)
            return False
        return True

    async def reach(self, peer: ID) -> bool:
        """Connect to ``peer`` even if it came back on a new address (see `_reach`)."""
        if self._reacher is None:
            return False
        if self._keeper is not None:  # a catalog source or a message's recipient: keep it
            self._keeper.met_partner(peer)
        return await self._reacher.reach(peer)

    def _remember(self, info: PeerInfo) -> None:
        """Keep a provider's addresses to dial it (Tor mode: its onion addresses only)."""
        usable = [a for a in info.addrs if dialable(self._config.network, str(a))]
        self.host.get_peerstore().add_addrs(info.peer_id, usable, 3600)

    async def _bootstrap(self) -> None:
        """Join through the bootstrap addresses and the peer store; while no peer answers,
        try them again (doubling the wait up to a minute): a peer's onion service may not be
        reachable yet when this node comes up, and a node with no peer is of no use."""
        delay = 2.0
        while True:
            try:
                tried = await self._join()
            except trio.Cancelled:
                raise
            except Exception:
                log.exception("joining the network failed")
                tried = True
            if not tried or self.host.get_connected_peers():
                return
            log.info("no peer reached; trying the known addresses again in %.0f s", delay)
            await trio.sleep(delay)
            delay = min(delay * 2, 60.0)

    async def _join(self) -> bool:
        """Dial the bootstrap and stored addresses; returns whether there was any."""
        stored = await self._db(self.state.known_peers, 20)
        addrs = rejoin_addrs(self._config.network, self._config.bootstrap, stored)
        async with trio.open_nursery() as nursery:
            for addr in addrs:
                nursery.start_soon(self.connect, addr)
        await fill_routing_table(self.dht, rounds=self._config.self_lookup_rounds)
        await self._save_peers()
        return bool(addrs)

    async def _save_peers(self) -> None:
        host = self.host
        store = host.get_peerstore()
        peers = []
        for peer in host.get_connected_peers():
            try:  # the peer may be gone from the peer store by now
                addrs = peer_store_addrs(self._config.network, map(str, store.addrs(peer)))
            except Exception:  # noqa: BLE001, S112
                continue
            peers.append((str(peer), addrs))
        if peers:
            await self._db(self.state.save_peers, peers, self._now())

    # -- heads from outside --------------------------------------------------------------------

    def _validate_gossip(self, forwarder: ID, msg: rpc_pb2.Message) -> bool:
        """Pubsub's validator: check the head once, and queue its sync right here.

        Queuing here (not when the subscription delivers the message) saves a second parse
        and signature check, and is the only place that knows the forwarder: the peer that
        sent it to us, a second source next to the origin (the seller, or whoever published).
        """
        peer = str(forwarder)
        if self._banned(peer):
            return False
        try:
            head = parse_catalog_head(msg.data)
        except Exception:  # noqa: BLE001 - hostile bytes: reject, never crash
            self._counters["rejected_heads"] += 1
            self._strike(peer, "invalid-gossip-head")
            return False
        # Stale heads are dropped without blame (an honest peer may lag); equal ones pass so
        # periodic republishing keeps reaching nodes that missed the first announcement.
        if head.body.seq < self._known_seq.get(head.body.seller, 0):
            return False
        if head.body.published_at > self._clock() + 3600:
            self._counters["rejected_heads"] += 1
            return False
        sources = [forwarder]
        with contextlib.suppress(Exception):  # a malformed origin id: the forwarder only
            sources.insert(0, ID(msg.from_id))
        self._offer(head, sources)
        return True

    async def _gossip_loop(self, subscription: Any) -> None:
        # Heads were queued by the validator; the subscription only has to be drained.
        while True:
            await subscription.get()

    def offer_head(self, data: bytes, sources: Sequence[ID], *, via: str | None) -> bool:
        """Consider a signed head from outside; queue a sync if it is new. Never raises.

        Returns:
            True if a sync was queued or an already queued sync got more sources.
        """
        if via is not None and not self._head_limits.allow_at(via, self._clock()):
            return False
        try:
            head = parse_catalog_head(data)
        except Exception as exc:  # noqa: BLE001
            self._counters["rejected_heads"] += 1
            log.info("rejected catalog head from %s: %s", via or "gossip", exc)
            if via is not None:
                self._strike(via, "invalid-head")
            return False
        return self._offer(head, sources)

    def _offer(self, head: SignedCatalogHead, sources: Sequence[ID]) -> bool:
        seller, seq = head.body.seller, head.body.seq
        if seller == self._own_seller:
            return False
        if head.body.published_at > self._clock() + 3600:
            self._counters["rejected_heads"] += 1
            return False
        if seq <= self._known_seq.get(seller, 0):
            return False  # stale or replayed
        if seq <= self._syncing.get(seller, 0):
            # A worker is fetching this one (or a newer one) right now: whoever offers the
            # same head may have its blocks, so the running fetch may ask it too.
            live = self._live.get(seller)
            if live is not None and seq == self._syncing[seller]:
                live.add_peers(self._usable(sources))
            return False
        pending = self._pending.get(seller)
        if pending is not None and pending.head.body.seq >= seq:
            if pending.head.body.seq == seq:
                for source in sources:
                    if source not in pending.sources and len(pending.sources) < _MAX_SOURCES:
                        pending.sources.append(source)
                return True
            return False
        if seller not in self._known_seq and len(self._known_seq) + len(self._pending) >= (
            self._config.limits.max_catalogs
        ):
            log.warning("ignoring a new seller: %d catalogs tracked", len(self._known_seq))
            return False
        fresh = pending is None
        self._pending[seller] = _Pending(head, list(sources)[:_MAX_SOURCES])
        if fresh:
            try:
                self._queue_send.send_nowait(seller)
            except trio.WouldBlock:
                del self._pending[seller]
                return False
        return True

    async def _serve_blocks(self, cids: list[str], budget: int) -> list[bytes | None]:
        async def load(rest: list[str], left: int) -> list[bytes | None]:
            return await self._db(self.state.get_blocks, rest, left)

        return await self._served.get_blocks(cids, budget, load)

    async def _serve_heads(self, limit: int) -> list[bytes]:
        heads = await self._db(self.state.known_heads, limit)
        if self._own_head is not None:
            heads = [self._own_head.data, *heads[: max(0, limit - 1)]]
        return heads

    async def _head_exchange_loop(self) -> None:
        """Ask each newly seen peer (then a random one, periodically) for its heads."""
        if not self._config.head_exchange:
            return
        interval = self._config.head_exchange_interval
        last_random = self._clock()
        while True:
            assert self._client is not None
            # Peers that failed (or do not speak the sync protocol) wait out their backoff.
            connected = [p for p in self.host.get_connected_peers() if not self._client.wait(p)]
            targets = [p for p in connected if p not in self._exchanged]
            if not targets and connected and self._clock() - last_random >= interval:
                targets = [random.choice(connected)]
                last_random = self._clock()
            for peer in targets[:8]:
                self._exchanged.add(peer)
                await self._exchange_heads(peer)
            await trio.sleep(0.5)

    async def _exchange_heads(self, peer: ID) -> None:
        assert self._client is not None
        if self._banned(str(peer)):
            return
        try:
            heads = await self._client.fetch_heads(peer, self._config.limits.max_heads_per_response)
        except ProtocolViolation as exc:
            self._strike(str(peer), exc.reason)
            return
        except NetError as exc:
            log.debug("head exchange with %s failed: %s", peer, exc)
            self._exchanged.discard(peer)
            return
        for data in heads:
            self.offer_head(data, [peer], via=str(peer))

    async def _freshness_loop(self) -> None:
        """Re-resolve known sellers in the DHT, to catch heads whose gossip we missed."""
        while True:
            await trio.sleep(self._config.freshness_interval)
            for seller in list(self._known_seq)[:200]:
                await self.resolve_head(seller)

    async def resolve_head(self, seller: bytes) -> SignedCatalogHead | None:
        """The newest head of ``seller`` the DHT knows (network first, see `_dht.get_fresh`).

        A newer one than we hold is queued for sync, with the catalog's providers as sources.
        """
        value = await get_fresh(self.dht, head_key(seller), quorum=self._config.dht_get_quorum)
        if value is None:
            return None
        try:
            head = parse_catalog_head(value)
        except Exception:  # noqa: BLE001 - the DHT validator should have caught it
            return None
        if head.body.seller != seller:
            return None
        if head.body.seq > self._known_seq.get(seller, 0):
            self.offer_head(value, [], via=None)
        return head

    # -- sync ----------------------------------------------------------------------------------

    async def _sync_worker(self) -> None:
        while True:
            seller = await self._queue_recv.receive()
            pending = self._pending.pop(seller, None)
            if pending is None:
                continue
            self._syncing[seller] = pending.head.body.seq
            try:
                await self._sync_catalog(pending)
            except trio.Cancelled:
                raise
            except Exception as exc:  # noqa: BLE001 - one bad catalog must not stop syncing
                self._counters["syncs_failed"] += 1
                log.info(
                    "sync of %s seq %d failed: %s", seller.hex()[:12], pending.head.body.seq, exc
                )
                self._retry_later(pending)
            finally:
                self._syncing.pop(seller, None)

    def _retry_later(self, pending: _Pending) -> None:
        pending.attempts += 1
        if pending.attempts >= _SYNC_RETRIES:
            return
        nursery = self._retry_nursery
        if nursery is not None:
            nursery.start_soon(self._requeue, pending)

    _retry_nursery: trio.Nursery | None = None

    async def _requeue(self, pending: _Pending) -> None:
        await trio.sleep(_RETRY_DELAY_S * pending.attempts)
        seller = pending.head.body.seller
        seq = pending.head.body.seq
        # Skip if done, queued again meanwhile, or being synced by a worker right now (a newer
        # offer may have started one while this retry slept: two workers must not race).
        if (
            seq <= self._known_seq.get(seller, 0)
            or seq <= self._syncing.get(seller, 0)
            or seller in self._pending
        ):
            return
        self._pending[seller] = pending
        try:
            self._queue_send.send_nowait(seller)
        except trio.WouldBlock:
            del self._pending[seller]

    async def _catalog_providers(self, catalog: CID, exclude: Sequence[ID]) -> list[ID]:
        """Peers that provide ``catalog`` in the DHT (a lookup: only when needed)."""
        found_peers: list[ID] = []
        try:
            with trio.move_on_after(5):
                found = await self.dht.find_providers(str(catalog), 3)
                for info in found:
                    self._remember(info)
                    if info.peer_id not in exclude and info.peer_id not in found_peers:
                        found_peers.append(info.peer_id)
        except trio.Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001
            log.debug("find_providers failed: %s", exc)
        return self._usable(found_peers)

    def _usable(self, peers: Sequence[ID]) -> list[ID]:
        me = self.host.get_id()
        return [p for p in dict.fromkeys(peers) if p != me and not self._banned(str(p))]

    async def _fetch(self, peers: list[ID], cids: list[CID]) -> dict[CID, bytes]:
        """Fetch ``cids`` from all of ``peers`` at once (see `_swarm`); those some peer had."""
        assert self._swarm is not None
        return await self._swarm.fetch(peers, cids)

    async def _sync_catalog(self, pending: _Pending) -> None:
        head = pending.head
        seller = head.body.seller
        if head.body.seq <= self._known_seq.get(seller, 0):
            return
        started = self._clock()
        catalog_cid = head.body.catalog
        # The head's sources (the gossip origin, the peer that offered it) usually have the
        # catalog: try them first and look up providers in the DHT only if they fail.
        # One fetch for the whole sync: a source dropped (failed, lied) or found slow while
        # fetching the catalog stays so for its listings.
        assert self._swarm is not None
        peers = self._usable(pending.sources)
        fetch = self._swarm.new_fetch(peers, [catalog_cid])
        got: dict[CID, bytes] = {}

        async def keep(blocks: dict[CID, bytes]) -> None:
            got.update(blocks)

        if peers:
            await self._swarm.run(fetch, keep)
        if catalog_cid not in got:
            more = await self._catalog_providers(catalog_cid, exclude=peers)
            if not peers and not more:
                raise NetError("no peer to fetch the catalog from")
            fetch.add_peers(more)
            await self._swarm.run(fetch, keep)
        if catalog_cid not in got:
            raise NetError("no peer had the catalog")
        t_catalog = self._clock()
        try:
            catalog = parse_catalog(got[catalog_cid], expected_cid=catalog_cid)
            check_catalog_matches_head(head, catalog)
        except Exception as exc:  # noqa: BLE001 - signed by the seller, so the seller is wrong
            raise NetError(f"the catalog is invalid: {exc}") from None
        previous = await self._db(self.state.synced_listings, seller)
        wanted = new_listing_cids(catalog, previous)
        # New listings (and their first thumbnails) from every source at once, committed in
        # batches as they arrive; the catalog row, with the removals, last.
        fetch.want(wanted)
        held = (await self._db(self.state.summary)).listings
        batches = ListingBatches(
            seller=seller,
            seq=head.body.seq,
            listing_cids=wanted,
            now=self._now(),
            want=fetch.want,
            db=self._db,
            apply_listings=self.state.apply_listings,
            has_block=lambda cid: self.state.has_block(cid_text(cid)),
            thumbnails=self._config.storage.prefetch_thumbnails(held),
        )
        self._live[seller] = fetch
        try:
            swarm = await self._swarm.run(fetch, batches.deliver)
        finally:
            del self._live[seller]
            await batches.flush()
        t_listings = self._clock()
        if batches.stale:
            return  # a newer catalog of this seller was applied meanwhile
        batches.check_complete()
        now = self._now()
        previous = await self._db(self.state.synced_listings, seller)
        # Every new listing is indexed already, so it counts as kept here.
        _, kept, removed = plan_update(head, catalog, previous, [], now=now)
        blocks: list[tuple[CID, bytes]] = [(catalog_cid, got[catalog_cid])]
        peers = list(fetch.ids.values())  # the head's sources first, then those added
        update = CatalogUpdate(
            head=head,
            catalog=catalog,
            added=(),
            kept=tuple(kept),
            removed=tuple(removed),
            blocks=tuple(blocks),
            synced_at=now,
            sources=tuple(str(p) for p in peers),
        )
        await self._db(self.state.apply, update)
        self._known_seq[seller] = max(self._known_seq.get(seller, 0), head.body.seq)
        self._counters["syncs_ok"] += 1
        self._synced.set()
        self._synced = trio.Event()
        # Right away, not at the next status tick: `umbra status` must never show a catalog
        # synced with the peers and counters from before the sync.
        await self._write_status()
        done = self._clock()
        log.info(
            "synced %s seq %d: +%d ~%d -%d listings in %.3f s (catalog %.3f, listings and"
            " thumbnails %.3f: %d requests to %d peers, %d hedged; commit %.3f)",
            seller.hex()[:12],
            head.body.seq,
            len(batches.committed),
            len(kept) - len(batches.committed),
            len(removed),
            done - started,
            t_catalog - started,
            t_listings - t_catalog,
            swarm.requests,
            swarm.peers,
            swarm.hedged,
            done - t_listings,
        )

    async def fetch_image(self, cid: CID) -> bytes:
        """An image a synced listing names, from the store or fetched from peers now.

        Raises:
            ImageNotReferenced: no live listing on this device names it (nothing is asked).
            ImageUnavailable: no peer sent it, or it is not a valid image.
            NetError: the node is not running.
        """
        if self._images is None:
            raise NetError("the node is not running yet")
        return await self._images.fetch(cid)

    async def wait_synced(self, seller: bytes, seq: int) -> None:
        """Return once ``seller``'s catalog at ``seq`` or later has been synced."""
        while self._known_seq.get(seller, 0) < seq:
            await self._synced.wait()

    # -- publishing ----------------------------------------------------------------------------

    async def _publish_loop(self) -> None:
        if self._source is None:
            return
        stored = await self._db(self.state.own_head)
        if stored is not None:
            try:
                self._own_head = parse_catalog_head(stored[1])
            except Exception:  # noqa: BLE001
                self._own_head = None
        published_cid: CID | None = None
        last_publish = 0.0
        last_read = -1e9
        version = await self._db(self.state.data_version)
        while True:
            now = self._clock()
            new_version = await self._db(self.state.data_version)
            # Read (and verify) the catalog when another connection committed, and anyway every
            # catalog_poll_interval (writes through this node's own connection, as in-process
            # callers make, do not change the data version).
            if new_version == version and now - last_read < self._config.catalog_poll_interval:
                await trio.sleep(self._config.catalog_change_check_interval)
                continue
            version, last_read = new_version, now
            try:
                catalog = await self._db(self._source.current_catalog)
            except trio.Cancelled:
                raise
            except Exception as exc:  # noqa: BLE001
                log.warning("cannot read the own catalog: %s", exc)
                catalog = None
            changed = catalog is not None and catalog.cid != published_cid
            due = self._clock() - last_publish >= self._config.republish_interval
            if catalog is not None and (changed or due):
                await self.publish(catalog, announce_keywords=changed)
                published_cid = catalog.cid
                last_publish = self._clock()
            await trio.sleep(self._config.catalog_change_check_interval)

    async def publish(self, catalog: SignedCatalog, *, announce_keywords: bool = True) -> None:
        """Announce ``catalog``: gossip first (fast), then the DHT record and provider records."""
        head = self._own_head
        if head is None or head.body.catalog != catalog.cid or head.body.seq != catalog.body.seq:
            head = sign_catalog_head(
                self._profile.identity.signing,
                CatalogHeadBody(
                    v=1,
                    kind="catalog-head",
                    seller=self._own_seller,
                    seq=catalog.body.seq,
                    catalog=catalog.cid,
                    published_at=self._now(),
                ),
            )
            await self._db(self.state.save_own_head, head.body.seq, head.data)
            self._own_head = head
            self._served.clear()  # e.g. a deleted listing: not served from memory
        try:
            await self.pubsub.publish(HEADS_TOPIC, head.data)
        except trio.Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001
            log.warning("gossip publish failed: %s", exc)
        try:
            await self.dht.put_value(head_key(self._own_seller), head.data)
        except trio.Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. no peers yet; the next round retries
            log.info("DHT put failed: %s", exc)
        keys = [str(catalog.cid)]
        if announce_keywords and self._config.provide_keywords:
            keys += await self._db(self._keyword_keys, catalog)
        for key in keys:
            try:
                with trio.move_on_after(10):
                    await self.dht.provide(key)
            except trio.Cancelled:
                raise
            except Exception as exc:  # noqa: BLE001
                log.debug("provide failed: %s", exc)
        log.info("published catalog seq %d (%s)", head.body.seq, catalog.cid)

    def _keyword_keys(self, catalog: SignedCatalog) -> list[str]:
        categories: list[str] = []
        words: list[str] = []
        for cid in catalog.body.listings:
            data = self._profile.blocks.get(cid)
            if data is None:
                continue
            try:
                body = parse_listing(data, expected_cid=cid).body
            except Exception:  # noqa: BLE001, S112
                continue
            categories.append(body.category)
            words.extend(body.tags)
        return keyword_keys(
            sorted(set(categories)), sorted(set(words)), self._config.max_keyword_providers
        )

    async def publish_arbiter_profile(self, data: bytes) -> None:
        """Put our signed arbiter profile in the DHT (checked like any peer's first)."""
        key = arbiter_key(parse_arbiter_profile(data).body.arbiter)
        check_arbiter_record_at(key, data, self._clock())
        await self.dht.put_value(key, data)

    async def find_arbiter_profile(
        self, persona: bytes, *, timeout: float = 15.0
    ) -> SignedArbiterProfile | None:
        """The arbiter's current verified profile from the DHT (network first), or None."""
        key = arbiter_key(persona)
        with trio.move_on_after(timeout):
            value = await get_fresh(self.dht, key, quorum=3, select=select_arbiter_record)
            if value is not None:
                try:
                    return check_arbiter_record_at(key, value, self._clock())
                except ValueError as exc:
                    log.info("arbiter profile of %s refused: %s", persona.hex()[:12], exc)
        return None

    async def find_sellers(self, key: str, count: int = 20) -> int:
        """Ask providers of a category/tag key for their heads; returns how many answered."""
        found = await self.dht.find_providers(key, count)
        answered = 0
        for info in found:
            if info.peer_id == self.host.get_id():
                continue
            self._remember(info)
            await self._exchange_heads(info.peer_id)
            answered += 1
        return answered

    # -- status and maintenance ----------------------------------------------------------------

    def statistics(self) -> NodeStatus:
        """The live part of the status (sync counts come from the database)."""
        host = self._host
        tor = tor_bootstrap_of(self._transport)
        tor_ports = tor_endpoints_of(self._transport)
        return NodeStatus(
            running=True,
            network=self._config.network.name,
            tor_bootstrap_percent=None if tor is None else tor.percent,
            tor_bootstrap_summary=None if tor is None else tor.summary,
            tor_error=tor_error_of(self._transport),
            tor_control=None if tor_ports is None else tor_ports[0],
            tor_socks=None if tor_ports is None else tor_ports[1],
            peer_id=None if host is None else str(host.get_id()),
            addrs=tuple(self.addrs) if host is not None else (),
            transport=self._transport.name,
            pid=os.getpid(),
            started_at=self._started_at,
            peers=0 if host is None else len(host.get_connected_peers()),
            routing_table=0 if self._dht is None else self._dht.get_routing_table_size(),
            own_seq=None if self._own_head is None else self._own_head.body.seq,
            own_published_at=None if self._own_head is None else self._own_head.body.published_at,
            syncs_ok=self._counters["syncs_ok"],
            syncs_failed=self._counters["syncs_failed"],
            rejected_heads=self._counters["rejected_heads"],
            banned_peers=self._request_limits.banned_count_at(self._clock()),
            pending_syncs=len(self._pending),
            inbound_connections=self._admission.inbound,
            refused_connections=sum(self._admission.refused.values()),
            sync_requests=0 if self._client is None else self._client.attempts,
        )

    async def _write_status(self, *, running: bool = True) -> None:
        data = self.statistics().to_json()
        data["running"] = running
        await self._db(self.state.write_status, data, self._clock())

    async def _status_loop(self) -> None:
        last_peers = self._clock()
        while True:
            await self._write_status()
            if self._host is None:  # the transport is still coming up (Tor's bootstrap)
                await trio.sleep(self._config.status_interval)
                continue
            if self._clock() - last_peers >= self._config.peer_store_interval:
                await self._save_peers()
                last_peers = self._clock()
            await trio.sleep(self._config.status_interval)

    async def _maintenance_loop(self) -> None:
        while True:
            await self._db(self.state.purge_expired, self._now())
            await self.collect_garbage()
            await trio.sleep(self._config.maintenance_interval)

    async def collect_garbage(self, *, now: int | None = None) -> int:
        """Delete blocks of removed, replaced or expired remote listings; returns how many.

        ``now`` (default: the clock) decides which listings count as expired. The own
        catalog's blocks are never deleted, even if a sync stored them first.
        """
        keep = await self._db(self._own_block_cids)
        at = self._now() if now is None else now
        deleted = await self._db(self.state.collect_garbage, at, keep)
        self._served.clear()
        if deleted:
            log.info("garbage collection deleted %d blocks", deleted)
        return deleted

    def _own_catalog_cid(self) -> str | None:
        return None if self._own_head is None else str(self._own_head.body.catalog)

    def _own_block_cids(self) -> set[str]:
        catalog = None if self._source is None else self._source.current_catalog()
        return own_block_cids(self._profile, catalog)


class _TransportStore:
    """The transport's secrets in the profile's database, through the node's limiter."""

    def __init__(self, node: Node) -> None:
        self._node = node

    async def onion_key(self) -> str | None:
        return await self._node._db(self._node.state.onion_key)

    async def save_onion_key(self, key: str) -> None:
        await self._node._db(self._node.state.save_onion_key, key)

    async def socks_isolation(self) -> str:
        return await self._node._db(self._node.state.socks_isolation)


@asynccontextmanager
async def open_node(
    profile: Profile,
    config: NodeConfig,
    source: CatalogSource | None = None,
    *,
    transport: Transport | None = None,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[Node]:
    """Run a node for ``profile`` while the context is open."""
    node = Node(profile, config, source, transport=transport, clock=clock)
    async with trio.open_nursery() as nursery:
        await nursery.start(node.serve)
        try:
            yield node
        finally:
            nursery.cancel_scope.cancel()


async def serve_node(
    profile: Profile,
    config: NodeConfig,
    source: CatalogSource | None = None,
    *,
    transport: Transport | None = None,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a node until cancelled (the form ``umbra node`` uses)."""
    node = Node(profile, config, source, transport=transport)
    await node.serve(task_status=task_status)
