"""Exports for course platforms (`bpwalk lms`): per-student variants of a scenario as Moodle
XML (Cloze), a QTI 1.2 package for Canvas, or a PrairieLearn question.

This module holds what the three share: the variants (the scenario's network with new numbers
drawn by the rules of bpwalk.handwork), the steps asked, and the answers each blank accepts.
Every value comes from the engine through the judge; the accepted range of a blank is the
judge's own marking at the asked decimals, and each wrong answer is the judge's re-run with a
named mistake injected (bpwalk.handwork.mistakes). Nothing here computes a network.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

import numpy as np

from bpwalk import handwork
from bpwalk.judge import Judge, at_decimals, describe
from bpwalk.practice import friendly, generator, targets_for
from bpwalk.scenario import Scenario
from bpwalk.trace import PHASES

FORMATS = ("moodle", "qti", "prairielearn")


class LmsError(ValueError):
    """An option or a scenario the export cannot serve; the message says how to fix it."""


@dataclass
class Variant:
    seed: int | None  # None: the scenario's own numbers
    scenario: Scenario
    judge: Judge

    @property
    def label(self) -> str:
        return "the scenario's own numbers" if self.seed is None else f"seed {self.seed}"


@dataclass(frozen=True)
class Answer:
    """A number a blank accepts, as a centre and a symmetric tolerance (how Moodle, Canvas
    and PrairieLearn write a numeric answer), with the text a student would write."""

    text: str  # the value at the asked decimals
    centre: Decimal
    tolerance: Decimal
    feedback: str = ""  # for a mistake: check's words for it


@dataclass(frozen=True)
class Blank:
    step: str
    right: Answer
    mistakes: tuple[Answer, ...]  # each named mistake's value, merged when two give one


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64)
    a.setflags(write=False)
    return a


def redrawn(sc: Scenario, seed: int) -> Scenario:
    """`sc`'s network with numbers drawn from `seed` (one draw, so a seed alone reproduces
    it): inputs in [0.1, 1], weights ±0.1 to 0.9, biases in [-0.5, 0.5], with 2 decimals."""
    rng = generator(seed)
    d = handwork.GIVEN_DECIMALS
    layers = []
    for lay in sc.layers:
        size = np.array(friendly(rng, 0.1, 0.9, d, lay.weights.shape))
        sign = rng.choice([-1.0, 1.0], size=lay.weights.shape)
        bias = np.array(friendly(rng, -0.5, 0.5, d, lay.bias_values.shape))
        layers.append(lay._replace(weights=_frozen(sign * size + 0.0), bias_values=_frozen(bias)))
    x = np.array(friendly(rng, 0.1, 1.0, d, sc.x.shape))
    last = sc.layers[-1].activation
    targets = np.array([targets_for(rng, last, sc.loss, sc.targets.shape[1], d)
                        for _ in range(sc.targets.shape[0])])
    return replace(sc, layers=tuple(layers), x=_frozen(x), targets=_frozen(targets),
                   init=None, title=f"{sc.title or sc.name} (seed {seed})")


def asked_steps(judge: Judge, spec: str | None) -> list[str]:
    """The step ids `--ask` names (phases or step ids, comma-separated), in the order worked."""
    if not spec:
        return list(judge.by_id)
    wanted, ids = [], []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        if part in PHASES:
            wanted.append(part)
        else:
            sid = judge.ids.resolve(part)
            if sid is None:
                close = judge.ids.suggest(part)
                hint = f"; did you mean {close[0]}?" if close else ""
                raise LmsError(f"--ask {part!r}: not a phase ({', '.join(PHASES)}) nor a step "
                               f"of {judge.scenario.name}{hint}")
            ids.append(sid)
    return [s.id for s in judge.by_id.values() if s.phase in wanted or s.id in ids]


def variants(sc: Scenario, n: int, seed: int | None, ask: str | None,
             decimals: int) -> tuple[list[Variant], list[str]]:
    """`n` variants and the steps they ask. Without a seed and with one variant, the
    scenario's own numbers (refused when they break a rule a platform needs); else seeds
    from `seed` (1 if None) up, each seed's one draw kept when it meets the rules."""
    base = Judge(sc)
    asked = asked_steps(base, ask)
    if not asked:
        raise LmsError(f"--ask {ask!r} asks no step")
    if n == 1 and seed is None:
        tiny = handwork.broken(handwork.Draw(sc, asked, decimals), every=True)
        small = [why for why in tiny if why.startswith("small:")]
        if small:  # Canvas refuses such an answer; a hand calculation loses it
            raise LmsError(f"{sc.path}: cannot ask {small[0].split(': ', 1)[1]}; leave that "
                           "step out of --ask, or draw new numbers with --seed")
        return [Variant(None, sc, base)], asked
    out: list[Variant] = []
    s = 1 if seed is None else seed
    tried = 0
    while len(out) < n:
        if tried >= handwork.MAX_DRAWS * n:
            raise LmsError(f"{sc.path}: only {len(out)} of {n} draws met the rules at "
                           f"--decimals {decimals}; ask more decimals or fewer steps "
                           "(bpwalk new --explain-rules)")
        candidate = redrawn(sc, s)
        draw = handwork.Draw(candidate, asked, decimals)
        if not handwork.broken(draw):
            out.append(Variant(s, candidate, draw.judge))
        s, tried = s + 1, tried + 1
    return out, asked


def blanks(v: Variant, asked: list[str], decimals: int) -> list[Blank]:
    """Per asked step: the right answer as the judge marks it at `decimals`, and each named
    mistake's value with check's words for it."""
    wrong: dict[str, dict[str, list[str]]] = {}
    for step, kind, value in handwork.mistakes(v.judge, asked):
        wrong.setdefault(step, {}).setdefault(at_decimals(value, decimals), []).append(kind)
    out = []
    for sid in asked:
        right = accepted(v.judge, sid, decimals)
        mistaken = tuple(_answer(text, decimals, "; or ".join(
                             dict.fromkeys(describe(k, v.scenario) for k in kinds)))
                         for text, kinds in wrong.get(sid, {}).items()
                         if not v.judge.mark(sid, text, {}).correct)
        out.append(Blank(sid, right, mistaken))
    return out


def accepted(judge: Judge, sid: str, decimals: int) -> Answer:
    """The right answer: every number at `decimals` that the judge marks right (the value
    rounded, or cut, or with the rounding drift of a hand calculation), as one range."""
    text = at_decimals(judge.by_id[sid].value, decimals)
    unit = Decimal(1).scaleb(-decimals)
    near = [Decimal(text) + k * unit for k in (-2, -1, 0, 1, 2)]
    ok = [g for g in near if judge.mark(sid, _text(g, decimals), {}).correct] or [Decimal(text)]
    low, high = min(ok), max(ok)
    # the range of the right texts, and half a unit either side for a student who writes more
    return Answer(text, (low + high) / 2, (high - low) / 2 + unit / 2)


def _text(g: Decimal, decimals: int) -> str:
    return f"{g:.{decimals}f}"


def _answer(text: str, decimals: int, feedback: str) -> Answer:
    return Answer(text, Decimal(text), Decimal(1).scaleb(-decimals) / 2, feedback)


def given_rows(sc: Scenario) -> list[tuple[str, str]]:
    """The numbers a student is given, as (name, value) rows: inputs, weights, biases,
    targets, learning rate."""
    from bpwalk.notation import number

    rows = []
    for k, sample in enumerate(sc.x):
        tag = f" (sample {k + 1})" if len(sc.x) > 1 else ""
        rows += [(f"{name}{tag}", number(v)) for name, v in zip(sc.inputs, sample)]
    for lay in sc.layers:
        for names, row in zip(lay.weight_names, lay.weights):
            rows += [(name, number(v)) for name, v in zip(names, row)]
        rows += [(name, number(v)) for name, v in zip(lay.bias_names, lay.bias_values)]
    for k, sample in enumerate(sc.targets):
        tag = f" (sample {k + 1})" if len(sc.targets) > 1 else ""
        rows += [(f"target {name}{tag}", number(v)) for name, v in zip(sc.outputs, sample)]
    rows.append(("learning rate", number(sc.learning_rate)))
    return rows


def picture(sc: Scenario) -> str:
    """The network as a standalone SVG (the export page's picture, with the given numbers)."""
    from bpwalk.engine import run
    from bpwalk.notation import Pen, profile
    from bpwalk.views import html

    trace = run(sc)
    svg = html._svg(trace, Pen("unicode", 4, profile(None, sc)), blanks=True)
    style = ("<style>text{font:13px sans-serif;text-anchor:middle}line{stroke:#bbb;"
             "stroke-width:1.5}circle{fill:#eef3fb;stroke:#4a6fa5;stroke-width:1.5}"
             "rect{fill:#f4f4f4;stroke:#888}.edge text{fill:#444;font-size:12px}</style>")
    return svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1).replace(
        ">", ">" + style, 1)
