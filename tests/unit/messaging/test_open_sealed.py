"""`SessionManager.open_sealed`: the public way to open a box sealed to our envelope key."""

import pytest

from umbra.core import InvalidDocument
from umbra.core.crypto import seal_envelope

from .conftest import Party


def test_open_sealed_opens_only_boxes_for_this_identity() -> None:
    alice, bob = Party.new(1), Party.new(2)
    box = seal_envelope(bob.manager.certificate.envelope_key, b"12 Main Street")
    assert bob.manager.open_sealed(box) == b"12 Main Street"
    with pytest.raises(InvalidDocument):
        alice.manager.open_sealed(box)
    changed = bytearray(box)
    changed[-1] ^= 1
    with pytest.raises(InvalidDocument):
        bob.manager.open_sealed(bytes(changed))
