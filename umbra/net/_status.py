"""The node's health, as one frozen snapshot (for ``umbra status`` and, later, the UI).

"No listings" must never be confused with "not synced yet": the snapshot says whether a node
is running, how many peers it has, how big its DHT routing table is, how many catalogs it has
synced and when it last synced one.
"""

from dataclasses import asdict, dataclass, field, replace
from typing import Any

# A running node rewrites its status every couple of seconds; older means it is gone.
STALE_AFTER_S = 15.0


@dataclass(frozen=True, kw_only=True)
class NodeStatus:
    running: bool
    peer_id: str | None = None
    addrs: tuple[str, ...] = ()
    transport: str | None = None
    # "tor" or "clearnet"; with Tor, how far its bootstrap got (when the transport knows).
    network: str | None = None
    tor_bootstrap_percent: int | None = None
    tor_bootstrap_summary: str | None = None
    # Why the node's tor is unusable (it died while the node ran); None while it works.
    tor_error: str | None = None
    # Where the tor in use listens (loopback endpoints, or unix:PATH), once reached.
    tor_control: str | None = None
    tor_socks: str | None = None
    pid: int | None = None
    started_at: float | None = None
    updated_at: float | None = None
    peers: int = 0
    routing_table: int = 0
    catalogs_synced: int = 0
    listings_synced: int = 0
    last_sync: int | None = None
    own_seq: int | None = None
    own_published_at: int | None = None
    syncs_ok: int = 0
    syncs_failed: int = 0
    rejected_heads: int = 0
    banned_peers: int = 0
    pending_syncs: int = 0
    # Inbound connections held now, and refused (at a connection cap) since start.
    inbound_connections: int = 0
    refused_connections: int = 0
    # Sync requests this node sent that reached the network (not skipped by a backoff).
    sync_requests: int = 0
    notes: tuple[str, ...] = field(default=())

    def tor_bootstrap_json(self) -> dict[str, Any] | None:
        """How far the node's tor got, ``{"percent": 0-100, "summary": "…"}``, when known."""
        if self.tor_bootstrap_percent is None:
            return None
        return {"percent": self.tor_bootstrap_percent, "summary": self.tor_bootstrap_summary or ""}

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["addrs"] = list(self.addrs)
        data["notes"] = list(self.notes)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "NodeStatus":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["addrs"] = tuple(known.get("addrs") or ())
        known["notes"] = tuple(known.get("notes") or ())
        return cls(**known)


def status_at(
    stored: tuple[float, dict[str, Any]] | None,
    *,
    catalogs: int,
    listings: int,
    last_sync: int | None,
    now: float,
) -> NodeStatus:
    """Combine the last status row a node wrote with the sync state, as of ``now``."""
    if stored is None:
        return NodeStatus(
            running=False, catalogs_synced=catalogs, listings_synced=listings, last_sync=last_sync
        )
    updated_at, data = stored
    try:
        base = NodeStatus.from_json(data)
    except TypeError:
        base = NodeStatus(running=False)
    return replace(
        base,
        running=now - updated_at <= STALE_AFTER_S and bool(data.get("running")),
        updated_at=updated_at,
        catalogs_synced=catalogs,
        listings_synced=listings,
        last_sync=last_sync,
    )
