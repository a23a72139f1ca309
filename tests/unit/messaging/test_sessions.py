"""The session layer's rules (R1-R6 in umbra/net/messaging/_sessions.py), event by event."""

import pytest

from umbra.core import InvalidDocument
from umbra.core.crypto import (
    MAX_SKIPPED_KEYS,
    ReplayedMessage,
    SkippedKeyLimit,
    UndecryptableMessage,
    intro_mailbox_id,
    mailbox_epoch,
)
from umbra.net.messaging import (
    MAX_ARCHIVED_SESSIONS,
    NoSession,
    UnknownSession,
    parse_message,
)

from .conftest import NOW, Party


def test_first_contact_and_reply(alice: Party, bob: Party) -> None:
    out = alice.send(bob, b"is the bike still for sale?")
    got = bob.receive(out)
    assert (got.sender, got.plaintext, got.new_session) == (alice.persona, out_text(), True)
    assert got.changes.identity is not None and got.changes.bundle_changed
    reply = bob.send(alice, b"yes")
    assert parse_message(reply.message).x3dh is None  # the responder never attaches X3DH
    got2 = alice.receive(reply)
    assert got2.plaintext == b"yes" and not got2.new_session


def out_text() -> bytes:
    return b"is the bike still for sale?"


def test_x3dh_header_until_first_reply(alice: Party, bob: Party) -> None:
    outs = [alice.send(bob, b"%d" % i) for i in range(3)]
    headers = [parse_message(o.message).x3dh for o in outs]
    assert all(h is not None for h in headers) and len(set(headers)) == 1
    for o in outs:
        bob.receive(o)
    alice.receive(bob.send(alice, b"reply"))
    assert parse_message(alice.send(bob, b"after").message).x3dh is None


def test_first_contact_goes_to_intro_mailbox_then_session_mailbox(alice: Party, bob: Party) -> None:
    first = alice.send(bob, b"hi")
    epoch = mailbox_epoch(NOW)
    assert first.mailbox_id == intro_mailbox_id(bob.manager.certificate.envelope_key, epoch)
    assert first.mailbox_id in bob.manager.inbound_mailboxes(now=NOW)
    bob.receive(first)
    reply = bob.send(alice, b"hello")
    assert reply.mailbox_id != first.mailbox_id
    assert reply.mailbox_id in alice.manager.inbound_mailboxes(now=NOW)
    alice.receive(reply)
    again = alice.send(bob, b"x")
    assert again.mailbox_id in bob.manager.inbound_mailboxes(now=NOW)
    assert again.mailbox_id not in alice.manager.inbound_mailboxes(now=NOW)  # one direction


def test_receiver_runs_x3dh_once(alice: Party, bob: Party) -> None:
    outs = [alice.send(bob, b"%d" % i) for i in range(3)]
    first = bob.receive(outs[0])
    prekeys_after_first = bob.manager.prekey_bundle(bob.key, now=NOW).one_time_prekeys
    rest = [bob.receive(o) for o in outs[1:]]
    assert first.new_session and not any(r.new_session for r in rest)
    assert all(r.changes.identity is None for r in rest)
    assert bob.manager.prekey_bundle(bob.key, now=NOW).one_time_prekeys == prekeys_after_first
    assert bob.manager.session_ids(alice.persona) == [first.session_id]


def test_out_of_order_first_contact_3_1_2(alice: Party, bob: Party) -> None:
    m1, m2, m3 = (alice.send(bob, b"%d" % i) for i in (1, 2, 3))
    got = [bob.receive(m).plaintext for m in (m3, m1, m2)]
    assert got == [b"3", b"1", b"2"]
    assert len(bob.manager.session_ids(alice.persona)) == 1


def test_out_of_order_in_established_session(alice: Party, bob: Party) -> None:
    bob.receive(alice.send(bob, b"hi"))
    alice.receive(bob.send(alice, b"hi"))
    m1, m2, m3 = (alice.send(bob, b"%d" % i) for i in (1, 2, 3))
    assert [bob.receive(m).plaintext for m in (m3, m1, m2)] == [b"3", b"1", b"2"]


def test_replays_rejected(alice: Party, bob: Party) -> None:
    first = alice.send(bob, b"first")
    bob.receive(first)
    with pytest.raises(ReplayedMessage):
        bob.receive(first)
    alice.receive(bob.send(alice, b"r"))
    second = alice.send(bob, b"second")
    bob.receive(second)
    with pytest.raises(ReplayedMessage):
        bob.receive(second)
    with pytest.raises(ReplayedMessage):  # the first message, after ratchet steps
        bob.receive(first)


def test_replay_of_first_message_after_its_session_was_dropped(alice: Party, bob: Party) -> None:
    first = alice.send(bob, b"first")
    bob.receive(first)
    for _ in range(MAX_ARCHIVED_SESSIONS + 1):  # alice starts over repeatedly (R5)
        alice.manager = Party.new(1).manager
        bob.receive(alice.send(bob, b"again"))
    assert parse_message(first.message).session_id not in bob.manager.session_ids(alice.persona)
    with pytest.raises(ReplayedMessage):
        bob.receive(first)


def test_skipped_key_limit(alice: Party, bob: Party) -> None:
    bob.receive(alice.send(bob, b"hi"))
    alice.receive(bob.send(alice, b"hi"))
    for _ in range(MAX_SKIPPED_KEYS + 1):
        alice.manager.encrypt(bob.persona, b"lost", now=NOW)
    with pytest.raises(SkippedKeyLimit):
        bob.receive(alice.send(bob, b"too far ahead"))
    # Rejected and nothing changed: the other direction keeps working.
    assert alice.receive(bob.send(alice, b"still here")).plaintext == b"still here"


def test_no_session_without_bundle(alice: Party, bob: Party) -> None:
    with pytest.raises(NoSession):
        alice.manager.encrypt(bob.persona, b"x", now=NOW)


def test_bundle_for_someone_else_or_stale_is_refused(alice: Party, bob: Party) -> None:
    carol = Party.new(3)
    with pytest.raises(InvalidDocument):
        alice.manager.encrypt(bob.persona, b"x", now=NOW, bundle=carol.bundle())
    with pytest.raises(InvalidDocument):
        alice.manager.encrypt(bob.persona, b"x", now=NOW + 30 * 86400, bundle=bob.bundle())


def test_unknown_session(alice: Party, bob: Party) -> None:
    bob.receive(alice.send(bob, b"hi"))
    alice.receive(bob.send(alice, b"hi"))
    headerless = alice.send(bob, b"x")
    fresh_bob = Party.new(2)  # lost all state (new messaging keys, so open the wire message)
    with pytest.raises(UnknownSession):
        fresh_bob.manager.decrypt(headerless.message)


def test_message_to_the_wrong_recipient(alice: Party, bob: Party) -> None:
    carol = Party.new(3)
    out = alice.send(bob, b"for bob")
    with pytest.raises(InvalidDocument):
        carol.receive(out)  # sealed to bob's envelope key
    with pytest.raises(UndecryptableMessage):
        carol.manager.decrypt(out.message)  # bob's prekeys, not carol's


def test_reflected_message_rejected(alice: Party, bob: Party) -> None:
    out = alice.send(bob, b"hi")
    with pytest.raises(UndecryptableMessage):
        alice.manager.decrypt(out.message)


def test_header_changed_on_known_session_rejected(alice: Party, bob: Party) -> None:
    """A message of a known session must carry the exact header that started it (R2)."""
    m1, m2 = alice.send(bob, b"1"), alice.send(bob, b"2")
    bob.receive(m1)
    other = Party.new(4).send(bob, b"x")  # a valid header of another initiation
    tampered = parse_message(m2.message)
    from dataclasses import replace

    header = parse_message(other.message).x3dh
    assert header is not None and tampered.x3dh is not None
    swapped = replace(tampered.x3dh, one_time_prekey=header.one_time_prekey)
    bad = replace(tampered, x3dh=swapped).to_bytes()
    with pytest.raises(InvalidDocument):
        bob.manager.decrypt(bad)
    assert bob.receive(m2).plaintext == b"2"


# -- simultaneous initiation (R4) and restarts (R5) ---------------------------------------------


def _converged(a: Party, b: Party) -> None:
    assert a.manager.session_ids(b.persona)[0] == b.manager.session_ids(a.persona)[0]
    x = a.send(b, b"ping")
    assert b.receive(x).plaintext == b"ping"
    y = b.send(a, b"pong")
    assert a.receive(y).plaintext == b"pong"
    assert parse_message(a.send(b, b"z").message).x3dh is None
    assert parse_message(b.send(a, b"z").message).x3dh is None


def _pair(alice_lower: bool) -> tuple[Party, Party]:
    """Two parties whose messaging identity keys sort the requested way (they are random)."""
    while True:
        a, b = Party.new(1), Party.new(2)
        ik_a, ik_b = a.manager.certificate.identity_key, b.manager.certificate.identity_key
        if (ik_a < ik_b) == alice_lower:
            return a, b


@pytest.mark.parametrize("alice_lower", [True, False])
@pytest.mark.parametrize("alice_first", [True, False])
def test_simultaneous_initiation_converges(alice_lower: bool, alice_first: bool) -> None:
    alice, bob = _pair(alice_lower)
    from_alice = [alice.send(bob, b"a1"), alice.send(bob, b"a2")]
    from_bob = [bob.send(alice, b"b1"), bob.send(alice, b"b2")]
    if alice_first:
        got_b = [bob.receive(m).plaintext for m in from_alice]
        got_a = [alice.receive(m).plaintext for m in from_bob]
    else:
        got_a = [alice.receive(m).plaintext for m in from_bob]
        got_b = [bob.receive(m).plaintext for m in from_alice]
    assert got_a == [b"b1", b"b2"] and got_b == [b"a1", b"a2"]  # nothing lost
    _converged(alice, bob)


@pytest.mark.parametrize("alice_lower", [True, False])
def test_simultaneous_initiation_interleaved_with_late_messages(alice_lower: bool) -> None:
    """Alice's first message arrives after her reply on the winning session."""
    alice, bob = _pair(alice_lower)
    a1 = alice.send(bob, b"a1")
    b1 = bob.send(alice, b"b1")
    assert alice.receive(b1).plaintext == b"b1"
    a2 = alice.send(bob, b"a2")  # on whatever alice's main session is now
    b2 = bob.send(alice, b"b2")
    assert bob.receive(a2).plaintext == b"a2"
    assert bob.receive(a1).plaintext == b"a1"
    assert alice.receive(b2).plaintext == b"b2"
    _converged(alice, bob)


def test_peer_restart_replaces_session(alice: Party, bob: Party) -> None:
    bob.receive(alice.send(bob, b"hi"))
    alice.receive(bob.send(alice, b"hi"))
    in_flight = alice.send(bob, b"sent before the crash")
    alice.manager = Party.new(1).manager  # alice lost her state, same persona
    restarted = bob.receive(alice.send(bob, b"it's me again"))
    assert restarted.new_session and restarted.peer_restarted
    assert bob.receive(in_flight).plaintext == b"sent before the crash"  # archived session
    alice.receive(bob.send(alice, b"welcome back"))
    _converged(alice, bob)


# -- crash and restore -------------------------------------------------------------------------


def test_restore_mid_conversation(alice: Party, bob: Party) -> None:
    bob.receive(alice.send(bob, b"1"))
    alice.receive(bob.send(alice, b"2"))
    pending = [alice.send(bob, b"3"), alice.send(bob, b"4")]
    bob.receive(pending[0])
    bob.restart()
    alice.restart()
    assert bob.receive(pending[1]).plaintext == b"4"
    with pytest.raises(ReplayedMessage):
        bob.receive(pending[0])
    assert alice.receive(bob.send(alice, b"5")).plaintext == b"5"
    assert bob.receive(alice.send(bob, b"6")).plaintext == b"6"


def test_crash_before_save_redelivers_exactly_once(alice: Party, bob: Party) -> None:
    bob.receive(alice.send(bob, b"hi"))
    msg = alice.send(bob, b"important")
    bob.store.fail_next_save = True
    with pytest.raises(OSError, match="simulated crash"):
        bob.receive(msg)  # decrypted in memory, but the state was never saved
    bob.restart()
    assert bob.receive(msg).plaintext == b"important"  # still in the mailbox: delivered now
    with pytest.raises(ReplayedMessage):
        bob.receive(msg)


def test_crash_before_save_of_a_first_message(alice: Party, bob: Party) -> None:
    first = alice.send(bob, b"first")
    bob.store.fail_next_save = True
    with pytest.raises(OSError, match="simulated crash"):
        bob.receive(first)
    bob.restart()  # the one-time prekey was not consumed in the saved state
    assert bob.receive(first).plaintext == b"first"
