"""Amounts: integer piconero inside, decimal XMR text only at the edges."""

from decimal import Decimal, InvalidOperation

from ._errors import UsageError

PICONERO_PER_XMR = 10**12
# 1,000,000 XMR: far above any sane price and safely inside SQLite's signed 64-bit integers.
MAX_AMOUNT = 10**6 * PICONERO_PER_XMR


def parse_xmr(text: str) -> int:
    """Parse a decimal XMR amount ("1.5", "0.000000000001") into piconero.

    Raises:
        UsageError: not a number, negative, more than 12 decimals, or above MAX_AMOUNT.
    """
    cleaned = text.strip().removesuffix("XMR").removesuffix("xmr").strip()
    try:
        value = Decimal(cleaned)
    except InvalidOperation as exc:
        raise UsageError(f"{text!r} is not an amount in XMR (example: 0.25)") from exc
    if not value.is_finite() or value < 0:
        raise UsageError(f"{text!r} is not a positive amount")
    piconero = value * PICONERO_PER_XMR
    if piconero != piconero.to_integral_value():
        raise UsageError(f"{text!r} has more than 12 decimals (1 piconero = 0.000000000001 XMR)")
    if piconero > MAX_AMOUNT:
        raise UsageError(f"{text!r} is above the maximum of {MAX_AMOUNT // PICONERO_PER_XMR} XMR")
    return int(piconero)


def format_xmr(piconero: int, *, unit: bool = False) -> str:
    """Format piconero as XMR with trailing zeros trimmed (keeps at least 2 decimals)."""
    sign = "-" if piconero < 0 else ""
    whole, frac = divmod(abs(piconero), PICONERO_PER_XMR)
    frac_text = f"{frac:012d}".rstrip("0").ljust(2, "0")
    return f"{sign}{whole}.{frac_text}" + (" XMR" if unit else "")
