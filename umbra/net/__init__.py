"""The network layer: a libp2p node that publishes, discovers and syncs catalogs.

Layout: ``_config`` (settings, limits, protocol names), ``_errors``, ``_wire`` (sync messages
and framing, sans-IO), ``_ratelimit`` (token buckets, strikes; pure), ``_backoff`` (when a
failed peer may be asked again; pure), ``_admission`` (inbound connection caps by address;
pure), ``_inbound`` (runs the admission before the handshake), ``_records`` (DHT
catalog-head record rules, provider keys), ``_arbiter_records`` (arbiter-profile records),
``_ingest`` (what a newer catalog changes; pure), ``_image_fetch`` (images fetched
when a page shows them), ``_dht_ledger`` (who a stored DHT record is
held for, quotas and eviction; pure), ``_dht_guard`` (Umbra's DHT server on py-libp2p's),
``_state`` (the ``net`` tables), ``_network_mode`` (Tor or clearnet, and the Tor settings;
pure), ``_onion_addresses`` (which addresses a mode dials, keeps and announces; pure),
``_transport`` (pluggable host builders: TCP + Noise only), ``_onion_transport`` (libp2p
over onion services: the SOCKS dialler, the loopback listener, `TorTransport`),
``_tor_session`` (the tor a Tor-mode node runs on: started or reached, bootstrapped,
watched; its onion service), ``_transport_choice`` (the transport for a mode), ``_dht``
(workarounds for py-libp2p's DHT),
``_sync`` (the sync protocol over streams), ``_bitswap_wire`` (Bitswap messages and limits,
sans-IO), ``_bitswap`` (the Bitswap server for IPFS nodes), ``_public_blocks`` (which blocks
it may serve), ``_node`` (the coordinator), ``_status`` and ``_status_read`` (health),
``_startup`` (how far a starting node got, for the web app; pure). Imports ``umbra.core`` and
``umbra.store`` only.
See docs/specifications/network.md for the wire formats.
"""

from typing import TYPE_CHECKING, Any

from ._admission import (
    Admitted,
    ConnectionAdmission,
    ConnectionCaps,
    Refused,
    address_range,
    parse_address,
)
from ._backoff import BackoffPolicy, PeerBackoff
from ._config import (
    DHT_NAMESPACE,
    HEADS_TOPIC,
    KAD_PROTOCOL_ID,
    SYNC_PROTOCOL_ID,
    DhtLimits,
    DhtRouting,
    NetLimits,
    NodeConfig,
)
from ._dht_ledger import LOCAL, HolderLedger, StoreRefused
from ._errors import (
    ImageNotReferenced,
    ImageUnavailable,
    NetError,
    NodeNotRunning,
    ProtocolUnsupported,
    ProtocolViolation,
)
from ._ingest import CatalogUpdate, plan_update
from ._network_mode import (
    CLEARNET,
    BootstrapStep,
    Clearnet,
    NetworkMode,
    NetworkSettingError,
    TorSettings,
    check_torrc_lines,
    parse_tor_endpoint,
    torrc_lines_from_file,
)
from ._onion_addresses import (
    announceable,
    check_announced,
    check_bootstrap,
    check_listen,
    dialable,
    is_onion3,
    peer_store_addrs,
    rejoin_addrs,
)
from ._ratelimit import PeerLimiter, PeerVerdict, TokenBucket
from ._startup import NodeStartup, StartingNode
from ._state import NET_NAMESPACE, NetState
from ._status import NodeStatus
from ._status_read import read_node_status
from ._storage_policy import AUTO_PREFETCH_LISTINGS, THUMBNAIL_MODES, StoragePolicy, ThumbnailMode
from ._wire import FrameDecoder, decode_message, encode_frame

if TYPE_CHECKING:
    from ._arbiter_records import (
        ARBITER_NAMESPACE,
        ArbiterProfileValidator,
        arbiter_key,
        check_arbiter_record_at,
        select_arbiter_record,
    )
    from ._dht import fill_routing_table, get_fresh, tune_dht
    from ._dht_guard import UmbraDHT, UmbraRecords
    from ._node import CatalogSource, Node, open_node, serve_node
    from ._onion_transport import ONION_VIRTUAL_PORT, TorTransport
    from ._reach import is_protocol_refusal
    from ._records import (
        CatalogHeadValidator,
        InvalidRecord,
        RecordValidator,
        check_head_record_at,
        head_key,
        keyword_keys,
        provider_key,
        select_head,
    )
    from ._tor_session import TorUnavailable
    from ._transport import TcpNoiseTransport, Transport, noise_only_security, yamux_only
    from ._transport_choice import tor_bootstrap_of, transport_for

# Names whose modules import py-libp2p (~1 s of imports) load on first use, so that
# `umbra status` and other readers of the ``net`` tables start fast.
_LAZY = {
    "_arbiter_records": (
        "ARBITER_NAMESPACE",
        "ArbiterProfileValidator",
        "arbiter_key",
        "check_arbiter_record_at",
        "select_arbiter_record",
    ),
    "_dht": ("fill_routing_table", "get_fresh", "tune_dht"),
    "_dht_guard": ("UmbraDHT", "UmbraRecords"),
    "_node": ("CatalogSource", "Node", "open_node", "serve_node"),
    "_reach": ("is_protocol_refusal",),
    "_records": (
        "CatalogHeadValidator",
        "InvalidRecord",
        "RecordValidator",
        "check_head_record_at",
        "head_key",
        "keyword_keys",
        "provider_key",
        "select_head",
    ),
    "_transport": ("TcpNoiseTransport", "Transport", "noise_only_security", "yamux_only"),
    "_onion_transport": ("ONION_VIRTUAL_PORT", "TorTransport"),
    "_tor_session": ("TorUnavailable",),
    "_transport_choice": ("tor_bootstrap_of", "transport_for"),
}
_LAZY_MODULE = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _LAZY_MODULE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "ARBITER_NAMESPACE",
    "AUTO_PREFETCH_LISTINGS",
    "CLEARNET",
    "DHT_NAMESPACE",
    "HEADS_TOPIC",
    "KAD_PROTOCOL_ID",
    "LOCAL",
    "NET_NAMESPACE",
    "ONION_VIRTUAL_PORT",
    "SYNC_PROTOCOL_ID",
    "THUMBNAIL_MODES",
    "Admitted",
    "ArbiterProfileValidator",
    "BackoffPolicy",
    "BootstrapStep",
    "CatalogHeadValidator",
    "CatalogSource",
    "CatalogUpdate",
    "Clearnet",
    "ConnectionAdmission",
    "ConnectionCaps",
    "DhtLimits",
    "DhtRouting",
    "FrameDecoder",
    "HolderLedger",
    "ImageNotReferenced",
    "ImageUnavailable",
    "InvalidRecord",
    "NetError",
    "NetLimits",
    "NetState",
    "NetworkMode",
    "NetworkSettingError",
    "Node",
    "NodeConfig",
    "NodeNotRunning",
    "NodeStartup",
    "NodeStatus",
    "PeerBackoff",
    "PeerLimiter",
    "PeerVerdict",
    "ProtocolUnsupported",
    "ProtocolViolation",
    "RecordValidator",
    "Refused",
    "StartingNode",
    "StoragePolicy",
    "StoreRefused",
    "TcpNoiseTransport",
    "ThumbnailMode",
    "TokenBucket",
    "TorSettings",
    "TorTransport",
    "TorUnavailable",
    "Transport",
    "UmbraDHT",
    "UmbraRecords",
    "address_range",
    "announceable",
    "arbiter_key",
    "check_announced",
    "check_arbiter_record_at",
    "check_bootstrap",
    "check_head_record_at",
    "check_listen",
    "check_torrc_lines",
    "decode_message",
    "dialable",
    "encode_frame",
    "fill_routing_table",
    "get_fresh",
    "head_key",
    "is_onion3",
    "is_protocol_refusal",
    "keyword_keys",
    "noise_only_security",
    "open_node",
    "parse_address",
    "parse_tor_endpoint",
    "peer_store_addrs",
    "plan_update",
    "provider_key",
    "read_node_status",
    "rejoin_addrs",
    "select_arbiter_record",
    "select_head",
    "serve_node",
    "tor_bootstrap_of",
    "torrc_lines_from_file",
    "transport_for",
    "tune_dht",
    "yamux_only",
]
