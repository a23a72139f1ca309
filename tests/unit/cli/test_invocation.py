"""How hints name the CLI (`umbra.cli._invocation`): the way it can be run here."""

import os
from pathlib import Path

import pytest

from umbra.cli._invocation import runnable_command, with_runnable_commands


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A checkout after `bash scripts/run.sh`: the CLI at .venv/bin/umbra, not on PATH."""
    script = tmp_path / "repo" / ".venv" / "bin" / "umbra"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    return tmp_path / "repo"


def _command(repo: Path, **kwargs: object) -> str:
    args: dict[str, object] = {
        "argv0": ".venv/bin/umbra",
        "cwd": str(repo),
        "path_env": "/usr/bin:/bin",
    }
    args.update(kwargs)
    return runnable_command(**args)  # type: ignore[arg-type]


def test_not_on_path_it_is_the_path_of_the_script(repo: Path) -> None:
    assert _command(repo) == ".venv/bin/umbra"
    assert _command(repo, argv0=str(repo / ".venv/bin/umbra")) == ".venv/bin/umbra"
    assert _command(repo, cwd=str(repo / ".venv" / "bin"), argv0="./umbra") == "./umbra"


def test_for_another_terminal_or_from_elsewhere_it_is_absolute(repo: Path) -> None:
    absolute = str(repo / ".venv" / "bin" / "umbra")
    assert _command(repo, anywhere=True) == absolute
    assert _command(repo, cwd=str(repo / "docs"), argv0=absolute) == absolute


def test_when_path_finds_this_very_script_it_is_umbra(repo: Path) -> None:
    on_path = f"/usr/bin:{repo / '.venv' / 'bin'}"
    assert _command(repo, path_env=on_path) == "umbra"
    assert _command(repo, path_env=on_path, anywhere=True) == "umbra"


def test_another_umbra_on_path_is_not_taken_for_this_one(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-bin"
    other.mkdir()
    (other / "umbra").write_text("#!/bin/sh\n")
    (other / "umbra").chmod(0o755)
    assert _command(repo, path_env=str(other)) == ".venv/bin/umbra"


def test_a_path_with_spaces_is_quoted_for_the_shell(tmp_path: Path) -> None:
    script = tmp_path / "my repo" / "bin" / "umbra"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    command = runnable_command(argv0=str(script), cwd=str(tmp_path), path_env="", anywhere=True)
    assert command == f"'{script}'"


def test_not_started_as_the_script_it_stays_umbra(repo: Path) -> None:
    assert _command(repo, argv0=os.path.join("tests", "_umbra_entry.py")) == "umbra"


def test_quoted_commands_in_a_text_are_rewritten() -> None:
    text = "start it with `umbra node`, or `umbra --profile X init`; `umbra`; umbrella `umbrage`"
    assert with_runnable_commands(text, ".venv/bin/umbra") == (
        "start it with `.venv/bin/umbra node`, or `.venv/bin/umbra --profile X init`;"
        " `.venv/bin/umbra`; umbrella `umbrage`"
    )
    assert with_runnable_commands("no command here", "x") == "no command here"
