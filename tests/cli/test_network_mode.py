"""`umbra node` and `umbra app` run over Tor by default: a tor that cannot be had makes them
refuse to start in one line, never fall back to clearnet. (Running over a real tor: the Tor
tier, tests/integration/tor/test_tor_nodes.py.)"""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import UMBRA, Runner, assert_one_line_error


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_tor_is_a_one_line_refusal_not_clearnet(umbra: Runner) -> None:
    umbra("init")
    where = f"127.0.0.1:{_closed_port()}"
    refused = umbra("node", "--no-web", "--tor-control", where, check=False)
    assert refused.code == 1
    assert_one_line_error(refused, f"cannot reach tor at {where}", "no clearnet fallback")
    assert "listening" not in refused.stdout and "Web app" not in refused.stdout
    as_json = umbra("--json", "node", "--no-web", "--tor-control", where, check=False)
    assert as_json.code == 1 and "cannot reach tor" in as_json.json()["error"]


@pytest.mark.parametrize("command", ["node", "app"])
def test_with_the_web_app_a_tor_failure_is_said_at_once_and_shown_until_stopped(
    umbra: Runner, tmp_path: Path, command: str
) -> None:
    """The web app (and `umbra app`'s browser) came up first; it keeps showing the reason
    (tests/integration/web/test_starting_ui.py looks at the page) until the user stops the
    process, which then ends with exit code 1, the reason said once, never clearnet."""
    umbra("init")
    where = f"127.0.0.1:{_closed_port()}"
    opened = tmp_path / "opened"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n', encoding="utf-8")
    browser.chmod(0o755)
    extra = ["--web-port", "0"] if command == "node" else ["--browser", "--port", "0"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("UMBRA_")}
    env.update(UMBRA_HOME=str(umbra.data_dir), UMBRA_PASSPHRASE="correct horse battery",  # type: ignore[attr-defined]
               BROWSER=f"{browser} %s")  # fmt: skip
    proc = subprocess.Popen(
        [UMBRA, command, *extra, "--tor-control", where],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    web_file = umbra.data_dir / "profiles" / "default" / "web.json"  # type: ignore[attr-defined]
    try:
        assert proc.stderr is not None
        error = ""
        while not error.startswith("umbra: error:"):
            error = proc.stderr.readline()
            assert error, "the process ended without saying why"
        assert f"cannot reach tor at {where}" in error and "no clearnet fallback" in error
        assert proc.poll() is None and web_file.exists()  # still serving the reason
        if command == "app":  # the browser opened on the web app too (in parallel)
            deadline = time.monotonic() + 60
            while not opened.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert opened.read_text().startswith("file://")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1, err
    assert "umbra: error" not in err and "Traceback" not in err  # said once, above
    assert "listening" not in out and "stopped" not in out.lower()
    assert not web_file.exists()


def test_an_own_tor_that_cannot_start_says_why(umbra: Runner, tmp_path: Path) -> None:
    umbra("init")
    bad = tmp_path / "tor-network"
    bad.write_text("NoSuchOption 1\n")
    refused = umbra("node", "--no-web", "--tor-network-file", str(bad), check=False)
    assert_one_line_error(refused, "cannot run over Tor", "tor exited", "NoSuchOption")


def test_bad_tor_options_are_one_line_errors(umbra: Runner) -> None:
    # The rest of the rules: tests/unit/cli/test_network_options.py, without a process each.
    cases = [
        (("--tor-control", "localhost:9051"), "host name is not allowed"),
        (("--bootstrap", "/ip4/127.0.0.1/tcp/1/p2p/QmPeer"), "not an onion address"),
    ]
    for args, says in cases:
        assert_one_line_error(umbra("node", *args, check=False), says)


def test_help_names_the_modes_but_not_the_test_option(umbra: Runner) -> None:
    for command in ("node", "app"):
        shown = umbra(command, "--help").stdout
        assert "--clearnet" in shown and "--tor-control" in shown and "--tor-socks" in shown
        assert "--tor-network-file" not in shown  # hidden: tests and the demo only
