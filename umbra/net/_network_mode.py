"""How a node reaches the network: over Tor (the default) or clearnet TCP, as frozen values.

`NetworkMode` is `TorSettings` or `Clearnet`. The CLI and ``node.toml`` build one
(`parse_tor_endpoint`, `torrc_lines_from_file`), `NodeConfig.network` carries it, and the node
builds its transport from it (`umbra.net._transport_choice`). Every text here comes from the
command line or a file the user named: parsed strictly (by ``umbra.net.tor``'s endpoint and
torrc readers, plus the rules below), with one-line errors that name the option
(`NetworkSettingError`).

Tor endpoints are IP literals or unix socket paths, never host names: resolving a name would
be a DNS lookup outside Tor, the one thing Tor mode promises not to do.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol

from umbra.core import UsageError

from ._errors import NetError

if TYPE_CHECKING:
    from .tor import Endpoint as TorEndpoint

# ``umbra.net.tor`` (trio, the controller: ~0.25 s of imports) loads only when a Tor setting
# is parsed, so that `umbra status` and other readers of the ``net`` tables start fast.

# A torrc line: a keyword, then its value.
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

    control: "TorEndpoint | None" = None
    socks: "TorEndpoint | None" = None
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
    @property
    def warning(self) -> str | None: ...  # why it is stuck, when tor says so


def parse_tor_endpoint(text: str, *, option: str) -> "TorEndpoint":
    """``IP:PORT`` (IPv6 in brackets) or ``unix:/absolute/path``, parsed by
    `umbra.net.tor.parse_endpoint`; a unix path must be absolute here (a relative one would
    depend on the directory the node happens to start in).

    Raises:
        NetworkSettingError: anything else, naming ``option``.
    """
    if text.startswith("unix:") and not text[len("unix:") :].startswith("/"):
        raise NetworkSettingError(f"{option}: a unix socket must be an absolute path, unix:/…")
    from .tor import TorError, parse_endpoint

    try:
        return parse_endpoint(text)
    except TorError as exc:
        raise NetworkSettingError(
            f"{option}: {exc} (a host name is not allowed: it would be looked up outside Tor)"
        ) from None


def torrc_lines_from_file(path: Path, *, option: str = "--tor-network-file") -> tuple[str, ...]:
    """The torrc lines of a ``--tor-network-file`` (read by `umbra.net.tor.read_torrc_lines`:
    at most 64 KiB of UTF-8, ``#`` comments), each then checked by `check_torrc_lines`.

    Raises:
        NetworkSettingError: unreadable, malformed, or a line the launcher owns.
    """
    from .tor import TorError, read_torrc_lines

    try:
        lines = read_torrc_lines(path)
    except TorError as exc:
        raise NetworkSettingError(f"{option}: {exc}") from None
    return check_torrc_lines(lines, source=f"{option} {path}")


def check_torrc_lines(lines: Sequence[str], *, source: str) -> tuple[str, ...]:
    """``Keyword value`` lines only, and none that changes what the launcher sets itself
    (where tor listens, who may control it, its data directory: `RESERVED_TORRC_KEYWORDS`).

    Raises:
        NetworkSettingError: naming the first bad line.
    """
    for number, line in enumerate(lines, start=1):
        where = f"{source}, setting {number}"
        keyword, _, value = line.replace("\t", " ").partition(" ")
        if not _TORRC_KEYWORD.fullmatch(keyword) or not value.strip():
            raise NetworkSettingError(f"{where}: expected 'Keyword value', not {line[:60]!r}")
        if keyword.lower() in RESERVED_TORRC_KEYWORDS:
            raise NetworkSettingError(f"{where}: {keyword} is set by Umbra's tor launcher")
    return tuple(lines)
