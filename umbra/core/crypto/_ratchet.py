"""Double Ratchet sessions: the `doubleratchet` package, configured and wrapped for Umbra.

What the package gives: the ratchets, skipped-key handling, state (de)serialization. What this
module adds: the algorithm choices (below), one error type per outcome, a synchronous API (the
package's coroutines never suspend, see `run_sync`), padding, and a record of the peer's recent
ratchet keys so that a replayed message is reported as a replay.

Algorithms (all keys single-use, so nonces can be derived from them):

- DH ratchet: X25519 (libsodium). Root chain: HKDF-SHA256, info ``MSG_ROOT_CHAIN``.
- Message chains: HMAC-SHA256(ck, 0x01) = message key, HMAC-SHA256(ck, 0x02) = next chain key
  (Signal's recommendation).
- AEAD: HKDF-SHA256(message key, info ``MSG_AEAD``) → 32-byte key ‖ 24-byte nonce, then
  XChaCha20-Poly1305 (libsodium, constant-time tag check). The associated data is
  ``len(ad) ‖ ad ‖ ratchet_pub ‖ pn ‖ n`` with fixed-width big-endian integers.
- Plaintexts are padded (0x80, then zeros) to a multiple of `PAD_BLOCK` bytes so sizes leak
  only coarsely.

Limits: at most `MAX_SKIPPED_KEYS` message keys are derived for one incoming message and at
most that many are kept (oldest dropped first). A message that would need more skips on the
current chain is rejected with `SkippedKeyLimit`. On a DH ratchet step, the package
deliberately does not derive the finished chain's keys when more than the limit are missing
(those messages are lost, the session keeps working); we keep that behaviour.

Version pin: the fast `__deepcopy__` and the state codec below rely on doubleratchet 1.3.0's
object layout (only bytes/ints/types plus `KDFChain`/`SymmetricKeyRatchet` objects, and its
private attribute names); tests check both against the package's own pydantic model.

State (`to_bytes`, saved after every message) is version 2: the ratchet's fields read
directly and encoded as one small CBOR map, about 10x cheaper than the package's pydantic
model dumped to JSON (version 1, still read).
"""

import contextlib
import functools
import hmac
import json
import warnings
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Self, TypeVar

import doubleratchet
import nacl.bindings
import nacl.exceptions
import nacl.utils
from doubleratchet.kdf_chain import KDFChain
from doubleratchet.models import (
    DiffieHellmanRatchetModel,
    DoubleRatchetModel,
    KDFChainModel,
    SkippedMessageKeyModel,
    SymmetricKeyRatchetModel,
)
from doubleratchet.recommended import kdf_hkdf
from doubleratchet.recommended.crypto_provider import HashFunction
from doubleratchet.symmetric_key_ratchet import SymmetricKeyRatchet

from .._errors import InvalidDocument, UsageError
from .._fast_cbor import cbor_head, decode_fast, encode_fast
from . import _tags

MAX_SKIPPED_KEYS = 1000
PAD_BLOCK = 256
MAX_PLAINTEXT_BYTES = 60_000
MAX_CIPHERTEXT_BYTES = MAX_PLAINTEXT_BYTES + PAD_BLOCK + 16
MAX_CHAIN_INDEX = 2**32 - 1
# How many of the peer's ratchet public keys we remember, to tell replays from forgeries.
_REMEMBERED_PEER_CHAINS = 16
_STATE_VERSION = 2  # 1: the package's JSON model (read only)
_STATE_KEYS = {"v", "dr", "ad", "chains"}
_MAX_STATE_BYTES = 1 << 20
_KEY_BYTES = 32
_TAG_BYTES = 16

T = TypeVar("T")


# -- errors ------------------------------------------------------------------------------------


class UndecryptableMessage(InvalidDocument):
    """The message failed to decrypt: damaged, forged, or not for this session. No detail."""

    def __init__(self, detail: str = "the message could not be decrypted") -> None:
        super().__init__("undecryptable", detail)


class ReplayedMessage(InvalidDocument):
    """The message was already received (or its key already discarded); not delivered again."""

    def __init__(self) -> None:
        super().__init__("replayed", "this message was already received; it is not delivered again")


class SkippedKeyLimit(InvalidDocument):
    """Decrypting would need more skipped message keys than `MAX_SKIPPED_KEYS`."""

    def __init__(self) -> None:
        super().__init__(
            "too-many-skipped",
            f"the message is more than {MAX_SKIPPED_KEYS} messages ahead of the conversation",
        )


# -- driving the package's coroutines ----------------------------------------------------------


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine of doubleratchet/x3dh to completion without an event loop.

    Their coroutines only wrap synchronous crypto and never await anything that suspends, so
    one ``send(None)`` finishes them; this keeps the session layer sans-IO (no trio, no
    asyncio) and callable from any thread.
    """
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a crypto coroutine suspended; the package version is not supported")


# -- the package's extension points ------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _x25519_public(priv: bytes) -> bytes:
    return nacl.bindings.crypto_scalarmult_base(priv)


def _hkdf_sha256(key_material: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF-SHA256 with an all-zero salt (stdlib HMAC: cheap for short outputs)."""
    prk = hmac.digest(b"\x00" * 32, key_material, "sha256")
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.digest(prk, block + info + bytes([counter]), "sha256")
        out += block
        counter += 1
    return out[:length]


def _clone(obj: Any) -> Any:
    new = object.__new__(type(obj))
    for name, value in vars(obj).items():
        setattr(new, name, _clone(value) if isinstance(value, _MUTABLE_PARTS) else value)
    return new


_MUTABLE_PARTS = (KDFChain, SymmetricKeyRatchet)


class _DhRatchet(doubleratchet.DiffieHellmanRatchet):
    @staticmethod
    def _generate_priv() -> bytes:
        return nacl.utils.random(_KEY_BYTES)

    @staticmethod
    def _derive_pub(priv: bytes) -> bytes:
        # Called for every outgoing header; a cache avoids one scalar multiplication each.
        return _x25519_public(priv)

    @staticmethod
    def _perform_diffie_hellman(own_priv: bytes, other_pub: bytes) -> bytes:
        # libsodium rejects an all-zero result (low-order peer key); the caller maps the error.
        return nacl.bindings.crypto_scalarmult(own_priv, other_pub)

    def __deepcopy__(self, memo: dict[int, Any]) -> "_DhRatchet":
        # DoubleRatchet.decrypt_message clones the DH ratchet for every message so that a
        # failure leaves no trace; copy.deepcopy of it costs ~0.4 ms, this ~15 µs.
        clone: _DhRatchet = _clone(self)
        return clone


class _RootChainKdf(kdf_hkdf.KDF):
    @staticmethod
    def _get_hash_function() -> HashFunction:
        return HashFunction.SHA_256

    @staticmethod
    def _get_info() -> bytes:
        return _tags.MSG_ROOT_CHAIN


class _MessageChainKdf(doubleratchet.KDF):
    """Signal's chain KDF: one HMAC-SHA256 per byte of the constant (0x01, 0x02)."""

    @staticmethod
    async def derive(key: bytes, data: bytes, length: int) -> bytes:
        if length != 32 * len(data):
            raise ValueError("the message chain KDF derives 32 bytes per constant byte")
        return b"".join(hmac.digest(key, data[i : i + 1], "sha256") for i in range(len(data)))


class _Aead(doubleratchet.AEAD):
    @staticmethod
    def _key_and_nonce(message_key: bytes) -> tuple[bytes, bytes]:
        okm = _hkdf_sha256(message_key, _tags.MSG_AEAD, 32 + 24)
        return okm[:32], okm[32:]

    @staticmethod
    async def encrypt(plaintext: bytes, key: bytes, associated_data: bytes) -> bytes:
        k, nonce = _Aead._key_and_nonce(key)
        return nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
            plaintext, associated_data, nonce, k
        )

    @staticmethod
    async def decrypt(ciphertext: bytes, key: bytes, associated_data: bytes) -> bytes:
        k, nonce = _Aead._key_and_nonce(key)
        try:
            return nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
                ciphertext, associated_data, nonce, k
            )
        except nacl.exceptions.CryptoError as exc:
            raise doubleratchet.AuthenticationFailedException("authentication failed") from exc


class _DoubleRatchet(doubleratchet.DoubleRatchet):
    @staticmethod
    def _build_associated_data(associated_data: bytes, header: doubleratchet.Header) -> bytes:
        return (
            len(associated_data).to_bytes(4, "big")
            + associated_data
            + header.ratchet_pub
            + header.previous_sending_chain_length.to_bytes(8, "big")
            + header.sending_chain_length.to_bytes(8, "big")
        )


_CONFIG: dict[str, Any] = {
    "diffie_hellman_ratchet_class": _DhRatchet,
    "root_chain_kdf": _RootChainKdf,
    "message_chain_kdf": _MessageChainKdf,
    "message_chain_constant": b"\x01\x02",
    "dos_protection_threshold": MAX_SKIPPED_KEYS,
    "max_num_skipped_message_keys": MAX_SKIPPED_KEYS,
    "aead": _Aead,
}


# -- state codec (see the module docstring) ----------------------------------------------------


def _enc(value: Any) -> bytes:
    """Canonical CBOR of the state's parts (bytes, uints, None, lists): `encode_fast` without
    its generality, because the state is encoded after every message."""
    if type(value) is bytes:
        return cbor_head(2, len(value)) + value
    if type(value) is int and value >= 0:
        return cbor_head(0, value)
    if value is None:
        return b"\xf6"
    if type(value) is list:
        return cbor_head(4, len(value)) + b"".join(map(_enc, value))
    return encode_fast(value)  # not produced by `_dump_state`; kept correct anyway


# Canonical key order: "v", "ad", "dr", "chains" (shorter first, then bytewise).
_STATE_HEAD = b"\xa4\x61v" + cbor_head(0, _STATE_VERSION) + b"\x62ad"


def _encode_state_generic(dr: list[Any], ad: bytes, chains: list[bytes]) -> bytes:
    return b"".join((_STATE_HEAD, _enc(ad), b"\x62dr", _enc(dr), b"\x66chains", _enc(chains)))


_B32 = cbor_head(2, _KEY_BYTES)  # the head of every key and chain key
_DR_HEAD = b"\x62dr" + cbor_head(4, 7)
_PAIR, _TRIPLE = cbor_head(4, 2), cbor_head(4, 3)


def _bstr(value: bytes) -> bytes:
    return (_B32 if len(value) == _KEY_BYTES else cbor_head(2, len(value))) + value


def _encode_chains(chains: list[bytes]) -> bytes:
    """The ``"chains"`` key and value of the state. Raises: TypeError (not a list of bytes)."""
    if type(chains) is not list or not all(type(c) is bytes for c in chains):
        raise TypeError("the peer chains are a list of bytes")
    return b"".join([b"\x66chains", cbor_head(4, len(chains)), *map(_bstr, chains)])


def _encode_state(
    dr: list[Any], ad: bytes, chains: list[bytes], encoded_chains: bytes | None = None
) -> bytes:
    """`_encode_state_generic`, written out for the state's one shape: the generic walk was
    half the cost of a save, which runs after every message. The same bytes (a property test
    compares them); a value of another type or shape (never produced by `_dump_state`) takes
    the generic path. ``encoded_chains``, if given, is `_encode_chains(chains)` (the peer's
    last 16 ratchet keys change only on a DH step, so a session keeps their encoding).
    """
    try:
        own, other, root, receiving, sending, previous, skipped = dr
        ok = type(ad) is bytes and type(own) is bytes and type(other) is bytes
        parts = [_STATE_HEAD, _bstr(ad), _DR_HEAD, _bstr(own), _bstr(other)]
        for chain in (root, receiving, sending):
            if chain is None:
                parts.append(b"\xf6")
            else:
                key, length = chain
                ok = ok and type(chain) is list and type(key) is bytes and type(length) is int
                parts += (_PAIR, _bstr(key), cbor_head(0, length))
        ok = ok and (previous is None or type(previous) is int) and type(skipped) is list
        parts.append(b"\xf6" if previous is None else cbor_head(0, previous))
        parts.append(cbor_head(4, len(skipped)))
        for entry in skipped:
            pub, index, key = entry
            ok = ok and type(entry) is list and type(pub) is bytes and type(index) is int
            ok = ok and type(key) is bytes
            parts += (_TRIPLE, _bstr(pub), cbor_head(0, index), _bstr(key))
        parts.append(_encode_chains(chains) if encoded_chains is None else encoded_chains)
    except (TypeError, ValueError, InvalidDocument):  # e.g. a negative or huge integer
        ok = False
    if not ok:
        return _encode_state_generic(dr, ad, chains)
    return b"".join(parts)


def _dump_chain(chain: KDFChain | None) -> list[Any] | None:
    if chain is None:
        return None
    return [vars(chain)["_KDFChain__key"], vars(chain)["_KDFChain__length"]]


def _dump_state(dr: "_DoubleRatchet") -> list[Any]:
    """The ratchet's whole state as a list of bytes/ints (what its pydantic model holds)."""
    dh = vars(dr)["_DoubleRatchet__diffie_hellman_ratchet"]
    skr = vars(dh)["_DiffieHellmanRatchet__symmetric_key_ratchet"]
    skipped = vars(dr)["_DoubleRatchet__skipped_message_keys"]
    return [
        vars(dh)["_DiffieHellmanRatchet__own_ratchet_priv"],
        vars(dh)["_DiffieHellmanRatchet__other_ratchet_pub"],
        _dump_chain(vars(dh)["_DiffieHellmanRatchet__root_chain"]),
        _dump_chain(vars(skr)["_SymmetricKeyRatchet__receiving_chain"]),
        _dump_chain(vars(skr)["_SymmetricKeyRatchet__sending_chain"]),
        vars(skr)["_SymmetricKeyRatchet__previous_sending_chain_length"],
        [[pub, index, key] for (pub, index), key in skipped.items()],
    ]


def _chain_model(obj: Any) -> KDFChainModel | None:
    if obj is None:
        return None
    key, length = obj
    if type(key) is not bytes or type(length) is not int:
        raise ValueError("bad chain")
    return KDFChainModel(key=key, length=length)


def _load_state(obj: Any) -> "_DoubleRatchet":
    """Rebuild a ratchet from `_dump_state` output. Raises: ValueError/TypeError (damaged)."""
    own_priv, other_pub, root, receiving, sending, previous, skipped = obj
    root_model = _chain_model(root)
    if root_model is None:
        raise ValueError("no root chain")
    model = DoubleRatchetModel(
        diffie_hellman_ratchet=DiffieHellmanRatchetModel(
            own_ratchet_priv=own_priv,
            other_ratchet_pub=other_pub,
            root_chain=root_model,
            symmetric_key_ratchet=SymmetricKeyRatchetModel(
                receiving_chain=_chain_model(receiving),
                sending_chain=_chain_model(sending),
                previous_sending_chain_length=previous,
            ),
        ),
        skipped_message_keys=[
            SkippedMessageKeyModel(ratchet_pub=pub, index=index, message_key=key)
            for pub, index, key in skipped
        ],
    )
    return _DoubleRatchet.from_model(model, **_CONFIG)


# -- padding -----------------------------------------------------------------------------------


def _pad(plaintext: bytes) -> bytes:
    padded = plaintext + b"\x80"
    return padded + b"\x00" * (-len(padded) % PAD_BLOCK)


def _unpad(padded: bytes) -> bytes:
    body = padded.rstrip(b"\x00")
    zeros = len(padded) - len(body)
    if not body.endswith(b"\x80") or len(padded) % PAD_BLOCK or zeros >= PAD_BLOCK:
        raise UndecryptableMessage()
    return body[:-1]


# -- the public recipe -------------------------------------------------------------------------


@dataclass(frozen=True)
class RatchetMessage:
    """The Double Ratchet part of a message: header fields and ciphertext."""

    ratchet_public: bytes
    previous_chain_length: int
    index: int
    ciphertext: bytes

    def __post_init__(self) -> None:
        if (
            len(self.ratchet_public) != _KEY_BYTES
            or not 0 <= self.previous_chain_length <= MAX_CHAIN_INDEX
            or not 0 <= self.index <= MAX_CHAIN_INDEX
            or not _TAG_BYTES + PAD_BLOCK <= len(self.ciphertext) <= MAX_CIPHERTEXT_BYTES
        ):
            raise InvalidDocument("bad-ratchet-message", "a ratchet header field is out of range")

    @property
    def _header(self) -> doubleratchet.Header:
        return doubleratchet.Header(self.ratchet_public, self.previous_chain_length, self.index)


def _to_message(encrypted: doubleratchet.EncryptedMessage) -> RatchetMessage:
    h = encrypted.header
    return RatchetMessage(
        h.ratchet_pub, h.previous_sending_chain_length, h.sending_chain_length, encrypted.ciphertext
    )


def _check_plaintext(plaintext: bytes) -> None:
    if len(plaintext) > MAX_PLAINTEXT_BYTES:
        raise UsageError(f"a message is at most {MAX_PLAINTEXT_BYTES} bytes")


class RatchetSession:
    """One Double Ratchet session. Mutable: every encrypt/decrypt advances it.

    Save `to_bytes()` after every call that succeeded *before* acting on its result (sending
    the ciphertext, showing the plaintext): a session restored from an older state would
    reuse message keys. A call that raises leaves the session unchanged.
    """

    def __init__(self, ratchet: _DoubleRatchet, associated_data: bytes, peer_chains: list[bytes]):
        self._dr = ratchet
        self._ad = associated_data
        self._peer_chains = peer_chains
        self._saved: bytes | None = None
        self._chains_cbor: bytes | None = None  # `_encode_chains(peer_chains)`, kept

    @classmethod
    def initiate(
        cls, root_key: bytes, peer_ratchet_public: bytes, associated_data: bytes, plaintext: bytes
    ) -> tuple[Self, RatchetMessage]:
        """Start as the X3DH initiator: the peer's signed prekey is its first ratchet key."""
        _check_plaintext(plaintext)
        dr, encrypted = run_sync(
            _DoubleRatchet.encrypt_initial_message(
                shared_secret=root_key,
                recipient_ratchet_pub=peer_ratchet_public,
                message=_pad(plaintext),
                associated_data=associated_data,
                **_CONFIG,
            )
        )
        return cls(dr, associated_data, []), _to_message(encrypted)

    @classmethod
    def accept(
        cls,
        root_key: bytes,
        own_ratchet_private: bytes,
        associated_data: bytes,
        message: RatchetMessage,
    ) -> tuple[Self, bytes]:
        """Start as the X3DH responder from the first message that reached us (any index).

        Raises:
            UndecryptableMessage, SkippedKeyLimit
        """
        try:
            dr, padded = run_sync(
                _DoubleRatchet.decrypt_initial_message(
                    shared_secret=root_key,
                    own_ratchet_priv=own_ratchet_private,
                    message=doubleratchet.EncryptedMessage(message._header, message.ciphertext),
                    associated_data=associated_data,
                    **_CONFIG,
                )
            )
        except doubleratchet.DoSProtectionException:
            raise SkippedKeyLimit() from None
        # Hostile input into third-party code: anything else it raises means "undecryptable".
        except Exception as exc:
            raise UndecryptableMessage() from exc
        return cls(dr, associated_data, [message.ratchet_public]), _unpad(padded)

    def encrypt(self, plaintext: bytes) -> RatchetMessage:
        _check_plaintext(plaintext)
        encrypted = run_sync(self._dr.encrypt_message(_pad(plaintext), self._ad))
        self._saved = None
        return _to_message(encrypted)

    def decrypt(self, message: RatchetMessage) -> bytes:
        """Decrypt and advance; on any error the session is unchanged.

        Raises:
            ReplayedMessage: already decrypted (or its key was dropped under the limits).
            SkippedKeyLimit: too far ahead on the current chain.
            UndecryptableMessage: anything else (tampered, forged, wrong session).
        """
        pub, chains = message.ratchet_public, self._peer_chains
        if pub in chains[:-1] and not self._has_skipped_key(pub, message.index):
            raise ReplayedMessage()  # an older chain of the peer, and this key is used up
        new_chain = pub not in chains
        receiving = self._dr.receiving_chain_length
        too_many_behind = (
            new_chain
            and receiving is not None
            and message.previous_chain_length - receiving > MAX_SKIPPED_KEYS
        )
        try:
            # Only then does the package warn (and drop those keys, see the module doc);
            # entering catch_warnings on every message would cost more than the AEAD.
            with warnings.catch_warnings() if too_many_behind else contextlib.nullcontext():
                if too_many_behind:
                    warnings.simplefilter("ignore")
                padded = run_sync(
                    self._dr.decrypt_message(
                        doubleratchet.EncryptedMessage(message._header, message.ciphertext),
                        self._ad,
                    )
                )
        except doubleratchet.DuplicateMessageException:
            raise ReplayedMessage() from None
        except doubleratchet.DoSProtectionException:
            raise SkippedKeyLimit() from None
        except Exception as exc:  # hostile input into third-party code (see `accept`)
            raise UndecryptableMessage() from exc
        plaintext = _unpad(padded)  # authenticated, so only a buggy peer gets here wrong
        if new_chain:
            chains.append(pub)
            del chains[:-_REMEMBERED_PEER_CHAINS]
            self._chains_cbor = None
        self._saved = None
        return plaintext

    def _has_skipped_key(self, pub: bytes, index: int) -> bool:
        return any(
            k.ratchet_pub == pub and k.index == index for k in self._dr.model.skipped_message_keys
        )

    @property
    def skipped_key_count(self) -> int:
        return len(self._dr.model.skipped_message_keys)

    # -- state -------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The full session state (secret!), canonical DAG-CBOR, versioned."""
        if self._saved is None:
            chains = self._peer_chains
            if self._chains_cbor is None:
                with contextlib.suppress(TypeError):  # odd values: `_encode_state` copes
                    self._chains_cbor = _encode_chains(chains)
            self._saved = _encode_state(_dump_state(self._dr), self._ad, chains, self._chains_cbor)
        return self._saved

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Restore `to_bytes` output (ours, read back from the encrypted store).

        Raises:
            InvalidDocument: the bytes are not a session state of a known version.
        """
        obj = decode_fast(data, max_size=_MAX_STATE_BYTES)
        if not isinstance(obj, dict) or set(obj) != _STATE_KEYS:
            raise InvalidDocument("bad-session-state", "not a ratchet session state")
        if obj["v"] not in (1, _STATE_VERSION) or type(obj["v"]) is not int:
            raise InvalidDocument("bad-session-state", f"unknown session state version {obj['v']}")
        try:
            if obj["v"] == 1:
                dr = _DoubleRatchet.from_json(json.loads(obj["dr"]), **_CONFIG)
            else:
                dr = _load_state(obj["dr"])
        except Exception as exc:  # pydantic / json / unpacking errors on a damaged record
            raise InvalidDocument("bad-session-state", "the ratchet state is damaged") from exc
        chains = obj["chains"]
        # Exact types: bytes(n) of an integer n would allocate n bytes.
        if (
            type(obj["ad"]) is not bytes
            or type(chains) is not list
            or not all(type(c) is bytes for c in chains)
        ):
            raise InvalidDocument("bad-session-state", "the ratchet state is damaged")
        session = cls(dr, obj["ad"], list(chains))
        session._saved = data if obj["v"] == _STATE_VERSION else None
        return session
