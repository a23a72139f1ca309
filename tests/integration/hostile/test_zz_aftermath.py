"""After every attack: the victim is the same process, still holds and serves the honest
seller's head to a fresh honest peer, and `umbra search` still finds the seller's listings.

Named to run last in the tier (pytest runs a directory's files in name order).
"""

import time

import pytest

from umbra.net import check_head_record_at, head_key

from ._victim import Victim
from .conftest import honest_get

pytestmark = pytest.mark.hostile


def test_victim_kept_everything(victim: Victim) -> None:
    victim.ensure_running()  # so the data checks below still run after a crash
    key = head_key(victim.seller_persona)
    served = honest_get(victim.addr, key)
    assert served is not None, "the victim no longer serves the seller's catalog head"
    held = check_head_record_at(key, served, now=time.time())
    before = check_head_record_at(key, victim.seller_head, now=time.time())
    assert held.body.seq >= before.body.seq and held.body.seller == before.body.seller

    result = victim.node.run("search", victim.search_word)
    assert sorted(hit["title"] for hit in result["hits"]) == victim.titles
    assert not victim.restarts, f"the victim had to be restarted: {victim.restarts}"
