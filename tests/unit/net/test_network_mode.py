"""Network modes and Tor settings: endpoints and torrc lines parsed strictly, Tor the default."""

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from umbra.core import UsageError
from umbra.net import (
    CLEARNET,
    NetworkSettingError,
    NodeConfig,
    TorSettings,
    check_torrc_lines,
    parse_tor_endpoint,
    torrc_lines_from_file,
)
from umbra.net.tor import TcpEndpoint, UnixEndpoint


def test_tor_is_the_default_mode() -> None:
    network = NodeConfig().network
    assert isinstance(network, TorSettings) and network.onion_only and network.own_tor
    assert (network.name, CLEARNET.name) == ("tor", "clearnet")
    assert not CLEARNET.onion_only


@pytest.mark.parametrize(
    ("text", "endpoint"),
    [
        ("127.0.0.1:9051", TcpEndpoint("127.0.0.1", 9051)),
        ("10.152.152.10:9051", TcpEndpoint("10.152.152.10", 9051)),  # a Whonix gateway
        ("[::1]:9050", TcpEndpoint("::1", 9050)),
        ("unix:/run/tor/control", UnixEndpoint(Path("/run/tor/control"))),
    ],
)
def test_endpoints_that_parse(text: str, endpoint: object) -> None:
    parsed = parse_tor_endpoint(text, option="--tor-control")
    assert parsed == endpoint
    assert str(parsed) == text


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("localhost:9051", "host name is not allowed"),  # resolving it would be DNS
        ("tor.example:9051", "expected IP:PORT"),
        ("127.0.0.1", "expected IP:PORT"),
        ("127.0.0.1:0", "expected IP:PORT"),
        ("127.0.0.1:65536", "expected IP:PORT"),
        ("unix:run/tor/control", "absolute"),
        ("unix:", "absolute"),
        ("", "expected IP:PORT"),
        ("127.0.0.1:9051\nControlPort 0", "expected IP:PORT"),
    ],
)
def test_endpoints_refused_with_one_line(text: str, says: str) -> None:
    with pytest.raises(NetworkSettingError) as info:
        parse_tor_endpoint(text, option="--tor-control")
    message = str(info.value)
    assert says in message and "--tor-control" in message and "\n" not in message
    assert isinstance(info.value, UsageError)  # the user's mistake: exit code and wording


@given(st.text(max_size=60))
def test_any_text_parses_or_is_refused_cleanly(text: str) -> None:
    try:
        endpoint = parse_tor_endpoint(text, option="--tor-socks")
    except NetworkSettingError as exc:
        error: NetworkSettingError | None = exc
    else:
        error = None
    if error is not None:
        assert "\n" not in str(error)
        return
    # Whatever parsed names an IP literal and a real port, or an absolute socket path.
    if isinstance(endpoint, TcpEndpoint):
        assert 1 <= endpoint.port <= 65535
        assert parse_tor_endpoint(str(endpoint), option="--tor-socks") == endpoint
    else:
        assert endpoint.path.is_absolute()


def test_socks_without_control_and_torrc_lines_with_an_existing_tor_are_refused() -> None:
    control = TcpEndpoint("127.0.0.1", 9051)
    with pytest.raises(NetworkSettingError, match="control port"):
        TorSettings(socks=TcpEndpoint("127.0.0.1", 9050))
    with pytest.raises(NetworkSettingError, match="own tor"):
        TorSettings(control=control, extra_torrc_lines=("TestingTorNetwork 1",))
    existing = TorSettings(control=control)
    assert not existing.own_tor and existing.socks is None


TORRC = b"""# written by PrivateTorNetwork.write_client_torrc
TestingTorNetwork 1
DirAuthority auth0 orport=5000 no-v2 v3ident=AAAA 127.0.0.1:7000 BBBB

AssumeReachable 1\r
"""


def test_a_network_file_gives_its_settings(tmp_path: Path) -> None:
    path = tmp_path / "net.torrc"
    path.write_bytes(TORRC)
    assert torrc_lines_from_file(path) == (
        "TestingTorNetwork 1",
        "DirAuthority auth0 orport=5000 no-v2 v3ident=AAAA 127.0.0.1:7000 BBBB",
        "AssumeReachable 1",
    )


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"ControlPort 0.0.0.0:9051\n", "set by Umbra's tor launcher"),
        (b"socksport 9050\n", "set by Umbra's tor launcher"),  # tor keywords ignore case
        (b"DataDirectory /tmp/x\n", "set by Umbra's tor launcher"),
        (b"TestingTorNetwork 1\n__OwningControllerProcess 1\n", "setting 2"),
        (b"%include /etc/tor/torrc.d\n", "Keyword value"),
        (b"TestingTorNetwork\n", "Keyword value"),
        (b"Testing-Tor 1\n", "Keyword value"),
        (b"TestingTorNetwork 1\x1b[2J\n", "control character"),
        (b"TestingTorNetwork \xff\n", "UTF-8"),
        (b"# x\n" * 20000, "over 65536 bytes"),
    ],
)
def test_bad_network_files_are_refused_with_one_line(
    tmp_path: Path, data: bytes, says: str
) -> None:
    path = tmp_path / "net.torrc"
    path.write_bytes(data)
    with pytest.raises(NetworkSettingError) as info:
        torrc_lines_from_file(path)
    assert says in str(info.value) and "--tor-network-file" in str(info.value)
    assert "\n" not in str(info.value)


def test_the_private_networks_own_lines_pass() -> None:
    from umbra.net.tor._private_network import COMMON_LINES

    assert check_torrc_lines(COMMON_LINES, source="x") == tuple(COMMON_LINES)


def test_the_mode_is_part_of_the_frozen_config() -> None:
    config = NodeConfig(network=CLEARNET, listen=("/ip4/0.0.0.0/tcp/4001",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.network = TorSettings()  # type: ignore[misc]
