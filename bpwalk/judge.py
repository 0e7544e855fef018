"""The judge: compares a student's numbers with the trace and names their mistakes.

Only the engine computes. An answer is right when it is what the student's own earlier
numbers give (``engine.bounds`` evaluates the step's formula over the range each of them
stands for), rounded or truncated to the decimals the student wrote. To name a mistake the
judge re-runs the engine with it injected (``mistakes.Mistake``) and compares again; a
mistake is named only when it explains the number better than rounding does (the answer is
more than one unit in its last digit from the right range). It never pattern-matches
numbers or strings. Blame is carried forward only along the student's own chain: through
steps left blank, never past a step answered right.

The quiz mode judges one answer at a time: ``Judge(scenario).judge_one("grad:w5", "0.0822")``.
"""

from __future__ import annotations

import difflib
import functools
import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import repeat

import numpy as np

from bpwalk import judge_matrix
from bpwalk.engine import EngineError, Record, bounds, collector_paused, evaluate, run
from bpwalk.marking import (
    agrees,
    at_decimals,
    beyond,
    decimals_of,
    far,
    fits,
    gap,
    near,
    unit,
)
from bpwalk.mistakes import GRAPH_ONLY, LAYER_ONLY, MISTAKES, SEQUENCE_ONLY, Mistake
from bpwalk.notation import (
    Formula,
    Profile,
    aliases,
    formula,
    in_trace_sign,
    negated,
    profile,
    sign_note,
)
from bpwalk.notation import spelling as _normal
from bpwalk.scenario import Answer, Problem, Scenario, ScenarioError
from bpwalk.scenario.errors import SHOWN_PROBLEMS
from bpwalk.trace import Step

MAX_DRIFT_DECIMALS = 15  # the engine's --round range


# ----------------------------------------------------------------------------- results


@dataclass
class Result:
    """The verdict on one answer."""

    id: str  # the step id (canonical, even when the student wrote an alias)
    key: str  # the id as the student wrote it
    given: float  # given, text, expected and expected_text in the profile's sign (as written)
    text: str  # the number as written
    decimals: int
    expected: float  # the engine's full-precision value
    expected_text: str  # the expected value at the student's decimals
    correct: bool
    diagnosis: str = ""  # what went wrong (empty when right)
    mistake: str | None = None  # a key of mistakes.MISTAKES, when one reproduces the answer
    source: str | None = None  # the step whose formula the mistake was made in
    note: str = ""  # e.g. rounding drift on a right answer
    also: list[str] = field(default_factory=list)  # other mistakes that give the same number
    formula: Formula | None = None  # the right calculation, when no mistake reproduces it
    low: float = 0.0  # the range the student's own earlier numbers give (expected within)
    high: float = 0.0
    slip: bool = False  # wrong, but within a unit of the last digit: no mistake can be told
    reason: str = ""  # the diagnosis without the right calculation (when formula is set)
    sign: int = 1  # -1: the profile writes this step with the trace's other sign (Err = −δ)

    # the judge's arithmetic is in the trace's sign (low, high are too)
    @property
    def value(self) -> float:
        """The answer in the trace's sign."""
        return self.sign * self.given

    @property
    def exact(self) -> float:
        """The right value in the trace's sign."""
        return self.sign * self.expected

    @property
    def trace_text(self) -> str:
        """The answer as the trace's sign writes it."""
        return self.text if self.sign > 0 else negated(self.text)

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
    iteration: int = 1  # the update the answers are about
    asked: int = 0  # the steps the student was asked for (answered or not)
    profile: Profile | None = None  # the notation the answers were read in (None: mazur)

    @property
    def blank(self) -> int:
        """Asked steps with no answer: left blank or left out."""
        return max(0, self.asked - len(self.results))

    @property
    def all_correct(self) -> bool:
        return self.first_wrong is None and all(m.correct for m in self.matrices)

    @property
    def passed(self) -> bool:
        """Every answer right, and at least one given (a blank template passes nothing)."""
        return self.all_correct and bool(self.results)

    @property
    def right(self) -> int:
        return sum(r.correct for r in self.results)

    def first(self) -> Result | None:
        return next((r for r in self.results if r.id == self.first_wrong), None)

    def to_dict(self) -> dict:
        d = {"update": self.iteration, "results": [r.to_dict() for r in self.results],
             "first_wrong": self.first_wrong, "unanswered": self.unanswered,
             "asked": self.asked, "blank": self.blank}
        if self.matrices:
            d["matrices"] = [m.to_dict() for m in self.matrices]
        return d


# ----------------------------------------------------------------------------- step ids


class _Ids:
    """Resolves what a student wrote to a step id, and suggests close ids when it cannot."""

    def __init__(self, step_ids: Sequence[str], p: Profile | None = None):
        self.ids = list(step_ids)
        self.known = set(self.ids)  # (a list's `in` took 11 ms an answer for 75k steps)
        self.profile = p
        self._table: dict[str, str | None] | None = None

    @property
    def table(self) -> dict[str, str | None]:
        """Every spelling of every id, normalised; built when an answer is not written as
        a step id, since a wide network's 75k ids take seconds to spell every way."""
        if self._table is None:
            table: dict[str, str | None] = {}
            for sid in self.ids:
                for spelling in [sid, *aliases(sid, self.profile)]:
                    key = _normal(spelling)
                    # two steps sharing a spelling (names differing only in case): neither wins
                    table[key] = sid if table.get(key, sid) == sid else None
            self._table = table
        return self._table

    def resolve(self, key: str) -> str | None:
        if key in self.known:
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

FLOAT_SLACK = 1e-12  # relative: float64 arithmetic is not the decimal arithmetic of a hand
MAX_SOURCES = 6  # steps searched for a mistake per wrong answer: its own, then 5 it is built from


class Judge:
    """Judges answers about one update of a scenario: the first (the one a worksheet shows),
    or `iteration` (``check --update K``, and the quiz judges every update it shows)."""

    def __init__(self, scenario: Scenario, round_to: int | None = None, iteration: int = 1,
                 notation: Profile | str | None = None):
        self.scenario = scenario
        # answers are read in this profile's names and sign (Han & Kamber's Err = −δ)
        self.profile = profile(notation or scenario.notation, scenario)
        self.round_to = round_to
        self.iteration = iteration
        # The right calculation: an EngineError here is the scenario's own, for the caller.
        trace = run(scenario, iterations=iteration, show={iteration})
        self.trace = trace  # for answers written as matrices (judge_matrix)
        base = {s.id: s for s in trace.iterations[0].steps}
        self._runs: dict[frozenset, dict[str, float] | None] = {}
        self._rounded: dict[int, dict[str, float] | _Read | None] = {}
        self._mistaken: dict[tuple[str, str, str], float | None] = {}
        self.by_id = base
        self.order = {sid: i for i, sid in enumerate(base)}
        self.in_order = list(base)
        self.ids = _Ids(list(base), self.profile)
        self._answered: dict[str, Result] = {}  # a whole file's answers, while check runs
        self._memo: dict = {}  # while check runs: _reach's, and _wrong_frontier's by step
        self.refs = _Refs(base)
        self._quantities = _Quantities()
        self._kinds: dict[str, list[str]] = {}  # see kinds
        # while check runs: per answer, the mistaken values that may give it (see _nearby)
        self._close: dict[str, dict[tuple[str, str], float]] | None = None

    # -- the engine: each set of mistakes run once

    def values(self, mistakes: Iterable[Mistake] = ()) -> dict[str, float] | None:
        """Every step's value with `mistakes` injected (None when that run blows up)."""
        key = frozenset(mistakes)
        if key not in self._runs:
            self._runs[key] = self._run(tuple(sorted(key, key=lambda m: (m.kind, m.target))))
        return self._runs[key]

    def _run(self, mistakes: tuple[Mistake, ...], round_to: int | None = None
             ) -> dict[str, float] | None:
        return _step_values(self.scenario, self.iteration, mistakes, round_to)

    def rounded(self, places: int) -> dict[str, float] | _Read | None:
        """Each step's value in the calculation rounded to `places` decimals at every step
        (None when it blows up): read from a run that writes no Steps where it can."""
        if places not in self._rounded:
            self._rounded[places] = self._run_rounded(places)
        return self._rounded[places]

    def _run_rounded(self, places: int) -> dict[str, float] | _Read | None:
        if getattr(self.scenario, "graph", None) is not None:
            return self._run((), places)
        record = Record(self._quantities.known)
        try:
            with collector_paused():  # (see _step_values)
                run(self.scenario, iterations=self.iteration, show={self.iteration},
                    round_to=places, record=record)
        except EngineError:
            return None
        # (the whole run made when needed holds no reference to the judge: a judge in a
        # reference cycle, its trace with it, waited for the collector to be freed)
        whole = functools.partial(_step_values, self.scenario, self.iteration, (), places)
        got = self._quantities.every(record, whole)
        return whole() if got is None else got

    def mistaken(self, kind: str, source: str, step_id: str) -> float | None:
        """step_id's value when `kind` is made in the formula of `source` (None: no change)."""
        if (kind, source, step_id) not in self._mistaken:
            self.prefetch([(kind, source, step_id)])
        return self._mistaken[(kind, source, step_id)]

    def prefetch(self, wanted: Iterable[tuple[str, str, str]]) -> None:
        """Run the engine for many (kind, source, step) at once.

        One run can inject one kind at many sources when no source lies upstream of another
        pair's step: each step then sees only its own source's mistake. Packing the pairs
        into such runs keeps the engine runs per answers file near the number of kinds,
        not the number of answers (a class's 2,000 wrong answers would take minutes).
        """
        todo = [w for w in dict.fromkeys(wanted) if w not in self._mistaken]
        # Packed by kind and by the source's level (step kind and layer) too: a mistaken
        # formula may read more than its operands (a neighbouring neuron's value, the
        # updated weights), which a source of another level may already have changed.
        by_kind: dict[tuple[str, str, int | None], list[tuple[str, str]]] = {}
        for kind, source, step_id in todo:
            level = self.by_id[source].kind, self.by_id[source].layer
            by_kind.setdefault((kind, *level), []).append((source, step_id))
        for (kind, *_), pairs in by_kind.items():
            for sources, members in self._packs(pairs):
                self._run_pack(kind, sources, members)

    def _packs(self, pairs: list[tuple[str, str]], first: int | None = None,
               walked: dict[str, set[str]] | None = None
               ) -> list[tuple[set[str], list[tuple[str, str]]]]:
        """(source, step) pairs of one kind and level packed into runs: each pack's sources,
        and its pairs. A pair joins the first pack none of whose other sources lies
        upstream of its step, and whose steps its source is not upstream of."""
        # each pack: its sources, the steps upstream of its steps, its steps, its pairs
        packs: list[tuple[set[str], set[str], set[str], list[tuple[str, str]]]] = []
        # Only sources are looked for upstream of a step, and none lies before the
        # earliest: the walks stop there (a whole walk back from each of 50,000 wrong
        # gradients of a 10-5000-1 network took minutes and gigabytes). A walk that goes
        # further (`first` of many levels, `walked` shared) packs alike: the steps it adds
        # come before every source.
        if len({source for source, _ in pairs}) == 1:  # what the loop below makes of it
            return [({pairs[0][0]}, list(pairs))]
        if first is None:
            first = min(self.order[source] for source, _ in pairs)
        walked = {} if walked is None else walked
        for source, step_id in pairs:
            upstream = self.upstream(step_id, first, walked)
            for sources, reach, steps, members in packs:
                if (source in sources or source not in reach) and _only(sources, upstream,
                                                                        source):
                    break
            else:
                sources, reach, steps, members = set(), set(), set(), []
                packs.append((sources, reach, steps, members))
            sources.add(source)
            if step_id not in steps:
                steps.add(step_id)
                reach |= upstream
            members.append((source, step_id))
        return [(sources, members) for sources, _, _, members in packs]

    def _run_pack(self, kind: str, sources: set[str], members: list[tuple[str, str]]) -> None:
        # not kept whole: a class's files would pile up a run per pack each
        got = self._values_of(kind, sources, tuple(step_id for _, step_id in members))
        if got is None and len(sources) > 1:  # one of them blows up (ln of a negative out):
            for s in sources:  # find which, running each alone
                self._run_pack(kind, {s}, [m for m in members if m[0] == s])
            return
        for (source, step_id), v in zip(members, [None] * len(members) if got is None
                                        else got.tolist()):
            same = v is not None and v == self.by_id[step_id].value
            self._mistaken[(kind, source, step_id)] = None if same else v

    def _values_of(self, kind: str, sources: set[str], steps: tuple[str, ...]
                   ) -> np.ndarray | None:
        """The `steps`' values when `kind` is made at every one of `sources` (None when
        that run blows up): read from a run that writes no Steps where it can."""
        # (up to 50,000 at a time: each made as a tuple is, without NamedTuple's __new__, a
        # Python call each)
        mistakes = tuple(map(tuple.__new__, repeat(Mistake), zip(repeat(kind), sources)))
        try:
            if getattr(self.scenario, "graph", None) is None:
                record = Record(self._quantities.known)
                with collector_paused():  # (see _step_values)
                    run(self.scenario, iterations=self.iteration, show={self.iteration},
                        mistakes=mistakes, record=record)
                got = self._quantities.read(record, steps)
                if got is not None:
                    return got
        except EngineError:
            return None  # a mistake that blows up reproduces nothing
        whole = self._run(tuple(sorted(mistakes)))
        return None if whole is None else np.array([whole[s] for s in steps])

    # -- what the student's own numbers give

    def expected_range(self, step: Step, answered: dict[str, Result], own_wrong: bool = False
                       ) -> tuple[float, float]:
        """The values `step` can take from the student's earlier answers and the rounding
        they carry: each answered operand lies within half a unit of its last written digit
        (or at its exact value, the student may have kept more digits than written). With
        `own_wrong`, wrong operands count at what the student wrote (the student's chain);
        otherwise at their right values. Operands not answered are exact. The formula at
        exactly the numbers written is in the range too (out(1 − out) peaks inside a box),
        and so is a few float64 units around it: 0.45 by hand may be 0.44999999999999996
        in binary, which must round to 0.5 as well as to 0.4.
        """
        boxes: dict[str, tuple[float, float]] = {}
        for ref in self.refs[step.id]:
            r = answered.get(ref)
            if r is None or not (r.correct or own_wrong):
                continue
            half = 0.5 * 10.0 ** -r.decimals
            lo, hi = r.value - half, r.value + half
            if r.correct:
                lo, hi = min(lo, r.exact), max(hi, r.exact)
            boxes[ref] = (lo, hi)
        lo = hi = step.value
        if boxes:
            lo, hi = bounds(step, boxes)
            own = evaluate(step, {ref: answered[ref].value for ref in boxes})
            lo, hi = min(lo, own), max(hi, own)
            if not own_wrong:
                lo, hi = min(lo, step.value), max(hi, step.value)
        slack = FLOAT_SLACK * max(abs(lo), abs(hi))
        return lo - slack, hi + slack

    # -- one answer

    def judge_one(self, step_id: str, given: str | float, earlier: Iterable[Result] = (),
                  key: str | None = None, own_only: bool = False) -> Result:
        """Judge one answer to `step_id` (a number, or its text as written), written in the
        profile's sign convention (an Err answer is judged as −δ and reported as written).

        `earlier` are verdicts on steps computed before it: the student's own numbers, from
        which this answer should follow, and whose mistakes it may carry forward. With
        `own_only` (the quiz, which shows every earlier value before asking), a mistake is
        searched in this step's own formula only.
        """
        answered = {r.id: r for r in earlier}
        res = self.mark(step_id, given, answered, key)
        if not res.correct:
            self.diagnose(res, answered, own_only)
        return res

    def mark(self, step_id: str, given: str | float, answered: dict[str, Result],
             key: str | None = None) -> Result:
        """Right or wrong against the `answered` steps before it, without naming a mistake
        (no engine runs but the drift's). The answer is in the profile's sign; it is
        compared in the trace's and reported as written."""
        written = given if isinstance(given, str) else repr(float(given))
        step = self.by_id[step_id]
        text = in_trace_sign(written, step.kind, self.profile)
        d = decimals_of(text)
        lo, hi = self.expected_range(step, answered)
        sign = 1 if text == written else -1
        res = Result(step_id, key or step_id, sign * float(text), written, d, sign * step.value,
                     at_decimals(sign * step.value, d), correct=fits(text, lo, hi), sign=sign)
        res.low, res.high = lo, hi
        if not res.correct:
            drift = self._drift(step, text, d, answered)
            if drift is not None:
                res.correct = True
                res.note = (f"rounding drift: this is what rounding every step to {drift} "
                            "decimals gives; the exact value differs")
        return res

    def _drift(self, step: Step, text: str, d: int, answered: dict[str, Result]) -> int | None:
        """The decimals of a calculation rounded at every step that gives `text`, if the
        student's own earlier numbers are that calculation's (0.74 was not rounded to 1)."""
        for places in dict.fromkeys(x for x in (self.round_to, d) if x is not None):
            if 1 <= places <= MAX_DRIFT_DECIMALS:
                rounded = self.rounded(places)
                if (rounded is not None and agrees(text, rounded[step.id])
                        and all(agrees(answered[ref].trace_text, rounded[ref])
                                for ref in self.refs[step.id] if ref in answered)):
                    return places
        return None

    def diagnose(self, res: Result, answered: dict[str, Result], own_only: bool = False) -> None:
        step = self.by_id[res.id]
        # 1. the student's own chain: what their wrong earlier numbers give
        wrong = self._wrong_frontier(res.id, answered)
        if wrong:
            first = wrong[0]
            direct = [w for w in wrong if w.id in self.refs[step.id]]
            carried = direct and fits(res.trace_text,
                                      *self.expected_range(step, answered, True))
            named = [Mistake(w.mistake, w.source) for w in wrong if w.mistake and w.source]
            if not carried and named:
                got = self.values(dict.fromkeys(named))
                carried = got is not None and fits(res.trace_text,
                                                   *self._around(res, got[res.id]))
            # the source is where to look; a mistake only when it reproduces this number
            res.mistake = first.mistake if carried else None
            res.source = first.source or first.id
            where = ", ".join(w.id for w in wrong[:3])
            if carried:
                why = f" ({self.describe(first.mistake)})" if first.mistake else ""
                res.diagnosis = f"carried forward from {where}{why}; fix that step first"
            else:
                res.diagnosis = (f"computed from {where}, which {'is' if len(wrong) == 1 else 'are'}"
                                 " wrong; fix that first, then redo this step")
            return
        # 2. a mistake in this step's formula, then in an unanswered step it is built from,
        # named only when it explains the number better than rounding does
        slip = self._slip(res)
        close = None if self._close is None else self._close.get(res.id, {})
        if not slip and close != {}:
            for source in self._sources(res.id, answered)[:1 if own_only else None]:
                kinds = [k for k in self.kinds(source)
                         if (m := self.mistaken(k, source, res.id) if close is None
                             else close.get((k, source))) is not None
                         and fits(res.trace_text, *self._around(res, m))]
                if kinds:
                    self._name(res, source, kinds)
                    return
        # 3. nothing reproduces it: show the right calculation
        res.formula = formula(step, "unicode", max(4, res.decimals), self.profile,
                              steps=self.by_id)
        f = res.formula
        res.slip = slip
        lead = (f"at {res.decimals} decimal{'s' * (res.decimals != 1)} the right value is "
                f"{res.expected_text}; this few digits cannot tell a mistake from a rounding "
                "slip (write more)" if slip else "no classic mistake gives this number")
        res.reason = lead
        res.diagnosis = (f"{lead}; the right calculation is "
                         f"{f.lhs} = {f.symbolic} = {f.numeric} = {f.result}")

    def _nearby(self, wrong: list[Result], answered: dict[str, Result]
                ) -> dict[str, dict[tuple[str, str], float]]:
        """For each of a file's wrong answers that diagnose searches for a mistake in the
        formulas it is built from, the mistaken values that may give it, by (kind, source).

        The engine runs are packed as prefetch packs them, and each run is compared with
        all its answers at once, in floats (marking.beyond, with room for rounding): of
        50,000 wrong entries of a dW1 matrix, each tried against 36 mistaken values, few or
        none come near, and diagnose checks only those exactly (fits). Nothing is kept
        after the file: a (kind, source, step) each, a wide network's were 1.8M entries.
        """
        close: dict[str, dict[tuple[str, str], float]] = {}
        # the pairs to try, by the source's level; alike kinds share one packing
        levels: dict[tuple[str, int | None], list[tuple[str, str]]] = {}
        for r in wrong:  # (a slip's too, though diagnose will not look: a gap costs more)
            if not self._wrong_frontier(r.id, answered):
                for source in self._sources(r.id, answered):
                    step = self.by_id[source]
                    levels.setdefault((step.kind, step.layer), []).append((source, r.id))
        if not levels:
            return close
        first = min(self.order[source] for pairs in levels.values() for source, _ in pairs)
        walked: dict[str, set[str]] = {}
        # each answer's numbers as arrays, for the packs' comparisons at once
        at = {r.id: i for i, r in enumerate(wrong)}
        right = np.array([r.exact for r in wrong])
        answers = (np.array([self.by_id[r.id].value for r in wrong]),  # in the trace's sign
                   right - np.array([r.low for r in wrong]),  # _around's range about a value
                   np.array([r.high for r in wrong]) - right,
                   *np.array([near(r.trace_text) for r in wrong]).reshape(-1, 2).T)
        places: dict[int, tuple] = {}  # a pack's (members, steps, their answers'), by id
        for pairs in levels.values():
            sources = dict.fromkeys(source for source, _ in pairs)
            kinds = list(dict.fromkeys(k for source in sources for k in self.kinds(source)))
            alike = all(self.kinds(source) == kinds for source in sources)
            shared = self._packs(pairs, first, walked) if alike else []
            for kind in kinds:
                packs = shared or self._packs([p for p in pairs if kind in self.kinds(p[0])],
                                              first, walked)
                for sources, members in packs:
                    self._keep_close(close, kind, sources, members, at, answers, places)
        return close

    def _keep_close(self, close: dict, kind: str, sources: set[str],
                    members: list[tuple[str, str]], at: dict[str, int], answers: tuple,
                    places: dict[int, tuple]) -> None:
        """_nearby's run of one pack: the values that may give each member's answer."""
        if places.get(id(members), (None,))[0] is not members:  # (kept: no id reused)
            steps = tuple(step_id for _, step_id in members)
            places[id(members)] = (members, steps,
                                   np.array([at[s] for s in steps], dtype=np.intp))
        _, steps, i = places[id(members)]
        got = self._values_of(kind, sources, steps)
        if got is None and len(sources) > 1:  # as _run_pack: find which source blows up
            for s in sources:
                self._keep_close(close, kind, {s}, [m for m in members if m[0] == s], at,
                                 answers, places)
            return
        if got is None:
            return
        base, below, above, near_g, near_m = (a[i] for a in answers)
        with np.errstate(invalid="ignore"):  # (inf − inf: nan, never beyond)
            maybe = (got != base) & ~beyond(near_g, near_m, got - below, got + above)
        for k in np.flatnonzero(maybe).tolist():
            close.setdefault(steps[k], {})[(kind, members[k][0])] = float(got[k])

    def _name(self, res: Result, source: str, kinds: list[str]) -> None:
        res.mistake, res.source, res.also = kinds[0], source, kinds[1:]
        res.diagnosis = self.describe(kinds[0])
        if source != res.id:
            res.diagnosis += f", in {source}, carried into this step"
        if kinds[0] == "sign" and self.by_id[source].kind == "dnet":
            # Not always a slip: some textbooks define the error term with the
            # opposite sign, e.g. Han & Kamber's Err_j = out(1 - out)(target - out).
            res.diagnosis += f" ({sign_note(self.profile)})"
        if res.also:
            res.diagnosis += f" (or: {'; '.join(self.describe(k) for k in res.also)})"

    def _around(self, res: Result, value: float) -> tuple[float, float]:
        """A mistaken value with the same rounding slack as the right one."""
        return value - (res.exact - res.low), value + (res.high - res.exact)

    def _gap(self, res: Result) -> Decimal:
        return gap(res.trace_text, res.low, res.high)

    def _slip(self, res: Result) -> bool:
        """Is the answer within a unit of its last digit of the right range? (floats say
        no at once for most wrong answers; the exact gap decides the others)"""
        u = 10.0 ** -res.decimals if res.decimals <= 300 else 0.0
        if u and far(res.trace_text, res.low - 2 * u, res.high + 2 * u):
            return False
        return self._gap(res) <= unit(res.decimals)

    def _wrong_frontier(self, step_id: str, answered: dict[str, Result]) -> list[Result]:
        """The wrong answers this step is computed from through steps left unanswered (the
        student's own chain), nearest first: blame is carried only along it."""
        memo = self._memo if answered is self._answered else {}
        if ("frontier", step_id) not in memo:  # (asked by _nearby, then by diagnose)
            reach = self._reach(step_id, answered, memo)
            out = {ref for ref in _members(reach) if not answered[ref].correct}
            memo["frontier", step_id] = sorted((answered[ref] for ref in out),
                                               key=lambda r: self.order[r.id], reverse=True
                                               ) if out else _NONE
        return memo["frontier", step_id]

    def _reach(self, step_id: str, answered: dict[str, Result], memo: dict) -> _Reached:
        """The answered steps step_id is computed from through unanswered ones (_members
        lists them). The largest part is shared with the step it comes through, not copied:
        each of a 2-5000-2 network's 10k output gradients reaches what its δ reaches, and
        6M copied entries took 250 MB."""
        if step_id not in memo:
            own: set[str] = set()
            parts: list[_Reached] = []
            for ref in self.refs[step_id]:
                if ref in answered:
                    own.add(ref)
                elif ref in self.by_id:
                    part = self._reach(ref, answered, memo)
                    if part[2]:
                        parts.append(part)
            if not parts:  # (most reach nothing answered: one shared empty reach, not 150k)
                memo[step_id] = (frozenset(own), None, len(own)) if own else _NOTHING
            elif len(parts) == 1 and not own:
                memo[step_id] = parts[0]
            else:
                big = max(parts, key=lambda part: part[2])
                for part in parts:
                    if part is not big:
                        own.update(_members(part))
                memo[step_id] = (frozenset(own), big, len(own) + big[2])
        return memo[step_id]

    def _sources(self, step_id: str, answered: dict[str, Result]) -> list[str]:
        """Where a mistake may be: this step, then the unanswered steps it is built from,
        nearest (latest in the trace) first, at most MAX_SOURCES.

        Walked back from the step, the latest step found so far first: every step is built
        from earlier ones, so the steps come out latest first and the walk stops at the
        sixth, where listing all (10k for an output of a 2-5000-2 network, kept for each
        wrong answer) took gigabytes. A circuit (small) is searched whole, the local
        gradients its gradient sums (one per path) first."""
        if getattr(self.scenario, "graph", None) is not None:
            direct = set(self.refs[step_id])
            ancestors = sorted(self.upstream(step_id) - {step_id},
                               key=lambda a: (a not in direct, -self.order[a]))
            return [step_id, *(a for a in ancestors if a not in answered)]
        out, seen, heap = [step_id], {step_id}, [-self.order[step_id]]
        while heap and len(out) < MAX_SOURCES:
            sid = self.in_order[-heapq.heappop(heap)]
            if sid != step_id and sid not in answered:
                out.append(sid)
            for ref in self.refs[sid]:
                if ref in self.by_id and ref not in seen:
                    seen.add(ref)
                    heapq.heappush(heap, -self.order[ref])
        return out

    def kinds(self, source: str) -> list[str]:
        """The mistakes that can be made in the formula of step `source`."""
        step = self.by_id[source]
        # a network's by step kind (its 65k sources share a few lists); a circuit's by step
        # (and layer: a layer's own mistakes, LAYER_ONLY, are tried where it wrote the step
        # and first, before a generic one giving the same number: dropout's forgotten
        # 1/(1 − p) with p = 0.5 is a factor of ½ too, and says more)
        key = (step.kind, step.layer) if getattr(self.scenario, "graph", None) is None \
            else source
        if key not in self._kinds:
            self._kinds[key] = sorted((k for k, (_, applies) in MISTAKES.items()
                                       if step.kind in applies
                                       and _relevant(k, step, self.scenario)),
                                      key=lambda k: k not in LAYER_ONLY)
        return self._kinds[key]

    def upstream(self, step_id: str, first: int = 0, walked: dict | None = None) -> set[str]:
        """The step and every step it is computed from, back to the one numbered `first` in
        the trace's order (every path back from a step runs through ever earlier steps, so
        none after `first` is missed). `walked` keeps them by step."""
        walked = {} if walked is None else walked
        if step_id not in walked:
            seen, todo = {step_id}, [step_id]
            while todo:
                for ref in self.refs[todo.pop()]:
                    if ref not in seen and self.order.get(ref, -1) >= first:
                        seen.add(ref)
                        todo.append(ref)
            walked[step_id] = seen
        return walked[step_id]

    def describe(self, kind: str) -> str:
        return describe(kind, self.scenario)

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
        answers, matrices = judge_matrix.split(self, answers, filename)
        resolved = sorted(self.resolve(answers, filename), key=lambda p: self.order[p[0]])
        results: list[Result] = []
        unanswered: list[str] = []
        answered: dict[str, Result] = {}
        for sid, a in resolved:
            if a.text is None:
                unanswered.append(sid)
                continue
            results.append(self.mark(sid, a.text, answered, key=a.key))
            answered[sid] = results[-1]
        # Diagnose with every verdict at hand (a step is computed only from steps before it,
        # so the later ones never matter); the engine runs every answer may need are made
        # first, packed (see prefetch).
        self._answered, self._memo = {r.id: r for r in results}, {}
        wrong = [r for r in results if not r.correct]
        self._close = self._nearby(wrong, self._answered)
        for r in wrong:
            self.diagnose(r, self._answered)
        self._answered, self._memo, self._close = {}, {}, None
        first = next((r.id for r in results if not r.correct), None)
        # a worksheet asks for every step of the update
        report = Report(self.scenario, results, unanswered, first, iteration=self.iteration,
                        asked=len(self.by_id), profile=self.profile)
        if matrices is not None:
            matrices.finish(report)
        return report


def _step_values(scenario: Scenario, iteration: int, mistakes: tuple[Mistake, ...],
                 round_to: int | None = None) -> dict[str, float] | None:
    """Every step's value of update `iteration` with `mistakes` injected (None when that
    run blows up)."""
    # The collector stays off until the run's steps are freed again: re-enabled while
    # they lived (the engine's own pause ends there), it rescanned every step of the
    # judge's trace after each run, half a second a run on a 75k-step network.
    with collector_paused():
        try:
            trace = run(scenario, iterations=iteration, show={iteration}, round_to=round_to,
                        mistakes=mistakes)
            return {s.id: s.value for s in trace.iterations[0].steps}
        except EngineError:
            return None  # a mistake that blows up reproduces nothing
        finally:
            trace = None


def describe(kind: str, scenario: Scenario) -> str:
    """What the student did, in the words `check` names a mistake with."""
    if kind == "reduction":
        other = "sum" if scenario.reduction == "mean" else "mean"
        return f"the batch's {other} taken instead of its {scenario.reduction}"
    return MISTAKES[kind][0]


# What a step reaches (Judge._reach): its own answered steps, the reach it shares with one
# step it comes through (or None), and the count of both (an upper bound: they may overlap).
_Reached = tuple[frozenset[str], "_Reached | None", int]


_NOTHING: _Reached = (frozenset(), None, 0)
_NONE: list[Result] = []  # (shared: never changed)


def _members(reached: _Reached) -> Iterator[str]:
    """The steps of a reach, each at least once."""
    part: _Reached | None = reached
    while part is not None:
        yield from part[0]
        part = part[1]


def _only(sources: set[str], upstream: set[str], source: str) -> bool:
    """Is `source` the only one of `sources` in `upstream`? (without copying either set)"""
    had = source in sources
    sources.discard(source)
    alone = upstream.isdisjoint(sources)
    if had:
        sources.add(source)
    return alone


class _Refs(dict):
    """Each step's operand refs (_operand_refs), worked out when first asked for: a file
    answers a few of a wide network's 75k steps."""

    def __init__(self, steps: dict[str, Step]):
        super().__init__()
        self.steps = steps

    def __missing__(self, step_id: str) -> list[str]:
        refs = self[step_id] = _operand_refs(self.steps[step_id])
        return refs


class _Quantities:
    """Reads steps' values from the quantities of an engine run that writes no Steps
    (``engine.run(..., record=...)``): writing a wide network's 55k Steps took nearly all of
    each mistake run's time, where the judge reads a few of their numbers. Every run of one
    update computes the same quantities in the same order, so where each step id lies is
    found once, from the first run's."""

    def __init__(self) -> None:
        self.where: dict[str, int] | None = None  # step id -> its place in all the values
        self.shapes: list[tuple[int, ...]] = []
        self.places: tuple[tuple[str, ...], np.ndarray | None] = ((), None)  # the last read
        self.known: list[tuple] = []

    def _knows(self, record: list) -> bool:
        """Is `record` made of the quantities indexed (indexing the first one seen)?"""
        shapes = [q.shape for _, q in record]
        if self.where is None:
            made = [make() for make, _ in record]
            ids = [sid for m in made for sid in m.ravel().tolist()]
            # an id in two quantities would be ambiguous: then never read from a record
            self.where = dict(zip(ids, range(len(ids))))
            self.where = self.where if len(self.where) == len(ids) else {}
            self.shapes = shapes
            # given to the later runs (engine.Record): they need not make them again
            self.known = [(make.__code__, m, frozenset(m.ravel().tolist()))
                          for (make, _), m in zip(record, made)] if self.where else []
        return bool(self.where) and shapes == self.shapes

    def every(self, record: list, whole: Callable[[], dict[str, float] | None]
              ) -> _Read | None:
        """Every step's value, by id (None if the record is not known); a step no quantity
        holds is read from `whole()`, a run made when first needed."""
        if not self._knows(record):
            return None
        return _Read(np.concatenate([q.ravel() for _, q in record]), self.where, whole)

    def read(self, record: list, wanted: tuple[str, ...]) -> np.ndarray | None:
        """The `wanted` steps' values, in order; None where the record cannot tell them all
        (a step no quantity holds, like the optimizer's state carried in: run it whole)."""
        if not self._knows(record):
            return None
        if self.places[0] != wanted:  # (one check asks for the same steps kind after kind)
            where = self.where
            at = (np.array([where[sid] for sid in wanted], dtype=np.intp)
                  if all(sid in where for sid in wanted) else None)
            self.places = wanted, at
        at = self.places[1]
        if at is None:
            return None
        return np.concatenate([q.ravel() for _, q in record] or [np.zeros(0)])[at]


class _Read:
    """A recorded run's values by step id (_Quantities.every)."""

    def __init__(self, values: np.ndarray, where: dict[str, int],
                 whole: Callable[[], dict[str, float] | None]):
        self.values, self.where, self.whole = values, where, whole
        self._whole: dict[str, float] | None = None

    def __getitem__(self, step_id: str) -> float:
        at = self.where.get(step_id)
        if at is not None:
            return float(self.values[at])
        if self._whole is None:  # (the record's run did not blow up: neither does this)
            self._whole = self.whole() or {}
        return self._whole[step_id]


def _operand_refs(step: Step) -> list[str]:
    """The refs a step's formula reads. A gradient's wrt factor is the input it carries, and
    a gradient written dE/dout · dout/dnet · input is δ · input: a student's δ goes in too."""
    refs = [o.ref for term in step.terms for o in term if not o.ref.startswith("wrt:")]
    if step.kind == "grad" and step.aux and any(o.ref.startswith("wrt:") for t in step.terms for o in t):
        refs.append(step.aux[0].ref)
        if refs[0].startswith("dout:"):
            refs.append("dnet:" + refs[0].partition(":")[2])
    return list(dict.fromkeys(refs))


def _relevant(kind: str, step: Step, scenario: Scenario) -> bool:
    """Mistakes that only make sense with some losses or layers (or in a circuit)."""
    if getattr(scenario, "graph", None) is not None:  # a circuit: what its sweep can make
        from bpwalk.engine.circuit import mistake_applies

        return mistake_applies(kind, step)
    if kind in GRAPH_ONLY:
        return False
    if kind in LAYER_ONLY:  # a convolution's net; the dout of the cells a pooling takes
        layers = getattr(scenario, "layers", ())
        at = step.layer or 0
        if step.kind in ("dout", "din"):  # written by the next layer that computes (past a
            # flatten; an input's, by the first)
            at = next((k for k in range(at + 1, len(layers) + 1)
                       if layers[k - 1].kind != "flatten"), 0)
        return 0 < at <= len(layers) and layers[at - 1].kind in LAYER_ONLY[kind]
    if kind in SEQUENCE_ONLY:
        return getattr(scenario, "sequence", False)
    if kind == "dact_again":
        return scenario.loss in ("binary_cross_entropy", "cross_entropy")
    if kind == "jacobian_diagonal":  # a softmax layer's, or an attention head's rows
        return any(lay.activation == "softmax" or lay.kind == "attention"
                   for lay in scenario.layers)
    if kind in ("reduction", "mean_twice", "one_sample"):
        return len(scenario.x) > 1
    if kind == "bias_not_summed":
        return any(lay.bias == "shared" for lay in scenario.layers)
    return True


def judge_one(scenario: Scenario, step_id: str, given: str | float,
              round_to: int | None = None) -> Result:
    """Judge a single answer (for a quiz: build one Judge and reuse it to save re-runs)."""
    return Judge(scenario, round_to).judge_one(step_id, given)


def _or(ids: list[str]) -> str:
    quoted = [f"'{i}'" for i in ids]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


__all__ = ["Judge", "Report", "Result", "agrees", "at_decimals", "decimals_of", "judge_one"]
