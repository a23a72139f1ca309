"""Fixtures for the store tests: cheap Argon2 parameters, fresh encrypted databases."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from umbra.core.crypto import Argon2Params
from umbra.store import BlockStore, Database, SearchIndex, migrate_store

# Argon2id at its cheapest: the tests exercise the recipe, not its cost.
FAST = Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=1)


@pytest.fixture
def fast_params() -> Argon2Params:
    return FAST


@pytest.fixture
def key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def db(tmp_path: Path, key: bytes) -> Iterator[Database]:
    database = Database.open(tmp_path / "test.db", key, create=True)
    migrate_store(database)
    yield database
    database.close()


@pytest.fixture
def index(db: Database) -> SearchIndex:
    return SearchIndex(db)


@pytest.fixture
def blocks(db: Database) -> BlockStore:
    return BlockStore(db)
