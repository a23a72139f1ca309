import os
import stat
from pathlib import Path

import pytest

from umbra.core import UsageError
from umbra.store import resolve_data_dir, validate_profile_name
from umbra.store._paths import (
    PRIVATE_UMASK,
    create_private_file,
    make_private_dirs,
    open_private_append,
    profile_dir,
    set_private_umask,
    tighten_private_tree,
    write_private_file,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_explicit_argument_wins(tmp_path: Path) -> None:
    env = {"UMBRA_HOME": "/env/umbra", "XDG_DATA_HOME": "/xdg", "HOME": "/home/u"}
    assert resolve_data_dir(tmp_path, environ=env) == tmp_path


def test_umbra_home_beats_xdg() -> None:
    env = {"UMBRA_HOME": "/env/umbra", "XDG_DATA_HOME": "/xdg", "HOME": "/home/u"}
    assert resolve_data_dir(environ=env) == Path("/env/umbra")


def test_xdg_data_home() -> None:
    env = {"XDG_DATA_HOME": "/xdg", "HOME": "/home/u"}
    assert resolve_data_dir(environ=env) == Path("/xdg/umbra")


def test_relative_xdg_is_ignored() -> None:
    env = {"XDG_DATA_HOME": "relative/dir", "HOME": "/home/u"}
    assert resolve_data_dir(environ=env) == Path("/home/u/.local/share/umbra")


def test_home_default_and_empty_values_ignored() -> None:
    env = {"UMBRA_HOME": "", "XDG_DATA_HOME": "", "HOME": "/home/u"}
    assert resolve_data_dir(None, environ=env) == Path("/home/u/.local/share/umbra")
    assert resolve_data_dir("", environ=env) == Path("/home/u/.local/share/umbra")


@pytest.mark.parametrize("name", ["a", "alice", "bob-2", "x_y", "0", "a" * 32])
def test_valid_profile_names(name: str) -> None:
    assert validate_profile_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "A", "Alice", "-a", "_a", "a" * 33, "..", "a/b", "a b", "é", ".hidden", "a\n"]
)
def test_invalid_profile_names(name: str) -> None:
    with pytest.raises(UsageError, match="invalid profile name"):
        validate_profile_name(name)


def test_profile_dir_layout(tmp_path: Path) -> None:
    assert profile_dir(tmp_path, "alice") == tmp_path / "profiles" / "alice"


def test_private_dirs_are_0700_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        target = tmp_path / "a" / "b" / "c"
        make_private_dirs(target)
    finally:
        os.umask(old)
    for path in (tmp_path / "a", tmp_path / "a" / "b", target):
        assert mode(path) == 0o700
    make_private_dirs(target)  # idempotent


def test_private_files_are_0600(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_private_file(tmp_path / "f.json", b"{}")
        create_private_file(tmp_path / "db")
    finally:
        os.umask(old)
    assert (tmp_path / "f.json").read_bytes() == b"{}"
    assert mode(tmp_path / "f.json") == 0o600
    assert mode(tmp_path / "db") == 0o600
    assert not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(FileExistsError):
        create_private_file(tmp_path / "db")


def test_write_private_file_replaces(tmp_path: Path) -> None:
    write_private_file(tmp_path / "f", b"one")
    write_private_file(tmp_path / "f", b"two")
    assert (tmp_path / "f").read_bytes() == b"two"


def test_set_private_umask_makes_new_files_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        assert set_private_umask() == 0o022
        (tmp_path / "d").mkdir()
        (tmp_path / "f").write_bytes(b"x")
        assert os.umask(0o022) == PRIVATE_UMASK
    finally:
        os.umask(old)
    assert mode(tmp_path / "d") == 0o700
    assert mode(tmp_path / "f") == 0o600


def test_open_private_append_creates_0600_and_tightens_an_existing_file(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        fd = open_private_append(tmp_path / "new.log")
        os.write(fd, b"one\n")
        os.close(fd)
        (tmp_path / "old.log").write_bytes(b"before\n")
        os.chmod(tmp_path / "old.log", 0o644)
        fd = open_private_append(tmp_path / "old.log")
        os.write(fd, b"after\n")
        os.close(fd)
    finally:
        os.umask(old)
    assert mode(tmp_path / "new.log") == 0o600
    assert mode(tmp_path / "old.log") == 0o600
    assert (tmp_path / "old.log").read_bytes() == b"before\nafter\n"  # appended, not truncated


def test_tighten_private_tree_takes_group_and_other_bits_away(tmp_path: Path) -> None:
    root = tmp_path / "sandbox"
    (root / "wallets" / "alice").mkdir(parents=True)
    (root / "logs").mkdir()
    files = {
        root / "logs" / "wallet.log": 0o644,
        root / "wallets" / "alice" / "main.keys": 0o666,
        root / "state.json": 0o640,
        root / "run.sh": 0o755,
        root / "already.txt": 0o600,
        root / "owner-read-only": 0o444,
    }
    for path, bits in files.items():
        path.write_bytes(b"x")
        os.chmod(path, bits)
    for directory in (root, root / "wallets", root / "wallets" / "alice", root / "logs"):
        os.chmod(directory, 0o755)
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not ours to change")
    os.chmod(outside, 0o644)
    (root / "link").symlink_to(outside)

    changed = tighten_private_tree(root)

    assert changed == 4 + 5  # four directories, five loose files (not already.txt)
    for directory in (root, root / "wallets", root / "wallets" / "alice", root / "logs"):
        assert mode(directory) == 0o700
    assert mode(root / "logs" / "wallet.log") == 0o600
    assert mode(root / "wallets" / "alice" / "main.keys") == 0o600
    assert mode(root / "state.json") == 0o600
    assert mode(root / "run.sh") == 0o700  # owner bits kept
    assert mode(root / "owner-read-only") == 0o400
    assert mode(outside) == 0o644  # a symlink is not followed
    assert tighten_private_tree(root) == 0
    assert tighten_private_tree(tmp_path / "missing") == 0
