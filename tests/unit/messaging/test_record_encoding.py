"""The hand-assembled encodings (wire message, session and peer records) are exactly the
canonical DAG-CBOR ones, and the wire parser still refuses every non-canonical variant."""

import cbor2
import pytest

from umbra.core import InvalidDocument, decode_canonical, encode_canonical
from umbra.net.messaging import parse_message

from .conftest import Party


def _round_trip_canonical(data: bytes) -> dict[str, object]:
    obj = decode_canonical(data, max_size=1 << 22)
    assert isinstance(obj, dict)
    assert encode_canonical(obj) == data
    return obj


def test_wire_messages_are_canonical(alice: Party, bob: Party) -> None:
    first = alice.send(bob, b"hello")  # carries the X3DH header
    bob.receive(first)
    reply = bob.send(alice, b"hi")  # no header
    for out in (first, reply):
        obj = _round_trip_canonical(out.message)
        parsed = parse_message(out.message)
        assert parsed.to_bytes() == out.message
        assert (obj["from"], obj["n"]) == (parsed.sender, parsed.ratchet.index)
    assert _round_trip_canonical(first.message)["x3dh"] is not None
    assert _round_trip_canonical(reply.message)["x3dh"] is None


def test_session_and_peer_records_are_canonical(alice: Party, bob: Party) -> None:
    bob.receive(alice.send(bob, b"one"))
    alice.receive(bob.send(alice, b"two"))
    for party, other in ((alice, bob), (bob, alice)):
        (_, record) = party.send(other, b"more").changes.peers[0]
        peer = _round_trip_canonical(record)
        assert set(peer) == {"v", "persona", "main", "archived"}
        assert isinstance(peer["main"], bytes)
        session = _round_trip_canonical(peer["main"])
        assert set(session) == {"sid", "ratchet", "x3dh", "ours", "confirmed", "mbox", "peer"}
        assert session["ours"] is (party is alice) and session["confirmed"] is True


def _variants(data: bytes) -> list[bytes]:
    """Encodings of the same (or nearly the same) map that are not canonical."""
    obj = cbor2.loads(data)
    reordered = dict(reversed(list(obj.items())))
    long_int = dict(obj)
    out = [
        data + b"\x00",  # trailing byte
        cbor2.dumps(reordered),  # keys out of canonical order
        cbor2.dumps({**obj, "n": float(obj["n"])}),
        cbor2.dumps({**obj, "ct": cbor2.CBORTag(24, obj["ct"])}),
        cbor2.dumps({**obj, "n": True}),
        cbor2.dumps({**obj, "extra": 1}),
    ]
    # A small integer with a wider head than needed (0x18 0x01 instead of 0x01).
    long_int["n"] = 1
    encoded = encode_canonical(long_int)
    index = encoded.index(b"\x61n\x01") + 2
    out.append(encoded[:index] + b"\x18\x01" + encoded[index + 1 :])
    # Indefinite-length byte string for "ct".
    ct = obj["ct"]
    definite = cbor2.dumps(ct)
    indefinite = b"\x5f" + cbor2.dumps(ct[:10]) + cbor2.dumps(ct[10:]) + b"\xff"
    out.append(data.replace(definite, indefinite))
    return out


def test_non_canonical_wire_messages_are_refused(alice: Party, bob: Party) -> None:
    first = alice.send(bob, b"hello")
    bob.receive(first)
    reply = bob.send(alice, b"hi")
    for data in (first.message, reply.message):
        for variant in _variants(data):
            assert variant != data
            with pytest.raises(InvalidDocument):
                parse_message(variant)
