"""`umbra serve` (the web app and JSON API), `umbra open` (its link), `umbra app` (a window).

`serve_web` composes the API (``umbra.api``) and the pages (``umbra.web``), which are sibling
layers; the node can later start it in its own nursery, on its own trio loop.

While `umbra serve` runs, the link with the access token is in ``web.json`` in the profile
directory (mode 0600, removed on exit) so `umbra open` can print or open it without the
passphrase: anyone who can read that file can already read the profile directory.
"""

import json
import os
import signal
import sys
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import trio

from umbra.core import UmbraError, UsageError
from umbra.store import resolve_data_dir, validate_profile_name
from umbra.store._paths import profile_dir

from ._app import CliState, emit, json_option, pass_state

if TYPE_CHECKING:
    from umbra.api import Services

# FastAPI, Jinja and the pages load only for the commands that serve them, so every other
# command stays fast.

WEB_FILE = "web.json"
DEFAULT_PORT = 8470


async def serve_web(
    services: "Services",
    *,
    port: int,
    token: str,
    task_status: Any = trio.TASK_STATUS_IGNORED,  # trio.TaskStatus[str]; the stubs lack it
) -> None:
    """Serve pages + API for one profile on 127.0.0.1 until cancelled.

    ``task_status.started`` gets the base URL (without the token).
    """
    from umbra.api import create_app, serve_app
    from umbra.web import page_set

    app = create_app(services, token=token, pages=page_set(services))
    await serve_app(app, port=port, task_status=task_status)


def login_url(base: str, token: str) -> str:
    return f"{base}/?token={token}"


def _write_web_file(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)


def _read_web_file(state: CliState) -> dict[str, Any]:
    name = validate_profile_name(state.profile_name)
    path = profile_dir(resolve_data_dir(state.data_dir_option), name) / WEB_FILE
    not_running = UsageError(
        f"the web app of profile {name!r} is not running; start it with `umbra serve`"
    )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        pid = int(data["pid"])
        url = str(data["url"])
    except FileNotFoundError:
        raise not_running from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}; restart `umbra serve`") from exc
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise not_running from None
    except PermissionError:
        pass
    return {"url": url, "pid": pid}


def _can_show_window() -> bool:
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return sys.platform in ("darwin", "win32")
    return True


def _run_server(state: CliState, port: int, *, on_ready: Any = None) -> None:
    """Open the profile, serve until SIGINT/SIGTERM, keep ``web.json`` while serving."""
    from umbra.api import Services, new_token

    profile = state.profile()
    services = Services.for_profile(profile)
    token = new_token()
    web_file = profile.path / WEB_FILE

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            try:
                base = await nursery.start(
                    lambda task_status: serve_web(
                        services, port=port, token=token, task_status=task_status
                    )
                )
            except OSError as exc:
                raise UsageError(
                    f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); "
                    "choose another with --port, or --port 0 for any free port"
                ) from None
            url = login_url(base, token)
            _write_web_file(web_file, {"url": url, "pid": os.getpid()})
            try:
                emit(
                    state,
                    {"event": "serving", "url": url, "base": base},
                    lambda: click.echo(
                        f"Umbra is at {base}/ for profile {profile.name!r}.\n"
                        f"Open this link (it holds the access token; keep it private):\n  {url}\n"
                        "Press Ctrl-C to stop."
                    ),
                )
                sys.stdout.flush()
                if on_ready is not None:
                    on_ready(url)
                with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                    async for _ in signals:
                        nursery.cancel_scope.cancel()
                        break
            finally:
                web_file.unlink(missing_ok=True)

    try:
        trio.run(run)
    except BaseExceptionGroup as group:
        leaf = _single_exception(group)
        if isinstance(leaf, (UmbraError, KeyboardInterrupt)):
            raise leaf from None
        raise
    emit(state, {"event": "stopped"}, lambda: click.echo("Stopped."))


def _single_exception(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


_port_option = click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free port).",
)


@click.command()
@_port_option
@json_option
@pass_state
def serve(state: CliState, port: int) -> None:
    """Serve the web app and JSON API on 127.0.0.1 and print the link to open."""
    _run_server(state, port)


@click.command(name="open")
@click.option("--print-only", is_flag=True, help="Only print the link; do not open a browser.")
@json_option
@pass_state
def open_(state: CliState, print_only: bool) -> None:
    """Print the link of the running `umbra serve` and open it in the browser."""
    found = _read_web_file(state)
    opened = False
    if not print_only and not state.json_output:
        opened = webbrowser.open(found["url"])
    emit(
        state,
        {"url": found["url"], "pid": found["pid"], "opened": opened},
        lambda: click.echo(found["url"] if opened else f"Open this link: {found['url']}"),
    )


@click.command()
@_port_option
@json_option
@pass_state
def app(state: CliState, port: int) -> None:
    """Run the web app and show it: in a window if pywebview is installed, else the browser."""
    try:
        import webview  # type: ignore[import-not-found]  # optional: pip install pywebview
    except ImportError:
        webview = None
    if webview is None or not _can_show_window():
        _run_server(state, port, on_ready=webbrowser.open)
        return
    _app_window(state, port, webview)


def _app_window(state: CliState, port: int, webview: Any) -> None:
    """pywebview needs the main thread: the server runs on its own trio loop in a thread."""
    import threading

    from umbra.api import Services, new_token

    profile = state.profile()
    services = Services.for_profile(profile)
    token = new_token()
    ready: dict[str, Any] = {}
    started = threading.Event()

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            ready["base"] = await nursery.start(
                lambda task_status: serve_web(
                    services, port=port, token=token, task_status=task_status
                )
            )
            ready["cancel"] = nursery.cancel_scope.cancel
            ready["token"] = trio.lowlevel.current_trio_token()
            started.set()

    def thread_main() -> None:
        try:
            trio.run(run)
        except BaseException as exc:  # noqa: BLE001 (reported in the main thread)
            ready["error"] = exc
            started.set()

    thread = threading.Thread(target=thread_main, name="umbra-web", daemon=True)
    thread.start()
    started.wait()
    if "error" in ready:
        raise UsageError(f"the web app did not start: {ready['error']}")
    webview.create_window("Umbra", login_url(ready["base"], token), width=1100, height=800)
    try:
        webview.start(private_mode=True)
    finally:
        trio.from_thread.run_sync(ready["cancel"], trio_token=ready["token"])
        thread.join(timeout=5)


def add_web_commands(group: click.Group) -> None:
    """Register `serve`, `open` and `app` on the `umbra` group."""
    for command in (serve, open_, app):
        group.add_command(command)
