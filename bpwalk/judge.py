"""The judge: compares a student's numbers with the trace and names their mistakes.

Only the engine computes. To decide whether an answer is right the judge compares it with
the engine's value at the decimals the student wrote; to name a mistake it re-runs the
engine with that mistake injected (``engine.Mistake``) and compares again. It never
pattern-matches numbers or strings.

An answer with d decimals is right when it equals the true value rounded to d decimals,
give or take one in the last digit (hand rounding and truncation both happen). An answer
that only matches the calculation rounded to d decimals at every step (``run(...,
round_to=d)``) is right too, with a note that the difference is rounding drift.

The quiz mode judges one answer at a time: ``Judge(scenario).judge_one("grad:w5", "0.0822")``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from bpwalk.engine import MISTAKES, EngineError, Mistake, run
from bpwalk.notation import Formula, Profile, aliases, formula, in_trace_sign, profile, sign_note
from bpwalk.notation import spelling as _normal
from bpwalk.numbers import EXACT as _EXACT
from bpwalk.numbers import half_up
from bpwalk.scenario import Answer, Problem, Scenario, ScenarioError
from bpwalk.scenario.errors import SHOWN_PROBLEMS
from bpwalk.trace import Step

MAX_DRIFT_DECIMALS = 15  # the engine's --round range
MAX_DECIMALS = 340  # compare at most this many decimals (a float has fewer significant ones)


# ----------------------------------------------------------------------------- results


@dataclass
class Result:
    """The verdict on one answer."""

    id: str  # the step id (canonical, even when the student wrote an alias)
    key: str  # the id as the student wrote it
    given: float
    text: str  # the number as written
    decimals: int
    expected: float  # the engine's full-precision value
    expected_text: str  # the expected value at the student's decimals
    correct: bool
    diagnosis: str = ""  # what went wrong (empty when right)
    mistake: str | None = None  # a key of engine.MISTAKES, when one reproduces the answer
    source: str | None = None  # the step whose formula the mistake was made in
    note: str = ""  # e.g. rounding drift on a right answer
    also: list[str] = field(default_factory=list)  # other mistakes that give the same number
    formula: Formula | None = None  # the right calculation, when no mistake reproduces it

    def to_dict(self) -> dict:
        return {"id": self.id, "given": self.given, "expected": self.expected,
                "correct": self.correct, "diagnosis": self.diagnosis or None,
                "mistake": self.mistake, "source": self.source, "note": self.note or None,
                "written": self.key, "also": self.also}


@dataclass
class Report:
    scenario: Scenario
    results: list[Result]  # in computation order
    unanswered: list[str]  # ids left blank
    first_wrong: str | None
    matrices: list = field(default_factory=list)  # judge_matrix.MatrixVerdict, in file order

    @property
    def all_correct(self) -> bool:
        return self.first_wrong is None and all(m.correct for m in self.matrices)

    def to_dict(self) -> dict:
        d = {"results": [r.to_dict() for r in self.results], "first_wrong": self.first_wrong,
             "unanswered": self.unanswered}
        if self.matrices:
            d["matrices"] = [m.to_dict() for m in self.matrices]
        return d


# ----------------------------------------------------------------------------- numbers


def decimals_of(text: str) -> int:
    """How many decimals a written number gives: 0.5933 -> 4, 1.50 -> 2, 4.386e-4 -> 7."""
    exponent = Decimal(text).as_tuple().exponent
    return min(MAX_DECIMALS, max(0, -exponent)) if isinstance(exponent, int) else 0


def at_decimals(value: float, decimals: int) -> str:
    """`value` rounded half-up to `decimals`, keeping trailing zeros (as a student writes it)."""
    if not math.isfinite(value):
        return str(value)
    return str(half_up(value, decimals))


def agrees(text: str, value: float) -> bool:
    """Is `text` the value at its own decimals, give or take one in the last digit?"""
    if not math.isfinite(value):
        return False
    d = decimals_of(text)
    quantum = Decimal(1).scaleb(-d)
    return _EXACT.abs(_EXACT.subtract(Decimal(text), Decimal(at_decimals(value, d)))) <= quantum


# ----------------------------------------------------------------------------- step ids


class _Ids:
    """Resolves what a student wrote to a step id, and suggests close ids when it cannot."""

    def __init__(self, step_ids: Sequence[str], p: Profile | None = None):
        self.ids = list(step_ids)
        table: dict[str, str | None] = {}
        for sid in self.ids:
            for spelling in [sid, *aliases(sid, p)]:
                key = _normal(spelling)
                # two steps sharing a spelling (names differing only in case): neither wins
                table[key] = sid if table.get(key, sid) == sid else None
        self.table = table

    def resolve(self, key: str) -> str | None:
        if key in self.ids:
            return key
        return self.table.get(_normal(key))

    def suggest(self, key: str, n: int = 3) -> list[str]:
        close = difflib.get_close_matches(_normal(key), list(self.table), n=12, cutoff=0.6)
        out: list[str] = []
        for c in close:
            sid = self.table[c]
            if sid and sid not in out:
                out.append(sid)
        return out[:n]


# ----------------------------------------------------------------------------- the judge


class Judge:
    """Judges answers about one update of a scenario: the first (the one a worksheet shows),
    or `iteration` (the quiz judges every update it shows; mistakes go into that one only)."""

    def __init__(self, scenario: Scenario, round_to: int | None = None, iteration: int = 1,
                 notation: str | None = None):
        self.scenario = scenario
        # answers are read in this profile's names and sign (Han & Kamber's Err = −δ)
        self.profile = profile(notation or scenario.notation)
        self.round_to = round_to
        self.iteration = iteration
        # The right calculation: an EngineError here is the scenario's own, for the caller.
        trace = run(scenario, iterations=iteration, show={iteration})
        self.trace = trace  # for answers written as matrices (judge_matrix)
        base = {s.id: s for s in trace.iterations[0].steps}
        self._runs: dict[tuple, dict[str, Step] | None] = {((), None): base}
        self.by_id = base
        self.order = {sid: i for i, sid in enumerate(base)}
        self.ids = _Ids(list(base), self.profile)
        self._ancestors: dict[str, list[str]] = {}

    # -- the engine, run once per (mistakes, rounding)

    def steps(self, mistakes: tuple[Mistake, ...] = (), round_to: int | None = None
              ) -> dict[str, Step] | None:
        key = (mistakes, round_to)
        if key not in self._runs:
            try:
                trace = run(self.scenario, iterations=self.iteration, show={self.iteration},
                            round_to=round_to, mistakes=mistakes)
                self._runs[key] = {s.id: s for s in trace.iterations[0].steps}
            except EngineError:
                self._runs[key] = None  # a mistake that blows up reproduces nothing
        return self._runs[key]

    def _reproduces(self, step_id: str, text: str, mistakes: tuple[Mistake, ...]) -> bool:
        steps = self.steps(mistakes)
        return steps is not None and agrees(text, steps[step_id].value)

    # -- one answer

    def judge_one(self, step_id: str, given: str | float, earlier: Iterable[Result] = (),
                  key: str | None = None) -> Result:
        """Judge one answer to `step_id` (a number, or its text as written), written in the
        profile's sign convention (an Err answer is judged as −δ and reported as written).

        `earlier` are verdicts on steps computed before it: a mistake found there that
        explains this answer too is reported as carried forward.
        """
        text = given if isinstance(given, str) else repr(float(given))
        kind = self.by_id[step_id].kind
        flipped = in_trace_sign(text, kind, self.profile)
        res = self._judge(step_id, flipped, earlier, key)
        if flipped != text:
            res.given, res.text, res.expected = -res.given, text, -res.expected
            res.expected_text = at_decimals(res.expected, res.decimals)
        return res

    def _judge(self, step_id: str, text: str, earlier: Iterable[Result], key: str | None
               ) -> Result:
        step = self.by_id[step_id]
        d = decimals_of(text)
        res = Result(step_id, key or step_id, float(text), text, d, step.value,
                     at_decimals(step.value, d), correct=agrees(text, step.value))
        if res.correct:
            return res
        drift = self._drift(step_id, text, d)
        if drift is not None:
            res.correct = True
            res.note = (f"rounding drift: this is what rounding every step to {drift} decimals "
                        "gives; the exact value differs")
            return res
        self._diagnose(res, step, list(earlier))
        return res

    def _drift(self, step_id: str, text: str, d: int) -> int | None:
        for places in dict.fromkeys(x for x in (self.round_to, d) if x is not None):
            if 1 <= places <= MAX_DRIFT_DECIMALS:
                rounded = self.steps((), places)
                if rounded is not None and agrees(text, rounded[step_id].value):
                    return places
        return None

    def _diagnose(self, res: Result, step: Step, earlier: list[Result]) -> None:
        # 1. carried forward: a mistake already found in an earlier step explains this one
        found = [Mistake(r.mistake, r.source) for r in earlier
                 if r.mistake and r.source and r.source != step.id
                 and self.order[r.source] < self.order[step.id]]
        found = list(dict.fromkeys(found))
        trials = [(m,) for m in found] + ([tuple(found)] if len(found) > 1 else [])
        for ms in trials:
            if self._reproduces(step.id, res.text, ms):
                res.mistake, res.source = ms[0].kind, ms[0].target
                where = ", ".join(m.target for m in ms)
                res.diagnosis = (f"carried forward from {where} ({self.describe(ms[0].kind)}); "
                                 "fix that step first")
                return
        # 2. a mistake in this step's own formula, then 3. in a step it is built from that
        # the student did not answer right (a mistake there would contradict that answer)
        right = {r.id for r in earlier if r.correct}
        for source in [step.id, *(a for a in self.ancestors(step.id) if a not in right)]:
            kinds = self.fits(step.id, res.text, source)
            if kinds:
                res.mistake, res.source, res.also = kinds[0], source, kinds[1:]
                res.diagnosis = self.describe(kinds[0])
                if source != step.id:
                    res.diagnosis += f", in {source}, carried into this step"
                if kinds[0] == "sign" and self.by_id[source].kind == "dnet":
                    # Not always a slip: some textbooks define the error term with the
                    # opposite sign, e.g. Han & Kamber's Err_j = out(1 - out)(target - out).
                    res.diagnosis += f" ({sign_note(self.profile)})"
                if res.also:
                    res.diagnosis += f" (or: {'; '.join(self.describe(k) for k in res.also)})"
                return
        # 4. nothing reproduces it: show the right calculation
        res.formula = formula(step, "unicode", max(4, res.decimals), self.profile)
        f = res.formula
        res.diagnosis = (f"no classic mistake gives this number; the right calculation is "
                         f"{f.lhs} = {f.symbolic} = {f.numeric} = {f.result}")

    def fits(self, step_id: str, text: str, source: str) -> list[str]:
        """The mistake kinds that, made in the formula of `source`, turn step_id into `text`."""
        kind = self.by_id[source].kind
        return [k for k, (_, applies) in MISTAKES.items()
                if kind in applies and self._reproduces(step_id, text, (Mistake(k, source),))]

    def ancestors(self, step_id: str) -> list[str]:
        """The steps `step_id` is computed from, directly or not, the nearest first."""
        if step_id not in self._ancestors:
            seen: set[str] = set()
            todo = [step_id]
            while todo:
                for term in self.by_id[todo.pop()].terms:
                    for op in term:
                        if op.ref in self.by_id and op.ref not in seen:
                            seen.add(op.ref)
                            todo.append(op.ref)
            self._ancestors[step_id] = sorted(seen, key=self.order.__getitem__, reverse=True)
        return self._ancestors[step_id]

    def describe(self, kind: str) -> str:
        if kind == "reduction":
            other = "sum" if self.scenario.reduction == "mean" else "mean"
            return f"the batch's {other} taken instead of its {self.scenario.reduction}"
        return MISTAKES[kind][0]

    # -- a whole answers file

    def resolve(self, answers: Sequence[Answer], filename: str) -> list[tuple[str, Answer]]:
        """Map each answer to its step id; unknown or repeated ids raise ScenarioError."""
        problems, out, first = [], [], {}
        for a in answers:
            sid = self.ids.resolve(a.key)
            if sid is None:  # suggestions only for the ids a message shows (100k would take minutes)
                close = self.ids.suggest(a.key) if len(problems) < SHOWN_PROBLEMS else []
                hint = (f"did you mean {_or(close)}?" if close else
                        "use step ids like net:h1, out:o1, dnet:o1, grad:w5, new:w5 "
                        "(see 'bpwalk export SCENARIO --format json')")
                problems.append(Problem(filename, a.line, a.col,
                                        f"unknown step id '{a.key}'; {hint}"))
            elif sid in first:
                problems.append(Problem(filename, a.line, a.col,
                                        f"'{a.key}' is {sid} again (line {first[sid]}); "
                                        "keep one answer per step"))
            else:
                first[sid] = a.line
                out.append((sid, a))
        if problems:
            raise ScenarioError(problems)
        return out

    def check(self, answers: Sequence[Answer], filename: str = "<answers>") -> Report:
        from bpwalk import judge_matrix

        answers, matrices = judge_matrix.split(self, answers, filename)
        resolved = sorted(self.resolve(answers, filename), key=lambda p: self.order[p[0]])
        results: list[Result] = []
        unanswered: list[str] = []
        for sid, a in resolved:
            if a.text is None:
                unanswered.append(sid)
                continue
            results.append(self.judge_one(sid, a.text, results, key=a.key))
        first = next((r.id for r in results if not r.correct), None)
        report = Report(self.scenario, results, unanswered, first)
        if matrices is not None:
            matrices.finish(report)
        return report


def judge_one(scenario: Scenario, step_id: str, given: str | float,
              round_to: int | None = None) -> Result:
    """Judge a single answer (for a quiz: build one Judge and reuse it to save re-runs)."""
    return Judge(scenario, round_to).judge_one(step_id, given)


def _or(ids: list[str]) -> str:
    quoted = [f"'{i}'" for i in ids]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


__all__ = ["Judge", "Report", "Result", "agrees", "at_decimals", "decimals_of", "judge_one"]
