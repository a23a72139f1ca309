"""Size and range limits of the trade protocol. Documented in docs/specifications/trade.md."""

ORDER_ID_BYTES = 16
MAX_MESSAGE_ID = 2**31  # per sender and order
MAX_NOTE_CHARS = 500  # decline/cancel reasons, claim notes, the arbiter's reason
MAX_SEALED_ADDRESS_BYTES = 2048
MAX_SEALED_TRACKING_BYTES = 1024
MAX_EVIDENCE_SEALED_BYTES = 32 * 1024
MAX_EVIDENCE_BYTES = MAX_EVIDENCE_SEALED_BYTES - 1024  # the evidence document, before sealing
MAX_EVIDENCE_CHARS = 10_000
MAX_ATTACHMENTS = 10
MIN_DAYS = 1  # bounds of the buyer's ship_days / confirm_days
MAX_DAYS = 90
# What one order machine remembers: refusing more keeps its stored state bounded.
MAX_MESSAGES_PER_SENDER = 10_000
MAX_EARLY_MESSAGES = 16
# Of those, one sender's: a party flooding early messages cannot push out another's.
MAX_EARLY_PER_SENDER = MAX_EARLY_MESSAGES // 2
