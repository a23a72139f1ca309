"""libp2p over Tor onion services: a dialer that reaches ``/onion3`` addresses through tor's
SOCKS port, a loopback listener for tor's onion service, and `TorTransport` joining them.

Nothing here can open a connection to an IP address: `OnionDialer` is the only transport that
dials, and it refuses every address that is not ``/onion3/<56>:<port>`` before a socket is
opened, sending the ``.onion`` name to tor (remote resolution: no DNS lookup here).
`ListenOnlyTCP` listens on 127.0.0.1 and never dials, so libp2p's auto-connector, a peer's
identify message or a DHT answer naming an ``/ip4`` address cannot make the node dial around
tor. The host announces its onion address only (identify, the signed peer record, DHT
provider records), and records no observed address.

Tor itself (starting or reaching it, bootstrap, the onion service) is `_tor_session`'s job.
"""

import contextlib
import ipaddress
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import multiaddr
from libp2p.abc import IHost, IListener, IRawConnection, ITransport
from libp2p.crypto.keys import KeyPair
from libp2p.custom_types import THandler
from libp2p.io.trio import TrioTCPStream
from libp2p.network.connection.raw_connection import RawConnection
from libp2p.transport.exceptions import OpenConnectionError
from libp2p.transport.tcp.tcp import TCP

from ._admission import ConnectionAdmission
from ._errors import NetError
from ._network_mode import BootstrapStep, TorSettings
from ._onion_addresses import is_onion3
from ._tor_session import TorSession
from ._transport import PeerGate, TransportStore, _admit_everyone, noise_yamux_host
from .tor import Endpoint, TorError, socks5_connect

log = logging.getLogger(__name__)

# The port peers dial at our .onion address (tor forwards it to the real loopback listener).
ONION_VIRTUAL_PORT = 4001


class NotAnOnionAddress(NetError):
    """Asked to dial something other than an onion address in Tor mode (refused unsent)."""


def onion_target(maddr: multiaddr.Multiaddr) -> tuple[str, int]:
    """``/onion3/<id>:<port>[/p2p/<peer>]`` → (``"<id>.onion"``, port).

    Raises:
        NotAnOnionAddress: anything else (checked as text by `is_onion3`, the same rule the
            peer store uses).
    """
    text = str(maddr)
    if not is_onion3(text):
        raise NotAnOnionAddress(f"not dialling {text[:120]!r}: only onion addresses in Tor mode")
    service, _, port = text.split("/")[2].partition(":")
    return f"{service}.onion", int(port)


class OnionDialer(ITransport):
    """Dials ``/onion3`` addresses through tor's SOCKS5 port, and nothing else.

    ``isolation`` is the profile's SOCKS username: tor's ``IsolateSOCKSAuth`` (on by default)
    keeps streams with different usernames on different circuits, so two profiles on one tor
    are not tied together by a shared circuit.
    """

    def __init__(self, socks: Endpoint, *, isolation: str) -> None:
        self._socks = socks
        self._isolation = isolation

    async def dial(self, maddr: multiaddr.Multiaddr) -> IRawConnection:
        host, port = onion_target(maddr)  # before any socket is opened
        try:
            stream = await socks5_connect(self._socks, host, port, isolation=self._isolation)
        except TorError as exc:
            raise OpenConnectionError(f"through tor: {exc}") from exc
        return RawConnection(TrioTCPStream(stream), True)

    def create_listener(self, handler_function: THandler) -> IListener:
        raise NetError("the onion dialer does not listen (ListenOnlyTCP does, for tor)")

    def can_dial(self, maddr: multiaddr.Multiaddr) -> bool:
        return is_onion3(str(maddr))

    def can_listen(self, maddr: multiaddr.Multiaddr) -> bool:
        return False

    def protocols(self) -> list[str]:
        return ["onion3"]


class ListenOnlyTCP(TCP):
    """py-libp2p's TCP listener on loopback, for tor's onion service to forward to; it never
    dials (``TCP.can_listen`` asks ``can_dial``, so both are overridden)."""

    def can_dial(self, maddr: multiaddr.Multiaddr) -> bool:
        return False

    def can_listen(self, maddr: multiaddr.Multiaddr) -> bool:
        names = [p.name for p in maddr.protocols()]
        return names[:1] in (["ip4"], ["ip6"]) and names[1:] == ["tcp"]

    async def dial(self, maddr: multiaddr.Multiaddr) -> IRawConnection:
        raise OpenConnectionError(f"not dialling {maddr}: Tor mode dials onion addresses only")


class TorTransport:
    """Noise + yamux over onion services (see the module docstring).

    ``open`` brings tor up (`TorSession`: our own tor under ``tor_dir``, or the user's), and
    holds it while the node runs; ``publish`` adds the onion service once the host listens.
    """

    name = "tor"

    def __init__(self, settings: TorSettings, *, tor_dir: Path) -> None:
        self._session = TorSession(settings, tor_dir=tor_dir)
        self._announced: list[multiaddr.Multiaddr] = []
        self._store: TransportStore | None = None

    # -- what the node and the CLI read --------------------------------------------------

    def tor_bootstrap(self) -> BootstrapStep | None:
        return self._session.progress

    def tor_error(self) -> str | None:
        """Why tor is unusable (it died, or never came up), or None while it works."""
        return self._session.down

    def tor_endpoints(self) -> tuple[str, str] | None:
        """(control, SOCKS) of the tor in use, once reached."""
        return self._session.endpoints

    def watch_bootstrap(self) -> AsyncIterator[BootstrapStep]:
        """Each new bootstrap step until 100% or until tor cannot be had (for the CLI bar)."""
        return self._session.watch_bootstrap()

    @property
    def onion_address(self) -> str | None:
        """``/onion3/<id>:<port>`` once the service is published."""
        return str(self._announced[0]) if self._announced else None

    # -- Transport ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def open(self, store: TransportStore) -> AsyncIterator[None]:
        async with self._session.running(isolation=await store.socks_isolation()):
            self._store = store
            yield

    def build_host(
        self,
        key_pair: KeyPair,
        listen: Sequence[multiaddr.Multiaddr],
        *,
        refuse_peer: PeerGate = _admit_everyone,
        admission: ConnectionAdmission | None = None,
        max_connections: int | None = None,
    ) -> IHost:
        socks, isolation = self._session.socks_for_dialling()
        return noise_yamux_host(
            key_pair,
            listen,
            refuse_peer=refuse_peer,
            admission=admission,
            max_connections=max_connections,
            transports=[OnionDialer(socks, isolation=isolation), ListenOnlyTCP()],
            # The onion address, once published (`publish`); until then nothing at all,
            # never the loopback listener. A factory rather than ``announce_addrs`` because
            # on the first start the address exists only after tor made the key.
            addrs_factory=lambda _candidates: list(self._announced),
            disable_identify_address_discovery=True,
        )

    async def publish(self, host: IHost) -> None:
        """Publish the onion service forwarding to the host's loopback listener, with the
        profile's key (tor makes one on the first start: it is stored before anything else),
        and wait until tor uploaded its descriptor.

        Raises:
            TorError: tor refused the service or did not publish it in time.
        """
        targets = [t for t in map(_loopback_tcp, host.get_transport_addrs()) if t is not None]
        if not targets or self._store is None:
            raise NetError("the Tor transport has no loopback listener to publish")
        target_host, target_port = targets[0]
        service_id = await self._session.publish_onion(
            self._store,
            virtual_port=ONION_VIRTUAL_PORT,
            target_host=target_host,
            target_port=target_port,
        )
        self._announced = [multiaddr.Multiaddr(f"/onion3/{service_id}:{ONION_VIRTUAL_PORT}")]


def _loopback_tcp(addr: multiaddr.Multiaddr) -> tuple[str, int] | None:
    """(IP, port) of a ``/ip4|ip6/<loopback>/tcp/<port>`` listen address, else None."""
    parts = str(addr).split("/")
    if len(parts) != 5 or parts[1] not in ("ip4", "ip6") or parts[3] != "tcp":
        return None
    try:
        loopback = ipaddress.ip_address(parts[2]).is_loopback
    except ValueError:
        return None
    return (parts[2], int(parts[4])) if loopback and parts[4].isdigit() else None
