"""`umbra init`: encrypted profiles, several side by side, clear errors."""

import hashlib
from pathlib import Path

from .conftest import Runner, assert_one_line_error


def _db(umbra: Runner, name: str = "default") -> Path:
    return umbra.data_dir / "profiles" / name / "umbra.db"  # type: ignore[attr-defined]


def test_init_creates_an_encrypted_profile(umbra: Runner) -> None:
    out = umbra("init", "--json").json()
    assert out["profile"] == "default"
    assert out["seller_id"].startswith("umbra-pk-ed25519-v1:")
    header = _db(umbra).read_bytes()[:16]
    assert header != b"SQLite format 3\x00"
    assert umbra("profiles", "--json").json()["profiles"] == ["default"]


def test_passphrase_from_file(umbra: Runner, tmp_path: Path) -> None:
    secret = tmp_path / "pass.txt"
    secret.write_text("from a file\n")
    umbra("--passphrase-file", str(secret), "init", passphrase=None)
    umbra("--passphrase-file", str(secret), "listing", "list", passphrase=None)
    assert_one_line_error(umbra("listing", "list", passphrase="other", check=False), "passphrase")


def test_no_passphrase_without_terminal_is_a_clear_error(umbra: Runner) -> None:
    assert_one_line_error(umbra("init", passphrase=None, check=False), "passphrase")


def test_several_profiles_side_by_side(umbra: Runner) -> None:
    a = umbra("--profile", "alice", "init", "--json").json()
    b = umbra("init", "--profile", "bob", "--json", passphrase="another one").json()
    assert a["seller_id"] != b["seller_id"]
    assert umbra("profiles", "--json").json()["profiles"] == ["alice", "bob"]
    assert umbra("listing", "list", "--profile", "bob", "--json", passphrase="another one").json()
    assert_one_line_error(umbra("--profile", "alice", "init", check=False), "exists")


def test_wrong_passphrase_is_clear_and_leaves_the_database_intact(umbra: Runner) -> None:
    umbra("init")
    before = hashlib.sha256(_db(umbra).read_bytes()).hexdigest()
    result = umbra("listing", "list", passphrase="wrong", check=False)
    assert_one_line_error(result, "passphrase")
    assert hashlib.sha256(_db(umbra).read_bytes()).hexdigest() == before
    umbra("listing", "list")  # the right one still works


def test_truncated_database_gives_a_clear_message(umbra: Runner) -> None:
    umbra("init")
    db = _db(umbra)
    db.write_bytes(db.read_bytes()[:1500])
    assert_one_line_error(umbra("listing", "list", check=False), "damaged")


def test_garbage_database_gives_a_clear_message(umbra: Runner) -> None:
    umbra("init")
    db = _db(umbra)
    db.write_bytes(bytes(range(256)) * 64)
    assert_one_line_error(umbra("search", "x", check=False), "damaged")


def test_unknown_profile(umbra: Runner) -> None:
    assert_one_line_error(umbra("--profile", "nobody", "listing", "list", check=False), "nobody")


def test_json_errors_are_machine_readable(umbra: Runner) -> None:
    result = umbra("--profile", "nobody", "listing", "list", "--json", check=False)
    assert result.code == 1
    assert "nobody" in result.json()["error"]
