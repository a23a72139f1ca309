"""`umbra messages list|read|send`: chat with other personas, per order.

``list`` and ``read`` read the local inbox. ``send`` only queues the message: the running node
(`umbra node`) holds the messaging sessions and the network, encrypts what is queued and
delivers it, directly or through mailbox peers.
"""

import time
from typing import Any

import click

from umbra.core import UsageError
from umbra.core.crypto import decode_public_key, encode_public_key
from umbra.net.messaging import ChatMessage, Inbox

from ._app import CliState, emit, json_option, pass_state
from ._format import iso_time
from ._invocation import with_runnable_commands

_FINAL = {"delivered", "stored"}


def _persona(text: str) -> bytes:
    try:
        return decode_public_key(text.strip())
    except Exception:  # noqa: BLE001 - whatever is wrong with it, the answer is the same
        raise UsageError(f"{text!r} is not a seller id (it starts with the seller-id prefix, as "
                         "printed by `umbra init` or `umbra search`)") from None  # fmt: skip


def _message_json(m: ChatMessage) -> dict[str, Any]:
    return {
        "id": m.msg_id.hex(),
        "peer": encode_public_key(m.peer),
        "direction": "out" if m.outgoing else "in",
        "order": m.order,
        "text": m.text,
        "sent_at": iso_time(m.sent_at),
        "at": iso_time(m.at),
        "status": m.status,
        "read": m.read,
    }


@click.group()
def messages() -> None:
    """Chat with buyers and sellers, per order. End-to-end encrypted."""


@messages.command(name="list")
@json_option
@pass_state
def list_conversations(state: CliState) -> None:
    """List conversations, most recent first, with unread counts."""
    inbox = Inbox(state.profile().db)
    conversations: list[dict[str, Any]] = [
        {
            "peer": encode_public_key(c.peer),
            "order": c.order,
            "messages": c.messages,
            "unread": c.unread,
            "last_at": iso_time(c.last_at),
            "last_text": c.last_text,
        }
        for c in inbox.conversations()
    ]

    def human() -> None:
        if not conversations:
            click.echo(
                with_runnable_commands(
                    "No conversations yet. Start one with `umbra messages send`."
                )
            )
        for c in conversations:
            order = f" order {c['order']}" if c["order"] else ""
            unread = f"  ({c['unread']} unread)" if c["unread"] else ""
            click.echo(f"{c['peer']}{order}  {c['last_at']}{unread}")
            click.echo(f"    {c['last_text'][:70]}")

    emit(state, {"conversations": conversations}, human)


@messages.command()
@click.argument("peer")
@click.option("--order", help="Only this order's conversation (default: all with this peer).")
@json_option
@pass_state
def read(state: CliState, peer: str, order: str | None) -> None:
    """Show the conversation with PEER (a seller id) and mark it read."""
    persona = _persona(peer)
    inbox = Inbox(state.profile().db)
    found = [_message_json(m) for m in inbox.read(persona, order)]

    def human() -> None:
        if not found:
            click.echo("No messages with this peer.")
        for m in found:
            who = "you" if m["direction"] == "out" else "them"
            status = f"  [{m['status']}]" if m["direction"] == "out" else ""
            order_text = f" #{m['order']}" if m["order"] and order is None else ""
            click.echo(f"{m['at']} {who}{order_text}: {m['text']}{status}")

    emit(state, {"peer": encode_public_key(persona), "order": order, "messages": found}, human)


@messages.command()
@click.argument("peer")
@click.argument("text")
@click.option("--order", default="", help="The order this message is about.")
@click.option(
    "--wait",
    type=click.FloatRange(0, 600),
    default=0,
    help="Wait up to this many seconds until the node delivered or stored the message.",
)
@json_option
@pass_state
def send(state: CliState, peer: str, text: str, order: str, wait: float) -> None:
    """Queue TEXT for PEER (a seller id); the running node encrypts and delivers it."""
    from umbra.net import read_node_status

    persona = _persona(peer)
    profile = state.profile()
    if persona == profile.identity.signing_public:
        raise UsageError("you cannot send a message to yourself")
    inbox = Inbox(profile.db)
    queued = inbox.queue_at(persona, order, text, now=int(time.time()))
    running = read_node_status(profile, now=time.time()).running
    status = queued.status
    deadline = time.monotonic() + wait
    while running and status not in _FINAL and time.monotonic() < deadline:
        time.sleep(0.25)
        status = next(
            (m.status for m in inbox.read(persona, order, mark_read=False)
             if m.outgoing and m.msg_id == queued.msg_id),
            status,
        )  # fmt: skip
    data = {**_message_json(queued), "status": status, "node_running": running}

    def human() -> None:
        if not running:
            click.echo(
                with_runnable_commands(
                    "Queued. The node is not running: start it with `umbra node` to send."
                )
            )
        elif status == "delivered":
            click.echo("Delivered.")
        elif status == "stored":
            click.echo("Left with mailbox peers; the recipient gets it when it is back online.")
        else:
            click.echo(f"Queued ({status}); the node is sending it.")

    emit(state, data, human)
