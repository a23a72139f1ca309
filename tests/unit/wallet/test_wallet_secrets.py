"""Wallet secrets: where passwords and logins go (never a command line), and how they are
kept. The real processes are checked in tests/integration/wallet/test_secrets.py."""

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from umbra.store import Database
from umbra.wallet import Mailbox, SandboxError, WalletError, WalletStore
from umbra.wallet._config import SANDBOX_PASSWORD_KEY, sandbox_wallet_password
from umbra.wallet._multisig import password_lines
from umbra.wallet._sandbox_wallet import LEGACY_WALLET_PASSWORD, write_login_file


@pytest.fixture
def store(tmp_path: Path) -> Iterator[WalletStore]:
    database = Database.open(tmp_path / "profile.db", os.urandom(32), create=True)
    try:
        yield WalletStore(database)
    finally:
        database.close()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_cli_reads_the_password_twice_from_stdin() -> None:
    assert password_lines("s3cret-pw") == b"s3cret-pw\ns3cret-pw\n"


@pytest.mark.parametrize("bad", ["two\nlines", "carriage\rreturn", "trailing\n"])
def test_a_password_with_a_line_break_is_refused(bad: str) -> None:
    with pytest.raises(WalletError, match="line break"):
        password_lines(bad)


def test_the_login_file_is_0600_and_holds_only_the_login(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_login_file(tmp_path / "w.conf", "umbra", "Abc-_123")
    finally:
        os.umask(old)
    assert (tmp_path / "w.conf").read_text(encoding="ascii") == "rpc-login=umbra:Abc-_123\n"
    assert mode(tmp_path / "w.conf") == 0o600


@pytest.mark.parametrize(
    ("user", "password"),
    [("umbra", "a\nrpc-bind-ip=0.0.0.0"), ("um:bra", "pw"), ("umbra", "pässword"), ("", "pw")],
)
def test_a_login_that_could_inject_config_lines_is_refused(
    tmp_path: Path, user: str, password: str
) -> None:
    with pytest.raises(SandboxError):
        write_login_file(tmp_path / "w.conf", user, password)
    assert not (tmp_path / "w.conf").exists()


def test_the_sandbox_wallet_password_is_random_kept_and_per_profile(
    store: WalletStore, tmp_path: Path
) -> None:
    first = sandbox_wallet_password(store)
    assert first == sandbox_wallet_password(store)  # kept, not made again
    assert store.get_config(SANDBOX_PASSWORD_KEY) == first
    assert len(first) >= 32 and first != LEGACY_WALLET_PASSWORD
    other_db = Database.open(tmp_path / "other.db", os.urandom(32), create=True)
    try:
        assert sandbox_wallet_password(WalletStore(other_db)) != first
    finally:
        other_db.close()


def test_config_setdefault_keeps_the_first_value(store: WalletStore) -> None:
    assert store.config_setdefault("k", "one") == "one"
    assert store.config_setdefault("k", "two") == "one"
    store.set_config("k", "three")
    assert store.config_setdefault("k", "four") == "three"


def test_the_file_mailbox_is_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        Mailbox(tmp_path / "mail", "e1", "buyer").send("seller", b"hello")
    finally:
        os.umask(old)
    paths = [tmp_path / "mail", *(tmp_path / "mail").rglob("*")]
    assert any(p.suffix == ".msg" for p in paths)
    for path in paths:
        assert mode(path) & 0o077 == 0, path
