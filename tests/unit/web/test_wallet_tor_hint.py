"""The Wallet page's hint for one's own wallet-rpc: the --proxy flag while the node runs over
Tor (with the node's SOCKS port when it is on an IP address), nothing otherwise."""

from typing import Any

import trio

from umbra.web._render import render
from umbra.web._wallet_pages import CONNECT_HELP, _tor_hint

PAGE = {"csrf": "", "nav": [], "path": "/wallet", "categories": [], "endpoint": None}


class _Status:
    """The one call `_tor_hint` makes (``PageServices.network_status``)."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer

    async def network_status(self) -> dict[str, Any]:
        return dict(self.answer)


def _hint(answer: dict[str, Any]) -> str:
    return trio.run(_tor_hint, _Status(answer))  # type: ignore[arg-type]


def test_the_hint_names_the_nodes_socks_port_over_tor_only() -> None:
    over_tor = _hint({"running": True, "network": "tor", "tor_socks": "127.0.0.1:40123"})
    assert "--proxy 127.0.0.1:40123" in over_tor
    unix = _hint({"running": True, "network": "tor", "tor_socks": "unix:/run/tor/socks"})
    assert "--proxy IP:PORT" in unix and "unix" not in unix.split("--proxy", 1)[1][:10]
    assert "--proxy IP:PORT" in _hint({"running": True, "network": "tor", "tor_socks": None})
    assert _hint({"running": True, "network": "clearnet", "tor_socks": None}) == ""
    assert _hint({"running": False, "network": "tor", "tor_socks": "127.0.0.1:1"}) == ""


def test_the_connect_form_shows_the_hint_when_there_is_one() -> None:
    hint = "This node runs over Tor: start monero-wallet-rpc with --proxy 127.0.0.1:9050"
    shown = render("wallet.html", connect_help=CONNECT_HELP, tor_hint=hint, **PAGE)
    assert 'id="wallet-tor-hint"' in shown and "--proxy 127.0.0.1:9050" in shown
    assert "wallet-tor-hint" not in render(
        "wallet.html", connect_help=CONNECT_HELP, tor_hint="", **PAGE
    )
