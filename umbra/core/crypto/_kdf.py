"""Passphrase → keys for the encrypted local store.

Argon2id (argon2-cffi) stretches the passphrase once; HKDF-SHA256 then derives one key per
purpose (the SQLCipher raw key, and a check value that tells "wrong passphrase" apart from
"damaged file" without touching the database).
"""

import hmac
import os
from dataclasses import dataclass

from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .._errors import UsageError
from . import _tags

SALT_BYTES = 16


@dataclass(frozen=True)
class Argon2Params:
    """Argon2id cost parameters, stored beside the database so they can be raised later."""

    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 2

    def as_dict(self) -> dict[str, int]:
        return {"t": self.time_cost, "m": self.memory_kib, "p": self.parallelism}

    @classmethod
    def from_dict(cls, d: dict[str, int]) -> "Argon2Params":
        params = cls(int(d["t"]), int(d["m"]), int(d["p"]))
        if not (1 <= params.time_cost <= 20 and 8 <= params.memory_kib <= 4 * 1024 * 1024):
            raise UsageError("the profile's key-derivation parameters are out of range")
        return params


@dataclass(frozen=True, repr=False)
class StoreKeys:
    """Keys derived from a passphrase for one profile's store."""

    database_key: bytes
    passphrase_check: bytes

    def __repr__(self) -> str:
        return "StoreKeys(<secret>)"


def new_salt() -> bytes:
    return os.urandom(SALT_BYTES)


def _hkdf(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


def derive_store_keys(passphrase: str, salt: bytes, params: Argon2Params) -> StoreKeys:
    """Stretch ``passphrase`` with Argon2id and split it into per-purpose keys."""
    if not passphrase:
        raise UsageError("the passphrase must not be empty")
    master = hash_secret_raw(
        passphrase.encode("utf-8"),
        salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=32,
        type=Type.ID,
    )
    return StoreKeys(_hkdf(master, _tags.DB_KEY), _hkdf(master, _tags.PASSPHRASE_CHECK))


def check_values_equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison of two secret check values."""
    return hmac.compare_digest(a, b)
