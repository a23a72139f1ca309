"""How a wallet-rpc Umbra starts reaches its daemon: loopback directly, anything else only
through tor's SOCKS port in Tor mode (pure rules; the real thing is in
tests/integration/tor/test_tor_trade.py)."""

import pytest

from umbra.wallet import (
    DaemonAddress,
    DaemonRouteError,
    SocksProxy,
    daemon_args,
    parse_daemon_address,
    proxy_hint,
    wallet_rpc_argv,
)

ONION = "a" * 54 + "qd.onion"  # 56 base32 characters
SOCKS = SocksProxy("127.0.0.1", 9050)


def _value(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args else None


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("127.0.0.1:18081", "127.0.0.1", 18081),
        ("[::1]:18081", "::1", 18081),
        ("node.example.org:18089", "node.example.org", 18089),
        (f"{ONION.upper()}:18081", ONION, 18081),
        ("203.0.113.5:1", "203.0.113.5", 1),
    ],
)
def test_addresses_parse(text: str, host: str, port: int) -> None:
    assert parse_daemon_address(text) == DaemonAddress(host, port)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "127.0.0.1",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "http://node:18081",
        "node/x:18081",
        "abc.onion:18081",  # not a v3 onion
        "-bad.example:18081",
        "[node.example]:18081",
        "::1:18081",  # IPv6 without brackets
        "node:18081\n--proxy",
    ],
)
def test_bad_addresses_are_refused_in_one_line(text: str) -> None:
    with pytest.raises(DaemonRouteError) as caught:
        parse_daemon_address(text)
    assert "\n" not in str(caught.value)


def test_a_daemon_on_loopback_is_reached_directly_in_either_mode() -> None:
    for tor_mode in (True, False):
        for socks in (SOCKS, None):
            args = daemon_args(
                parse_daemon_address("127.0.0.1:18081"), tor_mode=tor_mode, tor_socks=socks
            )
            assert "--proxy" not in args
            assert _value(args, "--daemon-address") == "127.0.0.1:18081"
            assert "--trusted-daemon" in args and "--no-dns" in args


@pytest.mark.parametrize("daemon", [f"{ONION}:18081", "203.0.113.5:18089", "node.example:18089"])
def test_in_tor_mode_a_remote_daemon_goes_through_the_socks_port(daemon: str) -> None:
    args = daemon_args(parse_daemon_address(daemon), tor_mode=True, tor_socks=SOCKS)
    assert _value(args, "--proxy") == "127.0.0.1:9050"
    assert _value(args, "--daemon-address") == daemon
    assert "--untrusted-daemon" in args and "--trusted-daemon" not in args
    assert "--no-dns" in args


@pytest.mark.parametrize("daemon", [f"{ONION}:18081", "203.0.113.5:18089", "localhost:18081"])
def test_in_tor_mode_a_remote_daemon_without_a_socks_port_is_refused(daemon: str) -> None:
    with pytest.raises(DaemonRouteError) as caught:
        daemon_args(parse_daemon_address(daemon), tor_mode=True, tor_socks=None)
    message = str(caught.value)
    assert "\n" not in message and "Tor mode" in message and "SocksPort" in message


def test_clearnet_reaches_a_remote_daemon_directly_but_an_onion_only_through_tor() -> None:
    args = daemon_args(parse_daemon_address("203.0.113.5:18089"), tor_mode=False, tor_socks=None)
    assert "--proxy" not in args
    onion = parse_daemon_address(f"{ONION}:18081")
    assert _value(daemon_args(onion, tor_mode=False, tor_socks=SOCKS), "--proxy") == str(SOCKS)
    with pytest.raises(DaemonRouteError, match="onion service"):
        daemon_args(onion, tor_mode=False, tor_socks=None)


def test_an_ipv6_socks_port_is_bracketed() -> None:
    args = daemon_args(
        parse_daemon_address(f"{ONION}:18081"), tor_mode=True, tor_socks=SocksProxy("::1", 9050)
    )
    assert _value(args, "--proxy") == "[::1]:9050"


def test_the_wallet_rpc_command_line_carries_the_route(tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    route = daemon_args(parse_daemon_address(f"{ONION}:18081"), tor_mode=True, tor_socks=SOCKS)
    argv = wallet_rpc_argv(
        route,
        port=18083,
        login_file=root / "login.conf",
        wallet_dir=root / "w",
        ringdb_dir=root / "ringdb",
        log_file=root / "w.log",
    )
    assert argv[0] == "monero-wallet-rpc"
    assert _value(argv, "--proxy") == "127.0.0.1:9050"
    assert _value(argv, "--rpc-bind-ip") == "127.0.0.1"
    assert not any("login" in a and ":" in a for a in argv if a != str(root / "login.conf"))


def test_the_hint_names_the_proxy_flag() -> None:
    assert "--proxy 127.0.0.1:9150" in proxy_hint("127.0.0.1:9150")
    assert "--proxy IP:PORT" in proxy_hint("unix:/run/tor/socks")
    assert "--proxy IP:PORT" in proxy_hint(None)
