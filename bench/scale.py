"""The network at scale: hundreds of real Umbra nodes, sparse bootstrap, churn.

Run: ``.venv/bin/python bench/scale.py [--nodes 200] [--per-process 20] [--reference 20]``
(``--help`` for the rest). Writes ``bench/results/scale.json``. See docs/operations.md
("Scale harness") for how to read it.

Nodes run in worker processes (`bench/scale_worker.py`), ``--per-process`` of them in one
trio loop, each with its own profile database and its own loopback address 127.0.x.y, plus
one worker that hosts a single node (the one-node-per-process RSS reference). Each node is
started with at most ``--degree`` random, already running nodes as its bootstrap addresses
(``--full-mesh``: all of them). Everything after that is the node's own doing: its
self-lookups, head exchange, gossip mesh and DHT.

The run, for one network:
1. start (in rounds: every worker starts one node per round, bootstrapped to nodes of the
   earlier rounds) and wait until the nodes are idle (``settle``);
2. wave A: ``--publishers`` nodes, one after another, each publish a catalog head (through a
   new listing), a prekey record and an arbiter profile; every node is watched for the head
   arriving by gossip, its sync, and the listing in its local search;
3. churn: in ``--rounds`` rounds, ``--churn`` × N nodes in all leave (never a publisher) and as
   many new ones join (bootstrapped to ≤ ``--degree`` random live nodes); in each round, right
   after the round's churn starts, random live nodes (``--resolvers`` in all) look up every
   wave-A record, each with the node's own API (`Node.resolve_head`,
   `Node.find_arbiter_profile`, and the prekey lookup of `MessagingService.lookup`), checked
   against what was published;
4. wave B: new publishers (one of them a node that joined) publish again in the churned
   network; watched as in 2, then looked up from fresh random nodes;
5. a seller held back until now publishes a ``--catalog``-listing catalog (one thumbnail
   each); time until each node has it, within ``--catalog-timeout``;
6. connections and routing-table sizes of every node; RSS per process / nodes in it.

``--reference N`` runs the same at a small full-mesh N without churn first (the reference the
issue asks for in the same run). The load average is recorded at every phase: the machine is
shared, and latencies cannot be read without it.
"""

import argparse
import contextlib
import importlib.util
import json
import math
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKER = str(Path(__file__).with_name("scale_worker.py"))
TARGETS = {
    "found_fraction": 1.0,
    "resolution_p50_s": 1.0,
    "resolution_p99_s": 3.0,
    "connections_per_node_max": 64,
    "rss_mb_per_node": 150.0,
}
KINDS = ("head", "prekey", "arbiter")


def _load_network_bench() -> Any:
    """bench/network.py, for its big-catalog builder (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_network", ROOT / "bench" / "network.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ip(i: int) -> str:
    # 127.1.x.y: away from the 127.0.0.x addresses the test suite and other benches use.
    return f"127.1.{1 + i // 250}.{1 + i % 250}"


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))
    return round(s[k], 4)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


class Worker:
    def __init__(self, log_dir: Path, index: int) -> None:
        self.index = index
        self.log = open(log_dir / f"worker{index}.log", "w")  # noqa: SIM115
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
        )
        self.live: list[str] = []
        self.stash: list[dict[str, Any]] = []

    def send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def read_until(self, key: str, value: Any, msg_id: Any = None) -> dict[str, Any]:
        """The next message with ``key == value`` (and ``id == msg_id`` if given)."""

        def match(msg: dict[str, Any]) -> bool:
            return msg.get(key) == value and (msg_id is None or msg.get("id") == msg_id)

        for i, msg in enumerate(self.stash):
            if match(msg):
                return self.stash.pop(i)
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"worker {self.index} died; see {self.log.name}")
            msg = json.loads(line)
            if match(msg):
                return msg
            self.stash.append(msg)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send({"cmd": "stop"})
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class Network:
    """The driver's view: which node runs in which worker, addresses, personas."""

    def __init__(self, root: Path, args: argparse.Namespace, *, full_mesh: bool) -> None:
        self.root, self.args, self.full_mesh = root, args, full_mesh
        self.rng = random.Random(args.seed)
        self.workers: list[Worker] = []
        self.addrs: dict[str, str] = {}
        self.where: dict[str, Worker] = {}
        self.next_ip = 0
        self.next_id = 0
        self.started_failed: dict[str, str] = {}
        self.personas: dict[str, str] = {}

    def msg_id(self) -> int:
        self.next_id += 1
        return self.next_id

    @property
    def live(self) -> list[str]:
        return [n for w in self.workers for n in w.live]

    def bootstrap_for(self, candidates: list[str]) -> list[str]:
        if self.full_mesh:
            return [self.addrs[n] for n in candidates]
        chosen = self.rng.sample(candidates, min(self.args.degree, len(candidates)))
        return [self.addrs[n] for n in chosen]

    def send_start(
        self, worker: Worker, names: list[str], boot_from: list[str], **extra: Any
    ) -> int:
        specs = []
        for name in names:
            if self.args.connections_high:
                high = self.args.connections_high
                extra = {
                    **extra,
                    "limits": {
                        "connections_high_water": high,
                        "connections_low_water": high * 3 // 4,
                    },
                }
            if self.args.bucket_size:
                k = self.args.bucket_size
                extra = {**extra, "dht": {"bucket_size": k, "replication": k, "neighbours": k}}
            specs.append(
                {
                    "name": name,
                    "ip": _ip(self.next_ip),
                    "bootstrap": self.bootstrap_for(boot_from),
                    **extra,
                }
            )
            self.next_ip += 1
        mid = self.msg_id()
        worker.send({"cmd": "start", "id": mid, "root": str(self.root), "nodes": specs})
        return mid

    def collect_start(self, worker: Worker, mid: int) -> None:
        msg = worker.read_until("ok", "start", mid)
        self.personas.update(msg["personas"])
        for name, addr in msg["addrs"].items():
            self.addrs[name] = addr
            self.where[name] = worker
            worker.live.append(name)
        self.started_failed.update(msg["failed"])

    def ask_all(self, cmd: dict[str, Any], key: str, value: str) -> list[dict[str, Any]]:
        mid = self.msg_id()
        for w in self.workers:
            w.send({**cmd, "id": mid})
        return [w.read_until(key, value, mid) for w in self.workers]

    def wait_idle(self, limit: float) -> dict[str, float]:
        """Wait (≥ 5 s, ≤ ``limit``) until the workers' CPU use over 3 s drops under what an
        idle network of this size uses (~1.6 % of a core per node, at most 1.2 cores)."""
        threshold = min(0.025 * len(self.live), 1.2)
        started = time.monotonic()
        pids = [w.proc.pid for w in self.workers]
        time.sleep(5)
        busy = float("nan")
        while time.monotonic() - started < limit:
            before = cpu_seconds(pids)
            time.sleep(3)
            busy = (cpu_seconds(pids) - before) / 3
            if busy < threshold:
                break
        return {"waited_s": round(time.monotonic() - started, 1), "cores_busy": round(busy, 3)}


def start_network(net: Network, n: int, big: bool) -> dict[str, Any]:
    args = net.args
    started = time.monotonic()
    single = Worker(net.root, 0)  # one node alone: the one-node-per-process reference
    net.workers.append(single)
    net.collect_start(single, net.send_start(single, ["n0"], []))
    count = max(1, math.ceil((n - 1) / args.per_process))
    for i in range(count):
        net.workers.append(Worker(net.root, i + 1))
    names = [f"n{i}" for i in range(1, n)]
    per_worker = [names[i::count] for i in range(count)]
    rounds = max(len(group) for group in per_worker)
    for r in range(rounds):
        earlier = net.live
        pending = []
        for w, group in zip(net.workers[1:], per_worker, strict=True):
            if r < len(group):
                pending.append((w, net.send_start(w, [group[r]], earlier)))
        for w, mid in pending:
            net.collect_start(w, mid)
        say(f"  started {len(net.live)}/{n}")
    if big:
        w = net.workers[-1]
        net.collect_start(w, net.send_start(w, ["big"], net.live, existing=True, gated=True))
    return {"start_s": round(time.monotonic() - started, 1), "failed": dict(net.started_failed)}


def publish_wave(net: Network, publishers: list[str], label: str, timeout: float) -> dict[str, Any]:
    """Each publisher in turn publishes its three records; every node is watched."""
    records: list[dict[str, Any]] = []
    searchable: list[float] = []
    synced: list[float] = []
    gossip: list[float] = []
    coverage: list[float] = []
    per_publish = []
    for k, name in enumerate(publishers):
        word = f"zq{label.lower()}{k}x{net.rng.randrange(10**9)}"
        persona = net.personas[name]
        watch = {
            "cmd": "watch",
            "seller": persona,
            "seq": 1,
            "word": word,
            "skip": name,
            "timeout": timeout,
        }
        wid = net.msg_id()
        for w in net.workers:
            w.send({**watch, "id": wid})
        worker = net.where[name]
        pid = net.msg_id()
        worker.send({"cmd": "publish", "id": pid, "name": name, "word": word})
        pub = worker.read_until("ok", "publish", pid)
        t0 = pub["t0"]
        watched = got_gossip = got_search = 0
        times: list[float] = []
        for w in net.workers:
            ev = w.read_until("event", "watch", wid)
            watched += len(ev["watched"])
            got_gossip += len(ev["gossip"])
            got_search += len(ev["searchable"])
            gossip += [t - t0 for t in ev["gossip"].values()]
            synced += [t - t0 for t in ev["synced"].values()]
            times += [t - t0 for t in ev["searchable"].values()]
        searchable += times
        coverage.append(got_gossip / watched if watched else 0.0)
        per_publish.append(
            {
                "publisher": name,
                "nodes_watched": watched,
                "by_gossip": got_gossip,
                "searchable": got_search,
                "searchable_p50_s": pct(times, 0.5),
                "searchable_max_s": pct(times, 1.0),
                # create the listing; then Node.publish (gossip, DHT put, provider records);
                # then the prekey record's PUT and the arbiter profile's PUT.
                "create_s": round(pub["created"] - t0, 3),
                "head_publish_s": round(pub["head_published"] - pub["created"], 3),
                "prekey_put_s": round(pub["prekey_published"] - pub["head_published"], 3),
                "arbiter_put_s": round(pub["done"] - pub["prekey_published"], 3),
            }
        )
        records += [
            {"kind": "head", "persona": persona, "seq": pub["seq"], "publisher": name},
            {"kind": "prekey", "persona": persona, "at": pub["prekey_at"], "publisher": name},
            {
                "kind": "arbiter",
                "persona": persona,
                "digest": pub["arbiter_digest"],
                "publisher": name,
            },
        ]
        say(f"  {label} publish {k} by {name}: {per_publish[-1]}")
        time.sleep(1.0)
    watched_total = sum(p["nodes_watched"] for p in per_publish)
    return {
        "records": records,
        "result": {
            "publishers": publishers,
            "publish_to_searchable_s": {
                "p50": pct(searchable, 0.5),
                "p99": pct(searchable, 0.99),
                "max": pct(searchable, 1.0),
                "samples": len(searchable),
                "not_searchable_within_timeout": watched_total - len(searchable),
            },
            "publish_to_synced_s": {"p50": pct(synced, 0.5), "p99": pct(synced, 0.99)},
            "gossip": {
                "coverage_min": round(min(coverage), 4) if coverage else None,
                "coverage_mean": round(sum(coverage) / len(coverage), 4) if coverage else None,
                "arrival_p50_s": pct(gossip, 0.5),
                "arrival_p99_s": pct(gossip, 0.99),
            },
            "per_publish": per_publish,
        },
    }


def resolve_batch(
    net: Network, resolvers: list[str], records: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every resolver looks up every record (one lookup at a time per resolver)."""
    pending = []
    for name in resolvers:
        items = [dict(r) for r in records]
        net.rng.shuffle(items)
        mid = net.msg_id()
        w = net.where[name]
        w.send({"cmd": "resolve", "id": mid, "name": name, "items": items})
        pending.append((w, mid))
    out = []
    for w, mid in pending:
        msg = w.read_until("ok", "resolve", mid)
        for r in msg["results"]:
            out.append({**r, "resolver": msg["name"]})
    return out


def churn_round(
    net: Network, leave: int, join: int, protected: set[str], label: str
) -> tuple[list[tuple[Worker, int]], list[str], list[str]]:
    """Start a churn round (leaves and joins in flight); returns what to collect."""
    candidates = [n for n in net.live if n not in protected]
    leavers = net.rng.sample(candidates, min(leave, len(candidates)))
    sent: list[tuple[Worker, int]] = []
    by_worker: dict[int, list[str]] = {}
    for name in leavers:
        by_worker.setdefault(net.where[name].index, []).append(name)
        net.where[name].live.remove(name)
    for w in net.workers:
        if w.index in by_worker:
            mid = net.msg_id()
            w.send({"cmd": "leave", "id": mid, "names": by_worker[w.index]})
            sent.append((w, mid))
    joiners = [f"{label}j{i}" for i in range(join)]
    boot_from = net.live
    starts = []
    hosted = {w.index: len(w.live) for w in net.workers[1:]}
    for name in joiners:
        w = min(net.workers[1:], key=lambda x: hosted[x.index])
        hosted[w.index] += 1
        starts.append((w, net.send_start(w, [name], boot_from)))
    return starts, leavers, joiners


def summarize_lookups(lookups: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in (*KINDS, "all"):
        chosen = [r for r in lookups if kind == "all" or r["kind"] == kind]
        found = [r["seconds"] for r in chosen if r["found"]]
        out[kind] = {
            "lookups": len(chosen),
            "found": len(found),
            "found_fraction": round(len(found) / len(chosen), 4) if chosen else None,
            "p50_s": pct(found, 0.5),
            "p99_s": pct(found, 0.99),
            "max_s": pct(found, 1.0),
        }
    misses = [r for r in lookups if not r["found"]]
    out["misses"] = misses[:50]
    return out


def run_network(
    n: int,
    args: argparse.Namespace,
    *,
    full_mesh: bool,
    churn: float,
    big_root: Path | None,
    big: dict[str, Any] | None,
    result: dict[str, Any],
) -> dict[str, Any]:
    """One network, start to stop; fills ``result`` as it goes (kept if interrupted)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"umbra-scale-{n}-"))
    if big_root is not None:
        from umbra.store._paths import profiles_root

        shutil.copytree(profiles_root(big_root) / "big", profiles_root(tmp) / "big")
    net = Network(tmp, args, full_mesh=full_mesh)
    result.update(
        {
            "n": n,
            "topology": {
                "bootstrap": "full mesh (every earlier node)"
                if full_mesh
                else f"≤ {args.degree} random earlier nodes",
                "bootstrap_degree": None if full_mesh else args.degree,
                "nodes_per_process": args.per_process,
                "single_node_processes": 1,
                "connections_high_water": args.connections_high or "the node's default",
                "dht_bucket_size": args.bucket_size or "the node's default (20)",
                "extra_nodes": ["big (the catalog seller, held back until step 5)"] if big else [],
            },
            "load_average": {"start": load()},
        }
    )
    lookups: list[dict[str, Any]] = []
    try:
        result["start"] = start_network(net, n, big is not None)
        say(f"N={n}: started {len(net.live)} nodes in {result['start']['start_s']} s; settling")
        result["settle"] = net.wait_idle(args.settle_limit)
        result["load_average"]["settled"] = load()
        say(f"N={n}: settled {result['settle']}")
        eligible = [x for x in net.live if x not in ("n0", "big")]
        wave_a = net.rng.sample(eligible, min(args.publishers, len(eligible)))
        a = publish_wave(net, wave_a, "A", args.watch_timeout)
        result["wave_a"] = a["result"]
        result["load_average"]["wave_a"] = load()

        # Churn rounds, each followed at once by lookups from random live nodes.
        total_churn = round(churn * n)
        rounds = max(1, args.rounds)
        protected = set(wave_a) | {"n0", "big"}
        left: list[str] = []
        joined: list[str] = []
        per_round_resolvers = max(1, math.ceil(args.resolvers / rounds))
        for r in range(rounds):
            share = total_churn // rounds + (1 if r < total_churn % rounds else 0)
            starts, leavers, joiners = churn_round(net, share, share, protected, f"c{r}")
            left += leavers
            pool = [x for x in net.live if x not in ("big",) and x not in wave_a]
            resolvers = net.rng.sample(pool, min(per_round_resolvers, len(pool)))
            got = resolve_batch(net, resolvers, a["records"])
            for item in got:
                item["phase"] = f"churn round {r}"
            lookups += got
            for w, mid in starts:
                net.collect_start(w, mid)
            for w in net.workers:
                for msg in list(w.stash):
                    if msg.get("ok") == "leave":
                        w.stash.remove(msg)
            joined += joiners
            ok = [x["seconds"] for x in got if x["found"]]
            say(
                f"N={n}: churn round {r}: -{len(leavers)} +{len(joiners)}; "
                f"{len(ok)}/{len(got)} found, p50 {pct(ok, 0.5)} s, max {pct(ok, 1.0)} s"
            )
        result["churn"] = {
            "fraction": churn,
            "rounds": rounds,
            "left": len(left),
            "joined": len([j for j in joined if j in net.addrs]),
            "publishers_protected": True,
            "live_after": len(net.live),
        }
        result["load_average"]["churn"] = load()

        # Wave B in the churned network: one publisher is a node that joined during churn.
        candidates = [x for x in net.live if x not in protected]
        new_nodes = [j for j in joined if j in net.live]
        wave_b = net.rng.sample(new_nodes, min(1, len(new_nodes)))
        rest = [x for x in candidates if x not in wave_b]
        wave_b += net.rng.sample(rest, min(max(0, args.publishers_b - len(wave_b)), len(rest)))
        if wave_b:
            b = publish_wave(net, wave_b, "B", args.watch_timeout)
            result["wave_b"] = b["result"]
            pool = [x for x in net.live if x != "big" and x not in wave_b]
            resolvers = net.rng.sample(pool, min(per_round_resolvers, len(pool)))
            got = resolve_batch(net, resolvers, b["records"])
            for item in got:
                item["phase"] = "after churn (wave B records)"
            lookups += got
        result["load_average"]["wave_b"] = load()
        result["resolution"] = summarize_lookups(lookups)
        result["resolution"]["resolvers"] = len({x["resolver"] for x in lookups})

        if big is not None:
            result["catalog"] = big_catalog(net, big, args.catalog_timeout)
            result["load_average"]["catalog"] = load()

        stats = net.ask_all({"cmd": "stats"}, "ok", "stats")
        conns = [float(c) for s in stats for name, c in s["connections"].items() if name != "big"]
        tables = [
            float(c) for s in stats for name, c in s["routing_table"].items() if name != "big"
        ]
        buckets = [
            float(c) for s in stats for name, c in s["largest_bucket"].items() if name != "big"
        ]
        per_node = [s["rss_mb"] / s["nodes"] for s in stats[1:] if s["nodes"]]
        result["connections_per_node"] = {
            "max": pct(conns, 1.0),
            "p50": pct(conns, 0.5),
            "min": pct(conns, 0.0),
        }
        result["largest_bucket"] = {"max": pct(buckets, 1.0), "p50": pct(buckets, 0.5)}
        result["routing_table_size"] = {
            "max": pct(tables, 1.0),
            "p50": pct(tables, 0.5),
            "min": pct(tables, 0.0),
        }
        result["rss_mb"] = {
            "per_node_shared_process_max": round(max(per_node), 1) if per_node else None,
            "per_node_shared_process_p50": pct(per_node, 0.5),
            "processes": [{"nodes": s["nodes"], "rss_mb": round(s["rss_mb"], 1)} for s in stats],
            "one_node_per_process": round(stats[0]["rss_mb"], 1),
            "note": "a shared process's RSS divided by the nodes live in it at the end "
            "(nodes that left may leave memory behind in it)",
        }
        result["load_average"]["end"] = load()
    except Exception as exc:
        # Keep what was measured: the report says where the run broke off.
        import traceback

        say(traceback.format_exc())
        result["error"] = repr(exc)
    finally:
        if lookups and "resolution" not in result:  # interrupted: keep the lookups made
            result["resolution"] = summarize_lookups(lookups)
        say(f"N={n}: stopping")
        for w in net.workers:  # all at once: each worker gives its nodes up to 20 s
            with contextlib.suppress(Exception):
                w.send({"cmd": "stop"})
        for w in net.workers:
            w.close()
        if args.keep_logs:
            keep = Path(args.keep_logs)
            keep.mkdir(parents=True, exist_ok=True)
            for log_file in tmp.glob("worker*.log"):
                shutil.copy(log_file, keep / f"n{n}-{log_file.name}")
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def big_catalog(net: Network, big: dict[str, Any], timeout: float) -> dict[str, Any]:
    watch = {
        "cmd": "watch",
        "seller": net.personas["big"],
        "seq": 1,
        "skip": "big",
        "timeout": timeout,
    }
    wid = net.msg_id()
    for w in net.workers:
        w.send({**watch, "id": wid})
    worker = net.where["big"]
    rid = net.msg_id()
    say(f"releasing the {big['listings']}-listing catalog")
    worker.send({"cmd": "release", "id": rid, "name": "big"})
    t0 = worker.read_until("ok", "release", rid)["t0"]
    durations: list[float] = []
    watched = 0
    for w in net.workers:
        ev = w.read_until("event", "watch", wid)
        watched += len(ev["watched"])
        durations += [t - t0 for t in ev["synced"].values()]
    mb = big["total_bytes"] / 1e6
    return {
        **big,
        "timeout_s": timeout,
        "nodes_watched": watched,
        "nodes_synced": len(durations),
        "first_node_s": pct(durations, 0.0),
        "p50_node_s": pct(durations, 0.5),
        "last_node_s": pct(durations, 1.0),
        "mb_per_s_p50_node": round(mb / pct(durations, 0.5), 3) if durations else None,
    }


def git_commit() -> dict[str, Any]:
    def git(*a: str) -> str:
        return subprocess.run(
            ["git", "-C", str(ROOT), *a], capture_output=True, text=True
        ).stdout.strip()

    return {
        "head": git("rev-parse", "--short", "HEAD"),
        "subject": git("log", "-1", "--format=%s"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--per-process", type=int, default=20)
    parser.add_argument("--degree", type=int, default=3, help="bootstrap addresses per node")
    parser.add_argument("--churn", type=float, default=0.2)
    parser.add_argument("--rounds", type=int, default=4, help="churn rounds")
    parser.add_argument("--publishers", type=int, default=5, help="wave-A publishers")
    parser.add_argument("--publishers-b", type=int, default=3, help="wave-B publishers")
    parser.add_argument("--resolvers", type=int, default=40, help="lookup nodes in all")
    parser.add_argument("--watch-timeout", type=float, default=60.0)
    parser.add_argument("--catalog", type=int, default=1000, help="0: no big catalog")
    parser.add_argument("--catalog-timeout", type=float, default=300.0)
    parser.add_argument("--reference", type=int, default=20, help="full-mesh N, 0: none")
    parser.add_argument(
        "--connections-high",
        type=int,
        default=None,
        help="NetLimits.connections_high_water (default: the node's); low water = 3/4 of it",
    )
    parser.add_argument(
        "--bucket-size",
        type=int,
        default=None,
        help="DhtRouting k: bucket size, replication and kept neighbours (default: the node's, 20)",
    )
    parser.add_argument("--settle-limit", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "scale.json"))
    parser.add_argument("--keep-logs", default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.monotonic()
    report: dict[str, Any] = {
        "benchmark": "scale",
        "commit": git_commit(),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "mem_total_mb": _mem_total_mb(),
        },
        "parameters": vars(args),
        "targets": TARGETS,
        "load_average_at_start": load(),
        "runs": {},
    }
    big_root = Path(tempfile.mkdtemp(prefix="umbra-scale-big-")) if args.catalog else None
    try:
        big = None
        if big_root is not None:
            say(f"building the {args.catalog}-listing catalog")
            big = _load_network_bench().build_big_catalog(big_root, args.catalog, seed=1)
        if args.reference:
            say(f"reference: N={args.reference}, full mesh, no churn")
            report["runs"]["reference_full_mesh"] = {}
            run_network(
                args.reference,
                args,
                full_mesh=True,
                churn=0.0,
                big_root=big_root,
                big=big,
                result=report["runs"]["reference_full_mesh"],
            )
        say(f"sparse: N={args.nodes}, degree {args.degree}, churn {args.churn}")
        report["runs"]["sparse_churn"] = {}
        run_network(
            args.nodes,
            args,
            full_mesh=False,
            churn=args.churn,
            big_root=big_root,
            big=big,
            result=report["runs"]["sparse_churn"],
        )
    except KeyboardInterrupt:  # SIGINT or SIGTERM: write what was measured, marked as such
        report["interrupted"] = True
    finally:
        if big_root is not None:
            shutil.rmtree(big_root, ignore_errors=True)
    report["verdict"] = verdict(report["runs"].get("sparse_churn", {}))
    report["wall_s"] = round(time.monotonic() - started, 1)
    report["load_average_at_end"] = load()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["verdict"]), f"→ {out}")


def verdict(run: dict[str, Any]) -> dict[str, Any]:
    """Each target met or not; a run that broke off meets none of what it did not measure."""
    res = run.get("resolution", {}).get("all", {})
    conns = run.get("connections_per_node", {}).get("max")
    rss = run.get("rss_mb", {}).get("per_node_shared_process_max")
    p50, p99 = res.get("p50_s"), res.get("p99_s")
    return {
        "completed": bool(run)
        and "error" not in run
        and "load_average" in run
        and "end" in run["load_average"],
        "all_found": res.get("found_fraction") == TARGETS["found_fraction"],
        "resolution_p50_ok": p50 is not None and p50 <= TARGETS["resolution_p50_s"],
        "resolution_p99_ok": p99 is not None and p99 <= TARGETS["resolution_p99_s"],
        "connections_ok": conns is not None and conns <= TARGETS["connections_per_node_max"],
        "rss_ok": rss is not None and rss <= TARGETS["rss_mb_per_node"],
    }


def _mem_total_mb() -> int:
    with open("/proc/meminfo") as f:
        return int(f.readline().split()[1]) // 1024


if __name__ == "__main__":
    main()
