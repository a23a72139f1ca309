"""Which stream failures mean "the peer does not speak the protocol" (py-libp2p 0.8.1 errors)."""

from libp2p.host.exceptions import StreamFailure
from libp2p.protocol_muxer.exceptions import MultiselectClientError, ProtocolNotSupportedError

from umbra.net import is_protocol_refusal


def _wrapped(cause: Exception) -> StreamFailure:
    try:
        try:
            raise cause
        except Exception as exc:
            raise StreamFailure("failed to open a stream to peer X") from exc
    except StreamFailure as failure:
        return failure


def test_the_peers_na_is_a_refusal() -> None:
    all_refused = MultiselectClientError("protocols not supported: tried ['/umbra/sync/1.0.0']")
    assert is_protocol_refusal(_wrapped(all_refused))
    assert is_protocol_refusal(_wrapped(ProtocolNotSupportedError("protocol not supported: x")))


def test_timeouts_and_broken_streams_are_not() -> None:
    assert not is_protocol_refusal(_wrapped(MultiselectClientError("response timed out after 5s")))
    assert not is_protocol_refusal(_wrapped(MultiselectClientError("protocol read failed: EOF")))
    assert not is_protocol_refusal(StreamFailure("failed to open a stream to peer X"))
    assert not is_protocol_refusal(OSError("connection refused"))
