"""Benchmark of messaging crypto, in one process: Double Ratchet sessions over X3DH.

Run: ``.venv/bin/python bench/messaging.py [--messages 5000] [--size 200] [--setups 200]``

Measures, each as encrypt+decrypt of the same payloads (messages/s, median of 3 runs):

- ``ratchet_steady``: one direction, no DH ratchet step (core `RatchetSession`).
- ``ratchet_dh_step_each``: ping-pong, so every message carries a new ratchet key and costs
  a DH ratchet step on both sides.
- ``sessions_steady`` / ``sessions_dh_step_each``: the same through the session layer
  (`SessionManager`): wire encoding and strict parsing, and the serialized state a driver
  saves after every call (the database write itself is not included).
- ``sessions_sealed_steady``: plus sealing/opening the envelope (what a mailbox peer holds).
- ``secretbox_reference``: PyNaCl SecretBox encrypt+decrypt of the same payloads with one
  fixed key: the ceiling for any per-message AEAD in Python.
- X3DH session setup: initiator (verify bundle, X3DH, first message) and responder (X3DH,
  first message, consume and refill the one-time prekey, serialize the identity).

Rates are per second of this process's CPU time (``time.process_time``), so other load on
a shared machine distorts them less than wall time would. Writes
``bench/results/messaging.json``. Target: >= 3,000 messages/s steady state.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.secret
import nacl.utils

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from umbra.core.crypto import MessagingIdentity, PrekeyBundle, RatchetSession, SigningKey
from umbra.net.messaging import SessionManager

NOW = 1_700_000_000
TARGET = 3000


def _rate(fn: Callable[[], None], count: int, runs: int = 3) -> float:
    """Messages per second of this process's CPU time (robust on a shared machine)."""
    rates = []
    for _ in range(runs):
        start = time.process_time()
        fn()
        rates.append(count / (time.process_time() - start))
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

    return {"ratchet_steady": _rate(steady, n), "ratchet_dh_step_each": _rate(ping_pong, n)}


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

    return {
        "sessions_steady": _rate(steady, n),
        "sessions_dh_step_each": _rate(ping_pong, n),
        "sessions_sealed_steady": _rate(sealed, n),
    }


def bench_reference(n: int, payloads: list[bytes]) -> dict[str, float]:
    box = nacl.secret.SecretBox(nacl.utils.random(32))

    def run() -> None:
        for p in payloads:
            box.decrypt(box.encrypt(p))

    return {"secretbox_reference": _rate(run, n)}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--size", type=int, default=200, help="plaintext bytes per message")
    parser.add_argument("--setups", type=int, default=200)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results/messaging.json"
    )
    args = parser.parse_args()
    payloads = [nacl.utils.random(args.size) for _ in range(args.messages)]

    results: dict[str, Any] = {}
    results.update(bench_reference(args.messages, payloads))
    results.update(bench_ratchet(args.messages, payloads))
    results.update(bench_sessions(args.messages, payloads))
    results.update(bench_setup(args.setups))
    results = {k: round(v, 3) if isinstance(v, float) else v for k, v in results.items()}
    report = {
        "benchmark": "messaging",
        "unit": "messages/s = encrypt+decrypt pairs per second of process CPU time, in-process;"
        " setup times in CPU ms",
        "params": {"messages": args.messages, "size": args.size, "setups": args.setups},
        "target_messages_per_s": TARGET,
        "meets_target_steady": {
            "ratchet": results["ratchet_steady"] >= TARGET,
            "sessions": results["sessions_steady"] >= TARGET,
        },
        "results": results,
        "env": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
            "note": "shared machine: rates use process CPU time; compare rows of one run",
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
