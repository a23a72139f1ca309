"""`umbra messages list|read|send` without a running node: queueing, JSON, one-line errors."""

from .conftest import Runner, assert_one_line_error


def test_send_queues_and_read_shows_it(umbra: Runner) -> None:
    umbra("--profile", "alice", "init")
    bob = umbra("--profile", "bob", "init", "--json").json()["seller_id"]
    assert umbra("--profile", "alice", "messages", "list", "--json").json() == {"conversations": []}
    sent = umbra(
        "--profile", "alice", "messages", "send", bob, "Still available?", "--order", "o-7",
        "--json",
    ).json()  # fmt: skip
    assert sent["status"] == "queued"
    assert sent["node_running"] is False
    assert (sent["peer"], sent["order"], sent["direction"]) == (bob, "o-7", "out")

    listed = umbra("--profile", "alice", "messages", "list", "--json").json()["conversations"]
    assert [(c["peer"], c["order"], c["messages"], c["unread"]) for c in listed] == [
        (bob, "o-7", 1, 0)
    ]
    read = umbra("--profile", "alice", "messages", "read", bob, "--json").json()
    assert [(m["text"], m["status"]) for m in read["messages"]] == [("Still available?", "queued")]
    text = umbra("--profile", "alice", "messages", "send", bob, "Hello again").stdout
    assert "node is not running" in text


def test_errors_are_one_line(umbra: Runner) -> None:
    me = umbra("init", "--json").json()["seller_id"]
    assert_one_line_error(umbra("messages", "send", me, "hi", check=False), "yourself")
    assert_one_line_error(umbra("messages", "send", "nobody", "hi", check=False), "seller id")
    assert_one_line_error(umbra("messages", "read", "nobody", check=False), "seller id")
    bob_id = "umbra-pk-ed25519-v1:" + "a" * 52
    bad_order = umbra("messages", "send", bob_id, "hi", "--order", "no spaces", check=False)
    assert_one_line_error(bad_order, "order")
    assert_one_line_error(umbra("messages", "send", bob_id, "", check=False), "characters")
