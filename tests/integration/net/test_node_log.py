"""What a user reads in a node's log when peers misbehave: Umbra's events, not the libraries'.

Real `umbra node` processes on 127.0.0.7x write their log as the demo's do (``--log-file``,
stderr kept beside it). A hostile peer opens DHT streams and hangs up mid-message, which makes
py-libp2p log "Failed to read DHT message from stream:" / "Incomplete DHT message" each time.
The ordinary log must hold only Umbra's own lines (one note that a library's warnings were
not shown), and nothing may escape bare onto stderr; with ``--debug`` the lines are kept.
"""

import re
from pathlib import Path

import multiaddr
import pytest
import trio
import varint
from libp2p.custom_types import TProtocol
from libp2p.peer.peerinfo import info_from_p2p_addr

from umbra.net import KAD_PROTOCOL_ID

from .cluster import NodeProc, wait_until
from .kad_peer import client_host

pytestmark = pytest.mark.network

LIBRARY_NOISE = re.compile(r"DHT message|libp2p\.|multiaddr\.|trio\.|Traceback")
NOTE = "umbra.logging: "
HANG_UPS = 6


async def _hang_up_mid_message(addr: str, ip: str) -> None:
    """Open DHT streams that announce a 200-byte message, send 10 bytes, then reset/close."""
    host, listen = client_host(ip)
    async with host.run([listen]):  # type: ignore[attr-defined]
        info = info_from_p2p_addr(multiaddr.Multiaddr(addr))
        with trio.fail_after(60):
            await host.connect(info)
            for n in range(HANG_UPS):
                stream = await host.new_stream(info.peer_id, [TProtocol(KAD_PROTOCOL_ID)])
                await stream.write(varint.encode(200) + b"\x08" * 10)
                await trio.sleep(0.2)
                await (stream.reset() if n % 2 else stream.close())
            await trio.sleep(1)


def _launch(tmp_path: Path, name: str, ip: str, *, debug: bool) -> tuple[NodeProc, Path]:
    node = NodeProc(name, ip, tmp_path / name)
    node.create_profile()
    log_file = node.data_dir / "node.log"
    node.launch(args=["--log-file", str(log_file)], debug=debug)
    return node, log_file


def test_library_noise_stays_out_of_the_log_and_debug_keeps_it(tmp_path: Path) -> None:
    quiet, quiet_log = _launch(tmp_path, "quiet", "127.0.0.70", debug=False)
    loud, loud_log = _launch(tmp_path, "loud", "127.0.0.71", debug=True)
    try:
        quiet.wait_listening()
        loud.wait_listening()
        trio.run(_hang_up_mid_message, quiet.addrs[0], "127.0.0.72")
        trio.run(_hang_up_mid_message, loud.addrs[0], "127.0.0.73")
        wait_until(
            "the debug node logs py-libp2p's warning",
            lambda: loud_log.exists() and "DHT message" in loud_log.read_text(),
            timeout=30,
        )
        wait_until(
            "the quiet node notes that a library warned",
            lambda: quiet_log.exists() and NOTE in quiet_log.read_text(),
            timeout=30,
        )
    finally:
        quiet.stop()
        loud.stop()
    lines = quiet_log.read_text().splitlines()
    assert lines, "the node logs its own events"
    assert all(re.match(r"\S+ \S+ [A-Z]+ umbra\.", line) for line in lines), lines
    assert not [line for line in lines if LIBRARY_NOISE.search(line)], lines
    notes = [line for line in lines if NOTE in line]
    # The hang-ups all fall within the hour: one note for the library, with how to see them.
    assert len(notes) == 1 and "'libp2p' not shown (--debug" in notes[0], notes
    assert not LIBRARY_NOISE.search(quiet.log_path.read_text()), "nothing escapes to stderr"
    loud_text = loud_log.read_text()
    assert len(re.findall(r"WARNING libp2p\.kad_dht\.\S+: [^\n]*DHT message", loud_text)) >= 2
    assert NOTE not in loud_text
