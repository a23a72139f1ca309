"""`umbra node` (run the peer-to-peer node) and `umbra status` (its health)."""

import logging
import signal
import sys
import time
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from umbra.core import UsageError

from ._app import CliState, emit, json_option, pass_state
from ._format import iso_time

if TYPE_CHECKING:
    from umbra.net import NodeStatus

# umbra.net pulls in py-libp2p (~1.5 s of imports): imported inside the commands that need it,
# so every other command stays fast.

NODE_FILE = "node.toml"
DEFAULT_LISTEN = "/ip4/127.0.0.1/tcp/0"


def _node_file(path: Path) -> dict[str, list[str]]:
    """``node.toml`` in the profile directory: optional ``listen`` and ``bootstrap`` lists."""
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc
    out: dict[str, list[str]] = {}
    for key in ("listen", "bootstrap"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"{path}: {key} must be a list of multiaddr strings")
        out[key] = value
    return out


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.CRITICAL)
    # py-libp2p logs routine network noise (peers going away) as errors.
    libp2p = logging.getLogger("libp2p")
    libp2p.setLevel(logging.CRITICAL)
    libp2p.handlers.clear()
    libp2p.propagate = True
    logging.getLogger("umbra").setLevel(logging.INFO if verbose else logging.WARNING)


@click.command()
@click.option("--listen", multiple=True, help="Multiaddr to listen on, e.g. /ip4/0.0.0.0/tcp/4001.")
@click.option("--bootstrap", multiple=True, help="Peer multiaddr with /p2p/<id> to join through.")
@click.option("--verbose", is_flag=True, help="Log what the node does to stderr.")
@json_option
@pass_state
def node(
    state: CliState, listen: tuple[str, ...], bootstrap: tuple[str, ...], verbose: bool
) -> None:
    """Run this profile's node until stopped: publish your catalog, sync everyone else's."""
    import trio

    from umbra.market import SellerCatalog
    from umbra.net import NodeConfig, serve_node
    from umbra.net.messaging import serve_messaging

    profile = state.profile()
    file = _node_file(profile.path / NODE_FILE)
    config = NodeConfig(
        listen=tuple(listen or file.get("listen") or [DEFAULT_LISTEN]),
        bootstrap=tuple(dict.fromkeys([*bootstrap, *file.get("bootstrap", [])])),
    )
    _setup_logging(verbose)
    source = SellerCatalog(profile)

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            started = await nursery.start(serve_node, profile, config, source)
            await nursery.start(serve_messaging, started, profile)
            data = {"event": "listening", "peer_id": started.peer_id, "addrs": started.addrs}
            emit(
                state,
                data,
                lambda: click.echo(
                    f"Node {started.peer_id} listening on {', '.join(started.addrs)}"
                ),
            )
            sys.stdout.flush()
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break

    trio.run(run)
    emit(state, {"event": "stopped"}, lambda: click.echo("Node stopped."))


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
            click.echo(f"Node running: {current.peer_id} (pid {current.pid})")
            click.echo(f"  listening on: {', '.join(current.addrs) or '-'}")
            click.echo(f"  peers: {current.peers}   DHT routing table: {current.routing_table}")
        else:
            click.echo("Node not running (start it with `umbra node`).")
        last = "never" if current.last_sync is None else iso_time(current.last_sync)
        click.echo(
            f"  catalogs synced: {current.catalogs_synced}"
            f" ({current.listings_synced} listings), last sync: {last}"
        )
        if current.last_sync is None:
            click.echo("  Nothing synced yet: search results will be empty until a sync.")

    emit(state, _status_json(current), human)
