"""How long blocks take on the chain the wallet is on, to say how long a wait really is.

New coins (and change) are spendable after `UNLOCK_BLOCKS` blocks. On Monero's main network a
block comes every 2 minutes on average, so that is about 20 minutes; on a regtest chain mined
every few seconds it is under a minute. Where the daemon is known (the sandbox), the median gap
between its last blocks' timestamps says it (`pace_from_block_times`). A wallet-rpc alone tells
no block times, but every transfer it lists carries the height and timestamp of its block: the
newest one a few blocks back, with the wallet's current height and the clock, gives the
average block time since then (`pace_from_blocks`). Without either the main network's pace is
assumed, and said.

Pure functions plus one wallet read (`seconds_per_block`); the clock is passed in.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from ._rpc import RpcClient

UNLOCK_BLOCKS = 10
MAINNET_BLOCK_SECONDS = 120
# A sample closer to the top than this says too little (one block's luck dominates).
_MIN_SPAN_BLOCKS = 3
# Bounds of a believable average: regtest mined as fast as possible, a stalled testnet.
_MIN_SECONDS, _MAX_SECONDS = 0.5, 3600.0
_RECENT_BLOCKS = 12  # headers read from a daemon


@dataclass(frozen=True)
class BlockPace:
    """Seconds per block and where the number comes from."""

    seconds: float
    measured: bool  # False: the main network's 2 minutes, assumed

    def wait(self, blocks: int) -> str:
        """``blocks`` blocks as words: "about 40 seconds on this chain"."""
        text = duration_words(blocks * self.seconds)
        if self.measured:
            return f"{text} on this chain"
        return f"{text} at the main network's 2 minutes a block"


ASSUMED = BlockPace(MAINNET_BLOCK_SECONDS, measured=False)


def duration_words(seconds: float) -> str:
    """A rough duration for people: "about 40 seconds", "about 1 minute", "about 20 minutes"."""
    if seconds < 45:
        whole = round(seconds / 5) * 5 if seconds >= 7.5 else max(1, round(seconds))
        return f"about {whole} second{'s' if whole != 1 else ''}"
    if seconds < 90:
        return "about 1 minute"
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"about {minutes} minutes"
    return f"about {round(minutes / 60)} hours"


def pace_from_blocks(samples: Iterable[tuple[int, int]], height: int, now: float) -> BlockPace:
    """The average block time since the newest known block at least a few blocks back.

    Args:
        samples: (block height, block timestamp) pairs, e.g. of the wallet's transfers.
        height: the chain height the wallet is at (blocks so far).
        now: the current time, unix seconds.
    """
    usable = [(h, ts) for h, ts in samples if h > 0 and ts > 0 and height - h >= _MIN_SPAN_BLOCKS]
    if not usable:
        return ASSUMED
    block, stamp = max(usable)
    seconds = (now - stamp) / (height - block)
    if not _MIN_SECONDS <= seconds <= _MAX_SECONDS:
        return ASSUMED
    return BlockPace(seconds, measured=True)


def pace_from_block_times(timestamps: Sequence[int]) -> BlockPace:
    """The median gap between consecutive block timestamps (oldest first). The median, not the
    mean: a burst of blocks mined at once (regtest set-up) or one slow block does not move it."""
    gaps = sorted(b - a for a, b in pairwise(timestamps))
    if len(gaps) < 3:
        return ASSUMED
    median = float(gaps[len(gaps) // 2])
    if not _MIN_SECONDS <= median <= _MAX_SECONDS:
        return ASSUMED
    return BlockPace(median, measured=True)


async def daemon_pace(daemon: RpcClient) -> BlockPace:
    """How fast a monerod's chain makes blocks, from its last few block headers."""
    top = int((await daemon.call("get_last_block_header"))["block_header"]["height"])
    r = await daemon.call(
        "get_block_headers_range",
        {"start_height": max(0, top - _RECENT_BLOCKS), "end_height": top},
    )
    return pace_from_block_times([int(h["timestamp"]) for h in r.get("headers", [])])


def _samples(transfers: dict[str, Any]) -> list[tuple[int, int]]:
    out = []
    for kind in ("in", "out"):
        for t in transfers.get(kind, []):
            try:
                out.append((int(t.get("height", 0)), int(t.get("timestamp", 0))))
            except (TypeError, ValueError):
                continue
    return out


async def seconds_per_block(rpc: RpcClient, now: float, *, account: int = 0) -> BlockPace:
    """How fast the wallet's chain makes blocks (see the module docstring)."""
    height = int((await rpc.call("get_height"))["height"])
    transfers = await rpc.call("get_transfers", {"in": True, "out": True, "account_index": account})
    return pace_from_blocks(_samples(transfers), height, now)
