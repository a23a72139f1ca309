"""Everything that talks to a ``tor`` process (no libp2p here).

Layout: ``_errors``; ``_endpoints`` (where tor's ports are); ``_socks5`` (SOCKS5 client:
sans-IO machine + trio driver); ``_control_protocol`` (control-port replies, sans-IO);
``_control_values`` (what tor's texts say: bootstrap progress, versions, onion keys;
pure); ``_hs_uploads`` (which onion services are published, from HS_DESC events; pure);
``_controller`` (`TorController` over trio: authentication, bootstrap, onion services);
``_launcher`` (`start_tor`: our own tor under a data directory, dying with us);
``_private_network`` (`PrivateTorNetwork` on loopback for tests and the demo).
See docs/specifications/tor.md for what we send to tor.
"""

from ._control_protocol import ControlReplyParser, Reply, ReplyLine, parse_keywords, quote
from ._control_values import BootstrapProgress, OnionService, parse_bootstrap, tor_version_tuple
from ._controller import TorController, controller_on_stream, open_tor_controller
from ._endpoints import Endpoint, TcpEndpoint, UnixEndpoint, open_endpoint, parse_endpoint
from ._errors import Socks5Refused, TorError, TorProtocolError
from ._launcher import RunningTor, free_port, start_tor
from ._private_network import PrivateTorNetwork, read_torrc_lines
from ._socks5 import REPLY_REASONS, Socks5Connect, socks5_connect

__all__ = [
    "REPLY_REASONS",
    "BootstrapProgress",
    "ControlReplyParser",
    "Endpoint",
    "OnionService",
    "PrivateTorNetwork",
    "Reply",
    "ReplyLine",
    "RunningTor",
    "Socks5Connect",
    "Socks5Refused",
    "TcpEndpoint",
    "TorController",
    "TorError",
    "TorProtocolError",
    "UnixEndpoint",
    "controller_on_stream",
    "free_port",
    "open_endpoint",
    "open_tor_controller",
    "parse_bootstrap",
    "parse_endpoint",
    "parse_keywords",
    "quote",
    "read_torrc_lines",
    "socks5_connect",
    "start_tor",
    "tor_version_tuple",
]
