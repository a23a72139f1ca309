"""The hostile peer: plain py-libp2p hosts (Noise + yamux, as any peer can run) that speak the
victim's protocols with crafted bytes. Async helpers for trio; no assertions here.

A new peer id costs nothing, so an attacker that gets banned simply comes back as another
peer: `Attacker.fresh_peer` gives a new identity whenever the current one has used up its
strikes. Every host started here is stopped when its context exits.
"""

import contextlib
import itertools
from collections.abc import AsyncIterator, Callable

import multiaddr
import trio
import varint
from libp2p import new_host
from libp2p.abc import IHost, INetStream
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.kad_dht.common import PROTOCOL_ID as LIBP2P_KAD_PROTOCOL_ID
from libp2p.kad_dht.pb.kademlia_pb2 import Message
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr

import umbra.net
from umbra.net import noise_only_security, yamux_only

# The `dht` fix moves Umbra's DHT off the public IPFS id; follow it when it is there.
KAD_PROTOCOL_ID = TProtocol(getattr(umbra.net, "KAD_PROTOCOL_ID", LIBP2P_KAD_PROTOCOL_ID))

_ip_counter = itertools.count()


def attacker_ip() -> str:
    """A fresh loopback address for each attacking host to listen on, spread over many /24
    ranges. (py-libp2p dials out from 127.0.0.1 whatever it listens on; the raw TCP flood binds
    its sockets to these addresses, so it comes from many sources.)"""
    n = next(_ip_counter)
    return f"127.0.{20 + (n // 200) % 200}.{10 + n % 200}"


def build_host() -> IHost:
    key_pair = create_new_key_pair()
    return new_host(
        key_pair=key_pair, sec_opt=noise_only_security(key_pair), muxer_opt=yamux_only()
    )


@contextlib.asynccontextmanager
async def running_host(ip: str | None = None) -> AsyncIterator[IHost]:
    host = build_host()
    listen = multiaddr.Multiaddr(f"/ip4/{ip or attacker_ip()}/tcp/0")
    async with host.run([listen]):
        try:
            yield host
        finally:
            # py-libp2p 0.8.1 leaves a host's connections open when its `run` ends (measured:
            # 192 of 200 stayed established), so an attacker that leaves would go on holding
            # the victim's connection slots: close them.
            # Shielded (it runs when the attack is cancelled too), with its own deadline inside.
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                for peer in list(host.get_connected_peers()):
                    with contextlib.suppress(Exception):
                        await host.disconnect(peer)


class Attacker:
    """One hostile peer at a time, connected to the victim; a fresh identity on demand."""

    def __init__(self, victim_addr: str, *, strikes_per_identity: int = 4) -> None:
        self.victim: PeerInfo = info_from_p2p_addr(multiaddr.Multiaddr(victim_addr))
        self._stack = contextlib.AsyncExitStack()
        self._host: IHost | None = None
        self._used = 0
        self._per_identity = strikes_per_identity
        self.identities = 0
        self.peer_ids: set[str] = set()  # every identity this attacker used

    async def __aenter__(self) -> "Attacker":
        await self._stack.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.__aexit__(*exc)  # type: ignore[arg-type]

    async def fresh_peer(self, prepare: Callable[[IHost], object] | None = None) -> IHost:
        """Drop the current identity and connect as a new peer (``prepare`` it first, e.g.
        to set its own stream handlers)."""
        await self._stack.aclose()
        self._stack = contextlib.AsyncExitStack()
        await self._stack.__aenter__()
        self._host = await self._stack.enter_async_context(running_host())
        if prepare is not None:
            prepare(self._host)
        self.identities += 1
        self.peer_ids.add(str(self._host.get_id()))
        self._used = 0
        await _connect(self._host, self.victim)
        return self._host

    async def extra_peer(self) -> IHost:
        """Another identity, connected, kept (with the others) until the next `fresh_peer`."""
        host = await self._stack.enter_async_context(running_host())
        self.identities += 1
        self.peer_ids.add(str(host.get_id()))
        await _connect(host, self.victim)
        return host

    async def peer(self) -> IHost:
        """The current hostile host, or a new one once this one may have been banned."""
        if self._host is None or self._used >= self._per_identity:
            await self.fresh_peer()
        self._used += 1
        assert self._host is not None
        return self._host


async def _connect(host: IHost, victim: PeerInfo, *, tries: int = 10) -> None:
    """Connect, trying again a few times: a victim at its connection cap refuses newcomers
    until places free up, which is its right; only a victim that never lets us in fails."""
    for attempt in range(tries):
        try:
            with trio.fail_after(30):
                await host.connect(victim)
            return
        except Exception:
            if attempt == tries - 1:
                raise
            await trio.sleep(2)


async def read_some(stream: INetStream, *, limit: int = 1 << 20, timeout: float = 10) -> bytes:
    """Whatever the victim answers until it closes, resets or goes quiet (never raises)."""
    out = bytearray()
    with trio.move_on_after(timeout), contextlib.suppress(Exception):
        while len(out) < limit:
            chunk = await stream.read(64 * 1024)
            if not chunk:
                break
            out += chunk
    return bytes(out)


async def send_raw(
    host: IHost, peer: ID, protocol: str, data: bytes, *, read: bool = True
) -> bytes | None:
    """Open a ``protocol`` stream, write ``data``, read the answer; None if the victim refused
    the stream or reset it before we could write (both fine answers to hostile input)."""
    try:
        with trio.fail_after(20):
            stream = await host.new_stream(peer, [TProtocol(protocol)])
    except Exception:
        return None
    try:
        with trio.fail_after(30):
            await stream.write(data)
    except Exception:
        return None
    answer = await read_some(stream) if read else b""
    with trio.move_on_after(2), contextlib.suppress(Exception):
        await stream.close()
    return answer


def frame(body: bytes, *, declared: int | None = None) -> bytes:
    """Umbra's 4-byte big-endian length prefix (``declared`` lies about the length)."""
    return (len(body) if declared is None else declared).to_bytes(4, "big") + body


# -- Kademlia ----------------------------------------------------------------------------------


def kad_message(kind: int, key: bytes, *, value: bytes | None = None) -> Message:
    msg = Message()
    msg.type = kind  # type: ignore[assignment]
    msg.key = key
    if value is not None:
        msg.record.key = key
        msg.record.value = value
    return msg


async def kad_exchange(
    host: IHost, peer: ID, messages: list[Message], *, timeout: float = 20
) -> list[Message | None]:
    """Send ``messages`` on one kad stream, one at a time; each answer or None (no answer,
    stream reset: the victim refused that request, and the rest of the stream)."""
    answers: list[Message | None] = []
    try:
        with trio.fail_after(timeout):
            stream = await host.new_stream(peer, [KAD_PROTOCOL_ID])
    except Exception:
        return [None] * len(messages)
    try:
        for msg in messages:
            data = msg.SerializeToString()
            try:
                with trio.fail_after(timeout):
                    await stream.write(varint.encode(len(data)) + data)
                    answers.append(await _read_kad(stream))
            except Exception:
                answers.append(None)
                break
    finally:
        with trio.move_on_after(2), contextlib.suppress(Exception):
            await stream.close()
    return answers + [None] * (len(messages) - len(answers))


async def _read_kad(stream: INetStream) -> Message | None:
    prefix = b""
    while True:
        byte = await stream.read(1)
        if not byte:
            return None
        prefix += byte
        if byte[0] < 0x80 or len(prefix) >= 10:
            break
    size = varint.decode_bytes(prefix)
    body = bytearray()
    while len(body) < size:
        chunk = await stream.read(size - len(body))
        if not chunk:
            return None
        body += chunk
    reply = Message()
    reply.ParseFromString(bytes(body))
    return reply


async def kad_get_value(host: IHost, peer: ID, key: str) -> bytes | None:
    """The value ``peer`` holds for ``key`` (a direct GET_VALUE, no lookup), or None."""
    (reply,) = await kad_exchange(host, peer, [kad_message(Message.GET_VALUE, key.encode())])
    if reply is None or not reply.HasField("record"):
        return None
    return bytes(reply.record.value)


async def ask_value(victim_addr: str, key: str, *, ip: str | None = None) -> bytes | None:
    """GET_VALUE ``key`` straight from the victim, asked by a new peer (no lookup)."""
    target = info_from_p2p_addr(multiaddr.Multiaddr(victim_addr))
    async with running_host(ip) as host:
        with trio.fail_after(30):
            await host.connect(target)
        return await kad_get_value(host, target.peer_id, key)
