"""`bpwalk check` for answers written as matrices (``dW2: [[0.0822, 0.0827], [...]]``).

A matrix answer is marked entry by entry, each entry as the scalar step it equals (the map of
bpwalk.matrix), by the same judge as any other answer. A matrix that is wrong as a whole is
then compared with the matrices the classic matrix mistakes give (bpwalk.matrix.mistaken:
computed from the right operands, never matched as text), so that a transposed gradient is
named as a·δᵀ for δ·aᵀ rather than as four unrelated wrong numbers.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from bpwalk.marking import agrees
from bpwalk.matrix import MATRIX_MISTAKES, MatrixForm, equation_for, matrix_form, mistaken
from bpwalk.scenario import Answer, Problem, ScenarioError

if TYPE_CHECKING:
    from bpwalk.judge import Judge, Report

_SPELLING = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹₀₁₂₃₄₅₆₇₈₉δ", "01234567890123456789d")


def _normal(key: str) -> str:
    """dW2, dE/dW2, ∂E/∂W², dw2 all read dw2; δ2, delta2 and Ng's dZ2 read delta2."""
    k = key.strip().replace("∂E/∂", "d").replace("dE/d", "d").replace("∂", "d")
    k = k.translate(_SPELLING).replace("^", "").replace("[", "").replace("]", "").lower()
    if k.startswith("dz") or (k.startswith("d") and k[1:].isdigit()):
        k = "delta" + k.removeprefix("dz").removeprefix("d")
    return k.replace("deltaelta", "delta")


@dataclass
class MatrixVerdict:
    key: str  # as written
    matrix: str  # the matrix it names (dW2, delta1, ...)
    line: int
    given_shape: tuple[int, int]
    shape: tuple[int, int]
    correct: bool = False
    mistake: str | None = None  # a key of bpwalk.matrix.MATRIX_MISTAKES
    diagnosis: str = ""
    entries: list[str] = field(default_factory=list)  # the step ids marked

    def to_dict(self) -> dict:
        return {"matrix": self.matrix, "written": self.key, "shape": list(self.shape),
                "given_shape": list(self.given_shape), "correct": self.correct,
                "mistake": self.mistake, "diagnosis": self.diagnosis or None,
                "entries": self.entries}


@dataclass
class MatrixAnswers:
    """The matrix answers of a file: split into entries for the judge, verdicts after."""

    form: MatrixForm
    pending: list[tuple[MatrixVerdict, Answer]]

    def finish(self, report: Report) -> None:
        """Fill in each matrix's verdict from its entries' results and the matrix mistakes."""
        by_id = {r.id: r for r in report.results}
        for verdict, answer in self.pending:
            eq = equation_for(self.form, verdict.matrix)
            assert eq is not None and answer.rows is not None
            results = [by_id[i] for i in verdict.entries if i in by_id]
            for (r, c, ref, _), res in zip(eq.result.entries(), results):
                res.key = f"{verdict.matrix}[{r},{c}]"
            verdict.correct = (verdict.given_shape == verdict.shape
                               and all(res.correct for res in results))
            if verdict.correct:
                continue
            for name, wrong in mistaken(eq):
                if wrong.shape == verdict.given_shape and _agrees_all(answer.rows, wrong):
                    verdict.mistake = name
                    verdict.diagnosis = MATRIX_MISTAKES[name]
                    break
            if verdict.given_shape != verdict.shape and not verdict.mistake:
                verdict.diagnosis = (f"the shape is {_shape(verdict.given_shape)}, and "
                                     f"{verdict.matrix} is {_shape(verdict.shape)}")
            elif not verdict.mistake:
                verdict.diagnosis = "see its entries"
            for res in results:
                if not res.correct and verdict.mistake:
                    res.diagnosis = f"{verdict.diagnosis} (the matrix {verdict.matrix})"
        report.matrices = [v for v, _ in self.pending]


def _shape(shape: tuple[int, int]) -> str:
    return f"{shape[0]}×{shape[1]}"


def _agrees_all(rows: tuple[tuple[str, ...], ...], values: np.ndarray) -> bool:
    return all(agrees(t, float(v)) for row, vrow in zip(rows, values.tolist())
               for t, v in zip(row, vrow))


def split(judge: Judge, answers: Sequence[Answer], filename: str, keep: bool = False
          ) -> tuple[list[Answer], MatrixAnswers | None]:
    """The answers with every matrix answer of the right shape replaced by its entries
    (one Answer per scalar step), and the matrix answers to finish once they are judged.
    With `keep`, the next split of the same answers list takes this one's (`check` splits a
    file to resolve its ids first, then to judge it: a dW1's 50,000 entries, made once)."""
    matrices = [a for a in answers if a.rows is not None]
    if not matrices:
        return list(answers), None
    if getattr(judge.trace.scenario, "shaped", False):
        a = matrices[0]
        raise ScenarioError([Problem(filename, a.line, a.col,
                                     f"'{a.key}' is written as a matrix, and "
                                     f"{judge.trace.scenario.shaped_words} are not written as "
                                     "matrices yet; write "
                                     "each step's value after its id, like "
                                     "'net:conv1[1,1,1]: 19'")])
    last, judge.matrix_split = getattr(judge, "matrix_split", None), None
    if last is not None and last[0] is answers and last[1] == filename:  # made to be kept
        return last[2], last[3]
    form = getattr(judge, "matrix_form", None)  # made once a judge: seconds on a wide net
    if form is None:
        form = judge.matrix_form = matrix_form(judge.trace, judge.trace.iterations[0])
    computed = {_normal(e.result.key): e.result for e in form.equations}
    problems, out = [], [a for a in answers if a.rows is None]
    pending = []
    for a in matrices:
        assert a.rows is not None
        mat = computed.get(_normal(a.key))
        if mat is None:
            close = difflib.get_close_matches(a.key, [m.key for m in computed.values()], 3, 0.5)
            hint = f"did you mean {' or '.join(close)}?" if close else (
                "use a computed matrix's name: " + ", ".join(m.key for m in computed.values()))
            problems.append(Problem(filename, a.line, a.col,
                                    f"'{a.key}' is not a matrix this update computes; {hint}"))
            continue
        if not a.rows:  # left blank: its entries are not answered
            out += [Answer(ref, None, None, a.line, a.col) for _, _, ref, _ in mat.entries()]
            continue
        given = (len(a.rows), len(a.rows[0]))
        verdict = MatrixVerdict(a.key, mat.key, a.line, given, mat.shape)
        if given == mat.shape:
            for (_, _, ref, _), text in zip(mat.entries(), (t for row in a.rows for t in row)):
                out.append(Answer(ref, float(text), text, a.line, a.col))
                verdict.entries.append(ref)
        pending.append((verdict, a))
    if problems:
        raise ScenarioError(problems)
    split_ = MatrixAnswers(form, pending)
    if keep:  # for the next split of the same answers: taken by it, never used twice
        judge.matrix_split = answers, filename, list(out), split_
    return out, split_
