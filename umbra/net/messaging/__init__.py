"""Messaging for one persona: sessions (X3DH + Double Ratchet), delivery, conversations.

Layout: ``_wire`` (the versioned message format), ``_sessions`` (the session manager and its
rules, sans-IO), ``_store`` (saving session state atomically), ``_errors``; delivery:
``_bundles`` (prekey records in the DHT), ``_delivery_wire`` (``/umbra/msg/1.0.0`` messages
and framing, sans-IO), ``_mailbox_store`` (envelopes held for others), ``_inbox``
(conversations and the outbox), ``_delivery`` (the protocol over libp2p streams) and
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
from ._inbox import ChatMessage, ChatPayload, Conversation, Inbox, parse_payload
from ._mailbox_store import MailboxLimits, MailboxRefused, MailboxStore, envelope_id
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
    "MAX_ARCHIVED_SESSIONS",
    "MAX_MESSAGE_BYTES",
    "MIGRATIONS",
    "MSG_PROTOCOL_ID",
    "NAMESPACE",
    "PREKEY_NAMESPACE",
    "WIRE_VERSION",
    "ChatMessage",
    "ChatPayload",
    "Conversation",
    "DatabaseSessionStore",
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
    "Outgoing",
    "PrekeyRecord",
    "SessionManager",
    "SessionStore",
    "StateChanges",
    "UnknownSession",
    "WireMessage",
    "check_prekey_record_at",
    "envelope_id",
    "parse_message",
    "parse_payload",
    "parse_prekey_record",
    "prekey_key",
    "select_prekey_record",
    "serve_messaging",
    "sign_prekey_record",
]
