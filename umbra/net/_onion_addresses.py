"""Which peer addresses a node may dial, keep and announce, by network mode (pure functions).

In Tor mode a node knows peers by onion address only: it dials ``/onion3/…`` addresses
(through Tor's SOCKS port), keeps only those in its peer store, refuses any other bootstrap
address, listens on loopback only (where tor forwards its onion service) and never announces
an ``/ip4``, ``/ip6`` or ``/dns`` address. An IP address from a peer (identify, the DHT, a
provider record) is dropped, never dialled: dialling it would be a connection outside Tor.
Clearnet mode keeps today's behaviour (TCP addresses in the peer store, anything libp2p dials).

Addresses are multiaddr text; everything here is checked as text, so a malformed address is
simply not an onion address.
"""

import ipaddress
import re
from collections.abc import Iterable, Sequence

from ._errors import NetError
from ._network_mode import NetworkMode, NetworkSettingError

# A v3 onion service id: base32 of public key (32 bytes) + checksum (2) + version (1) = 56
# characters; the version byte 0x03 makes the last one "d". Tor checks the checksum itself
# and refuses a bad one before any circuit is built.
_ONION3_ID = re.compile(r"[a-z2-7]{55}d")
_PEER_ID = re.compile(r"[1-9A-HJ-NP-Za-km-z]{20,128}")  # base58btc
_ONION_HINT = "/onion3/<56 characters>:<port>/p2p/<peer id>"
PEER_STORE_ADDRS = 4  # addresses kept per peer
REJOIN_ADDRS = 2  # stored addresses dialled per peer when rejoining


def is_onion3(addr: str) -> bool:
    """Whether ``addr`` is ``/onion3/<id>:<port>``, optionally followed by ``/p2p/<peer>``."""
    parts = addr.split("/")
    if len(parts) not in (3, 5) or parts[0] != "" or parts[1] != "onion3":
        return False
    service, sep, port = parts[2].partition(":")
    if not sep or not _ONION3_ID.fullmatch(service) or not _is_port(port):
        return False
    return len(parts) == 3 or (parts[3] == "p2p" and bool(_PEER_ID.fullmatch(parts[4])))


def _is_port(text: str) -> bool:
    return (
        text.isascii()
        and text.isdigit()
        and len(text) <= 5
        and not text.startswith("0")
        and 1 <= int(text) <= 65535
    )


def _without_peer(addr: str) -> str:
    return addr.split("/p2p/", 1)[0]


def dialable(mode: NetworkMode, addr: str) -> bool:
    """Whether the node may dial ``addr`` (a peer's address from anywhere) in ``mode``."""
    return is_onion3(addr) if mode.onion_only else True


def peer_store_addrs(mode: NetworkMode, addrs: Iterable[str]) -> list[str]:
    """The addresses of a connected peer worth keeping for the next start (at most 4).

    Tor mode: onion addresses only. Clearnet: TCP addresses, as before Tor mode existed.
    """
    if mode.onion_only:
        kept = [_without_peer(a) for a in addrs if is_onion3(a)]
    else:
        kept = [a for a in addrs if "/tcp/" in a]
    return list(dict.fromkeys(kept))[:PEER_STORE_ADDRS]


def rejoin_addrs(
    mode: NetworkMode,
    bootstrap: Sequence[str],
    stored: Iterable[tuple[str, Sequence[str]]],
) -> list[str]:
    """What to dial when the node starts: its bootstrap addresses, then up to two addresses
    of each peer in the peer store (with ``/p2p/<peer>`` appended), each once.

    The peer store may hold addresses from a run in the other mode: in Tor mode only onion
    addresses are dialled.
    """
    addrs = list(bootstrap)
    for peer, peer_addrs in stored:
        usable = [a for a in peer_addrs if dialable(mode, a)][:REJOIN_ADDRS]
        addrs.extend(a if "/p2p/" in a else f"{a}/p2p/{peer}" for a in usable)
    return list(dict.fromkeys(addrs))


def check_bootstrap(mode: NetworkMode, addrs: Iterable[str]) -> None:
    """Tor mode: every bootstrap address is an onion address with its peer id.

    Raises:
        NetworkSettingError: naming the first address that is not.
    """
    if not mode.onion_only:
        return
    for addr in addrs:
        if not (is_onion3(addr) and "/p2p/" in addr):
            raise NetworkSettingError(
                f"bootstrap address {addr[:120]!r} is not an onion address: in Tor mode the node"
                f" joins through {_ONION_HINT} only (--clearnet for TCP addresses)"
            )


def check_listen(mode: NetworkMode, addrs: Iterable[str]) -> None:
    """Tor mode: the node listens on loopback TCP only (tor forwards its onion service there);
    a listener on another interface would let anyone reach it without Tor.

    Raises:
        NetworkSettingError: naming the first address that is not loopback TCP.
    """
    if not mode.onion_only:
        return
    for addr in addrs:
        if not _is_loopback_tcp(addr):
            raise NetworkSettingError(
                f"listen address {addr[:120]!r} is not loopback: in Tor mode the node listens on"
                " 127.0.0.1 only (e.g. /ip4/127.0.0.1/tcp/0) and is reached at its onion address"
            )


def _is_loopback_tcp(addr: str) -> bool:
    parts = addr.split("/")
    if len(parts) != 5 or parts[0] != "" or parts[1] not in ("ip4", "ip6") or parts[3] != "tcp":
        return False
    try:
        ip = ipaddress.ip_address(parts[2])
    except ValueError:
        return False
    port = parts[4]
    return ip.is_loopback and (port == "0" or _is_port(port))


def announceable(mode: NetworkMode, addrs: Iterable[str]) -> list[str]:
    """The addresses the node may tell others: in Tor mode its onion addresses only."""
    return [a for a in addrs if is_onion3(a)] if mode.onion_only else list(addrs)


def check_announced(mode: NetworkMode, addrs: Sequence[str]) -> None:
    """Tor mode: what the host announces (identify, signed peer record, DHT provider records)
    is onion addresses only, and at least one (py-libp2p announces its real listen addresses
    when given none).

    Raises:
        NetError: the transport would announce another address, or none (a bug in it).
    """
    if not mode.onion_only:
        return
    if not addrs:
        raise NetError(
            "refusing to run: the Tor transport announces no onion address (libp2p would fall"
            " back to the real listen addresses)"
        )
    for addr in addrs:
        if not is_onion3(addr):
            raise NetError(
                f"refusing to run: in Tor mode the node would announce {addr[:120]!r};"
                " only onion addresses may be announced"
            )
