"""`umbra demo` pieces that need no chain: the offline demo, leftover-node clean-up, lines."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import trio
import trio.testing

from umbra.cli._demo_run import DemoOptions, DemoRun, _JsonLines
from umbra.core import CATALOG_VERSION, UsageError

from .conftest import Runner


def test_offline_demo_prints_searches_for_people(umbra: Runner, tmp_path: Path) -> None:
    out = umbra("demo", "--offline", "--demo-dir", str(tmp_path / "d"), "--listings", "4")
    assert "Demo seller 'demo-seller' (created)" in out.stdout
    assert "Private searches" in out.stdout
    assert "passphrase: demo" in out.stdout


def test_demo_rejects_a_silly_mine_interval(umbra: Runner, tmp_path: Path) -> None:
    result = umbra("demo", "--demo-dir", str(tmp_path / "d"), "--mine-interval", "0", check=False)
    assert result.code == 2 and "mine-interval" in result.stderr


def _sleeper(*args: str) -> subprocess.Popen[bytes]:
    # A stand-in process whose command line we choose: only its argv matters here.
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *args])


def test_leftover_nodes_are_stopped_only_when_their_command_line_matches(
    tmp_path: Path,
) -> None:
    demo_dir = tmp_path / "demo"
    (demo_dir / "demo").mkdir(parents=True)
    ours = _sleeper("--data-dir", str(demo_dir), "--profile", "demo-buyer", "node")
    stranger = _sleeper("--profile", "demo-seller", "node")  # another directory: not ours
    try:
        pids = {"buyer": ours.pid, "seller": stranger.pid}
        (demo_dir / "demo" / "nodes.json").write_text(json.dumps(pids), encoding="utf-8")
        reports: list[dict[str, object]] = []
        run = DemoRun(DemoOptions(demo_dir=demo_dir, listings=1, mine_interval=5), reports.append)
        run._stop_leftover_nodes()
        assert ours.wait(timeout=30) is not None
        assert stranger.poll() is None
        assert reports == [{"event": "progress", "step": "stopped-leftover-node", "role": "buyer"}]
        assert not (demo_dir / "demo" / "nodes.json").exists()
    finally:
        for proc in (ours, stranger):
            proc.kill()
            proc.wait()


def test_node_lines_are_read_one_json_object_at_a_time_and_limited() -> None:
    async def check() -> None:
        send, receive = trio.testing.memory_stream_one_way_pair()
        await send.send_all(b'{"event": "tor-bootstrap", "percent": 5}\n{"event": "listen')
        await send.send_all(b'ing"}\n')
        lines = _JsonLines(receive)
        assert await lines.next() == {"event": "tor-bootstrap", "percent": 5}
        assert await lines.next() == {"event": "listening"}

        send, receive = trio.testing.memory_stream_one_way_pair()
        await send.aclose()
        assert await _JsonLines(receive).next() is None

        send, receive = trio.testing.memory_stream_one_way_pair()
        await send.send_all(b"x" * 5000)
        with pytest.raises(UsageError, match="overlong"):
            await _JsonLines(receive, limit=4096).next()

        send, receive = trio.testing.memory_stream_one_way_pair()
        await send.send_all(b"Traceback (most recent call last):\n")
        with pytest.raises(UsageError, match="other than JSON"):
            await _JsonLines(receive).next()

    trio.run(check)


def test_demo_nodes_run_on_clearnet_or_join_the_private_tor_network(tmp_path: Path) -> None:
    plain = DemoRun(DemoOptions(demo_dir=tmp_path, listings=1, mine_interval=5), print)
    assert plain._network_args() == ["--clearnet"]
    tor = DemoRun(DemoOptions(demo_dir=tmp_path, listings=1, mine_interval=5, tor=True), print)
    with pytest.raises(UsageError, match="Tor network did not start"):
        tor._network_args()  # never a node on clearnet when --tor was asked for
    tor.tor_network_file = tmp_path / "tor-network.torrc"
    assert tor._network_args() == ["--tor-network-file", str(tmp_path / "tor-network.torrc")]


def test_offline_demo_refuses_tor(umbra: Runner, tmp_path: Path) -> None:
    result = umbra("demo", "--offline", "--tor", "--demo-dir", str(tmp_path / "d"), check=False)
    assert result.code != 0 and "--offline starts no node" in result.stderr


def test_demo_profiles_trust_the_demo_arbiter_and_are_reused(tmp_path: Path) -> None:
    from umbra.core.crypto import encode_public_key
    from umbra.market import SellerCatalog, TradeService
    from umbra.store import open_profile

    def prepare() -> DemoRun:
        run = DemoRun(DemoOptions(demo_dir=tmp_path, listings=2, mine_interval=5), print)
        trio.run(run._profiles)
        return run

    first = prepare()
    assert sorted(first.facts["created_profiles"]) == ["demo-arbiter", "demo-buyer", "demo-seller"]
    assert first.facts["listings"] == 2
    with open_profile(tmp_path, "demo-arbiter", "demo") as arbiter:
        arbiter_id = encode_public_key(arbiter.identity.signing_public)
    assert first.facts["arbiter_id"] == arbiter_id
    # The seller's catalog names the demo arbiter (its default); the buyer needs no set-up.
    with open_profile(tmp_path, "demo-seller", "demo") as profile:
        assert TradeService(profile).accepted_arbiters() == [arbiter_id]
        catalog = SellerCatalog(profile).current_catalog()
        assert catalog is not None and catalog.body.v == CATALOG_VERSION
    with open_profile(tmp_path, "demo-buyer", "demo") as profile:
        assert TradeService(profile).accepted_arbiters() == []

    again = prepare()
    assert "created_profiles" not in again.facts
    assert again.facts["arbiter_id"] == arbiter_id
    with open_profile(tmp_path, "demo-seller", "demo") as seller:
        assert len(SellerCatalog(seller).own_listings()) == 2
