"""The transport a node runs, chosen by its `NetworkMode`; never a silent fallback.

Clearnet gets `TcpNoiseTransport`. Tor mode needs the onion transport, which this build does
not have yet: asking for it raises `TorNotAvailable` with what to do instead, so a user who
did not choose clearnet never runs on it. (Phase 2 of issue #16 builds the TorTransport from
`TorSettings` here.)
"""

from typing import Protocol, runtime_checkable

from ._errors import NetError
from ._network_mode import BootstrapStep, Clearnet, NetworkMode
from ._transport import TcpNoiseTransport, Transport

TOR_NOT_AVAILABLE = (
    "Tor mode is not available in this build yet; run with --clearnet to use plain TCP"
    " (peers then see your IP address), or set clearnet = true in node.toml"
)


class TorNotAvailable(NetError):
    """Tor mode was asked for (the default) but this build cannot run it."""


@runtime_checkable
class ReportsBootstrap(Protocol):
    """A transport that knows how far its tor got (the Tor transport)."""

    def tor_bootstrap(self) -> BootstrapStep | None: ...


def transport_for(network: NetworkMode) -> Transport:
    """The transport for ``network``.

    Raises:
        TorNotAvailable: Tor mode, which this build cannot run yet.
    """
    if isinstance(network, Clearnet):
        return TcpNoiseTransport()
    raise TorNotAvailable(TOR_NOT_AVAILABLE)


def tor_bootstrap_of(transport: object) -> BootstrapStep | None:
    """The transport's latest Tor bootstrap step, if it runs over Tor and knows one."""
    return transport.tor_bootstrap() if isinstance(transport, ReportsBootstrap) else None
