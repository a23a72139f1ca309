"""Where profiles live on disk, and how their files are created.

Layout: ``<data>/profiles/<name>/`` holds ``umbra.db`` (SQLCipher) and ``profile.json`` (the
non-secret key-derivation parameters). The data directory is chosen, first match wins, from an
explicit argument, ``$UMBRA_HOME``, ``$XDG_DATA_HOME/umbra``, then ``~/.local/share/umbra``.

Everything we create is private to the user (directories 0700, files 0600): the database is
encrypted, but file names, sizes and modification times still say something about activity,
and the sandbox's logs and state hold wallet addresses and RPC logins. Entry points set the
process umask to `PRIVATE_UMASK` (so children such as monerod create private files too), and
`tighten_private_tree` fixes what older versions created with looser modes.
"""

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path

from umbra.core import UsageError

PROFILES_DIR = "profiles"
DATABASE_FILE = "umbra.db"
PROFILE_FILE = "profile.json"

_PROFILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")

PathLike = str | os.PathLike[str]

# New files 0600, new directories 0700: group and others get nothing.
PRIVATE_UMASK = 0o077


def resolve_data_dir(
    explicit: PathLike | None = None, *, environ: Mapping[str, str] | None = None
) -> Path:
    """The data directory to use; nothing is created.

    Args:
        explicit: a directory given on the command line or in a config file; wins if set.
        environ: the environment to read (defaults to ``os.environ``; tests pass their own).
    """
    env = os.environ if environ is None else environ
    if explicit is not None and str(explicit):
        return Path(explicit).expanduser()
    if env.get("UMBRA_HOME"):
        return Path(env["UMBRA_HOME"]).expanduser()
    xdg = env.get("XDG_DATA_HOME", "")
    # The XDG spec says relative paths in XDG_* variables are invalid and must be ignored.
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "umbra"
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".local" / "share" / "umbra"


def validate_profile_name(name: str) -> str:
    """Return ``name`` if it is a valid profile name, else raise `UsageError`.

    Names become directory names, so the pattern also rules out path tricks (``..``, ``/``).
    """
    if not isinstance(name, str) or not _PROFILE_NAME.fullmatch(name):
        raise UsageError(
            f"invalid profile name {str(name)[:40]!r}: use 1-32 lowercase letters, digits, "
            "'-' or '_', starting with a letter or digit"
        )
    return name


def profiles_root(data_dir: PathLike) -> Path:
    return Path(data_dir) / PROFILES_DIR


def profile_dir(data_dir: PathLike, name: str) -> Path:
    """The directory of profile ``name`` (validated); nothing is created."""
    return profiles_root(data_dir) / validate_profile_name(name)


def make_private_dirs(path: Path) -> None:
    """Create ``path`` and any missing parents with mode 0700.

    Only directories created here get their mode set: an existing data directory the user
    chose is left as it is.
    """
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask


def create_private_file(path: Path) -> None:
    """Create an empty file with mode 0600; fails if it exists.

    SQLite gives its ``-wal`` and ``-shm`` files the mode of the database file, so creating
    the database file ourselves first keeps all three private whatever the umask.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename) with mode 0600."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "wb") as file:
        os.fchmod(fd, 0o600)
        file.write(data)
        file.flush()
        os.fsync(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a rename or file creation inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def set_private_umask() -> int:
    """Make every file and directory this process and its children create owner-only.

    Called first thing by the command line. Returns the previous umask.
    """
    return os.umask(PRIVATE_UMASK)


def open_private_append(path: Path) -> int:
    """Open ``path`` for appending (created 0600; an existing file is made 0600); a file
    descriptor the caller closes. For logs, which name addresses and peers."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def tighten_private_tree(root: Path) -> int:
    """Take group and other permissions away from ``root`` and everything under it.

    For directories and files an older Umbra (or a child process under a looser umask)
    created. Symbolic links are neither followed nor changed, and entries owned by someone
    else are left alone. Returns how many modes were changed.
    """
    changed = 0
    me = os.geteuid()

    def tighten(path: str) -> None:
        nonlocal changed
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode) or st.st_uid != me or not st.st_mode & 0o077:
                return
            os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o077)
        except FileNotFoundError:
            return  # removed meanwhile (a log rotated, a temp file renamed)
        changed += 1

    if not root.exists():
        return 0
    tighten(str(root))
    for directory, subdirs, files in os.walk(root, followlinks=False):
        for name in (*subdirs, *files):
            tighten(os.path.join(directory, name))
    return changed
