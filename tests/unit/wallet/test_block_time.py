"""How long "10 blocks" is, measured on the chain in use (pure: samples and clock given)."""

import pytest

from umbra.wallet import UNLOCK_BLOCKS, BlockPace, duration_words, pace_from_blocks
from umbra.wallet._block_time import pace_from_block_times

NOW = 1_900_000_000


def test_a_regtest_chain_mined_every_6_seconds_says_about_a_minute() -> None:
    # The demo: funded at height 200, 20 blocks later, 6 s apart.
    pace = pace_from_blocks([(200, NOW - 120)], height=220, now=NOW)
    assert pace == BlockPace(6.0, measured=True)
    assert pace.wait(UNLOCK_BLOCKS) == "about 1 minute on this chain"
    assert pace.wait(3) == "about 20 seconds on this chain"


def test_the_main_network_pace_is_measured_too() -> None:
    pace = pace_from_blocks([(3_000_000, NOW - 120 * 50)], height=3_000_050, now=NOW)
    assert pace.measured and pace.seconds == 120
    assert pace.wait(UNLOCK_BLOCKS) == "about 20 minutes on this chain"


def test_the_newest_sample_far_enough_back_is_used() -> None:
    samples = [
        (100, NOW - 10_000),  # old: the chain ran slower then
        (190, NOW - 60),  # newest a few blocks back: 6 s a block since
        (199, NOW - 5),  # too close to the top to say anything
        (0, 0),  # a pool transfer: no block yet
    ]
    assert pace_from_blocks(samples, height=200, now=NOW).seconds == 6.0


@pytest.mark.parametrize(
    ("samples", "height"),
    [
        ([], 500),  # no transfer at all
        ([(499, NOW - 10)], 500),  # only one block back
        ([(400, NOW + 1000)], 500),  # a block from the future: clocks disagree
        ([(400, NOW - 10**9)], 500),  # hours a block: not believable
    ],
)
def test_without_a_usable_sample_the_main_network_pace_is_assumed_and_said(
    samples: list[tuple[int, int]], height: int
) -> None:
    pace = pace_from_blocks(samples, height=height, now=NOW)
    assert not pace.measured and pace.seconds == 120
    assert pace.wait(UNLOCK_BLOCKS) == "about 20 minutes at the main network's 2 minutes a block"


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "about 1 second"),
        (4, "about 4 seconds"),
        (12, "about 10 seconds"),
        (61, "about 1 minute"),
        (95, "about 2 minutes"),
        (1200, "about 20 minutes"),
        (7200, "about 2 hours"),
    ],
)
def test_durations_in_words(seconds: float, words: str) -> None:
    assert duration_words(seconds) == words


def test_the_daemon_s_last_blocks_give_the_pace_of_a_demo_chain() -> None:
    # A burst mined at set-up, then the demo's miner every 2 s: the median says 2 s.
    stamps = [NOW] * 5 + [NOW + 2 * i for i in range(1, 9)]
    pace = pace_from_block_times(stamps)
    assert pace == BlockPace(2.0, measured=True)
    assert pace.wait(UNLOCK_BLOCKS) == "about 20 seconds on this chain"


def test_a_chain_mined_only_in_bursts_has_no_pace_to_measure() -> None:
    assert not pace_from_block_times([NOW] * 12).measured  # nobody mines between bursts
    assert not pace_from_block_times([NOW, NOW + 120]).measured  # too few blocks to say
