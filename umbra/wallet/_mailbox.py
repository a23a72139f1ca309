"""A durable file mailbox carrying escrow messages between parties on one machine.

The escrow logic is transport-agnostic: it only needs "send these bytes to that role" and
"give me what arrived". This mailbox does that with files (write to a temporary name, fsync,
rename), so it works between tasks of one process and between processes that get SIGKILLed.
A message is deleted only after the receiver committed the step it caused (``ack``), so
delivery is at-least-once and the state machine ignores duplicates. The network issue
replaces this with the node's encrypted messaging, carrying the same bytes.
"""

import hashlib
import os
import time
from pathlib import Path


class Mailbox:
    """Inboxes under ``root/<escrow>/<role>/``."""

    def __init__(self, root: Path, escrow_id: str, role: str) -> None:
        self._base = Path(root) / escrow_id
        self._role = role
        self.inbox = self._base / role
        self.inbox.mkdir(parents=True, exist_ok=True)

    def send(self, to: str, data: bytes) -> None:
        box = self._base / to
        box.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(data).hexdigest()[:24]
        name = f"{time.time_ns():020d}-{self._role}-{digest}.msg"
        if any(p.name.endswith(f"-{self._role}-{digest}.msg") for p in box.iterdir()):
            return  # the same message is already waiting there
        tmp = box / f".{name}.tmp"
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        tmp.rename(box / name)

    def receive(self) -> list[tuple[Path, bytes]]:
        """Everything waiting, oldest first (not yet acknowledged)."""
        items = []
        for path in sorted(self.inbox.glob("*.msg")):
            try:
                items.append((path, path.read_bytes()))
            except FileNotFoundError:
                continue
        return items

    def ack(self, path: Path) -> None:
        path.unlink(missing_ok=True)
