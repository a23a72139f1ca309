"""A hostile DHT peer for tests: raw Kademlia messages from a plain py-libp2p host.

The host registers no kad handler (it is a DHT *client*), so an Umbra node must not put it in
its routing table. Every message is built here byte by byte, so a test sends exactly what an
attacker would, not what py-libp2p's client code would send.
"""

import contextlib

import multiaddr
import trio
import varint
from libp2p import new_host
from libp2p.abc import IHost
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.io.exceptions import IOException
from libp2p.kad_dht.pb.kademlia_pb2 import Message
from libp2p.peer.id import ID
from libp2p.utils.varint import read_varint_prefixed_bytes_limited

from umbra.net import KAD_PROTOCOL_ID, noise_only_security, yamux_only


def client_host(ip: str) -> tuple[IHost, multiaddr.Multiaddr]:
    """A plain py-libp2p host speaking Noise + yamux, listening on ``ip``."""
    key_pair = create_new_key_pair()
    host = new_host(
        key_pair=key_pair, sec_opt=noise_only_security(key_pair), muxer_opt=yamux_only()
    )
    return host, multiaddr.Multiaddr(f"/ip4/{ip}/tcp/0")


async def kad_request(
    host: IHost, peer: ID, message: Message, *, protocol: str = KAD_PROTOCOL_ID
) -> Message | None:
    """Send one DHT message on a new stream; the reply, or None if the node reset or closed
    the stream without one (how a DHT server refuses)."""
    stream = await host.new_stream(peer, [TProtocol(protocol)])
    try:
        data = message.SerializeToString()
        with trio.fail_after(15):
            try:
                await stream.write(varint.encode(len(data)) + data)
                payload = await read_varint_prefixed_bytes_limited(stream, 1 << 20)
            except IOException:  # StreamReset, StreamEOF, IncompleteReadError …
                return None
        reply = Message()
        reply.ParseFromString(payload)
        return reply
    finally:
        with contextlib.suppress(Exception):
            await stream.close()


def put_value(key: bytes, value: bytes) -> Message:
    message = Message()
    message.type = Message.MessageType.PUT_VALUE
    message.key = key
    message.record.key = key
    message.record.value = value
    return message


def get_value(key: bytes) -> Message:
    message = Message()
    message.type = Message.MessageType.GET_VALUE
    message.key = key
    return message


def find_node(key: bytes) -> Message:
    message = Message()
    message.type = Message.MessageType.FIND_NODE
    message.key = key
    return message


def add_provider(key: bytes, host: IHost) -> Message:
    """An ADD_PROVIDER naming ``host`` itself (a node ignores providers other than the sender)."""
    message = Message()
    message.type = Message.MessageType.ADD_PROVIDER
    message.key = key
    provider = message.providerPeers.add()
    provider.id = host.get_id().to_bytes()
    provider.addrs.extend(a.to_bytes() for a in host.get_addrs())
    return message


def get_providers(key: bytes) -> Message:
    message = Message()
    message.type = Message.MessageType.GET_PROVIDERS
    message.key = key
    return message


def ping() -> Message:
    message = Message()
    message.type = Message.MessageType.PING
    return message


def closer_peers(reply: Message | None) -> set[ID]:
    return set() if reply is None else {ID(p.id) for p in reply.closerPeers}
