"""Tor mode dials, keeps and announces onion addresses only; clearnet keeps today's rules."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from umbra.net import (
    CLEARNET,
    NetError,
    NetworkSettingError,
    NodeConfig,
    TorSettings,
    announceable,
    check_announced,
    dialable,
    is_onion3,
    peer_store_addrs,
    rejoin_addrs,
)

TOR = TorSettings()
SERVICE = "a" * 55 + "d"  # the shape of a v3 onion service id (version byte 3: "d")
PEER = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
ONION = f"/onion3/{SERVICE}:9000"
IP4 = "/ip4/203.0.113.5/tcp/4001"
IP6 = "/ip6/2001:db8::1/tcp/4001"
DNS = "/dns4/seed.example/tcp/4001"


@pytest.mark.parametrize(
    "addr", [ONION, f"{ONION}/p2p/{PEER}", f"/onion3/{'z2' * 27}7d:1", f"/onion3/{SERVICE}:65535"]
)
def test_onion3_addresses(addr: str) -> None:
    assert is_onion3(addr) and dialable(TOR, addr)


@pytest.mark.parametrize(
    "addr",
    [
        IP4,
        IP6,
        DNS,
        f"{IP4}/p2p/{PEER}",
        f"/onion3/{'a' * 56}:9000",  # last character not "d": not version 3
        f"/onion3/{SERVICE.upper()}:9000",
        f"/onion3/{SERVICE[:-2]}d:9000",  # 55 characters
        f"/onion3/{SERVICE}",  # no port
        f"/onion3/{SERVICE}:0",
        f"/onion3/{SERVICE}:65536",
        f"/onion3/{SERVICE}:09000",
        f"/onion3/{SERVICE}:9000/tcp/1",
        f"/onion3/{SERVICE}:9000/p2p/",
        f"/onion/{SERVICE[:16]}:9000",  # v2 onion services are gone
        f"{ONION}/p2p/{PEER}/p2p-circuit",
        f"/ip4/127.0.0.1/tcp/1/p2p-circuit/p2p/{PEER}",  # a relay: dials an IP
    ],
)
def test_everything_else_is_not_dialled_in_tor_mode(addr: str) -> None:
    assert not is_onion3(addr)
    assert not dialable(TOR, addr)
    assert dialable(CLEARNET, addr)  # clearnet leaves it to libp2p, as before


_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"


@given(st.text(alphabet=_BASE32, min_size=55, max_size=55), st.integers(1, 65535))
def test_every_v3_shaped_onion_is_dialled(body: str, port: int) -> None:
    assert dialable(TOR, f"/onion3/{body}d:{port}")
    assert dialable(TOR, f"/onion3/{body}d:{port}/p2p/{PEER}")
    assert not dialable(TOR, f"/onion3/{body}d:{port}/tcp/{port}")


@given(st.text(max_size=120))
def test_no_other_text_is_an_onion(addr: str) -> None:
    pattern = r"/onion3/[a-z2-7]{55}d:[1-9][0-9]{0,4}(/p2p/[1-9A-HJ-NP-Za-km-z]{20,128})?"
    if is_onion3(addr):
        assert re.fullmatch(pattern, addr) and 1 <= int(addr.split(":")[1].split("/")[0]) <= 65535


def test_the_peer_store_keeps_onions_in_tor_mode_and_tcp_on_clearnet() -> None:
    seen = [IP4, ONION, IP6, "/ip4/127.0.0.1/udp/1/quic", ONION, f"/onion3/{'b' * 55}d:9001"]
    assert peer_store_addrs(TOR, seen) == [ONION, f"/onion3/{'b' * 55}d:9001"]
    assert peer_store_addrs(CLEARNET, seen) == [IP4, IP6]
    assert len(peer_store_addrs(CLEARNET, [f"/ip4/10.0.0.{i}/tcp/1" for i in range(9)])) == 4


def test_rejoining_in_tor_mode_dials_no_stored_ip_address() -> None:
    boot = f"/onion3/{'c' * 55}d:9000/p2p/{PEER}"
    other = "12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK"
    stored = [(PEER, [IP4, ONION]), (other, [IP6, "/ip4/10.0.0.1/tcp/1"])]
    assert rejoin_addrs(TOR, [boot], stored) == [boot, f"{ONION}/p2p/{PEER}"]
    # Clearnet: as before, two stored addresses per peer.
    assert rejoin_addrs(CLEARNET, [], stored) == [
        f"{IP4}/p2p/{PEER}",
        f"{ONION}/p2p/{PEER}",
        f"{IP6}/p2p/{other}",
        f"/ip4/10.0.0.1/tcp/1/p2p/{other}",
    ]
    # The same address from the bootstrap list and the store is dialled once.
    assert rejoin_addrs(TOR, [f"{ONION}/p2p/{PEER}"], [(PEER, [ONION])]) == [f"{ONION}/p2p/{PEER}"]


@given(
    st.lists(
        st.tuples(
            st.sampled_from([PEER, "12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK"]),
            st.lists(st.sampled_from([IP4, IP6, DNS, ONION, f"/onion3/{'e' * 55}d:1"]), max_size=5),
        ),
        max_size=6,
    )
)
def test_nothing_but_onions_is_ever_rejoined_in_tor_mode(stored: list) -> None:  # type: ignore[type-arg]
    for addr in rejoin_addrs(TOR, [], stored):
        assert is_onion3(addr) and "/p2p/" in addr


def test_bootstrap_and_listen_addresses_are_checked_by_the_config() -> None:
    boot = f"{ONION}/p2p/{PEER}"
    assert NodeConfig(bootstrap=(boot,)).bootstrap == (boot,)
    for bad in (f"{IP4}/p2p/{PEER}", ONION, DNS + f"/p2p/{PEER}"):  # ONION: no peer id
        with pytest.raises(NetworkSettingError, match="not an onion address"):
            NodeConfig(bootstrap=(bad,))
    for listen in ("/ip4/0.0.0.0/tcp/4001", "/ip4/192.168.1.2/tcp/0", "/ip6/::/tcp/1", DNS):
        with pytest.raises(NetworkSettingError, match="not loopback"):
            NodeConfig(listen=(listen,))
    assert NodeConfig(listen=("/ip4/127.0.0.5/tcp/0", "/ip6/::1/tcp/4001")).listen
    # Clearnet takes both as before.
    NodeConfig(
        network=CLEARNET, listen=("/ip4/0.0.0.0/tcp/4001",), bootstrap=(f"{IP4}/p2p/{PEER}",)
    )


def test_a_tor_node_refuses_to_announce_anything_but_onions() -> None:
    check_announced(TOR, [ONION])
    check_announced(CLEARNET, [IP4])
    assert announceable(TOR, [IP4, ONION, IP6]) == [ONION]
    assert announceable(CLEARNET, [IP4, ONION]) == [IP4, ONION]
    with pytest.raises(NetError, match="announce '/ip4/"):
        check_announced(TOR, [ONION, IP4])
    with pytest.raises(NetError, match="no onion address"):
        check_announced(TOR, [])  # libp2p would announce its real listen addresses then
