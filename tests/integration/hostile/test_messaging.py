"""`/umbra/msg/1.0.0`: direct delivery and the mailbox requests, from a hostile peer.

- Every crafted CBOR input as a request frame, and framing lies.
- Deliveries that pass the outer frame: sealed envelopes made for the victim's published
  envelope key (anyone can make them: the key is in its prekey record in the DHT), holding
  every crafted input, and a wire message whose X3DH header is a sharing bomb. These reach
  the message decoder behind the envelope.
- Mailbox requests: a flood of PUTs (up to the largest envelope) from several identities,
  FETCH and ACK of mailboxes that do not exist or with junk ids.
"""

import os

import pytest
import trio

from umbra.core.crypto import MAX_ENVELOPE_BYTES, seal_envelope
from umbra.net.messaging import MAX_MESSAGE_BYTES, MSG_PROTOCOL_ID, parse_prekey_record, prekey_key

from ._crafted import (
    ARRAY,
    UINT,
    Scale,
    all_inputs,
    byte_string,
    canonical_map,
    head,
    shared_map_chain,
    text,
)
from ._peer import Attacker, ask_value, frame, send_raw
from ._victim import Victim
from .conftest import guarded

pytestmark = pytest.mark.hostile

MAX_FRAME_BYTES = MAX_ENVELOPE_BYTES + 4096  # the delivery protocol's frame cap (its spec)
TTL = 14 * 86_400


def msg_frame(kind: str, **fields: bytes) -> bytes:
    """A well-formed request frame of the delivery protocol (fields given as raw CBOR)."""
    return frame(canonical_map({"t": text(kind), "v": head(UINT, 1), **fields}))


def _message_with_bomb_header(scale: Scale) -> bytes:
    """A wire message with every field right but the X3DH header: a sharing bomb."""
    return canonical_map({
        "v": head(UINT, 1),
        "from": byte_string(os.urandom(32)),
        "sid": byte_string(os.urandom(16)),
        "x3dh": shared_map_chain(scale.sharing_depth),
        "dh": byte_string(os.urandom(32)),
        "pn": head(UINT, 0),
        "n": head(UINT, 0),
        "ct": byte_string(os.urandom(64)),
    })  # fmt: skip


def _framing_lies() -> list[tuple[str, bytes]]:
    return [
        ("declared-2^32-1", frame(b"\xa0", declared=2**32 - 1)),
        ("declared-cap+1", frame(b"\xa0", declared=MAX_FRAME_BYTES + 1)),
        ("stops-half-way", frame(b"\xa0" * 100, declared=200)),
    ]


def _mailbox_requests(count: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(count):
        size = MAX_ENVELOPE_BYTES if i % 4 == 0 else 1024
        put = msg_frame("put", mbox=byte_string(os.urandom(32)),
                        env=byte_string(os.urandom(size)), ttl=head(UINT, TTL))  # fmt: skip
        out.append((f"mailbox put {size} B", put))
    fetch = msg_frame("fetch", mbox=byte_string(os.urandom(32)), limit=head(UINT, 64))
    ids = head(ARRAY, 64) + byte_string(os.urandom(32)) * 64
    ack = msg_frame("ack", mbox=byte_string(os.urandom(32)), ids=ids)
    out += [("mailbox fetch unknown", fetch), ("mailbox ack junk ids", ack)]
    return out


def test_messaging_requests(victim: Victim, scale: Scale) -> None:
    record = ask_value_sync(victim)
    envelope_key = parse_prekey_record(record).bundle.certificate.envelope_key
    # Sealed ones first: with the outer decoder fixed or not, they show the inner one.
    inputs = []
    inner = [("bomb-x3dh", _message_with_bomb_header(scale)), *all_inputs(MAX_MESSAGE_BYTES, scale)]
    for name, payload in inner:
        sealed = seal_envelope(envelope_key, payload)
        if len(sealed) <= MAX_ENVELOPE_BYTES:
            inputs.append((f"sealed {name}", msg_frame("deliver", env=byte_string(sealed))))
    inputs += [(f"frame {n}", frame(b)) for n, b in all_inputs(MAX_FRAME_BYTES, scale)]
    inputs += [(f"framing {n}", data) for n, data in _framing_lies()]
    inputs += _mailbox_requests(scale.mailbox_puts)

    answers: dict[str, list[bytes | None]] = {}

    async def attack() -> None:
        async with Attacker(victim.addr) as attacker:
            for name, data in inputs:
                dog.label = f"msg {name}"
                host = await attacker.peer()
                answer = await send_raw(host, attacker.victim.peer_id, MSG_PROTOCOL_ID, data)
                answers.setdefault(name, []).append(answer)

    with guarded(victim) as dog:
        trio.run(attack)
    # The attacks reached their targets: sealed junk was opened and judged, mailbox PUTs were
    # taken (until a quota refused more).
    assert any(b"undecryptable" in (a or b"") for a in answers["sealed random-4k"])
    assert any(b"stored" in (a or b"") for a in answers["mailbox put 1024 B"])


def ask_value_sync(victim: Victim) -> bytes:
    """The victim's own prekey record, as any peer can read it from the victim's DHT store."""
    value = trio.run(ask_value, victim.addr, prekey_key(victim.persona))
    assert value is not None, "the victim does not serve its prekey record"
    return value
