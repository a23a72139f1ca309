"""Hand-assembled canonical DAG-CBOR for the few fixed shapes encoded on every message.

The session layer encodes a wire message and a session record per message; the generic
`encode_fast` walks every value with type checks, which was a third of the per-message cost.
Here each shape is assembled from constant key bytes and `cbor_bytes` / `cbor_uint` heads.
The output is byte-identical to `encode_canonical` of the same map (tests compare them), so
the format and its strict parsing do not change.
"""

from umbra.core import cbor_head

NULL = b"\xf6"
TRUE = b"\xf5"
FALSE = b"\xf4"


def cbor_uint(n: int) -> bytes:
    if n < 0:
        raise ValueError("negative integer")
    return cbor_head(0, n)


def cbor_bytes(value: bytes) -> bytes:
    return cbor_head(2, len(value)) + value


def cbor_bool(value: bool) -> bytes:
    return TRUE if value else FALSE


def cbor_array_head(count: int) -> bytes:
    return cbor_head(4, count)


def cbor_key(name: str) -> bytes:
    """A text map key (call once, keep the result)."""
    raw = name.encode()
    return cbor_head(3, len(raw)) + raw


def cbor_map_head(count: int) -> bytes:
    return cbor_head(5, count)
