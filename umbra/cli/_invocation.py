"""How the user can type this CLI again, for the commands that hints and errors suggest.

`bash scripts/run.sh` installs the CLI as ``.venv/bin/umbra`` and puts nothing on PATH, so a
hint that says `umbra node` would answer "command not found". Hints name the command the
way it can be run here: ``umbra`` when PATH finds this very script (an activated venv, an
installed package), else this script's path: relative when it lies below the working
directory (``.venv/bin/umbra``), absolute otherwise or when the hint is for another terminal,
which starts elsewhere.
"""

import os
import re
import shlex
import shutil
import sys

COMMAND_NAME = "umbra"
_QUOTED_COMMAND = re.compile(r"`umbra(?=[ `])")


def runnable_command(
    *,
    anywhere: bool = False,
    argv0: str | None = None,
    cwd: str | None = None,
    path_env: str | None = None,
) -> str:
    """The shell words that run this CLI (quoted for a POSIX shell).

    Args:
        anywhere: for another terminal (another working directory): never a relative path.
        argv0, cwd, path_env: this process's script, directory and PATH unless given.
    """
    script = sys.argv[0] if argv0 is None else argv0
    if os.path.basename(script) != COMMAND_NAME:
        return COMMAND_NAME  # not the installed script (e.g. a test entry): nothing better
    here = os.getcwd() if cwd is None else cwd
    absolute = os.path.normpath(os.path.join(here, script))
    found = shutil.which(
        COMMAND_NAME, path=os.environ.get("PATH") if path_env is None else path_env
    )
    if found is not None and os.path.realpath(found) == os.path.realpath(absolute):
        return COMMAND_NAME
    relative = os.path.relpath(absolute, here)
    if not anywhere and not relative.startswith(os.pardir):
        return shlex.quote(relative if os.sep in relative else os.path.join(os.curdir, relative))
    return shlex.quote(absolute)


def with_runnable_commands(text: str, command: str | None = None) -> str:
    """``text`` with each quoted `umbra …` command written as ``command`` (default: ours)."""
    if "`umbra" not in text:
        return text
    words = runnable_command() if command is None else command
    return _QUOTED_COMMAND.sub(lambda _: f"`{words}", text)
