"""`umbra app`: the node and its web app, shown in a native window or else the browser.

The window (or browser) opens at once, on the web app, which shows tor's bootstrap until
the node is up, or why it could not start (the node then stays off and `umbra app` runs on,
showing it, until the window is closed or Ctrl-C; the exit code is then 1).

A window needs pywebview, a GUI toolkit (on Debian: python3-gi + gir1.2-webkit2-4.1, which
`bash scripts/run.sh app` installs) and a display. Whether all three work is tried in a
child process before the node starts (`_window_probe`); when any is missing `umbra app`
says why in one line, opens the default browser (``$BROWSER`` is honoured) and keeps running
like `umbra node` until Ctrl-C.

Whatever ends it (closing the window, Ctrl-C, SIGTERM, a failing toolkit), the node stops
and ``web.json``, which holds the access token, is removed.
"""

import contextlib
import signal
import sys
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, cast

import click
import trio

from umbra.core import UsageError

from ._app import CliState, emit, json_option, pass_state
from ._logging import setup_logging
from ._network_options import NetworkOptions, network_options
from ._node_cmds import (
    THUMBNAIL_CHOICES,
    THUMBNAILS_HELP,
    FailedStart,
    RunningNode,
    node_config,
    serve_profile,
)
from ._web_cmds import (
    DEFAULT_PORT,
    WebLink,
    cancel_on_stop_signal,
    open_in_browser,
    run_trio,
    state_profile_dir,
)
from ._window_probe import choose_window

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})
NODE_STOP_TIMEOUT_S = 30.0


@click.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help=f"Web app port on 127.0.0.1 (0: any free port). Default: {DEFAULT_PORT}, or any free"
    " port if that one is taken.",
)
@click.option("--listen", multiple=True, help="Multiaddr the node listens on.")
@click.option("--bootstrap", multiple=True, help="Peer multiaddr with /p2p/<id> to join through.")
@click.option("--browser", is_flag=True, help="Use the default browser even if a window works.")
@click.option("--thumbnails", type=click.Choice(THUMBNAIL_CHOICES), help=THUMBNAILS_HELP)
@network_options
@json_option
@pass_state
def app(
    state: CliState,
    port: int | None,
    listen: tuple[str, ...],
    bootstrap: tuple[str, ...],
    browser: bool,
    thumbnails: str | None,
    clearnet: bool,
    tor_control: str | None,
    tor_socks: str | None,
    tor_network_file: Path | None,
) -> None:
    """Run the node and show its web app: in a window if possible, else in the browser.

    Peers are reached over Tor unless --clearnet.
    """
    network = NetworkOptions(
        clearnet=clearnet,
        tor_control=tor_control,
        tor_socks=tor_socks,
        tor_network_file=tor_network_file,
    )
    config = node_config(state_profile_dir(state), listen, bootstrap, network, thumbnails)
    profile = state.profile()
    setup_logging(verbose=False)
    start = partial(
        serve_profile,
        profile,
        config,
        web_port=DEFAULT_PORT if port is None else port,
        any_web_port_if_taken=port is None,
        progress=sys.stdout,  # Tor's bootstrap (the window or browser shows it too)
        json_lines=state.json_output,
    )
    choice = choose_window(browser_flag=browser)
    if choice.gui is not None:
        _run_in_window(state, start, choice.gui)
    else:
        _say_no_window(state, str(choice.reason))
        _run_with_browser(state, start, why_no_window=str(choice.reason))
    emit(state, {"event": "stopped"}, lambda: click.echo("Stopped."))


def _say_no_window(state: CliState, reason: str) -> None:
    if not state.json_output:
        click.echo(f"No window: {reason}. Using the browser.", err=True)


def _run_with_browser(state: CliState, start: Any, *, why_no_window: str) -> None:
    failed = FailedStart(state)

    async def web_ready(link: WebLink) -> None:
        await trio.to_thread.run_sync(_open_browser, state, link, why_no_window)

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(cancel_on_stop_signal, nursery.cancel_scope)
            started: RunningNode = await nursery.start(
                partial(start, on_web=web_ready, on_failed=failed)
            )
            _say_ready(state, started)

    run_trio(run)
    failed.check()


def _open_browser(state: CliState, web: WebLink, why_no_window: str) -> None:
    """Open the browser on the web app (it shows the node's start until the node is up) and
    say so (blocking: run in a thread)."""
    opened = open_in_browser(web.url, state_profile_dir(state))
    emit(
        state,
        {
            "event": "listening",
            "url": web.url,
            "window": False,
            "why_no_window": why_no_window,
            "browser_opened": opened,
        },
        lambda: click.echo(
            ("Opened in your browser" if opened else "Open this link")
            + f" (it holds the access token; keep it private):\n  {web.url}\n"
            + "Press Ctrl-C to stop."
        ),
    )
    sys.stdout.flush()


def _say_ready(state: CliState, node: RunningNode) -> None:
    emit(
        state,
        {"event": "ready", "peer_id": node.peer_id, "addrs": node.addrs},
        lambda: click.echo("Your node is up; the web app is ready."),
    )
    sys.stdout.flush()


class _NodeThread:
    """The node on its own trio loop in a thread (pywebview needs the main thread).

    `start` returns as soon as the web app serves (the window then shows the node's start);
    the node comes up behind it.
    """

    def __init__(self, start: Any, state: CliState, failed: FailedStart) -> None:
        self._start = start
        self._state = state
        self._failed = failed
        self._serving = threading.Event()
        self._web: WebLink | None = None
        self._cancel: Callable[[], None] | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="umbra-node", daemon=True)

    def start(self) -> WebLink:
        self._thread.start()
        self._serving.wait()
        if self._web is None:
            raise UsageError(f"the node did not start: {self._error}")
        return self._web

    def stop(self) -> None:
        """Cancel the node and wait for it (its exit removes web.json)."""
        if self._cancel is not None and self._token is not None and self._thread.is_alive():
            with contextlib.suppress(trio.RunFinishedError):  # it ended on its own
                trio.from_thread.run_sync(self._cancel, trio_token=self._token)
        self._thread.join(timeout=NODE_STOP_TIMEOUT_S)

    async def _web_ready(self, link: WebLink) -> None:
        self._web = link
        self._serving.set()

    async def _run(self) -> None:
        async with trio.open_nursery() as nursery:
            self._cancel = nursery.cancel_scope.cancel
            self._token = trio.lowlevel.current_trio_token()
            started: RunningNode = await nursery.start(
                partial(self._start, on_web=self._web_ready, on_failed=self._failed)
            )
            _say_ready(self._state, started)

    def _main(self) -> None:
        try:
            run_trio(self._run)
        except BaseException as exc:  # noqa: BLE001 (reported in the main thread)
            self._error = exc
        finally:
            self._serving.set()


class _StopSignals:
    """SIGINT/SIGTERM taken by one thread, whatever the main thread is doing.

    While a toolkit's C main loop holds the main thread, a Python signal handler never runs
    (SIGTERM would kill the process and leave web.json behind). So both signals are blocked
    in every thread, from before any thread starts, and one thread waits for them with
    ``sigwait``, then sets ``stopped`` and calls ``on_stop`` (closing the window).
    """

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self.on_stop: Callable[[], None] = lambda: None
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        threading.Thread(target=self._wait, name="umbra-signals", daemon=True).start()

    def _wait(self) -> None:
        signal.sigwait(STOP_SIGNALS)
        self.stopped.set()
        self.on_stop()


def _run_in_window(state: CliState, start: Any, gui: str) -> None:
    import webview  # optional: the `window` extra (the probe found it)

    signals = _StopSignals()
    failed = FailedStart(state)
    node_thread = _NodeThread(start, state, failed)
    try:
        web = node_thread.start()
        emit(
            state,
            {"event": "listening", "url": web.url, "window": True},
            lambda: None,  # people are told once the page is there (`_on_loaded`)
        )
        window = webview.create_window("Umbra", web.url, width=1100, height=800)
        assert window is not None
        window.events.loaded += partial(_on_loaded, state, window, threading.Event())
        signals.on_stop = partial(_close_window, window)
        if signals.stopped.is_set():
            return
        try:
            # ``gui`` is pywebview's own name for the toolkit the probe loaded.
            webview.start(gui=cast(Any, gui), private_mode=True)
        except Exception as exc:  # noqa: BLE001 - any toolkit failure: the browser instead
            reason = f"the window failed ({type(exc).__name__}: {_first_line(exc)})"
            _say_no_window(state, reason)
            _open_browser(state, web, reason)
            signals.stopped.wait()
    finally:
        node_thread.stop()
    failed.check()


def _on_loaded(state: CliState, window: Any, told: threading.Event) -> None:
    """Say the window is open once its first page has loaded, and where it landed.

    The login link (``/?token=…``) answers with a redirect to the same path without the
    token only when the token is right, so landing on "/" with no query means logged in.
    (Reading the page with ``evaluate_js`` is not possible: the web app's CSP forbids eval.)
    """
    if told.is_set():
        return
    told.set()
    try:
        url = str(window.get_current_url() or "")
    except Exception:  # noqa: BLE001 - the window may be closing already
        url = ""
    path, _, query = ("/" + url.split("://", 1)[-1].partition("/")[2]).partition("?")
    emit(
        state,
        {"event": "window-loaded", "path": path, "query": bool(query)},
        lambda: click.echo("Umbra is open in its window; closing the window stops the node."),
    )
    sys.stdout.flush()


def _close_window(window: Any) -> None:
    # Never shown (pywebview gives up after 20 s): webview.start returns on its own then.
    with contextlib.suppress(Exception):
        window.destroy()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]
