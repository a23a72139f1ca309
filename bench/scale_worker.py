"""One worker process of `bench/scale.py`: several real Umbra nodes in one trio loop.

Driven by JSON lines on stdin, answering JSON lines on stdout (stderr is the log). Every node
has its own profile database (cheap Argon2, as in bench/network.py), its own libp2p host on
its own 127.0.x.y address and its own nursery, so one node can leave (churn) while the
others of the process keep running. Nothing here is simulated: the nodes are `open_node`'s,
exactly as `umbra node` runs them, plus the prekey validator the messaging service registers.

Commands (``cmd``): ``start`` (nodes with their bootstrap addresses), ``leave`` (names),
``publish`` (a node publishes one record of each type: a catalog head through a new listing,
a prekey record, an arbiter profile), ``resolve`` (a node looks records up, timed),
``watch`` (when each node of this process got a head by gossip, synced it, and found the
listing in its local search), ``release`` (the big seller publishes its catalog), ``stats``.
"""

import contextlib
import hashlib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from umbra.core import ArbiterProfileBody, parse_catalog_head, sign_arbiter_profile
from umbra.core.crypto import Argon2Params
from umbra.market import ListingDraft, SellerCatalog
from umbra.net import CLEARNET, DhtRouting, NetLimits, Node, NodeConfig, get_fresh, open_node
from umbra.net.messaging import (
    PREKEY_NAMESPACE,
    SessionManager,
    check_prekey_record_at,
    prekey_key,
    select_prekey_record,
    sign_prekey_record,
)
from umbra.net.messaging._service import PrekeyRecordValidator
from umbra.store import Profile, SearchQuery, create_profile, open_profile

CHEAP = Argon2Params(time_cost=1, memory_kib=1024, parallelism=1)
PASSPHRASE = "bench"
LOOKUP_TIMEOUT_S = 15.0  # what `find_arbiter_profile` and the prekey lookup allow

log = logging.getLogger("bench.scale")

# First arrival of each head by gossip, per node: (node id, seller hex, seq) → time. Filled by
# the wrapped gossip validator below (the only place that sees a head arrive by gossip).
GOSSIP_SEEN: dict[tuple[int, str, int], float] = {}
_validate_gossip = Node._validate_gossip


def _counting_validator(self: Node, forwarder: Any, msg: Any) -> bool:
    accepted = _validate_gossip(self, forwarder, msg)
    if accepted:
        with contextlib.suppress(Exception):
            body = parse_catalog_head(msg.data).body
            GOSSIP_SEEN.setdefault((id(self), body.seller.hex(), body.seq), time.time())
    return accepted


Node._validate_gossip = _counting_validator  # type: ignore[method-assign]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def largest_distance_bucket(node: Node) -> int:
    """The most routing-table peers at one distance from the node (same shared-prefix length
    of sha256 positions): Kademlia's bound is k (20) per distance, whatever the library's own
    bucket layout (py-libp2p 0.8.1 splits any full bucket, so its buckets alone can stay
    under k while one distance holds far more)."""
    own = _position(node.host.get_id().to_bytes())
    counts: dict[int, int] = {}
    for peer in node.dht.routing_table.get_peer_ids():
        prefix = 256 - (own ^ _position(peer.to_bytes())).bit_length()
        counts[prefix] = counts.get(prefix, 0) + 1
    return max(counts.values(), default=0)


def _position(data: bytes) -> int:
    return int.from_bytes(hashlib.sha256(data).digest(), "big")


class Gated:
    """A catalog source that shows nothing until released (the big seller)."""

    def __init__(self, inner: SellerCatalog, released: bool) -> None:
        self.inner, self.released = inner, released

    def current_catalog(self) -> Any:
        return self.inner.current_catalog() if self.released else None


class Running:
    def __init__(self, name: str, node: Node, profile: Profile, source: Gated) -> None:
        self.name, self.node, self.profile, self.source = name, node, profile, source
        self.stop = trio.Event()
        self.stopped = trio.Event()


def node_config(spec: dict[str, Any]) -> NodeConfig:
    """The node's configuration: defaults, except the loops that only read the own database.

    Status rows every 30 s (not 2 s) and the own-catalog check every 1 s (not 50 ms): with
    hundreds of nodes on 2 cores those local polls alone would take most of a core. Publishes
    here call `Node.publish` directly, so the poll interval does not enter a measurement.
    """
    limits = NetLimits(**spec["limits"]) if spec.get("limits") else NetLimits()
    routing = DhtRouting(**spec["dht"]) if spec.get("dht") else DhtRouting()
    return NodeConfig(
        limits=limits,
        dht=routing,
        network=CLEARNET,
        listen=(f"/ip4/{spec['ip']}/tcp/0",),
        bootstrap=tuple(spec["bootstrap"]),
        status_interval=30.0,
        peer_store_interval=60.0,
        catalog_poll_interval=10.0,
        catalog_change_check_interval=1.0,
    )


async def main() -> None:
    stdin = trio.lowlevel.FdStream(os.dup(0))
    out_lock = trio.Lock()
    running: dict[str, Running] = {}
    by_id: dict[int, str] = {}

    async def say(obj: dict[str, Any]) -> None:
        async with out_lock:
            sys.stdout.write(json.dumps(obj) + "\n")
            sys.stdout.flush()

    async def run_node(
        root: Path, spec: dict[str, Any], *, task_status: Any = trio.TASK_STATUS_IGNORED
    ) -> None:
        name = spec["name"]
        if spec.get("existing"):
            profile = await trio.to_thread.run_sync(open_profile, root, name, PASSPHRASE)
        else:
            profile = await trio.to_thread.run_sync(
                lambda: create_profile(root, name, PASSPHRASE, params=CHEAP)
            )
        with profile:
            source = Gated(SellerCatalog(profile), released=not spec.get("gated"))
            async with open_node(profile, node_config(spec), source) as node:
                node.dht.register_validator(PREKEY_NAMESPACE, PrekeyRecordValidator())
                entry = Running(name, node, profile, source)
                running[name], by_id[id(node)] = entry, name
                task_status.started(entry)
                await entry.stop.wait()
                del running[name]
        entry.stopped.set()

    async def start(nursery: trio.Nursery, cmd: dict[str, Any]) -> None:
        root = Path(cmd["root"])
        addrs, personas, failed = {}, {}, {}
        for spec in cmd["nodes"]:
            try:
                entry = await nursery.start(run_node, root, spec)
                addrs[spec["name"]] = entry.node.addrs[0]
                personas[spec["name"]] = entry.profile.identity.signing_public.hex()
            except Exception as exc:
                failed[spec["name"]] = repr(exc)
        reply = {"ok": "start", "id": cmd["id"], "addrs": addrs, "personas": personas}
        await say({**reply, "failed": failed})

    async def leave(cmd: dict[str, Any]) -> None:
        gone = [running[name] for name in cmd["names"] if name in running]
        for entry in gone:
            entry.stop.set()
        for entry in gone:
            await entry.stopped.wait()
        await say({"ok": "leave", "id": cmd["id"], "left": [e.name for e in gone]})

    async def publish(cmd: dict[str, Any]) -> None:
        entry = running[cmd["name"]]
        node, profile = entry.node, entry.profile
        key = profile.identity.signing
        persona = key.public_key
        now = int(time.time())
        out: dict[str, Any] = {"ok": "publish", "id": cmd["id"], "persona": persona.hex()}
        word = cmd["word"]
        draft = ListingDraft(
            title=f"Scale probe {word}",
            description="A listing published by bench/scale.py.",
            price=10**12,
            quantity=1,
            category="electronics",
            condition="new",
            ships_from="DE",
        )
        out["t0"] = time.time()
        await node._db(entry.source.inner.create, draft)
        out["created"] = time.time()
        catalog = await node._db(entry.source.current_catalog)
        out["seq"] = catalog.body.seq
        await node.publish(catalog)
        out["head_published"] = time.time()
        manager, _ = SessionManager.create(key, now=now)
        record = sign_prekey_record(key, manager.prekey_bundle(key, now=now), peer=None, now=now)
        await node.dht.put_value(prekey_key(persona), record)
        out["prekey_published"] = time.time()
        body = ArbiterProfileBody(
            v=1, kind="arbiter-profile", arbiter=persona, name=f"Arbiter {word}",
            fee="1 %", terms="", created_at=now, expires_at=now + 86400,
        )  # fmt: skip
        arbiter = sign_arbiter_profile(key, body)
        await node.publish_arbiter_profile(arbiter.data)
        out["prekey_at"] = now
        out["arbiter_digest"] = hashlib.sha256(arbiter.data).hexdigest()
        out["done"] = time.time()
        await say(out)

    async def lookup(node: Node, item: dict[str, Any]) -> bool:
        """One real lookup of a record, checked against what was published."""
        persona = bytes.fromhex(item["persona"])
        kind = item["kind"]
        if kind == "head":
            head = await node.resolve_head(persona)
            return head is not None and head.body.seq >= item["seq"]
        if kind == "arbiter":
            found = await node.find_arbiter_profile(persona, timeout=LOOKUP_TIMEOUT_S)
            return found is not None and hashlib.sha256(found.data).hexdigest() == item["digest"]
        key = prekey_key(persona)  # as `MessagingService.lookup` asks
        value = await get_fresh(node.dht, key, quorum=3, select=select_prekey_record)
        if value is None:
            return False
        record = check_prekey_record_at(key, value, time.time())
        return record.published_at >= item["at"]

    async def resolve(cmd: dict[str, Any]) -> None:
        entry = running.get(cmd["name"])
        results = []
        for item in cmd["items"]:
            started = time.monotonic()
            found, error = False, None
            if entry is None:
                error = "resolver left"
            else:
                try:
                    with trio.move_on_after(LOOKUP_TIMEOUT_S):
                        found = await lookup(entry.node, item)
                except Exception as exc:
                    error = repr(exc)[:200]
            results.append(
                {
                    "kind": item["kind"],
                    "persona": item["persona"],
                    "found": found,
                    "seconds": round(time.monotonic() - started, 4),
                    "error": error,
                }
            )
        await say({"ok": "resolve", "id": cmd["id"], "name": cmd["name"], "results": results})

    async def watch(cmd: dict[str, Any]) -> None:
        seller, seq, word = cmd["seller"], cmd["seq"], cmd.get("word")
        seller_bytes = bytes.fromhex(seller)
        synced: dict[str, float] = {}
        searchable: dict[str, float] = {}
        watched = {n: e for n, e in running.items() if n != cmd.get("skip")}

        async def one(entry: Running) -> None:
            await entry.node.wait_synced(seller_bytes, seq)
            synced[entry.name] = time.time()
            if word:
                query = SearchQuery(text=word, now=int(time.time()))
                while not (await entry.node._db(entry.profile.search.search, query)).hits:
                    await trio.sleep(0.05)
                searchable[entry.name] = time.time()

        with trio.move_on_after(cmd["timeout"]):
            async with trio.open_nursery() as inner:
                for entry in watched.values():
                    inner.start_soon(one, entry)
        gossip = {}
        for entry in watched.values():
            at = GOSSIP_SEEN.get((id(entry.node), seller, seq))
            if at is not None:
                gossip[entry.name] = at
        await say(
            {
                "event": "watch",
                "id": cmd["id"],
                "watched": sorted(watched),
                "gossip": gossip,
                "synced": synced,
                "searchable": searchable,
            }
        )

    async def release(cmd: dict[str, Any]) -> None:
        entry = running[cmd["name"]]
        entry.source.released = True
        catalog = await entry.node._db(entry.source.current_catalog)
        t0 = time.time()
        await say({"ok": "release", "id": cmd["id"], "t0": t0, "seq": catalog.body.seq})
        await entry.node.publish(catalog)

    def stats(cmd: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": "stats",
            "id": cmd["id"],
            "pid": os.getpid(),
            "rss_mb": rss_mb(),
            "nodes": len(running),
            "connections": {n: len(e.node.host.get_connected_peers()) for n, e in running.items()},
            "routing_table": {n: e.node.dht.get_routing_table_size() for n, e in running.items()},
            "largest_bucket": {n: largest_distance_bucket(e.node) for n, e in running.items()},
        }

    handlers = {"leave": leave, "publish": publish, "resolve": resolve, "watch": watch}
    buf = b""
    async with trio.open_nursery() as nursery:
        while True:
            while b"\n" not in buf:
                data = await stdin.receive_some(65536)
                if not data:
                    nursery.cancel_scope.cancel()
                    return
                buf += data
            line, buf = buf.split(b"\n", 1)
            cmd = json.loads(line)
            op = cmd["cmd"]
            if op == "stop":
                for entry in list(running.values()):
                    entry.stop.set()
                with trio.move_on_after(20):
                    for entry in list(running.values()):
                        await entry.stopped.wait()
                nursery.cancel_scope.cancel()
                break
            if op == "start":
                nursery.start_soon(start, nursery, cmd)
            elif op == "release":
                nursery.start_soon(release, cmd)
            elif op == "stats":
                await say(stats(cmd))

            else:
                nursery.start_soon(handlers[op], cmd)
    await say({"ok": "stop"})


if __name__ == "__main__":
    logging.basicConfig(format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("libp2p").setLevel(logging.CRITICAL)
    logging.getLogger("umbra").setLevel(logging.WARNING)
    trio.run(main)
