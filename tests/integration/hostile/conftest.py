"""One victim for the whole tier: a real `umbra node` (with its REST API) that synced an honest
seller's catalog before any attack. The seller is then stopped, so nothing can restore what an
attack might take from the victim; `test_zz_aftermath` checks it all still there at the end.

Addresses: the victim and seller on 127.0.9.x, attackers spread over 127.0.20-219.x, the
honest checker on 127.0.8.x (all loopback; see `_peer.attacker_ip`). py-libp2p dials from
127.0.0.1 whatever address a host listens on, so the victim keeps its default of not applying
the per-IP and per-range caps to loopback (its inbound and total caps still apply); only the
raw TCP flood comes from many source addresses.
"""

import contextlib
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import httpx
import psutil
import pytest
import trio

import umbra.store as store
from tests.integration.net.cluster import CHEAP, PASSPHRASE, NodeProc
from umbra.net import head_key

from ._crafted import Scale
from ._peer import ask_value
from ._victim import MIB, RSS_BOUND, Victim, Watchdog, api_search

SELLER_LISTINGS = [
    ("Brass telescope", "A nautical brass telescope from 1890."),
    ("Walnut sextant", "A nautical sextant in a walnut case."),
]
SEARCH_WORD = "nautical"
HONEST_IP = "127.0.8.1"


def _persona(node: NodeProc) -> bytes:
    with store.create_profile(node.data_dir, node.name, PASSPHRASE, params=CHEAP) as profile:
        return profile.identity.signing_public


def honest_get(victim_addr: str, key: str) -> bytes | None:
    """GET_VALUE ``key`` straight from the victim, asked by a fresh honest peer."""
    return trio.run(partial(ask_value, victim_addr, key, ip=HONEST_IP))


def _wait(what: str, check: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


@pytest.fixture(scope="package")
def victim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Victim]:
    root: Path = tmp_path_factory.mktemp("hostile")
    seller = NodeProc("seller", "127.0.9.2", root)
    target = NodeProc("victim", "127.0.9.1", root)
    try:
        seller_persona, persona = _persona(seller), _persona(target)
        seller.start()
        target.start([seller.addrs[0]], web=True)
        for title, description in SELLER_LISTINGS:
            seller.run("listing", "create", "--title", title, "--price", "0.5",
                       "--category", "collectibles", "--ships-from", "DE",
                       "--description", description)  # fmt: skip
        titles = sorted(t for t, _ in SELLER_LISTINGS)
        _wait(
            "the victim to sync the seller's catalog",
            lambda: api_search(target, SEARCH_WORD) == titles,
        )
        key = head_key(seller_persona)
        heads: list[bytes] = []

        def holds_head() -> bool:
            value = honest_get(target.addrs[0], key)
            heads[:] = [] if value is None else [value]
            return bool(heads)

        _wait("the victim to hold the seller's head in its DHT store", holds_head)
        seller.stop()  # from here on, nothing can give back what an attack takes
        assert target.proc is not None
        idle = psutil.Process(target.proc.pid).memory_info().rss
        assert idle <= RSS_BOUND // 2, f"idle RSS {idle // MIB} MiB: re-derive RSS_BOUND"
        yield Victim(
            node=target,
            bootstrap=seller.addrs[0],
            persona=persona,
            seller_persona=seller_persona,
            seller_peer_id=seller.peer_id,
            seller_head=heads[0],
            titles=titles,
            search_word=SEARCH_WORD,
        )
    finally:
        target.stop()
        seller.stop()


@pytest.fixture(scope="session")
def scale() -> Scale:
    return Scale.from_env()


@contextlib.contextmanager
def guarded(victim: Victim) -> Iterator[Watchdog]:
    """Run an attack under the watchdog; fail if the victim hung, grew past its memory bound,
    died, or lost the honest seller's listings.

    An attack that breaks off (the victim died under it, so the next dial fails) is reported
    through what the watchdog saw, which names the input that did it.
    """
    victim.ensure_running()
    victim.settle()
    broke_off: Exception | None = None
    with Watchdog(victim) as dog:
        try:
            yield dog
        except Exception as exc:
            broke_off = exc
    print(dog.verdict.summary())  # shown with `pytest -s`: the numbers behind the bounds
    problems = dog.verdict.problems()
    if broke_off is not None and not problems:
        raise innermost(broke_off) from broke_off
    if victim.alive():
        try:
            found = victim.api_search(victim.search_word)
        except httpx.HTTPError as exc:
            problems.append(f"the victim's search did not answer after the attack: {exc!r}")
        else:
            if found != victim.titles:
                problems.append(f"honest listings lost: search finds {found}, not {victim.titles}")
    if broke_off is not None:
        cause = innermost(broke_off)
        problems.append(f"the attack broke off: {type(cause).__name__}: {cause}"[:300])
    assert not problems, "\n".join(problems)


def innermost(exc: BaseException) -> BaseException:
    """The first real error inside trio's nested exception groups (hosts nest deeply)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
