"""How far a starting node got, as the web app shows it (`umbra.net.NodeStartup`)."""

from dataclasses import dataclass

from umbra.net import NodeStartup, StartingNode


@dataclass(frozen=True)
class Step:
    percent: int
    summary: str
    warning: str | None = None


class Tor:
    """The transport's latest bootstrap step, moved by the test."""

    def __init__(self) -> None:
        self.step: Step | None = None

    def __call__(self) -> Step | None:
        return self.step


def test_a_tor_node_goes_from_starting_tor_through_the_percentages_to_ready() -> None:
    tor = Tor()
    startup = NodeStartup("tor", tor)
    seen = [startup.snapshot()]
    tor.step = Step(0, "Starting")
    seen.append(startup.snapshot())
    tor.step = Step(45, "Loading relay descriptors")
    seen.append(startup.snapshot())
    tor.step = Step(100, "Done")
    seen.append(startup.snapshot())
    startup.services_starting()
    seen.append(startup.snapshot())
    startup.ready()
    assert startup.snapshot() is None and startup.is_ready
    assert [s.stage if s else None for s in seen] == ["tor", "tor", "tor", "onion", "services"]
    assert [s.percent if s else None for s in seen] == [None, 0, 45, 100, 100]
    assert [s.headline() for s in seen if s] == [
        "Starting Tor…",
        "Connecting to Tor… 0 % (Starting)",
        "Connecting to Tor… 45 % (Loading relay descriptors)",
        "Connected to Tor (100 %). Publishing this node's onion address…",
        "Starting messaging and orders…",
    ]
    assert seen[2] is not None
    assert (
        seen[2]
        .api_message()
        .startswith("the node is starting: Tor 45 % (Loading relay descriptors);")
    )
    assert "nothing was done" in seen[2].api_message()


def test_a_clearnet_node_never_shows_tor() -> None:
    tor = Tor()
    tor.step = Step(50, "would not be read")
    startup = NodeStartup("clearnet", tor)
    assert startup.snapshot() == StartingNode("clearnet", "node")
    startup.services_starting()
    assert startup.snapshot() == StartingNode("clearnet", "services")


def test_a_failed_start_keeps_its_reason_and_never_becomes_ready() -> None:
    tor = Tor()
    tor.step = Step(14, "Handshaking with a relay", "Connection refused")
    startup = NodeStartup("tor", tor)
    stuck = startup.snapshot()
    assert stuck is not None and stuck.warning == "Connection refused"
    reason = "cannot run over Tor: cannot reach tor at 127.0.0.1:1 (no clearnet fallback)"
    startup.fail(reason)
    startup.ready()  # too late: it failed
    failed = startup.snapshot()
    assert failed is not None and failed.failed and not startup.is_ready
    assert failed.error == reason
    assert failed.headline() == f"Umbra could not start: {failed.error}"
    assert failed.api_message().startswith(f"the node did not start: {failed.error};")
    assert failed.to_json()["stage"] == "failed" and failed.to_json()["error"] == failed.error


def test_tors_words_lose_hidden_characters_and_are_cut() -> None:
    tor = Tor()
    tor.step = Step(250, "Loading\u202e relay\n\x1b[2J descriptors" + "x" * 1000, "\u200bstuck")
    shown = NodeStartup("tor", tor).snapshot()
    assert shown is not None
    assert shown.percent == 100  # clamped: tor never says more, a bad value is not shown
    assert shown.summary.startswith("Loading relay")
    assert "\u202e" not in shown.summary and "\x1b" not in shown.summary
    assert "\n" not in shown.summary and len(shown.summary) <= 300
    assert shown.warning == "stuck"
