"""Which onion services tor has finished publishing, from its ``HS_DESC`` events (pure)."""

from collections import OrderedDict
from dataclasses import dataclass

REMEMBERED_SERVICES = 256


@dataclass
class _Uploads:
    pending: dict[str, int]  # HSDir → uploads started and not yet answered
    uploaded: int = 0
    failure: str | None = None


class UploadTracker:
    """Which onion services tor has finished publishing, from ``HS_DESC`` events (pure).

    ``UPLOAD`` starts an upload to an HSDir; ``UPLOADED`` and ``FAILED`` answer it. At most
    ``limit`` services are remembered (the oldest go first).
    """

    def __init__(self, limit: int = REMEMBERED_SERVICES) -> None:
        self._limit = limit
        self._services: OrderedDict[str, _Uploads] = OrderedDict()

    def on_event(self, words: list[str], values: dict[str, str]) -> bool:
        """Take one ``HS_DESC`` event's words and values; say whether it changed anything."""
        if len(words) < 5 or words[1] not in ("UPLOAD", "UPLOADED", "FAILED"):
            return False
        action, service_id, hsdir = words[1], words[2], words[4]
        uploads = self._services.get(service_id)
        if uploads is None:
            uploads = self._services[service_id] = _Uploads({})
            while len(self._services) > self._limit:
                self._services.popitem(last=False)
        if action == "UPLOAD":
            uploads.pending[hsdir] = uploads.pending.get(hsdir, 0) + 1
            return True
        if uploads.pending.get(hsdir, 0) > 0:
            uploads.pending[hsdir] -= 1
        if action == "UPLOADED":
            uploads.uploaded += 1
        else:
            uploads.failure = values.get("REASON", "unknown reason")
        return True

    def published(self, service_id: str) -> bool:
        uploads = self._services.get(service_id)
        return uploads is not None and uploads.uploaded > 0 and not any(uploads.pending.values())

    def uploaded(self, service_id: str) -> bool:
        uploads = self._services.get(service_id)
        return uploads is not None and uploads.uploaded > 0

    def last_failure(self, service_id: str) -> str | None:
        uploads = self._services.get(service_id)
        return None if uploads is None else uploads.failure

    def forget(self, service_id: str) -> None:
        self._services.pop(service_id, None)
