"""The mailbox peer's side: sealed envelopes held for others, with a time-to-live and quotas.

Business logic only (no network, no clock: every call takes ``now``); the delivery protocol
exposes it as PUT / FETCH / ACK. What a mailbox peer holds is opaque to it: a mailbox id (a
keyed hash that does not name the recipient), a sealed envelope, the id of the peer that left
it (for quotas) and two times. Tables live under the store namespace ``net.mailbox``.

Rules:

- An envelope is at most `MailboxLimits.max_envelope_bytes`; its id is SHA-256 of its bytes.
  Storing the same envelope twice under the same mailbox is a no-op that succeeds.
- The TTL asked for is clamped to ``[min_ttl, max_ttl]``; expired envelopes are never
  returned and are purged by `purge_at`.
- Quotas (live envelopes only): per mailbox, per depositing peer and in total, by count and
  by bytes. A PUT over a quota is refused (`MailboxRefused`); nothing is evicted, so a flood
  cannot push out envelopes already held.
- ACK deletes the named envelopes of that mailbox. Whoever knows a mailbox id may fetch and
  acknowledge (the envelopes are sealed; see docs/specifications/messaging.md).
"""

import hashlib
from dataclasses import dataclass

from umbra.core import UmbraError
from umbra.core.crypto import MAX_ENVELOPE_BYTES
from umbra.store import Database

NAMESPACE = "net.mailbox"
MIGRATIONS = [
    """
    CREATE TABLE mailbox_envelopes (
        mailbox BLOB NOT NULL CHECK (length(mailbox) = 32),
        id BLOB NOT NULL CHECK (length(id) = 32),   -- SHA-256 of the envelope
        envelope BLOB NOT NULL,
        depositor TEXT NOT NULL,                     -- peer id that left it (quotas)
        stored_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (mailbox, id)
    );
    CREATE INDEX mailbox_envelopes_expiry ON mailbox_envelopes (expires_at);
    CREATE INDEX mailbox_envelopes_depositor ON mailbox_envelopes (depositor);
    """,
]
MAILBOX_ID_BYTES = 32
_USAGE = "SELECT COUNT(*), COALESCE(SUM(length(envelope)), 0) FROM mailbox_envelopes WHERE "
_BY_MAILBOX = _USAGE + "mailbox = ? AND expires_at > ?"
_BY_DEPOSITOR = _USAGE + "depositor = ? AND expires_at > ?"
DAY_S = 86_400


class MailboxRefused(UmbraError):
    """A PUT the mailbox will not take; ``reason`` is a short code sent back to the peer."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the mailbox refused the envelope: {reason}")
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class MailboxLimits:
    max_envelope_bytes: int = MAX_ENVELOPE_BYTES
    min_ttl: int = 60
    default_ttl: int = 7 * DAY_S
    max_ttl: int = 14 * DAY_S
    per_mailbox_envelopes: int = 256
    per_mailbox_bytes: int = 8 << 20
    per_depositor_envelopes: int = 1024
    per_depositor_bytes: int = 32 << 20
    total_bytes: int = 256 << 20
    max_fetch: int = 64


@dataclass(frozen=True)
class HeldEnvelope:
    id: bytes
    envelope: bytes
    expires_at: int


@dataclass(frozen=True)
class MailboxStatistics:
    envelopes: int
    bytes: int
    mailboxes: int


def envelope_id(envelope: bytes) -> bytes:
    """The id under which an envelope is stored and acknowledged."""
    return hashlib.sha256(envelope).digest()


class MailboxStore:
    """Envelopes this node holds for others. Synchronous; call through the node's DB limiter."""

    def __init__(self, db: Database, limits: MailboxLimits | None = None) -> None:
        self._db = db
        self.limits = limits or MailboxLimits()
        db.migrate(NAMESPACE, MIGRATIONS)

    def put_at(
        self, mailbox: bytes, envelope: bytes, *, depositor: str, ttl: int, now: int
    ) -> bytes:
        """Hold ``envelope`` under ``mailbox`` until ``now + ttl`` (clamped); returns its id.

        Raises:
            MailboxRefused: bad mailbox id, envelope too large or empty, or a quota is full.
        """
        lim = self.limits
        if len(mailbox) != MAILBOX_ID_BYTES:
            raise MailboxRefused("bad-mailbox")
        if not 0 < len(envelope) <= lim.max_envelope_bytes:
            raise MailboxRefused("too-large")
        ttl = min(max(ttl, lim.min_ttl), lim.max_ttl)
        eid = envelope_id(envelope)
        size = len(envelope)
        with self._db.transaction():
            held = self._db.query_one(
                "SELECT 1 FROM mailbox_envelopes WHERE mailbox = ? AND id = ? AND expires_at > ?",
                (mailbox, eid, now),
            )
            if held is not None:
                return eid
            by_mailbox = self._usage(_BY_MAILBOX, mailbox, now)
            if by_mailbox[0] >= lim.per_mailbox_envelopes or (
                by_mailbox[1] + size > lim.per_mailbox_bytes
            ):
                raise MailboxRefused("mailbox-full")
            by_depositor = self._usage(_BY_DEPOSITOR, depositor, now)
            if by_depositor[0] >= lim.per_depositor_envelopes or (
                by_depositor[1] + size > lim.per_depositor_bytes
            ):
                raise MailboxRefused("quota")
            total = self._db.scalar(
                "SELECT COALESCE(SUM(length(envelope)), 0) FROM mailbox_envelopes"
                " WHERE expires_at > ?",
                (now,),
            )
            if int(total) + size > lim.total_bytes:
                raise MailboxRefused("full")
            self._db.execute(
                "INSERT INTO mailbox_envelopes"
                " (mailbox, id, envelope, depositor, stored_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (mailbox, id) DO UPDATE SET depositor = excluded.depositor,"
                " stored_at = excluded.stored_at, expires_at = excluded.expires_at",
                (mailbox, eid, envelope, depositor, now, now + ttl),
            )
        return eid

    def _usage(self, sql: str, key: object, now: int) -> tuple[int, int]:
        row = self._db.query_one(sql, (key, now))
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    def fetch_at(self, mailbox: bytes, *, now: int, limit: int | None = None) -> list[HeldEnvelope]:
        """The live envelopes of ``mailbox``, oldest first (they stay until acknowledged)."""
        cap = self.limits.max_fetch if limit is None else max(0, min(limit, self.limits.max_fetch))
        rows = self._db.query(
            "SELECT id, envelope, expires_at FROM mailbox_envelopes"
            " WHERE mailbox = ? AND expires_at > ? ORDER BY stored_at, id LIMIT ?",
            (mailbox, now, cap),
        )
        return [HeldEnvelope(bytes(r[0]), bytes(r[1]), int(r[2])) for r in rows]

    def ack(self, mailbox: bytes, ids: list[bytes]) -> int:
        """Delete the named envelopes of ``mailbox``; returns how many were held."""
        if not ids:
            return 0
        with self._db.transaction():
            deleted = 0
            for eid in ids:
                deleted += self._db.execute(
                    "DELETE FROM mailbox_envelopes WHERE mailbox = ? AND id = ?", (mailbox, eid)
                )
        return deleted

    def purge_at(self, now: int) -> int:
        """Delete expired envelopes; returns how many."""
        return self._db.execute("DELETE FROM mailbox_envelopes WHERE expires_at <= ?", (now,))

    def statistics_at(self, now: int) -> MailboxStatistics:
        row = self._db.query_one(
            "SELECT COUNT(*), COALESCE(SUM(length(envelope)), 0), COUNT(DISTINCT mailbox)"
            " FROM mailbox_envelopes WHERE expires_at > ?",
            (now,),
        )
        assert row is not None
        return MailboxStatistics(int(row[0]), int(row[1]), int(row[2]))
