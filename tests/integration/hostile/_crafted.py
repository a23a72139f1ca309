"""Crafted CBOR a hostile peer sends: expansion bombs, deep nesting, huge declared lengths,
non-canonical and junk encodings. Pure functions that return bytes (no I/O).

Every generator takes the largest input the entry accepts (``budget``) and stays under it, so
each bomb is the worst one a peer can actually deliver there. The expansion bombs are sized by
`Scale`: big enough that a decoder doing work beyond a small multiple of its input shows it
(seconds of CPU, hundreds of MB), small enough that a node with the hole open on this shared
machine is caught by the watchdog before it takes the machine with it.
"""

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass

# Major types (RFC 8949 §3.1).
UINT, NINT, BYTES, TEXT, ARRAY, MAP, TAG, SIMPLE = range(8)
BREAK = b"\xff"


def head(major: int, n: int) -> bytes:
    """The shortest head of major type ``major`` with argument ``n``."""
    if n < 24:
        return bytes([major << 5 | n])
    for extra, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * width):
            return bytes([major << 5 | extra]) + n.to_bytes(width, "big")
    raise ValueError("argument too large for a CBOR head")


def long_head(major: int, n: int) -> bytes:
    """A head with an 8-byte argument whatever ``n`` is (non-minimal unless n ≥ 2^32)."""
    return bytes([major << 5 | 27]) + n.to_bytes(8, "big")


def text(s: str) -> bytes:
    raw = s.encode()
    return head(TEXT, len(raw)) + raw


def byte_string(b: bytes) -> bytes:
    return head(BYTES, len(b)) + b


def tag(number: int, item: bytes) -> bytes:
    return head(TAG, number) + item


def canonical_map(fields: dict[str, bytes]) -> bytes:
    """A map with text keys in DAG-CBOR order (length first, then bytes); values are raw CBOR.

    Puts a crafted item where a valid message has a field, so a decoder that checks the
    envelope first still meets it.
    """
    keys = sorted(fields, key=lambda k: (len(k.encode()), k.encode()))
    return head(MAP, len(keys)) + b"".join(text(k) + fields[k] for k in keys)


@dataclass(frozen=True)
class Scale:
    """How hard the attacks push: ``UMBRA_HOSTILE_SCALE=big`` for the long run, ``small`` to
    check the harness itself (bombs too small to show an expansion, short floods)."""

    # Levels of doubling in a shared-reference chain: 2^depth leaves after expansion.
    sharing_depth: int
    # What a string-reference bomb expands to, at most.
    stringref_bytes: int
    # Floods: DHT PUTs of distinct keys (py-libp2p evicts the oldest beyond 50,000), provider
    # records, mailbox PUTs (a quarter of them 128 KiB), raw TCP connections held open at once,
    # libp2p hosts connected at once, streams opened at once on one connection.
    dht_puts: int
    providers: int
    mailbox_puts: int
    tcp_connections: int
    hosts: int
    streams: int

    @classmethod
    def from_env(cls) -> "Scale":
        chosen = os.environ.get("UMBRA_HOSTILE_SCALE", "")
        if chosen == "big":
            return cls(
                sharing_depth=30,
                stringref_bytes=8 << 30,
                dht_puts=60_000,
                providers=20_000,
                mailbox_puts=1_000,
                tcp_connections=2_000,
                hosts=200,
                streams=1_000,
            )
        if chosen == "small":
            return cls(
                sharing_depth=10,
                stringref_bytes=1 << 20,
                dht_puts=200,
                providers=100,
                mailbox_puts=10,
                tcp_connections=50,
                hosts=5,
                streams=50,
            )
        return cls(
            sharing_depth=22,
            stringref_bytes=768 << 20,
            dht_puts=5_000,
            providers=2_000,
            mailbox_puts=250,
            tcp_connections=500,
            hosts=30,
            streams=100,
        )


# -- expansion bombs ---------------------------------------------------------------------------


def _shared_ref(index: int) -> bytes:
    return tag(29, head(UINT, index))


def shared_list_chain(depth: int) -> bytes:
    """Tags 28/29 (value sharing): each level is a list of two references to the level below.

    ~9 bytes per level; a decoder that resolves the references and then walks the result as a
    tree does 2^depth work.
    """
    levels = [tag(28, head(ARRAY, 0))]
    for i in range(1, depth + 1):
        levels.append(tag(28, head(ARRAY, 2) + _shared_ref(i - 1) + _shared_ref(i - 1)))
    return head(ARRAY, len(levels)) + b"".join(levels)


def shared_map_chain(depth: int) -> bytes:
    """The same doubling with maps (``{"a": ref, "b": ref}``) instead of lists."""
    levels = [tag(28, head(MAP, 0))]
    for i in range(1, depth + 1):
        ref = _shared_ref(i - 1)
        levels.append(tag(28, head(MAP, 2) + text("a") + ref + text("b") + ref))
    return head(ARRAY, len(levels)) + b"".join(levels)


def shared_nested_chain(depth: int) -> bytes:
    """Sharing marks nested inside each other (no flat list of levels): one top-level item."""
    item = tag(28, head(ARRAY, 0))
    # Level i shares itself and refers twice to the level inside it.
    for i in range(1, depth + 1):
        item = tag(28, head(ARRAY, 3) + item + _shared_ref(i - 1) + _shared_ref(i - 1))
    return item


def stringref_bomb(budget: int, expand_to: int) -> bytes:
    """Tags 256/25 (string references): one long string, then thousands of 3-byte refs to it."""
    length = max(16, min(budget // 2, 64 * 1024))
    refs = max(1, min((budget - length - 32) // 3, expand_to // length))
    string = head(TEXT, length) + b"x" * length
    return tag(256, head(ARRAY, refs + 1) + string + tag(25, head(UINT, 0)) * refs)


def embedded_cbor_bomb(inner: bytes) -> bytes:
    """Tag 24 (encoded CBOR data item) around another bomb, for decoders that unwrap it."""
    return tag(24, byte_string(inner))


def bignum(budget: int) -> bytes:
    """Tag 2: a positive bignum as long as the budget allows (slow to print, to compare)."""
    return tag(2, byte_string(b"\xff" * max(1, budget - 16)))


def extreme_exponents() -> list[tuple[str, bytes]]:
    """Tags 4/5 (decimal fraction, bigfloat) with exponents near ±2^63."""
    big, neg = long_head(UINT, 2**63 - 1), long_head(NINT, 2**63 - 1)
    return [
        ("decimal-fraction-2^63", tag(4, head(ARRAY, 2) + big + head(UINT, 1))),
        ("decimal-fraction--2^63", tag(4, head(ARRAY, 2) + neg + head(UINT, 1))),
        ("bigfloat-2^63", tag(5, head(ARRAY, 2) + big + head(UINT, 1))),
        ("bigfloat--2^63", tag(5, head(ARRAY, 2) + neg + head(UINT, 1))),
    ]


def other_tags() -> list[tuple[str, bytes]]:
    """Tags a general decoder turns into objects: regex, MIME, dates, sets, UUID, unknown."""
    regex = "(a+)+$" * 100
    mime = "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + "--b\r\n\r\nx\r\n" * 2000
    return [
        ("regex-tag-35", tag(35, text(regex))),
        ("mime-tag-36", tag(36, text(mime))),
        ("datetime-tag-0-junk", tag(0, text("9999999999-99-99T99:99:99Z"))),
        ("epoch-tag-1-huge", tag(1, long_head(UINT, 2**64 - 1))),
        ("set-tag-258-of-lists", tag(258, head(ARRAY, 2) + head(ARRAY, 0) + head(ARRAY, 0))),
        ("uuid-tag-37-short", tag(37, byte_string(b"\x01"))),
        ("cid-tag-42-junk", tag(42, byte_string(b"\x00\x01\x02"))),
        ("unknown-tag-2^64-1", long_head(TAG, 2**64 - 1) + head(UINT, 0)),
        ("self-describe-55799", tag(55799, tag(55799, head(MAP, 0)))),
    ]


# -- nesting and lengths -----------------------------------------------------------------------


def deep_arrays(budget: int) -> bytes:
    depth = max(1, min(budget - 1, 200_000))
    return head(ARRAY, 1) * depth + head(UINT, 0)


def deep_maps(budget: int) -> bytes:
    depth = max(1, min((budget - 1) // 3, 100_000))
    return (head(MAP, 1) + text("a")) * depth + head(UINT, 0)


def deep_indefinite(budget: int) -> bytes:
    depth = max(1, min(budget // 2, 100_000))
    return b"\x9f" * depth + BREAK * depth


def deep_tags(budget: int) -> bytes:
    depth = max(1, min((budget - 1) // 2, 100_000))
    return b"\xd8\x2a" * depth + head(UINT, 0)  # tag 42 (CID) around tag 42 around ...


def huge_lengths() -> list[tuple[str, bytes]]:
    """Heads that declare far more than follows: a decoder must not allocate what they say."""
    out = []
    for major, name in ((BYTES, "bytes"), (TEXT, "text"), (ARRAY, "array"), (MAP, "map")):
        out.append((f"{name}-declared-2^63", long_head(major, 2**63) + b"\x00" * 8))
        out.append((f"{name}-declared-2^64-1", long_head(major, 2**64 - 1) + b"\x00" * 8))
        out.append((f"{name}-declared-2^32-1", head(major, 2**32 - 1) + b"\x00" * 8))
    # An indefinite byte string whose chunks each declare 2^63 bytes.
    out.append(("indefinite-bytes-chunk-2^63", b"\x5f" + long_head(BYTES, 2**63) + b"ab"))
    return out


def indefinite_lengths(budget: int) -> list[tuple[str, bytes]]:
    """Indefinite-length items (never canonical): many empty chunks, unterminated, nested."""
    chunks = max(1, min((budget - 2), 200_000))
    return [
        ("indefinite-bytes-empty-chunks", b"\x5f" + b"\x40" * chunks + BREAK),
        ("indefinite-text-empty-chunks", b"\x7f" + b"\x60" * chunks + BREAK),
        ("indefinite-array-unterminated", b"\x9f" + b"\x00" * min(chunks, 1000)),
        ("indefinite-map-odd", b"\xbf" + text("a") + BREAK),
        ("indefinite-map-many-keys", b"\xbf" + (text("k") + b"\x00") * (chunks // 4) + BREAK),
    ]


# -- non-canonical and junk --------------------------------------------------------------------


def non_canonical() -> list[tuple[str, bytes]]:
    valid = canonical_map({"t": text("get-heads"), "v": head(UINT, 1), "limit": head(UINT, 1)})
    return [
        (
            "long-int-head",
            canonical_map(
                {"t": text("get-heads"), "v": long_head(UINT, 1), "limit": head(UINT, 1)}
            ),
        ),
        (
            "unsorted-keys",
            head(MAP, 3)
            + text("v")
            + head(UINT, 1)
            + text("t")
            + text("get-heads")
            + text("limit")
            + head(UINT, 1),
        ),
        (
            "duplicate-keys",
            head(MAP, 4)
            + text("t")
            + text("get-heads")
            + text("t")
            + text("get-blocks")
            + text("v")
            + head(UINT, 1)
            + text("limit")
            + head(UINT, 1),
        ),
        ("many-duplicate-keys", head(MAP, 10_000) + (text("v") + head(UINT, 1)) * 10_000),
        (
            "float-version",
            canonical_map({"t": text("get-heads"), "v": b"\xf9\x3c\x00", "limit": head(UINT, 1)}),
        ),
        ("nan-payload", b"\xfb\x7f\xf8\x00\x00\x00\x00\x00\x01"),
        ("undefined", b"\xf7"),
        ("simple-255", b"\xf8\xff"),
        ("trailing-bytes", valid + b"\x00"),
        ("non-text-keys", head(MAP, 1) + head(ARRAY, 0) + head(UINT, 0)),
        ("invalid-utf8", head(TEXT, 2) + b"\xc3\x28"),
        ("reserved-additional-info", b"\x1c"),
    ]


def junk(seed: int = 14) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    return [
        ("empty", b""),
        ("break-only", BREAK),
        ("random-64", rng.randbytes(64)),
        ("random-4k", rng.randbytes(4096)),
        ("truncated-map", head(MAP, 5) + text("v")),
    ]


def all_inputs(budget: int, scale: Scale) -> Iterator[tuple[str, bytes]]:
    """Every crafted input that fits ``budget`` bytes, with a name for failure messages."""
    depth = scale.sharing_depth
    candidates: list[tuple[str, bytes]] = [
        ("shared-list-chain", shared_list_chain(depth)),
        ("shared-map-chain", shared_map_chain(depth)),
        ("shared-nested-chain", shared_nested_chain(depth)),
        (
            "shared-in-field",
            canonical_map(
                {"t": text("get-blocks"), "v": head(UINT, 1), "cids": shared_list_chain(depth)}
            ),
        ),
        ("stringref", stringref_bomb(budget, scale.stringref_bytes)),
        (
            "stringref-in-field",
            canonical_map(
                {
                    "t": text("get-blocks"),
                    "v": head(UINT, 1),
                    "cids": stringref_bomb(budget - 64, scale.stringref_bytes),
                }
            ),
        ),
        ("embedded-shared-chain", embedded_cbor_bomb(shared_list_chain(depth))),
        ("bignum", bignum(budget)),
        *extreme_exponents(),
        *other_tags(),
        ("deep-arrays", deep_arrays(budget)),
        ("deep-maps", deep_maps(budget)),
        ("deep-indefinite", deep_indefinite(budget)),
        ("deep-tags", deep_tags(budget)),
        *huge_lengths(),
        *indefinite_lengths(budget),
        *non_canonical(),
        *junk(),
    ]
    for name, data in candidates:
        if len(data) <= budget:
            yield name, data
