"""Typed application payloads (e.g. the trade protocol) and their chunks, sans-IO.

A payload is ``(kind, body)``: ``kind`` a short ascii tag naming the consumer ("trade"),
``body`` opaque bytes (0 .. `MAX_BODY_BYTES`). One ratchet message carries at most
`MAX_PLAINTEXT_BYTES`, so a body is split into `CHUNK_BYTES` pieces, each sent as its own
ratchet message (its own envelope). Every chunk is self-describing and strictly checked::

    {"v": 1, "id": 16 B, "kind": str, "sent": uint,
     "part": uint < parts, "parts": uint, "size": uint, "data": bytes}

``parts`` is exactly ``max(1, ceil(size / CHUNK_BYTES))`` and part ``i`` carries exactly
bytes ``[i * CHUNK_BYTES, min(size, (i + 1) * CHUNK_BYTES))`` of the body, so there is one
valid way to cut a body: a chunk that disagrees is refused, never "repaired".

Reassembly (`decide`) is a pure function of one chunk and a summary of what is already held
for its payload; the database keeps the chunks (`_payload_store`), so a node killed half way
through a large payload resumes with the chunks it acknowledged.
"""

import re
from dataclasses import dataclass
from typing import Any, Literal

from umbra.core import InvalidDocument, UsageError, encode_fast
from umbra.core.crypto import MAX_PLAINTEXT_BYTES

PAYLOAD_VERSION = 1
MAX_BODY_BYTES = 1 << 20
# Room for the chunk's own fields (about 90 bytes) inside one ratchet plaintext.
CHUNK_BYTES = MAX_PLAINTEXT_BYTES - 1_000
MAX_PARTS = -(-MAX_BODY_BYTES // CHUNK_BYTES)
MAX_KIND_CHARS = 16
MAX_CHUNK_PLAINTEXT = MAX_PLAINTEXT_BYTES
CHAT_KIND = "chat"  # the chat payload of `_inbox`; never a typed payload's kind
_KIND_RE = re.compile(r"[a-z][a-z0-9._-]*")
_CHUNK_KEYS = frozenset({"v", "id", "kind", "sent", "part", "parts", "size", "data"})


def check_kind(kind: str) -> str:
    """A typed payload's kind. Raises: UsageError."""
    if (
        not isinstance(kind, str)
        or not 0 < len(kind) <= MAX_KIND_CHARS
        or not _KIND_RE.fullmatch(kind)
        or kind == CHAT_KIND
    ):
        raise UsageError(
            f"a payload kind is 1..{MAX_KIND_CHARS} characters a-z 0-9 . _ - starting with a"
            f" letter, and not {CHAT_KIND!r}"
        )
    return kind


def expected_parts(size: int) -> int:
    return max(1, -(-size // CHUNK_BYTES))


def chunk_length(size: int, part: int) -> int:
    return max(0, min(CHUNK_BYTES, size - part * CHUNK_BYTES))


@dataclass(frozen=True)
class PayloadChunk:
    msg_id: bytes
    kind: str
    sent_at: int
    part: int
    parts: int
    size: int
    data: bytes

    def to_bytes(self) -> bytes:
        return encode_fast(
            {
                "v": PAYLOAD_VERSION,
                "id": self.msg_id,
                "kind": self.kind,
                "sent": self.sent_at,
                "part": self.part,
                "parts": self.parts,
                "size": self.size,
                "data": self.data,
            }
        )


def split_payload(msg_id: bytes, kind: str, body: bytes, *, sent_at: int) -> list[PayloadChunk]:
    """Cut ``body`` into its chunks. Raises: UsageError (kind, size, id)."""
    check_kind(kind)
    if len(body) > MAX_BODY_BYTES:
        raise UsageError(f"a payload is at most {MAX_BODY_BYTES} bytes")
    if len(msg_id) != 16:
        raise UsageError("a payload id is 16 bytes")
    parts = expected_parts(len(body))
    return [
        PayloadChunk(
            msg_id,
            kind,
            sent_at,
            i,
            parts,
            len(body),
            body[i * CHUNK_BYTES : (i + 1) * CHUNK_BYTES],
        )
        for i in range(parts)
    ]


def _is_uint(value: Any, below: int) -> bool:
    return type(value) is int and 0 <= value < below


def chunk_from_obj(obj: dict[str, Any]) -> PayloadChunk:
    """Check a decoded chunk map strictly. Raises: InvalidDocument."""
    if set(obj) != _CHUNK_KEYS:
        raise InvalidDocument("bad-payload", "a payload chunk has unexpected fields")
    if type(obj["v"]) is not int or obj["v"] != PAYLOAD_VERSION:
        raise InvalidDocument("unknown-version", "unknown payload version")
    msg_id, kind, data = obj["id"], obj["kind"], obj["data"]
    if not isinstance(msg_id, bytes) or len(msg_id) != 16:
        raise InvalidDocument("bad-payload", "'id' must be 16 bytes")
    try:
        check_kind(kind)
    except UsageError:
        raise InvalidDocument("bad-payload", "'kind' is not a payload kind") from None
    if not _is_uint(obj["sent"], 2**40):
        raise InvalidDocument("bad-payload", "'sent' must be a timestamp")
    size, parts, part = obj["size"], obj["parts"], obj["part"]
    if not _is_uint(size, MAX_BODY_BYTES + 1):
        raise InvalidDocument("bad-payload", f"'size' must be at most {MAX_BODY_BYTES}")
    if not _is_uint(parts, MAX_PARTS + 1) or parts != expected_parts(size):
        raise InvalidDocument("bad-payload", "'parts' does not match 'size'")
    if not _is_uint(part, parts):
        raise InvalidDocument("bad-payload", "'part' must be below 'parts'")
    if not isinstance(data, bytes) or len(data) != chunk_length(size, part):
        raise InvalidDocument("bad-payload", "'data' has the wrong length for its part")
    return PayloadChunk(msg_id, kind, obj["sent"], part, parts, size, data)


# -- reassembly ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReassemblyLimits:
    max_open_per_peer: int = 8  # payloads of one peer being reassembled at once
    ttl_s: int = 8 * 86_400  # an incomplete payload is dropped this long after its first chunk


@dataclass(frozen=True)
class Partial:
    """What is held of one payload being reassembled (its chunks' common fields)."""

    kind: str
    sent_at: int
    parts: int
    size: int
    have: frozenset[int]
    started_at: int


Action = Literal["deliver", "hold", "complete", "duplicate", "refuse"]


@dataclass(frozen=True)
class Decision:
    action: Action  # deliver: a whole payload in one chunk; complete: this chunk finishes one
    reason: str = ""


def decide(
    chunk: PayloadChunk,
    *,
    done: bool,
    partial: Partial | None,
    open_for_peer: int,
    now: int,
    limits: ReassemblyLimits,
) -> Decision:
    """What to do with a chunk from one peer.

    ``done``: that peer's payload with this id was already queued (complete); ``partial``: what
    is held of it (None if nothing, or only expired chunks); ``open_for_peer``: how many
    unexpired incomplete payloads that peer has.
    """
    if done:
        return Decision("duplicate")
    if partial is not None and now - partial.started_at >= limits.ttl_s:
        partial = None  # expired: the caller drops the stale chunks and starts over
    if partial is None:
        if chunk.parts == 1:
            return Decision("deliver")
        if open_for_peer >= limits.max_open_per_peer:
            return Decision("refuse", "too many incomplete payloads from this peer")
        return Decision("hold")
    if (chunk.kind, chunk.sent_at, chunk.parts, chunk.size) != (
        partial.kind,
        partial.sent_at,
        partial.parts,
        partial.size,
    ):
        return Decision("refuse", "a chunk disagrees with the earlier chunks of its payload")
    if chunk.part in partial.have:
        return Decision("duplicate")
    if len(partial.have) + 1 == partial.parts:
        return Decision("complete")
    return Decision("hold")


def assemble(pieces: dict[int, bytes], size: int) -> bytes:
    """Join a payload's chunks (every part present). Raises: InvalidDocument."""
    parts = expected_parts(size)
    if sorted(pieces) != list(range(parts)):
        raise InvalidDocument("bad-payload", "the payload's chunks are incomplete")
    body = b"".join(pieces[i] for i in range(parts))
    if len(body) != size:
        raise InvalidDocument("bad-payload", "the payload's chunks do not add up to its size")
    return body
