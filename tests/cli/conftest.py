"""Drive the real `umbra` console command in subprocesses."""

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

UMBRA = shutil.which("umbra", path=str(Path(sys.executable).parent)) or "umbra"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout.strip().splitlines()[-1])


Runner = Callable[..., Result]


@pytest.fixture
def umbra(tmp_path: Path) -> Runner:
    data_dir = tmp_path / "data"

    def run(
        *args: str,
        passphrase: str | None = "correct horse battery",
        check: bool = True,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
    ) -> Result:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("UMBRA_")}
        full_env["UMBRA_HOME"] = str(data_dir)
        if passphrase is not None:
            full_env["UMBRA_PASSPHRASE"] = passphrase
        full_env.update(env or {})
        proc = subprocess.run(
            [UMBRA, *args],
            capture_output=True,
            text=True,
            env=full_env,
            input=stdin,
            timeout=120,
        )
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr, proc.stderr
        if check:
            assert proc.returncode == 0, f"umbra {' '.join(args)} failed: {proc.stderr}"
        return result

    run.data_dir = data_dir  # type: ignore[attr-defined]
    return run


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.code != 0
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("umbra: error: ")
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), lines[0]
