import pytest

from umbra.core import MAX_BLOCK_BYTES, InvalidDocument, UsageError, compute_cid, encode_canonical
from umbra.store import MAX_DOCUMENT_BLOCK_BYTES, BlockStore


def test_put_get_has_delete(blocks: BlockStore) -> None:
    cid = blocks.put(b"hello", "raw")
    assert cid == compute_cid(b"hello", "raw")
    assert blocks.has(cid) and blocks.has(str(cid))
    assert blocks.get(cid) == b"hello"
    assert blocks.get(str(cid)) == b"hello"
    assert blocks.count() == 1 and blocks.size() == 5
    assert blocks.delete(cid) is True
    assert blocks.delete(cid) is False
    assert blocks.get(cid) is None and not blocks.has(cid)
    assert blocks.count() == 0 and blocks.size() == 0


def test_put_is_idempotent(blocks: BlockStore) -> None:
    document = encode_canonical({"a": 1})
    assert blocks.put(document, "dag-cbor") == blocks.put(document, "dag-cbor")
    assert blocks.count() == 1


def test_cids_are_stored_as_base32_text(blocks: BlockStore) -> None:
    cid = blocks.put(b"x", "raw")
    base58 = cid.set(base="base58btc")
    assert str(base58) != str(cid)
    assert blocks.get(base58) == b"x"
    assert blocks.get(str(base58)) == b"x"


def test_put_verified_accepts_matching_bytes(blocks: BlockStore) -> None:
    data = encode_canonical({"k": "v"})
    cid = compute_cid(data, "dag-cbor")
    assert blocks.put_verified(str(cid), data) == cid
    assert blocks.get(cid) == data


def test_put_verified_rejects_mismatch(blocks: BlockStore) -> None:
    cid = compute_cid(b"one", "raw")
    with pytest.raises(InvalidDocument, match="cid-mismatch"):
        blocks.put_verified(cid, b"two")
    assert blocks.count() == 0


def test_size_caps(blocks: BlockStore) -> None:
    big_image = b"\0" * (MAX_BLOCK_BYTES + 1)
    with pytest.raises(InvalidDocument, match="oversize"):
        blocks.put_verified(compute_cid(big_image, "raw"), big_image)
    with pytest.raises(UsageError):
        blocks.put(big_image, "raw")
    big_document = b"\0" * (MAX_DOCUMENT_BLOCK_BYTES + 1)
    with pytest.raises(InvalidDocument, match="oversize"):
        blocks.put_verified(compute_cid(big_document, "dag-cbor"), big_document)
    image = b"\1" * MAX_BLOCK_BYTES  # exactly at the cap is fine
    blocks.put_verified(compute_cid(image, "raw"), image)
    assert blocks.size() == MAX_BLOCK_BYTES


@pytest.mark.parametrize("text", ["", "not a cid", "Qm" + "1" * 44, "bafy!!!"])
def test_bad_cid_text(blocks: BlockStore, text: str) -> None:
    with pytest.raises(InvalidDocument):
        blocks.get(text)
    with pytest.raises(InvalidDocument):
        blocks.put_verified(text, b"x")
