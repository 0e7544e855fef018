"""How a written answer is marked against a value: the numbers a student's text can stand
for (rounded or cut to its own decimals), shared by the judge (bpwalk.judge) and the
marking of matrices (bpwalk.judge_matrix), neither of which imports the other for them.
"""

from __future__ import annotations

import functools
import math
from decimal import Decimal

from bpwalk.numbers import EXACT as _EXACT
from bpwalk.numbers import half_up

MAX_DECIMALS = 340  # compare at most this many decimals (a float has fewer significant ones)


def decimals_of(text: str) -> int:
    """How many decimals a written number gives: 0.5933 -> 4, 1.50 -> 2, 4.386e-4 -> 7."""
    exponent = Decimal(text).as_tuple().exponent
    return min(MAX_DECIMALS, max(0, -exponent)) if isinstance(exponent, int) else 0


def at_decimals(value: float, decimals: int) -> str:
    """`value` rounded half-up to `decimals`, keeping trailing zeros (as a student writes it)."""
    if not math.isfinite(value):
        return str(value)
    return str(half_up(value, decimals))


def cell(text: str) -> tuple[Decimal, Decimal]:
    """The values whose rounding (half up) or truncation to the written decimals is `text`.

    0.74 stands for [0.735, 0.75): rounded from 0.735 up, or cut from anything below 0.75.
    A negative number mirrors it; 0.00 is [−0.005, 0.01) and −0.00 (−0.01, 0]: a minus sign
    written on a zero says the value was negative.
    """
    g = Decimal(text)
    q = Decimal(1).scaleb(-decimals_of(text))
    half = q / 2
    if g.is_signed():
        return _EXACT.subtract(g, q), _EXACT.add(g, 0 if g.is_zero() else half)
    return _EXACT.subtract(g, half), _EXACT.add(g, q)


def gap(text: str, lo: float, hi: float) -> Decimal:
    """How far the written number's cell lies from the range [lo, hi] (0 when they meet)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return Decimal("Infinity")
    a, b = cell(text)
    low, high = Decimal(repr(lo)), Decimal(repr(hi))
    return max(Decimal(0), _EXACT.subtract(a, high), _EXACT.subtract(low, b))


def fits(text: str, lo: float, hi: float) -> bool:
    """Could `text` be a value in [lo, hi] rounded or truncated to its own decimals?"""
    return not far(text, lo, hi) and gap(text, lo, hi) == 0


def far(text: str, lo: float, hi: float) -> bool:
    """Is [lo, hi] certainly beyond the written number's cell? A float test, before the exact
    one of `gap`: the judge tries dozens of mistaken values per wrong answer, and nearly all
    miss by far more than the cell is wide. False when floats cannot tell."""
    g, m = near(text)
    return beyond(g, m, lo, hi)


def beyond(g, m, lo, hi):
    """far() from near()'s (g, m); on NumPy arrays too (many answers' candidate ranges at
    once: an array of verdicts). nan, from inf − inf, is never beyond: `gap` decides."""
    # the cell lies within [g − m/2, g + m/2]; the rest of m and the 1e-9 of lo and hi are
    # room, far more than the rounding of these float operations and of repr(lo) in gap
    return (lo - (g + m) > 1e-9 * abs(lo)) | ((g - m) - hi > 1e-9 * abs(hi))


@functools.lru_cache(maxsize=4096)  # one answer is tried against dozens of values in a row
def near(text: str) -> tuple[float, float]:
    """The written number as a float, g, and a distance m: its cell lies within m/2 of g
    (twice the cell's width plus a billionth of g); m is inf past the floats' range."""
    d, g = decimals_of(text), float(text)
    if d > 300 or not math.isfinite(g):
        return 0.0, math.inf
    return g, 2.0 * 10.0 ** -d + 1e-9 * abs(g)


def agrees(text: str, value: float) -> bool:
    """Is `text` the value rounded or truncated to the decimals written?"""
    return fits(text, value, value)


def unit(decimals: int) -> Decimal:
    """One unit in the last of `decimals` places: 2 -> 0.01."""
    return Decimal(1).scaleb(-decimals)
