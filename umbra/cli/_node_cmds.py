"""`umbra node` (the peer-to-peer node with its web app) and `umbra status` (its health)."""

import sys
import time
import tomllib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

import click
import trio

from umbra.core import UmbraError, UsageError
from umbra.store import Profile

from ._app import AlreadyReported, CliState, emit, json_option, pass_state, report_error
from ._format import iso_time
from ._invocation import with_runnable_commands
from ._logging import DEFAULT_MAX_BYTES, debugging_from_env, setup_logging
from ._loop_watch import serve_loop_watch
from ._network_options import FILE_KEYS as NETWORK_FILE_KEYS
from ._network_options import NetworkOptions, network_mode, network_options, options_from_file
from ._progress import network_words, show_bootstrap
from ._web_cmds import (
    DEFAULT_PORT,
    WEB_FILE,
    WebLink,
    cancel_on_stop_signal,
    run_trio,
    single_exception,
    start_web,
    state_profile_dir,
)

if TYPE_CHECKING:
    from umbra.api import Services
    from umbra.market import TradeOptions
    from umbra.net import Node, NodeConfig, NodeStartup, NodeStatus, ThumbnailMode, TorTransport

# umbra.net pulls in py-libp2p (~1.5 s of imports): imported inside the commands that need it,
# so every other command stays fast.

NODE_FILE = "node.toml"
CLEARNET_WARNING = (
    "Clearnet mode: peers see this machine's IP address (run without --clearnet for Tor)."
)
DEFAULT_LISTEN = "/ip4/127.0.0.1/tcp/0"


# The connection caps an operator may set in node.toml's [limits] table (docs/operations.md).
LIMIT_KEYS = {
    "max_connections_per_ip": int,
    "max_connections_per_range": int,
    "max_inbound_connections": int,
    "max_connections": int,
    "limit_loopback": bool,
    "max_pending_handshakes": int,
    "connections_high_water": int,
    "connections_low_water": int,
    "max_catalogs": int,
}
# How a sync treats thumbnails (`umbra.net.StoragePolicy`): node.toml's ``thumbnails`` and
# the --thumbnails option of `umbra node` and `umbra app`.
THUMBNAIL_CHOICES = ("auto", "with-catalog", "when-shown")
THUMBNAILS_HELP = (
    "When to download listing thumbnails: with each catalog (with-catalog), only when a page"
    " shows them (when-shown), or with the catalog until the node holds 20,000 listings, then"
    " when shown (auto, the default). Searching stays on this device either way."
)


def _node_file(path: Path) -> dict[str, Any]:
    """``node.toml`` in the profile directory: optional ``listen`` and ``bootstrap`` lists,
    the network keys (`_network_options.FILE_KEYS`), ``thumbnails`` (`THUMBNAIL_CHOICES`) and
    a ``[limits]`` table of connection and catalog caps (`LIMIT_KEYS`)."""
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc
    known = ("listen", "bootstrap", *NETWORK_FILE_KEYS, "thumbnails", "limits")
    for key in data:
        if key not in known:  # a misspelt setting would silently not apply
            raise UsageError(f"{path}: unknown setting {key!r} (known: {', '.join(known)})")
    out: dict[str, Any] = {}
    for key in ("listen", "bootstrap"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"{path}: {key} must be a list of multiaddr strings")
        out[key] = value
    thumbnails = data.get("thumbnails")
    if thumbnails is not None and thumbnails not in THUMBNAIL_CHOICES:
        raise UsageError(f"{path}: thumbnails must be one of {', '.join(THUMBNAIL_CHOICES)}")
    out["thumbnails"] = thumbnails
    out["limits"] = _limits_table(path, data.get("limits", {}))
    out["network"] = options_from_file(data, path=path)
    return out


def _limits_table(path: Path, table: object) -> dict[str, int | bool]:
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [limits] must be a table")
    limits: dict[str, int | bool] = {}
    for key, value in table.items():
        kind = LIMIT_KEYS.get(key)
        if kind is None:
            raise UsageError(f"{path}: unknown limit {key!r} (known: {', '.join(LIMIT_KEYS)})")
        if kind is bool and not isinstance(value, bool):
            raise UsageError(f"{path}: limits.{key} must be true or false")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise UsageError(f"{path}: limits.{key} must be a whole number of at least 1")
        limits[key] = value
    return limits


@dataclass(frozen=True)
class RunningNode:
    """What `serve_profile` reports once the node (and its web app) are up."""

    peer_id: str
    addrs: list[str]
    web: "WebLink | None"


class NodeStatusSource:
    """The live node's health for the web app's settings page and ``/api/v1/profile``."""

    def __init__(self, node: "Node", services: "Services") -> None:
        self._node = node
        self._services = services

    async def status_summary(self) -> dict[str, Any]:
        live = self._node.statistics()
        synced = await self._services.run(self._node.state.summary)
        return {
            "running": True,
            "network": live.network,
            "tor_bootstrap": live.tor_bootstrap_json(),
            "tor_error": live.tor_error,
            "tor_socks": live.tor_socks,
            "peer_id": live.peer_id,
            "addresses": list(live.addrs),
            "peers": live.peers,
            "dht_routing_table": live.routing_table,
            "catalogs_synced": synced.catalogs,
            "listings_synced": synced.listings,
            "last_sync": None if synced.last_sync is None else iso_time(synced.last_sync),
            "syncs_failed": live.syncs_failed,
            "syncs_pending": live.pending_syncs,
        }


def node_config(
    profile_path: Path,
    listen: Sequence[str],
    bootstrap: Sequence[str],
    network: NetworkOptions | None = None,
    thumbnails: str | None = None,
) -> "NodeConfig":
    """Options given on the command line win over ``node.toml``; bootstrap lists are merged.

    Network options on the command line replace the file's (see `_network_options`); the
    mode is Tor unless one of them says ``clearnet``.

    Raises:
        UsageError: a malformed setting, or an address the mode may not use (one line).
    """
    from umbra.net import NetLimits, NodeConfig, StoragePolicy

    path = profile_path / NODE_FILE
    file = _node_file(path)
    given = network if network is not None and network.given else None
    mode = (
        network_mode(given)
        if given is not None
        else network_mode(file.get("network", NetworkOptions()), where=str(path))
    )
    return NodeConfig(
        network=mode,
        limits=NetLimits(**file.get("limits", {})),
        listen=tuple(listen or file.get("listen") or [DEFAULT_LISTEN]),
        bootstrap=tuple(dict.fromkeys([*bootstrap, *file.get("bootstrap", [])])),
        # Both were checked against THUMBNAIL_CHOICES (click, `_node_file`).
        storage=StoragePolicy(
            thumbnails=cast("ThumbnailMode", thumbnails or file.get("thumbnails") or "auto")
        ),
    )


async def serve_profile(
    profile: Profile,
    config: "NodeConfig",
    *,
    web_port: int | None,
    any_web_port_if_taken: bool = False,
    trade: "tuple[Profile, TradeOptions] | None" = None,
    progress: TextIO | None = None,
    json_lines: bool = False,
    on_web: "Callable[[WebLink], Awaitable[None]] | None" = None,
    on_failed: Callable[[str], None] | None = None,
    task_status: Any = trio.TASK_STATUS_IGNORED,  # trio.TaskStatus[RunningNode]
) -> None:
    """Run the node, messaging and (unless ``web_port`` is None) the web app until cancelled.

    Everything shares this trio loop and the profile's one database connection, serialised by
    the node's limiter, so no two threads ever use the connection at once. In Tor mode the
    node starts once its tor is bootstrapped and its onion service published; ``progress``
    (if given) shows the bootstrap meanwhile (a bar, lines, or JSON events with
    ``json_lines``).

    The web app is served first, before the node is usable, and ``on_web`` (in a task of its
    own) gets its link at once: until the node is up every page shows Tor's progress and the
    API answers 503 (`umbra.api`'s starting gate). If the node then cannot start (an
    `UmbraError`, e.g. no tor), the web app stays up and shows why, ``on_failed`` gets the
    same one line, and this runs on until cancelled without ever reporting started. Without
    the web app such an error is raised.
    """
    from umbra.api import Services
    from umbra.market import SellerCatalog
    from umbra.net import Node, NodeStartup, tor_bootstrap_of, transport_for

    source = SellerCatalog(profile)
    web_file = profile.path / WEB_FILE
    transport = transport_for(config.network, profile_dir=profile.path)
    node = Node(profile, config, source, transport=transport)
    startup = NodeStartup(config.network.name, partial(tor_bootstrap_of, transport))
    async with trio.open_nursery() as nursery:
        # A call that blocks the loop stalls all of the below: the log then names it.
        await nursery.start(serve_loop_watch)
        try:
            link = services = None
            if web_port is not None:
                services = Services(
                    profile=profile, catalog=source, limiter=node.db_limiter, startup=startup
                )
                link = await start_web(
                    nursery,
                    services,
                    port=web_port,
                    port_option="--web-port",
                    any_port_if_taken=any_web_port_if_taken,
                )
                if on_web is not None:
                    nursery.start_soon(on_web, link)
            reason: str | None = None
            try:
                async with trio.open_nursery() as running:
                    await _start_node(
                        running, node, transport, profile, startup, trade, progress, json_lines
                    )
                    if services is not None:
                        services.node = NodeStatusSource(node, services)
                        services.images = node  # fetches the photos a page shows, from peers
                    startup.ready()
                    task_status.started(RunningNode(node.peer_id, node.addrs, link))
                    await trio.sleep_forever()
            except BaseException as exc:
                reason = None if startup.is_ready else start_failure(exc)
                if reason is None or link is None:
                    raise
            # Only a start that failed gets here (the block above runs until cancelled).
            assert reason is not None
            startup.fail(reason)
            if on_failed is not None:
                on_failed(reason)
            await trio.sleep_forever()  # the pages say why until the user stops us
        finally:
            web_file.unlink(missing_ok=True)


async def _start_node(
    nursery: trio.Nursery,
    node: "Node",
    transport: object,
    profile: Profile,
    startup: "NodeStartup",
    trade: "tuple[Profile, TradeOptions] | None",
    progress: TextIO | None,
    json_lines: bool,
) -> None:
    """Start the node (over Tor: bootstrap, onion) and what runs on it, in ``nursery``."""
    from umbra.net import TorTransport
    from umbra.net.messaging import serve_messaging

    shown = trio.Event()
    if progress is not None and isinstance(transport, TorTransport):
        nursery.start_soon(_show_bootstrap, transport, progress, json_lines, shown)
    else:
        shown.set()
    await nursery.start(node.serve)
    await shown.wait()  # the last step (100 %) is on screen before "listening"
    startup.services_starting()
    messaging = await nursery.start(serve_messaging, node, profile)
    if trade is not None:  # orders: on a second connection of the profile (see serve_trade)
        from umbra.market import arbiter_offer, serve_arbiters, serve_trade

        await nursery.start(serve_trade, messaging, *trade)
        # arbiter profiles: ours published (--arbiter), the ones catalogs name fetched
        offer = arbiter_offer(*trade)
        await nursery.start(serve_arbiters, node, trade[0], offer)


def start_failure(exc: BaseException) -> str | None:
    """The one line to show for a start that failed with ``exc``, or None if it is not one
    the user can act on (cancellation, a bug: those propagate)."""
    leaf = single_exception(exc)
    if isinstance(leaf, UmbraError):
        return with_runnable_commands(str(leaf).replace("\n", " "))
    return None


async def _show_bootstrap(
    transport: "TorTransport", out: TextIO, json_lines: bool, shown: trio.Event
) -> None:
    try:
        await show_bootstrap(transport.watch_bootstrap(), out, json_lines=json_lines)
    finally:
        shown.set()


@click.command()
@click.option("--listen", multiple=True, help="Multiaddr to listen on, e.g. /ip4/0.0.0.0/tcp/4001.")
@click.option("--bootstrap", multiple=True, help="Peer multiaddr with /p2p/<id> to join through.")
@click.option(
    "--web-port",
    type=click.IntRange(0, 65535),
    default=None,
    help=f"Serve the web app on this 127.0.0.1 port (0: any free port). Default: {DEFAULT_PORT},"
    " or any free port if that one is taken.",
)
@click.option("--no-web", is_flag=True, help="Do not serve the web app.")
@click.option("--thumbnails", type=click.Choice(THUMBNAIL_CHOICES), help=THUMBNAILS_HELP)
@click.option("--arbiter", is_flag=True, help="Act as an arbiter: take escrow cases naming you.")
@click.option("--arbiter-terms", default="", help="Your terms as an arbiter (with --arbiter).")
@click.option("--arbiter-name", default="", help="Your public name as an arbiter (with --arbiter).")
@click.option("--arbiter-fee", default="", help="Your fee, as text (with --arbiter).")
@click.option(
    "--escrow-confirmations",
    type=click.IntRange(1, 100),
    default=10,
    help="Confirmations before an escrow counts as funded (small on a test chain).",
)
@click.option("--verbose", is_flag=True, help="Log what the node does, not only warnings.")
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Log to this file (owner-only, rotated) instead of stderr.",
)
@click.option(
    "--log-max-bytes",
    type=click.IntRange(4096, None),
    default=DEFAULT_MAX_BYTES,
    show_default=True,
    help="Rotate the --log-file at this size; 3 old files are kept.",
)
@click.option(
    "--debug",
    is_flag=True,
    help="Keep IP addresses and tracebacks in the log (also UMBRA_DEBUG=1). Off by default:"
    " a log then tells nothing of who connected from where.",
)
@network_options
@json_option
@pass_state
def node(
    state: CliState,
    listen: tuple[str, ...],
    bootstrap: tuple[str, ...],
    clearnet: bool,
    tor_control: str | None,
    tor_socks: str | None,
    tor_network_file: Path | None,
    web_port: int | None,
    no_web: bool,
    thumbnails: str | None,
    arbiter: bool,
    arbiter_terms: str,
    arbiter_name: str,
    arbiter_fee: str,
    escrow_confirmations: int,
    verbose: bool,
    log_file: Path | None,
    log_max_bytes: int,
    debug: bool,
) -> None:
    """Run this profile's node and its web app until stopped (Ctrl-C or SIGTERM).

    The node publishes your catalog and syncs everyone else's; the web app is on 127.0.0.1
    (`umbra open` prints its link again). Peers are reached over Tor unless --clearnet.
    """
    from umbra.market import TradeOptions
    from umbra.store import open_profile

    network = NetworkOptions(
        clearnet=clearnet,
        tor_control=tor_control,
        tor_socks=tor_socks,
        tor_network_file=tor_network_file,
    )
    config = node_config(state_profile_dir(state), listen, bootstrap, network, thumbnails)
    profile = state.profile()
    setup_logging(
        verbose,
        debug=debug or debugging_from_env(),
        log_file=log_file,
        max_bytes=log_max_bytes,
    )
    trade_profile = open_profile(state.data_dir, state.profile_name, state.passphrase())
    trade_options = TradeOptions(
        state.data_dir,
        arbiter=arbiter,
        arbiter_terms=arbiter_terms,
        arbiter_name=arbiter_name,
        arbiter_fee=arbiter_fee,
        confirmations=escrow_confirmations,
    )

    failed = FailedStart(state)

    async def web_ready(link: WebLink) -> None:
        emit(
            state,
            {"event": "web", "url": link.url, "base": link.base},
            lambda: click.echo(
                "Web app: open this link (it holds the access token; keep it private):"
                f"\n  {link.url}\n(it shows how far the node got until it is up)"
            ),
        )
        sys.stdout.flush()

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(cancel_on_stop_signal, nursery.cancel_scope)
            started: RunningNode = await nursery.start(
                partial(
                    serve_profile,
                    profile,
                    config,
                    web_port=None if no_web else (DEFAULT_PORT if web_port is None else web_port),
                    any_web_port_if_taken=web_port is None,
                    trade=(trade_profile, trade_options),
                    progress=sys.stdout,
                    json_lines=state.json_output,
                    on_web=web_ready,
                    on_failed=failed,
                )
            )
            web = started.web
            data = {
                "event": "listening",
                "peer_id": started.peer_id,
                "addrs": started.addrs,
                "url": None if web is None else web.url,
                "base": None if web is None else web.base,
                "network": config.network.name,
            }

            def human() -> None:
                click.echo(f"Node {started.peer_id} listening on {', '.join(started.addrs)}")
                if not config.network.onion_only:
                    click.echo(CLEARNET_WARNING)
                if web is not None:
                    click.echo(f"The web app is ready at {web.base}/ (link above).")
                click.echo("Press Ctrl-C to stop.")

            emit(state, data, human)
            sys.stdout.flush()

    try:
        run_trio(run)
    finally:
        trade_profile.close()
    failed.check()
    emit(state, {"event": "stopped"}, lambda: click.echo("Node stopped."))


class FailedStart:
    """``on_failed`` for `serve_profile`: says why at once (the web app keeps showing it),
    and makes the command end with exit code 1 once stopped (`check`)."""

    def __init__(self, state: CliState) -> None:
        self._state = state
        self.reason: str | None = None

    def __call__(self, reason: str) -> None:
        self.reason = reason
        report_error(reason, self._state.json_output)
        if not self._state.json_output:
            click.echo("The web app shows this until you stop Umbra (Ctrl-C).")
        sys.stdout.flush()

    def check(self) -> None:
        if self.reason is not None:
            raise AlreadyReported(self.reason)


def _status_json(status: "NodeStatus") -> dict[str, Any]:
    data = status.to_json()
    data["last_sync_iso"] = None if status.last_sync is None else iso_time(status.last_sync)
    return data


@click.command()
@json_option
@pass_state
def status(state: CliState) -> None:
    """Show the node's health: peers, DHT table, catalogs synced and when."""
    from umbra.net import read_node_status

    current = read_node_status(state.profile(), now=time.time())

    def human() -> None:
        if current.running:
            if current.peer_id is None:  # over Tor: tor is still bootstrapping
                click.echo(f"Node starting (pid {current.pid})")
            else:
                click.echo(f"Node running: {current.peer_id} (pid {current.pid})")
            click.echo(f"  network: {network_words(current)}")
            click.echo(f"  listening on: {', '.join(current.addrs) or '-'}")
            click.echo(f"  peers: {current.peers}   DHT routing table: {current.routing_table}")
            click.echo(
                f"  inbound connections: {current.inbound_connections}"
                f"   refused (at a cap) since start: {current.refused_connections}"
            )
        else:
            click.echo(with_runnable_commands("Node not running (start it with `umbra node`)."))
        last = "never" if current.last_sync is None else iso_time(current.last_sync)
        click.echo(
            f"  catalogs synced: {current.catalogs_synced}"
            f" ({current.listings_synced} listings), last sync: {last}"
        )
        if current.last_sync is None:
            click.echo("  Nothing synced yet: search results will be empty until a sync.")

    emit(state, _status_json(current), human)
