"""`bench/tor.py --quick` runs to the end and every figure in its JSON is a real measurement.

The quick form: 4 `umbra node` processes per mode (and the probe node), clearnet first, then
Tor (a private network; every node its own tor). The bench stops everything it starts; the
test checks that no tor and no node of its directories is left. Durations are never asserted
(the deadline only detects a hang); the targets' verdicts must be there as booleans, whatever
they say. Cost here: 2 min 20 s on two shared cores at load ~10 (the Tor half is most
of it).
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.tor, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
DEADLINE_S = 1200  # detects a hang, never a measurement
QUICK_N, QUICK_PUBLISHES, QUICK_MESSAGES = 4, 3, 3


def _real(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def _figure(run: dict[str, Any], key: str, samples: int) -> None:
    figure = run[key]
    assert figure["samples"] == samples, (key, figure)
    for stat in ("p50", "p99", "max"):
        assert _real(figure[stat]), (key, stat, figure)
    assert figure["p50"] <= figure["p99"] <= figure["max"], (key, figure)


def check_report(report: dict[str, Any], modes: tuple[str, ...]) -> None:
    """The shape of ``bench/results/tor.json`` and that nothing in it is missing or made up."""
    assert report["benchmark"] == "tor"
    assert report["machine"]["cpus"] >= 1 and report["machine"]["python"]
    assert set(report["runs"]) == set(modes)
    n = report["parameters"]["n"]
    publishes = report["parameters"]["publishes"]
    for mode, run in report["runs"].items():
        assert run["mode"] == mode
        start = run["start_to_usable_s"]
        assert set(start["per_node"]) == {f"n{i}" for i in range(n)}
        assert all(_real(v) for v in start["per_node"].values())
        _figure(run, "start_to_usable_s", n)
        # sparse: nobody bootstraps from more than two nodes, and only from earlier ones
        for name, boots in start["bootstrap_from"].items():
            assert len(boots) <= 2 and all(int(b[1:]) < int(name[1:]) for b in boots)
        # every remote node of every publish found the listing
        publish = run["publish_to_searchable_s"]
        assert publish["not_found_within_s"]["count"] == 0, publish
        _figure(run, "publish_to_searchable_s", publishes * (n - 1))
        _figure(run, "dht_resolve_s", publishes)
        first = run["first_contact_s"]
        assert first["failed"] == [] and first["samples"] >= 1, first
        assert first["samples"] + first["skipped_already_connected"] == n
        assert _real(first["p50"])
        _figure(run, "message_first_contact_s", 2)
        _figure(run, "message_online_s", report["parameters"]["messages"])
        assert run["messages_not_delivered_within_60s"] == 0
        churn = run["churn"]
        assert len(churn["stopped"]) == 2 and churn["not_caught_up_within_s"] == []
        assert all(_real(v) for v in churn["restart_to_usable_s"].values())
        assert all(_real(v) for v in churn["caught_up_after_restart_s"].values())
        resources = run["resources"]
        assert resources["umbra_node_rss_mb"]["p50"] > 0
        if mode == "tor":
            assert start["tor_bootstrapped_s"]["samples"] == n
            # each node runs its own tor; the private network's four tors are measured too
            assert resources["own_tor_rss_mb"]["processes"] == n
            assert resources["own_tor_rss_mb"]["p50"] > 0
            assert resources["private_network_tors_rss_mb"]["processes"] == 4
            assert resources["private_network_tors_rss_mb"]["sum"] > 0
            network = run["private_network_start_s"]
            assert _real(network["tors_started_s"]) and _real(network["first_consensus_s"])
        else:
            assert resources["own_tor_rss_mb"]["processes"] == 0
    if "tor" in modes:
        verdict = report["pass"]
        assert set(verdict) == {
            "start_to_usable_max_le_40s",
            "publish_to_searchable_p50_le_3s",
            "publish_to_searchable_p99_le_10s",
            "online_message_p50_le_1s",
        }
        assert all(isinstance(v, bool) for v in verdict.values())
    trade = report["trade"]
    assert trade.get("measured") is False or set(trade) == set(modes)


def _left_over(root: Path) -> list[str]:
    out = subprocess.run(["pgrep", "-af", str(root)], capture_output=True, text=True, check=False)
    return [line for line in out.stdout.splitlines() if "pgrep" not in line]


def test_quick_bench_measures_every_figure_in_both_modes(tmp_path: Path) -> None:
    out = tmp_path / "tor.json"
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # the bench's directories, to check below
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "tor.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(out.read_text())
    assert report["parameters"]["quick"] is True
    assert report["parameters"]["n"] == QUICK_N
    assert report["parameters"]["publishes"] == QUICK_PUBLISHES
    assert report["parameters"]["messages"] == QUICK_MESSAGES
    check_report(report, ("clearnet", "tor"))
    assert _left_over(tmp_path) == []
