"""Profiles: one passphrase-protected encrypted store per persona.

A profile directory holds ``umbra.db`` (SQLCipher, raw key) and ``profile.json``, which is not
secret: the Argon2id salt and parameters, and a check value derived from the passphrase next
to (not from) the database key. The check value lets us say "wrong passphrase" without
opening the database, so a typo never touches the file, and lets us say "damaged" with
confidence when the passphrase is right but the file will not open.

A new profile is built in a hidden staging directory and renamed into place, so a crash never
leaves a half-made profile under the real name.
"""

import base64
import binascii
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from umbra.core import UsageError
from umbra.core.crypto import (
    Argon2Params,
    IdentityKeys,
    SigningKey,
    StoreKeys,
    check_values_equal,
    derive_store_keys,
    new_salt,
)

from ._blocks import BlockStore
from ._database import Database
from ._errors import DamagedStore, ProfileExists, ProfileNotFound, StoreError, WrongPassphrase
from ._paths import (
    DATABASE_FILE,
    PROFILE_FILE,
    PathLike,
    fsync_dir,
    make_private_dirs,
    profile_dir,
    profiles_root,
    tighten_private_tree,
    validate_profile_name,
    write_private_file,
)
from ._schema import STORE_NAMESPACE, migrate_store
from ._search import SearchIndex

PROFILE_FORMAT = "umbra-profile/v1"
_KDF = "argon2id"


class Profile:
    """An open profile. Close it (or use it as a context manager) to release the database."""

    def __init__(self, name: str, path: Path, db: Database, identity: IdentityKeys) -> None:
        self._name = name
        self._path = path
        self._db = db
        self._identity = identity
        self._blocks = BlockStore(db)
        self._search = SearchIndex(db)

    @property
    def name(self) -> str:
        return self._name

    @property
    def path(self) -> Path:
        """The profile's directory."""
        return self._path

    @property
    def db(self) -> Database:
        """The profile's database; other layers create their tables with ``db.migrate``."""
        return self._db

    @property
    def identity(self) -> IdentityKeys:
        return self._identity

    @property
    def blocks(self) -> BlockStore:
        return self._blocks

    @property
    def search(self) -> SearchIndex:
        return self._search

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Profile":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Profile({self._name!r}, {self._identity!r})"


def create_profile(
    data_dir: PathLike, name: str, passphrase: str, *, params: Argon2Params | None = None
) -> Profile:
    """Create a profile with fresh identity keys and open it.

    Args:
        data_dir: the data directory (see `resolve_data_dir`).
        name: the profile name (lowercase letters, digits, ``-``, ``_``).
        passphrase: unlocks the profile; it cannot be recovered if lost.
        params: Argon2id cost; the default suits interactive use, tests pass cheaper ones.

    Raises:
        ProfileExists: a profile of that name exists.
        UsageError: invalid name or empty passphrase.
    """
    validate_profile_name(name)
    params = Argon2Params() if params is None else params
    root = profiles_root(data_dir)
    final = root / name
    if final.exists():
        raise ProfileExists(name)
    make_private_dirs(root)
    salt = new_salt()
    keys = derive_store_keys(passphrase, salt, params)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".new", dir=root))  # 0700
    try:
        with Database.open(staging / DATABASE_FILE, keys.database_key, create=True) as db:
            migrate_store(db)
            identity = IdentityKeys.generate()
            with db.transaction():
                db.execute(
                    "INSERT INTO identity (id, signing_seed, encryption_secret) VALUES (1, ?, ?)",
                    (identity.signing.seed, identity.encryption_secret),
                )
        write_private_file(staging / PROFILE_FILE, _profile_json(salt, params, keys))
        try:
            # Atomic; fails if another process created a non-empty profile of that name.
            os.rename(staging, final)
        except OSError as exc:
            if final.exists():
                raise ProfileExists(name) from None
            raise StoreError(f"cannot create profile {name!r}: {exc.strerror}") from exc
        fsync_dir(root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return _open_database(name, final, keys)


def open_profile(data_dir: PathLike, name: str, passphrase: str) -> Profile:
    """Unlock and open an existing profile.

    Raises:
        ProfileNotFound: no such profile.
        WrongPassphrase: the passphrase is wrong; the database was not opened.
        DamagedStore: the passphrase is right but the files are truncated or corrupted.
        SchemaTooNew: a newer Umbra wrote this profile.
    """
    directory = profile_dir(data_dir, name)
    meta_path = directory / PROFILE_FILE
    if not meta_path.is_file():
        raise ProfileNotFound(name, data_dir)
    tighten_private_tree(directory)  # files an older version (or a loose umask) left readable
    salt, params, check = _read_profile_json(meta_path)
    keys = derive_store_keys(passphrase, salt, params)
    if not check_values_equal(keys.passphrase_check, check):
        raise WrongPassphrase(name)
    return _open_database(name, directory, keys)


def list_profiles(data_dir: PathLike) -> list[str]:
    """Names of the profiles in ``data_dir``, sorted; staging leftovers are skipped."""
    root = profiles_root(data_dir)
    if not root.is_dir():
        return []
    names = []
    for entry in root.iterdir():
        try:
            validate_profile_name(entry.name)
        except UsageError:
            continue
        if (entry / PROFILE_FILE).is_file():
            names.append(entry.name)
    return sorted(names)


def _open_database(name: str, directory: Path, keys: StoreKeys) -> Profile:
    db_path = directory / DATABASE_FILE
    db = Database.open(db_path, keys.database_key)
    try:
        # An empty or foreign file opens fine but has none of our tables: never build them
        # over what should have been the user's data.
        if db.schema_version(STORE_NAMESPACE) == 0:
            raise DamagedStore(db_path, "the store tables are missing")
        migrate_store(db)
        row = db.query_one("SELECT signing_seed, encryption_secret FROM identity WHERE id = 1")
        if row is None:
            raise DamagedStore(db_path, "the identity keys are missing")
        identity = IdentityKeys(SigningKey(bytes(row[0])), bytes(row[1]))
    except BaseException:
        db.close()
        raise
    return Profile(name, directory, db, identity)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _profile_json(salt: bytes, params: Argon2Params, keys: StoreKeys) -> bytes:
    meta = {
        "format": PROFILE_FORMAT,
        "kdf": _KDF,
        "salt": _b64(salt),
        "params": params.as_dict(),
        "check": _b64(keys.passphrase_check),
    }
    return (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode("utf-8")


# profile.json is a few hundred bytes; anything far larger is not ours.
_MAX_PROFILE_JSON_BYTES = 64 * 1024


def _read_profile_json(path: Path) -> tuple[bytes, Argon2Params, bytes]:
    """Parse ``profile.json``; anything unreadable means the profile is damaged."""
    try:
        with path.open("rb") as file:
            raw = file.read(_MAX_PROFILE_JSON_BYTES + 1)
        if len(raw) > _MAX_PROFILE_JSON_BYTES:
            raise ValueError("profile.json is larger than any Umbra writes")
        meta: Any = json.loads(raw)
    # A file is hostile input too: json raises RecursionError on deep nesting.
    except (OSError, ValueError, RecursionError) as exc:
        raise DamagedStore(path, "profile.json is unreadable") from exc
    if not isinstance(meta, dict):
        raise DamagedStore(path, "profile.json is malformed")
    if meta.get("format") != PROFILE_FORMAT or meta.get("kdf") != _KDF:
        raise StoreError(
            f"{path} has format {str(meta.get('format'))[:40]!r}, which this version of Umbra "
            "cannot read; upgrade Umbra"
        )
    try:
        salt = base64.b64decode(meta["salt"], validate=True)
        check = base64.b64decode(meta["check"], validate=True)
        params = Argon2Params.from_dict(meta["params"])
    except (KeyError, TypeError, ValueError, binascii.Error, UsageError) as exc:
        raise DamagedStore(path, "profile.json is malformed") from exc
    if len(salt) < 16 or len(check) != 32:
        raise DamagedStore(path, "profile.json is malformed")
    return salt, params, check
