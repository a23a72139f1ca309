"""Three `umbra node` processes on three "hosts": network namespaces joined by a bridge.

Layout (everything lives in namespaces this test creates; the root namespace gets no link,
address or route, and no packet leaves the test's namespaces):

    ns umbNNNNNn0  eth0 10.77.0.10/24 ─┐
    ns umbNNNNNn1  eth0 10.77.0.11/24 ─┼─ veth ─ bridge br0 in ns umbNNNNNhub
    ns umbNNNNNn2  eth0 10.77.0.12/24 ─┘

Each host's eth0 gets ``tc qdisc add … root netem delay 40ms`` when the kernel has netem
(sch_netem). Without it (this machine's kernel has no modules and no netem; of the qdiscs
only tbf, htb and pfifo exist) each eth0 gets a token-bucket rate limit instead, ``tbf rate
2mbit`` (a full 1500-byte packet then takes 6 ms to leave, and queues add more), so the
links are at least slow and shaped; `test_links_are_delayed` is skipped with the reason and
`test_links_are_rate_limited_without_netem` checks the fallback. All namespaces are deleted
in teardown, even after a failure (deleting a namespace deletes its veth ends and the bridge).

Skipped with a clear reason unless running as root with `ip` and `tc` (Debian: iproute2)
and a kernel that allows network namespaces.
"""

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .cluster import Cluster

pytestmark = pytest.mark.network

HOSTS = 3
SUBNET = "10.77.0"  # private test range, used only inside the namespaces
DELAY = "40ms"
FALLBACK_RATE = ("tbf", "rate", "2mbit", "burst", "16kbit", "latency", "200ms")


@dataclass
class Net:
    cluster: Cluster
    namespaces: list[str]
    delay_error: str | None  # why netem could not be added, or None


def _sh(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def _must(*argv: str) -> None:
    done = _sh(*argv)
    if done.returncode != 0:
        raise _Refused(f"`{' '.join(argv)}` failed: {done.stderr.strip()}")


class _Refused(Exception):
    pass


def _missing_prerequisite() -> str | None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "network namespaces need root (run the network tier as root or in a container)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"`{tool}` not found: install Debian's iproute2"
    return None


def _build(prefix: str, created: list[str]) -> str | None:
    """Create the namespaces and links; returns why netem failed (None if delay applied)."""
    hub = f"{prefix}hub"
    _must("ip", "netns", "add", hub)
    created.append(hub)
    _must("ip", "-n", hub, "link", "add", "br0", "type", "bridge")
    _must("ip", "-n", hub, "link", "set", "br0", "up")
    delay_error = None
    for i in range(HOSTS):
        ns = f"{prefix}n{i}"
        _must("ip", "netns", "add", ns)
        created.append(ns)
        _must("ip", "-n", ns, "link", "set", "lo", "up")
        # Both ends are created directly inside their namespaces.
        _must(
            "ip", "link", "add", "eth0", "netns", ns,
            "type", "veth", "peer", "name", f"p{i}", "netns", hub,
        )  # fmt: skip
        _must("ip", "-n", hub, "link", "set", f"p{i}", "master", "br0")
        _must("ip", "-n", hub, "link", "set", f"p{i}", "up")
        _must("ip", "-n", ns, "addr", "add", f"{SUBNET}.{10 + i}/24", "dev", "eth0")
        _must("ip", "-n", ns, "link", "set", "eth0", "up")
        netem = _sh("tc", "-n", ns, "qdisc", "add", "dev", "eth0", "root", "netem", "delay", DELAY)
        if netem.returncode != 0:
            delay_error = netem.stderr.strip() or "tc netem failed"
            _must("tc", "-n", ns, "qdisc", "add", "dev", "eth0", "root", *FALLBACK_RATE)
    return delay_error


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    reason = _missing_prerequisite()
    if reason is not None:
        pytest.skip(reason)
    prefix = f"umb{os.getpid() % 100_000:05d}"
    created: list[str] = []
    cluster: Cluster | None = None
    try:
        try:
            delay_error = _build(prefix, created)
        except _Refused as exc:
            pytest.skip(f"the kernel refused a network namespace setup step: {exc}")
        root: Path = tmp_path_factory.mktemp("netns")
        namespaces = [f"{prefix}n{i}" for i in range(HOSTS)]
        cluster = Cluster(
            root,
            [f"{SUBNET}.{10 + i}" for i in range(HOSTS)],
            wraps=[["ip", "netns", "exec", ns] for ns in namespaces],
        )
        cluster.init_all()
        cluster.start_all()
        yield Net(cluster, namespaces, delay_error)
    finally:
        if cluster is not None:
            cluster.close()
        for ns in reversed(created):
            _sh("ip", "netns", "del", ns)


def test_nodes_listen_only_inside_their_namespaces(net: Net) -> None:
    for i, node in enumerate(net.cluster.nodes):
        assert node.addrs, node.name
        assert all(f"/ip4/{SUBNET}.{10 + i}/tcp/" in a for a in node.addrs), node.addrs


def test_links_are_delayed(net: Net) -> None:
    if net.delay_error is not None:
        pytest.skip(f"no {DELAY} delay: the kernel has no netem qdisc ({net.delay_error})")
    for ns in net.namespaces:
        shown = _sh("tc", "-n", ns, "qdisc", "show", "dev", "eth0").stdout
        assert "netem" in shown and "delay 40" in shown, shown


def test_links_are_rate_limited_without_netem(net: Net) -> None:
    if net.delay_error is None:
        pytest.skip("netem is available: the links are delayed instead")
    for ns in net.namespaces:
        shown = _sh("tc", "-n", ns, "qdisc", "show", "dev", "eth0").stdout
        assert "tbf" in shown and "rate 2Mbit" in shown, shown


def test_publish_found_by_search_on_other_hosts(net: Net) -> None:
    cluster = net.cluster
    seller = cluster.nodes[0]
    others = cluster.nodes[1:]
    marks = cluster.sync_marks()
    seller.run(
        "listing",
        "create",
        "--title",
        "Copper kettle",
        "--price",
        "0.3",
        "--category",
        "home",
        "--ships-from",
        "NL",
    )
    cluster.wait_searchable(others, "kettle", ["Copper kettle"], marks)
    statuses = cluster.run_all(others, "status")
    health = [(s["running"], s["peers"], s.get("updated_at")) for s in statuses]
    assert all(running and peers >= 1 for running, peers, _ in health), health
