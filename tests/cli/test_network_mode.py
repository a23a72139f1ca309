"""`umbra node` and `umbra app` run over Tor by default; this build cannot yet, so they refuse
in one line, before the passphrase is asked, instead of falling back to clearnet."""

import pytest

from .conftest import Runner, assert_one_line_error


@pytest.mark.parametrize("command", ["node", "app"])
def test_tor_mode_refuses_to_start_rather_than_use_clearnet(umbra: Runner, command: str) -> None:
    # No profile and no passphrase: the refusal comes before the profile is even opened.
    refused = umbra(command, "--no-web" if command == "node" else "--browser", passphrase=None,
                    check=False)  # fmt: skip
    assert refused.code == 1
    assert_one_line_error(refused, "Tor mode is not available", "--clearnet")
    as_json = umbra("--json", command, check=False)
    assert as_json.code == 1 and "Tor mode is not available" in as_json.json()["error"]


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
