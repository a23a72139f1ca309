"""How `umbra node` and `umbra app` reach the network: Tor (the default) or ``--clearnet``.

Options: ``--clearnet`` (plain TCP: peers see this machine's IP address; for tests and local
demos), ``--tor-control`` and ``--tor-socks`` (use a tor the user already runs), and the
hidden ``--tor-network-file`` (more torrc lines for the node's own tor: how the tests and
`umbra demo --tor` make it join a private Tor network). The same settings may sit in
``node.toml`` as ``clearnet``, ``tor_control``, ``tor_socks`` and ``tor_network_file``; any
of them on the command line replaces the file's network settings as a whole, so a
command line never half-merges with a file into a mode nobody wrote.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from umbra.core import UsageError
from umbra.net import (
    CLEARNET,
    NetworkMode,
    TorSettings,
    parse_tor_endpoint,
    torrc_lines_from_file,
)

F = TypeVar("F", bound=Callable[..., Any])

# node.toml keys and the options they stand for.
FILE_KEYS = {
    "clearnet": "--clearnet",
    "tor_control": "--tor-control",
    "tor_socks": "--tor-socks",
    "tor_network_file": "--tor-network-file",
}


@dataclass(frozen=True, kw_only=True)
class NetworkOptions:
    """The network settings as written (command line or node.toml), not yet checked."""

    clearnet: bool = False
    tor_control: str | None = None
    tor_socks: str | None = None
    tor_network_file: Path | None = None

    @property
    def given(self) -> bool:
        return self.clearnet or any(
            v is not None for v in (self.tor_control, self.tor_socks, self.tor_network_file)
        )


def network_options(func: F) -> F:
    """The network options of every command that starts a node (`umbra node`, `umbra app`)."""
    options = [
        click.option(
            "--clearnet",
            is_flag=True,
            help="Use plain TCP instead of Tor: peers see your IP address. For tests and local"
            " demos.",
        ),
        click.option(
            "--tor-control",
            metavar="IP:PORT|unix:PATH",
            help="Use the tor you already run: its control port (cookie authentication).",
        ),
        click.option(
            "--tor-socks",
            metavar="IP:PORT|unix:PATH",
            help="That tor's SOCKS port (default: asked from its control port).",
        ),
        click.option(
            "--tor-network-file",
            type=click.Path(dir_okay=False, path_type=Path),
            hidden=True,  # tests and the demo: torrc lines that join a private Tor network
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def options_from_file(table: Mapping[str, Any], *, path: Path) -> NetworkOptions:
    """The network keys of ``node.toml`` (a relative ``tor_network_file`` is relative to it).

    Raises:
        UsageError: a key of the wrong type.
    """
    clearnet = table.get("clearnet", False)
    if not isinstance(clearnet, bool):
        raise UsageError(f"{path}: clearnet must be true or false")
    texts: dict[str, str | None] = {}
    for key in ("tor_control", "tor_socks", "tor_network_file"):
        value = table.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise UsageError(f"{path}: {key} must be a non-empty string")
        texts[key] = value
    network_file = texts["tor_network_file"]
    return NetworkOptions(
        clearnet=clearnet,
        tor_control=texts["tor_control"],
        tor_socks=texts["tor_socks"],
        tor_network_file=None if network_file is None else path.parent / network_file,
    )


def network_mode(options: NetworkOptions, *, where: str = "") -> NetworkMode:
    """The mode the options ask for: clearnet, or Tor (own tor, or an existing one).

    Raises:
        UsageError: malformed or contradicting options (one line; ``where`` prefixes it, e.g.
            the node.toml path).
    """
    prefix = f"{where}: " if where else ""
    try:
        return _mode(options)
    except UsageError as exc:
        raise UsageError(f"{prefix}{exc}") from None


def _mode(options: NetworkOptions) -> NetworkMode:
    if options.clearnet:
        tor = (options.tor_control, options.tor_socks, options.tor_network_file)
        if any(v is not None for v in tor):
            raise UsageError("--clearnet cannot be combined with the --tor-… options")
        return CLEARNET
    control = (
        None
        if options.tor_control is None
        else parse_tor_endpoint(options.tor_control, option="--tor-control")
    )
    socks = (
        None
        if options.tor_socks is None
        else parse_tor_endpoint(options.tor_socks, option="--tor-socks")
    )
    lines: tuple[str, ...] = ()
    if options.tor_network_file is not None:
        lines = torrc_lines_from_file(options.tor_network_file)
    return TorSettings(control=control, socks=socks, extra_torrc_lines=lines)
