"""A private Tor network (and one client tor that several nodes share) in its own process.

Run as ``python _network_proc.py ROOT``: it starts `PrivateTorNetwork` under ROOT, writes the
client torrc lines to ``ROOT/tor-network`` (for ``umbra node --tor-network-file``), starts the
shared client tor, prints one JSON line (the file, and the shared tor's control and SOCKS
endpoints) and runs until its stdin closes; then every tor it started stops. Its tors are
owned by this process (TAKEOWNERSHIP): if it is killed, they exit too.
"""

import json
import sys
from pathlib import Path

import trio

from umbra.net.tor import PrivateTorNetwork, start_tor


async def main(root: Path) -> None:
    async with PrivateTorNetwork(root / "net") as network:
        network_file = network.write_client_torrc(root / "tor-network")
        lines = network.client_torrc_lines()
        async with start_tor(root / "shared-tor", extra_torrc_lines=lines) as shared:
            ready = {
                "network_file": str(network_file),
                "shared_control": str(shared.control),
                "shared_socks": str(shared.socks),
                "pids": [r.process.pid for r in network.running] + [shared.process.pid],
            }
            print(json.dumps(ready), flush=True)
            await trio.to_thread.run_sync(sys.stdin.read)  # until the test closes our stdin


if __name__ == "__main__":
    trio.run(main, Path(sys.argv[1]))
