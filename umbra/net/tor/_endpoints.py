"""Where tor's control and SOCKS ports are: a TCP ``host:port`` or a unix socket path.

Only IP literals are accepted for TCP endpoints: resolving a name here would be a DNS lookup
outside Tor, the very leak Tor mode exists to prevent.
"""

import ipaddress
from dataclasses import dataclass
from pathlib import Path

import trio

from ._errors import TorError


@dataclass(frozen=True)
class TcpEndpoint:
    host: str  # an IP literal, never a name
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class UnixEndpoint:
    path: Path

    def __str__(self) -> str:
        return f"unix:{self.path}"


Endpoint = TcpEndpoint | UnixEndpoint


def parse_endpoint(text: str) -> Endpoint:
    """Parse ``HOST:PORT`` (HOST an IPv4 literal or ``[IPv6]``) or ``unix:PATH``.

    Raises:
        TorError: the text is neither; the message quotes it.
    """
    if text.startswith("unix:"):
        path = text[len("unix:") :]
        if not path or "\0" in path:
            raise TorError(f"bad unix socket endpoint {text!r}: expected unix:/path/to/socket")
        return UnixEndpoint(Path(path))
    host, sep, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if not sep or address is None or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise TorError(f"bad endpoint {text!r}: expected IP:PORT, [IPv6]:PORT or unix:PATH")
    return TcpEndpoint(str(address), int(port_text))


async def open_endpoint(endpoint: Endpoint) -> trio.SocketStream:
    """Connect to ``endpoint``; a refused or missing port is a `TorError` naming it."""
    try:
        if isinstance(endpoint, UnixEndpoint):
            return await trio.open_unix_socket(str(endpoint.path))
        return await trio.open_tcp_stream(endpoint.host, endpoint.port)
    except OSError as exc:
        raise TorError(f"cannot reach tor at {endpoint}: {exc.strerror or exc}") from exc
