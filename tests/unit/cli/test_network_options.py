"""`umbra node`/`umbra app` network options and node.toml's network keys: strict, one line."""

from pathlib import Path

import pytest

from umbra.cli._network_options import NetworkOptions
from umbra.cli._node_cmds import NODE_FILE, node_config
from umbra.core import UsageError
from umbra.net import CLEARNET, TorSettings
from umbra.net.tor import TcpEndpoint, UnixEndpoint

PEER = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"


def _write(tmp_path: Path, text: str) -> None:
    (tmp_path / NODE_FILE).write_text(text, encoding="utf-8")


def test_tor_with_its_own_tor_unless_told_otherwise(tmp_path: Path) -> None:
    assert node_config(tmp_path, (), ()).network == TorSettings()
    assert node_config(tmp_path, (), (), NetworkOptions()).network == TorSettings()


def test_clearnet_from_the_command_line(tmp_path: Path) -> None:
    config = node_config(tmp_path, ("/ip4/0.0.0.0/tcp/4001",), (), NetworkOptions(clearnet=True))
    assert config.network == CLEARNET and config.listen == ("/ip4/0.0.0.0/tcp/4001",)


def test_an_existing_tor_from_the_command_line(tmp_path: Path) -> None:
    options = NetworkOptions(tor_control="127.0.0.1:9051", tor_socks="unix:/run/tor/socks")
    assert node_config(tmp_path, (), (), options).network == TorSettings(
        control=TcpEndpoint("127.0.0.1", 9051), socks=UnixEndpoint(Path("/run/tor/socks"))
    )


def test_node_toml_keys(tmp_path: Path) -> None:
    _write(tmp_path, 'tor_control = "unix:/run/tor/control"\n')
    assert node_config(tmp_path, (), ()).network == TorSettings(
        control=UnixEndpoint(Path("/run/tor/control"))
    )
    _write(tmp_path, 'clearnet = true\nlisten = ["/ip4/0.0.0.0/tcp/4001"]\n')
    assert node_config(tmp_path, (), ()).network == CLEARNET


def test_the_command_line_replaces_the_files_network_settings(tmp_path: Path) -> None:
    _write(tmp_path, "clearnet = true\n")
    options = NetworkOptions(tor_control="127.0.0.1:9051")
    assert node_config(tmp_path, (), (), options).network == TorSettings(
        control=TcpEndpoint("127.0.0.1", 9051)
    )
    _write(tmp_path, 'tor_control = "127.0.0.1:9051"\n')
    assert node_config(tmp_path, (), (), NetworkOptions(clearnet=True)).network == CLEARNET


def test_the_network_file_becomes_torrc_lines(tmp_path: Path) -> None:
    lines = tmp_path / "private.torrc"
    lines.write_text("# a private network\nTestingTorNetwork 1\nAssumeReachable 1\n")
    options = NetworkOptions(tor_network_file=lines)
    network = node_config(tmp_path, (), (), options).network
    assert isinstance(network, TorSettings)
    assert network.extra_torrc_lines == ("TestingTorNetwork 1", "AssumeReachable 1")
    # In node.toml a relative path is relative to the profile directory.
    _write(tmp_path, 'tor_network_file = "private.torrc"\n')
    assert node_config(tmp_path, (), ()).network == network


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (NetworkOptions(clearnet=True, tor_control="127.0.0.1:9051"), "cannot be combined"),
        (NetworkOptions(clearnet=True, tor_network_file=Path("x")), "cannot be combined"),
        (NetworkOptions(tor_socks="127.0.0.1:9050"), "control port"),
        (NetworkOptions(tor_control="localhost:9051"), "host name is not allowed"),
        (NetworkOptions(tor_network_file=Path("/nonexistent/net.torrc")), "cannot read"),
        (
            NetworkOptions(tor_control="127.0.0.1:9051", tor_network_file=Path(__file__)),
            "Keyword value",  # this file is no torrc: refused before the combination
        ),
    ],
)
def test_bad_options_are_refused_with_one_line(
    tmp_path: Path, options: NetworkOptions, says: str
) -> None:
    with pytest.raises(UsageError) as info:
        node_config(tmp_path, (), (), options)
    assert says in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('clearnet = "yes"\n', "clearnet must be true or false"),
        ("tor_control = 9051\n", "tor_control must be a non-empty string"),
        ('tor_socks = ""\n', "tor_socks must be a non-empty string"),
        ('tor_control = "tor:9051"\n', "host name is not allowed"),
        ('clearnet = true\ntor_socks = "127.0.0.1:9050"\n', "cannot be combined"),
        ('tor_controll = "127.0.0.1:9051"\n', "unknown setting 'tor_controll'"),
        ("clear_net = true\n", "unknown setting 'clear_net'"),
    ],
)
def test_bad_node_toml_network_keys_are_refused(tmp_path: Path, text: str, says: str) -> None:
    _write(tmp_path, text)
    with pytest.raises(UsageError) as info:
        node_config(tmp_path, (), ())
    message = str(info.value)
    assert says in message and NODE_FILE in message and "\n" not in message


def test_tor_mode_refuses_ip_bootstrap_and_public_listen_addresses(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not an onion address"):
        node_config(tmp_path, (), (f"/ip4/127.0.0.1/tcp/4001/p2p/{PEER}",))
    with pytest.raises(UsageError, match="not loopback"):
        node_config(tmp_path, ("/ip4/0.0.0.0/tcp/4001",), ())
    _write(tmp_path, f'bootstrap = ["/ip4/127.0.0.1/tcp/4001/p2p/{PEER}"]\n')
    with pytest.raises(UsageError, match="not an onion address"):
        node_config(tmp_path, (), ())
    assert node_config(tmp_path, (), (), NetworkOptions(clearnet=True)).bootstrap
