"""Node configuration and abuse limits, as frozen values with safe defaults.

Every limit that bounds what a remote peer can make us do lives in `NetLimits`, so the
specification (docs/specifications/network.md) and the code have one place to agree on.
"""

from dataclasses import dataclass, field

from umbra.core import MAX_BLOCK_BYTES, limits

from ._bitswap_wire import BitswapLimits
from ._network_mode import NetworkMode, TorSettings
from ._onion_addresses import check_bootstrap, check_listen
from ._storage_policy import StoragePolicy

# Gossip, DHT and provider namespaces (see docs/specifications/network.md).
SYNC_PROTOCOL_ID = "/umbra/sync/1.0.0"
# Umbra's Kademlia DHT: the IPFS wire format under Umbra's own protocol id, so that an Umbra
# node and an IPFS node never merge their DHTs (py-libp2p hard-codes ``/ipfs/kad/1.0.0``;
# `_dht.tune_dht` replaces it).
KAD_PROTOCOL_ID = "/umbra/kad/1.0.0"
HEADS_TOPIC = "/umbra/catalog-heads/1"
DHT_NAMESPACE = "umbra-catalog"


@dataclass(frozen=True, kw_only=True)
class DhtLimits:
    """What one remote peer may store in our DHT server (see `_dht_ledger` for the rules).

    Sizes are in bytes of "cost": a value record costs its key + value + `record_overhead`,
    a provider record its key + addresses + `record_overhead`.
    """

    # Value records (PUT_VALUE): all we hold for others, and what one peer may hold.
    value_capacity: int = 16 * 1024 * 1024
    value_quota: int = 256 * 1024
    # Provider records (ADD_PROVIDER).
    provider_capacity: int = 4 * 1024 * 1024
    provider_quota: int = 64 * 1024
    max_provider_addrs: int = 8
    record_overhead: int = 256
    # PUT_VALUE messages per peer, valid or not: a token bucket (burst, then per second).
    put_burst: float = 32.0
    put_rate: float = 2.0


@dataclass(frozen=True, kw_only=True)
class DhtRouting:
    """The shape of the DHT (docs/specifications/network.md, "DHT keys and lookups").

    ``bucket_size`` is Kademlia's k per bucket: only the bucket holding our own position
    splits, so a routing table holds about k·log2(N/k) + k peers among N. ``replication``
    peers (the closest to a key) hold each record; a lookup has ``alpha`` queries in flight.
    Every ``replicate_interval`` seconds a holder re-puts each record it holds to the key's
    current closest peers, unless someone re-put it to us meanwhile (so about one holder per
    interval does the work); that is how a record outlives the peers that first held it.
    """

    bucket_size: int = 20
    replication: int = 20
    alpha: int = 3
    replicate_interval: float = 3600.0
    # Our closest peers in the routing table whose connections are kept (`_connections`):
    # as many as hold a record, so a lookup that reaches a key's neighbourhood learns it all.
    neighbours: int = 20


@dataclass(frozen=True, kw_only=True)
class NetLimits:
    """What one remote peer may cost us. Exceeding a limit earns the peer a strike."""

    # Framing: the largest frame is one image block plus a small envelope.
    max_frame_bytes: int = MAX_BLOCK_BYTES + 4096
    max_cids_per_request: int = 64
    max_heads_per_response: int = 256
    # A response carries at most this many bytes of block data before the server ends it.
    max_response_bytes: int = 8 * 1024 * 1024
    # Inbound sync requests per peer: a token bucket (burst, then rate per second).
    request_burst: float = 64.0
    request_rate: float = 32.0
    max_streams_per_peer: int = 4
    # Catalog heads a peer may introduce (gossip and head exchange): burst, then per second.
    head_burst: float = 512.0
    head_rate: float = 16.0
    # How many sellers we track in all, and how many listings per catalog (core's cap). Twice
    # the 10,000 sellers the storage model sizes a laptop node for (docs/operations.md).
    max_catalogs: int = 20_000
    max_listings_per_catalog: int = limits.MAX_CATALOG_LISTINGS
    # Misbehaviour: after this many strikes a peer is disconnected and banned for a while.
    max_strikes: int = 5
    ban_seconds: float = 600.0
    # Deadline for one request/response exchange.
    request_timeout: float = 20.0
    # Catalog sync from many peers at once (`_swarm`): requests in flight per peer (below the
    # server's ``max_streams_per_peer``, which also counts head exchanges and image fetches)
    # and per sync; a request with no first answer after ``hedge_seconds`` (over Tor
    # ``hedge_seconds_onion``: a first stream to an onion service builds a circuit) is asked
    # of another peer too, and its peer is used only as a last resort for that sync.
    swarm_requests_per_peer: int = 3
    swarm_requests_per_sync: int = 12
    hedge_seconds: float = 2.0
    hedge_seconds_onion: float = 6.0
    # Connections, counted before the Noise handshake (see docs/operations.md for why these
    # defaults): per remote IP, per range (/24 for IPv4, /48 for IPv6), inbound in all, and
    # inbound plus outbound. Loopback peers are local processes (and, behind a Tor transport,
    # every peer): the per-IP and per-range caps skip them unless ``limit_loopback``.
    max_connections_per_ip: int = 8
    max_connections_per_range: int = 32
    max_inbound_connections: int = 192
    max_connections: int = 300
    limit_loopback: bool = False
    # Open connections the node keeps: above ``connections_high_water`` it closes the ones it
    # does not need (not a DHT neighbour, gossip mesh peer or trade partner, no open stream,
    # older than ``connection_grace`` seconds) down to ``connections_low_water``; below the
    # low water it does not dial peers just to have connections (the DHT walk finds them).
    connections_high_water: int = 64
    connections_low_water: int = 48
    connection_grace: float = 20.0
    # Inbound handshakes (Noise, then yamux) running at once, and how long one may take: a
    # burst of new peers is then worked through a few at a time, so the event loop stays free
    # for the API and for connected peers, and a peer that never finishes its handshake does
    # not hold its place for ever.
    max_pending_handshakes: int = 16
    handshake_timeout: float = 15.0
    # A request to a peer that failed (no answer, refused, timed out): wait before asking it
    # again, ``backoff_base_seconds`` doubling per failure up to ``backoff_cap_seconds``. A
    # peer that refuses the sync protocol is not asked for it for ``unsupported_seconds``,
    # or until it opens a sync stream to us.
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 300.0
    unsupported_seconds: float = 3600.0
    # What peers may store in our DHT server.
    dht: DhtLimits = field(default_factory=DhtLimits)
    # What IPFS nodes (and any peer) may ask of our Bitswap server.
    bitswap: BitswapLimits = field(default_factory=BitswapLimits)


@dataclass(frozen=True, kw_only=True)
class NodeConfig:
    """How a node runs. Defaults suit a desktop node; tests shorten the intervals.

    ``network`` is Tor unless ``CLEARNET`` is given (tests and local demos). In Tor mode the
    listen addresses must be loopback and the bootstrap addresses onion addresses: the
    constructor refuses anything else (`NetworkSettingError`).
    """

    network: NetworkMode = field(default_factory=TorSettings)
    listen: tuple[str, ...] = ("/ip4/127.0.0.1/tcp/0",)
    bootstrap: tuple[str, ...] = ()
    limits: NetLimits = field(default_factory=NetLimits)
    # Own catalog: how often to read it (full check), how often to ask the database cheaply
    # whether another connection (e.g. `umbra listing create`) committed since, and how often
    # to republish an unchanged head.
    catalog_poll_interval: float = 0.5
    catalog_change_check_interval: float = 0.05
    republish_interval: float = 600.0
    # Ask each newly connected peer, and then one random peer this often, for the heads it
    # knows (anti-entropy). Off: learn heads only from gossip, the DHT and `find_sellers`.
    head_exchange: bool = True
    head_exchange_interval: float = 30.0
    # Re-resolve known sellers in the DHT (catches missed gossip) this often.
    freshness_interval: float = 300.0
    # Write the status row and the peer store this often.
    status_interval: float = 2.0
    peer_store_interval: float = 30.0
    # Purge expired listings from the index and garbage-collect synced blocks this often.
    maintenance_interval: float = 3600.0
    # Concurrent catalog syncs.
    sync_workers: int = 4
    # What a sync stores ahead of being shown: first thumbnails with the catalog while the node
    # holds few listings, then when a page shows them (full images always when shown).
    storage: StoragePolicy = field(default_factory=StoragePolicy)
    # Announce category/tag provider records for the own catalog (see the spec: they link
    # this node's address to the categories it sells in).
    provide_keywords: bool = True
    max_keyword_providers: int = 16
    # Self-lookups after start: nodes that join together see only the bootstrap peer at first.
    self_lookup_rounds: int = 4
    dht_get_quorum: int = 3
    dht: DhtRouting = field(default_factory=DhtRouting)

    def __post_init__(self) -> None:
        check_listen(self.network, self.listen)
        check_bootstrap(self.network, self.bootstrap)
