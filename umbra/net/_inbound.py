"""The swarm's inbound-connection handler, replaced: admission before the handshake.

py-libp2p 0.8.1 accepts a TCP connection and calls ``Swarm._handle_inbound_connection``. That
handler can only gate by IP allow/deny lists, and it holds a slot of its inbound limiter until
the *swarm* stops, not the connection (it awaits ``manager.wait_finished()`` to keep trio from
closing the socket), so the slots of closed connections are never given back. Ours asks
`ConnectionAdmission` first (a refused socket is closed before any Noise byte is read), then
runs the library's own upgrade (Noise, yamux, ``add_conn``), and holds the place until this
connection ends. The test is tests/integration/net/test_connection_limits.py: it fails if a
library upgrade stops calling this handler.
"""

import contextlib
import logging
from typing import Any

import trio
from libp2p.abc import IMuxedConn
from libp2p.network.connection.raw_connection import RawConnection
from multiaddr import Multiaddr

from ._admission import Admitted, ConnectionAdmission

log = logging.getLogger(__name__)


def install_admission(swarm: Any, admission: ConnectionAdmission) -> None:
    """Make ``swarm`` (a py-libp2p ``Swarm``) admit inbound connections through ``admission``.

    At most ``caps.handshakes`` handshakes (Noise, yamux) run at once; the others wait for a
    turn. A connection that has not finished its handshake ``caps.handshake_timeout`` seconds
    after it was accepted (waiting included) is closed.
    """
    turns = trio.Semaphore(admission.caps.handshakes)
    if not hasattr(swarm, "_handle_inbound_connection") or not hasattr(
        swarm, "upgrade_inbound_raw_conn"
    ):
        raise RuntimeError("this py-libp2p has no inbound handler to replace; see _inbound.py")

    async def handle_inbound(read_write_closer: Any, maddr: Multiaddr) -> None:
        remote = read_write_closer.get_remote_address()
        host = str(remote[0]) if remote else ""
        verdict = admission.admit(host, established=len(swarm.get_connections()))
        if not isinstance(verdict, Admitted):
            log.info("refused an inbound connection from %s: %s cap", host, verdict.reason)
            with contextlib.suppress(Exception):
                await read_write_closer.close()
            return
        try:
            raw = RawConnection(read_write_closer, False)
            muxed = None
            with trio.move_on_after(admission.caps.handshake_timeout):
                async with turns:
                    muxed = await swarm.upgrade_inbound_raw_conn(raw, maddr)
            if muxed is None:
                log.debug("inbound handshake from %s took too long", host)
                with contextlib.suppress(Exception):
                    await read_write_closer.close()
                return
            # trio closes the socket when this handler returns: wait for the connection's end.
            await _wait_closed(muxed)
        except Exception as exc:  # noqa: BLE001 - failed handshakes are routine on a public node
            log.debug("inbound connection from %s failed: %s", host, exc)
            with contextlib.suppress(Exception):
                await read_write_closer.close()
        finally:
            admission.release(verdict)

    swarm._handle_inbound_connection = handle_inbound


async def _wait_closed(muxed: IMuxedConn) -> None:
    shutting_down = getattr(muxed, "event_shutting_down", None)  # yamux: set on either side
    if isinstance(shutting_down, trio.Event):
        await shutting_down.wait()
        return
    while not muxed.is_closed:
        await trio.sleep(1)
