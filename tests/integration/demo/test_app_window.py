"""`umbra app` in a real native window: Xvfb, Debian's GTK + WebKit (python3-gi,
gir1.2-webkit2-4.1), pywebview, the real `umbra app` process.

Shown: the window opens logged in (it lands on "/" without the token, and the screenshot has
the web app's top bar), closing it as a window manager does (WM_DELETE_WINDOW) stops the node
and removes ``web.json``, and so does SIGTERM with the window open; with a display that cannot
be opened, or no toolkit Python can import, `umbra app` says why in one line and opens the
browser instead; in Tor mode the window opens at once, before the node is up, and when tor
cannot be reached it stays open on the reason until closed (exit code 1). The screenshots are
kept in test-artifacts/window/.

Cost: one Xvfb for the module, five `umbra app` runs (~10 s each on 2 cores).
"""

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._procs import UMBRA, JsonLines, clean_env, umbra

pytestmark = [pytest.mark.window, pytest.mark.network]

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "window"
TOP_BAR = (0x1D, 0x23, 0x2A)  # --ink in umbra/web/static: the logged-in pages' top bar
SCREEN = (1280, 900)


def _toolkit_missing() -> str | None:
    if shutil.which("Xvfb") is None:
        return "Xvfb is not installed (Debian: xvfb; scripts/test.sh installs it as root)"
    probe = subprocess.run(
        [sys.executable, "-c", "import gi, webview, Xlib; gi.require_version('WebKit2', '4.1')"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        return "no GTK toolkit or pywebview in the venv (scripts/bootstrap.sh test sets it up)"
    return None


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    missing = _toolkit_missing()
    if missing:
        pytest.skip(missing)
    read_fd, write_fd = os.pipe()
    screen = "{}x{}x24".format(*SCREEN)
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-nolisten", "tcp", "-screen", "0", screen],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        ready, _, _ = select.select([read_fd], [], [], 30)
        assert ready, "Xvfb did not start"
        number = os.read(read_fd, 32).decode().strip()
        assert number.isdigit(), number
        yield f":{number}"
    finally:
        os.close(read_fd)
        xvfb.terminate()
        try:
            xvfb.wait(timeout=10)
        except subprocess.TimeoutExpired:
            xvfb.kill()
            xvfb.wait()


def _profile(tmp_path: Path, **extra: str) -> tuple[dict[str, str], Path]:
    env = clean_env(UMBRA_HOME=str(tmp_path / "data"), UMBRA_PASSPHRASE="pw", **extra)
    assert umbra(env, "init").returncode == 0
    return env, tmp_path / "data" / "profiles" / "default" / "web.json"


def _start_app(env: dict[str, str]) -> tuple[subprocess.Popen[str], JsonLines]:
    proc = subprocess.Popen(
        [UMBRA, "--json", "app", "--clearnet", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    return proc, JsonLines(proc)


def _finish(proc: subprocess.Popen[str], lines: JsonLines) -> str:
    try:
        lines.finish(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None
    return proc.stderr.read()


class _X:
    """What a window manager and a screenshot tool do, over the X protocol (python-xlib)."""

    def __init__(self, name: str) -> None:
        from Xlib import display as xdisplay

        self.display = xdisplay.Display(name)
        self.root = self.display.screen().root

    def close(self) -> None:
        self.display.close()

    def find(self, title: str, timeout: float = 60) -> object:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for window in self.root.query_tree().children:
                if window.get_wm_name() == title:
                    return window
            time.sleep(0.3)
        raise AssertionError(f"no window titled {title!r}")

    def screenshot(self, path: Path) -> tuple[int, int]:
        """Save the screen as PNG; (pixels of the top bar's colour, screen width)."""
        from PIL import Image
        from Xlib import X

        width, height = SCREEN
        raw = self.root.get_image(0, 0, width, height, X.ZPixmap, 0xFFFFFFFF)
        image = Image.frombytes("RGB", SCREEN, raw.data, "raw", "BGRX")
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)
        counts = {colour: n for n, colour in image.getcolors(width * height) or []}
        return counts.get(TOP_BAR, 0), width

    def ask_to_close(self, window: object) -> None:
        """WM_DELETE_WINDOW: what the window manager sends when the close button is pressed."""
        from Xlib import X
        from Xlib.protocol import event

        protocols = self.display.intern_atom("WM_PROTOCOLS")
        delete = self.display.intern_atom("WM_DELETE_WINDOW")
        message = event.ClientMessage(
            window=window, client_type=protocols, data=(32, [delete, X.CurrentTime, 0, 0, 0])
        )
        window.send_event(message, event_mask=X.NoEventMask)  # type: ignore[attr-defined]
        self.display.flush()


def test_app_window_opens_logged_in_and_closing_it_stops_the_node(
    tmp_path: Path, display: str
) -> None:
    env, web_file = _profile(tmp_path, DISPLAY=display)
    proc, lines = _start_app(env)
    x = _X(display)
    try:
        started = lines.wait_for("event", "listening", timeout=120)
        assert started["window"] is True
        assert web_file.stat().st_mode & 0o777 == 0o600
        loaded = lines.wait_for("event", "window-loaded", timeout=120)
        # The login link redirected to "/" without the token: the token was taken.
        assert loaded["path"] == "/" and loaded["query"] is False
        window = x.find("Umbra")
        time.sleep(1)  # the first paint after "loaded"
        bar_pixels, width = x.screenshot(ARTIFACTS / "app-window.png")
        # The logged-in layout's top bar spans the window (1100 px) for ~47 rows; a refusal
        # page (wrong token) is plain text and has none of it.
        assert bar_pixels > 20 * width // 2, bar_pixels
        x.ask_to_close(window)
        err = _finish(proc, lines)
    finally:
        x.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert lines.lines[-1] == {"event": "stopped"}
    assert not web_file.exists(), "web.json (the access token) is removed when the window closes"
    assert "Traceback" not in err


def test_sigterm_with_the_window_open_stops_the_node_and_removes_web_json(
    tmp_path: Path, display: str
) -> None:
    env, web_file = _profile(tmp_path, DISPLAY=display)
    proc, lines = _start_app(env)
    try:
        lines.wait_for("event", "window-loaded", timeout=120)
        assert web_file.exists()
        proc.send_signal(signal.SIGTERM)
        err = _finish(proc, lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert lines.lines[-1] == {"event": "stopped"}
    assert not web_file.exists()


def test_the_window_opens_at_once_and_stays_to_say_why_tor_failed(
    tmp_path: Path, display: str
) -> None:
    """In Tor mode the window does not wait for the node: it opens on the starting screen,
    and when tor cannot be reached it stays open on the reason (the pages' words are pinned
    in tests/integration/web/test_starting_ui.py) until it is closed; exit code 1."""
    env, web_file = _profile(tmp_path, DISPLAY=display)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{sock.getsockname()[1]}"
    proc = subprocess.Popen(
        [UMBRA, "--json", "app", "--port", "0", "--tor-control", closed],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines = JsonLines(proc)
    x = _X(display)
    try:
        assert lines.wait_for("event", "listening", timeout=120)["window"] is True
        failed = next(
            (line for line in _wait_lines(lines, "error", timeout=120) if "error" in line), None
        )
        assert failed is not None and f"cannot reach tor at {closed}" in failed["error"]
        lines.wait_for("event", "window-loaded", timeout=120)
        window = x.find("Umbra")
        time.sleep(1)
        bar_pixels, width = x.screenshot(ARTIFACTS / "app-window-tor-failed.png")
        assert bar_pixels > 20 * width // 2, bar_pixels  # the app's frame, not a blank window
        assert proc.poll() is None and web_file.exists()  # still showing why
        x.ask_to_close(window)
        err = _finish(proc, lines)
    finally:
        x.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    assert err.count("umbra: error:") == 1 and "Traceback" not in err, err
    assert not any(line.get("event") == "ready" for line in lines.lines)
    assert not web_file.exists()


def _wait_lines(lines: JsonLines, key: str, *, timeout: float) -> list[dict[str, Any]]:
    """The lines so far once one has ``key`` (any value)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(lines.lines)
        if any(key in line for line in found):
            return found
        time.sleep(0.2)
    raise AssertionError(f"no line with {key!r}: {lines.raw}")


def _browser(tmp_path: Path) -> tuple[str, Path]:
    opened = tmp_path / "opened.txt"
    script = tmp_path / "browser.sh"
    script.write_text(f'#!/bin/sh\necho "$1" > {opened}\n', encoding="utf-8")
    script.chmod(0o755)
    return f"{script} %s", opened


@pytest.mark.parametrize("case", ["display cannot be opened", "no toolkit importable"])
def test_app_falls_back_to_the_browser_with_one_line_reason(
    tmp_path: Path, display: str, case: str
) -> None:
    browser, opened = _browser(tmp_path)
    extra = {"BROWSER": browser}
    if case == "display cannot be opened":
        extra["DISPLAY"] = ":65000"  # nothing listens there
        expected = "the display ':65000' cannot be opened"
    else:
        # A `gi` that cannot be imported, first on the path: what Python sees on a machine
        # with pywebview but without python3-gi.
        shadow = tmp_path / "shadow"
        (shadow / "gi").mkdir(parents=True)
        (shadow / "gi" / "__init__.py").write_text("raise ImportError('no gi here')\n")
        path = os.pathsep.join(p for p in (str(shadow), os.environ.get("PYTHONPATH")) if p)
        extra.update(DISPLAY=display, PYTHONPATH=path)
        expected = "no GUI toolkit for pywebview (Debian: apt-get install python3-gi"
    env, web_file = _profile(tmp_path, **extra)
    proc, lines = _start_app(env)
    try:
        started = lines.wait_for("event", "listening", timeout=120)
        assert started["window"] is False and started["browser_opened"] is True
        assert started["why_no_window"].startswith(expected), started["why_no_window"]
        assert opened.read_text().strip().startswith("file://")
        proc.send_signal(signal.SIGTERM)
        err = _finish(proc, lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert not web_file.exists()
