"""Half-up rounding, the one definition the engine (--round) and the judge (marks) share."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal

# Wide enough for any float64 (up to 309 integer digits) at up to 340 decimals; the default
# 28 digits raise InvalidOperation on numbers like 1e300.
EXACT = Context(prec=1000, rounding=ROUND_HALF_UP)


def half_up(value: float, decimals: int) -> Decimal:
    """`value` rounded half-up to `decimals`, on its shortest decimal form (repr), as a person
    rounds what they read; numpy's round is half-even on the binary value (0.125 -> 0.12).
    The Decimal keeps trailing zeros (0.0310 at 4 decimals). `value` must be finite."""
    return EXACT.quantize(Decimal(repr(value)), Decimal(1).scaleb(-decimals))
