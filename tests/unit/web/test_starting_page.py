"""While the node starts: the starting screen (``umbra.web``) and the 503 gate in front of
every page and endpoint (``umbra.api``'s `StartingGate`), driven as ASGI, no server."""

import json
from typing import Any

import trio
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from umbra.api._starting import StartingGate
from umbra.net import StartingNode
from umbra.web._starting_page import REFRESH_S, starting_response

TOR_45 = StartingNode("tor", "tor", 45, "Loading relay descriptors")
FAILED = StartingNode("tor", "failed", error="cannot run over Tor: cannot reach tor at 127.0.0.1:1")


def _request(path: str = "/wallet") -> Request:
    return Request({"type": "http", "method": "GET", "path": path, "headers": [],
                    "query_string": b""})  # fmt: skip


def _html(starting: StartingNode) -> str:
    response = starting_response(_request(), starting)
    assert response.status_code == 503
    return bytes(response.body).decode()


def test_the_screen_shows_the_percentage_and_reloads_itself() -> None:
    page = _html(TOR_45)
    assert '<progress id="tor-progress" max="100" value="45">' in page
    assert '<span id="tor-percent">45 %</span>' in page
    assert "Connecting to Tor… 45 % (Loading relay descriptors)" in page
    assert f'<meta http-equiv="refresh" content="{REFRESH_S}">' in page
    assert 'href="/wallet"' not in page and "<nav>\n  </nav>" in page  # nothing works yet
    assert "start-error" not in page and "clearnet-banner" not in page


def test_before_tor_reports_there_is_no_bar_and_a_stuck_tor_says_why() -> None:
    page = _html(StartingNode("tor", "tor"))
    assert "Starting Tor…" in page and "tor-progress" not in page
    stuck = _html(StartingNode("tor", "tor", 14, "Handshaking", "Connection refused"))
    assert 'id="tor-warning"' in stuck and "Connection refused" in stuck


def test_a_failed_start_shows_the_reason_and_stops_reloading() -> None:
    page = _html(FAILED)
    assert '<p class="notice error" role="alert" id="start-error">' in page
    assert "cannot reach tor at 127.0.0.1:1" in page
    assert "http-equiv" not in page and "tor-progress" not in page


def test_tors_words_are_escaped() -> None:
    page = _html(StartingNode("tor", "tor", 5, "<script>alert(1)</script>"))
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_clearnet_start_keeps_the_warning_banner() -> None:
    page = _html(StartingNode("clearnet", "node"))
    assert 'id="clearnet-banner"' in page and "Starting the node…" in page


class _Startup:
    def __init__(self, starting: StartingNode | None) -> None:
        self.starting = starting

    def snapshot(self) -> StartingNode | None:
        return self.starting


async def _inner(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"the real thing"})


def _call(gate: StartingGate, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    scope = {"type": "http", "method": method, "path": path, "headers": [], "query_string": b""}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    trio.run(gate, scope, receive, send)
    headers = {k.decode(): v.decode() for k, v in sent[0].get("headers", [])}
    return sent[0]["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


def test_the_gate_answers_503_until_the_node_is_up_then_lets_everything_through() -> None:
    startup = _Startup(TOR_45)
    gate = StartingGate(_inner, startup, starting_response)
    status, headers, body = _call(gate, "POST", "/api/v1/wallet/send")
    assert status == 503 and headers["retry-after"] == "2"
    answer = json.loads(body)
    assert answer["error"].startswith("the node is starting: Tor 45 % (Loading relay")
    assert answer["starting"]["percent"] == 45 and answer["starting"]["stage"] == "tor"
    for method, path in [("GET", "/"), ("POST", "/my/new"), ("GET", "/orders")]:
        status, headers, body = _call(gate, method, path)
        assert status == 503 and headers["content-type"].startswith("text/html")
        assert b'id="tor-percent">45 %' in body and b"the real thing" not in body
    for path in ["/static/app.css", "/api/v1/status", "/api/v1/session", "/api/docs"]:
        assert _call(gate, "GET", path) == (200, {}, b"the real thing")
    assert _call(gate, "POST", "/api/v1/status")[0] == 503  # read-only while starting
    startup.starting = FAILED
    status, _, body = _call(gate, "GET", "/api/v1/listings")
    assert status == 503 and json.loads(body)["error"].startswith("the node did not start: cannot")
    assert b"cannot reach tor at 127.0.0.1:1" in _call(gate, "GET", "/")[2]
    startup.starting = None
    for method, path in [("GET", "/"), ("POST", "/api/v1/wallet/send"), ("GET", "/orders")]:
        assert _call(gate, method, path) == (200, {}, b"the real thing")
