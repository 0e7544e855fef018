"""EngineError and the checks that raise it: a value that is not finite, a loss that
diverged."""

from __future__ import annotations

import math

from bpwalk import optimizers
from bpwalk.scenario import Scenario
from bpwalk.trace import Step

DIVERGED = 1e6  # a loss this many times the starting loss (or 1, if larger) means divergence


class EngineError(Exception):
    """Training left the finite range or diverged; the message names the update and the
    value. `history` is the data-set loss before each update up to there (finite values),
    for the loss table and curve a view prints."""

    def __init__(self, message: str, history: list[float] | None = None):
        super().__init__(message)
        self.history = history or []
        self.updates: list[int] | None = None  # the update of each entry, when strided


def divergence_bound(history: list[float]) -> float:
    return DIVERGED * max(history[0], 1.0)


def check_bound(scenario: Scenario, history: list[float], number: int) -> None:
    """Refuse a loss past DIVERGED times the start: finite, but training has diverged."""
    if history and history[-1] > divergence_bound(history):
        raise EngineError(
            f"update {number}: the loss E = {history[-1]:.4g} is more than {DIVERGED:.0e} times "
            f"the starting loss ({history[0]:.4g}): training diverged; try a smaller "
            f"learning_rate (now {scenario.learning_rate:g})")


def check_finite(steps: list[Step], number: int) -> None:
    for s in steps:
        if not math.isfinite(s.value):
            if s.kind == "loss" and s.fn in ("cross_entropy", "binary_cross_entropy"):
                why = (f"ln(0): {s.terms[1][0].ref} is {s.terms[1][0].value:g} with target "
                       f"{s.terms[0][0].value:g}, so the loss is infinite")
                fix = "use targets that the outputs can reach, or smaller weights"
            elif s.kind in optimizers.STEP_KINDS:  # the optimizer's state or its parts
                why = f"the value is {s.value}"
                fix = ("the optimizer's numbers grew too large: try a smaller learning_rate "
                       "or weight_decay, or smaller weights")
            else:
                why = f"the value is {s.value}"
                fix = ("the numbers grew too large: try a smaller learning_rate, smaller "
                       "weights, or fewer iterations")
            raise EngineError(f"update {number}, step {s.id}: {why}; {fix}")


