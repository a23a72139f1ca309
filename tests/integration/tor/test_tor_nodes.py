"""Real `umbra node` processes in Tor mode on a private Tor network: onion addresses only.

One network for the module (`_network_proc.py`: 3 authorities + 1 relay, and one client tor
that two profiles share). Nodes n0, n1, n2 each start their own tor that joins it
(``--tor-network-file``, as `umbra demo --tor` does) and know each other sparsely: n1 joins
through n0's onion address, n2 through n1's. Nodes p and q both use the shared tor
(``--tor-control``/``--tor-socks``, as with a tor the user runs) and join through n0.

Every node process runs under the child-process leak auditor (tests/support/leak_audit.py);
the last test checks that each one connected to its own tor's control and SOCKS ports only and
looked up no name. Deadlines detect hangs; no duration is asserted (they are printed).
"""

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

import umbra.store as store
from tests.integration.net.cluster import (
    CHEAP,
    PASSPHRASE,
    Cluster,
    NodeProc,
    titles,
    umbra_argv,
    wait_until,
)
from tests.integration.web._chromium import SHOTS, chromium, recording_browser, wait_for_file
from tests.support.helia import fetch_blocks, helia_dir
from tests.support.leak_audit import Connect, Lookup, Unreadable, read_child_audit
from umbra.core.crypto import encode_public_key
from umbra.market import SellerCatalog
from umbra.net import is_onion3
from umbra.net.messaging import MailboxStore
from umbra.net.tor import TcpEndpoint, open_tor_controller, parse_endpoint

pytestmark = pytest.mark.tor

NETWORK_PROC = str(Path(__file__).with_name("_network_proc.py"))
START_DEADLINE = 240  # seconds for a node to be up (tor bootstrap + onion published)
_TIMING = re.compile(
    rb"(tor ready in|published in|connected to \S+ in|synced \S+ seq \d+: .*? in) ([\d.]+) s"
)


@dataclass
class Tier:
    root: Path
    ready: dict[str, Any]
    cluster: Cluster
    ids: dict[str, str]  # node name -> persona (seller) id
    # node name -> the tor endpoints it may connect to (control, SOCKS; every run of it)
    tor_ports: dict[str, set[tuple[str, int]]] = field(default_factory=dict)

    def node(self, name: str) -> NodeProc:
        return next(n for n in self.cluster.nodes if n.name == name)


def _status(node: NodeProc) -> dict[str, Any]:
    result: dict[str, Any] = node.run("status")
    return result


def _remember_tor_ports(tier: Tier, node: NodeProc, status: dict[str, Any]) -> None:
    for key in ("tor_control", "tor_socks"):
        endpoint = parse_endpoint(status[key])
        assert isinstance(endpoint, TcpEndpoint), status[key]
        tier.tor_ports.setdefault(node.name, set()).add((endpoint.host, endpoint.port))


def _start(tier: Tier, nodes: list[tuple[NodeProc, list[str]]]) -> None:
    for node, bootstrap in nodes:
        node.launch(bootstrap, web=node.name == "n0")
    for node, _ in nodes:
        node.wait_listening(timeout=START_DEADLINE)
    started = [node for node, _ in nodes]
    for node, status in zip(started, tier.cluster.run_all(started, "status"), strict=True):
        _remember_tor_ports(tier, node, status)


@pytest.fixture(scope="module")
def tier(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tier]:
    root = tmp_path_factory.mktemp("tor-nodes")
    network = subprocess.Popen(
        [sys.executable, NETWORK_PROC, str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    cluster = Cluster(root, [f"127.0.0.{90 + i}" for i in range(5)])
    try:
        assert network.stdout is not None
        line = network.stdout.readline()  # the helper prints once its tors run, or dies
        assert line, "the private Tor network did not start"
        ready = json.loads(line)
        for node, name in zip(cluster.nodes, ["n0", "n1", "n2", "p", "q"], strict=True):
            node.name = name
            node.audit_log = root / f"{name}.audit"
            if name in ("p", "q"):
                node.network = ["--tor-control", ready["shared_control"],
                                "--tor-socks", ready["shared_socks"]]  # fmt: skip
            else:
                node.network = ["--tor-network-file", ready["network_file"]]
        ids = {}
        for node in cluster.nodes:
            with store.create_profile(root, node.name, PASSPHRASE, params=CHEAP) as profile:
                ids[node.name] = encode_public_key(profile.identity.signing_public)
        tier = Tier(root, ready, cluster, ids)
        n0, n1, n2, p, q = cluster.nodes
        _start(tier, [(n0, [])])
        _start(tier, [(n1, [n0.addrs[0]]), (p, [n0.addrs[0]]), (q, [n0.addrs[0]])])
        _start(tier, [(n2, [n1.addrs[0]])])
        yield tier
    finally:
        cluster.close()
        if network.stdin is not None:
            network.stdin.close()  # the helper stops every tor it started
        try:
            network.wait(timeout=60)
        except subprocess.TimeoutExpired:
            network.kill()
            network.wait()
        if network.stdout is not None:
            network.stdout.close()
        _print_timings(cluster)


def _print_timings(cluster: Cluster) -> None:
    """What the tier measured (the report's numbers; nothing here is asserted)."""
    for node in cluster.nodes:
        found: dict[str, list[float]] = {}
        try:
            text = node.log_path.read_bytes()
        except FileNotFoundError:
            continue
        for what, seconds in _TIMING.findall(text):
            key = re.sub(rb" \S+ seq \d+:.*", b" (sync)", re.sub(rb"to \S+", b"to peer", what))
            found.setdefault(key.decode(), []).append(float(seconds))
        print(f"{node.name}: launch to listening {node.start_seconds:.1f} s; {found}")


def test_nodes_run_over_tor_and_announce_onion_addresses_only(tier: Tier) -> None:
    for node in tier.cluster.nodes:
        assert node.addrs and all(is_onion3(a) for a in node.addrs), node.addrs
        percents = [step["percent"] for step in node.tor_steps]
        assert percents == sorted(percents) and percents[-1] == 100, node.tor_steps
        if node.name.startswith("n"):  # its own tor: the bar moved on the way to 100 %
            assert percents[0] < 100, node.tor_steps
    statuses: list[dict[str, Any]] = []

    def everyone_has_a_peer() -> bool:
        statuses[:] = tier.cluster.run_all(None, "status")
        return all(status["peers"] >= 1 for status in statuses)

    wait_until("every node has a peer", everyone_has_a_peer, timeout=120, pause=2)
    for status in statuses:
        assert status["network"] == "tor" and status["transport"] == "tor"
        assert status["tor_bootstrap_percent"] == 100 and status["tor_error"] is None
        assert [a for a in status["addrs"] if not is_onion3(a)] == []
    n0 = tier.node("n0")
    assert n0.web_base and n0.web_token
    request = urllib.request.Request(
        f"{n0.web_base}/api/v1/status", headers={"Authorization": f"Bearer {n0.web_token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        network = json.load(answer)["network"]
    assert network["network"] == "tor" and network["tor_bootstrap"]["percent"] == 100
    assert network["tor_error"] is None
    assert all(is_onion3(a) for a in network["addresses"])


def test_a_listing_is_synced_and_found_over_tor(tier: Tier) -> None:
    c = tier.cluster
    seller = tier.node("n2")  # the far end: only n1 knew it at first
    others = [tier.node("n0"), tier.node("n1")]
    marks = c.sync_marks()
    seller.run("listing", "create", "--title", "Onion-skin lantern", "--description",
               "A paper lantern, shipped in a plain box.", "--price", "0.5",
               "--category", "collectibles", "--ships-from", "DE")  # fmt: skip
    c.wait_searchable(others, "lantern", ["Onion-skin lantern"], marks, timeout=180)
    assert titles(others[0].search("lantern")) == ["Onion-skin lantern"]


def _listen_port(pid: int, ip: str) -> int:
    """The TCP port process ``pid`` listens on at ``ip`` (from ``ss``): where tor forwards
    the node's onion port to."""
    out = subprocess.run(
        ["ss", "-Hltnp"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    for line in out.splitlines():
        if f"pid={pid}," in line:
            host, _, port = line.split()[3].rpartition(":")
            if host == ip:
                return int(port)
    raise AssertionError(f"process {pid} listens on no port of {ip}:\n{out}")


def test_an_ipfs_node_fetches_the_listing_from_a_tor_mode_node(tier: Tier, tmp_path: Path) -> None:
    """Bitswap in Tor mode: Helia connects where tor delivers the node's onion connections
    (its loopback listener: js-libp2p has no onion transport) and gets the listing. The
    answers go back over that connection; the node dials nobody for them, which the audit of
    the last test checks (its only connections are its own tor's ports)."""
    seller = tier.node("n2")  # the lantern's seller
    with store.open_profile(seller.data_dir, seller.name, PASSPHRASE) as profile:
        catalog = SellerCatalog(profile).current_catalog()
        assert catalog is not None
        cids = (*catalog.body.listings, catalog.cid)
        wanted = {str(cid): profile.blocks.get(cid) for cid in cids}
    assert seller.proc is not None
    listener = f"/ip4/{seller.ip}/tcp/{_listen_port(seller.proc.pid, seller.ip)}"
    got = fetch_blocks(
        helia_dir(tmp_path),
        f"{listener}/p2p/{seller.peer_id}",
        [(cid, 60_000) for cid in wanted],
    )
    assert "/ipfs/bitswap/1.2.0" in got["done"]["protocols"]
    for cid, data in wanted.items():
        assert got[cid]["ok"], got[cid]
        assert base64.b64decode(got[cid]["data"]) == data


def _held_envelopes(node: NodeProc) -> int:
    with store.open_profile(node.data_dir, node.name, PASSPHRASE) as profile:
        return MailboxStore(profile.db).statistics_at(int(time.time())).envelopes


def _texts(node: NodeProc, peer: str) -> list[tuple[str, str]]:
    result: dict[str, Any] = node.run("messages", "read", peer)
    return [(m["direction"], m["text"]) for m in result["messages"]]


def test_messages_online_and_through_a_mailbox_and_the_onion_survives_a_restart(
    tier: Tier,
) -> None:
    a, b = tier.node("n1"), tier.node("n2")
    a_id, b_id = tier.ids["n1"], tier.ids["n2"]
    holders = [tier.node(name) for name in ("n0", "p", "q")]  # online while B is away

    sent = a.run("messages", "send", b_id, "Is the lantern still for sale?", "--wait", "120")
    assert sent["status"] == "delivered", sent
    assert _texts(b, a_id) == [("in", "Is the lantern still for sale?")]

    onion_before = b.addrs[0].split("/p2p/")[0]
    b.stop()
    sent = a.run("messages", "send", b_id, "I can pay today.", "--wait", "120")
    assert sent["status"] == "stored", sent
    held = sum(_held_envelopes(n) for n in holders)  # up to 3 mailbox peers take a copy
    assert held >= 1

    _start(tier, [(b, [a.addrs[0]])])
    assert b.addrs[0].split("/p2p/")[0] == onion_before  # the key came from its database
    wait_until("B received the mailbox message", lambda: len(_texts(b, a_id)) == 2,
               timeout=180, pause=3)  # fmt: skip
    assert _texts(b, a_id)[-1] == ("in", "I can pay today.")
    # B acknowledged what it fetched: that holder deleted its copy. (A holder that is not
    # among the peers B polls keeps its copy until the envelope's time to live ends.)
    wait_until(
        "a mailbox copy is deleted",
        lambda: sum(_held_envelopes(n) for n in holders) < held,
        timeout=90,
        pause=2,
    )


def _playwright_error() -> type[Exception]:
    from playwright.sync_api import Error

    return Error


def _isolation_token(node: NodeProc) -> str:
    with store.open_profile(node.data_dir, node.name, PASSPHRASE) as profile:
        return str(profile.db.scalar("SELECT socks_isolation FROM net_tor WHERE id = 1"))


async def _circuit_usernames(control: str) -> dict[str, set[str]]:
    """SOCKS username -> ids of the built circuits tor keeps for it (GETINFO circuit-status)."""
    async with open_tor_controller(parse_endpoint(control)) as controller:
        await controller.authenticate()
        text = (await controller.get_info("circuit-status"))["circuit-status"]
    out: dict[str, set[str]] = {}
    for line in text.splitlines():
        user = re.search(r'SOCKS_USERNAME="([^"]*)"', line)
        if user and " BUILT " in f" {line} ":
            out.setdefault(user.group(1), set()).add(line.split(" ", 1)[0])
    return out


def test_two_profiles_on_one_tor_use_different_onions_and_circuits(tier: Tier) -> None:
    p, q = tier.node("p"), tier.node("q")
    assert p.addrs[0].split("/p2p/")[0] != q.addrs[0].split("/p2p/")[0]
    assert _status(p)["tor_control"] == _status(q)["tor_control"] == tier.ready["shared_control"]
    p_token, q_token = _isolation_token(p), _isolation_token(q)
    assert re.fullmatch(r"[0-9a-f]{32}", p_token) and p_token != q_token
    # Both dialled n0's onion through the same tor: each on circuits of its own username.
    circuits = trio.run(_circuit_usernames, tier.ready["shared_control"])
    assert circuits.get(p_token) and circuits.get(q_token), circuits
    assert not circuits[p_token] & circuits[q_token]


def test_app_shows_tors_progress_in_the_browser_until_the_node_is_usable(
    tier: Tier, tmp_path: Path
) -> None:
    """A fresh profile's `umbra app` (its own tor joining the private network, as a user's
    first start): the browser opens at once, every page shows "Connecting to Tor … NN %"
    while the API answers 503, and the same page turns into the app once the node is up."""
    with chromium() as browser:
        PlaywrightError = _playwright_error()
        store.create_profile(tier.root, "w", PASSPHRASE, params=CHEAP).close()
        command, opened = recording_browser(tmp_path)
        env = {k: v for k, v in os.environ.items() if not k.startswith("UMBRA_")}
        env.update(UMBRA_HOME=str(tier.root), UMBRA_PASSPHRASE=PASSPHRASE, BROWSER=command)
        argv = [*umbra_argv(), "--profile", "w", "--json", "app", "--browser", "--port", "0",
                "--tor-network-file", tier.ready["network_file"],
                "--bootstrap", tier.node("n0").addrs[0]]  # fmt: skip
        app = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env)  # fmt: skip
        try:
            page = browser.new_page()
            page.goto(wait_for_file(opened, timeout=60))  # the one-time login page
            web = json.loads((tier.root / "profiles" / "w" / "web.json").read_text())["url"]
            base, token = web.split("/?token=")
            bearer = {"Authorization": f"Bearer {token}"}
            seen: list[tuple[str | None, str | None]] = []  # (stage, "NN %") per look
            refused: list[httpx.Response] = []
            deadline = time.monotonic() + START_DEADLINE
            while time.monotonic() < deadline:
                try:
                    if page.locator("nav a[href='/wallet']").count():
                        break  # the app itself
                    stage = page.get_attribute("#starting", "data-stage", timeout=2000)
                    bar = page.locator("#tor-percent")
                    percent = bar.inner_text(timeout=2000) if bar.count() else None
                except PlaywrightError:
                    continue  # it was reloading itself
                seen.append((stage, percent))
                if percent and not refused:
                    SHOTS.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(SHOTS / "start-tor.png"), full_page=True)
                    refused.append(httpx.get(f"{base}/api/v1/orders", headers=bearer, timeout=30))
                time.sleep(0.3)
                if not refused:
                    # Look often until a percentage is on screen (tor on this network takes
                    # a few seconds); from then on the page must turn into the app by itself.
                    with contextlib.suppress(PlaywrightError):
                        page.goto(f"{base}/")
            assert page.locator("nav a[href='/wallet']").count(), f"never usable; saw {seen}"
            assert page.url == f"{base}/"  # the page asked for, once the node is up
            usable = httpx.get(f"{base}/api/v1/orders", headers=bearer, timeout=30)
            status = httpx.get(f"{base}/api/v1/status", headers=bearer, timeout=30).json()
            app.send_signal(signal.SIGTERM)
            out, err = app.communicate(timeout=60)
        finally:
            if app.poll() is None:
                app.kill()
                app.communicate()
    percents = [int(p.removesuffix(" %")) for _, p in seen if p is not None]
    assert percents, f"the starting page never showed Tor's percentage: {seen}"
    assert percents == sorted(percents) and all(0 <= p <= 100 for p in percents), seen
    assert {stage for stage, _ in seen} <= {"tor", "onion", "services"}, seen
    assert refused and refused[0].status_code == 503, refused
    assert refused[0].json()["error"].startswith("the node is starting: "), refused[0].text
    assert usable.status_code == 200 and status["starting"] is None
    assert status["network"]["network"] == "tor"
    assert app.returncode == 0 and "Traceback" not in err, err
    events = [json.loads(line)["event"] for line in out.splitlines() if line.startswith("{")]
    # The browser was opened on the web app before the node was up, not after.
    assert events.index("listening") < events.index("ready"), events
    print(f"starting page looks: {len(seen)}; percentages seen: {sorted(set(percents))}")


def test_a_node_whose_tor_dies_stops_talking_and_says_so(tier: Tier) -> None:
    node = tier.node("n2")
    torrc = node.data_dir / "profiles" / node.name / "tor" / "torrc"  # <profile dir>/tor
    found = subprocess.run(["pgrep", "-f", f"tor -f {torrc}"], capture_output=True, text=True,
                           check=False)  # fmt: skip
    pids = [int(pid) for pid in found.stdout.split()]
    assert len(pids) == 1, (torrc, found.stdout)
    assert node.audit_log is not None
    before = len(node.audit_log.read_text().splitlines())
    os.kill(pids[0], signal.SIGKILL)
    wait_until("status says tor is down", lambda: _status(node)["tor_error"] is not None,
               timeout=60, pause=1)  # fmt: skip
    status = _status(node)
    assert status["running"] and status["network"] == "tor"
    assert "exited" in status["tor_error"] or "tor" in status["tor_error"]
    # Something to send: the node tries, through tor only, and cannot.
    sent = node.run("messages", "send", tier.ids["n0"], "Still there?", "--wait", "15")
    assert sent["status"] != "delivered", sent
    assert "tor is down" in node.log_path.read_text()
    after = read_child_audit(node.audit_log).events[before:]
    allowed = tier.tor_ports[node.name]
    tried = [e for e in after if isinstance(e, Connect)]
    assert tried, "the node tried nothing after its tor died (was the message sent?)"
    bad = [
        e
        for e in after
        if (isinstance(e, Connect) and (e.kind != "connect" or (e.host, e.port) not in allowed))
        or (isinstance(e, Lookup) and not e.numeric)
        or isinstance(e, Unreadable)
    ]
    assert not bad, f"after tor died the node used the network around it: {bad}"


def test_every_node_process_used_only_its_own_tor(tier: Tier) -> None:
    for node in tier.cluster.nodes:
        assert node.audit_log is not None
        audit = read_child_audit(node.audit_log)
        assert audit.connects, f"{node.name}: the auditor saw nothing (is it installed?)"
        audit.assert_only(tier.tor_ports[node.name])
