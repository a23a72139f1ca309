"""How a monero-wallet-rpc that Umbra starts reaches its daemon: directly, or only through Tor.

A daemon on this machine (a loopback address, like the regtest sandbox's monerod) is reached
directly: nothing leaves the machine, and tor could not carry it anyway (tor refuses to
connect to private and loopback addresses). Any other daemon — an ``.onion``, a public IP, a
host name — is reached in Tor mode only through tor's SOCKS port, from the first sync on:
``monero-wallet-rpc --proxy IP:PORT``. monero-wallet-rpc 0.18 then opens every daemon
connection with a SOCKS4a CONNECT that carries the host name, so tor, not this machine,
resolves it (Monero's ``src/net/socks_connect.cpp``). ``--proxy`` takes an IP and a port
only: a tor whose SOCKS port is a unix socket cannot carry it, and such a daemon is refused.

Clearnet mode (tests, local demos) reaches a remote IP or name directly, as the user chose;
an ``.onion`` daemon needs a tor in either mode.

Every route passes ``--no-dns`` (no OpenAlias or DNS checkpoint lookups outside Tor) and
trusts only a daemon on this machine (``--untrusted-daemon`` elsewhere: a remote node could
lie about what the wallet asks it).
"""

import ipaddress
import re
from dataclasses import dataclass

from ._errors import WalletError

# A DNS name or an onion address: letters, digits, hyphens, dots; no scheme, no path.
_HOST_NAME = re.compile(r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")  # fmt: skip
_ONION_V3 = re.compile(r"[a-z2-7]{56}\.onion")


class DaemonRouteError(WalletError):
    """A daemon address is malformed, or cannot be reached the way the network mode allows."""


@dataclass(frozen=True)
class DaemonAddress:
    """Where a Monero daemon's RPC port is: ``host`` (IP literal, DNS name or .onion)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def is_onion(self) -> bool:
        return self.host.endswith(".onion")

    @property
    def is_loopback(self) -> bool:
        """Whether the daemon is on this machine (an IP literal in 127/8 or ::1).

        ``localhost`` counts as remote on purpose: the name would be looked up first.
        """
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def parse_daemon_address(text: str) -> DaemonAddress:
    """``HOST:PORT`` (``[IPv6]:PORT``); HOST an IP literal, a DNS name or a v3 ``.onion``.

    Raises:
        DaemonRouteError: anything else, quoting the text.
    """
    host, sep, port_text = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        valid = _is_ip(host)
    elif host.lower().endswith(".onion"):
        host = host.lower()
        valid = _ONION_V3.fullmatch(host) is not None
    else:
        # An IPv6 literal must be bracketed: "::1:18081" is ambiguous.
        valid = ":" not in host and (_is_ip(host) or _HOST_NAME.fullmatch(host) is not None)
    if not sep or not valid or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise DaemonRouteError(
            f"bad Monero daemon address {text[:80]!r}: expected HOST:PORT "
            "(an IP address, a host name or a v3 .onion address, then the RPC port)"
        )
    return DaemonAddress(host, int(port_text))


@dataclass(frozen=True)
class SocksProxy:
    """A tor SOCKS port that monero-wallet-rpc can use: an IP literal and a port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def daemon_args(
    daemon: DaemonAddress, *, tor_mode: bool, tor_socks: SocksProxy | None
) -> list[str]:
    """The daemon options of a monero-wallet-rpc (or -cli) command line.

    Args:
        daemon: where the daemon's RPC port is.
        tor_mode: whether the profile runs in Tor mode (the default outside tests).
        tor_socks: the SOCKS port of the tor this node uses, when it has one on an IP
            address (None: no tor, or its SOCKS port is a unix socket).

    Raises:
        DaemonRouteError: in one line, when the daemon cannot be reached without leaving
            Tor (Tor mode, a daemon off this machine and no usable SOCKS port), or at all
            (an ``.onion`` without a tor).
    """
    args = ["--daemon-address", str(daemon), "--daemon-ssl", "disabled", "--no-dns"]
    if daemon.is_loopback:
        return [*args, "--trusted-daemon"]
    args.append("--untrusted-daemon")
    if tor_mode or daemon.is_onion:
        if tor_socks is None:
            why = "it runs in Tor mode" if tor_mode else "it is an onion service"
            raise DaemonRouteError(
                f"the Monero daemon {daemon} is not on this machine and {why}, but there is no "
                "tor SOCKS port on an IP address for monero-wallet-rpc --proxy (a unix socket "
                "will not do): give tor a TCP SocksPort (e.g. --tor-socks 127.0.0.1:9050)"
            )
        args += ["--proxy", str(tor_socks)]
    return args


def proxy_hint(tor_socks: str | None) -> str:
    """What to tell a user who starts their own monero-wallet-rpc while the node uses Tor."""
    if tor_socks and not tor_socks.startswith("unix:"):
        flag = f"--proxy {tor_socks}"
    else:
        flag = "--proxy IP:PORT (a TCP SocksPort of your tor, e.g. 127.0.0.1:9050)"
    return (
        f"This node runs over Tor: start monero-wallet-rpc with {flag} so that it reaches a "
        "daemon off this machine only through Tor, from the first sync on (a daemon on this "
        "machine, 127.0.0.1, needs no proxy)."
    )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
