"""The watchdog's own process: probes the victim's API and samples its RSS.

Run as ``python _watchdog_proc.py PID BASE_URL TOKEN``, until SIGTERM, the victim's end or
its parent's. It prints one JSON line per event on stdout ("ready", every probe with how long
it took, every new RSS peak, a kill, a death) with CLOCK_MONOTONIC times, which the test maps
to what it was sending then. It runs apart from the test process so that the attacker's CPU
use (Noise handshakes for hundreds of streams, building bombs) cannot delay a probe and fake
a hang.
"""

import json
import os
import signal
import sys
import threading
import time

import httpx
import psutil

PROBE_INTERVAL_S = 0.5
PROBE_DEADLINE_S = 1.0
RSS_SAMPLE_S = 0.1
RSS_KILL = 1024 << 20
PROBE_PATH = "/api/v1/profile"  # on the node's loop, and through its database limiter

_out_lock = threading.Lock()
_stop = threading.Event()


def emit(**event: object) -> None:
    with _out_lock:
        try:
            print(json.dumps(event), flush=True)
        except (BrokenPipeError, ValueError):  # the test stopped listening: stop too
            _stop.set()


def probe_loop(base: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    # Generous transport timeouts: a late answer is recorded as late, not as an error.
    with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
        while not _stop.is_set():
            started = time.monotonic()
            try:
                ok = http.get(PROBE_PATH).status_code == 200
            except httpx.HTTPError:
                ok = False
            took = time.monotonic() - started
            emit(probe=started, took=took, ok=ok)
            _stop.wait(max(0.0, PROBE_INTERVAL_S - took))


def rss_loop(pid: int) -> None:
    proc = psutil.Process(pid)
    peak = 0
    while not _stop.is_set():
        try:
            rss = proc.memory_info().rss
        except psutil.Error:
            emit(died=time.monotonic())
            _stop.set()  # nothing left to watch
            return
        if rss > peak:
            peak = rss
            emit(rss=rss, at=time.monotonic())
        if rss > RSS_KILL:
            proc.send_signal(signal.SIGKILL)
            emit(killed=time.monotonic())
            _stop.set()
            return
        _stop.wait(RSS_SAMPLE_S)


def main() -> None:
    pid, base, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    signal.signal(signal.SIGTERM, lambda *_: _stop.set())
    threads = [
        threading.Thread(target=probe_loop, args=(base, token), daemon=True),
        threading.Thread(target=rss_loop, args=(pid,), daemon=True),
    ]
    parent = os.getppid()
    emit(ready=time.monotonic())
    for thread in threads:
        thread.start()
    # Also stop if the test process is gone (killed, or failed before it could stop us).
    while not _stop.is_set() and os.getppid() == parent:
        _stop.wait(0.2)
    _stop.set()
    for thread in threads:
        thread.join(timeout=12)


if __name__ == "__main__":
    main()
