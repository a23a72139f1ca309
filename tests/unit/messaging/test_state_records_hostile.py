"""Stored messaging state with a field of the wrong type is refused as damaged, cheaply.

The records are read back from the encrypted profile, but a damaged or altered file must
still give `InvalidDocument`, never a traceback, and never an allocation chosen by the file
(``bytes(n)`` of an integer ``n`` allocates ``n`` bytes).
"""

from typing import Any

import pytest

from umbra.core import InvalidDocument, decode_fast, encode_fast
from umbra.core.crypto import MessagingIdentity, PrekeyBundle, RatchetSession, SigningKey
from umbra.net.messaging import SessionManager

from ..core.hostile_cbor import run_measured

NOW = 1_700_000_000
HUGE = 2**40  # a terabyte, if anything took it as a length


def _changed(data: bytes, **fields: Any) -> bytes:
    return encode_fast({**decode_fast(data, max_size=1 << 22), **fields})


def _refused_cheaply(load: Any, data: bytes) -> None:
    result, _, peak = run_measured(load, data)
    assert isinstance(result, InvalidDocument), result
    assert peak < 1 << 20


def _ratchet_state() -> bytes:
    ka, kb = SigningKey(b"\x01" * 32), SigningKey(b"\x02" * 32)
    a = MessagingIdentity.generate(ka, now=NOW)
    b = MessagingIdentity.generate(kb, now=NOW)
    session, _ = a.initiate(PrekeyBundle.parse(b.signed_bundle(kb, now=NOW).to_bytes()), b"x")
    return session.ratchet.to_bytes()


@pytest.mark.parametrize("chains", [[HUGE], [b"ok", HUGE], HUGE, {"a": b""}])
def test_ratchet_state_with_non_bytes_chains(chains: Any) -> None:
    state = _ratchet_state()
    assert RatchetSession.from_bytes(state)
    _refused_cheaply(RatchetSession.from_bytes, _changed(state, chains=chains))
    _refused_cheaply(RatchetSession.from_bytes, _changed(state, ad=HUGE))


@pytest.mark.parametrize(
    "fields",
    [{"seen": [[HUGE, HUGE]]}, {"seen": [[b"a"]]}, {"seen": HUGE}, {"spk_at": "1"},
     {"spk_at": [1]}, {"x3dh": b"{}"}],
)  # fmt: skip
def test_identity_state_with_wrong_types(fields: dict[str, Any]) -> None:
    _, changes = SessionManager.create(SigningKey(b"\x03" * 32), now=NOW)
    state = changes.identity
    assert state is not None and MessagingIdentity.from_bytes(state)
    _refused_cheaply(MessagingIdentity.from_bytes, _changed(state, **fields))


def _peer_record() -> tuple[bytes, bytes]:
    ka, kb = SigningKey(b"\x04" * 32), SigningKey(b"\x05" * 32)
    a, _ = SessionManager.create(ka, now=NOW)
    b, b_changes = SessionManager.create(kb, now=NOW)
    first = a.encrypt(kb.public_key, b"hi", now=NOW, bundle=b.prekey_bundle(kb, now=NOW))
    received = b.decrypt(first.message)
    assert b_changes.identity is not None
    return b_changes.identity, received.changes.peers[0][1]


@pytest.mark.parametrize(
    ("outer", "session"),
    [({"persona": [1]}, {}), ({"archived": HUGE}, {}), ({}, {"ours": 1}), ({}, {"sid": HUGE}),
     ({}, {"ratchet": HUGE}), ({}, {"peer": [b"x"]})],
)  # fmt: skip
def test_peer_record_with_wrong_types(outer: dict[str, Any], session: dict[str, Any]) -> None:
    identity, record = _peer_record()
    assert SessionManager.load(identity, [record]).has_session(
        decode_fast(record, max_size=1 << 20)["persona"]
    )
    obj = decode_fast(record, max_size=1 << 20)
    obj["main"] = _changed(obj["main"], **session)
    damaged = encode_fast({**obj, **outer})
    _refused_cheaply(lambda d: SessionManager.load(identity, [d]), damaged)
