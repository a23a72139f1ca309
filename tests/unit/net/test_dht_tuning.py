"""`tune_dht` puts Umbra's kad protocol id everywhere py-libp2p uses the IPFS one.

py-libp2p 0.8.1 hard-codes ``/ipfs/kad/1.0.0`` in ``kad_dht/common.py`` and its modules import
it by value. These tests fail if a library upgrade adds a binding or a literal that
`tune_dht` does not reach, or moves the constant.
"""

import sys
from pathlib import Path

import libp2p

from umbra.net import KAD_PROTOCOL_ID, tune_dht
from umbra.net._dht import IPFS_KAD_PROTOCOL_ID, MAX_DHT_MESSAGE_BYTES


def test_no_loaded_libp2p_module_keeps_the_ipfs_id() -> None:
    import libp2p.kad_dht.common as common
    import libp2p.kad_dht.kad_dht
    import libp2p.kad_dht.peer_routing
    import libp2p.kad_dht.provider_store
    import libp2p.kad_dht.value_store  # noqa: F401 - loaded so they are checked

    tune_dht()
    left = [
        f"{name}.{attr}"
        for name, module in list(sys.modules.items())
        if module is not None and name.startswith("libp2p")
        for attr, value in list(vars(module).items())
        if isinstance(value, str) and "/ipfs/kad" in value
    ]
    assert left == []
    assert common.PROTOCOL_ID == KAD_PROTOCOL_ID
    for module in ("kad_dht", "peer_routing", "provider_store", "value_store"):
        assert vars(sys.modules[f"libp2p.kad_dht.{module}"])["PROTOCOL_ID"] == KAD_PROTOCOL_ID


def test_the_ipfs_id_is_written_only_where_tune_dht_expects_it() -> None:
    """A new hard-coded literal (say in a function body) would escape the rebinding."""
    root = Path(libp2p.__file__).parent
    found = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "/ipfs/kad/" in path.read_text(encoding="utf-8", errors="replace")
    )
    assert found == ["kad_dht/common.py"]
    assert f'TProtocol("{IPFS_KAD_PROTOCOL_ID}")' in (root / "kad_dht/common.py").read_text()


def test_the_routing_tables_server_check_reads_the_constant_at_call_time() -> None:
    """``RoutingTable.add_peer`` does ``from .common import PROTOCOL_ID`` inside the call."""
    source = (Path(libp2p.__file__).parent / "kad_dht/routing_table.py").read_text()
    assert "from .common import PROTOCOL_ID" in source


def test_dht_messages_are_capped_in_every_module_that_reads_them() -> None:
    tune_dht()
    modules = [m for n, m in sys.modules.items() if n.startswith("libp2p.kad_dht.")]
    capped = [m for m in modules if "MAX_DHT_MESSAGE_SIZE" in vars(m)]
    assert len(capped) >= 5  # common, kad_dht, peer_routing, provider_store, value_store
    assert all(vars(m)["MAX_DHT_MESSAGE_SIZE"] == MAX_DHT_MESSAGE_BYTES for m in capped)
