"""Errors of the network layer, split by who is at fault.

`ProtocolViolation` means a remote peer sent something it must not (malformed frame, oversize
block, bytes that do not match their CID): the peer is at fault and gets a strike. `NetError`
covers everything else that went wrong on the network (no peer had a block, a dial failed):
nobody is to blame and the operation may be retried later.
"""

from umbra.core import UmbraError


class NetError(UmbraError):
    """Something on the network failed; retrying later may help."""


class ProtocolViolation(NetError):
    """A remote peer broke the wire protocol; the message says how (for the log, not the peer).

    Attributes:
        reason: a short machine-readable code, e.g. ``"oversize-frame"``.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"protocol violation ({reason}){': ' + detail if detail else ''}")
        self.reason = reason


class ProtocolUnsupported(NetError):
    """The peer answered that it does not speak the protocol (e.g. an IPFS node).

    Nobody is at fault, but asking again soon is pointless: callers stop asking for a while.
    """


class NodeNotRunning(NetError):
    """`umbra status` found no live node for the profile."""


class ImageNotReferenced(NetError):
    """No listing this device knows shows this image, so the node will not ask peers for it
    (the node is no proxy for arbitrary blocks)."""


class ImageUnavailable(NetError):
    """No peer that should have the image (the seller's node, nodes that synced its catalog)
    sent it; asking again later may help."""
