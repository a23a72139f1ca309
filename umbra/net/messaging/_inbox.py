"""The local conversation store: chat messages per peer and order, read state, and the outbox.

Tables live under the store namespace ``net.inbox``. `umbra messages send` only *queues* a
message (`queue_at`): the node owns the messaging sessions and the network, so it encrypts
queued messages (`pending_at`, `mark_encrypted` in the same transaction as the session
state), delivers them and records the outcome (`mark_sent`). Incoming messages are recorded
by `record_incoming` inside the transaction that saves the session state, so a message is
acknowledged only once both are on disk.

The chat payload inside a ratchet message (canonical DAG-CBOR, strictly parsed)::

    {"v": 1, "id": 16 B, "order": str (≤ 64), "text": str (≤ 16,000 chars), "sent": uint}

Typed application payloads (`queue_payload_at`, e.g. the trade protocol) share the outbox
machinery but live in `_payload_store`; `parse_plaintext` tells the two plaintexts apart.
"""

import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from umbra.core import InvalidDocument, UsageError, decode_fast, encode_canonical
from umbra.core.crypto import MAX_PLAINTEXT_BYTES
from umbra.store import Database

from ._payload_store import PayloadStore
from ._payloads import PayloadChunk, chunk_from_obj

NAMESPACE = "net.inbox"
MIGRATIONS = [
    """
    CREATE TABLE inbox_messages (
        peer BLOB NOT NULL CHECK (length(peer) = 32),   -- the other persona
        outgoing INTEGER NOT NULL CHECK (outgoing IN (0, 1)),
        msg_id BLOB NOT NULL CHECK (length(msg_id) = 16),
        order_ref TEXT NOT NULL,                         -- '' for no order
        body TEXT NOT NULL,
        sent_at INTEGER NOT NULL,                        -- the sender's clock (claimed)
        at INTEGER NOT NULL,                             -- local: queued or received
        status TEXT NOT NULL,                            -- see Inbox docstring
        read INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (peer, outgoing, msg_id)
    );
    CREATE INDEX inbox_conversation ON inbox_messages (peer, order_ref, at);
    CREATE TABLE inbox_outbox (
        peer BLOB NOT NULL,
        msg_id BLOB NOT NULL,
        envelope BLOB,                                   -- NULL until encrypted
        mailbox BLOB,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_try INTEGER NOT NULL,
        PRIMARY KEY (peer, msg_id)
    );
    """,
]

PAYLOAD_VERSION = 1
MAX_TEXT_CHARS = 16_000
MAX_ORDER_CHARS = 64
MAX_PAYLOAD_BYTES = 4 * MAX_TEXT_CHARS + 256
_ORDER_RE = re.compile(r"[A-Za-z0-9._:-]*")
_PAYLOAD_KEYS = {"v", "id", "order", "text", "sent"}

Status = Literal["queued", "sending", "stored", "delivered", "received"]


@dataclass(frozen=True)
class ChatPayload:
    msg_id: bytes
    order: str
    text: str
    sent_at: int

    def to_bytes(self) -> bytes:
        return encode_canonical(
            {
                "v": PAYLOAD_VERSION,
                "id": self.msg_id,
                "order": self.order,
                "text": self.text,
                "sent": self.sent_at,
            }
        )


def check_order(order: str) -> str:
    if len(order) > MAX_ORDER_CHARS or not _ORDER_RE.fullmatch(order):
        raise UsageError(
            f"an order reference has at most {MAX_ORDER_CHARS} characters A-Z a-z 0-9 . _ : -"
        )
    return order


def parse_payload(data: bytes) -> ChatPayload:
    """Parse a decrypted chat payload. Raises: InvalidDocument, whatever the bytes."""
    return _chat_from_obj(decode_fast(data, max_size=MAX_PAYLOAD_BYTES))


def parse_plaintext(data: bytes) -> ChatPayload | PayloadChunk:
    """Parse a decrypted plaintext: a chat message or a typed payload's chunk.

    A map with a ``kind`` field is a payload chunk (`_payloads`), anything else must be a chat
    message. Raises: InvalidDocument, whatever the bytes.
    """
    obj = decode_fast(data, max_size=max(MAX_PAYLOAD_BYTES, MAX_PLAINTEXT_BYTES))
    if isinstance(obj, dict) and "kind" in obj:
        return chunk_from_obj(obj)
    return _chat_from_obj(obj)


def _chat_from_obj(obj: Any) -> ChatPayload:
    if not isinstance(obj, dict) or set(obj) != _PAYLOAD_KEYS:
        raise InvalidDocument("bad-payload", "a chat message has unexpected fields")
    if type(obj["v"]) is not int or obj["v"] != PAYLOAD_VERSION:
        raise InvalidDocument("unknown-version", "unknown chat message version")
    msg_id, order, text, sent = obj["id"], obj["order"], obj["text"], obj["sent"]
    if not isinstance(msg_id, bytes) or len(msg_id) != 16:
        raise InvalidDocument("bad-payload", "'id' must be 16 bytes")
    if not isinstance(order, str) or len(order) > MAX_ORDER_CHARS or not _ORDER_RE.fullmatch(order):
        raise InvalidDocument("bad-payload", "'order' is not an order reference")
    if not isinstance(text, str) or not 0 < len(text) <= MAX_TEXT_CHARS:
        raise InvalidDocument("bad-payload", "'text' must be 1..16000 characters")
    if type(sent) is not int or not 0 <= sent < 2**40:
        raise InvalidDocument("bad-payload", "'sent' must be a timestamp")
    return ChatPayload(msg_id, order, text, sent)


@dataclass(frozen=True)
class ChatMessage:
    peer: bytes
    outgoing: bool
    msg_id: bytes
    order: str
    text: str
    sent_at: int
    at: int
    status: str
    read: bool


@dataclass(frozen=True)
class Conversation:
    peer: bytes
    order: str
    messages: int
    unread: int
    last_at: int
    last_text: str


@dataclass(frozen=True)
class OutboxItem:
    """One ratchet message to send: a chat message, or one chunk of a typed payload."""

    peer: bytes
    msg_id: bytes
    payload: bytes  # the plaintext to encrypt (while ``envelope`` is None)
    envelope: bytes | None
    mailbox: bytes | None
    attempts: int
    part: int | None = None  # the chunk number of a typed payload; None for chat
    queued_at: int = 0


_COLUMNS = "peer, outgoing, msg_id, order_ref, body, sent_at, at, status, read"


def _message(row: Any) -> ChatMessage:
    return ChatMessage(
        bytes(row[0]), bool(row[1]), bytes(row[2]), row[3], row[4], int(row[5]), int(row[6]),
        row[7], bool(row[8]),
    )  # fmt: skip


class Inbox:
    """Conversations of this profile. Synchronous; the node calls it through its DB limiter.

    Outgoing status: ``queued`` (waiting for the node) → ``sending`` (encrypted, delivery
    being tried) → ``delivered`` (the recipient's node acknowledged it after committing it) or
    ``stored`` (left with mailbox peers; the recipient fetches it when it comes back).
    Incoming messages have status ``received``.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        db.migrate(NAMESPACE, MIGRATIONS)
        self.payloads = PayloadStore(db)

    # -- sending -------------------------------------------------------------------------------

    def queue_at(self, peer: bytes, order: str, text: str, *, now: int) -> ChatMessage:
        """Queue a message for the node to send. Raises: UsageError (bad order or text)."""
        check_order(order)
        if not 0 < len(text) <= MAX_TEXT_CHARS:
            raise UsageError(f"a message has 1 to {MAX_TEXT_CHARS} characters")
        if len(peer) != 32:
            raise UsageError("the recipient must be a persona key")
        msg_id = secrets.token_bytes(16)
        with self._db.transaction():
            self._db.execute(
                f"INSERT INTO inbox_messages ({_COLUMNS})"  # noqa: S608 - constant columns
                " VALUES (?, 1, ?, ?, ?, ?, ?, 'queued', 1)",
                (peer, msg_id, order, text, now, now),
            )
            self._db.execute(
                "INSERT INTO inbox_outbox (peer, msg_id, next_try) VALUES (?, ?, ?)",
                (peer, msg_id, now),
            )
        return ChatMessage(peer, True, msg_id, order, text, now, now, "queued", True)

    def queue_payload_at(self, peer: bytes, kind: str, body: bytes, *, now: int) -> bytes:
        """Queue a typed payload (``kind`` e.g. "trade", ``body`` ≤ 1 MiB) for the node to send
        like a chat message; returns its message id. Raises: UsageError."""
        return self.payloads.queue_at(peer, kind, body, now=now)

    def pending_at(self, now: int, *, limit: int = 32) -> list[OutboxItem]:
        """Outbox items due now (chat messages and payload chunks), oldest first."""
        chunks = [
            OutboxItem(r.peer, r.msg_id, r.plaintext, r.envelope, r.mailbox, r.attempts, r.part,
                       r.queued_at)
            for r in self.payloads.due_at(now, limit=limit)
        ]  # fmt: skip
        merged = self._chat_pending_at(now, limit) + chunks
        merged.sort(key=lambda item: item.queued_at)  # stable: each source is already ordered
        return merged[:limit]

    def _chat_pending_at(self, now: int, limit: int) -> list[OutboxItem]:
        rows = self._db.query(
            "SELECT o.peer, o.msg_id, m.order_ref, m.body, m.sent_at, o.envelope, o.mailbox,"
            " o.attempts, m.at FROM inbox_outbox o JOIN inbox_messages m"
            " ON m.peer = o.peer AND m.outgoing = 1 AND m.msg_id = o.msg_id"
            " WHERE o.next_try <= ? ORDER BY m.at, o.msg_id LIMIT ?",
            (now, limit),
        )
        return [
            OutboxItem(
                bytes(r[0]),
                bytes(r[1]),
                ChatPayload(bytes(r[1]), r[2], r[3], int(r[4])).to_bytes(),
                None if r[5] is None else bytes(r[5]),
                None if r[6] is None else bytes(r[6]),
                int(r[7]),
                None,
                int(r[8]),
            )
            for r in rows
        ]

    def has_pending_at(self, now: int) -> bool:
        row = self._db.scalar("SELECT 1 FROM inbox_outbox WHERE next_try <= ? LIMIT 1", (now,))
        return row is not None or self.payloads.has_due_at(now)

    def mark_encrypted(
        self, peer: bytes, msg_id: bytes, envelope: bytes, mailbox: bytes, *,
        part: int | None = None,
    ) -> None:  # fmt: skip
        """Record the envelope (call in the transaction that saves the session state)."""
        if part is not None:
            self.payloads.mark_encrypted(msg_id, part, envelope, mailbox)
            return
        with self._db.transaction():
            self._db.execute(
                "UPDATE inbox_outbox SET envelope = ?, mailbox = ? WHERE peer = ? AND msg_id = ?",
                (envelope, mailbox, peer, msg_id),
            )
            self._set_status(peer, msg_id, "sending")

    def mark_sent(
        self, peer: bytes, msg_id: bytes, status: Literal["delivered", "stored"], *,
        part: int | None = None,
    ) -> None:  # fmt: skip
        """The envelope was delivered or left with mailbox peers: drop it from the outbox."""
        if part is not None:
            self.payloads.mark_sent(msg_id, part, status)
            return
        with self._db.transaction():
            self._db.execute(
                "DELETE FROM inbox_outbox WHERE peer = ? AND msg_id = ?", (peer, msg_id)
            )
            self._set_status(peer, msg_id, status)

    def retry_at(self, peer: bytes, msg_id: bytes, when: int, *, part: int | None = None) -> None:
        if part is not None:
            self.payloads.retry_at(msg_id, part, when)
            return
        self._db.execute(
            "UPDATE inbox_outbox SET attempts = attempts + 1, next_try = ?"
            " WHERE peer = ? AND msg_id = ?",
            (when, peer, msg_id),
        )

    def _set_status(self, peer: bytes, msg_id: bytes, status: str) -> None:
        self._db.execute(
            "UPDATE inbox_messages SET status = ? WHERE peer = ? AND outgoing = 1 AND msg_id = ?",
            (status, peer, msg_id),
        )

    # -- receiving -----------------------------------------------------------------------------

    def record_incoming(self, sender: bytes, payload: ChatPayload, *, now: int) -> bool:
        """Store a received message; False if it was already stored (a duplicate)."""
        added = self._db.execute(
            f"INSERT OR IGNORE INTO inbox_messages ({_COLUMNS})"  # noqa: S608
            " VALUES (?, 0, ?, ?, ?, ?, ?, 'received', 0)",
            (sender, payload.msg_id, payload.order, payload.text, payload.sent_at, now),
        )
        return added > 0

    # -- reading -------------------------------------------------------------------------------

    def conversations(self) -> list[Conversation]:
        """Every conversation (peer, order), most recent first."""
        rows = self._db.query(
            "SELECT peer, order_ref, COUNT(*), SUM(read = 0), MAX(at),"
            " (SELECT body FROM inbox_messages l WHERE l.peer = m.peer"
            "  AND l.order_ref = m.order_ref ORDER BY l.at DESC, l.rowid DESC LIMIT 1)"
            " FROM inbox_messages m GROUP BY peer, order_ref ORDER BY MAX(at) DESC"
        )
        return [
            Conversation(bytes(r[0]), r[1], int(r[2]), int(r[3]), int(r[4]), r[5]) for r in rows
        ]

    def read(self, peer: bytes, order: str | None, *, mark_read: bool = True) -> list[ChatMessage]:
        """Messages with ``peer`` (one order, or all when ``order`` is None), oldest first."""
        where, params = "peer = ?", [peer]
        if order is not None:
            where += " AND order_ref = ?"
            params.append(check_order(order))  # type: ignore[arg-type]
        rows = self._db.query(
            f"SELECT {_COLUMNS} FROM inbox_messages WHERE {where} ORDER BY at, rowid",  # noqa: S608
            tuple(params),
        )
        if mark_read and any(not r[8] for r in rows):
            self._db.execute(
                f"UPDATE inbox_messages SET read = 1 WHERE {where} AND read = 0",  # noqa: S608
                tuple(params),
            )
        return [_message(r) for r in rows]
