"""A hint the CLI prints can be typed as printed: after `bash scripts/run.sh` the CLI is
``.venv/bin/umbra`` and `umbra` is not on PATH. A real `umbra` process, then its hint run."""

import os
import re
import subprocess
from pathlib import Path

from ._procs import UMBRA, clean_env


def test_a_hint_names_the_cli_as_it_runs_here(tmp_path: Path) -> None:
    script = Path(UMBRA)
    checkout = script.parent.parent.parent  # <checkout>/.venv/bin/umbra
    path = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if Path(p) != script.parent
    )
    env = clean_env(UMBRA_HOME=str(tmp_path / "data"), UMBRA_PASSPHRASE="pw", PATH=path)
    relative = str(script.relative_to(checkout))
    shown = subprocess.run(
        [relative, "profiles"], cwd=checkout, env=env, capture_output=True, text=True, check=True
    )
    hint = re.search(r"`([^`]+)`", shown.stdout)
    assert hint is not None, shown.stdout
    assert hint.group(1) == f"{relative} init"
    # Typed as printed, in the same place, it works.
    done = subprocess.run(
        ["sh", "-c", hint.group(1)], cwd=checkout, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / "profiles" / "default").is_dir()
