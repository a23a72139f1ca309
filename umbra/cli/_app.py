"""The `umbra` command group, shared options, output and error handling.

Every command accepts ``--json``. Errors end the process with one line on stderr (and, with
``--json``, an ``{"error": ...}`` object on stdout) and a non-zero exit code, never a traceback:
1 for errors Umbra expected (bad input, wrong passphrase), 2 for usage mistakes, 70 for bugs.
"""

import getpass
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from umbra.core import UmbraError, UsageError, escape_hidden
from umbra.store import Profile, open_profile, resolve_data_dir, set_private_umask

from ._invocation import runnable_command, with_runnable_commands
from ._terminal import NeutralizingWriter

F = TypeVar("F", bound=Callable[..., Any])

EXIT_ERROR = 1
EXIT_BUG = 70


@dataclass
class CliState:
    """Options given before the sub-command, and the lazily opened profile."""

    data_dir_option: Path | None
    profile_name: str
    passphrase_file: Path | None
    json_output: bool = False
    _profile: Profile | None = field(default=None, repr=False)

    @property
    def data_dir(self) -> Path:
        return resolve_data_dir(self.data_dir_option)

    def passphrase(self, *, confirm: bool = False) -> str:
        """The passphrase from --passphrase-file, $UMBRA_PASSPHRASE, or a terminal prompt."""
        if self.passphrase_file is not None:
            try:
                text = self.passphrase_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"cannot read passphrase file: {exc.strerror}") from exc
            return text.splitlines()[0] if text.strip() else ""
        from_env = os.environ.get("UMBRA_PASSPHRASE")
        if from_env is not None:
            return from_env
        if not sys.stdin.isatty():
            raise UsageError(
                "no passphrase: use --passphrase-file FILE, set UMBRA_PASSPHRASE, "
                "or run in a terminal"
            )
        first = getpass.getpass(f"Passphrase for profile {self.profile_name!r}: ")
        if confirm and getpass.getpass("Repeat the passphrase: ") != first:
            raise UsageError("the two passphrases differ")
        return first

    def profile(self) -> Profile:
        if self._profile is None:
            self._profile = open_profile(self.data_dir, self.profile_name, self.passphrase())
        return self._profile

    def close(self) -> None:
        if self._profile is not None:
            self._profile.close()
            self._profile = None


pass_state = click.make_pass_decorator(CliState)


def _store_on_state(attr: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value is not None and value is not False:
            setattr(ctx.ensure_object(CliState), attr, True if value is True else value)
        return value

    return callback


json_flag = click.option(
    "--json",
    "json_output",
    is_flag=True,
    expose_value=False,
    callback=_store_on_state("json_output"),
    is_eager=True,
    help="Print machine-readable JSON.",
)


def json_option(func: F) -> F:
    """Add the options every command takes, so they work before or after the command name.

    ``--json`` switches to machine output; ``--profile``, ``--data-dir`` and
    ``--passphrase-file`` may also be given after the command (``umbra init --profile shop``).
    """
    options = [
        json_flag,
        click.option(
            "--profile",
            "profile_name",
            expose_value=False,
            callback=_store_on_state("profile_name"),
            help="Which profile (persona) to use.",
        ),
        click.option(
            "--data-dir",
            "data_dir_option",
            type=click.Path(path_type=Path, file_okay=False),
            expose_value=False,
            callback=_store_on_state("data_dir_option"),
            help="Where profiles live.",
        ),
        click.option(
            "--passphrase-file",
            "passphrase_file",
            type=click.Path(path_type=Path, dir_okay=False),
            expose_value=False,
            callback=_store_on_state("passphrase_file"),
            help="Read the passphrase from this file.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def emit(state: CliState, data: Any, human: Callable[[], None]) -> None:
    """Print ``data`` as JSON in --json mode, else call ``human`` to print for people."""
    if state.json_output:
        click.echo(escape_hidden(json.dumps(data, ensure_ascii=False, sort_keys=True)))
    else:
        human()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="UMBRA_HOME",
    help="Where profiles live (default: $UMBRA_HOME, else $XDG_DATA_HOME/umbra).",
)
@click.option(
    "--profile",
    "profile_name",
    default="default",
    envvar="UMBRA_PROFILE",
    show_default=True,
    help="Which profile (persona) to use.",
)
@click.option(
    "--passphrase-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Read the passphrase from this file (else $UMBRA_PASSPHRASE or a prompt).",
)
@json_flag
@click.version_option(package_name="umbra", prog_name="umbra")
@click.pass_context
def cli(
    ctx: click.Context, data_dir: Path | None, profile_name: str, passphrase_file: Path | None
) -> None:
    """Umbra: a private peer-to-peer marketplace. Your keys and data stay on this device."""
    # Before anything is written: every file and directory this process or its children
    # (monerod, wallet-rpc, node processes) create is then owner-only.
    set_private_umask()
    state = ctx.ensure_object(CliState)
    state.data_dir_option = data_dir
    state.profile_name = profile_name
    state.passphrase_file = passphrase_file
    ctx.call_on_close(state.close)


class AlreadyReported(Exception):
    """A failure the user was told of when it happened (`report_error`), e.g. a node that
    could not start while its web app kept showing why: the command ends with exit code 1
    and says nothing more."""


def report_error(message: str, json_mode: bool) -> None:
    """The one error line (and, with ``--json``, the ``{"error": ...}`` object)."""
    message = with_runnable_commands(message)  # "start it with `umbra node`" as it runs here
    if json_mode:
        click.echo(json.dumps({"error": message}))
    click.echo(f"umbra: error: {message}", err=True)


def _fail(message: str, code: int, json_mode: bool) -> None:
    report_error(message, json_mode)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the group and turn every failure into one line."""
    # Text from other people reaches the terminal only through these (see `_terminal`).
    sys.stdout = NeutralizingWriter(sys.stdout)
    sys.stderr = NeutralizingWriter(sys.stderr)
    state = CliState(None, "default", None)
    try:
        result = cli.main(
            args=argv,
            prog_name=runnable_command(),  # usage lines name the CLI as it runs here
            complete_var="_UMBRA_COMPLETE",  # not derived from a path such as .venv/bin/umbra
            standalone_mode=False,
            obj=state,
        )
    except click.exceptions.Abort:
        _fail("aborted", EXIT_ERROR, state.json_output)
    except click.ClickException as exc:
        message = exc.format_message().replace("\n", " ")
        _fail(message, exc.exit_code, state.json_output)
    except UmbraError as exc:
        _fail(str(exc).replace("\n", " "), EXIT_ERROR, state.json_output)
    except AlreadyReported:
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        _fail("interrupted", 130, state.json_output)
    except Exception as exc:
        if os.environ.get("UMBRA_DEBUG"):
            raise
        _fail(
            f"internal error ({type(exc).__name__}: {exc}); this is a bug. "
            "Run again with UMBRA_DEBUG=1 for details.",
            EXIT_BUG,
            state.json_output,
        )
    sys.exit(result if isinstance(result, int) else 0)
