"""Whether `umbra app` can show a native window here, decided before the node starts.

A window needs pywebview, a GUI toolkit it can load (GTK with WebKit2, or Qt) and a display
that toolkit can open. pywebview itself imports without a toolkit, and a toolkit fails in
ways a process cannot survive: Qt aborts when the display cannot be opened. So the toolkit
is tried in a child process (`probe_main`), and the node starts only after its verdict;
every "no" comes with a one-line reason and `umbra app` opens the browser instead.

The decisions (`reason_before_probe`, `probe_verdict`) are pure and take their inputs.
"""

import importlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass

PROBE_TIMEOUT_S = 30.0
# Exit codes of the probe child, read by `probe_verdict`.
EXIT_NO_TOOLKIT = 3
EXIT_NO_DISPLAY = 4
INSTALL_HINT = (
    "Debian: apt-get install python3-gi gir1.2-webkit2-4.1, then `bash scripts/run.sh app`"
)


@dataclass(frozen=True)
class WindowChoice:
    """The toolkit pywebview will use (``gui``), or why there is no window (``reason``)."""

    gui: str | None
    reason: str | None


def reason_before_probe(
    *,
    browser_flag: bool,
    platform: str,
    environ: Mapping[str, str],
    webview_installed: bool,
) -> str | None:
    """Why there can be no window, as far as is known without trying a toolkit; else None."""
    if browser_flag:
        return "--browser was given"
    if not webview_installed:
        return "pywebview is not installed (`bash scripts/run.sh app` installs what a window needs)"
    if platform not in ("darwin", "win32") and not (
        environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY")
    ):
        return "no display (DISPLAY and WAYLAND_DISPLAY are not set)"
    return None


def probe_verdict(returncode: int | None, stdout: str, *, display: str) -> WindowChoice:
    """Read the probe child's outcome (``returncode`` None: it did not answer in time)."""
    if returncode is None:
        return WindowChoice(None, f"the GUI toolkit did not answer within {PROBE_TIMEOUT_S:.0f} s")
    if returncode == 0:
        try:
            gui = json.loads(stdout.strip().splitlines()[-1])["gui"]
        except (IndexError, ValueError, KeyError, TypeError):
            gui = None
        if isinstance(gui, str) and gui.isidentifier():
            return WindowChoice(gui, None)
        return WindowChoice(None, "the window check gave no answer")
    if returncode == EXIT_NO_TOOLKIT:
        return WindowChoice(None, f"no GUI toolkit for pywebview ({INSTALL_HINT})")
    if returncode == EXIT_NO_DISPLAY:
        return WindowChoice(None, f"the display {display!r} cannot be opened")
    if returncode < 0:
        name = _signal_name(-returncode)
        return WindowChoice(None, f"the GUI toolkit died opening the display {display!r} ({name})")
    return WindowChoice(None, f"the window check failed (exit code {returncode})")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def choose_window(*, browser_flag: bool) -> WindowChoice:
    """Decide for this process: the quick checks, then the toolkit tried in a child."""
    reason = reason_before_probe(
        browser_flag=browser_flag,
        platform=sys.platform,
        environ=os.environ,
        webview_installed=importlib.util.find_spec("webview") is not None,
    )
    if reason is not None:
        return WindowChoice(None, reason)
    display = os.environ.get("WAYLAND_DISPLAY") or os.environ.get("DISPLAY") or ""
    code = "from umbra.cli._window_probe import probe_main; probe_main()"
    try:
        child = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return probe_verdict(None, "", display=display)
    return probe_verdict(child.returncode, child.stdout, display=display)


def probe_main() -> None:
    """In the child: load pywebview's toolkit and open the display; print its name."""
    guilib = importlib.import_module("webview.guilib")
    try:
        guilib.initialize()
    except Exception:  # noqa: BLE001 - pywebview's WebViewException: no toolkit it can load
        sys.exit(EXIT_NO_TOOLKIT)
    gui = str(guilib.guilib.__name__).rsplit(".", 1)[-1]
    if gui == "gtk":
        from gi.repository import Gtk

        if not Gtk.init_check()[0]:
            sys.exit(EXIT_NO_DISPLAY)
    elif gui == "qt":
        from qtpy.QtWidgets import QApplication

        QApplication([])  # aborts this child when the display cannot be opened
    print(json.dumps({"gui": gui}))
