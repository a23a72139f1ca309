"""The session manager: one persona's X3DH + Double Ratchet sessions, sans-IO.

No I/O, no clock (callers pass ``now``), no event loop. Crypto randomness comes from the
crypto libraries themselves. Every call that changes state returns a `StateChanges`; the
caller MUST persist it (atomically, e.g. `SessionStore.save`) before it sends the envelope
or shows the plaintext. If saving fails, drop this manager and `load` it again: the message
stays in the mailbox and is decrypted again from the saved state.

Rules (all session state changes live here; the same rules run on both sides):

R1  Every message names its session (``sid``, a hash of the X3DH ephemeral key). Per peer
    persona we keep one *main* session (used to send) and up to `MAX_ARCHIVED_SESSIONS`
    older, receive-only ones, so no message in flight is lost when the main one changes.
R2  The initiator attaches its X3DH header to every message of a session until it has
    decrypted one message of that session from the peer (the "first reply"). On a known
    session the header must be byte-identical to the one that started it.
R3  The responder runs X3DH once per session: a message with an X3DH header for a session
    it already has goes straight to that session's ratchet. A one-time prekey is consumed
    only after the first message authenticated; the initiation's ephemeral key is recorded,
    so a replay of a first message whose session was dropped is rejected too.
R4  A new initiation from a peer while our main session with it is one *we* started, to the
    same peer identity key, is a *simultaneous initiation* (both sides started before seeing
    the other's first message; the other's may arrive late, after replies): the session
    started by the identity key that sorts lower (bytewise) wins on both sides; the loser is
    archived (receive-only). Both sides apply the same rule, so both keep the same session.
R5  Any other new initiation means the peer started over: a new messaging identity key
    (lost state, new device), or a new session while ours was one the peer started. It
    becomes the main session; the old main is archived.
R6  Replays are rejected (`ReplayedMessage`), never delivered twice; skipping more than
    `MAX_SKIPPED_KEYS` on a chain is rejected (`SkippedKeyLimit`); anything else that fails
    is `UndecryptableMessage`. A rejected message changes no state.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Self

from umbra.core import InvalidDocument, UsageError, decode_fast, encode_fast
from umbra.core.crypto import (
    IdentityCertificate,
    MessagingIdentity,
    PrekeyBundle,
    RatchetSession,
    ReplayedMessage,
    SigningKey,
    UndecryptableMessage,
    X3dhHeader,
    intro_mailbox_id,
    mailbox_epoch,
    open_envelope,
    seal_envelope,
    session_mailbox_id,
)

from ._cbor import NULL, cbor_array_head, cbor_bool, cbor_bytes, cbor_key, cbor_map_head, cbor_uint
from ._errors import NoSession, UnknownSession
from ._wire import WireMessage, parse_message

MAX_ARCHIVED_SESSIONS = 2
_RECORD_VERSION = 1
_MAX_RECORD_BYTES = 4 << 20
# Records are saved after every message: assembled from constant parts (see `_cbor`), in
# canonical key order (shorter keys first, then bytewise). Tests compare with encode_canonical.
_SESSION_HEAD = cbor_map_head(7) + cbor_key("sid")
_K_MBOX, _K_OURS, _K_PEER = cbor_key("mbox"), cbor_key("ours"), cbor_key("peer")
_K_X3DH, _K_RATCHET, _K_CONFIRMED = cbor_key("x3dh"), cbor_key("ratchet"), cbor_key("confirmed")
_PEER_HEAD = cbor_map_head(4) + cbor_key("v") + cbor_uint(_RECORD_VERSION) + cbor_key("main")
_K_PERSONA, _K_ARCHIVED = cbor_key("persona"), cbor_key("archived")


@dataclass(frozen=True)
class StateChanges:
    """What to persist, in one transaction, before acting on a result."""

    identity: bytes | None  # the new messaging identity state, if it changed
    peers: tuple[tuple[bytes, bytes], ...]  # (peer persona, its new session record)
    bundle_changed: bool  # publish a fresh `prekey_bundle` (a one-time prekey was used)


@dataclass(frozen=True)
class Outgoing:
    recipient: bytes
    message: bytes  # the wire message (inside the envelope)
    envelope: bytes  # sealed to the recipient's envelope key: what a mailbox peer stores
    mailbox_id: bytes  # where to leave the envelope
    changes: StateChanges


@dataclass(frozen=True)
class Incoming:
    sender: bytes  # the sender persona's key (authenticated)
    plaintext: bytes
    session_id: bytes
    new_session: bool  # this message started a session (the responder ran X3DH)
    peer_restarted: bool  # rule R5 fired: the peer started a new session over an old one
    changes: StateChanges


@dataclass(eq=False)
class _Session:
    sid: bytes
    ratchet: RatchetSession
    x3dh: X3dhHeader  # the header that started the session (ours if `ours`)
    ours: bool  # we initiated it
    confirmed: bool  # we decrypted at least one message of it
    mailbox_secret: bytes
    peer: IdentityCertificate
    # The encoded record and the ratchet state it was made from (saving is per message).
    _cache: tuple[bytes, bool, bytes] | None = None
    _prefix: bytes | None = None  # the record's bytes up to the ratchet state (never change)

    @property
    def attach_header(self) -> bool:
        return self.ours and not self.confirmed

    def to_bytes(self) -> bytes:
        ratchet = self.ratchet.to_bytes()  # cached by the ratchet until it changes
        if self._cache and self._cache[0] is ratchet and self._cache[1] == self.confirmed:
            return self._cache[2]
        if self._prefix is None:
            self._prefix = b"".join(
                (
                    _SESSION_HEAD, cbor_bytes(self.sid),
                    _K_MBOX, cbor_bytes(self.mailbox_secret),
                    _K_OURS, cbor_bool(self.ours),
                    _K_PEER, cbor_bytes(encode_fast(self.peer.to_obj())),
                    _K_X3DH, cbor_bytes(encode_fast(self.x3dh.to_obj())),
                    _K_RATCHET,
                )
            )  # fmt: skip
        record = b"".join(
            (self._prefix, cbor_bytes(ratchet), _K_CONFIRMED, cbor_bool(self.confirmed))
        )
        self._cache = (ratchet, self.confirmed, record)
        return record

    @classmethod
    def from_bytes(cls, data: Any) -> Self:
        keys = {"sid", "ratchet", "x3dh", "ours", "confirmed", "mbox", "peer"}
        obj = decode_fast(data, max_size=_MAX_RECORD_BYTES) if isinstance(data, bytes) else None
        if (
            not isinstance(obj, dict)
            or set(obj) != keys
            or not all(type(obj[k]) is bytes for k in ("sid", "ratchet", "x3dh", "mbox", "peer"))
            or not all(type(obj[k]) is bool for k in ("ours", "confirmed"))
        ):
            raise InvalidDocument("bad-session-record", "a stored session is damaged")
        return cls(
            obj["sid"],
            RatchetSession.from_bytes(obj["ratchet"]),
            X3dhHeader.from_obj(decode_fast(obj["x3dh"], max_size=_MAX_RECORD_BYTES)),
            bool(obj["ours"]),
            bool(obj["confirmed"]),
            obj["mbox"],
            IdentityCertificate.from_obj(decode_fast(obj["peer"], max_size=_MAX_RECORD_BYTES)),
        )


@dataclass
class _Peer:
    persona: bytes
    main: _Session | None
    archived: list[_Session]

    def find(self, sid: bytes) -> _Session | None:
        if self.main is not None and self.main.sid == sid:
            return self.main
        return next((s for s in self.archived if s.sid == sid), None)

    def archive(self, session: _Session) -> None:
        self.archived.insert(0, session)
        del self.archived[MAX_ARCHIVED_SESSIONS:]

    def sessions(self) -> list[_Session]:
        return ([self.main] if self.main else []) + self.archived

    def to_bytes(self) -> bytes:
        parts = [
            _PEER_HEAD,
            NULL if self.main is None else cbor_bytes(self.main.to_bytes()),
            _K_PERSONA,
            cbor_bytes(self.persona),
            _K_ARCHIVED,
            cbor_array_head(len(self.archived)),
        ]
        parts += [cbor_bytes(s.to_bytes()) for s in self.archived]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        obj = decode_fast(data, max_size=_MAX_RECORD_BYTES)
        if not isinstance(obj, dict) or set(obj) != {"v", "persona", "main", "archived"}:
            raise InvalidDocument("bad-session-record", "a stored session record is damaged")
        if obj["v"] != _RECORD_VERSION:
            raise InvalidDocument("bad-session-record", f"unknown record version {obj['v']!r}")
        if type(obj["persona"]) is not bytes or type(obj["archived"]) is not list:
            raise InvalidDocument("bad-session-record", "a stored session record is damaged")
        main = None if obj["main"] is None else _Session.from_bytes(obj["main"])
        return cls(obj["persona"], main, [_Session.from_bytes(s) for s in obj["archived"]])


class SessionManager:
    """All messaging sessions of one persona. See the module docstring for the rules."""

    def __init__(self, identity: MessagingIdentity, peers: dict[bytes, _Peer]) -> None:
        self._identity = identity
        self._peers = peers

    @classmethod
    def create(cls, persona: SigningKey, *, now: int) -> tuple[Self, StateChanges]:
        """New messaging keys for ``persona``; persist the returned changes."""
        manager = cls(MessagingIdentity.generate(persona, now=now), {})
        return manager, StateChanges(manager._identity.to_bytes(), (), True)

    @classmethod
    def load(cls, identity_state: bytes, peer_records: Iterable[bytes]) -> Self:
        """Rebuild from what `StateChanges` saved. Raises: InvalidDocument (damaged state)."""
        peers = {p.persona: p for p in map(_Peer.from_bytes, peer_records)}
        return cls(MessagingIdentity.from_bytes(identity_state), peers)

    @property
    def persona(self) -> bytes:
        return self._identity.persona

    @property
    def certificate(self) -> IdentityCertificate:
        return self._identity.certificate

    def has_session(self, peer: bytes) -> bool:
        p = self._peers.get(peer)
        return p is not None and p.main is not None

    def session_ids(self, peer: bytes) -> list[bytes]:
        """The peer's sessions, main first (for tests and diagnostics)."""
        p = self._peers.get(peer)
        return [] if p is None else [s.sid for s in p.sessions()]

    # -- prekeys -------------------------------------------------------------------------------

    def prekey_bundle(self, persona: SigningKey, *, now: int) -> PrekeyBundle:
        return self._identity.signed_bundle(persona, now=now)

    def rotate_prekeys_at(self, now: int) -> StateChanges | None:
        """Rotate the signed prekey when due (call daily); returns changes to persist, if any."""
        if not self._identity.rotate_signed_prekey_at(now):
            return None
        return StateChanges(self._identity.to_bytes(), (), True)

    # -- sending -------------------------------------------------------------------------------

    def encrypt(
        self, recipient: bytes, plaintext: bytes, *, now: int, bundle: PrekeyBundle | None = None
    ) -> Outgoing:
        """Encrypt for ``recipient``, starting a session from ``bundle`` if there is none.

        Raises:
            NoSession: no session and no bundle.
            InvalidDocument: the bundle is for someone else or too old.
            UsageError: plaintext too long; messaging ourselves.
        """
        if recipient == self.persona:
            raise UsageError("cannot send a message to ourselves")
        peer = self._peers.get(recipient)
        session = None if peer is None else peer.main
        if session is None:
            if bundle is None:
                raise NoSession()
            if bundle.persona != recipient:
                raise InvalidDocument("wrong-bundle", "the prekey bundle is for another persona")
            bundle.check_fresh_at(now)
            new, ratchet_message = self._identity.initiate(bundle, plaintext)
            session = _Session(
                new.header.session_id, new.ratchet, new.header, True, False,
                new.mailbox_secret, bundle.certificate,
            )  # fmt: skip
            if peer is None:
                peer = self._peers[recipient] = _Peer(recipient, None, [])
            peer.main = session
        else:
            ratchet_message = session.ratchet.encrypt(plaintext)
        assert peer is not None
        wire = WireMessage(
            self.persona,
            session.sid,
            session.x3dh if session.attach_header else None,
            ratchet_message,
        ).to_bytes()
        epoch = mailbox_epoch(now)
        if session.attach_header:  # the peer cannot know the session's mailbox yet
            mailbox = intro_mailbox_id(session.peer.envelope_key, epoch)
        else:
            mailbox = session_mailbox_id(session.mailbox_secret, session.peer.identity_key, epoch)
        return Outgoing(
            recipient,
            wire,
            seal_envelope(session.peer.envelope_key, wire),
            mailbox,
            StateChanges(None, ((recipient, peer.to_bytes()),), False),
        )

    # -- receiving -----------------------------------------------------------------------------

    def open_envelope(self, envelope: bytes) -> Incoming:
        """Open a sealed envelope from a mailbox and decrypt the message inside."""
        return self.decrypt(open_envelope(self._identity.envelope_secret, envelope))

    def open_sealed(self, box: bytes) -> bytes:
        """Open a sealed box made for this identity's envelope key (a shipping address,
        tracking, evidence) and return its plaintext; the secret never leaves the manager.

        Raises:
            InvalidDocument: the box is not for us, or was changed.
        """
        return open_envelope(self._identity.envelope_secret, box)

    def decrypt(self, data: bytes) -> Incoming:
        """Decrypt one wire message. On any error no state changes.

        Raises:
            InvalidDocument: malformed bytes; or one of its subclasses `UndecryptableMessage`,
                `ReplayedMessage`, `SkippedKeyLimit`, `UnknownSession` (see rules R1-R6).
        """
        msg = parse_message(data)
        if msg.sender == self.persona:
            raise UndecryptableMessage()
        peer = self._peers.get(msg.sender)
        session = None if peer is None else peer.find(msg.session_id)
        if peer is not None and session is not None:
            return self._decrypt_known(peer, session, msg)
        if msg.x3dh is None:
            raise UnknownSession()
        return self._accept_new(peer, msg, msg.x3dh)

    def _decrypt_known(self, peer: _Peer, session: _Session, msg: WireMessage) -> Incoming:
        if msg.x3dh is not None and (session.ours or msg.x3dh != session.x3dh):
            raise UndecryptableMessage()  # R2: only the initiator's own header, unchanged
        plaintext = session.ratchet.decrypt(msg.ratchet)
        session.confirmed = True
        changes = StateChanges(None, ((peer.persona, peer.to_bytes()),), False)
        return Incoming(peer.persona, plaintext, session.sid, False, False, changes)

    def _accept_new(self, peer: _Peer | None, msg: WireMessage, header: X3dhHeader) -> Incoming:
        if header.certificate.persona != msg.sender:
            raise UndecryptableMessage()
        if self._identity.has_accepted(header):
            raise ReplayedMessage()  # R3: a first message whose session we no longer hold
        new, plaintext = self._identity.accept(header, msg.ratchet)
        session = _Session(
            msg.session_id, new.ratchet, header, False, True, new.mailbox_secret,
            header.certificate,
        )  # fmt: skip
        # Success: from here on, state changes.
        self._identity.commit_acceptance(header)
        if peer is None:
            peer = self._peers[msg.sender] = _Peer(msg.sender, None, [])
        restarted = self._adopt(peer, session)
        changes = StateChanges(self._identity.to_bytes(), ((peer.persona, peer.to_bytes()),), True)
        return Incoming(peer.persona, plaintext, session.sid, True, restarted, changes)

    def _adopt(self, peer: _Peer, new: _Session) -> bool:
        """Rules R4/R5 for a session the peer just started; True if R5 fired."""
        main = peer.main
        if main is None:
            peer.main = new
            return False
        if main.ours and main.peer.identity_key == new.peer.identity_key:  # R4
            if self._identity.identity_key < new.peer.identity_key:
                peer.archive(new)  # ours wins; theirs stays readable
            else:
                peer.archive(main)
                peer.main = new
            return False
        peer.archive(main)  # R5
        peer.main = new
        return True

    # -- mailboxes -----------------------------------------------------------------------------

    def inbound_mailboxes(self, *, now: int) -> list[bytes]:
        """The mailbox ids to poll now: intro + every session's inbound direction, for the
        current and the previous epoch."""
        own_ik, own_env = self._identity.identity_key, self._identity.certificate.envelope_key
        ids: list[bytes] = []
        for epoch in (mailbox_epoch(now), mailbox_epoch(now) - 1):
            ids.append(intro_mailbox_id(own_env, epoch))
            for peer in self._peers.values():
                ids.extend(
                    session_mailbox_id(s.mailbox_secret, own_ik, epoch) for s in peer.sessions()
                )
        return list(dict.fromkeys(ids))
