"""Catalog sync from several sources with real nodes on 127.0.0.12x: a source that accepts
the request and never answers is hedged (its share asked of another source long before the
request deadline), one that sends a block not matching its CID is struck and dropped, and
the sync completes from the honest seller.

The reader's request deadline is set to 120 s: a sync that waited for the stalling source
would outlast the 60 s hang detection, which is the only time limit here.
"""

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import multiaddr
import pytest
import trio
from libp2p import new_host
from libp2p.abc import IHost, INetStream
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.peerinfo import info_from_p2p_addr
from PIL import Image

from umbra.market import ListingDraft
from umbra.net import (
    CLEARNET,
    SYNC_PROTOCOL_ID,
    NetLimits,
    NodeConfig,
    noise_only_security,
    yamux_only,
)
from umbra.net._wire import Block, BlocksRequest, End, FrameDecoder, encode_frame

from .conftest import draft, hits, nodes

pytestmark = pytest.mark.network

LISTINGS = 6


def _photo(i: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (40 * i, 200 - 30 * i, 90)).save(out, "PNG")
    return out.getvalue()


@asynccontextmanager
async def _source(ip: str, behaviour: str, seen: list[int]) -> AsyncIterator[IHost]:
    """A peer that speaks the sync protocol badly: it reads the request, then ``stall``s (never
    answers) or ``lie``s (a block whose bytes do not hash to the CID asked for)."""
    key_pair = create_new_key_pair()
    host = new_host(
        key_pair=key_pair, sec_opt=noise_only_security(key_pair), muxer_opt=yamux_only()
    )

    async def handle(stream: INetStream) -> None:
        decoder = FrameDecoder(max_frame_bytes=NetLimits().max_frame_bytes)
        request = None
        while request is None:
            decoder.feed(await stream.read(65536))
            request = decoder.next_message()
        assert isinstance(request, BlocksRequest)
        seen.append(len(request.cids))
        if behaviour == "stall":
            await trio.sleep_forever()
        await stream.write(encode_frame(Block(request.cids[0], b"not these bytes")))
        await stream.write(encode_frame(End()))
        await stream.close()

    host.set_stream_handler(TProtocol(SYNC_PROTOCOL_ID), handle)
    async with host.run([multiaddr.Multiaddr(f"/ip4/{ip}/tcp/0")]):
        yield host


def test_sync_hedges_a_stalling_source_and_drops_a_lying_one(tmp_path: Path) -> None:
    def config(i: int) -> NodeConfig:
        return NodeConfig(
            network=CLEARNET,
            listen=(f"/ip4/127.0.0.{120 + i}/tcp/0",),
            status_interval=0.5,
            head_exchange=False,  # the reader hears of the head only from the test
            limits=NetLimits(request_timeout=120.0),
        )

    async def main() -> None:
        stalled: list[int] = []
        lied: list[int] = []
        async with (
            nodes(tmp_path, 2, config=config) as [(reader, profile, _), (seller, _, catalog)],
            _source("127.0.0.123", "stall", stalled) as staller,
            _source("127.0.0.124", "lie", lied) as liar,
        ):
            for i in range(LISTINGS):
                item = ListingDraft(**{**draft(f"Swarm lamp {i}").__dict__, "images": (_photo(i),)})
                await trio.to_thread.run_sync(catalog.create, item, limiter=seller.db_limiter)
            current = await trio.to_thread.run_sync(
                catalog.current_catalog, limiter=seller.db_limiter
            )
            assert current is not None
            with trio.fail_after(60):
                while seller._own_head is None or seller._own_head.body.seq < current.body.seq:
                    await trio.sleep(0.05)
            reader_info = info_from_p2p_addr(multiaddr.Multiaddr(reader.addrs[0]))
            for bad in (staller, liar):
                with trio.fail_after(30):
                    await bad.connect(reader_info)
            seller_info = info_from_p2p_addr(multiaddr.Multiaddr(seller.addrs[0]))
            reader.host.get_peerstore().add_addrs(seller_info.peer_id, seller_info.addrs, 3600)

            # The stalling source first, then the liar, then the seller: the order sources
            # are tried in.
            sources = [staller.get_id(), liar.get_id(), seller_info.peer_id]
            assert reader.offer_head(seller._own_head.data, sources, via=None)
            with trio.fail_after(60):  # hang detection: the stalled request would take 120 s
                await reader.wait_synced(seller._own_head.body.seller, current.body.seq)

            assert len(hits(profile, "swarm lamp")) == LISTINGS
            own = await trio.to_thread.run_sync(catalog.own_listings, limiter=seller.db_limiter)
            assert len(own) == LISTINGS
            assert all(profile.blocks.has(item.body.images[0].thumb) for item in own)
            # Each bad source was asked once (the catalog), then never again in this sync: one
            # fetch plans the catalog and the listings, so a dropped or slow source stays so.
            assert stalled == [1] and lied == [1]
            assert reader._request_limits._strikes.get(str(liar.get_id())) == 1
            assert reader._client is not None
            assert reader._client.wait(staller.get_id()) > 0  # backed off after stalling

    trio.run(main)
