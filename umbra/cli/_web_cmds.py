"""`umbra serve` (the web app and JSON API), `umbra open` (its link), `umbra app` (a window).

`serve_web` composes the API (``umbra.api``) and the pages (``umbra.web``), which are sibling
layers. `umbra node` starts it in the node's own nursery, on the node's trio loop, sharing the
profile's one database connection and its limiter (`start_web`); `umbra serve` runs it alone,
without the node.

While the web app runs, the link with the access token is in ``web.json`` in the profile
directory (mode 0600, removed on exit) so `umbra open` can print or open it without the
passphrase: anyone who can read that file can already read the profile directory.
"""

import errno
import html
import json
import os
import signal
import sys
import webbrowser
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import trio

from umbra.core import UmbraError, UsageError
from umbra.store import resolve_data_dir, validate_profile_name
from umbra.store._paths import profile_dir

from ._app import CliState, emit, json_option, pass_state
from ._invocation import with_runnable_commands

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


OPEN_FILE = "open.html"


def open_in_browser(url: str, directory: Path) -> bool:
    """Open the web app whose token link is ``url`` in the browser, with a one-time code.

    The browser's command line (and so ``ps``, for every local user) shows what it was started
    with for as long as it runs. So it is started with the path of an owner-only page in the
    profile ``directory`` (0700) that forwards it to a one-time login code minted over the
    API: no secret is on any command line, and the code is spent by the browser's first login.
    Returns whether a browser was started.

    Raises:
        UsageError: the running web app did not issue a code (the link is printed instead).
    """
    import httpx

    from umbra.api import CODE_PARAM, LOGIN_CODES_PATH, TOKEN_PARAM

    base, _, query = url.partition("/?")
    token = next(
        (v for k, _, v in (p.partition("=") for p in query.split("&")) if k == TOKEN_PARAM), ""
    )
    try:
        answer = httpx.post(
            base + LOGIN_CODES_PATH, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        answer.raise_for_status()
        code = str(answer.json()["code"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            f"the web app did not give a one-time login link ({exc}); open the link yourself"
        ) from None
    target = html.escape(f"{base}/?{CODE_PARAM}={code}", quote=True)
    page = (
        "<!doctype html><meta charset=utf-8>"
        f'<meta http-equiv="refresh" content="0;url={target}">'
        f'<title>Opening Umbra</title><a href="{target}">Open Umbra</a>\n'
    )
    path = directory / OPEN_FILE
    _write_private(path, page)
    return webbrowser.open(path.as_uri())


@dataclass(frozen=True)
class WebLink:
    """Where a running web app is: ``base`` (no secret) and ``url`` (with the access token)."""

    base: str
    url: str


async def start_web(
    nursery: trio.Nursery,
    services: "Services",
    *,
    port: int,
    port_option: str = "--port",
    any_port_if_taken: bool = False,
) -> WebLink:
    """Start the web app in ``nursery`` and write ``web.json``; the caller removes the file.

    With ``any_port_if_taken`` a taken ``port`` falls back to a free one (the user did not
    choose the port, e.g. a second profile's node on the same machine).

    Raises:
        UsageError: the port is taken (the message names ``port_option`` to change it).
    """
    from umbra.api import new_token

    token = new_token()
    try:
        try:
            base = await nursery.start(partial(serve_web, services, port=port, token=token))
        except OSError as exc:
            if not (any_port_if_taken and exc.errno == errno.EADDRINUSE):
                raise
            base = await nursery.start(partial(serve_web, services, port=0, token=token))
    except OSError as exc:
        raise UsageError(
            f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); "
            f"choose another with {port_option}, or {port_option} 0 for any free port"
        ) from None
    link = WebLink(base=base, url=login_url(base, token))
    _write_web_file(services.profile.path / WEB_FILE, {"url": link.url, "pid": os.getpid()})
    return link


def _write_web_file(path: Path, data: dict[str, Any]) -> None:
    _write_private(path, json.dumps(data))


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, owner-only from the first byte."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def state_profile_dir(state: CliState) -> Path:
    """The directory of the profile the command line names (it need not be unlocked)."""
    return profile_dir(
        resolve_data_dir(state.data_dir_option), validate_profile_name(state.profile_name)
    )


def _read_web_file(state: CliState) -> dict[str, Any]:
    name = validate_profile_name(state.profile_name)
    path = state_profile_dir(state) / WEB_FILE
    not_running = UsageError(
        f"the web app of profile {name!r} is not running; start it with `umbra node` "
        "(or `umbra serve` for the web app alone)"
    )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        pid = int(data["pid"])
        url = str(data["url"])
    except FileNotFoundError:
        raise not_running from None
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise UsageError(f"cannot read {path}: {exc}; restart `umbra node`") from exc
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise not_running from None
    except PermissionError:
        pass
    return {"url": url, "pid": pid}


def can_show_window() -> bool:
    """Whether a native window could appear: a display on Linux, always on macOS/Windows."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return sys.platform in ("darwin", "win32")
    return True


def _run_server(state: CliState, port: int) -> None:
    """Open the profile, serve until SIGINT/SIGTERM, keep ``web.json`` while serving."""
    from umbra.api import Services

    profile = state.profile()
    services = Services.for_profile(profile)

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            try:
                link = await start_web(nursery, services, port=port)
                emit(
                    state,
                    {"event": "serving", "url": link.url, "base": link.base},
                    lambda: click.echo(
                        f"Umbra is at {link.base}/ for profile {profile.name!r} (web app only,"
                        + with_runnable_commands(" no node: `umbra node` runs both).\n")
                        + "Open this link (it holds the access token; keep it private):\n"
                        f"  {link.url}\nPress Ctrl-C to stop."
                    ),
                )
                sys.stdout.flush()
                await cancel_on_stop_signal(nursery.cancel_scope)
            finally:
                (profile.path / WEB_FILE).unlink(missing_ok=True)

    run_trio(run)
    emit(state, {"event": "stopped"}, lambda: click.echo("Stopped."))


async def cancel_on_stop_signal(scope: trio.CancelScope) -> None:
    """Cancel ``scope`` at the first SIGINT or SIGTERM (main thread only)."""
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            scope.cancel()
            return


def run_trio(fn: Any, *args: Any) -> Any:
    """``trio.run``, reporting an Umbra error inside one-member exception groups as itself."""
    try:
        return trio.run(fn, *args)
    except BaseExceptionGroup as group:
        leaf = single_exception(group)
        if isinstance(leaf, (UmbraError, KeyboardInterrupt)):
            raise leaf from None
        raise


def single_exception(exc: BaseException) -> BaseException:
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
    """Serve only the web app and JSON API (no node) and print the link to open."""
    _run_server(state, port)


@click.command(name="open")
@click.option("--print-only", is_flag=True, help="Only print the link; do not open a browser.")
@json_option
@pass_state
def open_(state: CliState, print_only: bool) -> None:
    """Print the link of the running node's web app and open it in the browser."""
    found = _read_web_file(state)
    opened = False
    if not print_only and not state.json_output:
        opened = open_in_browser(found["url"], state_profile_dir(state))
    emit(
        state,
        {"url": found["url"], "pid": found["pid"], "opened": opened},
        lambda: click.echo(found["url"] if opened else f"Open this link: {found['url']}"),
    )


def add_web_commands(group: click.Group) -> None:
    """Register `serve`, `open` and `app` on the `umbra` group."""
    from ._window_cmd import app  # it runs the node too: imported late (no import cycle)

    for command in (serve, open_, app):
        group.add_command(command)
