"""`/umbra/sync/1.0.0`: crafted request frames from a hostile peer.

Every crafted CBOR input (`_crafted.all_inputs`) as the body of a correctly framed request,
then framing lies: a length prefix of 2^32-1, one just past the frame cap, a frame that stops
half-way. Through it all the victim keeps answering (watchdog) and keeps its data.
"""

import pytest
import trio

from umbra.net import SYNC_PROTOCOL_ID, NetLimits

from ._crafted import Scale, all_inputs
from ._peer import Attacker, frame, send_raw
from ._victim import Victim
from .conftest import guarded

pytestmark = pytest.mark.hostile

FRAME_CAP = NetLimits().max_frame_bytes


def _framing_lies() -> list[tuple[str, bytes]]:
    return [
        ("declared-2^32-1", frame(b"\xa0", declared=2**32 - 1)),
        ("declared-cap+1", frame(b"\xa0", declared=FRAME_CAP + 1)),
        ("stops-half-way", frame(b"\xa0" * 100, declared=200)),
        ("length-prefix-only", (2**31).to_bytes(4, "big")),
        ("junk-at-cap", frame(b"\xff" * FRAME_CAP)),
    ]


def test_sync_frames(victim: Victim, scale: Scale) -> None:
    inputs = [(f"body {n}", frame(b)) for n, b in all_inputs(FRAME_CAP, scale)]
    inputs += [(f"framing {n}", data) for n, data in _framing_lies()]

    async def attack() -> None:
        async with Attacker(victim.addr) as attacker:
            for name, data in inputs:
                dog.label = f"sync {name}"
                host = await attacker.peer()
                await send_raw(host, attacker.victim.peer_id, SYNC_PROTOCOL_ID, data)

    with guarded(victim) as dog:
        trio.run(attack)
