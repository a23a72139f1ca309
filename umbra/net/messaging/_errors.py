"""Errors of the messaging session layer.

Bytes from outside that are rejected raise `InvalidDocument` subclasses from
`umbra.core.crypto` (`UndecryptableMessage`, `ReplayedMessage`, `SkippedKeyLimit`) or
`InvalidDocument` itself for malformed wire bytes; this module adds the cases of "we cannot
do what the local caller asked".
"""

from umbra.core import InvalidDocument, UsageError


class NoSession(UsageError):
    """There is no session with this persona yet, and no prekey bundle was given to start one."""

    def __init__(self) -> None:
        super().__init__(
            "there is no messaging session with this persona yet; fetch its prekey bundle first"
        )


class UnknownSession(InvalidDocument):
    """A message names a session we do not have (lost state, or it was dropped)."""

    def __init__(self) -> None:
        super().__init__(
            "unknown-session",
            "the message belongs to a conversation this profile does not know "
            "(the sender should start a new one)",
        )
