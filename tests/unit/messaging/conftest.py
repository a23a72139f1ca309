"""Shared helpers: two personas with session managers and an in-memory 'network'."""

from dataclasses import dataclass, field

import pytest

from umbra.core.crypto import PrekeyBundle, SigningKey
from umbra.net.messaging import Incoming, MemorySessionStore, Outgoing, SessionManager

NOW = 1_700_000_000


@dataclass
class Party:
    """A persona, its manager, and a store that every result is saved to (as a driver must)."""

    key: SigningKey
    manager: SessionManager
    store: MemorySessionStore = field(default_factory=MemorySessionStore)

    @classmethod
    def new(cls, seed: int) -> "Party":
        key = SigningKey(bytes([seed]) * 32)
        manager, changes = SessionManager.create(key, now=NOW)
        party = cls(key, manager)
        party.store.save(changes)
        return party

    @property
    def persona(self) -> bytes:
        return self.key.public_key

    def bundle(self, now: int = NOW) -> PrekeyBundle:
        return PrekeyBundle.parse(self.manager.prekey_bundle(self.key, now=now).to_bytes())

    def send(self, to: "Party", text: bytes, now: int = NOW) -> Outgoing:
        bundle = None if self.manager.has_session(to.persona) else to.bundle(now)
        out = self.manager.encrypt(to.persona, text, now=now, bundle=bundle)
        self.store.save(out.changes)
        return out

    def receive(self, out: Outgoing) -> Incoming:
        incoming = self.manager.open_envelope(out.envelope)
        self.store.save(incoming.changes)
        return incoming

    def restart(self) -> None:
        """Simulate a crash: throw the in-memory manager away, reload the saved state."""
        loaded = self.store.load()
        assert loaded is not None
        self.manager = loaded


@pytest.fixture
def alice() -> Party:
    return Party.new(1)


@pytest.fixture
def bob() -> Party:
    return Party.new(2)
