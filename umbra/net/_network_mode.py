"""How a node reaches the network: over Tor (the default) or clearnet TCP, as frozen values.

`NetworkMode` is `TorSettings` or `Clearnet`. The CLI and ``node.toml`` build one
(`parse_tor_endpoint`, `parse_torrc_lines`), `NodeConfig.network` carries it, and the node
builds its transport from it (`umbra.net._transport_choice`). Every text here comes from the
command line or a file the user named: parsed strictly, with one-line errors that say what
to write instead (`NetworkSettingError`).

Tor endpoints are IP literals or unix socket paths, never host names: resolving a name would
be a DNS lookup outside Tor, the one thing Tor mode promises not to do.
"""

import ipaddress
import re
from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol

from umbra.core import UsageError

from ._errors import NetError

# A torrc line: a keyword, then its value. The file holding them is small (a private test
# network's client needs ~10 lines); a bigger one is a mistake.
MAX_TORRC_BYTES = 64 * 1024
MAX_TORRC_LINE = 1024
_TORRC_KEYWORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# Lines our launcher writes itself (data directory, control and SOCKS ports, authentication,
# the owning process): a test file must not change where tor listens or who may control it.
RESERVED_TORRC_KEYWORDS = frozenset(
    k.lower()
    for k in (
        "DataDirectory",
        "ControlPort",
        "ControlPortWriteToFile",
        "ControlSocket",
        "SocksPort",
        "CookieAuthentication",
        "CookieAuthFile",
        "HashedControlPassword",
        "__OwningControllerProcess",
        "RunAsDaemon",
    )
)


class NetworkSettingError(NetError, UsageError):
    """A network setting (command line, node.toml or `NodeConfig`) is malformed, contradicts
    another, or names an address the mode may not use: the local user is at fault."""


@dataclass(frozen=True)
class TcpEndpoint:
    """A tor port at an IP address (``127.0.0.1:9051``, ``[::1]:9050``)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class UnixEndpoint:
    """A tor port on a unix socket (``unix:/run/tor/control``)."""

    path: str

    def __str__(self) -> str:
        return f"unix:{self.path}"


TorEndpoint = TcpEndpoint | UnixEndpoint


@dataclass(frozen=True, kw_only=True)
class TorSettings:
    """Tor mode: every peer connection goes through Tor; the node is an onion service.

    Attributes:
        control: the control port of a tor the user already runs; None: the node starts its
            own tor under the profile directory.
        socks: that tor's SOCKS port; None: asked from its control port.
        extra_torrc_lines: more lines for our own tor's torrc (tests and the demo: the lines
            that make it join a private Tor network). Empty with an existing tor.
    """

    name: ClassVar[Literal["tor"]] = "tor"
    onion_only: ClassVar[bool] = True

    control: TorEndpoint | None = None
    socks: TorEndpoint | None = None
    extra_torrc_lines: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.socks is not None and self.control is None:
            raise NetworkSettingError(
                "a tor SOCKS port needs its control port too (--tor-control): the node"
                " publishes its onion service through it"
            )
        if self.extra_torrc_lines and self.control is not None:
            raise NetworkSettingError(
                "extra torrc lines apply to the node's own tor, not to an existing one"
                " (--tor-network-file with --tor-control)"
            )

    @property
    def own_tor(self) -> bool:
        """Whether the node starts (and stops) its own tor."""
        return self.control is None


@dataclass(frozen=True)
class Clearnet:
    """Clearnet TCP (tests and local demos): peers see this node's IP address."""

    name: ClassVar[Literal["clearnet"]] = "clearnet"
    onion_only: ClassVar[bool] = False


NetworkMode = TorSettings | Clearnet
CLEARNET = Clearnet()


class BootstrapStep(Protocol):
    """How far tor's bootstrap got (``umbra.net.tor.BootstrapProgress`` has these fields)."""

    @property
    def percent(self) -> int: ...
    @property
    def summary(self) -> str: ...


def parse_tor_endpoint(text: str, *, option: str) -> TorEndpoint:
    """``HOST:PORT`` (an IP literal; IPv6 in brackets) or ``unix:/absolute/path``.

    Raises:
        NetworkSettingError: anything else, naming ``option``.
    """
    usage = f"{option} takes IP:PORT (e.g. 127.0.0.1:9051) or unix:/path/to/socket"
    if not text or len(text) > 4096 or any(ord(c) < 0x20 or c == "\x7f" for c in text):
        raise NetworkSettingError(f"{usage}, not {text[:80]!r}")
    if text.startswith("unix:"):
        path = text[len("unix:") :]
        if not path.startswith("/") or path.endswith("/"):
            raise NetworkSettingError(f"{option}: a unix socket must be an absolute file path")
        return UnixEndpoint(path)
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isascii() or not port_text.isdigit() or len(port_text) > 5:
        raise NetworkSettingError(f"{usage}, not {text[:80]!r}")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise NetworkSettingError(f"{option}: port {port} is not between 1 and 65535")
    bracketed = host.startswith("[") and host.endswith("]")
    literal = host[1:-1] if bracketed else host
    try:
        address = ipaddress.ip_address(literal)
    except ValueError:
        raise NetworkSettingError(
            f"{option}: {host[:80]!r} is not an IP address (names are not resolved:"
            " that would be a DNS lookup outside Tor)"
        ) from None
    if address.version == 6 and not bracketed:
        raise NetworkSettingError(f"{option}: write an IPv6 address in brackets, [{literal}]:PORT")
    if address.version == 4 and bracketed:
        raise NetworkSettingError(f"{option}: an IPv4 address takes no brackets")
    return TcpEndpoint(str(address), port)


def parse_torrc_lines(data: bytes, *, source: str) -> tuple[str, ...]:
    """The torrc lines of a ``--tor-network-file``: ``Keyword value`` lines, ``#`` comments.

    Raises:
        NetworkSettingError: too big, not UTF-8, a malformed line, or a keyword the launcher
            sets itself (`RESERVED_TORRC_KEYWORDS`).
    """
    if len(data) > MAX_TORRC_BYTES:
        raise NetworkSettingError(f"{source}: larger than {MAX_TORRC_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NetworkSettingError(f"{source}: not UTF-8 text") from None
    lines: list[str] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r").strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source} line {number}"
        if len(line) > MAX_TORRC_LINE:
            raise NetworkSettingError(f"{where}: longer than {MAX_TORRC_LINE} characters")
        if any((ord(c) < 0x20 and c != "\t") or c == "\x7f" for c in line):
            raise NetworkSettingError(f"{where}: control characters are not allowed")
        keyword = line.split(maxsplit=1)[0]
        if not _TORRC_KEYWORD.fullmatch(keyword) or " " not in line.replace("\t", " "):
            raise NetworkSettingError(f"{where}: expected 'Keyword value', not {line[:60]!r}")
        if keyword.lower() in RESERVED_TORRC_KEYWORDS:
            raise NetworkSettingError(f"{where}: {keyword} is set by Umbra's tor launcher")
        lines.append(line)
    return tuple(lines)
