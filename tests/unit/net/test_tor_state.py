"""Tor mode's secrets in the profile's database (``net_tor``, schema 4): the onion key tor made
on the first start, kept for the next ones, and a random SOCKS isolation token per profile."""

from pathlib import Path

from umbra.core.crypto import Argon2Params
from umbra.net import NetState
from umbra.store import create_profile, open_profile

CHEAP = Argon2Params(time_cost=1, memory_kib=1024, parallelism=1)
KEY = "ED25519-V3:" + "A" * 86 + "=="


def test_the_onion_key_and_isolation_token_survive_reopening(tmp_path: Path) -> None:
    with create_profile(tmp_path, "alice", "pw", params=CHEAP) as profile:
        state = NetState(profile)
        assert state.onion_key() is None  # tor makes one on the first start
        token = state.socks_isolation()
        assert len(token) == 32 and state.socks_isolation() == token
        state.save_onion_key(KEY)
    with open_profile(tmp_path, "alice", "pw") as profile:
        state = NetState(profile)
        assert state.onion_key() == KEY
        assert state.socks_isolation() == token


def test_two_profiles_get_different_isolation_tokens(tmp_path: Path) -> None:
    tokens = set()
    for name in ("alice", "bob"):
        with create_profile(tmp_path, name, "pw", params=CHEAP) as profile:
            tokens.add(NetState(profile).socks_isolation())
    assert len(tokens) == 2


def test_a_profile_from_schema_3_gets_the_tor_table(tmp_path: Path) -> None:
    with create_profile(tmp_path, "alice", "pw", params=CHEAP) as profile:
        NetState(profile)
        with profile.db.transaction():
            profile.db.execute("DROP TABLE net_tor")
            profile.db.execute("UPDATE schema_versions SET version = 3 WHERE namespace = 'net'")
    with open_profile(tmp_path, "alice", "pw") as profile:
        state = NetState(profile)
        assert profile.db.schema_version("net") == 4
        assert state.onion_key() is None and len(state.socks_isolation()) == 32
