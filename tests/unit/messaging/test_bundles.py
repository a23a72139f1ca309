"""Prekey bundles, identity certificates, prekey consumption and rotation."""

import contextlib
import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from umbra.core import BadSignature, InvalidDocument, encode_canonical
from umbra.core.crypto import (
    MAX_BUNDLE_AGE_S,
    ONE_TIME_PREKEYS,
    SIGNED_PREKEY_ROTATION_S,
    IdentityCertificate,
    MessagingIdentity,
    PrekeyBundle,
    SigningKey,
    UndecryptableMessage,
)

from .conftest import NOW


@pytest.fixture
def persona() -> SigningKey:
    return SigningKey(bytes([7]) * 32)


@pytest.fixture
def identity(persona: SigningKey) -> MessagingIdentity:
    return MessagingIdentity.generate(persona, now=NOW)


def test_bundle_round_trip(persona: SigningKey, identity: MessagingIdentity) -> None:
    bundle = identity.signed_bundle(persona, now=NOW)
    data = bundle.to_bytes()
    parsed = PrekeyBundle.parse(data)
    assert parsed == bundle
    assert parsed.persona == persona.public_key
    assert len(parsed.one_time_prekeys) == ONE_TIME_PREKEYS
    assert len(data) < 2048


def test_messaging_keys_are_not_the_persona_keys(
    persona: SigningKey, identity: MessagingIdentity
) -> None:
    cert = identity.certificate
    assert len({cert.persona, cert.identity_key, cert.envelope_key}) == 3


def test_bundle_signed_by_another_persona_is_rejected(identity: MessagingIdentity) -> None:
    with pytest.raises(Exception, match="not the persona"):
        identity.signed_bundle(SigningKey.generate(), now=NOW)


def _resign(bundle: PrekeyBundle, key: SigningKey, **changes: object) -> bytes:
    from umbra.core.crypto import tags

    b = dataclasses.replace(bundle, **changes)  # type: ignore[arg-type]
    body = b._body()
    return encode_canonical(
        {**body, "sig": key.sign(tags.MSG_PREKEY_BUNDLE_SIG, encode_canonical(body))}
    )


def test_forged_certificate_rejected(persona: SigningKey, identity: MessagingIdentity) -> None:
    bundle = identity.signed_bundle(persona, now=NOW)
    # The persona signs the bundle again, but with a certificate for a foreign identity key.
    cert = dataclasses.replace(bundle.certificate, identity_key=bytes(32))
    with pytest.raises(BadSignature):
        PrekeyBundle.parse(_resign(bundle, persona, certificate=cert))


def test_signed_prekey_must_be_signed_by_identity_key(
    persona: SigningKey, identity: MessagingIdentity
) -> None:
    bundle = identity.signed_bundle(persona, now=NOW)
    data = _resign(bundle, persona, signed_prekey=bytes([9]) * 32)
    with pytest.raises(BadSignature):
        PrekeyBundle.parse(data)


def test_bundle_fields_are_checked(persona: SigningKey, identity: MessagingIdentity) -> None:
    bundle = identity.signed_bundle(persona, now=NOW)
    unsorted = tuple(reversed(bundle.one_time_prekeys))
    with pytest.raises(InvalidDocument):
        PrekeyBundle.parse(_resign(bundle, persona, one_time_prekeys=unsorted))
    with pytest.raises(InvalidDocument):
        PrekeyBundle.parse(bundle.to_bytes() + b"\x00")


@settings(max_examples=60, deadline=None)
@given(index=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_any_flipped_byte_in_a_bundle_is_rejected(index: int, flip: int) -> None:
    data = bytearray(_BUNDLE_BYTES)
    data[index % len(data)] ^= flip
    with pytest.raises((InvalidDocument, BadSignature)):
        PrekeyBundle.parse(bytes(data))


_BUNDLE_BYTES = (
    MessagingIdentity.generate(SigningKey(bytes([7]) * 32), now=NOW)
    .signed_bundle(SigningKey(bytes([7]) * 32), now=NOW)
    .to_bytes()
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_bundle_parser_never_crashes(data: bytes) -> None:
    with contextlib.suppress(InvalidDocument, BadSignature):
        PrekeyBundle.parse(data)


def test_bundle_freshness(persona: SigningKey, identity: MessagingIdentity) -> None:
    bundle = identity.signed_bundle(persona, now=NOW)
    bundle.check_fresh_at(NOW + MAX_BUNDLE_AGE_S)
    with pytest.raises(InvalidDocument):
        bundle.check_fresh_at(NOW + MAX_BUNDLE_AGE_S + 1)
    with pytest.raises(InvalidDocument):
        bundle.check_fresh_at(NOW - 3600)


def test_certificate_verify(persona: SigningKey, identity: MessagingIdentity) -> None:
    cert = identity.certificate
    cert.verify()
    again = IdentityCertificate.from_obj(cert.to_obj())
    again.verify()
    with pytest.raises(BadSignature):
        dataclasses.replace(cert, envelope_key=bytes(32)).verify()


def _accept(
    responder: MessagingIdentity, persona: SigningKey, bundle: PrekeyBundle
) -> tuple[bytes, object]:
    initiator = MessagingIdentity.generate(SigningKey.generate(), now=NOW)
    new, first = initiator.initiate(bundle, b"hi")
    _, plaintext = responder.accept(new.header, first)
    return plaintext, new.header


def test_one_time_prekey_consumed_and_replenished(
    persona: SigningKey, identity: MessagingIdentity
) -> None:
    bundle = identity.signed_bundle(persona, now=NOW)
    initiator = MessagingIdentity.generate(SigningKey.generate(), now=NOW)
    new, first = initiator.initiate(bundle, b"hi")
    used = new.header.one_time_prekey
    assert used in bundle.one_time_prekeys
    identity.accept(new.header, first)
    # accept() alone does not burn the prekey (a forged first message could otherwise).
    assert used in identity.signed_bundle(persona, now=NOW).one_time_prekeys
    identity.commit_acceptance(new.header)
    fresh = identity.signed_bundle(persona, now=NOW + 1)
    assert used not in fresh.one_time_prekeys
    assert len(fresh.one_time_prekeys) == ONE_TIME_PREKEYS  # replenished
    # A second initiation that (from a stale bundle copy) picked the same prekey fails.
    late = MessagingIdentity.generate(SigningKey.generate(), now=NOW)
    stale = dataclasses.replace(bundle, one_time_prekeys=(used,))
    new2, first2 = late.initiate(stale, b"hi")
    with pytest.raises(UndecryptableMessage, match="prekey"):
        identity.accept(new2.header, first2)


def test_bundle_without_one_time_prekeys_still_works(
    persona: SigningKey, identity: MessagingIdentity
) -> None:
    bundle = dataclasses.replace(identity.signed_bundle(persona, now=NOW), one_time_prekeys=())
    initiator = MessagingIdentity.generate(SigningKey.generate(), now=NOW)
    new, first = initiator.initiate(bundle, b"3-DH")
    assert new.header.one_time_prekey is None
    assert identity.accept(new.header, first)[1] == b"3-DH"


def test_signed_prekey_rotation_grace_period(
    persona: SigningKey, identity: MessagingIdentity
) -> None:
    old_bundle = identity.signed_bundle(persona, now=NOW)
    assert not identity.rotate_signed_prekey_at(NOW + SIGNED_PREKEY_ROTATION_S - 1)
    assert identity.rotate_signed_prekey_at(NOW + SIGNED_PREKEY_ROTATION_S)
    new_bundle = identity.signed_bundle(persona, now=NOW + SIGNED_PREKEY_ROTATION_S)
    assert new_bundle.signed_prekey != old_bundle.signed_prekey
    # Grace: a bundle from before the rotation is still accepted ...
    assert _accept(identity, persona, old_bundle)[0] == b"hi"
    # ... until the next rotation, which drops that signed prekey.
    assert identity.rotate_signed_prekey_at(NOW + 2 * SIGNED_PREKEY_ROTATION_S)
    with pytest.raises(UndecryptableMessage, match="prekey"):
        _accept(identity, persona, old_bundle)
    assert _accept(identity, persona, new_bundle)[0] == b"hi"


def test_identity_state_round_trip(persona: SigningKey, identity: MessagingIdentity) -> None:
    restored = MessagingIdentity.from_bytes(identity.to_bytes())
    assert restored.certificate == identity.certificate
    assert restored.signed_bundle(persona, now=NOW) == identity.signed_bundle(persona, now=NOW)
    with pytest.raises(InvalidDocument):
        MessagingIdentity.from_bytes(b"\xa0")
