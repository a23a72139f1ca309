"""Templates, filters and the shipped static files.

Output is escaped everywhere (Jinja autoescape on for every template). Listing descriptions
are Markdown from strangers: rendered with raw HTML off, and with links and images turned
into plain text, so a description can neither run script nor make the browser contact
another host (the CSP would block it too; this keeps the page honest about it).

Text from other people may carry invisible or direction-changing characters (see
`umbra.core.neutralize`). They are removed in one place for the whole web layer: the
environment's ``finalize`` hook neutralizes every plain string a template prints, and the
filters that build HTML from such text (``markdown``, ``snippet``, ``user``, ``isolate``)
neutralize before they build it. Every user-supplied string is also isolated, so right-to-left
text cannot reorder the page around it: ``user`` wraps it in ``<bdi>``, blocks of it carry
``dir="auto"``, and ``isolate`` (for places that take no markup: ``<title>``, ``<option>``,
attributes) puts it between U+2068 FIRST STRONG ISOLATE and U+2069 POP DIRECTIONAL ISOLATE.
"""

from datetime import UTC, datetime
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from umbra.core import format_xmr, neutralize
from umbra.core.crypto import encode_public_key
from umbra.market import condition_label

SNIPPET_START = "\x02"  # the store's highlight markers (umbra.store.SNIPPET_START / _END)
SNIPPET_END = "\x03"

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_markdown.disable(["image", "link", "autolink", "html_inline", "html_block"])

STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def _load_static() -> dict[str, tuple[bytes, str]]:
    files: dict[str, tuple[bytes, str]] = {}
    for entry in resources.files("umbra.web").joinpath("static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in STATIC_TYPES:
            files[entry.name] = (entry.read_bytes(), STATIC_TYPES[suffix])
    return files


STATIC_FILES = _load_static()


def markdown(text: str) -> Markup:
    """Safe HTML for a Markdown description (no raw HTML, links or images)."""
    return Markup(_markdown.render(neutralize(text)))  # noqa: S704 (markdown-it escapes; html off)


def snippet(text: str) -> Markup:
    """A search snippet with the matched words in <mark>; everything else escaped."""
    marked = str(escape(text)).replace(SNIPPET_START, "<mark>").replace(SNIPPET_END, "</mark>")
    # Neutralized after the markers (control characters) became tags; removing characters
    # from escaped text cannot make markup, since it holds no bare < > or ".
    return Markup(neutralize(marked))  # noqa: S704


def user(text: object) -> Markup:
    """Inline text from another person: neutralized, escaped and isolated in ``<bdi>``."""
    return Markup("<bdi>%s</bdi>") % neutralize(str(text))


def isolate(text: object) -> Markup:
    """Like `user` where no markup may go (titles, options, attributes): FSI … PDI."""
    return Markup("\u2068%s\u2069") % neutralize(str(text))


def _finalize(value: Any) -> Any:
    """Every printed value: plain strings lose hidden characters (Markup comes from the
    filters above, which did it themselves, or from templates, made of finalized values)."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return neutralize(value)
    return value


def xmr(piconero: int) -> str:
    return format_xmr(piconero)


def date(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def date_time(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso_date_time(text: str | None) -> str:
    """An ISO 8601 time from the API's status (``2026-12-07T13:24:28Z``) in the pages' style."""
    if not text:
        return ""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return date_time(int(parsed.timestamp()))


def seller_id(public_key: bytes) -> str:
    return encode_public_key(public_key)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("umbra.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
    )
    env.filters.update(
        markdown=markdown,
        snippet=snippet,
        user=user,
        isolate=isolate,
        xmr=xmr,
        date=date,
        datetime=date_time,
        iso_datetime=iso_date_time,
        condition=condition_label,
        seller=seller_id,
    )
    return env


ENV = _environment()


def render(template: str, **context: Any) -> str:
    return ENV.get_template(template).render(**context)
