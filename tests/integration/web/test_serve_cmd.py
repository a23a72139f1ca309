"""`umbra serve`, `umbra open`: the real console commands in subprocesses."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx

UMBRA = shutil.which("umbra", path=str(Path(sys.executable).parent)) or "umbra"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UMBRA_")}
    env.update(UMBRA_HOME=str(tmp_path / "data"), UMBRA_PASSPHRASE="pw")
    return env


def _umbra(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [UMBRA, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_serve_then_open_then_stop(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert _umbra(env, "init").returncode == 0
    not_running = _umbra(env, "open", "--json")
    assert not_running.returncode == 1
    assert "not running" in json.loads(not_running.stdout)["error"]

    server = subprocess.Popen(
        [UMBRA, "serve", "--port", "0", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        started = json.loads(server.stdout.readline())
        assert started["event"] == "serving"
        url = started["url"]
        assert url.startswith("http://127.0.0.1:") and "/?token=" in url
        web_file = tmp_path / "data" / "profiles" / "default" / "web.json"
        assert web_file.stat().st_mode & 0o777 == 0o600

        opened = _umbra(env, "open", "--json")
        assert opened.returncode == 0, opened.stderr
        assert json.loads(opened.stdout)["url"] == url
        printed = _umbra(env, "open", "--print-only")
        assert url in printed.stdout

        with httpx.Client(timeout=30) as http:
            login = http.get(url)
            assert login.status_code == 303 and login.headers["location"] == "/"
            home = http.get(started["base"] + "/")
            assert home.status_code == 200 and "Browse by category" in home.text
            assert httpx.get(started["base"] + "/api/v1/profile").status_code == 401
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == {"event": "stopped"}
    assert not web_file.exists()


def test_serve_refuses_a_busy_port(tmp_path: Path) -> None:
    import socket

    env = _env(tmp_path)
    assert _umbra(env, "init").returncode == 0
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _umbra(env, "serve", "--port", str(port))
    assert result.returncode == 1
    assert "cannot listen" in result.stderr and "Traceback" not in result.stderr
