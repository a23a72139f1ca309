"""In-process node fixtures for the network tier (real sockets on 127.0.0.x)."""

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from umbra.core.crypto import Argon2Params
from umbra.market import ListingDraft, SellerCatalog
from umbra.net import CLEARNET, NetLimits, Node, NodeConfig, open_node
from umbra.store import Profile, SearchQuery, create_profile

CHEAP = Argon2Params(time_cost=1, memory_kib=1024, parallelism=1)


def draft(title: str, *, category: str = "electronics", tags: tuple[str, ...] = ()) -> ListingDraft:
    return ListingDraft(
        title=title,
        description=f"{title}, in good order.",
        price=10**12,
        quantity=1,
        category=category,
        condition="used-good",
        ships_from="DE",
        tags=tags,
    )


def hits(profile: Profile, text: str) -> list[str]:
    page = profile.search.search(SearchQuery(text=text, now=int(time.time())))
    return [h.entry.title for h in page.hits]


@asynccontextmanager
async def nodes(
    root: Path,
    count: int,
    *,
    first_ip: int = 30,
    config: Callable[[int], NodeConfig] | None = None,
    limits: NetLimits | None = None,
    adjust: Callable[[int, NodeConfig], NodeConfig] | None = None,
) -> AsyncIterator[list[tuple[Node, Profile, SellerCatalog]]]:
    """``count`` nodes in this process, node 0 the bootstrap of the others.

    ``config`` replaces a node's whole configuration; ``limits`` only its limits; ``adjust``
    changes the configuration made here (e.g. ``dataclasses.replace`` of one field).
    """
    async with AsyncExitStack() as stack:
        out: list[tuple[Node, Profile, SellerCatalog]] = []
        boot: tuple[str, ...] = ()
        for i in range(count):
            profile = stack.enter_context(create_profile(root, f"p{i}", "pw", params=CHEAP))
            catalog = SellerCatalog(profile)
            cfg = NodeConfig(
                network=CLEARNET,
                listen=(f"/ip4/127.0.0.{first_ip + i}/tcp/0",),
                bootstrap=boot,
                status_interval=0.5,
                limits=limits or NetLimits(),
            )
            if config is not None:
                cfg = config(i)
            if adjust is not None:
                cfg = adjust(i, cfg)
            node = await stack.enter_async_context(open_node(profile, cfg, catalog))
            out.append((node, profile, catalog))
            if i == 0:
                boot = (node.addrs[0],)
        yield out
