"""Where a profile's own wallet is: its configured monero-wallet-rpc, or the sandbox's.

Outside the sandbox a profile connects to the user's own ``monero-wallet-rpc`` (mainnet or
stagenet), configured once with host, port and digest login and kept in the encrypted store.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from umbra.core import UsageError

from ._errors import SandboxError
from ._rpc import Login, RpcClient, RpcStats
from ._sandbox import Sandbox
from ._state_store import WalletStore

CONFIG_KEY = "wallet.rpc"


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
