"""Property tests of payload chunking and reassembly (the real `PayloadStore` on a database).

Whatever order chunks arrive in, however often each is repeated, and however payloads of
several senders interleave: each payload is queued exactly once, when its last missing chunk
arrives, byte for byte; nothing stays held. Arbitrary chunk-shaped maps never crash the
parser or the store and never queue a body that differs from what its chunks said.
"""

import random
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from umbra.core import InvalidDocument, encode_canonical
from umbra.net.messaging import (
    CHUNK_BYTES,
    MAX_PARTS,
    PayloadChunk,
    PayloadQueue,
    PayloadStore,
    parse_plaintext,
    split_payload,
)
from umbra.store import Database

NOW = 1_700_000_000
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def fresh_db() -> Iterator[Database]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.open(Path(tmp) / "r.db", b"k" * 32, create=True)
        try:
            yield db
        finally:
            db.close()


def _body(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


sizes = st.one_of(
    st.integers(0, 300),
    st.integers(CHUNK_BYTES - 2, CHUNK_BYTES + 2),
    st.integers(CHUNK_BYTES + 3, 4 * CHUNK_BYTES + 7),
)


@SETTINGS
@given(
    payloads=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 2**32), sizes), min_size=1, max_size=4
    ),
    order_seed=st.integers(0, 2**32),
    repeats=st.lists(st.integers(0, 40), max_size=6),
)
def test_every_payload_is_queued_once_in_any_order(
    payloads: list[tuple[int, int, int]], order_seed: int, repeats: list[int]
) -> None:
    senders = [bytes([0xA0 + i]) * 32 for i in range(3)]
    expected: dict[tuple[bytes, bytes], bytes] = {}
    deliveries: list[tuple[bytes, PayloadChunk]] = []
    for n, (who, seed, size) in enumerate(payloads):
        body = _body(seed, size)
        msg_id = n.to_bytes(16, "big")
        expected[(senders[who], msg_id)] = body
        deliveries += [(senders[who], c) for c in split_payload(msg_id, "trade", body, sent_at=NOW)]
    rng = random.Random(order_seed)
    rng.shuffle(deliveries)
    for r in repeats:  # duplicates anywhere, before or after completion
        if deliveries:
            deliveries.insert(r % (len(deliveries) + 1), deliveries[r % len(deliveries)])

    with fresh_db() as db:
        store, queue = PayloadStore(db), PayloadQueue(db)
        seen: set[tuple[bytes, bytes, int]] = set()
        for sender, chunk in deliveries:
            # Each chunk goes through its wire form, as it would after decryption.
            parsed = parse_plaintext(chunk.to_bytes())
            assert isinstance(parsed, PayloadChunk)
            with db.transaction():
                outcome = store.record_chunk(sender, parsed, now=NOW)
            key = (sender, chunk.msg_id, chunk.part)
            have = {k[2] for k in seen if k[:2] == key[:2]}
            if key in seen or len(have) == chunk.parts:
                assert outcome == "duplicate"
            elif len(have) + 1 == chunk.parts:
                assert outcome == "queued"
            else:
                assert outcome == "held"
            seen.add(key)
        got = {(p.sender, p.msg_id): p.body for p in queue.pending("trade", 100)}
        assert got == expected
        assert store.statistics()["held_chunks"] == 0


chunk_maps = st.fixed_dictionaries(
    {
        "v": st.sampled_from([1, 1, 1, 2]),
        "id": st.sampled_from([b"\x01" * 16, b"\x02" * 16, b"short"]),
        "kind": st.sampled_from(["trade", "x", "chat", "", "Bad"]),
        "sent": st.sampled_from([NOW, NOW + 1, -1]),
        "part": st.integers(-1, MAX_PARTS + 1),
        "parts": st.integers(0, MAX_PARTS + 1),
        "size": st.sampled_from([0, 1, 100, CHUNK_BYTES, CHUNK_BYTES + 1, 2 * CHUNK_BYTES + 5]),
        "data": st.sampled_from([b"", b"x", b"y" * 100, b"z" * CHUNK_BYTES, b"w" * 5]),
    }
)


@SETTINGS
@given(st.lists(chunk_maps, min_size=1, max_size=12))
def test_arbitrary_chunks_never_crash_or_forge(objs: list[dict[str, Any]]) -> None:
    with fresh_db() as db:
        store, queue = PayloadStore(db), PayloadQueue(db)
        accepted: list[PayloadChunk] = []
        for obj in objs:
            try:
                parsed = parse_plaintext(encode_canonical(obj))
            except InvalidDocument:
                continue
            assert isinstance(parsed, PayloadChunk)
            accepted.append(parsed)
            assert store.record_chunk(b"\xee" * 32, parsed, now=NOW) in {
                "queued", "held", "duplicate", "refused",
            }  # fmt: skip
        for payload in queue.pending("trade", 100) + queue.pending("x", 100):
            # A queued body was announced with exactly this size and made of accepted chunks.
            mine = [c for c in accepted if c.msg_id == payload.msg_id and c.kind == payload.kind]
            assert any(c.size == len(payload.body) for c in mine)
            pieces = {c.part: c.data for c in mine if c.size == len(payload.body)}
            assert b"".join(pieces[i] for i in sorted(pieces)) == payload.body
