"""Persistence of messaging state: a tiny protocol, an in-memory and a database backend.

`save` writes one `StateChanges` atomically (all of it or nothing). To make "decrypted" and
"delivered" one step, call it inside the caller's own ``db.transaction()`` together with
storing the plaintext: `Database.transaction` nests as a savepoint.

Tables live under the store namespace ``net.sessions`` (see `Database.migrate`); rules: never
edit a released migration, add one.
"""

from typing import Protocol

from umbra.store import Database

from ._sessions import SessionManager, StateChanges

NAMESPACE = "net.sessions"
MIGRATIONS = [
    """
    CREATE TABLE messaging_identity (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        state BLOB NOT NULL             -- MessagingIdentity.to_bytes() (secret)
    );
    CREATE TABLE messaging_sessions (
        peer BLOB PRIMARY KEY CHECK (length(peer) = 32),  -- the peer persona's key
        record BLOB NOT NULL            -- the peer's session record (secret)
    );
    """,
]


class SessionStore(Protocol):
    def load(self) -> SessionManager | None:
        """The saved manager, or None if messaging was never set up."""
        ...

    def save(self, changes: StateChanges) -> None:
        """Persist ``changes`` atomically."""
        ...


class MemorySessionStore:
    """A `SessionStore` in memory (tests, benchmarks). ``fail_next_save`` simulates a crash."""

    def __init__(self) -> None:
        self.identity: bytes | None = None
        self.peers: dict[bytes, bytes] = {}
        self.saves = 0
        self.fail_next_save = False

    def load(self) -> SessionManager | None:
        if self.identity is None:
            return None
        return SessionManager.load(self.identity, self.peers.values())

    def save(self, changes: StateChanges) -> None:
        if self.fail_next_save:
            self.fail_next_save = False
            raise OSError("simulated crash before the state was saved")
        if changes.identity is not None:
            self.identity = changes.identity
        self.peers.update(changes.peers)
        self.saves += 1


class DatabaseSessionStore:
    """A `SessionStore` in the profile's encrypted database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        db.migrate(NAMESPACE, MIGRATIONS)

    def load(self) -> SessionManager | None:
        row = self._db.query_one("SELECT state FROM messaging_identity WHERE id = 1")
        if row is None:
            return None
        records = [r[0] for r in self._db.query("SELECT record FROM messaging_sessions")]
        return SessionManager.load(bytes(row[0]), map(bytes, records))

    def save(self, changes: StateChanges) -> None:
        with self._db.transaction():
            if changes.identity is not None:
                self._db.execute(
                    "INSERT INTO messaging_identity (id, state) VALUES (1, ?)"
                    " ON CONFLICT (id) DO UPDATE SET state = excluded.state",
                    (changes.identity,),
                )
            for peer, record in changes.peers:
                self._db.execute(
                    "INSERT INTO messaging_sessions (peer, record) VALUES (?, ?)"
                    " ON CONFLICT (peer) DO UPDATE SET record = excluded.record",
                    (peer, record),
                )
