"""`umbra sandbox up|down|status|mine|faucet`: a private regtest chain for trying Umbra."""

from typing import Any

import click
import trio

from umbra.core import format_xmr, parse_xmr
from umbra.store import list_profiles
from umbra.wallet import Sandbox, WalletStore
from umbra.wallet._config import sandbox_wallet_password

from ._app import CliState, emit, json_option, pass_state
from ._invocation import with_runnable_commands


@click.group()
def sandbox() -> None:
    """A private Monero chain (regtest) with wallets for your profiles. Test coins only."""


def _box(state: CliState) -> Sandbox:
    return Sandbox(state.data_dir)


@sandbox.command()
@click.option("--wallet", "wallets", multiple=True, help="Also start this wallet (repeatable).")
@json_option
@pass_state
def up(state: CliState, wallets: tuple[str, ...]) -> None:
    """Start the chain, the faucet and this profile's wallets (mines the first blocks).

    The profile's main wallet is opened when the profile exists (its password is kept in the
    profile, so this asks for the passphrase); other ``--wallet`` processes are only started:
    each opens with ``umbra --profile NAME sandbox up``.
    """
    profile = state.profile_name
    names = wallets or (profile, f"{profile}.escrow")
    box = _box(state)
    password = None
    if profile in names and profile in list_profiles(state.data_dir):
        password = sandbox_wallet_password(WalletStore(state.profile().db))

    async def run() -> dict[str, Any]:
        status = await box.up(tuple(names))
        if password is not None:
            await box.open_main_wallet(profile, password)
        status["opened"] = [profile] if password is not None else []
        status["height"] = await box.height()
        return status

    status = trio.run(run)
    emit(state, status, lambda: _print_status(status))


@sandbox.command()
@json_option
@pass_state
def down(state: CliState) -> None:
    """Stop every sandbox process (the chain and wallets stay on disk)."""
    stopped = trio.run(_box(state).down)
    emit(
        state,
        {"stopped": stopped},
        lambda: click.echo("Stopped: " + (", ".join(stopped) or "nothing")),
    )


@sandbox.command()
@json_option
@pass_state
def status(state: CliState) -> None:
    """Show what runs, on which ports, and how much memory it uses."""
    box = _box(state)
    info = box.status()
    if info["running"]:
        info["height"] = trio.run(box.height)
    emit(state, info, lambda: _print_status(info))


@sandbox.command()
@click.argument("blocks", type=click.IntRange(1, 10_000))
@json_option
@pass_state
def mine(state: CliState, blocks: int) -> None:
    """Mine BLOCKS blocks now."""
    height = trio.run(_box(state).mine, blocks)
    emit(state, {"height": height}, lambda: click.echo(f"Mined {blocks}; height {height}"))


@sandbox.command()
@click.argument("profile")
@click.argument("amount")
@json_option
@pass_state
def faucet(state: CliState, profile: str, amount: str) -> None:
    """Send AMOUNT test XMR to PROFILE's sandbox wallet and mine until it is spendable."""
    piconero = parse_xmr(amount)
    txid = trio.run(_box(state).faucet, profile, piconero)
    emit(
        state,
        {"profile": profile, "amount": piconero, "txid": txid},
        lambda: click.echo(f"Sent {format_xmr(piconero, unit=True)} to {profile} ({txid})"),
    )


def _print_status(info: dict[str, Any]) -> None:
    if not info.get("running"):
        click.echo(
            with_runnable_commands("The sandbox is not running: `umbra sandbox up` starts it.")
        )
        return
    if "opened" in info and not info["opened"]:
        click.echo(
            with_runnable_commands(
                "No profile wallet was opened: create the profile (`umbra init`) and run "
                "`umbra --profile NAME sandbox up` to open its wallet."
            )
        )
    m = info["monerod"]
    click.echo(
        f"monerod   pid {m['pid']}  rpc 127.0.0.1:{m['rpc_port']}  height {info.get('height', '?')}"
    )
    for name, w in info["wallets"].items():
        alive = "up" if w["alive"] else "DOWN"
        rss = f"{(w['rss'] or 0) // 2**20} MiB"
        click.echo(f"{name:18} pid {w['pid']}  port {w['port']}  {alive}  {rss}")
