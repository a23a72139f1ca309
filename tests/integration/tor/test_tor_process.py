"""Our own tor processes on a private Tor network on loopback: start, bootstrap, onion
services with a persisted key and proof-of-work, SOCKS5 connects, named refusals.

One network serves the whole test (starting it and bootstrapping two clients is most of the
cost, ~30-50 s here); every tor started here is stopped and checked gone at the end.
"""

import base64
import hashlib
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import nacl.signing
import pytest
import trio

from umbra.net.tor import (
    BootstrapProgress,
    PrivateTorNetwork,
    RunningTor,
    Socks5Refused,
    TorError,
    read_torrc_lines,
    socks5_connect,
    start_tor,
)

pytestmark = pytest.mark.tor

VIRTUAL_PORT = 9000
DEADLINE = 420  # seconds: detects a hang, never a measurement


def _tor_processes_under(root: Path) -> list[str]:
    out = subprocess.run(["pgrep", "-af", str(root)], capture_output=True, text=True, check=False)
    return [line for line in out.stdout.splitlines() if "pgrep" not in line]


def _unpublished_onion() -> str:
    """A well-formed v3 onion address (real key, right checksum) that nobody publishes."""
    public_key = nacl.signing.SigningKey.generate().verify_key.encode()
    version = b"\x03"
    checksum = hashlib.sha3_256(b".onion checksum" + public_key + version).digest()[:2]
    return base64.b32encode(public_key + checksum + version).decode().lower() + ".onion"


async def _within_deadline(main: Callable[[], Awaitable[None]]) -> None:
    with trio.fail_after(DEADLINE):
        await main()


async def _echo(stream: trio.SocketStream) -> None:
    async for data in stream:
        await stream.send_all(data)


async def _round_trip(visitor: RunningTor, onion: str, isolation: str) -> float:
    started = time.monotonic()
    stream = await socks5_connect(visitor.socks, onion, VIRTUAL_PORT, isolation=isolation)
    elapsed = time.monotonic() - started
    async with stream:
        message = b"umbra over tor " * 100
        await stream.send_all(message)
        received = b""
        while len(received) < len(message):
            chunk = await stream.receive_some()
            assert chunk, "the onion service closed the stream"
            received += chunk
        assert received == message
    return elapsed


def test_private_network_onion_service_keeps_its_address_across_restarts(
    tmp_path: Path,
) -> None:
    timings: dict[str, float] = {}
    processes: list[trio.Process] = []

    async def main() -> None:
        started = time.monotonic()
        async with (
            PrivateTorNetwork(tmp_path / "net") as network,
            trio.open_nursery() as nursery,
        ):
            processes.extend(running.process for running in network.running)
            timings["private network up (full consensus)"] = time.monotonic() - started
            lines = network.client_torrc_lines()
            # What a node started with --tor-network-file reads back.
            network_file = network.write_client_torrc(tmp_path / "tor-network")
            assert read_torrc_lines(network_file) == lines
            listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
            echo_port = listeners[0].socket.getsockname()[1]
            nursery.start_soon(trio.serve_listeners, _echo, listeners)
            seen: list[BootstrapProgress] = []
            async with (
                start_tor(tmp_path / "service", extra_torrc_lines=lines) as service,
                start_tor(tmp_path / "visitor", extra_torrc_lines=lines) as visitor,
            ):
                processes.extend([service.process, visitor.process])
                assert service.auth_method == "SAFECOOKIE"
                async with trio.open_nursery() as both:
                    both.start_soon(
                        partial(service.controller.wait_bootstrapped, on_progress=seen.append)
                    )
                    both.start_soon(visitor.controller.wait_bootstrapped)
                timings["network start to both clients at 100%"] = time.monotonic() - started
                percents = [progress.percent for progress in seen]
                assert percents == sorted(percents) and percents[-1] == 100
                assert percents[0] < 100, "bootstrap progress was not seen on the way"
                assert seen[-1].tag == "done"

                t0 = time.monotonic()
                onion = await service.controller.add_onion(
                    None, VIRTUAL_PORT, "127.0.0.1", echo_port, pow_defense=True
                )
                assert onion.pow_defense, "tor 0.4.9 accepts PoWDefensesEnabled=1"
                assert onion.private_key.startswith("ED25519-V3:")
                await service.controller.wait_published(onion.service_id, timeout=120)
                timings["ADD_ONION to every HSDir upload answered"] = time.monotonic() - t0
                timings["first SOCKS connect"] = await _round_trip(
                    visitor, onion.onion_address, "profile-a"
                )

                with pytest.raises(Socks5Refused) as refused:
                    await socks5_connect(visitor.socks, _unpublished_onion(), VIRTUAL_PORT)
                assert refused.value.reason == "onion service descriptor can not be found"

            # Restart the service's tor in the same directory: the stored key gives the
            # same address, reachable again (through a new circuit: another isolation token).
            async with start_tor(tmp_path / "service", extra_torrc_lines=lines) as service:
                processes.append(service.process)
                async with start_tor(tmp_path / "visitor", extra_torrc_lines=lines) as visitor:
                    processes.append(visitor.process)
                    await service.controller.wait_bootstrapped()
                    await visitor.controller.wait_bootstrapped()
                    again = await service.controller.add_onion(
                        onion.private_key, VIRTUAL_PORT, "127.0.0.1", echo_port, pow_defense=True
                    )
                    assert again.service_id == onion.service_id
                    await service.controller.wait_published(again.service_id, timeout=120)
                    await _round_trip(visitor, again.onion_address, "profile-b")
                    await service.controller.del_onion(again.service_id)
                    with pytest.raises(TorError, match="DEL_ONION"):
                        await service.controller.del_onion(again.service_id)
            nursery.cancel_scope.cancel()

    trio.run(_within_deadline, main)
    print({name: round(seconds, 2) for name, seconds in timings.items()})
    assert all(process.returncode is not None for process in processes)
    assert len(processes) == 4 + 4
    assert not _tor_processes_under(tmp_path), "a tor started here is still running"


# A tor that must not go looking for the public network: its only directory authority is
# a closed port on loopback (DisableNetwork 1 would also close its SOCKS port).
NOWHERE = ["TestingTorNetwork 1", "DirAuthority nowhere 127.0.0.1:1 " + "F" * 40]

OWNER_SCRIPT = """
import sys, trio
from pathlib import Path
from umbra.net.tor import start_tor

async def main():
    async with start_tor(Path(sys.argv[1]), extra_torrc_lines=["DisableNetwork 1"]) as tor:
        print(tor.process.pid, flush=True)
        await trio.sleep_forever()

trio.run(main)
"""


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def test_our_tor_dies_with_us_even_when_we_are_killed(tmp_path: Path) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER_SCRIPT, str(tmp_path / "tor")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        tor_pid = int(owner.stdout.readline())
        assert _alive(tor_pid)
        owner.kill()  # SIGKILL: no cleanup code of ours runs
        owner.wait(timeout=30)
        deadline = time.monotonic() + 30
        while _alive(tor_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(tor_pid), "tor outlived the process that started it"
    finally:
        owner.kill()
        owner.wait(timeout=30)
    assert not _tor_processes_under(tmp_path)


def test_a_tor_that_cannot_start_says_why_from_its_log(tmp_path: Path) -> None:
    async def main() -> None:
        with pytest.raises(TorError, match=r"exited.*NoSuchOption"):
            async with start_tor(tmp_path / "tor", extra_torrc_lines=["NoSuchOption 1"]):
                pass
        # And one that starts: cookie authentication, a SOCKS port, stopped on exit.
        async with start_tor(tmp_path / "ok", extra_torrc_lines=NOWHERE) as tor:
            assert tor.auth_method == "SAFECOOKIE"
            assert tor.socks_endpoints and tor.control != tor.socks
            assert (await tor.controller.bootstrap_progress()).percent < 100
        assert tor.process.returncode is not None

    trio.run(main)
    assert not _tor_processes_under(tmp_path)
