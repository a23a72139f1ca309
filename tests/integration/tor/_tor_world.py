"""A private Tor network (and extra client tors) kept running in a background thread.

The trade harness and the node processes are synchronous (subprocesses, polling); the tor
side is trio (`PrivateTorNetwork`, `start_tor`, `TorController`). `BackgroundTor` runs one
trio loop in a thread for the whole test module: the network, client tors started on demand
(`client`), and controller calls from the test thread (`call`). `close` stops every tor it
started (each `start_tor` stops its process when its block exits).
"""

import contextlib
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import trio

from umbra.net.tor import PrivateTorNetwork, RunningTor, start_tor

T = TypeVar("T")
START_TIMEOUT_S = 300.0  # detects a hang (the network itself needs ~15-40 s here)


class BackgroundTor:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.network_file = root / "tor-network"
        self.network: PrivateTorNetwork | None = None
        self.clients: dict[str, RunningTor] = {}
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._stop: trio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="tor-world", daemon=True)

    # -- life ------------------------------------------------------------------------------------

    def start(self) -> "BackgroundTor":
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise AssertionError(f"the private Tor network did not start in {START_TIMEOUT_S} s")
        if self._error is not None:
            raise AssertionError(f"the private Tor network did not start: {self._error}")
        return self

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        async with PrivateTorNetwork(self.root / "net") as network, trio.open_nursery() as nursery:
            self.network = network
            network.write_client_torrc(self.network_file)
            self._token = trio.lowlevel.current_trio_token()
            self._nursery = nursery
            self._stop = trio.Event()
            self._ready.set()
            await self._stop.wait()
            nursery.cancel_scope.cancel()

    def close(self) -> None:
        if self._token is not None and self._stop is not None:
            with contextlib.suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(timeout=60)

    # -- using it from the test thread ----------------------------------------------------------

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``await fn(*args)`` in the tor loop and return its result."""
        assert self._token is not None
        return trio.from_thread.run(fn, *args, trio_token=self._token)

    def client(self, name: str, extra_lines: Sequence[str] = ()) -> RunningTor:
        """A client tor joined to the network, bootstrapped to 100% (kept until `close`)."""
        assert self.network is not None and self._nursery is not None
        lines = [*self.network.client_torrc_lines(), *extra_lines]
        nursery = self._nursery

        async def start() -> RunningTor:
            running: RunningTor = await nursery.start(self._hold_client, name, lines)
            with trio.fail_after(START_TIMEOUT_S):
                await running.controller.wait_bootstrapped()
            return running

        running = self.call(start)
        self.clients[name] = running
        return running

    async def _hold_client(
        self, name: str, lines: list[str], *, task_status: Any = trio.TASK_STATUS_IGNORED
    ) -> None:
        async with start_tor(self.root / name, extra_torrc_lines=lines) as running:
            task_status.started(running)
            await trio.sleep_forever()

    def publish(self, tor: RunningTor, virtual_port: int, target_port: int) -> str:
        """An onion service on ``tor`` forwarding to 127.0.0.1:``target_port``; waits until
        its descriptor is uploaded. Returns the ``.onion`` host name."""

        async def add() -> str:
            service = await tor.controller.add_onion(
                None, virtual_port, "127.0.0.1", target_port, pow_defense=False
            )
            await tor.controller.wait_published(service.service_id, timeout=120)
            return str(service.onion_address)

        return self.call(add)

    @property
    def pids(self) -> list[int]:
        network = [r.process.pid for r in self.network.running] if self.network else []
        return [*network, *(r.process.pid for r in self.clients.values())]
