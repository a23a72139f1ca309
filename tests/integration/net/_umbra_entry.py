"""Run the real `umbra` CLI. Until ``umbra.store.index_entry_for`` lands (the market layer
needs it), install the network layer's identical conversion first. Delete this file and use the
``umbra`` console script once the store exports it."""

import sys

import umbra.store as store

if not hasattr(store, "index_entry_for"):
    import importlib

    try:  # the store helper's module, before its __init__ exports it
        entry = importlib.import_module("umbra.store._listing_entry").index_entry_for
    except (ImportError, AttributeError):
        from umbra.net._index_entry import _fallback_index_entry as entry

    store.index_entry_for = entry  # type: ignore[attr-defined]

from umbra.cli import main

if __name__ == "__main__":
    main(sys.argv[1:])
