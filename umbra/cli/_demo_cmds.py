"""`umbra demo`: a whole marketplace on this machine, or (``--offline``) one local seller.

The full demo (`_demo_run`): a private regtest chain, a seller with sample listings, a funded
buyer and an arbiter, each running its own node and web app, and a miner; it prints each
node's link and runs until Ctrl-C. ``--offline`` only makes the seller with its listings and
runs a few private searches over them (seconds, no chain, no network).
"""

import signal
import sys
import time
from pathlib import Path
from typing import Any

import click
import trio

from umbra.core import UsageError, format_xmr
from umbra.core.crypto import encode_public_key
from umbra.market import SellerCatalog, sample_drafts
from umbra.store import ProfileExists, SearchQuery, create_profile, open_profile

from ._app import CliState, emit, json_option, pass_state
from ._demo_run import DEMO_PASSPHRASE, ROLES, DemoOptions, DemoRun
from ._invocation import runnable_command
from ._web_cmds import run_trio

DEMO_PROFILE = ROLES["seller"]
DEMO_QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("camera", {}),
    ("", {"category": "services"}),
    ("mug", {"ships_to": "FR"}),
    ("", {"max_price": 50 * 10**9, "sort": "price"}),
]
STEP_TEXT = {
    "profiles": "Profiles and sample listings",
    "chain": "Private Monero chain and faucet",
    "wallets": "Wallets of the three profiles",
    "buyer_funds": "Test coins for the buyer",
    "nodes": "Nodes and web apps",
    "node-seller": "Seller's node",
    "node-buyer": "Buyer's node",
    "node-arbiter": "Arbiter's node",
    "mining-coins-for-the-buyer": "Faucet refused: mining the buyer's coins instead",
    "tor_network": "Private Tor network (3 authorities + 1 relay on 127.0.0.1)",
}


def _describe_filter(key: str, value: object) -> str:
    if key == "max_price" and isinstance(value, int):
        return f"max price {format_xmr(value)} XMR"
    return f"{key.replace('_', ' ')} {value}"


@click.command()
@click.option(
    "--demo-dir",
    "demo_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path(".umbra-dev"),
    show_default=True,
    help="Where the demo profiles and chain live (kept apart from your real data).",
)
@click.option("--listings", type=click.IntRange(1, 20), default=20, show_default=True)
@click.option(
    "--offline",
    is_flag=True,
    help="Only create the seller with sample listings and search them (no chain, no nodes).",
)
@click.option(
    "--mine-interval",
    type=click.FloatRange(0.5, 600),
    default=5.0,
    show_default=True,
    help="Seconds between blocks of the demo chain.",
)
@click.option(
    "--tor",
    is_flag=True,
    help="Run the three nodes over a private Tor network on this machine (onion services "
    "only) instead of plain TCP on 127.0.0.1.",
)
@json_option
@pass_state
def demo(
    state: CliState,
    demo_dir: Path,
    listings: int,
    offline: bool,
    mine_interval: float,
    tor: bool,
) -> None:
    """Run a demo marketplace here: chain, seller, funded buyer, arbiter; prints their links.

    The nodes talk over plain TCP on 127.0.0.1 (--clearnet), or with --tor over a private Tor
    network started here (each node runs its own tor and is reached at its onion address).
    With --json every line is a JSON object; the one with "event": "ready" holds the links.
    Ctrl-C (or SIGTERM) stops every process the demo started.
    """
    demo_dir = demo_dir.resolve()
    if offline:
        if tor:
            raise UsageError("--offline starts no node: it cannot use --tor")
        _offline_demo(state, demo_dir, listings)
        return
    options = DemoOptions(
        demo_dir=demo_dir, listings=listings, mine_interval=mine_interval, tor=tor
    )

    def report(data: dict[str, Any]) -> None:
        emit(state, data, lambda: _human_progress(data))
        sys.stdout.flush()

    run = DemoRun(options, report)

    async def main() -> None:
        # Open for the whole run: a second Ctrl-C while stopping must not cut the clean-up.
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_cancel_on_first, signals, nursery.cancel_scope)
                    if not state.json_output:
                        how = "over a private Tor network" if tor else "on clearnet TCP"
                        click.echo(f"Starting the Umbra demo in {demo_dir} ({how}) ...")
                    ready = await run.bring_up(nursery)
                    emit(state, ready, lambda: _human_ready(ready))
                    sys.stdout.flush()
                    nursery.start_soon(run.watch_nodes)
            finally:
                with trio.CancelScope(shield=True):
                    if not state.json_output:
                        click.echo("Stopping the demo ...")
                    stopped = await run.shut_down()
                    report({"event": "stopped", "stopped": stopped})

    run_trio(main)


async def _cancel_on_first(signals: Any, scope: trio.CancelScope) -> None:
    async for _ in signals:
        scope.cancel()
        return


def _human_progress(data: dict[str, Any]) -> None:
    event = data.get("event")
    if event == "progress" and str(data.get("step")).startswith("tor-"):
        role = str(data["step"]).removeprefix("tor-")
        click.echo(f"  {role}'s tor: {data.get('percent')}% {data.get('summary', '')}")
    elif event == "progress":
        text = STEP_TEXT.get(str(data.get("step")), str(data.get("step")))
        extra = f" ({data['seconds']:.1f} s)" if "seconds" in data else ""
        click.echo(f"  done: {text}{extra}")
    elif event == "warning":
        click.echo(f"  warning: {data['message']}")
    elif event == "stopped":
        click.echo("Stopped: " + (", ".join(data["stopped"]) or "nothing"))


def _human_ready(ready: dict[str, Any]) -> None:
    nodes = ready["nodes"]
    click.echo(
        f"\nThe Umbra demo marketplace runs ({ready['timings']['total']:.0f} s to start): three"
        " nodes on this machine and a private Monero chain with test coins.\n"
    )
    notes = {
        "buyer": f"funded with {format_xmr(ready.get('buyer_balance', 0), unit=True)}",
        "seller": f"{ready.get('listings', 0)} sample listings",
        "arbiter": "settles disputes",
    }
    for role in ("buyer", "seller", "arbiter"):
        click.echo(f"  {role:8} {nodes[role]['url']}")
        click.echo(f"           {notes[role]}")
        if ready.get("network") == "tor":
            for addr in nodes[role]["addrs"]:
                click.echo(f"           onion: {addr}")
    if ready.get("network") == "tor":
        click.echo(
            "\nThe nodes reach each other only at their onion addresses, through a private Tor"
            " network on this machine (each node runs its own tor)."
        )
    else:
        click.echo(
            "\nThe nodes talk over plain TCP on 127.0.0.1 (--clearnet); `umbra demo --tor` runs"
            " them over a private Tor network instead."
        )
    buyer = nodes["buyer"]["profile"]
    click.echo(
        '\nOpen the buyer\'s link in your browser: search (try "camera") and open a listing;'
        " the seller's link shows\nthe shop, and Settings shows each node's peers and wallet."
        " The links hold access tokens: keep them private."
    )
    click.echo(
        f"Passphrase of every demo profile: {ready['passphrase']}. Data: {ready['demo_dir']}."
        f"\nA block is mined every {ready['mine_interval']:g} s. From another terminal, e.g.:"
        f"\n  {runnable_command(anywhere=True)} --data-dir {ready['demo_dir']} --profile {buyer}"
        " search camera"
    )
    click.echo("Press Ctrl-C to stop everything.")


def _offline_demo(state: CliState, demo_dir: Path, listings: int) -> None:
    """The seller with sample listings and a few private searches; no chain, no network."""
    demo_dir = demo_dir.resolve()
    try:
        profile = create_profile(demo_dir, DEMO_PROFILE, DEMO_PASSPHRASE)
        created = True
    except ProfileExists:
        profile = open_profile(demo_dir, DEMO_PROFILE, DEMO_PASSPHRASE)
        created = False
    try:
        catalog = SellerCatalog(profile)
        if not catalog.own_listings():
            for draft in sample_drafts(listings):
                catalog.create(draft)
        own = catalog.own_listings()
        results: list[dict[str, Any]] = []
        for text, filters in DEMO_QUERIES:
            query = SearchQuery(text=text, now=int(time.time()), limit=5, **filters)
            page = profile.search.search(query)
            results.append(
                {
                    "query": text,
                    "filters": {k: str(v) for k, v in filters.items()},
                    "described": ", ".join(_describe_filter(k, v) for k, v in filters.items()),
                    "total": page.total,
                    "titles": [h.entry.title for h in page.hits],
                }
            )
        seller = encode_public_key(profile.identity.signing_public)
        current = catalog.current_catalog()
        if current is None:
            raise UsageError("the demo catalog could not be created")
        data = {
            "ready": True,
            "data_dir": str(demo_dir),
            "profile": DEMO_PROFILE,
            "passphrase": DEMO_PASSPHRASE,
            "created": created,
            "seller_id": seller,
            "listings": len(own),
            "catalog": {"cid": str(current.cid), "seq": current.body.seq},
            "searches": results,
        }

        def human() -> None:
            click.echo(f"Demo seller {DEMO_PROFILE!r} ({'created' if created else 'reopened'})")
            click.echo(f"  seller id  {seller}")
            click.echo(f"  listings   {len(own)}, catalog seq {current.body.seq}")
            click.echo(f"  catalog    {current.cid}")
            click.echo("\nPrivate searches, answered from the local encrypted index:")
            for r in results:
                label = f"{r['query']!r}" if r["query"] else "browse"
                extra = f" ({r['described']})" if r["described"] else ""
                click.echo(f"  {label}{extra}: {r['total']} found")
                for title in r["titles"][:3]:
                    click.echo(f"      {title}")
            cheapest = min(own, key=lambda s: s.body.price)
            click.echo(
                f"\nCheapest: {cheapest.body.title} at {format_xmr(cheapest.body.price, unit=True)}"
            )
            base = (
                f"{runnable_command(anywhere=True)} --data-dir {demo_dir} --profile {DEMO_PROFILE}"
            )
            click.echo("\nTry (passphrase: demo, or export UMBRA_PASSPHRASE=demo):")
            click.echo(f"  {base} search bike --max-price 1")
            click.echo(f"  {base} listing list")
            click.echo(f"  {base} listing show <id> --save-images /tmp/demo-images")

        emit(state, data, human)
    finally:
        profile.close()
