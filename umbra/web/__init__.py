"""The server-rendered pages of the web app (templates, one CSS file, a little JS).

Layout: ``_render`` (Jinja environment, safe Markdown, static files), ``_common`` (navigation,
page rendering, page errors), ``_services`` (what the pages need, as protocols), ``_forms``
(the listing form), ``_pages`` (browse, search, listings, settings, and the route list),
``_wallet_pages`` (wallet), ``_message_pages``, ``_order_pages`` (buying, orders, the arbiter
console), ``_role`` (an arbiter's home and navigation), ``_starting_page`` (the screen shown while
the node starts). The app itself, its security gate and
the server are in ``umbra.api``; the pages are handed to it as `Pages` by whoever composes the two
(they are sibling layers and do not import each other).
"""

from ._common import NAV, PageError
from ._pages import Pages, page_set
from ._render import STATIC_FILES
from ._services import PageServices

__all__ = ["NAV", "STATIC_FILES", "PageError", "PageServices", "Pages", "page_set"]
