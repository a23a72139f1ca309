"""`umbra app`: the node and its web app, shown in a native window or else the browser.

A window needs pywebview (``pip install pywebview`` plus a GUI toolkit: GTK or Qt on Linux)
and a display. Without either, `umbra app` opens the default browser (``$BROWSER`` is
honoured) and keeps running like `umbra node` until Ctrl-C.
"""

import sys
import threading
from functools import partial
from typing import Any

import click
import trio

from umbra.core import UsageError

from ._app import CliState, emit, json_option, pass_state
from ._logging import setup_logging
from ._node_cmds import RunningNode, node_config, serve_profile
from ._web_cmds import (
    DEFAULT_PORT,
    can_show_window,
    cancel_on_stop_signal,
    open_in_browser,
    run_trio,
    state_profile_dir,
)


def load_webview() -> Any:
    """The pywebview module, or None when it (or its GUI toolkit) is not installed."""
    try:
        import webview  # type: ignore[import-not-found]  # optional: pip install pywebview
    except ImportError:
        return None
    return webview


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
@json_option
@pass_state
def app(
    state: CliState,
    port: int | None,
    listen: tuple[str, ...],
    bootstrap: tuple[str, ...],
    browser: bool,
) -> None:
    """Run the node and show its web app: in a window if possible, else in the browser."""
    webview = None if browser else load_webview()
    profile = state.profile()
    config = node_config(profile.path, listen, bootstrap)
    setup_logging(verbose=False)
    start = partial(
        serve_profile,
        profile,
        config,
        web_port=DEFAULT_PORT if port is None else port,
        any_web_port_if_taken=port is None,
    )
    if webview is not None and can_show_window():
        _run_in_window(state, start, webview)
    else:
        _run_with_browser(
            state, start, window_missing="pywebview" if webview is None else "display"
        )
    emit(state, {"event": "stopped"}, lambda: click.echo("Stopped."))


def _run_with_browser(state: CliState, start: Any, *, window_missing: str) -> None:
    async def run() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(cancel_on_stop_signal, nursery.cancel_scope)
            started: RunningNode = await nursery.start(start)
            assert started.web is not None
            url = started.web.url
            # webbrowser may wait for the browser command: keep the loop free meanwhile.
            opened = await trio.to_thread.run_sync(open_in_browser, url, state_profile_dir(state))
            emit(
                state,
                {
                    "event": "listening",
                    "peer_id": started.peer_id,
                    "url": url,
                    "window": False,
                    "why_no_window": window_missing,
                    "browser_opened": opened,
                },
                lambda: click.echo(
                    ("Opened in your browser" if opened else "Open this link")
                    + f" (it holds the access token; keep it private):\n  {url}\n"
                    + "Press Ctrl-C to stop."
                ),
            )
            sys.stdout.flush()

    run_trio(run)


def _run_in_window(state: CliState, start: Any, webview: Any) -> None:
    """pywebview needs the main thread: the node runs on its own trio loop in a thread."""
    ready: dict[str, Any] = {}
    started_event = threading.Event()

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            ready["node"] = await nursery.start(start)
            ready["cancel"] = nursery.cancel_scope.cancel
            ready["token"] = trio.lowlevel.current_trio_token()
            started_event.set()

    def thread_main() -> None:
        try:
            run_trio(run)
        except BaseException as exc:  # noqa: BLE001 (reported in the main thread)
            ready["error"] = exc
            started_event.set()

    thread = threading.Thread(target=thread_main, name="umbra-node", daemon=True)
    thread.start()
    started_event.wait()
    if "error" in ready:
        raise UsageError(f"the node did not start: {ready['error']}")
    node: RunningNode = ready["node"]
    assert node.web is not None
    emit(
        state,
        {"event": "listening", "peer_id": node.peer_id, "url": node.web.url, "window": True},
        lambda: click.echo("Umbra is open in its window; closing the window stops the node."),
    )
    webview.create_window("Umbra", node.web.url, width=1100, height=800)
    try:
        webview.start(private_mode=True)
    finally:
        trio.from_thread.run_sync(ready["cancel"], trio_token=ready["token"])
        thread.join(timeout=10)
