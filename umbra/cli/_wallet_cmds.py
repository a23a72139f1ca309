"""`umbra wallet address|balance|history|send|connect`: the simple user wallet."""

import time
from pathlib import Path
from typing import Any

import click
import trio

from umbra.core import UsageError, format_xmr, parse_xmr
from umbra.wallet import Balance, BlockPace, Login, WalletRpcError, WalletStore, proxy_hint
from umbra.wallet._config import (
    WalletEndpoint,
    chain_pace,
    check_endpoint,
    configured_endpoint,
    sandbox_endpoint,
    save_endpoint,
)
from umbra.wallet._wallet import UserWallet

from ._app import CliState, emit, json_option, pass_state


@click.group()
def wallet() -> None:
    """Your Monero wallet: add funds, balance, history, send."""


def _endpoint(state: CliState) -> WalletEndpoint:
    """The sandbox wallet named after the profile if it runs, else the configured one."""
    found = sandbox_endpoint(state.data_dir, state.profile_name)
    if found is not None:
        return found
    found = configured_endpoint(WalletStore(state.profile().db))
    if found is None:
        raise UsageError(
            "no wallet configured: run `umbra wallet connect --host H --port P` "
            "(your monero-wallet-rpc) or `umbra sandbox up`"
        )
    return found


@wallet.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, required=True)
@click.option("--user", default="", help="The --rpc-login user of your monero-wallet-rpc.")
@click.option("--password-file", type=click.Path(path_type=Path, dir_okay=False))
@json_option
@pass_state
def connect(state: CliState, host: str, port: int, user: str, password_file: Path | None) -> None:
    """Use your own monero-wallet-rpc (mainnet or stagenet) for this profile.

    Start it with a wallet open and a digest login, e.g. ``monero-wallet-rpc --wallet-file W
    --rpc-bind-port 18083 --rpc-login USER:PASS --daemon-address NODE``; with a node running
    over Tor (the default), add ``--proxy IP:PORT`` (your tor's SOCKS port) so that it reaches
    a daemon off this machine only through Tor. The connection is checked before it is saved
    (in the profile's encrypted database).
    """
    password = password_file.read_text(encoding="utf-8").strip() if password_file else ""
    login = Login(user, password) if user else None
    endpoint = WalletEndpoint("127.0.0.1" if host == "localhost" else host, port, login, "config")
    try:
        info = trio.run(check_endpoint, endpoint)
    except WalletRpcError as exc:
        if exc.code == 401:
            raise UsageError(
                "the wallet-rpc refused the login: check --user and --password-file"
            ) from exc
        raise UsageError(f"the wallet-rpc answered but is not usable: {exc.message}") from exc
    save_endpoint(WalletStore(state.profile().db), host, port, user, password)
    hint = _tor_hint(state)
    data = {"host": host, "port": port, **info, "tor_hint": hint}

    def human() -> None:
        click.echo(f"Wallet: {host}:{port} ({info['network']}, {info['address'][:12]}…)")
        if hint:
            click.echo(hint)

    emit(state, data, human)


def _tor_hint(state: CliState) -> str | None:
    """The ``--proxy`` flag to give one's wallet-rpc, unless the node runs on clearnet (Tor is
    the default, so a node not running now will most likely use Tor too)."""
    from umbra.net import read_node_status  # the net layer loads only for this command

    status = read_node_status(state.profile(), now=time.time())
    if status.running and status.network == "clearnet":
        return None
    socks = getattr(status, "tor_socks", None) if status.running else None
    return proxy_hint(socks if isinstance(socks, str) else None)


@wallet.command()
@click.option("--amount", help="Amount to ask for, in XMR (goes into the URI and QR code).")
@click.option("--qr", "qr_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the QR code to this PNG file.")  # fmt: skip
@json_option
@pass_state
def address(state: CliState, amount: str | None, qr_file: Path | None) -> None:
    """Add funds: a fresh address, its monero: URI and a QR code."""
    piconero = parse_xmr(amount) if amount else None

    async def run() -> Any:
        async with _endpoint(state).client() as rpc:
            return await UserWallet(rpc).funding_request(amount=piconero, label="add funds")

    req = trio.run(run)
    if qr_file is not None:
        qr_file.write_bytes(req.qr_png)
    data = {"address": req.address, "uri": req.uri, "qr_file": str(qr_file) if qr_file else None}
    emit(state, data, lambda: click.echo(f"{req.address}\n{req.uri}"))


@wallet.command()
@json_option
@pass_state
def balance(state: CliState) -> None:
    """Balance: spendable now, and still locked (new coins wait 10 blocks; how long that
    takes is measured on the chain in use)."""

    async def run() -> tuple[Balance, BlockPace]:
        endpoint = _endpoint(state)
        async with endpoint.client() as rpc:
            found = await UserWallet(rpc).balance()
        return found, await chain_pace(endpoint, state.data_dir, time.time())

    b, pace = trio.run(run)
    # How long the locked coins wait, from the pace of the chain in use (regtest or main).
    wait = pace.wait(b.blocks_to_unlock) if b.locked and b.blocks_to_unlock else ""
    data = {
        "total": b.total,
        "unlocked": b.unlocked,
        "locked": b.locked,
        "blocks_to_unlock": b.blocks_to_unlock,
        "seconds_per_block": round(pace.seconds, 1),
        "seconds_per_block_measured": pace.measured,
        "unlock_wait": wait or None,
    }

    def human() -> None:
        line = (
            f"Spendable {format_xmr(b.unlocked, unit=True)}, "
            f"locked {format_xmr(b.locked, unit=True)}"
        )
        if wait:
            line += f" (spendable after {b.blocks_to_unlock} more blocks, {wait})"
        click.echo(line)

    emit(state, data, human)


@wallet.command()
@json_option
@pass_state
def history(state: CliState) -> None:
    """Incoming and outgoing transfers, oldest first."""

    async def run() -> Any:
        async with _endpoint(state).client() as rpc:
            return await UserWallet(rpc).history()

    items = trio.run(run)
    data = [t.__dict__ for t in items]

    def human() -> None:
        for t in items:
            sign = "+" if t.direction == "in" else "-"
            click.echo(
                f"{t.direction:7} {sign}{format_xmr(t.amount):>16}  "
                f"{t.confirmations:>5} conf  {t.txid}"
            )

    emit(state, data, human)


@wallet.command()
@click.argument("to_address")
@click.argument("amount")
@click.option("--yes", is_flag=True, help="Send without asking after showing the fee.")
@json_option
@pass_state
def send(state: CliState, to_address: str, amount: str, yes: bool) -> None:
    """Send AMOUNT XMR to TO_ADDRESS, after showing the exact fee."""
    piconero = parse_xmr(amount)

    async def preview() -> Any:
        async with _endpoint(state).client() as rpc:
            return await UserWallet(rpc).preview_send(to_address, piconero)

    p = trio.run(preview)
    if not yes:
        if state.json_output:
            raise UsageError(f"add --yes to send in --json mode (fee: {p.fee} piconero)")
        click.confirm(
            f"Send {format_xmr(piconero, unit=True)} + fee {format_xmr(p.fee, unit=True)}?",
            abort=True,
        )

    async def relay() -> str:
        async with _endpoint(state).client() as rpc:
            return await UserWallet(rpc).send(p)

    txid = trio.run(relay)
    data = {"txid": txid, "amount": piconero, "fee": p.fee}
    emit(state, data, lambda: click.echo(f"Sent: {txid} (fee {format_xmr(p.fee, unit=True)})"))
