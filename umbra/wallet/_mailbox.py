"""A durable file mailbox carrying escrow messages between parties on one machine.

The escrow logic is transport-agnostic: it only needs "send these bytes to that role" and
"give me what arrived". This mailbox does that with files (write to a temporary name, fsync,
rename), so it works between tasks of one process and between processes that get SIGKILLed.
A message is deleted only after the receiver committed the step it caused (``ack``), so
delivery is at-least-once and the state machine ignores duplicates. The network issue
replaces this with the node's encrypted messaging, carrying the same bytes.

`DatabaseMailbox` is the same contract inside the profile's encrypted database: a node's
escrow driver and its trade bridge (which carries the bytes over end-to-end encrypted
messages) hand messages over through it, so nothing of an escrow is written in plaintext.
"""

import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from umbra.store import make_private_dirs

if TYPE_CHECKING:
    from ._state_store import DatabaseLike


class Mailbox:
    """Inboxes under ``root/<escrow>/<role>/``."""

    def __init__(self, root: Path, escrow_id: str, role: str) -> None:
        self._base = Path(root) / escrow_id
        self._role = role
        self.inbox = self._base / role
        make_private_dirs(self.inbox)

    def send(self, to: str, data: bytes) -> None:
        box = self._base / to
        make_private_dirs(box)
        digest = hashlib.sha256(data).hexdigest()[:24]
        name = f"{time.time_ns():020d}-{self._role}-{digest}.msg"
        if any(p.name.endswith(f"-{self._role}-{digest}.msg") for p in box.iterdir()):
            return  # the same message is already waiting there
        tmp = box / f".{name}.tmp"
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
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


MAIL_NAMESPACE = "wallet_mail"
MAIL_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE wallet_escrow_mail (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        escrow TEXT NOT NULL,
        to_role TEXT NOT NULL,
        from_role TEXT NOT NULL,
        digest BLOB NOT NULL,
        data BLOB NOT NULL,
        UNIQUE (escrow, to_role, from_role, digest)
    );
    """,
)


class EscrowMailbox(Protocol):
    """What the escrow driver needs of a mailbox: at-least-once, acknowledged after commit."""

    def send(self, to: str, data: bytes) -> None: ...

    def receive(self) -> Sequence[tuple[Any, bytes]]: ...

    def ack(self, ref: Any) -> None: ...


@dataclass(frozen=True)
class WaitingMail:
    """A message in a profile's database mailbox."""

    ref: int
    escrow_id: str
    to_role: str
    from_role: str
    data: bytes


class DatabaseMailbox:
    """The same mailbox inside the profile's encrypted database.

    A node uses it to hand escrow messages between its escrow driver and its trade bridge,
    so multisig set-up data never sits in plaintext files, and a hand-over commits in the
    same database as the step that caused it.
    """

    def __init__(self, db: "DatabaseLike", escrow_id: str, role: str) -> None:
        self._db = db
        self._escrow = escrow_id
        self._role = role
        db.migrate(MAIL_NAMESPACE, MAIL_MIGRATIONS)

    def send(self, to: str, data: bytes) -> None:
        digest = hashlib.sha256(data).digest()
        with self._db.transaction():
            self._db.execute(
                "INSERT OR IGNORE INTO wallet_escrow_mail"
                " (escrow, to_role, from_role, digest, data) VALUES (?, ?, ?, ?, ?)",
                (self._escrow, to, self._role, digest, data),
            )

    def receive(self) -> list[tuple[int, bytes]]:
        """Everything waiting for this escrow and role, oldest first (not yet acknowledged)."""
        rows = self._db.query(
            "SELECT id, data FROM wallet_escrow_mail WHERE escrow = ? AND to_role = ? ORDER BY id",
            (self._escrow, self._role),
        )
        return [(int(r[0]), bytes(r[1])) for r in rows]

    def ack(self, ref: int) -> None:
        self.remove(self._db, ref)

    @staticmethod
    def waiting(db: "DatabaseLike") -> list[WaitingMail]:
        """Every message waiting in this database, oldest first (for a relay to other nodes).

        The table must exist: make one `DatabaseMailbox` (or call `prepare`) first."""
        rows = db.query(
            "SELECT id, escrow, to_role, from_role, data FROM wallet_escrow_mail ORDER BY id"
        )
        return [WaitingMail(int(r[0]), str(r[1]), str(r[2]), str(r[3]), bytes(r[4])) for r in rows]

    @staticmethod
    def prepare(db: "DatabaseLike") -> None:
        db.migrate(MAIL_NAMESPACE, MAIL_MIGRATIONS)

    @staticmethod
    def import_files(db: "DatabaseLike", root: Path) -> int:
        """Move messages left in a file mailbox under ``root`` (older versions) into ``db``."""
        if not root.is_dir():
            return 0
        moved = 0
        for path in sorted(root.glob("*/*/*.msg")):
            parts = path.name.split("-")
            if len(parts) < 3:
                continue
            escrow_id, to_role, from_role = path.parent.parent.name, path.parent.name, parts[1]
            DatabaseMailbox(db, escrow_id, from_role).send(to_role, path.read_bytes())
            path.unlink()
            moved += 1
        return moved

    @staticmethod
    def remove(db: "DatabaseLike", ref: int) -> None:
        with db.transaction():
            db.execute("DELETE FROM wallet_escrow_mail WHERE id = ?", (int(ref),))
