"""The transport a node runs, chosen by its `NetworkMode`; never a silent fallback.

Clearnet gets `TcpNoiseTransport`; Tor mode gets `TorTransport`, whose tor lives under the
profile's ``tor/`` directory when the node starts its own. A Tor-mode node whose tor cannot be
had does not start (`TorUnavailable`), and one whose tor dies keeps running without any peer
connection: no code path here or in the node swaps in TCP.
"""

from pathlib import Path
from typing import Protocol, runtime_checkable

from ._network_mode import BootstrapStep, Clearnet, NetworkMode
from ._onion_transport import TorTransport
from ._transport import TcpNoiseTransport, Transport

TOR_DIR = "tor"  # under the profile directory: our own tor's torrc, state and log


@runtime_checkable
class ReportsBootstrap(Protocol):
    """A transport that knows how far its tor got (the Tor transport)."""

    def tor_bootstrap(self) -> BootstrapStep | None: ...
    def tor_error(self) -> str | None: ...
    def tor_endpoints(self) -> tuple[str, str] | None: ...


def transport_for(network: NetworkMode, *, profile_dir: Path) -> Transport:
    """The transport for ``network`` (nothing is started until the node opens it)."""
    if isinstance(network, Clearnet):
        return TcpNoiseTransport()
    return TorTransport(network, tor_dir=profile_dir / TOR_DIR)


def tor_bootstrap_of(transport: object) -> BootstrapStep | None:
    """The transport's latest Tor bootstrap step, if it runs over Tor and knows one."""
    return transport.tor_bootstrap() if isinstance(transport, ReportsBootstrap) else None


def tor_error_of(transport: object) -> str | None:
    """Why the transport's tor is unusable (it died), if it runs over Tor."""
    return transport.tor_error() if isinstance(transport, ReportsBootstrap) else None


def tor_endpoints_of(transport: object) -> tuple[str, str] | None:
    """(control, SOCKS) of the transport's tor, if it runs over Tor and has reached it."""
    return transport.tor_endpoints() if isinstance(transport, ReportsBootstrap) else None
