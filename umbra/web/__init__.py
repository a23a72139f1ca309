"""The server-rendered pages of the web app (templates, one CSS file, a little JS).

Layout: ``_render`` (Jinja environment, safe Markdown, static files), ``_forms`` (the listing
form), ``_pages`` (routes and the error page). The app itself, its security gate and the
server are in ``umbra.api``; the pages are handed to it as `Pages` by whoever composes the two
(they are sibling layers and do not import each other).
"""

from ._pages import NAV, PageError, Pages, PageServices, page_set
from ._render import STATIC_FILES

__all__ = ["NAV", "STATIC_FILES", "PageError", "PageServices", "Pages", "page_set"]
