"""An IPFS node fetches a listing from a real `umbra node` over Bitswap, by CID.

The IPFS node is Helia (js-libp2p + @helia/bitswap, the versions pinned in
tests/interop/helia/package-lock.json, on npm's Node 22), run by
tests/interop/helia/fetch_blocks.mjs: it dials the Umbra node's TCP address (Noise, yamux,
identify; no DHT, no gateway, so the Umbra node is its only source), asks for blocks by CID
and prints what it got. Pinned here: the listing document, the catalog and both image blocks
come back byte for byte and hash to their CIDs; a block Umbra does not hold and a block it
holds but no catalog names (a private one) never come back; the node survives it all and
still serves afterwards.

`scripts/bootstrap.sh test` installs the Helia packages (tests/interop/helia/install.sh into
``.venv/interop/``); if they are missing, the fixture installs them. Without npm the test is
skipped with the reason, like the other tiers' missing tools; with npm but no registry it fails
with npm's error. Cost: ~45 s (one node, two Helia runs) once the packages are installed
(the first install: ~25 s more).
"""

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.support.helia import fetch_blocks, helia_dir
from umbra import store
from umbra.core import compute_cid, parse_listing
from umbra.market import SellerCatalog

from .cluster import PASSPHRASE, NodeProc

pytestmark = pytest.mark.network

FOUND_MS = 30_000  # a generous deadline for blocks Umbra serves (they take milliseconds)
MISSING_MS = 4_000  # how long Helia waits for a block that must not come


@pytest.fixture(scope="module")
def helia(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return helia_dir(tmp_path_factory.mktemp("helia"))


def _image(seed: int) -> bytes:
    picture = Image.new("RGB", (480, 320))
    picture.putdata([((x * seed) % 256, (x // 480 * 7) % 256, seed) for x in range(480 * 320)])
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def seller(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProc]:
    root = tmp_path_factory.mktemp("bitswap")
    node = NodeProc("seller", "127.0.12.1", root)
    node.create_profile()
    photo = root / "lamp.png"
    photo.write_bytes(_image(3))
    node.run(
        "listing", "create", "--title", "Brass desk lamp", "--price", "0.4",
        "--category", "home", "--ships-from", "DE", "--image", str(photo),
        "--description", "A brass desk lamp with a green shade.",
    )  # fmt: skip
    try:
        node.start()
        yield node
    finally:
        node.stop()


def test_helia_fetches_the_listing_catalog_and_images_but_nothing_private(
    helia: Path, seller: NodeProc
) -> None:
    with store.open_profile(seller.data_dir, seller.name, PASSPHRASE) as profile:
        catalog = SellerCatalog(profile).current_catalog()
        assert catalog is not None
        (listing_cid,) = catalog.body.listings
        listing = parse_listing(profile.blocks.get(listing_cid) or b"", expected_cid=listing_cid)
        (image,) = listing.body.images
        public = {
            str(cid): profile.blocks.get(cid)
            for cid in (listing_cid, catalog.cid, image.thumb, image.full)
        }
        # In the block store but named by no catalog: what a private block would be (dispute
        # evidence, say). Stored while the node runs, as a later feature would.
        private = str(profile.blocks.put(b"evidence for the arbiter only", "raw"))
    absent = str(compute_cid(b"a block nobody stored", "raw"))
    assert all(data is not None for data in public.values())

    got = fetch_blocks(
        helia,
        seller.addrs[0],
        [*((cid, FOUND_MS) for cid in public), (private, MISSING_MS), (absent, MISSING_MS)],
    )

    assert "/ipfs/bitswap/1.2.0" in got["done"]["protocols"]  # identify announced it
    print("Helia's fetch times (ms):", {cid[:16]: got[cid].get("ms") for cid in public})
    for cid, data in public.items():
        assert got[cid]["ok"], f"Helia did not get {cid}: {got[cid].get('error')}"
        received = base64.b64decode(got[cid]["data"])
        assert received == data
        codec = "raw" if cid.startswith("bafkrei") else "dag-cbor"
        assert str(compute_cid(received, codec)) == cid
    for cid in (private, absent):
        assert not got[cid]["ok"], f"Helia got {cid}, which must not be served"
        assert got[cid]["error"].startswith("LoadBlockFailedError"), got[cid]["error"]

    # The node lived through it and serves the next IPFS node just the same.
    assert seller.proc is not None and seller.proc.poll() is None
    again = fetch_blocks(helia, seller.addrs[0], [(str(listing_cid), FOUND_MS)])
    assert base64.b64decode(again[str(listing_cid)]["data"]) == public[str(listing_cid)]
    assert seller.run("status")["running"]
    assert "Traceback" not in seller.log_path.read_text()
