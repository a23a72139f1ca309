"""Hostile bytes: any changed byte is rejected and changes nothing; parsers never crash."""

import contextlib

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from umbra.core import InvalidDocument, UmbraError
from umbra.core.crypto import ReplayedMessage, open_envelope
from umbra.net.messaging import parse_message

from .conftest import Party

_HC = [HealthCheck.function_scoped_fixture]


def _flip(data: bytes, index: int, mask: int) -> bytes:
    out = bytearray(data)
    out[index % len(out)] ^= mask
    return bytes(out)


# Built once for hypothesis; each example checks the genuine message on a copy from the store.
def _setup() -> tuple[
    tuple[Party, Party], bytes, tuple[Party, Party, bytes], tuple[Party, Party, bytes]
]:
    alice, bob = Party.new(1), Party.new(2)
    first = alice.send(bob, b"first contact").message
    a2, b2 = Party.new(3), Party.new(4)
    b2.receive(a2.send(b2, b"hi"))
    a2.receive(b2.send(a2, b"hi"))
    later = (a2, b2, a2.send(b2, b"later").message)
    envelope = (a2, b2, a2.send(b2, b"sealed").envelope)
    return (alice, bob), first, later, envelope


_FIRST, _FIRST_MSG, _LATER, _ENVELOPE = _setup()


def _setup_second() -> tuple[Party, Party, bytes]:
    """A second message before any reply: it carries the X3DH header on a session the
    receiver already has (the header's encoding is cached on both sides)."""
    a, b = Party.new(5), Party.new(6)
    b.receive(a.send(b, b"one"))
    return a, b, a.send(b, b"two").message


_SECOND = _setup_second()


@settings(max_examples=150, deadline=None, suppress_health_check=_HC)
@given(index=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=255))
def test_tampered_first_message_rejected(index: int, mask: int) -> None:
    _, bob = _FIRST
    out = _FIRST_MSG
    with pytest.raises(InvalidDocument):
        bob.manager.decrypt(_flip(out, index, mask))
    assert bob.manager._identity.to_bytes() == bob.store.identity  # nothing changed
    # Nothing was consumed: the genuine message still works (on a throwaway copy of bob).
    fresh = bob.store.load()
    assert fresh is not None and fresh.decrypt(out).plaintext == b"first contact"


@settings(max_examples=150, deadline=None, suppress_health_check=_HC)
@given(index=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=255))
def test_tampered_session_message_rejected(index: int, mask: int) -> None:
    alice, bob, msg = _LATER
    with pytest.raises(InvalidDocument):
        bob.manager.decrypt(_flip(msg, index, mask))
    assert bob.manager._peers[alice.persona].to_bytes() == bob.store.peers[alice.persona]
    fresh = bob.store.load()
    assert fresh is not None and fresh.decrypt(msg).plaintext == b"later"


@settings(max_examples=150, deadline=None, suppress_health_check=_HC)
@given(index=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=255))
def test_tampered_header_carrying_message_rejected(index: int, mask: int) -> None:
    alice, bob, msg = _SECOND
    with pytest.raises(InvalidDocument):
        bob.manager.decrypt(_flip(msg, index, mask))
    assert bob.manager._peers[alice.persona].to_bytes() == bob.store.peers[alice.persona]
    assert bob.manager._identity.to_bytes() == bob.store.identity
    fresh = bob.store.load()
    assert fresh is not None and fresh.decrypt(msg).plaintext == b"two"
    with pytest.raises(ReplayedMessage):
        fresh.decrypt(msg)


@settings(max_examples=100, deadline=None)
@given(index=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=255))
def test_tampered_envelope_rejected(index: int, mask: int) -> None:
    _, bob, envelope = _ENVELOPE
    with pytest.raises(InvalidDocument):
        open_envelope(bob.manager._identity.envelope_secret, _flip(envelope, index, mask))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=4096))
def test_message_parser_never_crashes(data: bytes) -> None:
    with contextlib.suppress(InvalidDocument):
        parse_message(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4096))
def test_decrypt_never_crashes_on_random_bytes(data: bytes) -> None:
    _, bob = _FIRST
    with contextlib.suppress(UmbraError):
        bob.manager.decrypt(data)


def _mutated_messages() -> st.SearchStrategy[bytes]:
    """Structurally valid CBOR near a real message: fields dropped, retyped, resized."""
    import dag_cbor

    base = dag_cbor.decode(_FIRST_MSG)
    assert isinstance(base, dict)
    values = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**64) + 1, 2**64 - 1),
        st.binary(max_size=40),
        st.text(max_size=5),
        st.lists(st.binary(max_size=33), max_size=3),
    )

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        obj = dict(base)
        key = draw(st.sampled_from([*sorted(obj), "extra"]))
        if draw(st.booleans()) and key in obj:
            del obj[key]
        else:
            obj[key] = draw(values)
        return bytes(dag_cbor.encode(obj))

    return mutate()


@settings(max_examples=300, deadline=None)
@given(_mutated_messages())
def test_structurally_mutated_messages_rejected_cleanly(data: bytes) -> None:
    assume(data != _FIRST_MSG)  # a "mutation" that put back the same value
    _, bob = _FIRST
    with pytest.raises(UmbraError):
        bob.manager.decrypt(data)
