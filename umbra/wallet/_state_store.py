"""Persistence of escrows and payments, and the append-only audit log.

Tables live under the ``wallet`` migration namespace of the profile's encrypted database.
Every escrow step is one transaction: the machine's new data, the messages it is about to
send (the outbox, re-sent after a crash), and one audit row per state change or notice.
The audit table refuses UPDATE and DELETE (triggers), so the log is append-only.
"""

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from umbra.core import decode_canonical, encode_canonical

MAX_RECORD_BYTES = 16 * 1024 * 1024

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE wallet_escrows (
        id TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        state INTEGER NOT NULL,
        data BLOB NOT NULL,
        outbox BLOB NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE wallet_payments (
        id TEXT PRIMARY KEY,
        state INTEGER NOT NULL,
        data BLOB NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE wallet_config (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE wallet_audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        ref TEXT NOT NULL,
        from_state TEXT NOT NULL,
        to_state TEXT NOT NULL,
        event TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE TRIGGER wallet_audit_no_update BEFORE UPDATE ON wallet_audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER wallet_audit_no_delete BEFORE DELETE ON wallet_audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    """,
)


class DatabaseLike(Protocol):
    """What we use of `umbra.store.Database` (kept narrow so tests can pass any backend)."""

    def execute(self, sql: str, params: Any = ()) -> int: ...

    def query(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]: ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def migrate(self, namespace: str, migrations: Sequence[str]) -> int: ...


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: int
    kind: str
    ref: str
    from_state: str
    to_state: str
    event: str
    detail: str


@dataclass(frozen=True)
class StoredEscrow:
    escrow_id: str
    role: str
    state: int
    data: dict[str, Any]
    outbox: list[tuple[str, bytes]]


class WalletStore:
    """The wallet layer's tables in one profile database.

    Args:
        db: the profile's `Database` (or anything with the same methods).
        clock: returns Unix seconds (injected so tests can control it).
    """

    def __init__(self, db: DatabaseLike, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self._clock = clock
        db.migrate("wallet", MIGRATIONS)

    # -- escrows -------------------------------------------------------------------------------

    def save_escrow(
        self,
        escrow_id: str,
        role: str,
        state: int,
        data: dict[str, Any],
        outbox: Sequence[tuple[str, bytes]],
        audit: Sequence[tuple[str, str, str, str]],
    ) -> None:
        """Commit one escrow step atomically: data, outbox and audit rows.

        ``audit`` rows are ``(from_state, to_state, event, detail)``.
        """
        now = int(self._clock())
        blob = encode_canonical(data)
        box = encode_canonical([[to, msg] for to, msg in outbox])
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO wallet_escrows (id, role, state, data, outbox, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " state = excluded.state, data = excluded.data, outbox = excluded.outbox,"
                " updated_at = excluded.updated_at",
                (escrow_id, role, state, blob, box, now),
            )
            for from_state, to_state, event, detail in audit:
                self._audit(now, "escrow", escrow_id, from_state, to_state, event, detail)

    def load_escrow(self, escrow_id: str) -> StoredEscrow | None:
        rows = self.db.query(
            "SELECT role, state, data, outbox FROM wallet_escrows WHERE id = ?", (escrow_id,)
        )
        if not rows:
            return None
        role, state, data, outbox = rows[0]
        box = decode_canonical(bytes(outbox), max_size=MAX_RECORD_BYTES)
        return StoredEscrow(
            escrow_id,
            str(role),
            int(state),
            decode_canonical(bytes(data), max_size=MAX_RECORD_BYTES),
            [(str(to), bytes(msg)) for to, msg in box],
        )

    def escrow_ids(self) -> list[str]:
        return [str(r[0]) for r in self.db.query("SELECT id FROM wallet_escrows ORDER BY id")]

    # -- payments ------------------------------------------------------------------------------

    def save_payment(
        self, payment_id: str, state: int, data: dict[str, Any], audit: Sequence[tuple[str, ...]]
    ) -> None:
        now = int(self._clock())
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO wallet_payments (id, state, data, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET state = excluded.state, data = excluded.data,"
                " updated_at = excluded.updated_at",
                (payment_id, state, encode_canonical(data), now),
            )
            for from_state, to_state, event, detail in audit:
                self._audit(now, "payment", payment_id, from_state, to_state, event, detail)

    def load_payment(self, payment_id: str) -> dict[str, Any] | None:
        rows = self.db.query("SELECT data FROM wallet_payments WHERE id = ?", (payment_id,))
        if not rows:
            return None
        value: dict[str, Any] = decode_canonical(bytes(rows[0][0]), max_size=MAX_RECORD_BYTES)
        return value

    def payment_states(self) -> list[tuple[str, int]]:
        """Every stored payment's order id and state number."""
        rows = self.db.query("SELECT id, state FROM wallet_payments ORDER BY id")
        return [(str(r[0]), int(r[1])) for r in rows]

    # -- configuration -------------------------------------------------------------------------

    def set_config(self, key: str, value: str) -> None:
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO wallet_config (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def config_setdefault(self, key: str, value: str) -> str:
        """The value stored under ``key``; stores ``value`` first if there is none.

        One transaction, so two processes asking at once get the same answer.
        """
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO wallet_config (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                (key, value),
            )
            rows = self.db.query("SELECT value FROM wallet_config WHERE key = ?", (key,))
        return str(rows[0][0])

    def get_config(self, key: str) -> str | None:
        rows = self.db.query("SELECT value FROM wallet_config WHERE key = ?", (key,))
        return None if not rows else str(rows[0][0])

    # -- audit log -----------------------------------------------------------------------------

    def _audit(
        self, now: int, kind: str, ref: str, from_s: str, to_s: str, event: str, detail: str
    ) -> None:
        self.db.execute(
            "INSERT INTO wallet_audit (at, kind, ref, from_state, to_state, event, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (now, kind, ref, from_s, to_s, event, detail[:500]),
        )

    def audit_log(self, ref: str | None = None) -> list[AuditEntry]:
        sql = "SELECT seq, at, kind, ref, from_state, to_state, event, detail FROM wallet_audit"
        params: tuple[Any, ...] = ()
        if ref is not None:
            sql += " WHERE ref = ?"
            params = (ref,)
        return [AuditEntry(*row) for row in self.db.query(sql + " ORDER BY seq", params)]
