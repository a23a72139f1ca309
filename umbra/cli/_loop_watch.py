"""`serve_loop_watch`: a node's watch on its own trio loop.

Everything a node does (pages, peers, trades, the wallet) runs as tasks of one trio loop; a
synchronous call made on the loop thread stalls them all at once, and from outside that looks
like a hang with an empty log. A watcher thread notices when the loop has not come back for
`LOOP_STALL_S` and logs the loop thread's stack at that moment (which call holds it), once
per stall; the loop, when it runs again, logs how long it was held. Only code locations are
logged (file, line, function): never arguments, addresses or data.
"""

import logging
import sys
import threading
import time
import traceback
from typing import Any

import trio

log = logging.getLogger(__name__)

LOOP_STALL_S = 5.0
_BEAT_S = 0.25
_STACK_FRAMES = 8


async def serve_loop_watch(
    *,
    stall_s: float = LOOP_STALL_S,
    beat_s: float = _BEAT_S,
    task_status: Any = trio.TASK_STATUS_IGNORED,  # trio.TaskStatus[None]; the stubs lack it
) -> None:
    """Watch this trio loop until cancelled (start it in the node's nursery)."""
    loop_thread = threading.get_ident()
    beat = [time.monotonic()]
    stop = threading.Event()

    def watch() -> None:
        reported = 0.0
        while not stop.wait(beat_s):
            last = beat[0]
            held = time.monotonic() - last
            if held >= stall_s and last != reported:
                reported = last
                log.warning(
                    "the event loop has not run for %.1f s; it is held by:\n%s",
                    held,
                    _stack_of(loop_thread),
                )

    watcher = threading.Thread(target=watch, name="umbra-loop-watch", daemon=True)
    watcher.start()
    task_status.started()
    try:
        while True:
            before = time.monotonic()
            beat[0] = before
            await trio.sleep(beat_s)
            late = time.monotonic() - before - beat_s
            if late >= stall_s:
                log.warning("the event loop was held for %.1f s", late)
    finally:
        stop.set()
        watcher.join(timeout=2 * beat_s)


def _stack_of(thread_id: int) -> str:
    frame = sys._current_frames().get(thread_id)
    if frame is None:
        return "  (the loop's thread is gone)"
    frames = traceback.extract_stack(frame)[-_STACK_FRAMES:]
    return "\n".join(f"  {_short(f.filename)}:{f.lineno} in {f.name}" for f in frames)


def _short(path: str) -> str:
    """The path from the package's name on (no home directory or install path in a log)."""
    parts = path.replace("\\", "/").split("/")
    for anchor in ("umbra", "site-packages"):
        if anchor in parts:
            return "/".join(parts[len(parts) - parts[::-1].index(anchor) - 1 :])
    return parts[-1]
