import os
import stat
from pathlib import Path

import pytest

from umbra.core import UsageError
from umbra.store import resolve_data_dir, validate_profile_name
from umbra.store._paths import (
    create_private_file,
    make_private_dirs,
    profile_dir,
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
