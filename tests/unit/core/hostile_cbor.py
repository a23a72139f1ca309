"""Hypothesis strategies that build CBOR at the byte level, the way an attacker would.

Unlike strategies over Python values (which can only produce what an encoder writes), these
assemble heads and bodies directly, so they reach every major type (0-7), every tag (value
sharing 28/29, stringref 25/256, sets 258, bignums, nested tags, CIDs), indefinite lengths,
reserved additional information, non-minimal heads, declared lengths larger than the input,
deep nesting, and mutations of valid documents. Also the named bombs of issue #14.
"""

import sys
import tracemalloc
from collections.abc import Callable
from types import FrameType

from hypothesis import strategies as st

from umbra.core import InvalidDocument, decode_canonical, encode_canonical

# Arguments near every head-size boundary, and a few far beyond the input.
_BOUNDARY_ARGS = [0, 1, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63, 2**64 - 1]
# Tags of interest: Umbra's CID tag, the amplifying ones, and a spread of others.
_TAGS = [42, 28, 29, 25, 256, 258, 0, 1, 2, 3, 4, 5, 21, 24, 32, 55799, 2**32, 2**64 - 1]


def head(major: int, n: int, width: int | None = None) -> bytes:
    """A CBOR head; ``width`` 0-4 puts the argument into 0/1/2/4/8 bytes where it fits, so a
    width above the minimal one gives a non-minimal head."""
    minimal = 0 if n < 24 else 1 if n < 2**8 else 2 if n < 2**16 else 3 if n < 2**32 else 4
    width = minimal if width is None else max(width, minimal)
    if width == 0:
        return bytes([major << 5 | n])
    size = 1 << (width - 1)
    return bytes([major << 5 | (23 + width)]) + (n % (1 << (8 * size))).to_bytes(size, "big")


def sharing_bomb(levels: int) -> bytes:
    """Value-sharing chain: ``[28([0, 0]), 28([29(0), 29(0)]), 28([29(1), 29(1)]), ...]``.

    Level k is a shareable pair of references to level k-1, so the decoded graph has
    ``levels`` small lists and its tree 2**levels leaves; 25 levels is the ~240-byte message
    of issue #14 (27 s and 5.8 GiB through cbor2 and a re-encode).
    """
    out = bytearray(head(4, levels + 1))
    out += b"\xd8\x1c\x82\x00\x00"  # 28([0, 0]): shared value 0
    for k in range(1, levels + 1):
        ref = b"\xd8\x1d" + head(0, k - 1)
        out += b"\xd8\x1c\x82" + ref + ref
    return bytes(out)


def stringref_bomb(string_bytes: int, refs: int) -> bytes:
    """Stringref namespace (tag 256) with one long string and ``refs`` 3-byte references to
    it (tag 25): decoded naively, each reference stands for the whole string."""
    return (
        b"\xd9\x01\x00"
        + head(4, refs + 1)
        + head(2, string_bytes)
        + b"x" * string_bytes
        + b"\xd8\x19\x00" * refs
    )


def huge_length(major: int) -> bytes:
    """A string, array or map that declares 2**63 bytes or items."""
    return head(major, 2**63) + b"\x00" * 8


def deep_nesting(depth: int, opener: bytes = b"\x81") -> bytes:
    """``depth`` nested one-item arrays (or ``opener``: tags, maps) around a zero."""
    return opener * depth + b"\x00"


_args = st.one_of(st.integers(0, 23), st.sampled_from(_BOUNDARY_ARGS), st.integers(0, 2**64 - 1))
# None: minimal; 0-4: forced width (non-minimal where the argument is small).
_widths = st.one_of(st.none(), st.none(), st.none(), st.integers(0, 4))


@st.composite
def _int_item(draw: st.DrawFn) -> bytes:
    n = draw(_args)
    return head(draw(st.sampled_from([0, 1])), n, draw(_widths))


@st.composite
def _string_item(draw: st.DrawFn) -> bytes:
    major = draw(st.sampled_from([2, 3]))
    if major == 3 and draw(st.booleans()):
        body = draw(st.text(max_size=20)).encode("utf-8", "surrogatepass")
    else:
        body = draw(st.binary(max_size=20))
    declared = len(body)
    if draw(st.integers(0, 9)) == 0:  # a declared length that does not match
        declared = draw(st.one_of(st.sampled_from(_BOUNDARY_ARGS), st.integers(0, 64)))
    return head(major, declared, draw(_widths)) + body


@st.composite
def _simple_item(draw: st.DrawFn) -> bytes:
    ib = draw(st.one_of(st.sampled_from([0xF4, 0xF5, 0xF6]), st.integers(0xE0, 0xFF)))
    if ib in (0xF8, 0xF9, 0xFA, 0xFB):  # simple(n) and floats carry 1/2/4/8 more bytes
        return bytes([ib]) + draw(st.binary(min_size=1 << (ib - 0xF8), max_size=1 << (ib - 0xF8)))
    return bytes([ib])


_leaves = st.one_of(
    _int_item(),
    _string_item(),
    _simple_item(),
    st.sampled_from([b"\x1c", b"\x3d", b"\x5e", b"\x7c", b"\x9d", b"\xbe", b"\xdf"]),  # reserved
    st.binary(min_size=1, max_size=3),  # junk
)


def _containers(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    @st.composite
    def array(draw: st.DrawFn) -> bytes:
        items = draw(st.lists(children, max_size=5))
        count = len(items)
        if draw(st.integers(0, 9)) == 0:
            count = draw(st.sampled_from(_BOUNDARY_ARGS))
        if draw(st.integers(0, 7)) == 0:  # indefinite length
            return b"\x9f" + b"".join(items) + b"\xff"
        return head(4, count, draw(_widths)) + b"".join(items)

    @st.composite
    def map_(draw: st.DrawFn) -> bytes:
        text_keys = st.text(max_size=6).map(lambda s: head(3, len(s.encode())) + s.encode())
        keys = draw(st.lists(st.one_of(text_keys, text_keys, children), max_size=5))
        if draw(st.booleans()):  # canonical order is the usual case
            keys.sort(key=lambda k: (len(k), k))
        values = draw(st.lists(children, min_size=len(keys), max_size=len(keys)))
        body = b"".join(k + v for k, v in zip(keys, values, strict=True))
        count = len(keys)
        if draw(st.integers(0, 9)) == 0:
            count = draw(st.sampled_from(_BOUNDARY_ARGS))
        if draw(st.integers(0, 7)) == 0:
            return b"\xbf" + body + b"\xff"
        return head(5, count, draw(_widths)) + body

    @st.composite
    def tag(draw: st.DrawFn) -> bytes:
        number = draw(st.one_of(st.sampled_from(_TAGS), st.integers(0, 2**16)))
        return head(6, number, draw(_widths)) + draw(children)

    @st.composite
    def chunked(draw: st.DrawFn) -> bytes:  # indefinite byte or text string
        major = draw(st.sampled_from([2, 3]))
        chunks = draw(st.lists(_string_item(), max_size=3))
        return bytes([major << 5 | 31]) + b"".join(chunks) + b"\xff"

    return st.one_of(array(), map_(), tag(), chunked())


items = st.recursive(_leaves, _containers, max_leaves=30)

# Valid canonical documents (Python values through Umbra's encoder), to mutate.
_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**64), 2**64 - 1),
        st.binary(max_size=40),
        st.text(max_size=20),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)
canonical_documents = _values.map(encode_canonical)


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    """``base`` with a few byte-level mutations: flips, inserts, deletes, truncation, splices."""
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice"]))
        at = draw(st.integers(0, len(data)))
        if op == "flip" and at < len(data):
            data[at] ^= draw(st.integers(1, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete" and at < len(data):
            del data[at : at + draw(st.integers(1, 4))]
        elif op == "truncate":
            del data[at:]
        elif op == "splice":
            data[at:at] = draw(items)
    return bytes(data)


@st.composite
def retyped(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    """``base`` decoded, one value somewhere inside replaced by another (often of another
    type: a map where bytes were, a huge int, a nested record), and encoded again: canonical
    CBOR that reaches past the decoder into the structure checks of each parser."""
    value = decode_canonical(draw(base), max_size=1 << 20)
    containers = [value] if isinstance(value, list | dict) else []
    for container in containers:  # breadth-first: every container, each once
        children = container.values() if isinstance(container, dict) else container
        containers += [c for c in children if isinstance(c, list | dict)]
    if not containers:
        return encode_canonical(draw(_values))
    for _ in range(draw(st.integers(1, 3))):
        target = draw(st.sampled_from(containers))
        replacement = draw(st.one_of(_values, st.sampled_from(containers)))
        if isinstance(target, dict) and target:
            key = draw(st.sampled_from(sorted(target)))
            if draw(st.integers(0, 4)) == 0:
                del target[key]
            else:
                target[key] = replacement
        elif isinstance(target, list) and target:
            target[draw(st.integers(0, len(target) - 1))] = replacement
    try:
        return encode_canonical(value)
    except InvalidDocument:  # a container put inside itself: nests too deep
        return encode_canonical(draw(_values))


def bombs() -> st.SearchStrategy[bytes]:
    """The named expansion and exhaustion inputs, with their sizes drawn."""
    return st.one_of(
        st.integers(1, 30).map(sharing_bomb),
        st.builds(stringref_bomb, st.integers(1, 2000), st.integers(1, 500)),
        st.sampled_from([2, 3, 4, 5]).map(huge_length),
        st.builds(
            deep_nesting,
            st.integers(1, 3000),
            st.sampled_from([b"\x81", b"\xa1\x61a", b"\xd8\x2a", b"\xd8\x1c", b"\x9f", b"\xc6"]),
        ),
    )


def hostile_cbor(
    samples: st.SearchStrategy[bytes] | None = None,
) -> st.SearchStrategy[bytes]:
    """Everything above, plus mutations of ``samples`` (real documents of the decoder's kind)."""
    parts = [items, canonical_documents, mutated(canonical_documents), mutated(items), bombs()]
    if samples is not None:
        parts += [samples, mutated(samples), mutated(samples), retyped(samples), retyped(samples)]
    return st.one_of(*parts)


def run_measured(fn: Callable[[bytes], object], data: bytes) -> tuple[object, int, int]:
    """Run ``fn(data)``; return its result (or the exception it raised), the number of
    function calls it made (Python and C: a measure of work that does not depend on the
    machine's load) and the peak of memory it allocated (tracemalloc), in bytes."""
    calls = 0

    def count(frame: FrameType, event: str, arg: object) -> None:
        nonlocal calls
        if event == "call" or event == "c_call":
            calls += 1

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    sys.setprofile(count)
    try:
        result: object = fn(data)
    except Exception as exc:  # returned to the caller, which judges its type
        result = exc
    finally:
        sys.setprofile(None)
        peak = tracemalloc.get_traced_memory()[1] - before
        tracemalloc.stop()
    return result, calls, peak
