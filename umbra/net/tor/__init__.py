"""Everything that talks to a ``tor`` process (no libp2p here).

Layout: ``_errors``, ``_endpoints`` (where tor's ports are), ``_socks5`` (SOCKS5 client:
sans-IO machine + trio driver).
See docs/specifications/tor.md for what we send to tor.
"""

from ._endpoints import Endpoint, TcpEndpoint, UnixEndpoint, open_endpoint, parse_endpoint
from ._errors import Socks5Refused, TorError, TorProtocolError
from ._socks5 import REPLY_REASONS, Socks5Connect, socks5_connect

__all__ = [
    "REPLY_REASONS",
    "Endpoint",
    "Socks5Connect",
    "Socks5Refused",
    "TcpEndpoint",
    "TorError",
    "TorProtocolError",
    "UnixEndpoint",
    "open_endpoint",
    "parse_endpoint",
    "socks5_connect",
]
