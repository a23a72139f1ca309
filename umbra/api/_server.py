"""`serve_app`: run the app with hypercorn's trio worker on 127.0.0.1, on the caller's loop."""

import logging
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from ._app import UmbraApp

HOST = "127.0.0.1"


def _config(port: int) -> Config:
    config = Config()
    config.bind = [f"{HOST}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("umbra.api.server")
    config.include_server_header = False
    config.graceful_timeout = 2.0
    config.keep_alive_timeout = 30.0
    return config


async def serve_app(
    app: UmbraApp,
    *,
    port: int = 0,
    task_status: Any = trio.TASK_STATUS_IGNORED,  # trio.TaskStatus[str]; the stubs lack it
) -> None:
    """Serve ``app`` on 127.0.0.1 until cancelled (port 0 picks a free port).

    ``task_status.started`` gets the base URL, e.g. ``http://127.0.0.1:8470``, once the
    socket is bound and the app knows its port (its Host check needs it).
    """

    async def run_hypercorn(*, task_status: Any) -> None:
        await serve(app, _config(port), task_status=task_status)  # type: ignore[arg-type]

    try:
        async with trio.open_nursery() as nursery:
            binds: list[str] = await nursery.start(run_hypercorn)
            url = next(b for b in binds if b.startswith("http://"))
            app.gate.bind_port(int(url.rsplit(":", 1)[1]))
            task_status.started(url)
    except BaseExceptionGroup as group:
        leaf = single_exception(group)
        if isinstance(leaf, OSError):  # e.g. the port is taken: say so plainly
            raise leaf from None
        raise


def single_exception(exc: BaseException) -> BaseException:
    """The one exception inside nested one-member exception groups (or ``exc`` itself)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc
