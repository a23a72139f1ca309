import os
from pathlib import Path

import pytest
import sqlcipher3

from umbra.core import UsageError
from umbra.store import DamagedStore, Database, SchemaTooNew, StoreError
from umbra.store._database import split_statements
from umbra.store._schema import STORE_MIGRATIONS

MIGRATIONS = (
    "CREATE TABLE t (x INTEGER);",
    "ALTER TABLE t ADD COLUMN y TEXT; CREATE INDEX t_y ON t (y);",
)


def make(path: Path, key: bytes) -> None:
    with Database.open(path, key, create=True) as db:
        db.migrate("test", MIGRATIONS)
        with db.transaction():
            db.executemany("INSERT INTO t (x, y) VALUES (?, ?)", [(i, str(i)) for i in range(500)])


def test_open_create_and_reopen(tmp_path: Path, key: bytes) -> None:
    make(tmp_path / "a.db", key)
    with Database.open(tmp_path / "a.db", key) as db:
        assert db.encrypted
        assert db.scalar("SELECT count(*) FROM t") == 500
        assert db.scalar("PRAGMA journal_mode") == "wal"
        assert db.scalar("PRAGMA foreign_keys") == 1
        assert db.scalar("PRAGMA synchronous") == 2  # FULL


def test_key_must_be_32_bytes(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        Database.open(tmp_path / "a.db", b"short", create=True)


def test_create_refuses_existing_file(tmp_path: Path, key: bytes) -> None:
    (tmp_path / "a.db").write_bytes(b"")
    with pytest.raises(StoreError, match="already exists"):
        Database.open(tmp_path / "a.db", key, create=True)


def test_missing_file_is_damaged(tmp_path: Path, key: bytes) -> None:
    with pytest.raises(DamagedStore, match="missing"):
        Database.open(tmp_path / "nope.db", key)


def test_wrong_key_reads_as_damaged_at_this_layer(tmp_path: Path, key: bytes) -> None:
    make(tmp_path / "a.db", key)
    with pytest.raises(DamagedStore, match="restore the profile from a backup"):
        Database.open(tmp_path / "a.db", os.urandom(32))


def test_truncated_file_is_damaged(tmp_path: Path, key: bytes) -> None:
    make(tmp_path / "a.db", key)
    data = (tmp_path / "a.db").read_bytes()
    (tmp_path / "a.db").write_bytes(data[: len(data) // 2 + 100])
    with pytest.raises(DamagedStore, match="truncated"):
        Database.open(tmp_path / "a.db", key)


def test_random_garbage_is_damaged(tmp_path: Path, key: bytes) -> None:
    (tmp_path / "a.db").write_bytes(os.urandom(64 * 1024))
    with pytest.raises(DamagedStore):
        Database.open(tmp_path / "a.db", key)


def test_corrupted_page_is_damaged_on_read(tmp_path: Path, key: bytes) -> None:
    make(tmp_path / "a.db", key)
    path = tmp_path / "a.db"
    data = bytearray(path.read_bytes())
    data[-2000:-1000] = os.urandom(1000)  # inside the last page: its HMAC fails
    path.write_bytes(bytes(data))
    with pytest.raises(DamagedStore):  # noqa: PT012 - either opening or reading may notice
        db = Database.open(path, key)
        try:
            db.query("SELECT * FROM t")
            db.check_integrity()
        finally:
            db.close()


def insert_then_fail(db: Database, x: int) -> None:
    with db.transaction():
        db.execute("INSERT INTO t (x) VALUES (?)", (x,))
        raise RuntimeError("boom")


def test_transaction_commits_and_rolls_back(db: Database) -> None:
    db.migrate("test", MIGRATIONS)
    with db.transaction():
        db.execute("INSERT INTO t (x) VALUES (1)")
    with pytest.raises(RuntimeError, match="boom"):
        insert_then_fail(db, 2)
    assert db.query("SELECT x FROM t") == [(1,)]
    assert not db.in_transaction


def test_nested_transaction_is_a_savepoint(db: Database) -> None:
    db.migrate("test", MIGRATIONS)
    with db.transaction():
        db.execute("INSERT INTO t (x) VALUES (1)")
        with pytest.raises(RuntimeError, match="boom"):
            insert_then_fail(db, 2)
        with db.transaction():
            db.execute("INSERT INTO t (x) VALUES (3)")
    assert db.query("SELECT x FROM t ORDER BY x") == [(1,), (3,)]


def test_query_helpers(db: Database) -> None:
    db.migrate("test", MIGRATIONS)
    assert db.execute("INSERT INTO t (x, y) VALUES (?, ?)", (7, "a")) == 1
    assert db.query_one("SELECT x, y FROM t") == (7, "a")
    assert db.query_one("SELECT x FROM t WHERE x = 8") is None
    assert db.scalar("SELECT x FROM t WHERE x = :x", {"x": 7}) == 7
    assert db.scalar("SELECT x FROM t WHERE x = 8") is None


def test_sql_errors_are_not_hidden(db: Database) -> None:
    with pytest.raises(sqlcipher3.OperationalError, match="no such table"):
        db.query("SELECT * FROM no_such_table")


def test_closed_database_refuses_use(tmp_path: Path, key: bytes) -> None:
    db = Database.open(tmp_path / "a.db", key, create=True)
    db.close()
    db.close()  # idempotent
    with pytest.raises(UsageError, match="closed"):
        db.query("SELECT 1")


# -- migrations --------------------------------------------------------------------------------


def test_migrate_applies_in_order_and_is_idempotent(db: Database) -> None:
    assert db.schema_version("test") == 0
    assert db.migrate("test", MIGRATIONS[:1]) == 1
    assert db.schema_version("test") == 1
    assert db.migrate("test", MIGRATIONS) == 2
    assert db.migrate("test", MIGRATIONS) == 2  # re-run: nothing to do
    db.execute("INSERT INTO t (x, y) VALUES (1, 'a')")
    assert db.schema_version("test") == 2


def test_namespaces_are_independent(db: Database) -> None:
    db.migrate("one", ("CREATE TABLE one_t (a);",))
    db.migrate("two", ("CREATE TABLE two_t (a);", "CREATE TABLE two_u (a);"))
    assert db.schema_version("one") == 1
    assert db.schema_version("two") == 2
    assert db.schema_version("store") == len(STORE_MIGRATIONS)


def test_newer_schema_is_refused_with_a_clear_message(db: Database) -> None:
    db.migrate("test", MIGRATIONS)
    with pytest.raises(SchemaTooNew, match=r"newer version of Umbra.*upgrade") as info:
        db.migrate("test", MIGRATIONS[:1])
    assert (info.value.found, info.value.known) == (2, 1)
    assert db.schema_version("test") == 2


def test_failed_migration_rolls_back_every_step(db: Database) -> None:
    broken = (*MIGRATIONS, "CREATE TABLE z (a); THIS IS NOT SQL;")
    with pytest.raises(StoreError, match="test schema to v3"):
        db.migrate("test", broken)
    assert db.schema_version("test") == 0
    assert db.scalar("SELECT count(*) FROM sqlite_master WHERE name IN ('t', 'z')") == 0


def test_migrate_rejects_bad_namespace(db: Database) -> None:
    with pytest.raises(UsageError):
        db.migrate("Bad Name", MIGRATIONS)


def test_split_statements_respects_strings_and_triggers() -> None:
    script = """
    -- a comment; with a semicolon
    CREATE TABLE a (x TEXT DEFAULT 'semi;colon');
    CREATE TRIGGER tr AFTER INSERT ON a BEGIN
        INSERT INTO a (x) VALUES ('b;');
        DELETE FROM a WHERE x = 'c';
    END;
    INSERT INTO a VALUES ('tail without semicolon')
    """
    statements = split_statements(script)
    assert len(statements) == 3
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
    assert statements[2].startswith("INSERT INTO a VALUES")


@pytest.mark.parametrize("library", ["sqlite3", "sqlcipher3"])
def test_plain_database_for_benchmark(tmp_path: Path, library: str) -> None:
    path = tmp_path / "p.db"
    with Database.open_plain_for_benchmark(path, library=library) as db:  # type: ignore[arg-type]
        assert not db.encrypted
        db.migrate("test", MIGRATIONS)
        db.execute("INSERT INTO t (x) VALUES (1)")
    assert path.read_bytes()[:16] == b"SQLite format 3\x00"
