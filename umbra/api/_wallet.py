"""`WalletAccess`: the profile's own Monero wallet, for the wallet page and ``/api/v1/wallet``.

Where the wallet is gets decided per request, like the CLI does (``umbra wallet``): the
sandbox wallet named after the profile while ``umbra sandbox up`` runs it, else the
monero-wallet-rpc the user connected (host, port, digest login, kept in the encrypted store).
Nothing is cached, so starting the sandbox or connecting a wallet takes effect at once.

Sending is two steps so the user sees the exact fee before anything leaves: `preview_send`
builds the transaction without relaying it and keeps it here under a random id (in memory,
a few minutes, a handful at a time); `send` relays exactly that transaction, once.
"""

import re
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio

from umbra.core import UsageError
from umbra.store import Profile
from umbra.wallet import (
    MAINNET_BLOCK_SECONDS,
    UNLOCK_BLOCKS,
    Balance,
    BlockPace,
    FundingRequest,
    Login,
    SendPreview,
    Transfer,
    UserWallet,
    WalletRpcError,
    WalletStore,
    WalletUnavailable,
)
from umbra.wallet._config import (
    WalletEndpoint,
    chain_pace,
    configured_endpoint,
    sandbox_endpoint,
    save_endpoint,
)

from ._errors import ApiError, wallet_error_message

Runner = Callable[..., Awaitable[Any]]

PREVIEW_TTL_S = 600
MAX_PREVIEWS = 8
STATUS_TIMEOUT_S = 5.0
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})?|\[[0-9A-Fa-f:]{2,45}\]")

ASSUMED_PACE = BlockPace(MAINNET_BLOCK_SECONDS, measured=False)
HOW_TO_CONNECT = (
    "No wallet is connected. For a test wallet with play money run `umbra sandbox up` "
    "(it starts a private chain and a wallet for this profile); to use your own Monero "
    "wallet, start monero-wallet-rpc and connect it on the Wallet page "
    "(or POST /api/v1/wallet/connect)."
)


class WalletNotConnected(ApiError):
    def __init__(self) -> None:
        super().__init__(409, HOW_TO_CONNECT)


@dataclass(frozen=True)
class PendingSend:
    """A built, not yet relayed transaction the user is asked to confirm."""

    preview_id: str
    preview: SendPreview
    created_at: int

    @property
    def total(self) -> int:
        return self.preview.amount + self.preview.fee

    @property
    def expires_at(self) -> int:
        return self.created_at + PREVIEW_TTL_S


class WalletAccess:
    """The profile's wallet, reached through monero-wallet-rpc for each request.

    Args:
        profile: the open profile (its store holds the connected wallet's address).
        run: runs a blocking store call in the store's worker thread (`Services.run`).
        clock: seconds since the epoch (for preview expiry).
    """

    def __init__(self, profile: Profile, run: Runner, clock: Callable[[], int]) -> None:
        self._profile = profile
        self._run = run
        self._clock = clock
        self._previews: OrderedDict[str, PendingSend] = OrderedDict()

    # -- where the wallet is -----------------------------------------------------------------

    async def endpoint(self) -> WalletEndpoint | None:
        """The sandbox wallet of this profile if it runs, else the connected one, else None."""
        data_dir = self._profile.path.parent.parent  # <data>/profiles/<name>

        def find() -> WalletEndpoint | None:
            found = sandbox_endpoint(data_dir, self._profile.name)
            if found is not None:
                return found
            return configured_endpoint(WalletStore(self._profile.db))

        result: WalletEndpoint | None = await self._run(find)
        return result

    async def connect(self, host: str, port: int, user: str, password: str) -> WalletEndpoint:
        """Check that a monero-wallet-rpc answers at host:port, then remember it."""
        host = host.strip()
        if not _HOST.fullmatch(host):
            raise UsageError(f"{host[:60]!r} is not a host name or IP address")
        if not 0 < port < 65536:
            raise UsageError("the port must be between 1 and 65535")
        if host == "localhost":
            host = "127.0.0.1"
        login = Login(user, password) if user else None
        candidate = WalletEndpoint(host, port, login, "config")
        async with candidate.client() as rpc:
            try:
                await rpc.call("get_version", timeout=STATUS_TIMEOUT_S * 2)
            except WalletRpcError as exc:
                raise UsageError(wallet_error_message(exc)) from exc
        await self._run(save_endpoint, WalletStore(self._profile.db), host, port, user, password)
        return candidate

    @asynccontextmanager
    async def user_wallet(self) -> AsyncIterator[UserWallet]:
        found = await self.endpoint()
        if found is None:
            raise WalletNotConnected()
        async with found.client() as rpc:
            try:
                yield UserWallet(rpc)
            except WalletRpcError as exc:
                # A refusal (not enough money, bad address) is the user's to fix: say how.
                raise UsageError(wallet_error_message(exc)) from exc

    # -- what the pages show -----------------------------------------------------------------

    async def status_summary(self) -> dict[str, Any]:
        """Connection facts for the settings page; never raises for an unreachable wallet."""
        found = await self.endpoint()
        if found is None:
            return {"connected": False, "how_to_connect": HOW_TO_CONNECT}
        summary: dict[str, Any] = {
            "connected": True,
            "source": found.source,
            "rpc": f"{found.host}:{found.port}",
            "reachable": False,
        }
        async with found.client() as rpc:
            try:
                with trio.fail_after(STATUS_TIMEOUT_S):
                    summary["wallet_height"] = int((await rpc.call("get_height"))["height"])
                summary["reachable"] = True
            except (WalletUnavailable, trio.TooSlowError):
                summary["problem"] = "monero-wallet-rpc does not answer; check that it runs."
            except WalletRpcError as exc:
                summary["problem"] = wallet_error_message(exc)
        return summary

    async def funding_request(self, amount: int | None) -> FundingRequest:
        async with self.user_wallet() as wallet:
            return await wallet.funding_request(amount=amount, label="add funds (web)")

    async def balance(self) -> Balance:
        async with self.user_wallet() as wallet:
            return await wallet.balance()

    async def block_pace(self) -> BlockPace:
        """How fast the wallet's chain makes blocks (`umbra.wallet._config.chain_pace`)."""
        found = await self.endpoint()
        if found is None:
            raise WalletNotConnected()
        return await chain_pace(found, self._profile.path.parent.parent, self._clock())

    async def unlock_wait(self, blocks: int = UNLOCK_BLOCKS) -> str:
        """``blocks`` blocks on this wallet's chain as words ("about 40 seconds"); never
        raises: a wallet that does not answer gets the main network's pace, said so."""
        try:
            pace = await self.block_pace()
        except (UsageError, ApiError, WalletUnavailable, WalletRpcError):
            pace = ASSUMED_PACE
        return pace.wait(blocks)

    async def received(self, txids: tuple[str, ...]) -> list[Transfer]:
        """What the wallet received in ``txids`` (an escrow payout), with the fee of each."""
        async with self.user_wallet() as wallet:
            return await wallet.received(txids)

    async def history(self) -> list[Transfer]:
        async with self.user_wallet() as wallet:
            return await wallet.history()

    async def estimate_fee(self, amount: int) -> int:
        """The network fee of paying ``amount`` now (a transaction to ourselves, not sent).

        Raises: UsageError when the spendable balance does not cover amount plus fee.
        """
        async with self.user_wallet() as wallet:
            own = await wallet.rpc.call("get_address", {"account_index": wallet.account})
            return (await wallet.preview_send(str(own["address"]), amount)).fee

    # -- sending, in two steps -----------------------------------------------------------------

    async def preview_send(self, address: str, amount: int) -> PendingSend:
        """Build the transaction (not relayed) and keep it for `send`."""
        async with self.user_wallet() as wallet:
            preview = await wallet.preview_send(address.strip(), amount)
        now = self._clock()
        pending = PendingSend(secrets.token_urlsafe(16), preview, now)
        self._drop_expired(now)
        self._previews[pending.preview_id] = pending
        while len(self._previews) > MAX_PREVIEWS:
            self._previews.popitem(last=False)
        return pending

    def pending(self, preview_id: str) -> PendingSend:
        """A preview that is still waiting for confirmation. Raises: ApiError 404."""
        self._drop_expired(self._clock())
        found = self._previews.get(preview_id)
        if found is None:
            raise ApiError(
                404,
                "This payment preview has expired or was already sent. Check the history, "
                "then start the payment again if it is not there.",
            )
        return found

    async def send(self, preview_id: str) -> tuple[PendingSend, str]:
        """Relay a previewed transaction, at most once; returns it and its txid."""
        pending = self.pending(preview_id)
        # Taken out before relaying: a double click must not try to relay it twice.
        del self._previews[preview_id]
        async with self.user_wallet() as wallet:
            txid = await wallet.send(pending.preview)
        return pending, txid

    def _drop_expired(self, now: int) -> None:
        for key in [k for k, p in self._previews.items() if p.expires_at <= now]:
            del self._previews[key]
