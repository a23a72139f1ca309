"""Reading a profile's node status from outside the node (``umbra status``)."""

import time

from umbra.store import Profile

from ._state import NetState
from ._status import NodeStatus, status_at


def read_node_status(profile: Profile, *, now: float | None = None) -> NodeStatus:
    """The status the profile's node last wrote, merged with the persisted sync state."""
    state = NetState(profile)
    summary = state.summary()
    return status_at(
        state.read_status(),
        catalogs=summary.catalogs,
        listings=summary.listings,
        last_sync=summary.last_sync,
        now=time.time() if now is None else now,
    )
