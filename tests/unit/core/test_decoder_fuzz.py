"""Structure-aware fuzzing of every decoder of bytes from a peer or a file.

Each decoder gets hostile CBOR built at the byte level (`hostile_cbor`: every major type and
tag, sharing and stringref chains, indefinite lengths, huge declared lengths, deep nesting,
non-minimal heads) and mutations of real documents of its own kind. Properties:

1. it returns a value or raises the error its module documents, with a one-line message;
   never anything else (a traceback, a crash);
2. its work and memory grow at most linearly with the input: the number of function calls
   (Python and C, counted with a profiler hook: independent of the machine's load) is at most
   ``CALLS_PER_BYTE * len(input) + base`` and the peak of memory allocated (tracemalloc) at
   most ``MEMORY_PER_BYTE * len(input) + base``. A value-sharing bomb of 16 levels (150 bytes)
   made the old decoder do 1.8 million calls and allocate 47 MB; it doubles per level.

The CI run is bounded (about a minute on a 2-core machine); a longer run::

    UMBRA_FUZZ_EXAMPLES=200000 .venv/bin/python -m pytest -m fuzz tests/unit/core

sets the number of examples per decoder (see docs/operations.md).
"""

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from umbra.core import (
    BadSignature,
    CatalogBody,
    CatalogHeadBody,
    InvalidDocument,
    decode_canonical,
    decode_fast,
    encode_canonical,
    parse_arbiter_profile,
    parse_catalog,
    parse_catalog_head,
    parse_listing,
    sign_arbiter_profile,
    sign_catalog,
    sign_catalog_head,
    sign_listing,
)
from umbra.core.crypto import (
    MessagingIdentity,
    PrekeyBundle,
    RatchetSession,
    SigningKey,
)
from umbra.market import (
    Evidence,
    encode_evidence,
    encode_trade_message,
    parse_evidence,
    parse_trade_message,
)
from umbra.market._order_data import OrderData
from umbra.net import FrameDecoder, ProtocolViolation
from umbra.net import decode_message as decode_sync_message
from umbra.net import encode_frame as encode_sync_frame
from umbra.net._wire import Block, BlocksRequest, Heads
from umbra.net.messaging import (
    ChatPayload,
    InvalidPrekeyRecord,
    SessionManager,
    parse_plaintext,
    parse_prekey_record,
    sign_prekey_record,
    split_payload,
)
from umbra.net.messaging._delivery_wire import Ack, Deliver, FrameReader, Put
from umbra.net.messaging._delivery_wire import decode_message as decode_delivery_message
from umbra.net.messaging._delivery_wire import encode_frame as encode_delivery_frame
from umbra.net.messaging._wire import parse_message
from umbra.wallet import EscrowProtocolError, SetupInfo, SyncInfo
from umbra.wallet import decode_message as decode_escrow_message
from umbra.wallet import encode_message as encode_escrow_message
from umbra.wallet._escrow_messages import Payout

from ..market.test_trade_messages import SAMPLES as TRADE_SAMPLES
from .conftest import make_body
from .hostile_cbor import hostile_cbor, run_measured
from .test_arbiter_documents import KEY as ARBITER_KEY
from .test_arbiter_documents import _profile

pytestmark = pytest.mark.fuzz

# Per-decoder examples: bounded in CI, set by UMBRA_FUZZ_EXAMPLES for a long run.
_LONG_RUN = int(os.environ.get("UMBRA_FUZZ_EXAMPLES", "0"))
# Measured (2026-12): at most ~5 calls and ~75 bytes per input byte beyond fixed costs of
# under 800 calls and 24 KiB; the bounds leave room without hiding exponential growth.
CALLS_PER_BYTE = 20
MEMORY_PER_BYTE = 200
_NOW = 1_700_000_000


@dataclass(frozen=True)
class Decoder:
    name: str
    decode: Callable[[bytes], object]
    errors: tuple[type[Exception], ...]  # what the decoder documents for bad input
    samples: Sequence[bytes]  # real inputs of its kind, to mutate
    base_calls: int = 3_000  # fixed costs (signature checks, model validation, ...)
    base_memory: int = 128 * 1024
    examples: int = 150


def _framed(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


def _feed_sync_frames(data: bytes) -> object:
    decoder = FrameDecoder(max_frame_bytes=256 * 1024 + 4096)
    decoder.feed(_framed(data))
    return decoder.next_message()


def _feed_delivery_frames(data: bytes) -> object:
    reader = FrameReader()
    reader.feed(_framed(data))
    return reader.next_message()


def _build() -> list[Decoder]:
    seller = SigningKey(bytes(range(32)))
    listing = sign_listing(seller, make_body(seller))
    catalog = sign_catalog(
        seller,
        CatalogBody(
            v=1, kind="catalog", seller=seller.public_key, seq=1, updated_at=10,
            listings=[listing.cid],
        ),
    )  # fmt: skip
    head = sign_catalog_head(
        seller,
        CatalogHeadBody(
            v=1, kind="catalog-head", seller=seller.public_key, seq=1, catalog=catalog.cid,
            published_at=11,
        ),
    )  # fmt: skip
    profile = sign_arbiter_profile(ARBITER_KEY, _profile())
    documents = [listing.data, catalog.data, head.data, profile.data]

    # Two personas with a session, and the state records that go with it.
    ka, kb = SigningKey(b"\x0a" * 32), SigningKey(b"\x0b" * 32)
    a, _ = SessionManager.create(ka, now=_NOW)
    b, b_changes = SessionManager.create(kb, now=_NOW)
    first = a.encrypt(kb.public_key, b"hi", now=_NOW, bundle=b.prekey_bundle(kb, now=_NOW))
    received = b.decrypt(first.message)
    reply = b.encrypt(ka.public_key, b"hello", now=_NOW)
    identity_state = b_changes.identity
    assert identity_state is not None
    peer_record = received.changes.peers[0][1]
    bundle = b.prekey_bundle(kb, now=_NOW).to_bytes()
    prekey_record = sign_prekey_record(kb, b.prekey_bundle(kb, now=_NOW), peer=None, now=_NOW)
    messages = [first.message, reply.message]
    ratchet_states = [_ratchet_state(ka, kb)]

    chat = ChatPayload(b"\x01" * 16, "order-1", "hi there", _NOW)
    plaintexts = [chat.to_bytes()] + [
        c.to_bytes() for c in split_payload(b"\x02" * 16, "order", b"x" * 100, sent_at=_NOW)
    ]
    trade = [encode_trade_message(m) for m in TRADE_SAMPLES]
    payout = Payout("release", "buyer", "seller", 10, 0)
    escrow = [
        encode_escrow_message(SetupInfo("e-1", "buyer", 0, "MultisigxV2R1abc")),
        encode_escrow_message(SyncInfo("e-1", "buyer", 1, payout, "deadbeef")),
    ]
    cid = listing.cid
    sync = [
        encode_sync_frame(m)[4:]
        for m in (BlocksRequest((cid, cid)), Block(cid, b"data"), Heads((head.data,)))
    ]
    delivery = [
        encode_delivery_frame(m)[4:]
        for m in (Deliver(first.envelope), Put(b"\x22" * 32, b"sealed", 600), Ack(b"\x22" * 32, ()))
    ]
    big = 1 << 20
    return [
        # The generic decoders: more examples, and a tighter bound (no fixed costs).
        Decoder("decode_canonical", lambda d: decode_canonical(d, max_size=big),
                (InvalidDocument,), documents + trade, 500, 32 * 1024, 600),
        Decoder("decode_fast", lambda d: decode_fast(d, max_size=big),
                (InvalidDocument,), [*messages, peer_record, identity_state], 500, 32 * 1024, 600),
        # Peers' documents (sync, DHT records, gossip).
        Decoder("parse_listing", parse_listing, (InvalidDocument,), [listing.data]),
        Decoder("parse_catalog", parse_catalog, (InvalidDocument,), [catalog.data]),
        Decoder("parse_catalog_head", parse_catalog_head, (InvalidDocument,), [head.data]),
        Decoder("parse_arbiter_profile", parse_arbiter_profile, (InvalidDocument,),
                [profile.data]),
        # Frames of the sync and messaging-delivery protocols.
        Decoder("sync decode_message", lambda d: decode_sync_message(d, max_frame_bytes=big),
                (ProtocolViolation,), sync),
        Decoder("sync FrameDecoder", _feed_sync_frames, (ProtocolViolation,), sync),
        Decoder("delivery decode_message", decode_delivery_message, (ProtocolViolation,),
                delivery),
        Decoder("delivery FrameReader", _feed_delivery_frames, (ProtocolViolation,), delivery),
        # Messaging: wire messages, bundles, prekey records, decrypted plaintexts.
        Decoder("parse_message", parse_message, (InvalidDocument,), messages),
        Decoder("SessionManager.decrypt", b.decrypt, (InvalidDocument,), messages),
        Decoder("PrekeyBundle.parse", PrekeyBundle.parse, (InvalidDocument, BadSignature),
                [bundle]),
        Decoder("parse_prekey_record", parse_prekey_record, (InvalidPrekeyRecord,),
                [prekey_record]),
        Decoder("parse_plaintext", parse_plaintext, (InvalidDocument,),
                plaintexts),
        # Trade and escrow messages (inside decrypted payloads), dispute evidence.
        Decoder("parse_trade_message", parse_trade_message, (InvalidDocument,), trade),
        Decoder("parse_evidence", parse_evidence, (InvalidDocument,),
                [encode_evidence(Evidence("it broke", (cid,)))]),
        Decoder("escrow decode_message", decode_escrow_message, (EscrowProtocolError,), escrow),
        # State read back from the profile's files.
        Decoder("RatchetSession.from_bytes", RatchetSession.from_bytes, (InvalidDocument,),
                ratchet_states),
        Decoder("MessagingIdentity.from_bytes", MessagingIdentity.from_bytes,
                (InvalidDocument,), [identity_state]),
        Decoder("SessionManager.load (peer record)",
                lambda d: SessionManager.load(identity_state, [d]), (InvalidDocument,),
                [peer_record]),
        Decoder("OrderData.from_bytes", OrderData.from_bytes, (InvalidDocument,),
                [OrderData(role="buyer").to_bytes()]),
    ]  # fmt: skip


def _ratchet_state(ka: SigningKey, kb: SigningKey) -> bytes:
    a = MessagingIdentity.generate(ka, now=_NOW)
    b = MessagingIdentity.generate(kb, now=_NOW)
    bundle = PrekeyBundle.parse(b.signed_bundle(kb, now=_NOW).to_bytes())
    session, _ = a.initiate(bundle, b"x")
    return session.ratchet.to_bytes()


DECODERS = _build()


def _examples(decoder: Decoder) -> int:
    return _LONG_RUN or decoder.examples


@pytest.mark.parametrize("decoder", DECODERS, ids=lambda d: d.name)
def test_hostile_bytes_get_a_value_or_the_documented_error_at_linear_cost(
    decoder: Decoder,
) -> None:
    for sample in decoder.samples:  # warm caches, so the bound measures this input only
        run_measured(decoder.decode, sample)

    @settings(
        max_examples=_examples(decoder),
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(hostile_cbor(st.sampled_from(list(decoder.samples))))
    def check(data: bytes) -> None:
        result, calls, peak = run_measured(decoder.decode, data)
        if isinstance(result, Exception):
            if not isinstance(result, decoder.errors):
                raise AssertionError(f"{decoder.name} raised {result!r}") from result
            assert "\n" not in str(result), "errors are one line"
        assert calls <= CALLS_PER_BYTE * len(data) + decoder.base_calls, (len(data), calls)
        assert peak <= MEMORY_PER_BYTE * len(data) + decoder.base_memory, (len(data), peak)

    check()


def _nodes(value: Any, seen: set[int]) -> int:
    """Count the items of a decoded value, failing on any container reached twice."""
    if isinstance(value, list | dict):
        assert id(value) not in seen, "a decoded value shares a container"
        seen.add(id(value))
        children = value.values() if isinstance(value, dict) else value
        return 1 + sum(_nodes(v, seen) for v in children)
    return 1


@pytest.mark.parametrize("cids", [True, False])
def test_whatever_the_decoder_accepts_is_a_tree_no_larger_than_its_input_and_canonical(
    cids: bool,
) -> None:
    decode = decode_canonical if cids else decode_fast

    @settings(max_examples=_LONG_RUN or 500, deadline=None, suppress_health_check=list(HealthCheck))
    @given(hostile_cbor())
    def check(data: bytes) -> None:
        try:
            value = decode(data, max_size=1 << 20)
        except InvalidDocument:
            return
        assert _nodes(value, set()) <= len(data)
        assert encode_canonical(value) == data

    check()
