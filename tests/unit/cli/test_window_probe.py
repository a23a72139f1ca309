"""`umbra app`'s choice between a window and the browser (`umbra.cli._window_probe`)."""

import signal

import pytest

from umbra.cli._window_probe import (
    EXIT_NO_DISPLAY,
    EXIT_NO_TOOLKIT,
    WindowChoice,
    probe_verdict,
    reason_before_probe,
)

X11 = {"DISPLAY": ":0"}


def _before(**overrides: object) -> str | None:
    args: dict[str, object] = {
        "browser_flag": False,
        "platform": "linux",
        "environ": X11,
        "webview_installed": True,
    }
    args.update(overrides)
    return reason_before_probe(**args)  # type: ignore[arg-type]


def test_nothing_known_against_a_window_leaves_it_to_the_probe() -> None:
    assert _before() is None
    assert _before(environ={"WAYLAND_DISPLAY": "wayland-0"}) is None
    assert _before(platform="darwin", environ={}) is None  # no DISPLAY needed there


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"browser_flag": True}, "--browser was given"),
        ({"webview_installed": False}, "pywebview is not installed (`bash scripts/run.sh app`"),
        ({"environ": {}}, "no display (DISPLAY and WAYLAND_DISPLAY are not set)"),
        ({"environ": {"DISPLAY": ""}}, "no display"),
    ],
)
def test_reasons_known_before_trying_a_toolkit(overrides: dict[str, object], reason: str) -> None:
    found = _before(**overrides)
    assert found is not None and found.startswith(reason)


def test_the_browser_flag_wins_over_everything() -> None:
    assert _before(browser_flag=True, webview_installed=False, environ={}) == "--browser was given"


def test_a_probe_that_printed_its_toolkit_gives_a_window() -> None:
    assert probe_verdict(0, 'Gtk-WARNING\n{"gui": "gtk"}\n', display=":0") == WindowChoice(
        "gtk", None
    )


@pytest.mark.parametrize(
    ("returncode", "stdout", "reason"),
    [
        (EXIT_NO_TOOLKIT, "", "no GUI toolkit for pywebview (Debian: apt-get install python3-gi"),
        (EXIT_NO_DISPLAY, "", "the display ':9' cannot be opened"),
        (-signal.SIGABRT, "", "the GUI toolkit died opening the display ':9' (SIGABRT)"),
        (-200, "", "the GUI toolkit died opening the display ':9' (signal 200)"),
        (None, "", "the GUI toolkit did not answer within 30 s"),
        (1, "", "the window check failed (exit code 1)"),
        (0, "", "the window check gave no answer"),
        (0, '{"gui": "../../x"}', "the window check gave no answer"),
        (0, '{"gui": 3}', "the window check gave no answer"),
        (0, "not json", "the window check gave no answer"),
    ],
)
def test_every_failed_probe_gives_the_browser_with_one_line_reason(
    returncode: int | None, stdout: str, reason: str
) -> None:
    choice = probe_verdict(returncode, stdout, display=":9")
    assert choice.gui is None and choice.reason is not None
    assert choice.reason.startswith(reason) and "\n" not in choice.reason
