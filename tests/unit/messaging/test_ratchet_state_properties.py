"""Property tests of the ratchet state codec (saved after every message).

The written-out encoder `_encode_state` must give exactly the bytes of the generic walk
(`_encode_state_generic`), which is the canonical DAG-CBOR of the state map, for every value
of the state's shape and for values outside it (which fall back to the generic walk), also
with the peer chains' encoding a session keeps between saves. Real
sessions driven through arbitrary conversations (sends both ways, out-of-order delivery,
skipped keys, DH steps) restore from their saved bytes to the same package model, the same
bytes, and keep decrypting; replays are still refused after a restore.
"""

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.messaging.test_ratchet import first_contact
from umbra.core import decode_canonical, encode_canonical
from umbra.core.crypto import (
    RatchetMessage,
    RatchetSession,
    ReplayedMessage,
)
from umbra.core.crypto._ratchet import (
    _dump_state,
    _encode_chains,
    _encode_state,
    _encode_state_generic,
)

NOW = 1_700_000_000
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

uints = st.integers(min_value=0, max_value=2**64 - 1)
keys = st.binary(min_size=32, max_size=32)
any_bytes = st.one_of(keys, st.binary(max_size=300))
chains = st.one_of(st.none(), st.tuples(any_bytes, uints).map(list))
skipped = st.lists(st.tuples(keys, uints, keys).map(list), max_size=8)
state_shapes = st.tuples(keys, keys, chains, chains, chains, st.one_of(st.none(), uints), skipped)
# Values the package never holds; the encoder must still agree with the generic walk.
odd = st.one_of(
    st.integers(min_value=-(2**63), max_value=-1),
    st.booleans(),
    st.text(max_size=4),
    st.lists(st.integers(min_value=0, max_value=9), max_size=3),
)


@SETTINGS
@given(
    dr=state_shapes.map(list),
    ad=any_bytes,
    peer_chains=st.lists(keys, max_size=16),
)
def test_fast_encoder_is_the_canonical_encoding(
    dr: list[Any], ad: bytes, peer_chains: list[bytes]
) -> None:
    fast = _encode_state(dr, ad, peer_chains)
    assert fast == _encode_state_generic(dr, ad, peer_chains)
    assert fast == _encode_state(dr, ad, peer_chains, _encode_chains(peer_chains))
    assert fast == encode_canonical({"v": 2, "ad": ad, "dr": dr, "chains": peer_chains})
    assert decode_canonical(fast, max_size=1 << 20)["dr"] == dr


@SETTINGS
@given(dr=state_shapes.map(list), where=st.integers(min_value=0, max_value=6), value=odd)
def test_values_outside_the_shape_take_the_generic_path(
    dr: list[Any], where: int, value: Any
) -> None:
    dr[where] = value
    try:
        expected = _encode_state_generic(dr, b"ad", [])
    except Exception as exc:  # the generic walk refuses it: the fast one must too
        with pytest.raises(type(exc)):
            _encode_state(dr, b"ad", [])
        return
    assert _encode_state(dr, b"ad", []) == expected


def _pair() -> tuple[RatchetSession, RatchetSession]:
    new_a, new_b, _ = first_contact()
    return new_a.ratchet, new_b.ratchet


def _restored(session: RatchetSession) -> RatchetSession:
    saved = session.to_bytes()
    restored = RatchetSession.from_bytes(saved)
    assert restored._dr.model == session._dr.model
    assert restored._peer_chains == session._peer_chains
    assert restored.to_bytes() == saved
    assert saved == _encode_state_generic(_dump_state(session._dr), session._ad,
                                          list(session._peer_chains))  # fmt: skip
    return restored


# A conversation: each step sends from a (True) or b (False) and delivers some of what is
# in flight to the other side, in an order chosen by the seed.
steps = st.lists(st.tuples(st.booleans(), st.integers(min_value=0, max_value=3)), max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversation=steps, seed=st.integers(min_value=0, max_value=2**32))
def test_sessions_restore_from_their_state_mid_conversation(
    conversation: list[tuple[bool, int]], seed: int
) -> None:
    rng = random.Random(seed)
    sessions = dict(zip((True, False), _pair(), strict=True))
    in_flight: dict[bool, list[tuple[RatchetMessage, bytes]]] = {True: [], False: []}
    delivered: list[tuple[bool, RatchetMessage]] = []
    for n, (from_a, deliver) in enumerate(conversation):
        text = b"message %d" % n
        in_flight[from_a].append((sessions[from_a].encrypt(text), text))
        sessions[from_a] = _restored(sessions[from_a])
        queue = in_flight[from_a]
        rng.shuffle(queue)
        for message, expected in queue[:deliver]:
            receiver = not from_a
            assert sessions[receiver].decrypt(message) == expected
            sessions[receiver] = _restored(sessions[receiver])  # saved after every decrypt
            delivered.append((receiver, message))
        del queue[:deliver]
    for receiver, message in delivered:  # a restored session still refuses replays
        with pytest.raises(ReplayedMessage):
            sessions[receiver].decrypt(message)
    for from_a, queue in in_flight.items():  # and still reads what was skipped
        for message, expected in queue:
            assert sessions[not from_a].decrypt(message) == expected
