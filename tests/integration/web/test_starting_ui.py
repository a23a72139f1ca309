"""A real `umbra app` whose tor cannot be had, seen in Debian's Chromium: the browser opens at
once on the web app, which shows the same one-line reason the CLI prints, and the API answers
503; nothing runs against the node that did not start. (Tor's progress on the way to a node
that does start: tests/integration/tor/test_tor_nodes.py, on the private Tor network.)

Cost: one `umbra app` process (no tor at all: its --tor-control names a closed port) and one
Chromium, a few seconds.
"""

import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.conftest import UMBRA

from ._chromium import chromium, recording_browser, wait_for_file
from .conftest import ARTIFACTS

pytestmark = pytest.mark.ui


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def test_app_whose_tor_cannot_be_reached_shows_why_in_the_browser(
    tmp_path: Path, browser: Any
) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("UMBRA_")}
    command, opened = recording_browser(tmp_path)
    env.update(UMBRA_HOME=str(data), UMBRA_PASSPHRASE="pw", BROWSER=command)
    assert subprocess.run([UMBRA, "init"], env=env, capture_output=True).returncode == 0
    where = f"127.0.0.1:{_closed_port()}"
    proc = subprocess.Popen(
        [UMBRA, "app", "--browser", "--port", "0", "--tor-control", where],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        error = ""
        while not error.startswith("umbra: error: "):
            error = proc.stderr.readline()
            assert error, "umbra app ended without saying why"
        reason = error.removeprefix("umbra: error: ").strip()
        assert f"cannot reach tor at {where}" in reason
        # The browser was sent to the web app (a one-time login page), not left blank.
        page = browser.new_page()
        page.goto(wait_for_file(opened, timeout=60))
        page.wait_for_selector("#start-error", timeout=30_000)
        assert page.inner_text("#start-error") == reason
        assert page.inner_text("h1") == "Umbra could not start"
        assert page.locator("nav a").count() == 0
        ARTIFACTS.joinpath("web").mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web" / "start-failed.png"), full_page=True)
        link = json.loads((data / "profiles" / "default" / "web.json").read_text())["url"]
        base, token = link.split("/?token=")
        page.goto(f"{base}/wallet")
        assert page.inner_text("#start-error") == reason  # every page says it
        # The API refuses to act for a node that did not start, and says why.
        bearer = {"Authorization": f"Bearer {token}"}
        answer = httpx.get(f"{base}/api/v1/orders", headers=bearer, timeout=30)
        assert answer.status_code == 503 and answer.headers["retry-after"]
        said = answer.json()["error"]
        assert said == f"the node did not start: {reason}; restart it once this is fixed"
        status = httpx.get(f"{base}/api/v1/status", headers=bearer, timeout=30).json()
        assert status["starting"]["stage"] == "failed" and status["starting"]["error"] == reason
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1 and "Traceback" not in err, err
