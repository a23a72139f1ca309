"""The clearnet warning: in the page frame when the node runs on clearnet, and only then."""

from typing import Any

import trio

from umbra.web._network_note import NOTE_TTL_S, NetworkNote
from umbra.web._render import render

PAGE = {"csrf": "", "nav": [], "path": "/", "categories": [], "status_code": 404, "message": "x"}


def test_the_banner_is_in_the_frame_only_on_clearnet() -> None:
    shown = render("error.html", clearnet=True, **PAGE)
    assert 'id="clearnet-banner"' in shown and "peers can see your IP address" in shown
    assert 'role="alert"' in shown
    assert "clearnet-banner" not in render("error.html", clearnet=False, **PAGE)


class _Status:
    """The one call `NetworkNote` makes (``PageServices.network_status``), counted."""

    def __init__(self) -> None:
        self.answer: dict[str, Any] = {"running": True, "network": "clearnet"}
        self.calls = 0

    async def network_status(self) -> dict[str, Any]:
        self.calls += 1
        return dict(self.answer)


def test_the_mode_is_read_at_most_every_few_seconds() -> None:
    status, now = _Status(), [0.0]
    note = NetworkNote(status, clock=lambda: now[0])  # type: ignore[arg-type]

    async def main() -> list[str | None]:
        seen = [await note.network()]
        status.answer = {"running": True, "network": "tor"}
        now[0] += NOTE_TTL_S / 2
        seen.append(await note.network())  # cached
        now[0] += NOTE_TTL_S
        seen.append(await note.network())
        status.answer = {"running": False, "network": "clearnet"}  # a stopped node's row
        now[0] += NOTE_TTL_S
        seen.append(await note.network())
        status.answer = {"running": True, "network": "<script>"}
        now[0] += NOTE_TTL_S
        seen.append(await note.network())
        return seen

    assert trio.run(main) == ["clearnet", "clearnet", "tor", None, None]
    assert status.calls == 4
