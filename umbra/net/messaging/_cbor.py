"""Hand-assembled canonical DAG-CBOR for the few fixed shapes encoded on every message.

The session layer encodes a wire message and a session record per message; the generic
`encode_fast` walks every value with type checks, which was a third of the per-message cost.
Here each shape is assembled from constant key bytes and `cbor_bytes` / `cbor_uint` heads.
The output is byte-identical to `encode_canonical` of the same map (tests compare them), so
the format and its strict parsing do not change.
"""

_MAJOR_UINT = 0
_MAJOR_BYTES = 2 << 5
_MAX_UINT = 2**64 - 1

NULL = b"\xf6"
TRUE = b"\xf5"
FALSE = b"\xf4"


def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes((major | n,))
    if n < 0x100:
        return bytes((major | 24, n))
    if n < 0x10000:
        return bytes((major | 25,)) + n.to_bytes(2, "big")
    if n < 0x100000000:
        return bytes((major | 26,)) + n.to_bytes(4, "big")
    if n <= _MAX_UINT:
        return bytes((major | 27,)) + n.to_bytes(8, "big")
    raise ValueError("integer out of range")


def cbor_uint(n: int) -> bytes:
    if n < 0:
        raise ValueError("negative integer")
    return _head(_MAJOR_UINT, n)


def cbor_bytes(value: bytes) -> bytes:
    return _head(_MAJOR_BYTES, len(value)) + value


def cbor_bool(value: bool) -> bytes:
    return TRUE if value else FALSE


def cbor_array_head(count: int) -> bytes:
    return _head(4 << 5, count)


def cbor_key(name: str) -> bytes:
    """A text map key (call once, keep the result)."""
    raw = name.encode()
    return _head(3 << 5, len(raw)) + raw


def cbor_map_head(count: int) -> bytes:
    return _head(5 << 5, count)
