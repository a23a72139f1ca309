import json
import os
import stat
from pathlib import Path

import pytest

from umbra.core import UsageError
from umbra.core.crypto import Argon2Params
from umbra.store import (
    DamagedStore,
    IndexEntry,
    Profile,
    ProfileExists,
    ProfileNotFound,
    SearchQuery,
    StoreError,
    WrongPassphrase,
    create_profile,
    list_profiles,
    open_profile,
)
from umbra.store._schema import STORE_MIGRATIONS

SECRET_TITLE = "Zanzibar-unmistakable-title-string"
SECRET_DESCRIPTION = "ultra distinctive description marker qwxzv"


def entry() -> IndexEntry:
    return IndexEntry(
        cid="bafyreisecretcid",
        seller=b"\x01" * 32,
        listing_id=b"\x02" * 16,
        revision=1,
        title=SECRET_TITLE,
        description=SECRET_DESCRIPTION,
        tags=("plaintexttagmarker",),
        category="electronics/phones",
        price=5,
        ship_regions=("DE",),
        ships_from="DE",
        created_at=1,
        expires_at=10**10,
        thumbnail=None,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_open_and_identity_persists(tmp_path: Path, fast_params: Argon2Params) -> None:
    with create_profile(tmp_path, "alice", "correct horse", params=fast_params) as created:
        assert created.name == "alice"
        assert created.path == tmp_path / "profiles" / "alice"
        public = created.identity.signing_public
        secret = created.identity.encryption_secret
    with open_profile(tmp_path, "alice", "correct horse") as opened:
        assert opened.identity.signing_public == public
        assert opened.identity.encryption_secret == secret
        assert isinstance(opened, Profile)
        assert "alice" in repr(opened) and secret.hex() not in repr(opened)


def test_profile_json_is_not_secret_and_well_formed(
    tmp_path: Path, fast_params: Argon2Params
) -> None:
    create_profile(tmp_path, "alice", "pw", params=fast_params).close()
    meta = json.loads((tmp_path / "profiles" / "alice" / "profile.json").read_text())
    assert meta["format"] == "umbra-profile/v1"
    assert meta["kdf"] == "argon2id"
    assert meta["params"] == {"t": 1, "m": 8 * 1024, "p": 1}
    assert set(meta) == {"format", "kdf", "salt", "params", "check"}


def test_files_and_directories_are_private(tmp_path: Path, fast_params: Argon2Params) -> None:
    old = os.umask(0o022)
    try:
        profile = create_profile(tmp_path / "data", "alice", "pw", params=fast_params)
        profile.search.upsert(entry())
        directory = profile.path
        assert mode(tmp_path / "data") == 0o700
        assert mode(tmp_path / "data" / "profiles") == 0o700
        assert mode(directory) == 0o700
        for file in directory.iterdir():  # umbra.db, -wal, -shm, profile.json
            assert mode(file) == 0o600, file
        profile.close()
    finally:
        os.umask(old)


def test_no_header_and_no_plaintext_on_disk(tmp_path: Path, fast_params: Argon2Params) -> None:
    profile = create_profile(tmp_path, "alice", "pw", params=fast_params)
    profile.search.upsert(entry())
    profile.blocks.put(b"block plaintext marker", "raw")
    directory = profile.path

    def check() -> None:
        files = [p for p in directory.iterdir() if p.name.startswith("umbra.db")]
        assert files
        for file in files:
            data = file.read_bytes()
            if file.name == "umbra.db":
                assert data[:16] != b"SQLite format 3\x00"
            for marker in (
                SECRET_TITLE,
                "distinctive",
                "plaintexttagmarker",
                "block plaintext marker",
                "search_listings",  # not even the schema
                "electronics",
            ):
                assert marker.encode() not in data, (file.name, marker)

    check()  # open: WAL present
    assert (directory / "umbra.db-wal").exists()
    profile.close()
    check()  # closed: checkpointed into the main file
    assert not (directory / "umbra.db-wal").exists()


def test_wrong_passphrase_leaves_the_file_untouched(
    tmp_path: Path, fast_params: Argon2Params
) -> None:
    create_profile(tmp_path, "alice", "right", params=fast_params).close()
    directory = tmp_path / "profiles" / "alice"
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in directory.iterdir()}
    with pytest.raises(WrongPassphrase, match="wrong passphrase for profile 'alice'"):
        open_profile(tmp_path, "alice", "wrong")
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in directory.iterdir()}
    assert before == after


def test_empty_passphrase_is_refused(tmp_path: Path, fast_params: Argon2Params) -> None:
    with pytest.raises(UsageError):
        create_profile(tmp_path, "alice", "", params=fast_params)
    assert list_profiles(tmp_path) == []


@pytest.mark.parametrize("how", ["truncate-half", "truncate-page", "garbage", "empty", "missing"])
def test_damaged_database(tmp_path: Path, fast_params: Argon2Params, how: str) -> None:
    with create_profile(tmp_path, "alice", "pw", params=fast_params) as profile:
        profile.search.upsert_many([entry()])
        for i in range(300):
            profile.blocks.put(os.urandom(200) + bytes([i % 256]), "raw")
    path = tmp_path / "profiles" / "alice" / "umbra.db"
    data = path.read_bytes()
    if how == "truncate-half":
        path.write_bytes(data[: len(data) // 2])
    elif how == "truncate-page":
        path.write_bytes(data[:4096])
    elif how == "garbage":
        path.write_bytes(os.urandom(len(data)))
    elif how == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
    with pytest.raises(DamagedStore, match=r"damaged.*restore the profile from a backup"):
        open_profile(tmp_path, "alice", "pw")


@pytest.mark.parametrize("where", [0, 1, 2, 5, -1])
def test_corrupted_page_never_escapes_as_a_traceback(
    tmp_path: Path, fast_params: Argon2Params, where: int
) -> None:
    with create_profile(tmp_path, "alice", "pw", params=fast_params) as profile:
        profile.search.upsert_many([entry()])
    path = tmp_path / "profiles" / "alice" / "umbra.db"
    data = bytearray(path.read_bytes())
    pages = len(data) // 4096
    page = where % pages
    data[page * 4096 + 100 : page * 4096 + 200] = os.urandom(100)
    path.write_bytes(bytes(data))
    try:
        with open_profile(tmp_path, "alice", "pw") as profile:
            profile.search.search(SearchQuery(text="zanzibar", now=5))
            profile.db.check_integrity()
    except DamagedStore:
        pass  # the expected outcome; any other exception fails the test


def test_damaged_profile_json(tmp_path: Path, fast_params: Argon2Params) -> None:
    create_profile(tmp_path, "alice", "pw", params=fast_params).close()
    meta_path = tmp_path / "profiles" / "alice" / "profile.json"
    good = json.loads(meta_path.read_text())
    deep, huge = "[" * 100_000 + "]" * 100_000, json.dumps({**good, "pad": "x" * 70_000})
    for broken in ("not json", "[]", json.dumps({**good, "salt": "!!"}), deep, huge):
        meta_path.write_text(broken)
        with pytest.raises(DamagedStore, match=r"profile\.json"):
            open_profile(tmp_path, "alice", "pw")
    meta_path.write_text(json.dumps({**good, "format": "umbra-profile/v9"}))
    with pytest.raises(StoreError, match="upgrade Umbra"):
        open_profile(tmp_path, "alice", "pw")


def test_exists_and_not_found(tmp_path: Path, fast_params: Argon2Params) -> None:
    create_profile(tmp_path, "alice", "pw", params=fast_params).close()
    with pytest.raises(ProfileExists, match="already exists"):
        create_profile(tmp_path, "alice", "other", params=fast_params)
    with pytest.raises(ProfileNotFound, match="no profile named 'bob'"):
        open_profile(tmp_path, "bob", "pw")
    with pytest.raises(UsageError):
        open_profile(tmp_path, "../alice", "pw")


def test_two_profiles_coexist(tmp_path: Path, fast_params: Argon2Params) -> None:
    alice = create_profile(tmp_path, "alice", "pw-a", params=fast_params)
    bob = create_profile(tmp_path, "bob", "pw-b", params=fast_params)
    alice.search.upsert(entry())
    assert alice.identity.signing_public != bob.identity.signing_public
    assert bob.search.count() == 0 and alice.search.count() == 1
    alice.close()
    bob.close()
    assert list_profiles(tmp_path) == ["alice", "bob"]
    with pytest.raises(WrongPassphrase):
        open_profile(tmp_path, "bob", "pw-a")
    with open_profile(tmp_path, "bob", "pw-b") as again:
        assert again.search.count() == 0


def test_list_profiles_skips_leftovers(tmp_path: Path, fast_params: Argon2Params) -> None:
    assert list_profiles(tmp_path / "nothing-here") == []
    create_profile(tmp_path, "alice", "pw", params=fast_params).close()
    (tmp_path / "profiles" / ".bob.x.new").mkdir()
    (tmp_path / "profiles" / "carol").mkdir()  # no profile.json
    (tmp_path / "profiles" / "README").write_text("hi")
    assert list_profiles(tmp_path) == ["alice"]
    assert [p.name for p in (tmp_path / "profiles").iterdir() if p.name.endswith(".new")] == [
        ".bob.x.new"
    ]


def test_failed_create_leaves_nothing(tmp_path: Path, fast_params: Argon2Params) -> None:
    with pytest.raises(UsageError):
        create_profile(tmp_path, "alice", "", params=fast_params)
    with pytest.raises(UsageError):
        create_profile(tmp_path, "Bad", "pw", params=fast_params)
    assert list(tmp_path.rglob("*")) in ([], [tmp_path / "profiles"])


def test_other_layers_add_their_tables(tmp_path: Path, fast_params: Argon2Params) -> None:
    with create_profile(tmp_path, "alice", "pw", params=fast_params) as profile:
        profile.db.migrate("wallet", ("CREATE TABLE wallet_accounts (id INTEGER PRIMARY KEY);",))
    with open_profile(tmp_path, "alice", "pw") as profile:
        assert profile.db.schema_version("wallet") == 1
        assert profile.db.schema_version("store") == len(STORE_MIGRATIONS)


def test_opening_a_profile_makes_loose_files_owner_only(
    tmp_path: Path, fast_params: Argon2Params
) -> None:
    create_profile(tmp_path, "alice", "pw", params=fast_params).close()
    directory = tmp_path / "profiles" / "alice"
    (directory / "node.toml").write_text("listen = []\n", encoding="utf-8")
    (directory / "escrow-mail").mkdir()
    for path, bits in (
        (directory, 0o755),
        (directory / "profile.json", 0o644),
        (directory / "node.toml", 0o664),
        (directory / "escrow-mail", 0o755),
    ):
        os.chmod(path, bits)
    open_profile(tmp_path, "alice", "pw").close()
    for path in (directory, *directory.rglob("*")):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
