"""One SQLCipher connection, opened with a raw key, with transactions and versioned migrations.

Why a raw key: SQLCipher's own passphrase KDF (PBKDF2) costs ~0.3 s per open and is weaker than
the Argon2id the profile layer already ran, so the 32-byte key goes in as ``x'<hex>'`` and
SQLCipher does no key stretching.

Threading: the connection is made with ``check_same_thread=False`` because the trio driver
calls it from worker threads (``trio.to_thread.run_sync`` with a ``CapacityLimiter(1)``). The
caller must serialize use: this class adds no lock, since a transaction spans several calls
that may run on different worker threads.

Errors: SQLite's "corrupt" and "not a database" become `DamagedStore`, disk and locking
trouble become `StoreError` with a message for the user. SQL mistakes (ours) are not hidden.
"""

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, NoReturn

import sqlcipher3

from umbra.core import UsageError

from ._errors import DamagedStore, SchemaTooNew, StoreError
from ._paths import PathLike, create_private_file

KEY_BYTES = 32

Params = Sequence[Any] | Mapping[str, Any]
Row = tuple[Any, ...]

_NAMESPACE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.")

# Primary SQLite result codes (the low byte of an extended code).
_SQLITE_PERM = 3
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_NOTADB = 26

_USER_MESSAGES = {
    _SQLITE_PERM: "permission denied on the store at {path}; check the file's owner and mode",
    _SQLITE_BUSY: "the store at {path} is in use by another Umbra process; close it first",
    _SQLITE_LOCKED: "the store at {path} is in use by another Umbra process; close it first",
    _SQLITE_READONLY: "the store at {path} is read-only; check the file's permissions",
    _SQLITE_IOERR: "a disk error occurred on the store at {path}; check the disk",
    _SQLITE_FULL: "the disk holding the store at {path} is full; free some space",
    _SQLITE_CANTOPEN: "cannot open the store at {path}; check that the directory exists",
}

# Enough for every query shape SearchIndex builds (filters x sorts), so none is re-prepared.
_STATEMENT_CACHE = 512
_BUSY_TIMEOUT_MS = 5_000


class Database:
    """The single connection to one profile's encrypted database.

    Use :meth:`open` (SQLCipher) in the application. :meth:`open_plain_for_benchmark` exists
    only so ``bench/search.py`` can measure the same code against unencrypted SQLite.
    """

    def __init__(
        self,
        conn: sqlite3.Connection | sqlcipher3.Connection,
        path: Path | None,
        *,
        encrypted: bool,
        module: Any,
    ) -> None:
        # sqlcipher3 has the same DB-API surface as sqlite3 (its stubs are typeshed's).
        self._conn = conn
        self._path = path
        self._encrypted = encrypted
        self._module = module  # sqlcipher3 or sqlite3: whose exception classes to catch
        self._depth = 0
        self._closed = False

    # -- opening and closing -------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: PathLike, key: bytes, *, create: bool = False, cache_mib: int = 32
    ) -> "Database":
        """Open (or with ``create=True`` create) an encrypted database with a raw 32-byte key.

        A wrong key cannot be told apart from a damaged file here (both are "not a
        database"); the profile layer checks the passphrase first, so by the time this runs
        a failure means damage.

        Args:
            path: the database file.
            key: the raw SQLCipher key (``StoreKeys.database_key``).
            create: create a new file (mode 0600); it must not exist yet.
            cache_mib: page cache size. Decrypting a page costs more than reading it, so a
                cache that holds the search index's hot pages matters for query latency.

        Raises:
            DamagedStore: the file is missing, truncated, or not a database under this key.
            StoreError: the file cannot be opened (permissions, disk, in use).
        """
        if len(key) != KEY_BYTES:
            raise UsageError("a database key is 32 bytes")
        file = Path(path)
        if create:
            try:
                create_private_file(file)
            except FileExistsError:
                raise StoreError(f"cannot create {file}: the file already exists") from None
        elif not file.is_file():
            raise DamagedStore(file, "the database file is missing")
        conn = sqlcipher3.connect(
            str(file),
            isolation_level=None,
            check_same_thread=False,
            cached_statements=_STATEMENT_CACHE,
        )
        db = cls(conn, file, encrypted=True, module=sqlcipher3)
        try:
            with db._translating():
                # SQLCipher logs decryption failures to stderr; the user gets our message.
                conn.execute("PRAGMA cipher_log_level = NONE")
                conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            db._check_not_truncated()
            db._configure(cache_mib)
        except BaseException:
            conn.close()
            raise
        return db

    @classmethod
    def open_plain_for_benchmark(
        cls,
        path: PathLike,
        *,
        cache_mib: int = 32,
        library: Literal["sqlite3", "sqlcipher3"] = "sqlite3",
    ) -> "Database":
        """Open an UNENCRYPTED database. For ``bench/search.py`` only; never for user data.

        It gives the benchmark reference points, running the very same store code: stdlib
        ``sqlite3`` (what plain SQLite costs) and ``sqlcipher3`` without a key (the same
        SQLite build as the encrypted store, so encryption is the only difference).
        """
        file = Path(path)
        module: Any = sqlite3 if library == "sqlite3" else sqlcipher3
        conn = module.connect(
            str(file),
            isolation_level=None,
            check_same_thread=False,
            cached_statements=_STATEMENT_CACHE,
        )
        db = cls(conn, file, encrypted=False, module=module)
        try:
            db._configure(cache_mib)
        except BaseException:
            conn.close()
            raise
        return db

    def _configure(self, cache_mib: int) -> None:
        with self._translating():
            for pragma in (
                # WAL: readers never block on the writer, and a commit is one append + fsync.
                "PRAGMA journal_mode = WAL",
                # FULL: order and escrow state must be on disk before we acknowledge it.
                "PRAGMA synchronous = FULL",
                "PRAGMA foreign_keys = ON",
                # Sorts and temp tables stay in memory rather than in temporary files.
                "PRAGMA temp_store = MEMORY",
                f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}",
                f"PRAGMA cache_size = {-1024 * int(cache_mib)}",
            ):
                self._conn.execute(pragma).fetchall()
            mode = self._conn.execute("PRAGMA journal_mode").fetchone()
        if mode is None or str(mode[0]).lower() != "wal":
            raise StoreError(f"cannot switch the store at {self._path} to WAL mode")

    def _check_not_truncated(self) -> None:
        """Catch a truncated file at open time instead of at some later query.

        Only valid without a pending WAL: committed pages may still live in the WAL file, and
        then the main file is legitimately shorter than the page count says.
        """
        assert self._path is not None
        wal = self._path.with_name(self._path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            return
        with self._translating():
            page_size = int(self._conn.execute("PRAGMA page_size").fetchone()[0])
            page_count = int(self._conn.execute("PRAGMA page_count").fetchone()[0])
        if self._path.stat().st_size < page_size * page_count:
            raise DamagedStore(self._path, "the database file is truncated")

    def close(self) -> None:
        """Close the connection (idempotent). An open transaction is rolled back."""
        if self._closed:
            return
        try:
            if not self._conn.in_transaction:
                # Lets SQLite refresh its planner statistics; cheap, and advised before close.
                with self._translating():
                    self._conn.execute("PRAGMA optimize")
        except StoreError:
            pass  # closing a damaged store must still close it
        finally:
            self._closed = True
            self._conn.close()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def encrypted(self) -> bool:
        return self._encrypted

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    # -- statements ----------------------------------------------------------------------------

    # The statement helpers translate errors with a plain try/except rather than
    # `_translating()`: they run once per row in bulk ingests and a generator-based context
    # manager costs a few microseconds each time.

    def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows changed (-1 if not applicable)."""
        self._check_open()
        try:
            return self._conn.execute(sql, params).rowcount
        except (self._module.Error, MemoryError) as exc:
            self._translate(exc)

    def executemany(self, sql: str, rows: Sequence[Params]) -> int:
        self._check_open()
        try:
            return self._conn.executemany(sql, rows).rowcount
        except (self._module.Error, MemoryError) as exc:
            self._translate(exc)

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        """Run a query and return every row as a tuple."""
        self._check_open()
        try:
            return [tuple(row) for row in self._conn.execute(sql, params).fetchall()]
        except (self._module.Error, MemoryError) as exc:
            self._translate(exc)

    def query_one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of a query, or None."""
        self._check_open()
        try:
            row = self._conn.execute(sql, params).fetchone()
        except (self._module.Error, MemoryError) as exc:
            self._translate(exc)
        return None if row is None else tuple(row)

    def scalar(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row, or None when there is no row."""
        row = self.query_one(sql, params)
        return None if row is None else row[0]

    @contextmanager
    def larger_page_cache(self, mib: int) -> Iterator[None]:
        """Give the page cache at least ``mib`` MiB for the block, then the usual size again.

        For bulk writes (a large catalog sync, a rebuild): FTS5 touches many b-tree pages per
        row, and with SQLCipher every page that falls out of the cache is re-decrypted when it
        is needed again. Memory goes back when the block ends.
        """
        self._check_open()
        before = int(self.scalar("PRAGMA cache_size"))
        # Negative sizes are KiB, positive ones pages; compare both as KiB.
        before_kib = (
            -before if before < 0 else before * int(self.scalar("PRAGMA page_size")) // 1024
        )
        if before_kib >= 1024 * mib:
            yield
            return
        self.execute(f"PRAGMA cache_size = {-1024 * int(mib)}")
        try:
            yield
        finally:
            if not self._closed:
                self.execute(f"PRAGMA cache_size = {before}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction: COMMIT on success, ROLLBACK on any exception.

        The outermost level takes the write lock up front (``BEGIN IMMEDIATE``), so a
        read-then-write never fails half way with "database is locked". Nested uses become
        savepoints, so a helper can be transactional on its own and inside a larger one.
        """
        self._check_open()
        savepoint = f"sp{self._depth}"
        self.execute("BEGIN IMMEDIATE" if self._depth == 0 else f"SAVEPOINT {savepoint}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            self._rollback(savepoint)
            raise
        self._depth -= 1
        try:
            self.execute("COMMIT" if self._depth == 0 else f"RELEASE {savepoint}")
        except BaseException:
            self._rollback(savepoint)
            raise

    def _rollback(self, savepoint: str) -> None:
        # SQLite may already have rolled back by itself (e.g. after SQLITE_FULL).
        if not self._conn.in_transaction:
            return
        try:
            if self._depth == 0:
                self._conn.execute("ROLLBACK")
            else:
                self._conn.execute(f"ROLLBACK TO {savepoint}")
                self._conn.execute(f"RELEASE {savepoint}")
        except self._module.Error:
            pass  # the original exception is the one worth reporting

    # -- schema versions -----------------------------------------------------------------------

    def schema_version(self, namespace: str) -> int:
        """The schema version recorded for ``namespace``; 0 if it was never migrated."""
        exists = self.scalar(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_versions'"
        )
        if not exists:
            return 0
        version = self.scalar(
            "SELECT version FROM schema_versions WHERE namespace = ?", (namespace,)
        )
        return 0 if version is None else int(version)

    def migrate(self, namespace: str, migrations: Sequence[str]) -> int:
        """Bring ``namespace``'s tables up to ``len(migrations)``; returns that version.

        ``migrations[i]`` is the SQL script taking the namespace from version ``i`` to
        ``i + 1``. Every layer owns its tables under its own namespace, so layers evolve their
        schemas independently. All pending steps run in one transaction: a failure leaves the
        database at its old version. Running it again when up to date changes nothing.

        Raises:
            SchemaTooNew: the database has a newer version than ``migrations`` describes.
            StoreError: a migration step failed.
        """
        if not namespace or not set(namespace) <= _NAMESPACE_CHARS:
            raise UsageError(f"invalid schema namespace {namespace!r}")
        known = len(migrations)
        with self.transaction():
            self.execute(
                "CREATE TABLE IF NOT EXISTS schema_versions ("
                " namespace TEXT PRIMARY KEY,"
                " version INTEGER NOT NULL CHECK (version >= 0))"
            )
            current = self.schema_version(namespace)
            if current > known:
                raise SchemaTooNew(namespace, current, known)
            for version in range(current, known):
                try:
                    for statement in split_statements(migrations[version]):
                        self.execute(statement)
                except self._module.Error as exc:
                    raise StoreError(
                        f"upgrading the {namespace} schema to v{version + 1} failed: {exc}"
                    ) from exc
            if known > current:
                self.execute(
                    "INSERT INTO schema_versions (namespace, version) VALUES (?, ?)"
                    " ON CONFLICT (namespace) DO UPDATE SET version = excluded.version",
                    (namespace, known),
                )
        return known

    def check_integrity(self) -> None:
        """Read every page and check the structure (slow: for a "doctor" command).

        Raises:
            DamagedStore: anything is wrong.
        """
        try:
            rows = self.query("PRAGMA integrity_check")
        except self._module.Error as exc:  # e.g. FTS5's own check failing on a bad page
            raise DamagedStore(self._path, "the integrity check failed") from exc
        if rows != [("ok",)]:
            raise DamagedStore(self._path, str(rows[0][0])[:200] if rows else "integrity check")

    # -- errors --------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise UsageError("the store is closed")

    @contextmanager
    def _translating(self) -> Iterator[None]:
        self._check_open()
        try:
            yield
        except (self._module.Error, MemoryError) as exc:
            self._translate(exc)

    def _translate(self, exc: BaseException) -> NoReturn:
        if isinstance(exc, MemoryError):
            if not self._encrypted:
                raise exc
            # SQLite reports a page that SQLCipher could not authenticate as "out of memory"
            # (a codec failure looks like a failed allocation to the pager).
            raise DamagedStore(self._path, "a page failed its integrity check") from exc
        code = getattr(exc, "sqlite_errorcode", None)
        message = str(exc)
        if code is None:  # older bindings: fall back to SQLite's fixed messages
            if "file is not a database" in message:
                code = _SQLITE_NOTADB
            elif "malformed" in message:
                code = _SQLITE_CORRUPT
        primary = None if code is None else int(code) & 0xFF
        if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
            raise DamagedStore(self._path, message) from exc
        if primary in _USER_MESSAGES:
            raise StoreError(_USER_MESSAGES[primary].format(path=self._path)) from exc
        raise exc


def split_statements(script: str) -> list[str]:
    """Split an SQL script into single statements (the driver runs one at a time).

    Uses SQLite's own ``complete_statement`` so semicolons inside strings and trigger bodies
    do not split. A trailing statement without ``;`` is kept.
    """
    statements: list[str] = []
    start = 0
    for index, char in enumerate(script):
        if char == ";" and sqlite3.complete_statement(script[start : index + 1]):
            statement = script[start : index + 1].strip()
            if _has_code(statement):
                statements.append(statement)
            start = index + 1
    tail = script[start:].strip()
    if _has_code(tail):
        statements.append(tail)
    return statements


def _has_code(sql: str) -> bool:
    """Whether ``sql`` holds more than whitespace, semicolons and ``--`` comments."""
    lines = (line.split("--", 1)[0] for line in sql.splitlines())
    return any(line.strip(" \t;") for line in lines)
