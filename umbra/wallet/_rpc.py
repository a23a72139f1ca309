"""Async JSON-RPC clients for monero-wallet-rpc and monerod (httpx, works under trio).

Why our own client: monero-wallet-rpc with ``--rpc-login`` answers 401 with TWO
``WWW-Authenticate: Digest`` headers (MD5 and MD5-sess). httpx's `DigestAuth` walks the header
list and takes the first Digest challenge (MD5), which the server accepts; urllib's handler
does not cope. ``tests/integration/wallet/test_rpc.py`` checks this against a real server.

Every call is timed per method (`RpcStats`) for the benchmark. Connection failures and
timeouts become `WalletUnavailable` (retryable); JSON-RPC errors become `WalletRpcError`.
An answer is read as a stream and refused past `MAX_ANSWER_BYTES` (or if it comes compressed,
which would hide its real size) with `WalletAnswerTooLarge`: whatever listens on the port we
were given, it cannot make the node read or parse an unbounded body.
"""

import json
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import trio

from ._errors import WalletAnswerTooLarge, WalletRpcError, WalletUnavailable

DEFAULT_TIMEOUT = 30.0
# Calls that create/open wallets or build transactions can take much longer than reads.
SLOW_METHODS = frozenset(
    {
        "create_wallet",
        "open_wallet",
        "generate_from_keys",
        "restore_deterministic_wallet",
        "refresh",
        "transfer",
        "sweep_all",
        "sign_multisig",
        "submit_multisig",
        "generateblocks",
        "make_multisig",
        "exchange_multisig_keys",
    }
)
# create/open generate an RSA-4096 key each; on a busy 2-core machine that alone took minutes.
SLOW_TIMEOUT = 300.0
# The largest answer read, in bytes. The big ones Umbra asks for: a multisig transaction set
# (transfer/sweep_all, describe_transfer's input; the escrow messages carry at most 768 KiB of
# it) and a wallet's transfer list (get_transfers: 650-800 bytes of JSON per transfer,
# measured on regtest with wallet-rpc 0.18). 32 MiB is over 40 times the largest usable
# transaction set and room for some 40,000 transfers in one answer, while parsing it stays
# well under a gigabyte of memory.
MAX_ANSWER_BYTES = 32 * 1024 * 1024
# wallet-rpc error codes for "daemon is busy" and "no connection to daemon".
NODE_DOWN_CODES = frozenset({-34, -38})


@dataclass(frozen=True)
class Login:
    """Digest credentials for a wallet-rpc started with ``--rpc-login USER:PASS``."""

    user: str
    password: str


@dataclass
class RpcStats:
    """Per-method call counts and wall times (seconds)."""

    calls: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def record(self, method: str, seconds: float) -> None:
        self.calls[method].append(seconds)

    def summary(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for method, times in sorted(self.calls.items()):
            out[method] = {
                "count": len(times),
                "total_s": round(sum(times), 4),
                "mean_s": round(sum(times) / len(times), 4),
                "max_s": round(max(times), 4),
            }
        return out


class RpcClient:
    """One JSON-RPC endpoint (``http://127.0.0.1:PORT``), keep-alive connection.

    Args:
        url: base URL without path, e.g. ``http://127.0.0.1:18083``. Use ``127.0.0.1``, not
            ``localhost`` (name lookups run in a thread).
        what: how errors name this endpoint ("monero-wallet-rpc for alice").
        login: digest credentials, or None for ``--disable-rpc-login``.
        stats: shared timing collector.
    """

    def __init__(
        self,
        url: str,
        *,
        what: str = "monero-wallet-rpc",
        login: Login | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        stats: RpcStats | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self.url = url.rstrip("/")
        self.what = what
        self._timeout = timeout
        self.max_answer_bytes = max_answer_bytes
        self.stats = stats if stats is not None else RpcStats()
        auth = httpx.DigestAuth(login.user, login.password) if login else None
        # Digest login: one call at a time. Concurrent calls share httpx's one digest challenge
        # and nonce count, and a call that loses that race is refused with 401 although the
        # login is right (seen as a failed accept when a node accepted five orders at once).
        # The wallet-rpc serialises wallet work anyway, so little is lost.
        self._one_at_a_time: trio.Lock | None = trio.Lock() if auth is not None else None
        self._client = httpx.AsyncClient(auth=auth, timeout=timeout, trust_env=False)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> "RpcClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def call(
        self, method: str, params: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Call ``method`` on ``/json_rpc`` and return its ``result`` object.

        Raises:
            WalletUnavailable: connection refused/reset, timeout, or a non-JSON answer
                (`WalletAnswerTooLarge`: an answer over ``max_answer_bytes``, or compressed).
            WalletRpcError: the server answered with a JSON-RPC error.
        """
        body = {"jsonrpc": "2.0", "id": "0", "method": method, "params": dict(params or {})}
        data = await self._post("/json_rpc", body, method, timeout)
        if "error" in data:
            error = data["error"] or {}
            code, message = int(error.get("code", 0)), str(error.get("message", ""))
            if code in NODE_DOWN_CODES or "no connection to daemon" in message.lower():
                # The wallet is up but its node (monerod) is down or busy: retry later.
                raise WalletUnavailable(f"the Monero node behind {self.what}", message)
            raise WalletRpcError(method, code, message)
        result = data.get("result")
        if not isinstance(result, dict):
            raise WalletUnavailable(self.what, f"{method} gave no result")
        return result

    async def call_path(
        self, path: str, params: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Call a monerod "other" endpoint such as ``/get_transactions`` or ``/stop_daemon``."""
        data = await self._post(path, dict(params or {}), path, timeout)
        status = data.get("status")
        if status not in (None, "OK"):
            raise WalletRpcError(path, -1, str(status))
        return data

    async def _post(
        self, path: str, body: dict[str, Any], method: str, timeout: float | None
    ) -> dict[str, Any]:
        if timeout is None:
            timeout = SLOW_TIMEOUT if method in SLOW_METHODS else self._timeout
        started = time.perf_counter()
        # Identity only: a compressed body's real size is known only after inflating it.
        headers = {"Accept-Encoding": "identity"}
        if self._one_at_a_time is None:
            return await self._post_now(path, body, method, timeout, headers, started)
        async with self._one_at_a_time:
            return await self._post_now(path, body, method, timeout, headers, started)

    async def _post_now(
        self,
        path: str,
        body: dict[str, Any],
        method: str,
        timeout: float,
        headers: dict[str, str],
        started: float,
    ) -> dict[str, Any]:
        try:
            async with self._client.stream(
                "POST", self.url + path, json=body, headers=headers, timeout=timeout
            ) as response:
                if response.status_code == 401:
                    raise WalletRpcError(
                        method, 401, "login refused: check the RPC user and password"
                    )
                if response.status_code != 200:
                    raise WalletUnavailable(self.what, f"HTTP {response.status_code} for {method}")
                raw = await self._read_body(response, method)
        except httpx.TimeoutException as exc:
            raise WalletUnavailable(self.what, f"{method} timed out after {timeout:.0f} s") from exc
        except httpx.TransportError as exc:
            raise WalletUnavailable(self.what, f"{type(exc).__name__} at {self.url}") from exc
        finally:
            self.stats.record(method, time.perf_counter() - started)
        try:
            data = json.loads(raw)
        except ValueError as exc:  # also bad UTF-8 and numbers too long to convert
            raise WalletUnavailable(self.what, f"{method} answered with non-JSON") from exc
        except RecursionError as exc:
            raise WalletUnavailable(
                self.what, f"{method} answered with JSON nested too deep"
            ) from exc
        if not isinstance(data, dict):
            raise WalletUnavailable(self.what, f"{method} answered with non-object JSON")
        return data

    async def _read_body(self, response: httpx.Response, method: str) -> bytes:
        """The answer's body, read in chunks and refused past ``max_answer_bytes``."""
        limit = self.max_answer_bytes
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding != "identity":
            raise WalletAnswerTooLarge(self.what, method, f"a {encoding!r}-compressed body")
        declared = response.headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            raise WalletAnswerTooLarge(self.what, method, f"{int(declared)} bytes (limit {limit})")
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) > limit:
                raise WalletAnswerTooLarge(self.what, method, f"over {limit} bytes")
        return bytes(body)
