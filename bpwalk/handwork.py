"""Numbers worth working by hand: the rules a drawn problem must meet (`bpwalk new`, and the
variants of `bpwalk lms`), written once. `bpwalk new --explain-rules` prints them.

A draw that breaks a rule is drawn again from the same random stream, so a seed still gives
one problem. The values come from the engine and the mistakes from the judge (a mistake's
value is the judge's own re-run with it injected): nothing here computes a network.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bpwalk.judge import Judge, at_decimals
from bpwalk.scenario import Scenario

SATURATION = 2.5  # |net| of a sigmoid or tanh beyond which f' is under 0.07 (sigmoid)
NEAR_UNIFORM = 0.1  # a softmax row whose largest output is within this of 1/n is near uniform
SMALLEST = 1e-4  # Canvas refuses a numeric answer smaller; a hand calculation loses it too
GIVEN_DECIMALS = 2  # inputs, weights and biases of an lms variant
ASK_DECIMALS = 6  # asked unless told: at 4, a hidden delta of 0.004 hides most mistakes
SATURATING = ("sigmoid", "tanh")
RECTIFIED = ("relu", "leaky_relu")


@dataclass
class Draw:
    """One drawn problem, under examination: its values, and what the student is asked."""

    scenario: Scenario
    asked: Sequence[str] | None = None  # step ids asked (None: every step of the update)
    decimals: int = ASK_DECIMALS
    judge: Judge = field(init=False)

    def __post_init__(self) -> None:
        self.judge = Judge(self.scenario)
        if self.asked is None:
            self.asked = list(self.judge.by_id)

    def value(self, sid: str) -> float:
        return self.judge.by_id[sid].value

    def shown(self, value: float) -> str:
        return at_decimals(value, self.decimals)

    def activation(self, sid: str) -> str:
        layer = self.judge.by_id[sid].layer
        return "" if layer is None else self.scenario.layers[layer - 1].activation

    def steps(self, kind: str) -> list:
        return [s for s in self.judge.by_id.values() if s.kind == kind]


@dataclass(frozen=True)
class Rule:
    name: str
    text: str  # what --explain-rules prints
    broken: Callable[[Draw], str | None]  # what breaks it, or None


def _saturated(d: Draw) -> str | None:
    for s in d.steps("net"):
        if d.activation(s.id) in SATURATING and abs(s.value) > SATURATION:
            return f"{s.id} = {s.value:.3g} saturates {d.activation(s.id)}"
    return None


def _dead(d: Draw) -> str | None:
    layers: dict[int, list[float]] = {}
    for s in d.steps("net"):
        if d.activation(s.id) in RECTIFIED:
            layers.setdefault(s.layer, []).append(s.value)
    dead = [k for k, nets in layers.items() if all(v <= 0 for v in nets)]
    return f"every ReLU input of layer {dead[0]} is negative" if dead else None


def _uniform(d: Draw) -> str | None:
    rows: dict[tuple, list[float]] = {}
    for s in d.steps("out"):
        if d.activation(s.id) == "softmax":
            rows.setdefault((s.layer, s.sample), []).append(s.value)
    for outs in rows.values():
        if max(outs) - 1 / len(outs) < NEAR_UNIFORM:
            return "a softmax row is near uniform"
    return None


def _tiny(d: Draw) -> str | None:
    # a dead ReLU's 0 is exact, and a student writes it so
    small = [sid for sid in d.asked if 0 < abs(d.value(sid)) < SMALLEST]
    return f"{small[0]} is smaller than {SMALLEST:g}" if small else None


def _twins(d: Draw) -> str | None:
    asked = list(d.asked)
    for a, b in itertools.pairwise(asked):
        if d.value(a) == d.value(b):
            continue  # equal by definition: loss = loss:o1 with one output, ReLU's out = net
        if d.shown(d.value(a)) == d.shown(d.value(b)):
            return f"{a} and {b} are both {d.shown(d.value(a))} at {d.decimals} decimals"
    return None


def _hidden_mistake(d: Draw) -> str | None:
    # level by level (a step kind in a layer: the judge packs their runs) in the order
    # worked, so that a draw that fails early costs few runs
    levels: dict[tuple, list[str]] = {}
    for sid in d.asked:
        levels.setdefault((d.judge.by_id[sid].kind, d.judge.by_id[sid].layer), []).append(sid)
    for group in levels.values():
        for step, kind, wrong in mistakes(d.judge, group):
            # the judge's own marking: would it take the mistaken number for right?
            if d.judge.mark(step, d.shown(wrong), {}).correct:
                return (f"{kind} in {step} gives {d.shown(wrong)}, which is right at "
                        f"{d.decimals} decimals")
    return None


def mistakes(judge: Judge, asked: Sequence[str]) -> list[tuple[str, str, float]]:
    """(step, mistake, the step's value with it made there) for every mistake the judge can
    name in an asked step's own formula and that changes its value (the judge's re-runs)."""
    wanted = [(k, sid, sid) for sid in asked for k in judge.kinds(sid)]
    judge.prefetch(wanted)
    return [(sid, k, v) for k, sid, _ in wanted
            if (v := judge.mistaken(k, sid, sid)) is not None]


RULES: tuple[Rule, ...] = (
    Rule("saturation", f"every sigmoid or tanh input is within ±{SATURATION} (where the "
         "derivative is not tiny)", _saturated),
    Rule("relu", "in every ReLU layer at least one input is positive", _dead),
    Rule("softmax", f"no softmax row is near uniform (its largest output is at least "
         f"{NEAR_UNIFORM} above 1/n)", _uniform),
    Rule("small", f"every asked value is at least {SMALLEST:g} in magnitude (or exactly 0, "
         "as behind a ReLU that is off)", _tiny),
    Rule("neighbours", "every asked value differs from the one asked before it at the "
         "asked decimals, unless the two are equal by definition", _twins),
    Rule("mistakes", "every mistake 'bpwalk check' can name in an asked step gives a value "
         "that, written at the asked decimals, 'bpwalk check' marks wrong (else the "
         "diagnosis could not tell it from the right answer)", _hidden_mistake),
)

MAX_DRAWS = 200  # a shape whose draws all break a rule says so instead of looping


def broken(d: Draw, every: bool = False) -> list[str]:
    """What the draw breaks, one line per rule broken (empty: worth working by hand); the
    first only unless `every` (the rules are in the order of their cost)."""
    out = []
    for r in RULES:
        why = r.broken(d)
        if why is not None:
            out.append(f"{r.name}: {why}")
            if not every:
                break
    return out


def explain(given_decimals: int = GIVEN_DECIMALS) -> str:
    """The rules as `bpwalk new --explain-rules` prints them (within 80 columns)."""
    import textwrap

    items = [(f"inputs, weights and biases have at most {given_decimals} decimals "
             "(bpwalk new: its --decimals)"), *(r.text for r in RULES)]
    lines = ["A drawn problem is drawn again, from the same seed's stream, until:"]
    for item in items:
        lines += textwrap.wrap(item, 78, initial_indent="  - ", subsequent_indent="    ")
    lines += textwrap.wrap(f"The asked decimals are {ASK_DECIMALS} for 'bpwalk new' and "
                           "--decimals for 'bpwalk lms'.", 78)
    return "\n".join(lines) + "\n"
