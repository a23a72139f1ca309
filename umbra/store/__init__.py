"""The store layer: one encrypted SQLite database per profile, and what lives in it.

Layout: ``_errors`` (error types), ``_paths`` (data directory, profile names, private files),
``_database`` (the SQLCipher connection, transactions, per-namespace migrations), ``_schema``
(this layer's tables), ``_profile`` (passphrase → keys → open profile), ``_blocks``
(content-addressed blocks); local search in ``_search`` (the `SearchIndex` facade and query
plans), ``_search_types`` (its values), ``_search_write`` (batched writes), ``_facets``
(filters as FTS5 tokens), ``_snippets`` and ``_listing_entry`` (verified listing → entry).
Imports only ``umbra.core``; knows nothing of the network or the UI.
"""

from ._blocks import MAX_DOCUMENT_BLOCK_BYTES, BlockStore
from ._database import Database
from ._errors import (
    DamagedStore,
    ProfileExists,
    ProfileNotFound,
    SchemaTooNew,
    StoreError,
    WrongPassphrase,
)
from ._listing_entry import index_entry_for
from ._paths import (
    PRIVATE_UMASK,
    make_private_dirs,
    open_private_append,
    resolve_data_dir,
    set_private_umask,
    tighten_private_tree,
    validate_profile_name,
    write_private_file,
)
from ._profile import Profile, create_profile, list_profiles, open_profile
from ._schema import STORE_MIGRATIONS, STORE_NAMESPACE, migrate_store
from ._search import SearchIndex, match_expression
from ._search_types import IndexEntry, SearchHit, SearchPage, SearchQuery
from ._snippets import SNIPPET_END, SNIPPET_START

__all__ = [
    "MAX_DOCUMENT_BLOCK_BYTES",
    "PRIVATE_UMASK",
    "SNIPPET_END",
    "SNIPPET_START",
    "STORE_MIGRATIONS",
    "STORE_NAMESPACE",
    "BlockStore",
    "DamagedStore",
    "Database",
    "IndexEntry",
    "Profile",
    "ProfileExists",
    "ProfileNotFound",
    "SchemaTooNew",
    "SearchHit",
    "SearchIndex",
    "SearchPage",
    "SearchQuery",
    "StoreError",
    "WrongPassphrase",
    "create_profile",
    "index_entry_for",
    "list_profiles",
    "make_private_dirs",
    "match_expression",
    "migrate_store",
    "open_private_append",
    "open_profile",
    "resolve_data_dir",
    "set_private_umask",
    "tighten_private_tree",
    "validate_profile_name",
    "write_private_file",
]
