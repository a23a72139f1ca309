"""Messaging for one persona: sessions (X3DH + Double Ratchet), delivery, conversations.

Layout: ``_wire`` (the versioned message format), ``_sessions`` (the session manager and its
rules, sans-IO), ``_store`` (saving session state atomically), ``_errors``; delivery:
``_bundles`` (prekey records in the DHT), ``_delivery_wire`` (``/umbra/msg/1.0.0`` messages
and framing, sans-IO), ``_mailbox_store`` (envelopes held for others), ``_inbox``
(conversations and the outbox), ``_payloads`` (typed application payloads and their
chunks, sans-IO), ``_payload_store`` (their outbound queue, reassembly and the inbound
`PayloadQueue`), ``_delivery`` (the protocol over libp2p streams) and
``_service`` (the coordinator attached to a running node). The crypto itself is in
`umbra.core.crypto`. Names whose modules import py-libp2p load on first use.
"""

from typing import TYPE_CHECKING, Any

from ._bundles import (
    PREKEY_NAMESPACE,
    InvalidPrekeyRecord,
    PrekeyRecord,
    check_prekey_record_at,
    parse_prekey_record,
    prekey_key,
    select_prekey_record,
    sign_prekey_record,
)
from ._delivery_wire import MSG_PROTOCOL_ID
from ._errors import NoSession, UnknownSession
from ._inbox import (
    ChatMessage,
    ChatPayload,
    Conversation,
    Inbox,
    OutboxItem,
    parse_payload,
    parse_plaintext,
)
from ._mailbox_store import MailboxLimits, MailboxRefused, MailboxStore, envelope_id
from ._payload_store import InboundPayload, OutboundPayload, PayloadQueue, PayloadStore
from ._payloads import (
    CHUNK_BYTES,
    MAX_BODY_BYTES,
    MAX_KIND_CHARS,
    MAX_PARTS,
    PayloadChunk,
    ReassemblyLimits,
    check_kind,
    split_payload,
)
from ._sessions import (
    MAX_ARCHIVED_SESSIONS,
    Incoming,
    Outgoing,
    SessionManager,
    StateChanges,
)
from ._store import (
    MIGRATIONS,
    NAMESPACE,
    DatabaseSessionStore,
    MemorySessionStore,
    SessionStore,
)
from ._wire import MAX_MESSAGE_BYTES, WIRE_VERSION, WireMessage, parse_message

if TYPE_CHECKING:
    from ._service import MessagingConfig, MessagingService, serve_messaging

_LAZY = {"MessagingConfig", "MessagingService", "serve_messaging"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import _service

    value = getattr(_service, name)
    globals()[name] = value
    return value


__all__ = [
    "CHUNK_BYTES",
    "MAX_ARCHIVED_SESSIONS",
    "MAX_BODY_BYTES",
    "MAX_KIND_CHARS",
    "MAX_MESSAGE_BYTES",
    "MAX_PARTS",
    "MIGRATIONS",
    "MSG_PROTOCOL_ID",
    "NAMESPACE",
    "PREKEY_NAMESPACE",
    "WIRE_VERSION",
    "ChatMessage",
    "ChatPayload",
    "Conversation",
    "DatabaseSessionStore",
    "InboundPayload",
    "Inbox",
    "Incoming",
    "InvalidPrekeyRecord",
    "MailboxLimits",
    "MailboxRefused",
    "MailboxStore",
    "MemorySessionStore",
    "MessagingConfig",
    "MessagingService",
    "NoSession",
    "OutboundPayload",
    "OutboxItem",
    "Outgoing",
    "PayloadChunk",
    "PayloadQueue",
    "PayloadStore",
    "PrekeyRecord",
    "ReassemblyLimits",
    "SessionManager",
    "SessionStore",
    "StateChanges",
    "UnknownSession",
    "WireMessage",
    "check_kind",
    "check_prekey_record_at",
    "envelope_id",
    "parse_message",
    "parse_payload",
    "parse_plaintext",
    "parse_prekey_record",
    "prekey_key",
    "select_prekey_record",
    "serve_messaging",
    "sign_prekey_record",
    "split_payload",
]
