"""Where a profile's own wallet is: its configured monero-wallet-rpc, or the sandbox's.

Outside the sandbox a profile connects to the user's own ``monero-wallet-rpc`` (mainnet or
stagenet), configured once with host, port and digest login and kept in the encrypted store.
In the sandbox, the password of the profile's main wallet file is kept in the same store.
"""

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from umbra.core import UsageError

from ._block_time import ASSUMED, BlockPace, seconds_per_block
from ._errors import SandboxError, WalletRpcError, WalletUnavailable
from ._rpc import Login, RpcClient, RpcStats
from ._sandbox import Sandbox
from ._state_store import WalletStore

CONFIG_KEY = "wallet.rpc"
SANDBOX_PASSWORD_KEY = "wallet.sandbox-password"  # noqa: S105  (a key name, not a secret)


@dataclass(frozen=True)
class WalletEndpoint:
    host: str
    port: int
    login: Login | None
    source: str  # "config" | "sandbox"

    def client(self, stats: RpcStats | None = None) -> RpcClient:
        return RpcClient(
            f"http://{self.host}:{self.port}",
            what=f"monero-wallet-rpc at {self.host}:{self.port}",
            login=self.login,
            stats=stats,
        )


def save_endpoint(store: WalletStore, host: str, port: int, user: str, password: str) -> None:
    if not 0 < port < 65536:
        raise UsageError("the port must be between 1 and 65535")
    if host == "localhost":
        host = "127.0.0.1"  # avoids a name lookup in a thread on every call
    value = {"host": host, "port": port, "user": user, "password": password}
    store.set_config(CONFIG_KEY, json.dumps(value))


# First character of a standard address -> network (subaddresses use the second prefix).
_NETWORKS = {"4": "mainnet", "8": "mainnet", "5": "stagenet", "7": "stagenet"}


def network_of(address: str) -> str:
    """Which Monero network an address belongs to: mainnet, stagenet or testnet.

    (A regtest sandbox uses mainnet-style addresses.)
    """
    return _NETWORKS.get(address[:1], "testnet")


async def check_endpoint(endpoint: WalletEndpoint) -> dict[str, str]:
    """Ask the wallet-rpc who it is before we rely on it: version, network, address.

    Raises:
        WalletUnavailable: nothing answers at that host and port.
        WalletRpcError: the login was refused (code 401) or no wallet is open in it.
    """
    async with endpoint.client() as rpc:
        version = await rpc.call("get_version")
        address = str((await rpc.call("get_address", {"account_index": 0}))["address"])
    return {
        "version": str(version.get("version", "")),
        "network": network_of(address),
        "address": address,
    }


def configured_endpoint(store: WalletStore) -> WalletEndpoint | None:
    text = store.get_config(CONFIG_KEY)
    if not text:
        return None
    v = json.loads(text)
    login = Login(v["user"], v["password"]) if v.get("user") else None
    return WalletEndpoint(v["host"], int(v["port"]), login, "config")


def sandbox_endpoint(data_dir: Path, profile: str) -> WalletEndpoint | None:
    """The sandbox wallet process named after the profile, if the sandbox runs it."""
    try:
        proc = Sandbox(data_dir).wallet(profile)
    except SandboxError:
        return None
    return WalletEndpoint("127.0.0.1", proc.port, Login(proc.user, proc.password), "sandbox")


def sandbox_wallet_password(store: WalletStore) -> str:
    """The password of this profile's sandbox main wallet, made (random) the first time.

    Stored before any wallet gets it, so a crash never leaves a wallet whose password
    nobody kept; see `Sandbox.open_main_wallet`.
    """
    return store.config_setdefault(SANDBOX_PASSWORD_KEY, secrets.token_urlsafe(24))


async def chain_pace(endpoint: WalletEndpoint, data_dir: Path, now: float) -> BlockPace:
    """How fast the chain of ``endpoint``'s wallet makes blocks: the sandbox's daemon says it
    for the sandbox wallet; otherwise (or if it cannot) the wallet's own transfers do.

    Raises:
        WalletUnavailable, WalletRpcError: the wallet does not answer.
    """
    if endpoint.source == "sandbox":
        try:
            pace = await Sandbox(data_dir).block_pace()
        except (SandboxError, WalletUnavailable, WalletRpcError):
            pace = ASSUMED
        if pace.measured:
            return pace
    async with endpoint.client() as rpc:
        return await seconds_per_block(rpc, now)
