"""Reading a stored listing (own or synced) back from the block store, verified."""

from multiformats import CID

from umbra.core import InvalidDocument, SignedListing, parse_listing
from umbra.store import Profile


def stored_listing(profile: Profile, cid: CID) -> SignedListing | None:
    """The verified listing stored under ``cid``, or None if it is absent or not a listing.

    Bytes in the store are re-verified against the CID and signature on every read, so a
    damaged or foreign block is never shown as a listing.
    """
    if cid.codec.name != "dag-cbor":
        return None
    data = profile.blocks.get(cid)
    if data is None:
        return None
    try:
        return parse_listing(data, expected_cid=cid)
    except InvalidDocument:
        return None
