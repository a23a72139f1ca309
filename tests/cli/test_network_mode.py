"""`umbra node` and `umbra app` run over Tor by default: a tor that cannot be had makes them
refuse to start in one line, never fall back to clearnet. (Running over a real tor: the Tor
tier, tests/integration/tor/test_tor_nodes.py.)"""

import socket
from pathlib import Path

import pytest

from .conftest import Runner, assert_one_line_error


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("command", ["node", "app"])
def test_an_unreachable_tor_is_a_one_line_refusal_not_clearnet(umbra: Runner, command: str) -> None:
    umbra("init")
    where = f"127.0.0.1:{_closed_port()}"
    extra = "--no-web" if command == "node" else "--browser"
    refused = umbra(command, extra, "--tor-control", where, check=False)
    assert refused.code == 1
    errors = [line for line in refused.stderr.splitlines() if not line.startswith("No window:")]
    assert len(errors) == 1 and errors[0].startswith("umbra: error: "), errors
    assert f"cannot reach tor at {where}" in errors[0] and "no clearnet fallback" in errors[0]
    assert "listening" not in refused.stdout and "Web app" not in refused.stdout
    as_json = umbra("--json", command, extra, "--tor-control", where, check=False)
    assert as_json.code == 1 and "cannot reach tor" in as_json.json()["error"]


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
