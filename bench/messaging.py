"""Benchmark of messaging: session crypto in one process, the product path with its database
commits, and delivery latency between real nodes (direct and via a mailbox peer).

Run: ``.venv/bin/python bench/messaging.py [--only sessions,product,latency,...]
[--messages 5000] [--size 200] [--setups 200] [--runs 5] [--rounds 20]``

One function per measurement (`MEASUREMENTS`); each returns a dict of result keys that are
merged into ``bench/results/messaging.json`` (keys from other runs or other benchmarks, e.g.
trade phase timings, are kept). Crypto measurements, each as encrypt+decrypt of the same
payloads (messages/s, median of ``--runs`` runs; ``best`` holds the best run of each):

- ``ratchet_steady``: one direction, no DH ratchet step (core `RatchetSession`).
- ``ratchet_dh_step_each``: ping-pong, so every message carries a new ratchet key and costs
  a DH ratchet step on both sides.
- ``sessions_steady`` / ``sessions_dh_step_each``: the same through the session layer
  (`SessionManager`): wire encoding and strict parsing, and the serialized state a driver
  saves after every call (the database write itself is not included).
- ``sessions_sealed_steady``: plus sealing/opening the envelope (what a mailbox peer holds).
- ``sessions_x3dh_header_steady``: one direction before any reply, so every message carries
  the initiator's X3DH header (a first-contact burst, e.g. the chunks of an order).
- ``secretbox_reference``: PyNaCl SecretBox encrypt+decrypt of the same payloads with one
  fixed key: the ceiling for any per-message AEAD in Python.
- X3DH session setup: initiator (verify bundle, X3DH, first message) and responder (X3DH,
  first message, consume and refill the one-time prekey, serialize the identity).
- ``product_path_*`` (``--only product``): what the node does per message, on two real
  SQLCipher profiles: encrypt + seal + commit the session state and the envelope (one
  transaction), then open + decrypt + commit the session state and the payload (one
  transaction); no batching (the product commits every message before acting on it).
- ``latency_*`` (``--only latency``, wall-clock ms): three nodes in this process on
  127.0.0.50-52 with their messaging services, real libp2p streams and DHT. Online: a
  payload queued on A until it is committed in B's `PayloadQueue` (small, and 300 kB =
  6 chunks). Mailbox: with B stopped, queued until left with a mailbox peer, and from B's
  restart until it is in B's queue (B polls its mailboxes 1 s after start).

Rates are per second of this process's CPU time (``time.process_time``), so other load on
a shared machine distorts them less than wall time would. Target: >= 3,000 messages/s
steady state.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.secret
import nacl.utils

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from umbra.core.crypto import (
    Argon2Params,
    MessagingIdentity,
    PrekeyBundle,
    RatchetSession,
    SigningKey,
)
from umbra.net.messaging import (
    DatabaseSessionStore,
    Inbox,
    PayloadChunk,
    PayloadStore,
    SessionManager,
    parse_plaintext,
    split_payload,
)

NOW = 1_700_000_000
TARGET = 3000
RUNS = 5
CHEAP = Argon2Params(time_cost=1, memory_kib=1024, parallelism=1)
BEST: dict[str, float] = {}  # the best run of each rate, reported beside the medians


def _rate(fn: Callable[[], None], count: int, runs: int | None = None, key: str = "") -> float:
    """Messages per second of this process's CPU time (robust on a shared machine)."""
    rates = []
    for _ in range(runs or RUNS):
        start = time.process_time()
        fn()
        rates.append(count / (time.process_time() - start))
    if key:
        BEST[key] = max(rates)
    return statistics.median(rates)


def _ratchet_pair() -> tuple[RatchetSession, RatchetSession]:
    ka, kb = SigningKey.generate(), SigningKey.generate()
    a, b = MessagingIdentity.generate(ka, now=NOW), MessagingIdentity.generate(kb, now=NOW)
    bundle = PrekeyBundle.parse(b.signed_bundle(kb, now=NOW).to_bytes())
    new_a, first = a.initiate(bundle, b"x")
    new_b, _ = b.accept(new_a.header, first)
    new_a.ratchet.decrypt(new_b.ratchet.encrypt(b"y"))
    return new_a.ratchet, new_b.ratchet


def _manager_pair() -> tuple[tuple[SigningKey, SessionManager], tuple[SigningKey, SessionManager]]:
    ka, kb = SigningKey.generate(), SigningKey.generate()
    a, _ = SessionManager.create(ka, now=NOW)
    b, _ = SessionManager.create(kb, now=NOW)
    out = a.encrypt(kb.public_key, b"x", now=NOW, bundle=b.prekey_bundle(kb, now=NOW))
    b.decrypt(out.message)
    a.decrypt(b.encrypt(ka.public_key, b"y", now=NOW).message)
    return (ka, a), (kb, b)


def bench_ratchet(n: int, payloads: list[bytes]) -> dict[str, float]:
    a, b = _ratchet_pair()

    def steady() -> None:
        for p in payloads:
            b.decrypt(a.encrypt(p))

    def ping_pong() -> None:
        for i, p in enumerate(payloads):
            if i % 2:
                a.decrypt(b.encrypt(p))
            else:
                b.decrypt(a.encrypt(p))

    return {
        "ratchet_steady": _rate(steady, n, key="ratchet_steady"),
        "ratchet_dh_step_each": _rate(ping_pong, n, key="ratchet_dh_step_each"),
    }


def bench_sessions(n: int, payloads: list[bytes]) -> dict[str, float]:
    (ka, a), (kb, b) = _manager_pair()
    to_a, to_b = ka.public_key, kb.public_key

    def steady() -> None:
        for p in payloads:
            out = a.encrypt(to_b, p, now=NOW)
            b.decrypt(out.message)

    def ping_pong() -> None:
        for i, p in enumerate(payloads):
            if i % 2:
                a.decrypt(b.encrypt(to_a, p, now=NOW).message)
            else:
                b.decrypt(a.encrypt(to_b, p, now=NOW).message)

    def sealed() -> None:
        for p in payloads:
            b.open_envelope(a.encrypt(to_b, p, now=NOW).envelope)

    # Before the first reply: the initiator's X3DH header rides on every message.
    kc, kd = SigningKey.generate(), SigningKey.generate()
    c, _ = SessionManager.create(kc, now=NOW)
    d, _ = SessionManager.create(kd, now=NOW)
    to_d = kd.public_key
    d.decrypt(c.encrypt(to_d, b"x", now=NOW, bundle=d.prekey_bundle(kd, now=NOW)).message)

    def header_attached() -> None:
        for p in payloads:
            d.decrypt(c.encrypt(to_d, p, now=NOW).message)

    return {
        "sessions_steady": _rate(steady, n, key="sessions_steady"),
        "sessions_dh_step_each": _rate(ping_pong, n, key="sessions_dh_step_each"),
        "sessions_sealed_steady": _rate(sealed, n, key="sessions_sealed_steady"),
        "sessions_x3dh_header_steady": _rate(header_attached, n, key="sessions_x3dh_header_steady"),
    }


def bench_reference(n: int, payloads: list[bytes]) -> dict[str, float]:
    box = nacl.secret.SecretBox(nacl.utils.random(32))

    def run() -> None:
        for p in payloads:
            box.decrypt(box.encrypt(p))

    return {"secretbox_reference": _rate(run, n, key="secretbox_reference")}


def bench_setup(setups: int) -> dict[str, float]:
    kb = SigningKey.generate()
    responder = MessagingIdentity.generate(kb, now=NOW)
    initiators = [MessagingIdentity.generate(SigningKey.generate(), now=NOW) for _ in range(setups)]
    init_ms, resp_ms = [], []
    for initiator in initiators:
        bundle_bytes = responder.signed_bundle(kb, now=NOW).to_bytes()
        t0 = time.process_time()
        bundle = PrekeyBundle.parse(bundle_bytes)
        new, first = initiator.initiate(bundle, b"hello")
        t1 = time.process_time()
        responder.accept(new.header, first)
        responder.commit_acceptance(new.header)
        responder.to_bytes()
        t2 = time.process_time()
        init_ms.append((t1 - t0) * 1000)
        resp_ms.append((t2 - t1) * 1000)
    return {
        "x3dh_initiator_ms_median": statistics.median(init_ms),
        "x3dh_responder_ms_median": statistics.median(resp_ms),
        "x3dh_initiator_ms_p95": sorted(init_ms)[int(0.95 * len(init_ms))],
        "x3dh_responder_ms_p95": sorted(resp_ms)[int(0.95 * len(resp_ms))],
    }


def bench_product_path(n: int, payloads: list[bytes]) -> dict[str, float]:
    """Per message, what the node commits before it sends or acknowledges (module docstring)."""
    from umbra.store import create_profile

    with tempfile.TemporaryDirectory() as tmp:
        pa = create_profile(tmp, "a", "pw", params=CHEAP)
        pb = create_profile(tmp, "b", "pw", params=CHEAP)
        try:
            stores = DatabaseSessionStore(pa.db), DatabaseSessionStore(pb.db)
            inbox_a, payloads_b = Inbox(pa.db), PayloadStore(pb.db)
            a, changes = SessionManager.create(pa.identity.signing, now=NOW)
            stores[0].save(changes)
            b, changes = SessionManager.create(pb.identity.signing, now=NOW)
            stores[1].save(changes)
            to_b = pb.identity.signing_public
            bundle = b.prekey_bundle(pb.identity.signing, now=NOW)
            b.open_envelope(a.encrypt(to_b, b"x", now=NOW, bundle=bundle).envelope)
            a.decrypt(b.encrypt(pa.identity.signing_public, b"y", now=NOW).message)
            counter = iter(range(10**9))

            def one(body: bytes) -> None:
                (chunk,) = split_payload(next(counter).to_bytes(16, "big"), "bench", body,
                                         sent_at=NOW)  # fmt: skip
                out = a.encrypt(to_b, chunk.to_bytes(), now=NOW)
                with pa.db.transaction():
                    stores[0].save(out.changes)
                    inbox_a.payloads.mark_encrypted(chunk.msg_id, 0, out.envelope, out.mailbox_id)
                incoming = b.open_envelope(out.envelope)
                parsed = parse_plaintext(incoming.plaintext)
                assert isinstance(parsed, PayloadChunk)
                with pb.db.transaction():
                    stores[1].save(incoming.changes)
                    payloads_b.record_chunk(incoming.sender, parsed, now=NOW)

            def run() -> None:
                for body in payloads:
                    one(body)

            return {"product_path_steady": _rate(run, n, key="product_path_steady")}
        finally:
            pa.close()
            pb.close()


def bench_latency(rounds: int) -> dict[str, float]:
    """Delivery latency between real nodes in this process (module docstring)."""
    import trio

    return trio.run(_latency, rounds)


async def _latency(rounds: int) -> dict[str, float]:
    import trio

    from umbra.net import CLEARNET, NodeConfig, open_node
    from umbra.net.messaging import MessagingService, PayloadQueue
    from umbra.store import create_profile

    big = os.urandom(300_000)
    out: dict[str, list[float]] = {"online_small": [], "online_300kb": []}
    with tempfile.TemporaryDirectory() as tmp:
        profiles = [create_profile(tmp, f"n{i}", "pw", params=CHEAP) for i in range(3)]
        m_profile, a_profile, b_profile = profiles
        b_key = b_profile.identity.signing_public
        try:
            async with trio.open_nursery() as nursery:

                async def launch(profile: Any, ip: int, boot: tuple[str, ...]) -> Any:
                    """A node and its messaging service; returns (service, node, cancel scope)."""
                    scope = trio.CancelScope()
                    ready = trio.Event()
                    box: dict[str, Any] = {}

                    async def run() -> None:
                        with scope:
                            cfg = NodeConfig(
                                network=CLEARNET,
                                listen=(f"/ip4/127.0.0.{ip}/tcp/0",),
                                bootstrap=boot,
                            )
                            async with open_node(profile, cfg) as node, trio.open_nursery() as n:
                                box["svc"] = await n.start(MessagingService(node, profile).serve)
                                box["node"] = node
                                ready.set()
                                await trio.sleep_forever()

                    nursery.start_soon(run)
                    await ready.wait()
                    return box["svc"], box["node"], scope

                _, m_node, _ = await launch(m_profile, 50, ())
                boot = (m_node.addrs[0],)
                a_svc, _, _ = await launch(a_profile, 51, boot)
                b_svc, _, b_scope = await launch(b_profile, 52, boot)

                async def received(svc: Any, count: int) -> None:
                    queue = PayloadQueue(svc._profile.db)
                    while True:
                        event = svc.payload_arrived
                        if len(await svc._db(queue.pending, "bench", 1000)) >= count:
                            return
                        with trio.move_on_after(0.05):  # also see arrivals of a restarted service
                            await event.wait()

                async def send_online(body: bytes, count: int) -> float:
                    start = time.perf_counter()
                    await a_svc.queue_payload(b_key, "bench", body)
                    await received(b_svc, count)
                    return (time.perf_counter() - start) * 1000

                with trio.fail_after(120):  # first contact: DHT lookup, X3DH
                    first_ms = await send_online(b"hello", 1)
                count = 1
                for _ in range(rounds):
                    count += 1
                    out["online_small"].append(await send_online(b"x" * 200, count))
                for _ in range(max(3, rounds // 4)):
                    count += 1
                    out["online_300kb"].append(await send_online(big, count))

                # Mailbox: B is stopped; A's chunks go to the mailbox peer.
                b_scope.cancel()
                await trio.sleep(0.5)
                start = time.perf_counter()
                msg_id = await a_svc.queue_payload(b_key, "bench", big)
                with trio.fail_after(300):
                    while True:
                        sent = await a_svc._db(a_svc.inbox.payloads.outbound, msg_id)
                        if sent is not None and sent.status == "stored":
                            break
                        await trio.sleep(0.02)
                stored_ms = (time.perf_counter() - start) * 1000
                start = time.perf_counter()
                b_svc, _, b_scope = await launch(b_profile, 52, boot)
                with trio.fail_after(300):
                    await received(b_svc, count + 1)
                fetched_ms = (time.perf_counter() - start) * 1000
                nursery.cancel_scope.cancel()
        finally:
            for p in profiles:
                p.close()
    return {
        "latency_first_contact_ms": first_ms,
        "latency_online_small_ms_median": statistics.median(out["online_small"]),
        "latency_online_small_ms_p95": sorted(out["online_small"])[
            int(0.95 * (len(out["online_small"]) - 1))
        ],
        "latency_online_300kb_ms_median": statistics.median(out["online_300kb"]),
        "latency_mailbox_300kb_stored_ms": stored_ms,
        "latency_mailbox_300kb_after_restart_ms": fetched_ms,
    }


MEASUREMENTS: dict[str, Callable[[argparse.Namespace, list[bytes]], dict[str, float]]] = {
    "reference": lambda args, payloads: bench_reference(args.messages, payloads),
    "ratchet": lambda args, payloads: bench_ratchet(args.messages, payloads),
    "sessions": lambda args, payloads: bench_sessions(args.messages, payloads),
    "setup": lambda args, payloads: bench_setup(args.setups),
    "product": lambda args, payloads: bench_product_path(
        min(args.messages, 2000), payloads[: min(args.messages, 2000)]
    ),
    "latency": lambda args, payloads: bench_latency(args.rounds),
}


def _env() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "note": "shared machine: rates use process CPU time (median of runs; 'best' is the"
        " best run); latencies are wall-clock ms; compare rows of one run",
    }


def merge_results(path: Path, results: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Merge ``results`` into the report at ``path``, keeping keys this run did not measure."""
    report: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    report.setdefault("benchmark", "messaging")
    report["unit"] = (
        "messages/s = encrypt+decrypt pairs per second of process CPU time, in-process;"
        " setup times in CPU ms; latency_* in wall-clock ms"
    )
    report.setdefault("params", {}).update(params)
    report["target_messages_per_s"] = TARGET
    merged = report.setdefault("results", {})
    merged.update({k: round(v, 3) if isinstance(v, float) else v for k, v in results.items()})
    report.setdefault("best", {}).update({k: round(v, 1) for k, v in BEST.items()})
    meets = report.setdefault("meets_target_steady", {})
    for name, key in (("ratchet", "ratchet_steady"), ("sessions", "sessions_steady"),
                      ("sessions_sealed", "sessions_sealed_steady"),
                      ("product_path", "product_path_steady")):  # fmt: skip
        if key in merged:
            meets[name] = merged[key] >= TARGET
    report["env"] = _env()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return report


def main() -> None:
    global RUNS
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", default="reference,ratchet,sessions,setup,product,latency",
                        help=f"comma-separated, of: {', '.join(MEASUREMENTS)}")  # fmt: skip
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--size", type=int, default=200, help="plaintext bytes per message")
    parser.add_argument("--setups", type=int, default=200)
    parser.add_argument("--runs", type=int, default=RUNS, help="runs per rate (median)")
    parser.add_argument("--rounds", type=int, default=20, help="online latency samples")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results/messaging.json"
    )
    args = parser.parse_args()
    RUNS = args.runs
    chosen = [m.strip() for m in args.only.split(",") if m.strip()]
    unknown = set(chosen) - set(MEASUREMENTS)
    if unknown:
        parser.error(f"unknown measurement(s): {', '.join(sorted(unknown))}")
    payloads = [nacl.utils.random(args.size) for _ in range(args.messages)]
    results: dict[str, Any] = {}
    for name in chosen:
        results.update(MEASUREMENTS[name](args, payloads))
        print(f"{name}: done", file=sys.stderr)
    params = {"messages": args.messages, "size": args.size, "setups": args.setups,
              "runs": args.runs, "rounds": args.rounds}  # fmt: skip
    print(json.dumps(merge_results(args.out, results, params), indent=2))


if __name__ == "__main__":
    main()
