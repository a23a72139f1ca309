"""Messaging sessions (X3DH + Double Ratchet) for one persona, sans-IO.

Layout: ``_wire`` (the versioned message format), ``_sessions`` (the session manager and its
rules), ``_store`` (saving state atomically: protocol, memory and database backends),
``_errors``. The crypto itself is in `umbra.core.crypto`; delivery through mailbox peers is
the driver's job (it seals, stores and polls what this package names).
"""

from ._errors import NoSession, UnknownSession
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

__all__ = [
    "MAX_ARCHIVED_SESSIONS",
    "MAX_MESSAGE_BYTES",
    "MIGRATIONS",
    "NAMESPACE",
    "WIRE_VERSION",
    "DatabaseSessionStore",
    "Incoming",
    "MemorySessionStore",
    "NoSession",
    "Outgoing",
    "SessionManager",
    "SessionStore",
    "StateChanges",
    "UnknownSession",
    "WireMessage",
    "parse_message",
]
