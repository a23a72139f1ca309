"""The gate in front of every page and endpoint: host check, token, cookie, CSRF, headers.

Rules (in the order they run, for every HTTP request):

1. DNS-rebinding defence: the ``Host`` header must be ``127.0.0.1:<port>`` or
   ``localhost:<port>`` of this server, else 400. A page from another site that points its own
   name at 127.0.0.1 sends its own name as Host and is refused.
2. Login: ``GET <any path>?token=<token>`` with the right token, or ``?code=<code>`` with a
   one-time login code, starts a browser session (an HttpOnly, SameSite=Strict cookie) and
   sends the browser on to the same URL without it (a 303 for a token; for a code, a small
   page of ours that moves on, so that the Strict cookie goes with the next request), so it
   does not stay in the address bar or the history. A wrong token or an unknown, used or
   expired code is 401. Codes exist because a browser's command line is visible to every
   local user in ``ps`` for as long as it runs: ``umbra open`` and ``umbra app`` start it
   with an owner-only local page that forwards it to a code, spent on first use and expired
   after `LOGIN_CODE_TTL_S`, never with the token. A Bearer client mints a code with
   ``POST /api/v1/login-codes`` (`LOGIN_CODES_PATH`).
3. Authentication: ``Authorization: Bearer <token>`` (scripts, third-party clients) or the
   session cookie (the browser). Nothing else gets past: 401. Only ``/static/`` (the shipped
   CSS and JS, no data) is public, so the "locked" page can be styled.
4. Bodies of unsafe requests (POST, PUT, PATCH, DELETE) are read here, once, up to
   `MAX_BODY_BYTES` (413 above), and a form body is parsed in memory (uploaded images never
   touch the disk unencrypted) and handed on in ``scope["umbra.form"]``.
5. CSRF, for unsafe requests that authenticate with the cookie: the ``Origin`` header must be
   this server's origin, or, when it is missing or ``null`` (what browsers send on a POST
   under ``Referrer-Policy: no-referrer``), ``Sec-Fetch-Site`` must be ``same-origin``; and the
   session's CSRF token must come in the ``X-CSRF-Token`` header or the ``csrf_token`` form
   field (synchronizer token). Bearer requests are exempt: a browser never adds that header
   by itself.
6. Every response gets a strict Content-Security-Policy, ``nosniff``, ``no-referrer``,
   ``frame-ancestors 'none'`` and, unless the handler chose a cache policy, ``no-store``.

Sessions live in memory: restarting the server logs every browser out (`umbra open` again).
Cookies are not separated by port, so the cookie name carries the port: two profiles served
on two ports do not overwrite each other's session.
"""

import html
import json
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import FormData, Headers
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from umbra.core import limits

SESSION_SCOPE_KEY = "umbra.session"
FORM_SCOPE_KEY = "umbra.form"
TOKEN_PARAM = "token"  # noqa: S105 (the name of the query parameter, not a secret)
CODE_PARAM = "code"
LOGIN_CODES_PATH = "/api/v1/login-codes"
LOGIN_CODE_TTL_S = 120.0
MAX_LOGIN_CODES = 16
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

# Ten images at the input limit plus the text fields.
MAX_BODY_BYTES = limits.MAX_IMAGES * limits.MAX_IMAGE_INPUT_BYTES + 1024 * 1024
MAX_FORM_FIELDS = 100
MAX_FIELD_BYTES = 64 * 1024
MAX_SESSIONS = 64

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def new_token() -> str:
    """A fresh access token: 32 random bytes, URL-safe base64."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Session:
    """Who is asking: a browser session (with its CSRF token) or a Bearer-token client."""

    kind: Literal["cookie", "bearer"]
    csrf_token: str = ""


class _InMemoryMultiPartParser(MultiPartParser):
    # Never roll uploads over to a temporary file: the body is already capped in memory.
    spool_max_size = MAX_BODY_BYTES + 1


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SecurityGate:
    """ASGI middleware applying the rules above; see the module docstring.

    The port is set once the server has bound its socket (`bind_port`); until then every
    request is refused, because no Host header can match.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str,
        port: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if len(token) < 32:
            raise ValueError("the access token must have at least 32 characters")
        self._app = app
        self._token = token
        self._port: int | None = None
        self._hosts: frozenset[str] = frozenset()
        self._origins: frozenset[str] = frozenset()
        self._sessions: OrderedDict[str, str] = OrderedDict()  # session id -> CSRF token
        self._codes: OrderedDict[str, float] = OrderedDict()  # one-time code -> expiry
        self._clock = clock
        if port is not None:
            self.bind_port(port)

    def bind_port(self, port: int) -> None:
        self._port = port
        self._hosts = frozenset({f"127.0.0.1:{port}", f"localhost:{port}"})
        self._origins = frozenset(f"http://{host}" for host in self._hosts)

    def issue_login_code(self) -> str:
        """A fresh one-time login code (spent on first use, expires after the TTL)."""
        now = self._clock()
        for code, expires in list(self._codes.items()):
            if expires <= now:
                del self._codes[code]
        code = secrets.token_urlsafe(32)
        self._codes[code] = now + LOGIN_CODE_TTL_S
        while len(self._codes) > MAX_LOGIN_CODES:
            self._codes.popitem(last=False)
        return code

    @property
    def cookie_name(self) -> str:
        return f"umbra_session_{self._port}"

    # -- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._app(scope, receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        send = _with_security_headers(send)
        try:
            await self._handle(scope, receive, send)
        except _Refused as refusal:
            await _refuse(scope, send, refusal.status, refusal.message)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        if headers.get("host", "").lower() not in self._hosts:
            raise _Refused(
                400,
                "This server only answers at its own local address. Open Umbra with the link "
                "that `umbra open` prints.",
            )
        method = scope["method"]
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        if any(key in (TOKEN_PARAM, CODE_PARAM) for key, _ in query):
            await self._login(scope, send, query)
            return
        session = self._authenticate(headers)
        if session is None:
            if method in ("GET", "HEAD") and scope["path"].startswith("/static/"):
                await self._app(scope, receive, send)
                return
            raise _Refused(
                401,
                "Umbra is locked. Open it with the link that `umbra open` prints "
                "(or send the token as an `Authorization: Bearer` header).",
            )
        scope[SESSION_SCOPE_KEY] = session
        if scope["path"] == LOGIN_CODES_PATH:
            await self._mint_code(method, session, send)
            return
        if method in SAFE_METHODS:
            await self._app(scope, receive, send)
            return
        body = await _read_body(headers, receive)
        form = await _parse_form(headers, body)
        try:
            if session.kind == "cookie":
                self._check_csrf(headers, form, session)
            scope[FORM_SCOPE_KEY] = form
            await self._app(scope, _replay(body, receive), send)
        finally:
            if form is not None:
                await form.close()

    # -- the rules -----------------------------------------------------------------------------

    async def _login(self, scope: Scope, send: Send, query: list[tuple[str, str]]) -> None:
        given = [(key, value) for key, value in query if key in (TOKEN_PARAM, CODE_PARAM)]
        if scope["method"] not in ("GET", "HEAD") or len(given) != 1:
            raise _Refused(400, "Send the access token or login code only once, in a GET request.")
        kind, value = given[0]
        if kind == TOKEN_PARAM:
            if not secrets.compare_digest(value.encode(), self._token.encode()):
                raise _Refused(
                    401,
                    "This link has a wrong or old access token. Run `umbra open` to get the "
                    "current link.",
                )
        elif not self._spend_code(value):
            raise _Refused(
                401,
                "This one-time link was already used or has expired. Run `umbra open` again.",
            )
        session_id = secrets.token_urlsafe(32)
        self._sessions[session_id] = secrets.token_urlsafe(32)
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        rest = urlencode([(k, v) for k, v in query if k not in (TOKEN_PARAM, CODE_PARAM)])
        path = scope.get("raw_path", b"").decode("latin-1") or "/"
        if not path.startswith("/") or path.startswith(("//", "/\\")):
            path = "/"  # never an open redirect: "//host" and "/\\host" leave the site
        location = path + (f"?{rest}" if rest else "")
        cookie = (f"{self.cookie_name}={session_id}; Path=/; HttpOnly; SameSite=Strict").encode()
        if kind == TOKEN_PARAM:
            status, body = 303, b""
            headers = [(b"location", location.encode("latin-1"))]
        else:
            # A code comes through `umbra open`'s local forwarding page: a navigation that a
            # file:// page started is cross-site, and a browser does not send a Strict cookie
            # on the redirect it follows. A page of our own that moves on starts a same-site
            # navigation, which carries the cookie.
            target = html.escape(location, quote=True)
            status = 200
            body = (
                "<!doctype html><meta charset=utf-8>"
                f'<meta http-equiv="refresh" content="0;url={target}">'
                f'<title>Umbra</title><a href="{target}">Continue to Umbra</a>\n'
            ).encode()
            headers = [(b"content-type", b"text/html; charset=utf-8")]
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    *headers,
                    (b"set-cookie", cookie),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _spend_code(self, code: str) -> bool:
        # Look the code up by constant-time comparison against each (at most 16) live code.
        now = self._clock()
        for known, expires in list(self._codes.items()):
            if secrets.compare_digest(code.encode(), known.encode()):
                del self._codes[known]
                return expires > now
        return False

    async def _mint_code(self, method: str, session: Session, send: Send) -> None:
        # Only a Bearer client (which holds the token already) may mint codes: a page in the
        # browser has no use for them.
        if method != "POST":
            raise _Refused(405, "Ask for a login code with POST.")
        if session.kind != "bearer":
            raise _Refused(403, "Login codes are issued to Bearer-token clients only.")
        body = json.dumps(
            {"code": self.issue_login_code(), "param": CODE_PARAM, "expires_in": LOGIN_CODE_TTL_S}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _authenticate(self, headers: Headers) -> Session | None:
        authorization = headers.get("authorization")
        if authorization is not None:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer" and secrets.compare_digest(
                value.strip().encode(), self._token.encode()
            ):
                return Session("bearer")
            raise _Refused(401, "The Authorization header does not hold the right token.")
        session_id = _cookie(headers.get("cookie", ""), self.cookie_name)
        if session_id is None:
            return None
        csrf = self._sessions.get(session_id)
        return None if csrf is None else Session("cookie", csrf)

    def _check_csrf(self, headers: Headers, form: FormData | None, session: Session) -> None:
        origin = headers.get("origin")
        if origin is not None and origin != "null":
            if origin not in self._origins:
                raise _Refused(403, "Refused a request sent from another site (wrong Origin).")
        elif headers.get("sec-fetch-site") != "same-origin":
            # "null": with Referrer-Policy no-referrer, browsers send `Origin: null` on every
            # POST, their own origin's included; Sec-Fetch-Site (which pages cannot set) then
            # tells whether the request came from one of our pages.
            raise _Refused(
                403, "Refused a request without a usable Origin; reload the page and try again."
            )
        given = headers.get(CSRF_HEADER)
        if given is None and form is not None:
            value = form.get(CSRF_FIELD)
            given = value if isinstance(value, str) else None
        if given is None or not secrets.compare_digest(given.encode(), session.csrf_token.encode()):
            raise _Refused(
                403,
                "This form has expired or did not come from Umbra. Reload the page and try again.",
            )


# -- helpers -----------------------------------------------------------------------------------


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip()
    return None


async def _read_body(headers: Headers, receive: Receive) -> bytes:
    declared = headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise _Refused(413, _too_large())
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Refused(400, "The request was cut off before its end.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _Refused(413, _too_large())
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _too_large() -> str:
    mb = MAX_BODY_BYTES // (1024 * 1024)
    return f"The request is larger than {mb} MB. Send fewer or smaller images."


async def _parse_form(headers: Headers, body: bytes) -> FormData | None:
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return None

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    try:
        if content_type == "multipart/form-data":
            return await _InMemoryMultiPartParser(
                headers,
                stream(),
                max_files=limits.MAX_IMAGES,
                max_fields=MAX_FORM_FIELDS,
                max_part_size=MAX_FIELD_BYTES,
            ).parse()
        return await FormParser(
            headers, stream(), max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FIELD_BYTES
        ).parse()
    except MultiPartException as exc:
        raise _Refused(
            400,
            f"The form could not be read ({exc.message.rstrip('.')}). At most "
            f"{limits.MAX_IMAGES} images and {MAX_FIELD_BYTES // 1024} KB per text field.",
        ) from None
    except (ValueError, KeyError, UnicodeDecodeError):
        raise _Refused(400, "The form could not be read; it is not valid form data.") from None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _with_security_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {name.lower() for name, _ in headers}
            headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
            if b"cache-control" not in present:
                headers.append((b"cache-control", b"no-store"))
            message = {**message, "headers": headers}
        await send(message)

    return wrapped


_LOCKED_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><link rel="stylesheet" href="/static/app.css">
<title>Umbra: {title}</title></head>
<body><main class="page narrow"><h1>{title}</h1><p class="notice error">{message}</p>
</main></body></html>
"""


async def _refuse(scope: Scope, send: Send, status: int, message: str) -> None:
    """Answer with a plain sentence: JSON for the API, a small page for browsers."""
    wants_json = scope.get("path", "").startswith("/api/") or "text/html" not in Headers(
        scope=scope
    ).get("accept", "")
    if wants_json:
        body = json.dumps({"error": message}).encode()
        content_type = b"application/json"
    else:
        title = {401: "Locked", 403: "Refused", 413: "Too large"}.get(status, "Not served")
        body = _LOCKED_PAGE.format(title=title, message=html.escape(message)).encode()
        content_type = b"text/html; charset=utf-8"
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="umbra"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
