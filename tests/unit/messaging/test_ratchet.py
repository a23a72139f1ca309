"""The core recipes: Double Ratchet sessions over X3DH, without the session layer."""

import copy

import pytest

from umbra.core import InvalidDocument, UsageError, decode_canonical, encode_canonical
from umbra.core.crypto import (
    MAX_PLAINTEXT_BYTES,
    MAX_SKIPPED_KEYS,
    MessagingIdentity,
    NewSession,
    PrekeyBundle,
    RatchetMessage,
    RatchetSession,
    ReplayedMessage,
    SigningKey,
    SkippedKeyLimit,
    UndecryptableMessage,
)
from umbra.core.crypto._ratchet import _dump_state, run_sync

NOW = 1_700_000_000


def first_contact() -> tuple[NewSession, NewSession, bytes]:
    """Two fresh identities; a sends b"hello" and b accepts: (a's session, b's, plaintext)."""
    ka, kb = SigningKey.generate(), SigningKey.generate()
    a = MessagingIdentity.generate(ka, now=NOW)
    b = MessagingIdentity.generate(kb, now=NOW)
    bundle = PrekeyBundle.parse(b.signed_bundle(kb, now=NOW).to_bytes())
    new_a, first = a.initiate(bundle, b"hello")
    new_b, plaintext = b.accept(new_a.header, first)
    return new_a, new_b, plaintext


@pytest.fixture
def pair() -> tuple[RatchetSession, RatchetSession]:
    new_a, new_b, plaintext = first_contact()
    assert plaintext == b"hello"
    assert new_a.mailbox_secret == new_b.mailbox_secret
    return new_a.ratchet, new_b.ratchet


def test_round_trip_both_ways(pair: tuple[RatchetSession, RatchetSession]) -> None:
    a, b = pair
    for i in range(5):
        assert b.decrypt(a.encrypt(b"a%d" % i)) == b"a%d" % i
        assert a.decrypt(b.encrypt(b"b%d" % i)) == b"b%d" % i


def test_empty_and_maximal_plaintexts(pair: tuple[RatchetSession, RatchetSession]) -> None:
    a, b = pair
    for text in (b"", b"\x80", b"\x00" * 300, b"x" * MAX_PLAINTEXT_BYTES):
        assert b.decrypt(a.encrypt(text)) == text
    with pytest.raises(UsageError):
        a.encrypt(b"x" * (MAX_PLAINTEXT_BYTES + 1))


def test_padding_hides_exact_length(pair: tuple[RatchetSession, RatchetSession]) -> None:
    a, _ = pair
    assert len(a.encrypt(b"").ciphertext) == len(a.encrypt(b"x" * 200).ciphertext)


def test_out_of_order_3_1_2(pair: tuple[RatchetSession, RatchetSession]) -> None:
    a, b = pair
    m1, m2, m3 = (a.encrypt(b"%d" % i) for i in (1, 2, 3))
    assert [b.decrypt(m) for m in (m3, m1, m2)] == [b"3", b"1", b"2"]


def test_replay_rejected_current_and_old_chain(pair: tuple[RatchetSession, RatchetSession]) -> None:
    a, b = pair
    m = a.encrypt(b"once")
    assert b.decrypt(m) == b"once"
    with pytest.raises(ReplayedMessage):
        b.decrypt(m)
    # After two DH ratchet steps, m's chain is an old one: still a replay, not a crash.
    a.decrypt(b.encrypt(b"r"))
    b.decrypt(a.encrypt(b"s"))
    with pytest.raises(ReplayedMessage):
        b.decrypt(m)


def test_skipped_message_from_old_chain_still_decrypts(
    pair: tuple[RatchetSession, RatchetSession],
) -> None:
    a, b = pair
    late = a.encrypt(b"late")
    b.decrypt(a.encrypt(b"next"))
    a.decrypt(b.encrypt(b"reply"))  # a ratchets: new chain
    b.decrypt(a.encrypt(b"new chain"))
    assert b.decrypt(late) == b"late"
    with pytest.raises(ReplayedMessage):
        b.decrypt(late)


def test_skipped_key_limit(pair: tuple[RatchetSession, RatchetSession]) -> None:
    a, b = pair
    for _ in range(MAX_SKIPPED_KEYS + 1):
        a.encrypt(b"lost")
    too_far = a.encrypt(b"too far")
    before = b.to_bytes()
    with pytest.raises(SkippedKeyLimit):
        b.decrypt(too_far)
    assert b.to_bytes() == before


def test_skip_up_to_the_limit_is_fine(pair: tuple[RatchetSession, RatchetSession]) -> None:
    a, b = pair
    skipped = [a.encrypt(b"s") for _ in range(MAX_SKIPPED_KEYS)]
    assert b.decrypt(a.encrypt(b"last")) == b"last"
    assert b.skipped_key_count == MAX_SKIPPED_KEYS
    assert b.decrypt(skipped[0]) == b"s"
    assert b.skipped_key_count == MAX_SKIPPED_KEYS - 1


def test_failure_changes_nothing(pair: tuple[RatchetSession, RatchetSession]) -> None:
    a, b = pair
    m = a.encrypt(b"real")
    forged = RatchetMessage(
        m.ratchet_public, m.previous_chain_length, m.index, bytes(len(m.ciphertext))
    )
    before = b.to_bytes()
    with pytest.raises(UndecryptableMessage):
        b.decrypt(forged)
    assert b.to_bytes() == before
    assert b.decrypt(m) == b"real"


def test_low_order_ratchet_key_is_undecryptable(
    pair: tuple[RatchetSession, RatchetSession],
) -> None:
    a, b = pair
    m = a.encrypt(b"x")
    bad = RatchetMessage(bytes(32), 0, 0, m.ciphertext)
    with pytest.raises(UndecryptableMessage):
        b.decrypt(bad)


def test_state_round_trip_mid_conversation(pair: tuple[RatchetSession, RatchetSession]) -> None:
    a, b = pair
    pending = a.encrypt(b"in flight")
    b.decrypt(a.encrypt(b"x"))
    b2 = RatchetSession.from_bytes(b.to_bytes())
    assert b2.decrypt(pending) == b"in flight"
    assert a.decrypt(b2.encrypt(b"back")) == b"back"


def test_state_rejects_garbage() -> None:
    with pytest.raises(InvalidDocument):
        RatchetSession.from_bytes(b"\xa0")


def test_fast_clone_is_independent(pair: tuple[RatchetSession, RatchetSession]) -> None:
    """The __deepcopy__ shortcut must copy every mutable part (pinned to doubleratchet 1.3.0)."""
    a, b = pair
    b.decrypt(a.encrypt(b"x"))
    dh = b._dr._DoubleRatchet__diffie_hellman_ratchet  # type: ignore[attr-defined]
    before = dh.model
    clone = copy.deepcopy(dh)
    assert clone.model == before
    run_sync(clone.next_encryption_key())  # advances the clone's sending chain
    run_sync(clone.next_encryption_key())
    assert dh.model == before
    assert clone.model != before


def _v1_state(session: RatchetSession) -> bytes:
    """The version 1 state format (the package's JSON model), as older profiles saved it."""
    return encode_canonical(
        {
            "v": 1,
            "dr": session._dr.model.model_dump_json(),
            "ad": session._ad,
            "chains": list(session._peer_chains),
        }
    )


def test_state_codec_matches_the_package_model(
    pair: tuple[RatchetSession, RatchetSession],
) -> None:
    """The direct state codec (version 2) holds exactly what the package's own model holds,
    in every shape: fresh, with skipped keys on current and old chains, after DH steps."""
    a, b = pair
    shapes = [a, b]
    late = [a.encrypt(b"late %d" % i) for i in range(3)]
    b.decrypt(a.encrypt(b"x"))  # three skipped keys on b
    shapes.append(b)
    a.decrypt(b.encrypt(b"reply"))  # a DH step on a
    a.encrypt(b"y")
    shapes.append(a)
    for session in shapes:
        restored = RatchetSession.from_bytes(session.to_bytes())
        assert restored._dr.model == session._dr.model
        assert restored.to_bytes() == session.to_bytes()
        # The hand-assembled encoding is exactly the canonical one.
        decoded = decode_canonical(session.to_bytes(), max_size=1 << 20)
        assert decoded["v"] == 2
        assert encode_canonical(decoded) == session.to_bytes()
        assert decoded["dr"] == _dump_state(session._dr)
    assert b.skipped_key_count == 3
    restored_b = RatchetSession.from_bytes(b.to_bytes())
    assert restored_b.decrypt(late[0]) == b"late 0"


def test_version_1_state_is_still_read(pair: tuple[RatchetSession, RatchetSession]) -> None:
    a, b = pair
    pending = a.encrypt(b"in flight")
    b.decrypt(a.encrypt(b"x"))
    old = RatchetSession.from_bytes(_v1_state(b))
    assert old._dr.model == b._dr.model
    assert old.decrypt(pending) == b"in flight"
    # Saved again in the current version.
    assert decode_canonical(old.to_bytes(), max_size=1 << 20)["v"] == 2


@pytest.mark.parametrize(
    "dr",
    [
        [],
        [b"k" * 32, b"p" * 32, None, None, None, None, []],  # no root chain
        [b"k" * 32, b"p" * 32, [b"r" * 32, "x"], None, None, None, []],
        [b"k" * 32, b"p" * 32, [b"r" * 32, 1], None, None, None, [[b"p" * 32, 1]]],
        "json",
    ],
)
def test_damaged_state_is_refused(dr: object) -> None:
    data = encode_canonical({"v": 2, "dr": dr, "ad": b"ad", "chains": []})
    with pytest.raises(InvalidDocument):
        RatchetSession.from_bytes(data)
    with pytest.raises(InvalidDocument):
        RatchetSession.from_bytes(encode_canonical({"v": 3, "dr": [], "ad": b"", "chains": []}))
