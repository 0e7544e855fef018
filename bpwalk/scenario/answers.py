"""Answers files: a student's `step-id: number` lines, with where each was written."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import yaml

from bpwalk.scenario.errors import Problem, ScenarioError
from bpwalk.scenario.yamlread import DECIMAL, Expect, Reader, kind, not_decimal, read_text, shorten


@dataclass(frozen=True)
class Answer:
    """One line of a student's answers file: `key: value`, with where it was written.

    `text` is the number exactly as written (``1.50``, not YAML's 1.5), so the judge knows
    how many decimals the student gave; `value` and `text` are None when left blank.
    """

    key: str
    value: float | None
    text: str | None
    line: int  # 1-based, of the key
    col: int
    # a matrix answer, each entry as written (an empty tuple: every entry left blank)
    rows: tuple[tuple[str, ...], ...] | None = None


_BLANK = {"", "~", "null", "Null", "NULL"}


ANSWERS = Expect(
    what="an answers",
    missing="check the path (an answers file maps step ids to numbers)",
    syntax="write one 'id: number' per line, like 'grad:w5: 0.0822'",
    empty="the answers file is empty; write one 'id: number' per line, like "
          "'net:h1: 0.3775'",
    one="one set of answers",
    mapping="answers must be a mapping of 'id: number' lines, not a {kind}; write e.g. "
            "'net:h1: 0.3775'",
)


def load_answers(path: str | Path, display_name: str | None = None) -> list[Answer]:
    """Read an answers file (a mapping from step ids to numbers). Raises ScenarioError."""
    answers, problems = read_answers(path, display_name)
    if problems:
        raise ScenarioError(problems)
    return answers


def read_answers(path: str | Path, display_name: str | None = None
                 ) -> tuple[list[Answer], list[Problem]]:
    """The answers that read well, and the problems of the others, so that a caller can
    report them together with its own (bpwalk check: unknown step ids). A file that cannot
    be read at all raises ScenarioError."""
    shown = display_name or str(path)
    return _parse(read_text(path, shown, ANSWERS), shown)


def loads_answers(text: str, filename: str = "<answers>") -> list[Answer]:
    """Parse answers text; every problem is reported with its line and column."""
    answers, problems = _parse(text, filename)
    if problems:
        raise ScenarioError(problems)
    return answers


def _parse(text: str, filename: str) -> tuple[list[Answer], list[Problem]]:
    v = Reader(filename)
    root = v.compose(text, ANSWERS)
    answers: list[Answer] = []
    seen: dict[str, int] = {}
    for knode, vnode in root.value if root is not None else ():
        m = knode.start_mark
        key = knode.value if isinstance(knode, yaml.ScalarNode) else None
        if not key:
            v.err(knode, "each key must be a step id like 'net:h1' or 'grad:w5'")
            continue
        if key in seen:
            v.err(knode, f"'{key}' appears twice (first on line {seen[key]}); keep one")
            continue
        seen[key] = m.line + 1
        if isinstance(vnode, yaml.SequenceNode):  # a matrix: dW2: [[0.08, 0.08], [...]]
            rows = _matrix_text(v, key, vnode)
            if rows is not None:
                answers.append(Answer(str(key), None, None, m.line + 1, m.column + 1, rows))
            continue
        written = _answer_text(v, key, vnode)
        if written is not False:
            value = None if written is None else float(written)
            answers.append(Answer(str(key), value, written, m.line + 1, m.column + 1))
    return answers, v.problems


def _matrix_text(v: Reader, key: str, node: yaml.SequenceNode
                 ) -> tuple[tuple[str, ...], ...] | None:
    """A matrix answer's entries as written, row by row (None when reported as wrong)."""
    how = "write a matrix as a list of rows, like [[0.0822, 0.0827], [-0.0226, -0.0227]]"
    rows = node.value
    if not rows or not all(isinstance(r, yaml.SequenceNode) and r.value for r in rows):
        bad = next((r for r in rows if not isinstance(r, yaml.SequenceNode) or not r.value),
                   node)
        v.err(bad, f"the matrix '{key}' must be a list of rows; {how}")
        return None
    ragged = next((r for r in rows if len(r.value) != len(rows[0].value)), None)
    if ragged is not None:
        v.err(ragged, f"the rows of '{key}' differ in length "
                      f"({', '.join(str(len(r.value)) for r in rows)} entries); give every "
                      "row the same number of entries")
        return None
    texts = [[_answer_text(v, key, e) for e in r.value] for r in rows]
    flat = [t for row in texts for t in row]
    if all(t is None for t in flat):
        return ()  # left blank, as in an answers template: not answered
    if any(t is False or t is None for t in flat):
        if False not in flat:
            v.err(node, f"the matrix '{key}' has a blank entry; fill in every entry or leave "
                        "them all blank")
        return None
    return tuple(tuple(str(t) for t in row) for row in texts)


def _answer_text(v: Reader, key: str, node: yaml.Node) -> str | None | bool:
    """The number as written, None for a blank, or False (reported) when it is not a number."""
    if not isinstance(node, yaml.ScalarNode):
        v.err(node, f"the answer for '{key}' must be a number, not a {kind(node)}; "
                    "write one number after the colon")
        return False
    raw = node.value.strip()
    if not node.style and raw in _BLANK:
        return None  # left blank, as in an answers template
    if not DECIMAL.match(raw):  # the scenario's number rule: no 0x10, 1:30, 1_0, ١٢
        why = not_decimal(raw)
        v.err(node, f"the answer for '{key}' must be a decimal number, not {shorten(raw)!r}{why}"
              if why else f"the answer for '{key}' must be a number, not {raw!r}; write it "
                          "like 0.5933")
        return False
    number = Decimal(raw)
    if number and not (-330 < number.adjusted() < 310 and math.isfinite(float(raw))):
        # beyond float64 (1e309 would be read as inf): no step has that value
        v.err(node, f"the answer for '{key}' is {raw}, beyond what a float64 can hold; "
                    "check the exponent")
        return False
    return raw
