"""The HTTP interface: one ASGI app per profile, its security gate, and the JSON API.

Layout: ``_services`` (what the app needs from lower layers), ``_security`` (host check,
token, cookie sessions, CSRF, body limits, headers), ``_errors`` (failures → plain
sentences), ``_views`` (JSON shapes), ``_forms`` (listing input), ``_routes`` (``/api/v1``),
``_docs`` (local OpenAPI page), ``_starting`` (503 while the node on this loop starts),
``_app`` (`create_app`), ``_server`` (`serve_app`, hypercorn
on trio). The pages (``umbra.web``) are plugged in by whoever composes the two.
"""

from ._app import PageSet, UmbraApp, create_app
from ._errors import StoreBusy
from ._security import (
    CODE_PARAM,
    CONTENT_SECURITY_POLICY,
    CSRF_FIELD,
    CSRF_HEADER,
    FORM_SCOPE_KEY,
    LOGIN_CODES_PATH,
    MAX_BODY_BYTES,
    SESSION_SCOPE_KEY,
    TOKEN_PARAM,
    SecurityGate,
    Session,
    new_token,
)
from ._server import HOST, serve_app
from ._services import STORE_WAIT_S, Services, StatusSource

__all__ = [
    "CODE_PARAM",
    "CONTENT_SECURITY_POLICY",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "FORM_SCOPE_KEY",
    "HOST",
    "LOGIN_CODES_PATH",
    "MAX_BODY_BYTES",
    "SESSION_SCOPE_KEY",
    "STORE_WAIT_S",
    "TOKEN_PARAM",
    "PageSet",
    "SecurityGate",
    "Services",
    "Session",
    "StatusSource",
    "StoreBusy",
    "UmbraApp",
    "create_app",
    "new_token",
    "serve_app",
]
