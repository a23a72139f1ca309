"""The messages pages: conversations per peer and order, one thread, and writing a message.

Writing only queues the message (``Inbox.queue_at``); the running node encrypts and delivers
it, so the thread shows each message's delivery status and says so when no node runs. Also
in the JSON API under ``/api/v1/messages``.
"""

from urllib.parse import urlencode

from fastapi.responses import Response
from starlette.requests import Request
from starlette.routing import Route

from umbra.core import UsageError
from umbra.core.crypto import decode_public_key, encode_public_key
from umbra.net import read_node_status
from umbra.net.messaging import Inbox

from ._common import PageError, form_text, guarded, page, see_other, sentence
from ._services import PageServices

STATUS_LABELS = {
    "queued": "waiting for the node",
    "sending": "sending",
    "stored": "left with a mailbox peer (they are offline)",
    "delivered": "delivered",
}
MAX_TEXT = 16_000


def _persona(text: str) -> bytes:
    try:
        return decode_public_key(text.strip())
    except Exception:  # noqa: BLE001 - whatever is wrong with it, the answer is the same
        raise UsageError(
            "That is not a persona id. Ids start with 'umbra-pk-ed25519-v1:'; copy the "
            "seller id from a listing page"
        ) from None


def thread_url(peer: bytes, order: str) -> str:
    params = {"peer": encode_public_key(peer)}
    if order:
        params["order"] = order
    return "/messages/thread?" + urlencode(params)


def message_routes(services: PageServices) -> list[Route]:
    db = services.profile.db

    async def node_running() -> bool:
        status = await services.run(read_node_status, services.profile)
        return status.running

    async def conversations(
        request: Request, *, status: int = 200, error: str = "", peer: str = "", order: str = ""
    ) -> Response:
        found = await services.run(lambda: Inbox(db).conversations())
        return page(
            request,
            "messages.html",
            status=status,
            conversations=found,
            thread_url=thread_url,
            error=error,
            peer=peer,
            order=order,
            node_running=await node_running(),
        )

    async def index(request: Request) -> Response:
        return await conversations(request)

    async def thread(request: Request) -> Response:
        peer_text = request.query_params.get("peer", "")[:120]
        order = request.query_params.get("order", "")[:64]
        try:
            peer = _persona(peer_text)
            messages = await services.run(lambda: Inbox(db).read(peer, order or None))
        except UsageError as exc:
            raise PageError(
                400, sentence(str(exc)) + " Pick a conversation from Messages."
            ) from None
        return page(
            request,
            "thread.html",
            peer=encode_public_key(peer),
            order=order,
            messages=messages,
            status_labels=STATUS_LABELS,
            node_running=await node_running(),
            error="",
            text="",
        )

    async def send(request: Request) -> Response:
        peer_text = form_text(request, "peer", 120)
        order = form_text(request, "order", 64)
        form = request.scope.get("umbra.form")
        raw = None if form is None else form.get("text")
        text = raw.strip() if isinstance(raw, str) else ""
        try:
            peer = _persona(peer_text)
            if peer == services.profile.identity.signing_public:
                raise UsageError("You cannot send a message to yourself")
            if not text:
                raise UsageError("Write a message first")
            if len(text) > MAX_TEXT:
                raise UsageError(f"A message has at most {MAX_TEXT} characters; shorten it")
            now = services.now()
            await services.run(lambda: Inbox(db).queue_at(peer, order, text, now=now))
        except UsageError as exc:
            return await conversations(
                request, status=400, error=sentence(str(exc)), peer=peer_text, order=order
            )
        return see_other(thread_url(peer, order))

    return [
        Route("/messages", guarded(index), methods=["GET"]),
        Route("/messages", guarded(send), methods=["POST"]),
        Route("/messages/thread", guarded(thread), methods=["GET"]),
    ]
