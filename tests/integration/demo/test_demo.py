"""`umbra demo --json` as a real process: chain, three nodes, web apps, miner; then Ctrl-C.

Runs the demo twice on one temporary demo directory (cold on clearnet, then warm with
``--tor``: profiles, listings, chain and wallets are reused; the nodes then run over a
private Tor network the demo starts), checks each run, and writes both start-up times with
the per-step breakdown to ``test-artifacts/demo-startup.json``. Nothing here asserts a time.
"""

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from ._procs import UMBRA, JsonLines, clean_env, umbra

pytestmark = [pytest.mark.monero, pytest.mark.network, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
READY_TIMEOUT_S = 1200
SYNC_TIMEOUT_S = 300
LISTINGS = 20


def _leftovers(demo_dir: Path) -> list[tuple[int, str]]:
    """Processes whose command line names the demo directory (ours: it is a fresh tmp dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except (OSError, UnicodeDecodeError, IndexError):
            continue
        if str(demo_dir) in cmdline and state not in ("Z", "X"):
            found.append((int(entry.name), cmdline))
    return found


def _kill_leftovers(demo_dir: Path) -> None:
    for pid, _ in _leftovers(demo_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _sandbox_pids(demo_dir: Path) -> list[int]:
    state = json.loads((demo_dir / "sandbox" / "state.json").read_text(encoding="utf-8"))
    pids = [int(w["pid"]) for w in state["wallets"].values()]
    return [*pids, int(state["monerod"]["pid"])]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _bearer(node: dict[str, Any]) -> httpx.Client:
    token = node["url"].split("token=", 1)[1]
    return httpx.Client(
        base_url=node["base"], headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def _check_web_apps(ready: dict[str, Any]) -> str:
    """Every link logs in and its pages load; returns the seller's id."""
    seller_id = ""
    for role, node in ready["nodes"].items():
        with httpx.Client(base_url=node["base"], timeout=60) as browser:
            assert browser.get("/").status_code == 401  # no token, no entry
            login = browser.get(node["url"])
            assert login.status_code == 303, role
            assert browser.get("/").status_code == 200, role
            assert browser.get("/settings").status_code == 200, role
        with _bearer(node) as api:
            profile = api.get("/api/v1/profile").json()
        assert profile["name"] == node["profile"]
        assert profile["node"]["connected"] is True
        assert profile["node"]["status"]["peer_id"] == node["peer_id"]
        if role == "seller":
            assert profile["own_listings"] == LISTINGS
            seller_id = profile["seller_id"]
    assert seller_id
    return seller_id


def _wait_buyer_finds_seller(ready: dict[str, Any], seller_id: str) -> None:
    deadline = time.monotonic() + SYNC_TIMEOUT_S
    found: dict[str, Any] = {}
    with _bearer(ready["nodes"]["buyer"]) as api:
        while time.monotonic() < deadline:
            found = api.get("/api/v1/search", params={"limit": 100}).json()
            from_seller = [h for h in found["hits"] if h["seller"] == seller_id]
            if len(from_seller) == LISTINGS:
                camera = api.get("/api/v1/search", params={"q": "camera"}).json()
                assert any(h["seller"] == seller_id for h in camera["hits"])
                return
            time.sleep(2)
    raise AssertionError(f"the buyer's node did not sync the seller's catalog: {found}")


def _height(env: dict[str, str], demo_dir: Path) -> int:
    status = umbra(env, "--data-dir", str(demo_dir), "sandbox", "status", "--json")
    assert status.returncode == 0, status.stderr
    return int(json.loads(status.stdout)["height"])


def _interrupt(
    proc: "subprocess.Popen[str]", lines: JsonLines, demo_dir: Path
) -> tuple[str, list[tuple[int, str]]]:
    """Ctrl-C the demo (if it still runs) and wait for it; returns its stderr and what it
    left running (killed here: the safety net first, the verdict is the caller's)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        lines.finish(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None
    err = proc.stderr.read()
    left = _leftovers(demo_dir)
    _kill_leftovers(demo_dir)
    return err, left


def _check_stopped(
    proc: "subprocess.Popen[str]",
    lines: JsonLines,
    err: str,
    left: list[tuple[int, str]],
    pids: list[int],
) -> None:
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert not left, f"processes left running: {left}"
    assert not any(_alive(pid) for pid in pids)
    assert lines.lines[-1]["event"] == "stopped"


def _check_network(ready: dict[str, Any], lines: JsonLines, *, tor: bool) -> None:
    """Clearnet: the nodes say so. Tor: onion addresses only, each node's tor bootstrap seen."""
    assert ready["network"] == ("tor" if tor else "clearnet")
    for role, node in ready["nodes"].items():
        onion = [a.startswith("/onion3/") for a in node["addrs"]]
        assert node["addrs"] and all(onion) if tor else not any(onion), (role, node["addrs"])
        steps = [e for e in lines.lines if e.get("step") == f"tor-{role}"]
        assert (steps[-1]["percent"] == 100) if tor else not steps, (role, steps)
        with _bearer(node) as api:
            network = api.get("/api/v1/status").json()["network"]
        assert network["network"] == ready["network"], network
        # The SOCKS port one's own wallet-rpc would take as --proxy (the Wallet page hint).
        socks = network.get("tor_socks") or ""
        assert socks.startswith("127.0.0.1:") if tor else not socks, network


def _run_demo(demo_dir: Path, env: dict[str, str], *, tor: bool = False) -> dict[str, Any]:
    """One demo run: wait for ready, check it, Ctrl-C it, check everything is gone."""
    started = time.monotonic()
    argv = [UMBRA, "demo", "--demo-dir", str(demo_dir), "--json", "--mine-interval", "2"]
    proc = subprocess.Popen(
        argv + (["--tor"] if tor else []),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # like a terminal: the signal goes to the demo only
    )
    lines = JsonLines(proc)
    pids: list[int] = []
    try:
        ready = lines.wait_for("event", "ready", timeout=READY_TIMEOUT_S)
        wall = time.monotonic() - started
        pids = [n["pid"] for n in ready["nodes"].values()] + _sandbox_pids(demo_dir)
        assert all(_alive(pid) for pid in pids)
        assert ready["listings"] == LISTINGS and ready["passphrase"] == "demo"
        _check_network(ready, lines, tor=tor)

        seller_id = _check_web_apps(ready)
        with _bearer(ready["nodes"]["seller"]) as api:  # the seller's catalog: its default
            assert api.get("/api/v1/arbiters").json()["arbiters"] == [ready["arbiter_id"]]
        _wait_buyer_finds_seller(ready, seller_id)

        balance = umbra(
            env, "--data-dir", str(demo_dir), "--profile", "demo-buyer", "wallet", "balance",
            "--json",
        )  # fmt: skip
        assert balance.returncode == 0, balance.stderr
        assert json.loads(balance.stdout)["total"] > 0

        first = _height(env, demo_dir)
        deadline = time.monotonic() + 120
        while _height(env, demo_dir) <= first and time.monotonic() < deadline:
            time.sleep(1)
        assert _height(env, demo_dir) > first, "the background miner added no block"
    finally:
        err, left = _interrupt(proc, lines, demo_dir)
    _check_stopped(proc, lines, err, left, pids)  # (the tors too: they name the demo dir)
    assert ("private Tor network" in lines.lines[-1]["stopped"]) is tor
    assert sum("ready" in raw for raw in lines.raw) == 1, lines.raw
    return {"wall_seconds": round(wall, 2), "steps": ready["timings"], "ready": ready}


def test_demo_cold_then_warm(tmp_path: Path) -> None:
    demo_dir = tmp_path / "demo"
    env = clean_env()
    load_before = os.getloadavg()
    try:
        cold = _run_demo(demo_dir, env)
        assert sorted(cold["ready"]["created_profiles"]) == [
            "demo-arbiter", "demo-buyer", "demo-seller",
        ]  # fmt: skip
        # The warm run goes over Tor (`umbra demo --tor`): the same checks (web apps, the
        # buyer finds the seller's listings, the miner, everything stopped), over onion
        # services, for the price of the Tor start only (no second chain or profiles).
        warm = _run_demo(demo_dir, env, tor=True)
        assert "created_profiles" not in warm["ready"]  # the same profiles, reopened
        assert warm["ready"]["listings"] == LISTINGS
    finally:
        _kill_leftovers(demo_dir)
    ARTIFACTS.mkdir(exist_ok=True)
    result = {
        "what": "umbra demo --json: process start to the ready line",
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "cold": {k: v for k, v in cold.items() if k != "ready"},
        "warm": {k: v for k, v in warm.items() if k != "ready"} | {"network": "tor"},
    }
    (ARTIFACTS / "demo-startup.json").write_text(json.dumps(result, indent=2), encoding="utf-8")


def test_ctrl_c_during_start_up_stops_what_was_started(tmp_path: Path) -> None:
    """Ctrl-C once the chain, the wallets and the first node run, before "ready"."""
    demo_dir = tmp_path / "demo"
    proc = subprocess.Popen(
        [UMBRA, "demo", "--demo-dir", str(demo_dir), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
        start_new_session=True,
    )
    lines = JsonLines(proc)
    try:
        seller = lines.wait_for("step", "node-seller", timeout=READY_TIMEOUT_S)
        assert seller["event"] == "progress"
        pids = _sandbox_pids(demo_dir)
        assert pids and all(_alive(pid) for pid in pids)
    finally:
        err, left = _interrupt(proc, lines, demo_dir)
    _check_stopped(proc, lines, err, left, pids)
    assert "node seller" in lines.lines[-1]["stopped"] and "monerod" in lines.lines[-1]["stopped"]
    assert not any(line.get("event") == "ready" for line in lines.lines)
