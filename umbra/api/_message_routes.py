"""``/api/v1/messages``: conversations per peer and order, reading, and queueing a message.

Sending only queues the message in the profile's outbox (``umbra.net.messaging.Inbox``): the
running node owns the encrypted sessions and the network, encrypts what is queued and
delivers it, directly or through mailbox peers. A message's ``status`` says how far it got:
``queued`` → ``sending`` → ``delivered`` (or ``stored`` with mailbox peers).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from umbra.core import UsageError
from umbra.core.crypto import decode_public_key, encode_public_key
from umbra.net.messaging import ChatMessage, Conversation, Inbox

from ._errors import ApiError
from ._services import Services
from ._views import iso_time

MAX_TEXT = 16_000
PeerText = Annotated[
    str,
    Field(min_length=10, max_length=120, description="The other persona's id (seller id)."),
]
OrderText = Annotated[str, Field(max_length=64, description="The order it is about, or ''.")]


class MessageBody(BaseModel):
    peer: PeerText
    order: OrderText = ""
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]


def persona(text: str) -> bytes:
    """A persona key from its text form. Raises: ApiError 400."""
    try:
        return decode_public_key(text.strip())
    except Exception:  # noqa: BLE001 - whatever is wrong with it, the answer is the same
        raise ApiError(
            400,
            f"{text[:40]!r} is not a persona id; ids start with 'umbra-pk-ed25519-v1:' "
            "(the seller id on a listing page)",
        ) from None


def conversation_json(c: Conversation) -> dict[str, Any]:
    return {
        "peer": encode_public_key(c.peer),
        "order": c.order,
        "messages": c.messages,
        "unread": c.unread,
        "last_at": iso_time(c.last_at),
        "last_text": c.last_text,
    }


def message_json(m: ChatMessage) -> dict[str, Any]:
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


def message_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/api/v1/messages", tags=["messages"])
    db = services.profile.db

    @router.get("", summary="Conversations, most recent first")
    async def conversations() -> dict[str, Any]:
        """One entry per (peer, order) with message and unread counts."""
        found = await services.run(lambda: Inbox(db).conversations())
        return {"conversations": [conversation_json(c) for c in found]}

    @router.get("/thread", summary="Read a conversation (marks it read)")
    async def thread(
        peer: Annotated[str, Query(min_length=10, max_length=120)],
        order: Annotated[str | None, Query(max_length=64)] = None,
    ) -> dict[str, Any]:
        """Messages with ``peer`` about ``order`` (all orders when it is left out), oldest
        first."""
        key = persona(peer)
        found = await services.run(lambda: Inbox(db).read(key, order))
        return {
            "peer": encode_public_key(key),
            "order": order,
            "messages": [message_json(m) for m in found],
        }

    @router.post("", summary="Send a message (queued for the node)", status_code=201)
    async def send(body: MessageBody) -> JSONResponse:
        """Queues the message; the running node encrypts and delivers it. Check its
        ``status`` in the thread."""
        key = persona(body.peer)
        if key == services.profile.identity.signing_public:
            raise UsageError("you cannot send a message to yourself")
        now = services.now()
        queued = await services.run(lambda: Inbox(db).queue_at(key, body.order, body.text, now=now))
        return JSONResponse(message_json(queued), status_code=201)

    return router
