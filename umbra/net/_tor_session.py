"""The tor a Tor-mode node runs on: started or reached, bootstrapped, watched, and the onion
service published through it.

`TorSession.running` is held for the node's whole life. With `TorSettings.own_tor` it starts
our own tor under the profile's ``tor/`` directory (`umbra.net.tor.start_tor`: it dies with
us), otherwise it connects to the user's tor at ``--tor-control`` (cookie authentication) and
uses ``--tor-socks`` or the SOCKS port tor names. Either way it waits, within a bound, for
tor's bootstrap to reach 100 %; a tor that cannot be had is a `TorUnavailable` in one line,
and the node does not start: there is no clearnet fallback. While the node runs, a watcher
notices tor dying (the process exits, or its control port stops answering) and records why
(`down`): the node then reaches nobody, since its only dialler goes through tor.
"""

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import trio

from ._errors import NetError
from ._network_mode import TorSettings
from ._transport import TransportStore
from .tor import (
    BootstrapProgress,
    Endpoint,
    TorController,
    TorError,
    open_tor_controller,
    start_tor,
)

log = logging.getLogger(__name__)

BOOTSTRAP_TIMEOUT_S = 180.0  # a first bootstrap over a slow link can take minutes
PUBLISH_TIMEOUT_S = 120.0
START_TIMEOUT_S = 60.0
WATCH_INTERVAL_S = 5.0


class TorUnavailable(NetError):
    """Tor mode was asked for and tor cannot be used: the node does not start (no fallback)."""


@dataclass(frozen=True)
class _Tor:
    controller: TorController  # authenticated
    socks: Endpoint
    process: trio.Process | None  # our own tor's process; None for the user's tor


class TorSession:
    def __init__(
        self,
        settings: TorSettings,
        *,
        tor_dir: Path,
        bootstrap_timeout: float = BOOTSTRAP_TIMEOUT_S,
        publish_timeout: float = PUBLISH_TIMEOUT_S,
    ) -> None:
        self._settings = settings
        self._tor_dir = tor_dir
        self._bootstrap_timeout = bootstrap_timeout
        self._publish_timeout = publish_timeout
        self._tor: _Tor | None = None
        self._isolation = ""
        self._changed = trio.Event()
        self._ended = False
        self.progress: BootstrapProgress | None = None
        self.down: str | None = None  # why tor is unusable, once it is
        self.endpoints: tuple[str, str] | None = None  # (control, SOCKS) as text

    def _note_change(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def _on_progress(self, progress: BootstrapProgress) -> None:
        self.progress = progress
        log.info("tor bootstrap: %d%% %s", progress.percent, progress.summary)
        self._note_change()

    async def watch_bootstrap(self) -> AsyncIterator[BootstrapProgress]:
        """Each new bootstrap step until 100 %, or until the session ends without it."""
        shown: BootstrapProgress | None = None
        while True:
            changed = self._changed
            progress = self.progress
            if progress is not None and progress is not shown:
                shown = progress
                yield progress
                if progress.percent >= 100:
                    return
                continue
            if self._ended or self.down is not None:
                return
            await changed.wait()

    # -- bring-up --------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self, *, isolation: str) -> AsyncIterator[None]:
        """Tor, bootstrapped, for as long as the block runs.

        Raises:
            TorUnavailable: tor could not be started or reached, or did not bootstrap in time.
        """
        self._isolation = isolation
        started = time.monotonic()
        try:
            async with self._reach() as tor:
                self._tor = tor
                self.endpoints = (str(tor.controller.endpoint), str(tor.socks))
                await self._bootstrap(tor.controller)
                log.info("tor ready in %.2f s (bootstrap 100%%)", time.monotonic() - started)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._watch, tor)
                    try:
                        yield
                    finally:
                        nursery.cancel_scope.cancel()
        except BaseException as exc:
            # A TorError can reach here inside (one-member) exception groups: the controller
            # and the launcher run nurseries.
            reason = _single_tor_error(exc)
            if reason is None:
                raise
            self.down = str(reason)
            raise TorUnavailable(f"cannot run over Tor: {reason} (no clearnet fallback)") from None
        finally:
            self._ended = True
            self._tor = None
            self._note_change()

    @contextlib.asynccontextmanager
    async def _reach(self) -> AsyncIterator[_Tor]:
        settings = self._settings
        if settings.control is None:
            async with start_tor(
                self._tor_dir,
                extra_torrc_lines=settings.extra_torrc_lines,
                start_timeout=START_TIMEOUT_S,
            ) as own:
                yield _Tor(own.controller, own.socks, own.process)
            return
        async with open_tor_controller(settings.control) as controller:
            # A port that accepts and never answers must not hang the start.
            socks: Endpoint | None = None
            with trio.move_on_after(START_TIMEOUT_S):
                await controller.authenticate()
                socks = settings.socks or await _first_socks(controller)
            if socks is None:
                raise TorError(
                    f"tor at {settings.control} did not answer within {START_TIMEOUT_S:g} s"
                )
            yield _Tor(controller, socks, None)

    async def _bootstrap(self, controller: TorController) -> None:
        with trio.move_on_after(self._bootstrap_timeout) as waited:
            await controller.wait_bootstrapped(on_progress=self._on_progress)
        if not waited.cancelled_caught:
            return
        last = self.progress
        where = (
            "no progress reported"
            if last is None
            else f"stuck at {last.percent}% {last.summary}"
            + (f", tor says: {last.warning}" if last.warning else "")
        )
        raise TorError(f"tor did not bootstrap within {self._bootstrap_timeout:g} s ({where})")

    # -- while the node runs ---------------------------------------------------------------

    def socks_for_dialling(self) -> tuple[Endpoint, str]:
        """(tor's SOCKS endpoint, this profile's isolation username) for the onion dialler."""
        if self._tor is None:
            raise NetError("tor is not running: the Tor transport was not opened")
        return self._tor.socks, self._isolation

    async def publish_onion(
        self, store: TransportStore, *, virtual_port: int, target_host: str, target_port: int
    ) -> str:
        """ADD_ONION with the profile's key (a new one is stored at once), PoW defence on when
        tor supports it; returns the service id once tor uploaded the descriptor.

        Raises:
            TorUnavailable: tor refused, or did not publish in time.
        """
        if self._tor is None:
            raise NetError("tor is not running: the Tor transport was not opened")
        controller = self._tor.controller
        started = time.monotonic()
        try:
            key = await store.onion_key()
            service = await controller.add_onion(
                key, virtual_port, target_host, target_port, pow_defense=True
            )
            if key is None:
                await store.save_onion_key(service.private_key)
            await controller.wait_published(service.service_id, timeout=self._publish_timeout)
        except TorError as exc:
            raise TorUnavailable(f"cannot publish the onion service: {exc}") from None
        log.info(
            "onion service %s.onion published in %.2f s (%s key, proof-of-work defence %s)",
            service.service_id,
            time.monotonic() - started,
            "new" if key is None else "stored",
            "on" if service.pow_defense else "not supported by this tor",
        )
        return service.service_id

    async def _watch(self, tor: _Tor) -> None:
        """Notice tor going away: the process exiting, or its control port failing."""
        reason = await _wait_gone(tor)
        self.down = reason
        log.error(
            "tor is down (%s): the node reaches no peer until it is restarted with a working"
            " tor; it does not fall back to clearnet",
            reason,
        )
        self._note_change()


async def _wait_gone(tor: _Tor) -> str:
    reasons: list[str] = []
    async with trio.open_nursery() as nursery:

        def gone(reason: str) -> None:
            reasons.append(reason)
            nursery.cancel_scope.cancel()

        async def process_exit(process: trio.Process) -> None:
            status = await process.wait()
            gone(f"tor exited with status {status}")

        async def control_port() -> None:
            while True:
                await trio.sleep(WATCH_INTERVAL_S)
                try:
                    await tor.controller.bootstrap_progress()
                except TorError as exc:
                    gone(str(exc))
                    return

        if tor.process is not None:
            nursery.start_soon(process_exit, tor.process)
        nursery.start_soon(control_port)
    return reasons[0]


def _single_tor_error(exc: BaseException) -> TorError | None:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc if isinstance(exc, TorError) else None


async def _first_socks(controller: TorController) -> Endpoint:
    endpoints = await controller.socks_endpoints()
    if not endpoints:
        raise TorError(f"tor at {controller.endpoint} has no SOCKS port: give --tor-socks")
    return endpoints[0]
