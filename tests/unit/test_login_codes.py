"""One-time login codes of the web app's gate: expiry at its boundary and the cap on live codes
(pure logic with an injected clock; the served behaviour is in tests/integration/web)."""

from umbra.api import SecurityGate
from umbra.api._security import LOGIN_CODE_TTL_S, MAX_LOGIN_CODES


async def _no_app(scope: object, receive: object, send: object) -> None:
    raise AssertionError("not reached")


def _gate(now: list[float]) -> SecurityGate:
    return SecurityGate(_no_app, token="t" * 43, port=1, clock=lambda: now[0])


def test_a_code_is_good_once_and_only_until_its_ttl() -> None:
    now = [1000.0]
    gate = _gate(now)
    code = gate.issue_login_code()
    assert gate._spend_code(code) is True
    assert gate._spend_code(code) is False  # spent
    late = gate.issue_login_code()
    now[0] += LOGIN_CODE_TTL_S
    assert gate._spend_code(late) is False  # expired at exactly the TTL
    just_in_time = gate.issue_login_code()
    now[0] += LOGIN_CODE_TTL_S - 0.001
    assert gate._spend_code(just_in_time) is True


def test_live_codes_are_capped_oldest_first() -> None:
    now = [0.0]
    gate = _gate(now)
    codes = [gate.issue_login_code() for _ in range(MAX_LOGIN_CODES + 1)]
    assert gate._spend_code(codes[0]) is False  # pushed out by the newest
    assert gate._spend_code(codes[1]) is True
    assert gate._spend_code(codes[-1]) is True
    assert gate._spend_code("") is False
