"""Helpers for driving real `umbra` processes that print JSON lines."""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

UMBRA = shutil.which("umbra", path=str(Path(sys.executable).parent)) or "umbra"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UMBRA_")}
    env.update(extra)
    return env


def umbra(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [UMBRA, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


class JsonLines:
    """Read a child's stdout JSON lines in a thread, so waiting for one can time out."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.raw.append(line)
                self.lines.append(json.loads(line))  # every stdout line must be JSON

    def wait_for(self, key: str, value: Any, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for line in self.lines:
                    if line.get(key) == value:
                        return line
            if self.proc.poll() is not None and not self._thread.is_alive():
                break
            time.sleep(0.2)
        err = ""
        if self.proc.poll() is not None and self.proc.stderr is not None:
            err = self.proc.stderr.read()
        raise AssertionError(f"no line with {key}={value!r}; got {self.raw}; stderr: {err}")

    def finish(self, timeout: float) -> None:
        self.proc.wait(timeout=timeout)
        self._thread.join(timeout=10)
