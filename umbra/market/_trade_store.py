"""The trade tables of one profile: orders, the user-command queue, timelines, evidence.

Tables live under the store namespace ``market.trade`` in the profile's encrypted database.

- ``trade_orders``: one row per order this profile takes part in: our role, the order
  machine's stored state (`OrderMachine.to_bytes`), the three parties' persona keys, the next
  timer, and the shipping data this party opened (the seller the address, the buyer the
  tracking), deleted at the purge time the machine sets.
- ``trade_commands``: what the user asked for (`umbra order ...`, the web app), queued by the
  CLI/API and executed by the running node (`TradeDriver`), like `umbra messages send`. A
  command is ``queued`` until the node took it, then ``done`` or ``failed`` with a one-line
  reason. Arguments are canonical DAG-CBOR; a placed order's plaintext shipping address is
  removed from the row as soon as the node sealed it.
- ``trade_timeline``: what happened to each order, for the user (state changes, messages
  sent and received, refusals, escrow progress).
- ``trade_evidence``: the arbiter's sealed dispute evidence per order.
- ``trade_config``: small settings (the arbiters a seller accepts, the arbiter profile).

Everything here is synchronous and short; callers wrap related writes in one
``db.transaction()`` (the driver commits the machine state and the outgoing payloads in one).
"""

import re
from dataclasses import dataclass
from typing import Any

from umbra.core import InvalidDocument, decode_canonical, encode_canonical
from umbra.store import Database

NAMESPACE = "market.trade"
MIGRATIONS = [
    """
    CREATE TABLE trade_orders (
        order_id BLOB PRIMARY KEY CHECK (length(order_id) = 16),
        role TEXT NOT NULL,
        state INTEGER NOT NULL,
        machine BLOB NOT NULL,
        buyer BLOB NOT NULL,
        seller BLOB NOT NULL,
        arbiter BLOB,
        title TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        timer_at INTEGER,
        escrow TEXT NOT NULL DEFAULT '',
        opened_shipping TEXT,
        purge_at INTEGER
    );
    CREATE TABLE trade_commands (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        order_id BLOB NOT NULL,
        kind TEXT NOT NULL,
        args BLOB NOT NULL,
        status TEXT NOT NULL,
        error TEXT NOT NULL DEFAULT '',
        queued_at INTEGER NOT NULL,
        done_at INTEGER
    );
    CREATE INDEX trade_commands_status ON trade_commands (status, seq);
    CREATE TABLE trade_timeline (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        order_id BLOB NOT NULL,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX trade_timeline_order ON trade_timeline (order_id, seq);
    CREATE TABLE trade_evidence (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        order_id BLOB NOT NULL,
        sender TEXT NOT NULL,
        sealed BLOB NOT NULL,
        at INTEGER NOT NULL
    );
    CREATE TABLE trade_config (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # The arbiter's opened copy of each piece of evidence (its node opens the sealed box).
    "ALTER TABLE trade_evidence ADD COLUMN opened TEXT;",
]
MAX_ARGS_BYTES = 64 * 1024


@dataclass(frozen=True)
class OrderRow:
    order_id: bytes
    role: str
    state: int
    machine: bytes
    buyer: bytes
    seller: bytes
    arbiter: bytes | None
    title: str
    created_at: int
    updated_at: int
    timer_at: int | None
    escrow: str  # '' (none), 'running', 'done'
    opened_shipping: str | None
    purge_at: int | None

    def peer_role(self, persona: bytes) -> str | None:
        """Which role this persona key plays in the order (None: not a party)."""
        for role, key in (("buyer", self.buyer), ("seller", self.seller)):
            if key == persona:
                return role
        if self.arbiter is not None and self.arbiter == persona:
            return "arbiter"
        return None

    def key_of(self, role: str) -> bytes | None:
        return {"buyer": self.buyer, "seller": self.seller, "arbiter": self.arbiter}[role]


@dataclass(frozen=True)
class CommandRow:
    seq: int
    order_id: bytes
    kind: str
    args: dict[str, Any]
    status: str  # 'queued' | 'done' | 'failed'
    error: str
    queued_at: int
    done_at: int | None


@dataclass(frozen=True)
class TimelineEntry:
    at: int
    kind: str  # 'state' | 'sent' | 'received' | 'refused' | 'notice' | 'escrow' | 'reason'
    state: str
    detail: str


@dataclass(frozen=True)
class EvidenceRow:
    sender: str
    sealed: bytes
    at: int
    opened: str | None  # the arbiter's node opened it (None: could not be opened)


_ORDER_COLS = (
    "order_id, role, state, machine, buyer, seller, arbiter, title, created_at, updated_at,"
    " timer_at, escrow, opened_shipping, purge_at"
)


def _order(r: tuple[Any, ...]) -> OrderRow:
    return OrderRow(
        bytes(r[0]), str(r[1]), int(r[2]), bytes(r[3]), bytes(r[4]), bytes(r[5]),
        None if r[6] is None else bytes(r[6]), str(r[7]), int(r[8]), int(r[9]),
        None if r[10] is None else int(r[10]), str(r[11]), r[12],
        None if r[13] is None else int(r[13]),
    )  # fmt: skip


def _command(r: tuple[Any, ...]) -> CommandRow:
    args = decode_canonical(bytes(r[3]), max_size=MAX_ARGS_BYTES)
    if not isinstance(args, dict):
        raise InvalidDocument("bad-command", "stored command arguments are not a map")
    return CommandRow(
        int(r[0]), bytes(r[1]), str(r[2]), args, str(r[4]), str(r[5]), int(r[6]),
        None if r[7] is None else int(r[7]),
    )  # fmt: skip


# A decline's or cancel's timeline entry (kind "reason"): "the seller declined: sold out".
REASON_ENTRY = re.compile(
    r"^the (?P<who>buyer|seller|arbiter) (?P<verb>declined|cancelled): (?P<why>.+)$", re.S
)


class TradeStore:
    """The ``market.trade`` tables of one profile database (any connection to it)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate(NAMESPACE, MIGRATIONS)

    # -- orders --------------------------------------------------------------------------------

    def insert_order(self, row: OrderRow) -> None:
        self.db.execute(
            f"INSERT INTO trade_orders ({_ORDER_COLS}) VALUES"  # noqa: S608 - constant columns
            " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.order_id,
                row.role,
                row.state,
                row.machine,
                row.buyer,
                row.seller,
                row.arbiter,
                row.title,
                row.created_at,
                row.updated_at,
                row.timer_at,
                row.escrow,
                row.opened_shipping,
                row.purge_at,
            ),
        )

    def save_machine(self, order_id: bytes, state: int, machine: bytes, *, now: int) -> None:
        self.db.execute(
            "UPDATE trade_orders SET state = ?, machine = ?, updated_at = ? WHERE order_id = ?",
            (state, machine, now, order_id),
        )

    def set_fields(self, order_id: bytes, **fields: Any) -> None:
        """Update some of: timer_at, escrow, opened_shipping, purge_at."""
        allowed = {"timer_at", "escrow", "opened_shipping", "purge_at"}
        if not fields or not set(fields) <= allowed:
            raise ValueError(f"unknown order fields {sorted(set(fields) - allowed)}")
        sets = ", ".join(f"{name} = ?" for name in fields)
        self.db.execute(
            f"UPDATE trade_orders SET {sets} WHERE order_id = ?",  # noqa: S608 - checked names
            (*fields.values(), order_id),
        )

    def order(self, order_id: bytes) -> OrderRow | None:
        r = self.db.query_one(
            f"SELECT {_ORDER_COLS} FROM trade_orders WHERE order_id = ?",  # noqa: S608
            (order_id,),
        )
        return None if r is None else _order(r)

    def orders(self, *, state: int | None = None) -> list[OrderRow]:
        """Every order (newest first), or those in ``state``."""
        where, args = ("", ()) if state is None else ("WHERE state = ?", (state,))
        rows = self.db.query(
            f"SELECT {_ORDER_COLS} FROM trade_orders {where}"  # noqa: S608 - fixed text
            " ORDER BY created_at DESC, order_id",
            args,
        )
        return [_order(r) for r in rows]

    def due_timers(self, now: int) -> list[bytes]:
        rows = self.db.query(
            "SELECT order_id FROM trade_orders WHERE timer_at IS NOT NULL AND timer_at <= ?"
            " UNION SELECT order_id FROM trade_orders"
            " WHERE purge_at IS NOT NULL AND purge_at <= ? AND opened_shipping IS NOT NULL",
            (now, now),
        )
        return [bytes(r[0]) for r in rows]

    def find_orders(self, prefix_hex: str) -> list[bytes]:
        """Order ids whose hex form starts with ``prefix_hex`` (lowercase hex)."""
        rows = self.db.query(
            "SELECT order_id FROM trade_orders WHERE hex(order_id) LIKE ? ORDER BY order_id",
            (prefix_hex.upper() + "%",),
        )
        return [bytes(r[0]) for r in rows]

    # -- commands ------------------------------------------------------------------------------

    def queue_command(self, order_id: bytes, kind: str, args: dict[str, Any], *, now: int) -> int:
        blob = encode_canonical(args)
        if len(blob) > MAX_ARGS_BYTES:
            raise ValueError("command arguments are too large")
        self.db.execute(
            "INSERT INTO trade_commands (order_id, kind, args, status, queued_at)"
            " VALUES (?, ?, ?, 'queued', ?)",
            (order_id, kind, blob, now),
        )
        return int(self.db.scalar("SELECT last_insert_rowid()"))

    def queued_commands(self, limit: int = 32) -> list[CommandRow]:
        rows = self.db.query(
            "SELECT seq, order_id, kind, args, status, error, queued_at, done_at"
            " FROM trade_commands WHERE status = 'queued' ORDER BY seq LIMIT ?",
            (limit,),
        )
        return [_command(r) for r in rows]

    def command(self, seq: int) -> CommandRow | None:
        r = self.db.query_one(
            "SELECT seq, order_id, kind, args, status, error, queued_at, done_at"
            " FROM trade_commands WHERE seq = ?",
            (seq,),
        )
        return None if r is None else _command(r)

    def commands_of(self, order_id: bytes) -> list[CommandRow]:
        rows = self.db.query(
            "SELECT seq, order_id, kind, args, status, error, queued_at, done_at"
            " FROM trade_commands WHERE order_id = ? ORDER BY seq",
            (order_id,),
        )
        return [_command(r) for r in rows]

    def finish_command(self, seq: int, *, error: str = "", now: int) -> None:
        """Mark a command done (or failed with ``error``); its arguments are redacted.

        The arguments may hold a plaintext shipping address or evidence text: once the node
        has sealed them into the order they are not kept in the queue.
        """
        self.db.execute(
            "UPDATE trade_commands SET status = ?, error = ?, done_at = ?, args = ? WHERE seq = ?",
            ("failed" if error else "done", error[:300], now, encode_canonical({}), seq),
        )

    # -- timeline and evidence -----------------------------------------------------------------

    def log(self, order_id: bytes, kind: str, state: str, detail: str, *, now: int) -> None:
        self.db.execute(
            "INSERT INTO trade_timeline (order_id, at, kind, state, detail) VALUES (?, ?, ?, ?, ?)",
            (order_id, now, kind, state, detail[:500]),
        )

    def timeline(self, order_id: bytes) -> list[TimelineEntry]:
        rows = self.db.query(
            "SELECT at, kind, state, detail FROM trade_timeline WHERE order_id = ? ORDER BY seq",
            (order_id,),
        )
        return [TimelineEntry(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    def last_reason(self, order_id: bytes) -> str | None:
        """The reason the order was declined or cancelled with, if one was given (the
        timeline keeps "the seller declined: <reason>"; this is the reason alone)."""
        value = self.db.scalar(
            "SELECT detail FROM trade_timeline WHERE order_id = ? AND kind = 'reason'"
            " ORDER BY seq DESC LIMIT 1",
            (order_id,),
        )
        if value is None:
            return None
        said = REASON_ENTRY.match(str(value))
        return str(value) if said is None else said["why"]

    def get_config(self, key: str) -> str | None:
        value = self.db.scalar("SELECT value FROM trade_config WHERE key = ?", (key,))
        return None if value is None else str(value)

    def set_config(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO trade_config (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def add_evidence(
        self, order_id: bytes, sender: str, sealed: bytes, opened: str | None, *, now: int
    ) -> None:
        self.db.execute(
            "INSERT INTO trade_evidence (order_id, sender, sealed, at, opened)"
            " VALUES (?, ?, ?, ?, ?)",
            (order_id, sender, sealed, now, opened),
        )

    def evidence(self, order_id: bytes) -> list[EvidenceRow]:
        rows = self.db.query(
            "SELECT sender, sealed, at, opened FROM trade_evidence WHERE order_id = ? ORDER BY seq",
            (order_id,),
        )
        return [EvidenceRow(str(r[0]), bytes(r[1]), int(r[2]), r[3]) for r in rows]
