"""The options of a run, checked in one place for the command line and the Python API.

`bpwalk run -n N --show WHICH --round D --force` and ``Problem.run(iterations, show,
round_to, force)`` go through `checked`: the same limits, the same guard on the size of
the explanation, and the same RunOptionError with the same message (the command line
prints it as its one line). The messages name the options as the command line spells them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from bpwalk.scenario.format import MAX_ITERATIONS

if TYPE_CHECKING:
    from bpwalk.scenario import Scenario

MAX_DECIMALS = 15  # --round and --decimals: float64 holds 15 to 17 significant digits
TRACE_LIMIT = 50 * 10**6  # bytes of output, about, beyond which --force is asked for
# Bytes of output per explained step, about, by format. Measured on a 2-500-2 network: 240
# in Markdown, 250 in JSON, 155 in the terminal (400 leaves room for longer names and
# numbers); 655 in HTML, whose steps carry their data attributes and MathML too.
BYTES_PER_STEP = 400
BYTES_PER_STEP_OF = {"html": 700, "pdf": 700}


class RunOptionError(ValueError):
    """A run option that cannot be used; the message is one line saying how to fix it."""


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def iterations_of(scenario: Scenario, iterations: int | None) -> int:
    """The number of updates: `iterations`, else the scenario's (validated when loaded)."""
    if iterations is None:
        return scenario.iterations
    if not _whole(iterations) or not 1 <= iterations <= MAX_ITERATIONS:  # type: ignore[operator]
        raise RunOptionError(f"--iterations {iterations!r}: give a whole number from 1 to "
                             f"{MAX_ITERATIONS:,} (bpwalk's limit; see docs/limits.md)")
    return iterations


def round_of(round_to: int | None) -> int | None:
    if round_to is not None and (not _whole(round_to) or not 0 <= round_to <= MAX_DECIMALS):
        raise RunOptionError(f"--round {round_to!r}: give a whole number of decimals from 0 to "
                             f"{MAX_DECIMALS}")
    return round_to


def count_shown(spec: str | Iterable[int], iterations: int) -> tuple[int, set[int] | None]:
    """How many updates `spec` explains, and which (None for "all": built only once the
    guard has let it through, since 10**8 numbers in a set take gigabytes)."""
    if not isinstance(spec, str):
        chosen = list(spec)
        written = ",".join(map(str, chosen))  # as the command line would have it
        if not all(_whole(k) for k in chosen):
            raise RunOptionError(f"--show {written!r}: use first, last, all, none, or update "
                                 "numbers like 1,5,10")
        return _numbers(set(chosen), written, iterations)
    spec = spec.strip().lower()
    named = {"first": {1}, "last": {iterations}, "none": set()}
    if spec in named:
        return len(named[spec]), named[spec]
    if spec == "all":
        return iterations, None
    try:
        chosen = {int(part) for part in spec.split(",") if part.strip()}
    except ValueError:
        raise RunOptionError(f"--show {spec!r}: use first, last, all, none, or update numbers "
                             "like 1,5,10") from None
    return _numbers(chosen, spec, iterations)


def _numbers(chosen: set[int], spec: str, iterations: int) -> tuple[int, set[int]]:
    outside = sorted(i for i in chosen if not 1 <= i <= iterations)
    if outside or not chosen:
        raise RunOptionError(f"--show {spec!r}: there {'is' if iterations == 1 else 'are'} "
                             f"{iterations} update{'s' * (iterations != 1)}; choose numbers "
                             f"from 1 to {iterations}")
    return len(chosen), chosen


def guard(scenario: Scenario, shown: int, force: bool, fmt: str = "") -> None:
    """Refuse an explanation of more than about TRACE_LIMIT bytes unless forced."""
    size = shown * scenario.steps_per_update() * BYTES_PER_STEP_OF.get(fmt, BYTES_PER_STEP)
    if size > TRACE_LIMIT and not force:
        raise RunOptionError(
            f"{scenario.path}: explaining {shown:,} update{'s' * (shown != 1)} of this "
            f"{scenario.shape} network makes about {size // 10**6:,} MB of output; explain "
            "fewer (--show first, last or none), or add --force")


def checked(scenario: Scenario, iterations: int | None, show: str | Iterable[int],
            round_to: int | None, force: bool = False, fmt: str = ""
            ) -> tuple[int, set[int], int | None]:
    """The number of updates, the updates to explain and the rounding, each checked; `fmt`
    is the format the explanation is written in ("md", "html", ...; "" when not known)."""
    n = iterations_of(scenario, iterations)
    round_to = round_of(round_to)
    count, shown = count_shown(show, n)
    guard(scenario, count, force, fmt)
    return n, set(range(1, n + 1)) if shown is None else shown, round_to
