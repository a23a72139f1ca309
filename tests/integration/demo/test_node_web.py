"""`umbra node` serves the web app on its own loop; `umbra open` finds it; `umbra app` falls
back to the browser without a display. Real processes, real sockets on 127.0.0.1."""

import json
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.leak_audit import child_audit_env, read_child_audit

from ._procs import UMBRA, JsonLines, clean_env, umbra

pytestmark = pytest.mark.network


def _start(env: dict[str, str], *args: str) -> tuple[subprocess.Popen[str], JsonLines]:
    proc = subprocess.Popen(
        [UMBRA, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    return proc, JsonLines(proc)


def _stop(proc: subprocess.Popen[str], lines: JsonLines, sig: int) -> str:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        lines.finish(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None
    return proc.stderr.read()


def _wait_status_network(env: dict[str, str], network: str) -> None:
    """`umbra status` reports the mode once the node wrote its first status row."""
    deadline = time.monotonic() + 60
    while True:
        status = json.loads(umbra(env, "status", "--json").stdout)
        if status["running"]:
            assert status["network"] == network
            assert f"network: {network}" in umbra(env, "status").stdout
            return
        assert time.monotonic() < deadline, status
        time.sleep(0.5)


def test_node_serves_the_web_app_until_sigterm(tmp_path: Path) -> None:
    env = clean_env(UMBRA_HOME=str(tmp_path / "data"), UMBRA_PASSPHRASE="pw")
    assert umbra(env, "init").returncode == 0
    web_file = tmp_path / "data" / "profiles" / "default" / "web.json"
    proc, lines = _start(env, "node", "--clearnet", "--web-port", "0", "--json")
    try:
        started = lines.wait_for("event", "listening", timeout=120)
        url, base = started["url"], started["base"]
        assert url.startswith("http://127.0.0.1:") and "/?token=" in url
        token = url.split("token=", 1)[1]
        assert web_file.stat().st_mode & 0o777 == 0o600

        printed = umbra(env, "open", "--print-only")
        assert printed.returncode == 0 and url in printed.stdout

        with httpx.Client(base_url=base, timeout=30) as http:
            assert http.get("/api/v1/profile").status_code == 401
            profile = http.get(
                "/api/v1/profile", headers={"Authorization": f"Bearer {token}"}
            ).json()
            # The status comes from the live node in this very process.
            assert profile["node"]["connected"] is True
            assert profile["node"]["status"]["peer_id"] == started["peer_id"]
            assert profile["node"]["status"]["running"] is True
            assert profile["node"]["status"]["network"] == "clearnet"
            assert profile["node"]["status"]["tor_bootstrap"] is None
            login = http.get(url)
            assert login.status_code == 303
            settings = http.get("/settings")
            assert settings.status_code == 200
            assert "clearnet: plain TCP, peers see your IP address" in settings.text
            assert "Browse" in http.get("/").text
            # Clearnet: every page says that peers see this machine's address, 404s too.
            for path in ("/", "/settings", "/orders", "/no-such-page"):
                assert 'id="clearnet-banner"' in http.get(path).text, path
        assert started["network"] == "clearnet"
        _wait_status_network(env, "clearnet")
    finally:
        err = _stop(proc, lines, signal.SIGTERM)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert lines.lines[-1] == {"event": "stopped"}
    assert not web_file.exists()
    after = umbra(env, "open", "--json")
    assert after.returncode == 1 and "not running" in json.loads(after.stdout)["error"]


def test_node_without_web_and_busy_port(tmp_path: Path) -> None:
    import socket

    env = clean_env(UMBRA_HOME=str(tmp_path / "data"), UMBRA_PASSPHRASE="pw")
    assert umbra(env, "init").returncode == 0
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        refused = umbra(env, "node", "--clearnet", "--web-port", str(port))
    assert refused.returncode == 1
    assert "cannot listen" in refused.stderr and "--web-port" in refused.stderr
    assert "Traceback" not in refused.stderr

    # The node process records its own network use (tests/support/leak_audit.py): it dials
    # its bootstrap address (refused: nothing listens there) and nothing else, and looks up
    # no names.
    audit_log = tmp_path / "node-audit.jsonl"
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]
    boot = f"/ip4/127.0.0.1/tcp/{dead}/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
    audited = child_audit_env(audit_log, env)
    proc, lines = _start(audited, "node", "--clearnet", "--no-web", "--bootstrap", boot, "--json")
    try:
        started = lines.wait_for("event", "listening", timeout=120)
        assert started["url"] is None
        assert umbra(env, "open", "--print-only").returncode == 1
        deadline = time.monotonic() + 60
        while not any(c.port == dead for c in read_child_audit(audit_log).connects):
            assert time.monotonic() < deadline, "the node never dialled its bootstrap address"
            time.sleep(0.2)
    finally:
        err = _stop(proc, lines, signal.SIGINT)
    assert proc.returncode == 0, err
    read_child_audit(audit_log).assert_only([("127.0.0.1", dead)])


def test_app_without_a_display_opens_the_browser(tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n', encoding="utf-8")
    browser.chmod(0o755)
    env = clean_env(UMBRA_HOME=str(tmp_path / "data"), UMBRA_PASSPHRASE="pw")
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env["BROWSER"] = f"{browser} %s"
    assert umbra(env, "init").returncode == 0
    proc, lines = _start(env, "app", "--clearnet", "--port", "0", "--json")
    try:
        started = lines.wait_for("event", "listening", timeout=120)
        assert started["window"] is False and started["browser_opened"] is True
        token = started["url"].split("token=", 1)[1]
        base = started["url"].split("/?token=", 1)[0]
        # The browser's command line (readable by every local user in `ps`) holds a one-time
        # login code, never the access token; the code logs in once and is then spent.
        # The browser is started with the path of an owner-only page in the profile directory
        # that forwards it to a one-time login code; no secret is on its command line.
        browser_arg = opened.read_text(encoding="utf-8").strip()
        forwarder = tmp_path / "data" / "profiles" / "default" / "open.html"
        assert browser_arg == forwarder.as_uri()
        assert forwarder.stat().st_mode & 0o777 == 0o600
        page = forwarder.read_text(encoding="utf-8")
        assert token not in page
        code_url = page.split('content="0;url=', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        assert code_url.startswith(f"{base}/?code=")
        first = httpx.get(code_url, timeout=30)
        assert first.status_code == 200 and "umbra_session_" in first.headers["set-cookie"]
        assert httpx.get(code_url, timeout=30).status_code == 401
        profile = httpx.get(
            f"{base}/api/v1/profile", headers={"Authorization": f"Bearer {token}"}, timeout=30
        ).json()
        assert profile["node"]["connected"] is True  # `umbra app` runs the node too
    finally:
        err = _stop(proc, lines, signal.SIGINT)
    assert proc.returncode == 0, err
    assert lines.lines[-1] == {"event": "stopped"}
