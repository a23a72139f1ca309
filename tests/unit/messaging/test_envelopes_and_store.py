"""Sealed envelopes, mailbox ids, and saving session state in the encrypted database."""

from pathlib import Path

import nacl.public
import pytest

from umbra.core import InvalidDocument
from umbra.core.crypto import (
    intro_mailbox_id,
    open_envelope,
    seal_envelope,
    session_mailbox_id,
)
from umbra.net.messaging import DatabaseSessionStore, SessionManager
from umbra.store import Database

from .conftest import NOW, Party


def test_seal_and_open() -> None:
    secret = nacl.public.PrivateKey.generate()
    env = seal_envelope(bytes(secret.public_key), b"payload")
    assert open_envelope(bytes(secret), env) == b"payload"
    other = nacl.public.PrivateKey.generate()
    with pytest.raises(InvalidDocument):
        open_envelope(bytes(other), env)


def test_a_plain_sealed_box_is_not_an_envelope() -> None:
    """Domain separation: a sealed box made for another purpose does not open as an envelope."""
    secret = nacl.public.PrivateKey.generate()
    box = nacl.public.SealedBox(secret.public_key).encrypt(b"shipping address")
    with pytest.raises(InvalidDocument):
        open_envelope(bytes(secret), bytes(box))


def test_mailbox_ids_rotate_and_separate() -> None:
    key = bytes(range(32))
    assert intro_mailbox_id(key, 1) != intro_mailbox_id(key, 2)
    assert intro_mailbox_id(key, 1) != intro_mailbox_id(bytes(32), 1)
    secret = bytes([5]) * 32
    a, b = bytes([1]) * 32, bytes([2]) * 32
    assert session_mailbox_id(secret, a, 1) != session_mailbox_id(secret, b, 1)
    assert session_mailbox_id(secret, a, 1) != session_mailbox_id(bytes(32), a, 1)
    assert session_mailbox_id(secret, a, 1) != intro_mailbox_id(a, 1)


def test_envelopes_of_same_size_messages_have_same_size(alice: Party, bob: Party) -> None:
    sizes = {len(alice.send(bob, b"x" * n).envelope) for n in (0, 10, 200)}
    assert len(sizes) == 1


def test_database_store_round_trip(tmp_path: Path, alice: Party, bob: Party) -> None:
    db = Database.open(tmp_path / "bob.db", bytes(range(32)), create=True)
    store = DatabaseSessionStore(db)
    assert store.load() is None
    manager, changes = SessionManager.create(bob.key, now=NOW)
    bob.manager = manager
    store.save(changes)
    bob.store = store  # type: ignore[assignment]
    bob.receive(alice.send(bob, b"1"))
    alice.receive(bob.send(alice, b"2"))
    pending = alice.send(bob, b"3")
    db.close()

    db = Database.open(tmp_path / "bob.db", bytes(range(32)))
    store = DatabaseSessionStore(db)  # migrating again changes nothing
    restored = store.load()
    assert restored is not None
    assert restored.decrypt(pending.message).plaintext == b"3"
    db.close()


def test_database_save_is_atomic(tmp_path: Path, alice: Party, bob: Party) -> None:
    db = Database.open(tmp_path / "bob.db", bytes(range(32)), create=True)
    store = DatabaseSessionStore(db)
    manager, changes = SessionManager.create(bob.key, now=NOW)
    store.save(changes)
    bob.manager = manager
    first = alice.send(bob, b"hi")
    incoming = manager.open_envelope(first.envelope)

    def deliver() -> None:
        with db.transaction():
            store.save(incoming.changes)
            raise RuntimeError("the caller failed to store the plaintext")

    with pytest.raises(RuntimeError):
        deliver()
    reloaded = store.load()
    assert reloaded is not None and not reloaded.has_session(alice.persona)
    assert reloaded.decrypt(first.message).plaintext == b"hi"
    db.close()
