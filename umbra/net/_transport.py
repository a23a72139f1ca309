"""Pluggable transports: how a node's libp2p host is built.

A `Transport` builds the host for a key pair and listen addresses. Whatever the transport,
the security layer is Noise only and the muxer yamux only: py-libp2p's default ``new_host()``
also offers TLS, secio and *plaintext* (a plaintext dialer got an unencrypted session), so the
options are always passed explicitly. `TcpNoiseTransport` is clearnet's; `TorTransport`
(`_onion_transport`) implements the same protocol over onion services.

A node uses a transport in three steps: ``open(store)`` (an async context entered first and
held while the node runs: the Tor transport starts or reaches tor and waits for its
bootstrap), ``build_host``, and, once ``host.run`` listens, ``publish(host)`` (the Tor
transport publishes the onion service that forwards to the listener). TCP has nothing to do in
the first and last steps.
"""

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import multiaddr
from libp2p import new_host
from libp2p.abc import IHost, IRawConnection, ISecureConn
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519_key_pair
from libp2p.custom_types import TMuxerOptions, TProtocol, TSecurityOptions
from libp2p.network.config import GRACE_PERIOD, LOW_WATERMARK, MIN_CONNECTIONS, ConnectionConfig
from libp2p.peer.id import ID
from libp2p.security.exceptions import HandshakeFailure
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux

from ._admission import ConnectionAdmission, ConnectionCaps
from ._inbound import install_admission

# Peer id -> should a connection with it be refused (e.g. it is banned)?
PeerGate = Callable[[ID], bool]


def _admit_everyone(peer: ID) -> bool:
    return False


class TransportStore(Protocol):
    """What a transport may keep in the profile's encrypted database (`NetState` via the
    node's database limiter)."""

    async def onion_key(self) -> str | None: ...
    async def save_onion_key(self, key: str) -> None: ...
    async def socks_isolation(self) -> str: ...


class Transport(Protocol):
    """Builds a libp2p host; the node runs it with ``host.run(listen)``.

    ``refuse_peer`` is asked once the remote peer id is authenticated; a refused peer's
    connection is closed before any stream can be opened on it, in either direction.
    ``admission`` (if given) judges each inbound connection by its address before the
    handshake; ``max_connections`` caps inbound plus outbound connections.
    """

    name: str

    def build_host(
        self,
        key_pair: KeyPair,
        listen: Sequence[multiaddr.Multiaddr],
        *,
        refuse_peer: PeerGate = _admit_everyone,
        admission: ConnectionAdmission | None = None,
        max_connections: int | None = None,
    ) -> IHost: ...

    def open(self, store: TransportStore) -> AbstractAsyncContextManager[None]:
        """What the transport needs while the node runs; entered before `build_host`.

        Raises:
            NetError: it cannot be had (e.g. tor is unreachable); the node does not start.
        """
        ...

    async def publish(self, host: IHost) -> None:
        """Make the listening ``host`` reachable; the node reports itself started after it."""
        ...


class GatedNoiseTransport(NoiseTransport):
    """Noise, plus a peer-id gate right after the handshake.

    py-libp2p 0.8.1 can gate connections by IP address only (`ConnectionGate`); its pubsub
    blacklist closes a banned peer's connection but the peer can dial straight back in, and
    its requests reach every protocol handler until each one checks. The first point where
    the remote peer id is known is the end of the security handshake, so the gate is here:
    a refused peer gets a failed handshake (the swarm closes the socket; no muxer, no streams).
    """

    def __init__(self, key_pair: KeyPair, *, noise_privkey: object, refuse_peer: PeerGate):
        super().__init__(key_pair, noise_privkey=noise_privkey)  # type: ignore[arg-type]
        self._refuse_peer = refuse_peer

    async def _admit(self, conn: ISecureConn) -> ISecureConn:
        peer = conn.get_remote_peer()
        if self._refuse_peer(peer):
            await conn.close()
            raise HandshakeFailure(f"peer {peer} is refused (banned)")
        return conn

    async def secure_inbound(self, conn: IRawConnection) -> ISecureConn:
        return await self._admit(await super().secure_inbound(conn))

    async def secure_outbound(self, conn: IRawConnection, peer_id: ID) -> ISecureConn:
        return await self._admit(await super().secure_outbound(conn, peer_id))


def noise_only_security(
    key_pair: KeyPair, *, refuse_peer: PeerGate = _admit_everyone
) -> TSecurityOptions:
    """Security options offering exactly Noise (XX, ChaCha20-Poly1305), nothing else.

    The Noise static key is a fresh X25519 key per process: Noise authenticates it with the
    libp2p identity key, so it need not be stable.
    """
    return {
        TProtocol(NOISE_PROTOCOL_ID): GatedNoiseTransport(
            key_pair, noise_privkey=new_x25519_key_pair().private_key, refuse_peer=refuse_peer
        )
    }


def yamux_only() -> TMuxerOptions:
    return {TProtocol(YAMUX_PROTOCOL_ID): Yamux}


class TcpNoiseTransport:
    """TCP + Noise + yamux, one connection per peer.

    ``max_connections_per_peer=1`` also avoids the swarm's fixed 250 ms "happy eyeballs" wait
    on every new connection (measured: ~250 ms → ~10 ms per dial).
    """

    name = "tcp"

    @contextlib.asynccontextmanager
    async def open(self, store: TransportStore) -> AsyncIterator[None]:
        yield  # plain TCP needs nothing outside the host

    async def publish(self, host: IHost) -> None:
        return  # the listener is reachable as it is

    def build_host(
        self,
        key_pair: KeyPair,
        listen: Sequence[multiaddr.Multiaddr],
        *,
        refuse_peer: PeerGate = _admit_everyone,
        admission: ConnectionAdmission | None = None,
        max_connections: int | None = None,
    ) -> IHost:
        return noise_yamux_host(
            key_pair,
            listen,
            refuse_peer=refuse_peer,
            admission=admission,
            max_connections=max_connections,
        )


def noise_yamux_host(
    key_pair: KeyPair,
    listen: Sequence[multiaddr.Multiaddr],
    *,
    refuse_peer: PeerGate,
    admission: ConnectionAdmission | None,
    max_connections: int | None,
    **transport_options: Any,
) -> IHost:
    """A host with Noise-only security, yamux, the connection caps and admission, no mDNS or
    UPnP; ``transport_options`` (e.g. ``transports``, ``addrs_factory``) go to ``new_host``."""
    host = new_host(
        key_pair=key_pair,
        sec_opt=noise_only_security(key_pair, refuse_peer=refuse_peer),
        muxer_opt=yamux_only(),
        listen_addrs=list(listen),
        connection_config=connection_config(
            max_connections, None if admission is None else admission.caps
        ),
        enable_mDNS=False,
        enable_upnp=False,
        **transport_options,
    )
    if admission is not None:
        install_admission(host.get_network(), admission)
    return host


def connection_config(
    max_connections: int | None, caps: ConnectionCaps | None = None
) -> ConnectionConfig:
    """One connection per peer, and at most ``max_connections`` in all (library default: 300).

    The library refuses outbound dials at the cap. Above its high watermark its connection
    manager closes idle connections that are not protected (`_connections` protects the ones
    the node needs) down to the low watermark: ``caps`` gives both (`ConnectionCaps`), which
    are clamped to the cap; without ``caps`` they keep the library's defaults when they fit.
    """
    if max_connections is None:
        return ConnectionConfig(max_connections_per_peer=1)
    high = max_connections if caps is None else min(caps.high_water, max_connections)
    low = min(LOW_WATERMARK if caps is None else caps.low_water, high)
    return ConnectionConfig(
        max_connections_per_peer=1,
        max_connections=max_connections,
        min_connections=min(MIN_CONNECTIONS, low),
        low_watermark=low,
        high_watermark=high,
        grace_period=GRACE_PERIOD if caps is None else caps.grace,
    )


async def close_listeners(host: IHost) -> None:
    """Close the host's listening sockets; call it (shielded) before leaving ``host.run``.

    py-libp2p 0.8.1 runs each TCP listener as a trio *system* task and closes it in the
    swarm's shutdown path only after awaiting every connection's close in an already cancelled
    scope, so that step never runs: a stopped host keeps accepting connections on its old port
    (for a dead swarm) until the process exits. A node restarted in the same process would
    then be dialled there, not at its new address (tests/integration/net/test_reach.py).
    """
    listeners = getattr(host.get_network(), "listeners", {})  # Swarm has it, INetwork not
    for listener in list(listeners.values()):
        try:
            await listener.close()
        except Exception:  # noqa: BLE001, S112 - best effort on the way out
            continue
