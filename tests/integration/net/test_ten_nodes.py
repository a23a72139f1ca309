"""Ten real `umbra node` processes on 127.0.0.10–19: publish, edit, delete, restart."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import Cluster, NodeProc, titles, wait_until

pytestmark = pytest.mark.network

N = 10


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root: Path = tmp_path_factory.mktemp("ten")
    c = Cluster(root, [f"127.0.0.{10 + i}" for i in range(N)])
    try:
        c.init_all()
        c.start_all()
        yield c
    finally:
        c.close()


def _others(cluster: Cluster, seller: NodeProc) -> list[NodeProc]:
    return [n for n in cluster.nodes if n is not seller]


def test_publish_edit_delete_propagate(cluster: Cluster) -> None:
    seller = cluster.nodes[3]
    others = _others(cluster, seller)
    marks = cluster.sync_marks()
    created = seller.run(
        "listing",
        "create",
        "--title",
        "Brass telescope",
        "--price",
        "0.5",
        "--category",
        "collectibles",
        "--ships-from",
        "DE",
        "--tag",
        "optics",
        "--description",
        "A brass telescope from 1890.",
    )
    cluster.wait_searchable(others, "telescope", ["Brass telescope"], marks)

    marks = cluster.sync_marks()
    seller.run("listing", "edit", created["id"], "--title", "Brass spyglass")
    cluster.wait_searchable(others, "spyglass", ["Brass spyglass"], marks)
    # The old revision is gone: "brass" finds only the new title.
    cluster.wait_searchable(others, "brass", ["Brass spyglass"], marks)

    marks = cluster.sync_marks()
    seller.run("listing", "delete", created["id"])
    cluster.wait_searchable(others, "spyglass", [], marks)


def test_status_reports_sync(cluster: Cluster) -> None:
    statuses = cluster.run_all(None, "status")
    for status in statuses:
        assert status["running"] is True
        assert status["peers"] >= 1
        assert status["routing_table"] >= 1
    seller_ids = {s["peer_id"] for s in statuses}
    assert len(seller_ids) == N
    assert sum(1 for s in statuses if s["catalogs_synced"] >= 1) >= N - 1


def test_restarted_node_keeps_data_and_rejoins(cluster: Cluster) -> None:
    seller, restarted = cluster.nodes[1], cluster.nodes[7]
    marks = cluster.sync_marks()
    seller.run(
        "listing",
        "create",
        "--title",
        "Oak rocking chair",
        "--price",
        "1.2",
        "--category",
        "home",
        "--ships-from",
        "FR",
    )
    cluster.wait_searchable(_others(cluster, seller), "rocking", ["Oak rocking chair"], marks)

    restarted.stop()
    status = restarted.spawn("status")
    search = restarted.spawn("search", "rocking")
    stopped = restarted.collect(status, ["status"])
    assert stopped["running"] is False
    assert stopped["catalogs_synced"] >= 1  # sync state survived
    assert titles(restarted.collect(search, ["search"])) == ["Oak rocking chair"]  # data survived

    seller.run(
        "listing",
        "create",
        "--title",
        "Walnut side table",
        "--price",
        "0.8",
        "--category",
        "home",
        "--ships-from",
        "FR",
    )
    # No --bootstrap: the node must rejoin from its persisted peer store.
    marks = cluster.sync_marks()
    restarted.start()
    cluster.wait_searchable([restarted], "walnut", ["Walnut side table"], marks)
    # The status snapshot is rewritten every couple of seconds: wait for one that shows peers.
    wait_until(
        "restarted node reports peers",
        lambda: restarted.run("status")["peers"] >= 1,
        timeout=60,
        pause=1.0,
    )
