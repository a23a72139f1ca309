"""Durable typed payloads: the outbound chunk queue, reassembly, and the inbound queue.

Tables live under the store namespace ``net.payloads``:

- ``outbound_payloads`` / ``payload_outbox``: `PayloadStore.queue_at` writes a payload and
  all its chunks in one transaction; the node encrypts each chunk once (envelope saved with
  the session state), delivers it like a chat message and records the outcome per chunk.
- ``payload_chunks``: chunks of incoming multi-chunk payloads being reassembled.
- ``inbound_payloads``: complete incoming payloads, in arrival order (``seq``), unique per
  ``(sender, msg_id)``. A consumer reads them with `PayloadQueue.pending` and marks each one
  consumed (`PayloadQueue.consume`) inside its own transaction; the row stays (its body
  cleared) so a late duplicate is still recognised.

`record_chunk` is meant to run inside the transaction that saves the session state after a
decrypt, so "decrypted", "queued" and (afterwards) "acknowledged" cannot come apart.
"""

import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

from umbra.core import UsageError
from umbra.store import Database

from ._payloads import (
    Partial,
    PayloadChunk,
    ReassemblyLimits,
    assemble,
    check_kind,
    decide,
    split_payload,
)

NAMESPACE = "net.payloads"
MIGRATIONS = [
    """
    CREATE TABLE outbound_payloads (
        msg_id BLOB PRIMARY KEY CHECK (length(msg_id) = 16),
        peer BLOB NOT NULL CHECK (length(peer) = 32),
        kind TEXT NOT NULL,
        size INTEGER NOT NULL,
        parts INTEGER NOT NULL,
        queued_at INTEGER NOT NULL,
        sent_parts INTEGER NOT NULL DEFAULT 0,
        stored_parts INTEGER NOT NULL DEFAULT 0,        -- parts left with mailbox peers
        status TEXT NOT NULL                            -- queued, sending, delivered, stored
    );
    CREATE TABLE payload_outbox (
        msg_id BLOB NOT NULL,
        part INTEGER NOT NULL,
        peer BLOB NOT NULL,
        plaintext BLOB NOT NULL,                        -- the encoded chunk
        envelope BLOB,                                  -- NULL until encrypted
        mailbox BLOB,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_try INTEGER NOT NULL,
        queued_at INTEGER NOT NULL,
        PRIMARY KEY (msg_id, part)
    );
    CREATE INDEX payload_outbox_due ON payload_outbox (next_try);
    CREATE TABLE payload_chunks (
        sender BLOB NOT NULL,
        msg_id BLOB NOT NULL,
        part INTEGER NOT NULL,
        kind TEXT NOT NULL,
        sent_at INTEGER NOT NULL,
        parts INTEGER NOT NULL,
        size INTEGER NOT NULL,
        data BLOB NOT NULL,
        received_at INTEGER NOT NULL,
        PRIMARY KEY (sender, msg_id, part)
    );
    CREATE TABLE inbound_payloads (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        sender BLOB NOT NULL CHECK (length(sender) = 32),
        msg_id BLOB NOT NULL CHECK (length(msg_id) = 16),
        kind TEXT NOT NULL,
        body BLOB NOT NULL,                             -- emptied once consumed
        sent_at INTEGER NOT NULL,                       -- the sender's clock (claimed)
        received_at INTEGER NOT NULL,
        consumed_at INTEGER,
        UNIQUE (sender, msg_id)
    );
    CREATE INDEX inbound_payloads_pending ON inbound_payloads (kind, seq)
        WHERE consumed_at IS NULL;
    """,
]

OutboundStatus = Literal["queued", "sending", "delivered", "stored"]
ChunkOutcome = Literal["queued", "held", "duplicate", "refused"]


@dataclass(frozen=True)
class InboundPayload:
    seq: int
    sender: bytes  # the sender persona's key (authenticated by the session)
    kind: str
    body: bytes
    received_at: int
    msg_id: bytes
    sent_at: int


@dataclass(frozen=True)
class OutboundPayload:
    msg_id: bytes
    peer: bytes
    kind: str
    size: int
    parts: int
    sent_parts: int
    status: str
    queued_at: int


@dataclass(frozen=True)
class PayloadOutboxRow:
    peer: bytes
    msg_id: bytes
    part: int
    plaintext: bytes
    envelope: bytes | None
    mailbox: bytes | None
    attempts: int
    queued_at: int


def _migrate(db: Database) -> None:
    db.migrate(NAMESPACE, MIGRATIONS)


class PayloadQueue:
    """The consumer's view of incoming payloads (the trade driver uses it).

    Synchronous. Call `consume` inside the consumer's own ``db.transaction()``, together with
    the state change the payload caused, so both commit or neither does.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        _migrate(db)

    def pending(self, kind: str, limit: int = 100, *, after: int = 0) -> list[InboundPayload]:
        """Unconsumed payloads of ``kind`` with a ``seq`` above ``after``, oldest first (a
        consumer that leaves some waiting pages past them with ``after``)."""
        rows = self._db.query(
            "SELECT seq, sender, kind, body, received_at, msg_id, sent_at FROM inbound_payloads"
            " WHERE kind = ? AND consumed_at IS NULL AND seq > ? ORDER BY seq LIMIT ?",
            (kind, after, limit),
        )
        return [
            InboundPayload(int(r[0]), bytes(r[1]), r[2], bytes(r[3]), int(r[4]), bytes(r[5]),
                           int(r[6]))
            for r in rows
        ]  # fmt: skip

    def consume(self, seq: int, *, now: int | None = None) -> None:
        """Mark a payload consumed (its body is dropped). Raises: UsageError (not pending)."""
        changed = self._db.execute(
            "UPDATE inbound_payloads SET consumed_at = ?, body = x''"
            " WHERE seq = ? AND consumed_at IS NULL",
            (int(time.time()) if now is None else now, seq),
        )
        if changed != 1:
            raise UsageError(f"payload {seq} is not pending")


class PayloadStore:
    """The node's side: outbound chunk queue and reassembly of incoming chunks."""

    def __init__(self, db: Database, limits: ReassemblyLimits | None = None) -> None:
        self._db = db
        self._limits = limits or ReassemblyLimits()
        _migrate(db)

    # -- sending -------------------------------------------------------------------------------

    def queue_at(self, peer: bytes, kind: str, body: bytes, *, now: int) -> bytes:
        """Queue a payload for ``peer``; returns its message id. Raises: UsageError."""
        check_kind(kind)
        if len(peer) != 32:
            raise UsageError("the recipient must be a persona key")
        msg_id = secrets.token_bytes(16)
        chunks = split_payload(msg_id, kind, bytes(body), sent_at=now)
        with self._db.transaction():
            self._db.execute(
                "INSERT INTO outbound_payloads (msg_id, peer, kind, size, parts, queued_at, status)"
                " VALUES (?, ?, ?, ?, ?, ?, 'queued')",
                (msg_id, peer, kind, len(body), len(chunks), now),
            )
            self._db.executemany(
                "INSERT INTO payload_outbox (msg_id, part, peer, plaintext, next_try, queued_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(msg_id, c.part, peer, c.to_bytes(), now, now) for c in chunks],
            )
        return msg_id

    def due_at(self, now: int, *, limit: int) -> list[PayloadOutboxRow]:
        rows = self._db.query(
            "SELECT peer, msg_id, part, plaintext, envelope, mailbox, attempts, queued_at"
            " FROM payload_outbox WHERE next_try <= ? ORDER BY queued_at, rowid LIMIT ?",
            (now, limit),
        )
        return [
            PayloadOutboxRow(
                bytes(r[0]), bytes(r[1]), int(r[2]), bytes(r[3]),
                None if r[4] is None else bytes(r[4]), None if r[5] is None else bytes(r[5]),
                int(r[6]), int(r[7]),
            )
            for r in rows
        ]  # fmt: skip

    def has_due_at(self, now: int) -> bool:
        row = self._db.scalar("SELECT 1 FROM payload_outbox WHERE next_try <= ? LIMIT 1", (now,))
        return row is not None

    def mark_encrypted(self, msg_id: bytes, part: int, envelope: bytes, mailbox: bytes) -> None:
        """Record a chunk's envelope (call in the transaction that saves the session state)."""
        with self._db.transaction():
            self._db.execute(
                "UPDATE payload_outbox SET envelope = ?, mailbox = ? WHERE msg_id = ? AND part = ?",
                (envelope, mailbox, msg_id, part),
            )
            self._db.execute(
                "UPDATE outbound_payloads SET status = 'sending'"
                " WHERE msg_id = ? AND status = 'queued'",
                (msg_id,),
            )

    def mark_sent(self, msg_id: bytes, part: int, status: Literal["delivered", "stored"]) -> None:
        """A chunk was delivered or left with mailbox peers: drop it from the outbox."""
        with self._db.transaction():
            removed = self._db.execute(
                "DELETE FROM payload_outbox WHERE msg_id = ? AND part = ?", (msg_id, part)
            )
            if not removed:
                return
            self._db.execute(
                "UPDATE outbound_payloads SET sent_parts = sent_parts + 1,"
                " stored_parts = stored_parts + ? WHERE msg_id = ?",
                (int(status == "stored"), msg_id),
            )
            self._db.execute(
                "UPDATE outbound_payloads SET status = CASE WHEN stored_parts > 0"
                " THEN 'stored' ELSE 'delivered' END WHERE msg_id = ? AND sent_parts = parts",
                (msg_id,),
            )

    def retry_at(self, msg_id: bytes, part: int, when: int) -> None:
        self._db.execute(
            "UPDATE payload_outbox SET attempts = attempts + 1, next_try = ?"
            " WHERE msg_id = ? AND part = ?",
            (when, msg_id, part),
        )

    def outbound(self, msg_id: bytes) -> OutboundPayload | None:
        row = self._db.query_one(
            "SELECT msg_id, peer, kind, size, parts, sent_parts, status, queued_at"
            " FROM outbound_payloads WHERE msg_id = ?",
            (msg_id,),
        )
        if row is None:
            return None
        return OutboundPayload(bytes(row[0]), bytes(row[1]), row[2], int(row[3]), int(row[4]),
                               int(row[5]), row[6], int(row[7]))  # fmt: skip

    # -- receiving -----------------------------------------------------------------------------

    def record_chunk(self, sender: bytes, chunk: PayloadChunk, *, now: int) -> ChunkOutcome:
        """Hold or queue an authenticated chunk from ``sender`` (see `_payloads.decide`).

        Call inside the transaction that saves the session state: the outcome is durable
        exactly when the ratchet step is.
        """
        with self._db.transaction():
            done = self._db.scalar(
                "SELECT 1 FROM inbound_payloads WHERE sender = ? AND msg_id = ?",
                (sender, chunk.msg_id),
            )
            partial = self._partial(sender, chunk.msg_id)
            open_for_peer = int(
                self._db.scalar(
                    "SELECT COUNT(*) FROM (SELECT msg_id FROM payload_chunks WHERE sender = ?"
                    " GROUP BY msg_id HAVING MIN(received_at) > ?)",
                    (sender, now - self._limits.ttl_s),
                )
            )
            decision = decide(
                chunk,
                done=done is not None,
                partial=partial,
                open_for_peer=open_for_peer,
                now=now,
                limits=self._limits,
            )
            if partial is not None and now - partial.started_at >= self._limits.ttl_s:
                self._drop(sender, chunk.msg_id)
            match decision.action:
                case "duplicate":
                    return "duplicate"
                case "refuse":
                    return "refused"
                case "deliver":
                    self._enqueue(sender, chunk, chunk.data, now)
                    return "queued"
                case "hold":
                    self._hold(sender, chunk, now)
                    return "held"
                case "complete":
                    pieces = self._pieces(sender, chunk.msg_id)
                    pieces[chunk.part] = chunk.data
                    self._enqueue(sender, chunk, assemble(pieces, chunk.size), now)
                    self._drop(sender, chunk.msg_id)
                    return "queued"
        raise AssertionError(decision)  # pragma: no cover - every action returns above

    def _partial(self, sender: bytes, msg_id: bytes) -> Partial | None:
        rows = self._db.query(
            "SELECT part, kind, sent_at, parts, size, received_at FROM payload_chunks"
            " WHERE sender = ? AND msg_id = ?",
            (sender, msg_id),
        )
        if not rows:
            return None
        first = rows[0]
        return Partial(
            first[1],
            int(first[2]),
            int(first[3]),
            int(first[4]),
            frozenset(int(r[0]) for r in rows),
            min(int(r[5]) for r in rows),
        )

    def _pieces(self, sender: bytes, msg_id: bytes) -> dict[int, bytes]:
        rows = self._db.query(
            "SELECT part, data FROM payload_chunks WHERE sender = ? AND msg_id = ?",
            (sender, msg_id),
        )
        return {int(r[0]): bytes(r[1]) for r in rows}

    def _hold(self, sender: bytes, chunk: PayloadChunk, now: int) -> None:
        self._db.execute(
            "INSERT INTO payload_chunks (sender, msg_id, part, kind, sent_at, parts, size, data,"
            " received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (sender, chunk.msg_id, chunk.part, chunk.kind, chunk.sent_at, chunk.parts,
             chunk.size, chunk.data, now),
        )  # fmt: skip

    def _drop(self, sender: bytes, msg_id: bytes) -> None:
        self._db.execute(
            "DELETE FROM payload_chunks WHERE sender = ? AND msg_id = ?", (sender, msg_id)
        )

    def _enqueue(self, sender: bytes, chunk: PayloadChunk, body: bytes, now: int) -> None:
        self._db.execute(
            "INSERT INTO inbound_payloads (sender, msg_id, kind, body, sent_at, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (sender, chunk.msg_id, chunk.kind, body, chunk.sent_at, now),
        )

    def purge_at(self, now: int) -> int:
        """Drop incomplete payloads whose first chunk is older than the limit; returns chunks."""
        return self._db.execute(
            "DELETE FROM payload_chunks WHERE (sender, msg_id) IN (SELECT sender, msg_id FROM"
            " payload_chunks GROUP BY sender, msg_id HAVING MIN(received_at) <= ?)",
            (now - self._limits.ttl_s,),
        )

    def statistics(self) -> dict[str, Any]:
        return {
            "outbox_chunks": int(self._db.scalar("SELECT COUNT(*) FROM payload_outbox")),
            "held_chunks": int(self._db.scalar("SELECT COUNT(*) FROM payload_chunks")),
            "pending_inbound": int(
                self._db.scalar("SELECT COUNT(*) FROM inbound_payloads WHERE consumed_at IS NULL")
            ),
        }
