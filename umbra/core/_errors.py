"""Errors of the core layer.

Every error Umbra raises on purpose derives from `UmbraError`; its message is written for the
user (what happened and, where useful, what to do). Errors are split by who is at fault:
`InvalidDocument` means bytes from outside were bad, `UsageError` means the local caller asked
for something impossible.
"""


class UmbraError(Exception):
    """Base of every error raised on purpose by Umbra."""


class UsageError(UmbraError):
    """The local user or caller asked for something that cannot be done as asked."""


class InvalidDocument(UmbraError):
    """A document or block failed validation; the message names the reason.

    Attributes:
        reason: a short machine-readable reason code (e.g. ``"bad-signature"``).
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"rejected ({reason}): {detail}")
        self.reason = reason
        self.detail = detail


class BadSignature(UmbraError):
    """A signature did not verify. Deliberately says nothing about which check failed."""

    def __init__(self) -> None:
        super().__init__("signature verification failed")
