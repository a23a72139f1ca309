"""The measuring node of ``bench/tor.py``: one more Umbra node, driven by JSON lines on stdin.

It runs `open_node` and the messaging service (what the `umbra node` process runs, without
the trade layer and the web app) in the same network mode as the nodes it measures, and
times what only a node can see:

- ``connect``: first contact, i.e. ``host.connect`` to a peer this node has no connection
  to (Tor: SOCKS CONNECT to the peer's onion, rendezvous, then Noise + yamux; TCP: the TCP
  handshake, then the same). A peer the node already reached on its own is skipped and
  reported as such, never timed.
- ``resolve``: a DHT lookup of a seller's catalog head (``get_fresh(quorum=1)``; the node's
  local copy is set aside so the network is asked) until it has the wanted sequence number.

Started by ``bench/tor.py`` as ``python bench/tor_probe.py``; not meant to be run by hand.
"""

import contextlib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PASSPHRASE = "bench"


def _network(cmd: dict[str, Any]) -> Any:
    from umbra.net import CLEARNET, TorSettings

    if cmd["mode"] == "clearnet":
        return CLEARNET
    lines = Path(cmd["network_file"]).read_text().splitlines()
    return TorSettings(extra_torrc_lines=tuple(line for line in lines if line.strip()))


def main() -> None:
    import trio

    logging.basicConfig(format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("libp2p").setLevel(logging.CRITICAL)
    logging.getLogger("umbra").setLevel(logging.INFO)

    from libp2p.peer.peerinfo import info_from_p2p_addr
    from multiaddr import Multiaddr

    from umbra.core import parse_catalog_head
    from umbra.net import NodeConfig, get_fresh, head_key, open_node
    from umbra.net.messaging import serve_messaging
    from umbra.store import open_profile

    async def run() -> None:
        stdin = trio.lowlevel.FdStream(os.dup(0))
        buf = b""

        def say(obj: dict[str, Any]) -> None:
            sys.stdout.write(json.dumps(obj) + "\n")
            sys.stdout.flush()

        async def command() -> dict[str, Any] | None:
            nonlocal buf
            while b"\n" not in buf:
                data = await stdin.receive_some(65536)
                if not data:
                    return None
                buf += data
            line, buf = buf.split(b"\n", 1)
            parsed: dict[str, Any] = json.loads(line)
            return parsed

        first = await command()
        if first is None or first["cmd"] != "start":
            return
        with open_profile(Path(first["root"]), first["name"], PASSPHRASE) as profile:
            # Tor: tor's onion service forwards to a loopback port (the CLI's default).
            ip = first["ip"] if first["mode"] == "clearnet" else "127.0.0.1"
            config = NodeConfig(
                network=_network(first),
                listen=(f"/ip4/{ip}/tcp/0",),
                bootstrap=tuple(first["bootstrap"]),
            )
            started = time.monotonic()
            async with open_node(profile, config) as node, trio.open_nursery() as services:
                # Messaging too, as `umbra node` runs it: without it the probe would refuse the
                # others' prekey records and mailbox requests as a DHT neighbour.
                await services.start(serve_messaging, node, profile)
                say({"ok": "start", "addrs": node.addrs, "usable_s": time.monotonic() - started})
                host = node.host
                while (cmd := await command()) is not None:
                    if cmd["cmd"] == "connect":
                        info = info_from_p2p_addr(Multiaddr(cmd["addr"]))
                        if host.get_network().connections.get(info.peer_id):
                            say({"ok": "connect", "skipped": "already connected"})
                            continue
                        t0 = time.monotonic()
                        try:
                            with trio.fail_after(cmd.get("timeout", 60)):
                                await host.connect(info)
                        except Exception as exc:  # reported, not timed
                            say({"ok": "connect", "error": f"{type(exc).__name__}: {exc}"})
                            continue
                        say({"ok": "connect", "s": time.monotonic() - t0})
                    elif cmd["cmd"] == "resolve":
                        seller, seq = bytes.fromhex(cmd["seller"]), cmd["seq"]
                        t0 = time.monotonic()
                        found = False
                        with trio.move_on_after(cmd.get("timeout", 60)):
                            while not found:
                                value = await get_fresh(node.dht, head_key(seller), quorum=1)
                                found = (
                                    value is not None and parse_catalog_head(value).body.seq >= seq
                                )
                                if not found:
                                    await trio.sleep(0.05)
                        say({"ok": "resolve", "s": time.monotonic() - t0 if found else None})
                    elif cmd["cmd"] == "stats":
                        stats = node.statistics()
                        say({"ok": "stats", "peers": stats.peers, "routing": stats.routing_table})
                    elif cmd["cmd"] == "stop":
                        break
                services.cancel_scope.cancel()
        say({"ok": "stop"})

    with contextlib.suppress(KeyboardInterrupt):
        trio.run(run)


if __name__ == "__main__":
    main()
