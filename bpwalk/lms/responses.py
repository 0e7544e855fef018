"""Answers exported from a course platform, read into `bpwalk check`'s marking: one student a
row (`bpwalk check SCENARIO --from moodle responses.csv`, `--from canvas analysis.csv`).

Moodle: the quiz's Responses report, downloaded as CSV with "Question text" and "Response"
shown. A Cloze question's response reads ``part 1: 0.3775; part 2: 0.5933; ...`` (Moodle's
qtype_multianswer string 'subqresponse'); part N is the Nth asked step, and the question text
holds "bpwalk variant: seed N". Canvas: the classic quiz's Student Analysis CSV, where each
question's column is headed by its id and text ("... work out net:h1 (...) ... seed N").
The marking is the judge's: this module only reads.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from bpwalk.judge import Judge, Report
from bpwalk.scenario import Answer, Problem, Scenario, ScenarioError

SOURCES = ("moodle", "canvas")
SEED = re.compile(r"bpwalk variant: (?:seed (\d+)|the scenario's own numbers)")
PART = re.compile(r"(?:^|;\s*)[^\s;:]+ (\d+) ?: ?([^;]*)")  # "part 3: 0.0822" (any language)
CANVAS_STEP = re.compile(r"work out (\S+) \(")


@dataclass
class Submission:
    """One student's answers: (seed, step id, text as typed); the seed None is the
    scenario's own numbers."""

    name: str
    row: int
    answers: list[tuple[int | None, str, str]] = field(default_factory=list)


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeError) as e:
        reason = getattr(e, "strerror", None) or "not UTF-8 text"
        raise ScenarioError([Problem(str(path), None, None,
                                     f"cannot read the responses ({reason})")]) from None
    return list(csv.DictReader(text.splitlines()))


def _seed(text: str) -> tuple[bool, int | None]:
    m = SEED.search(text)
    if m is None:
        return False, None
    return True, int(m.group(1)) if m.group(1) else None


def _student(row: dict[str, str], k: int) -> str:
    first = (row.get("First name") or "").strip()
    last = (row.get("Surname") or row.get("Last name") or "").strip()
    return (f"{first} {last}".strip() or (row.get("name") or "").strip()
            or (row.get("Email address") or "").strip() or f"row {k}")


def read_moodle(path: Path, asked: list[str]) -> list[Submission]:
    out, problems = [], []
    for k, row in enumerate(_rows(path), 2):  # line 1 holds the headers
        if not any(h.startswith("Response") for h in row):
            raise ScenarioError([Problem(str(path), 1, 1, "no 'Response' column; download "
                                         "the quiz's Responses report with Response shown")])
        sub = Submission(_student(row, k), k)
        for head, cell in row.items():
            if not (head or "").startswith("Response") or not cell or cell == "-":
                continue
            number = head.removeprefix("Response").strip()
            found, seed = _seed(row.get(f"Question {number}", "") or "")
            if not found:
                problems.append(Problem(str(path), k, None, f"{head}: no 'bpwalk variant: "
                                        "seed N' in its question text; download the report "
                                        "with Question text shown"))
                continue
            for part, text in PART.findall(cell):
                i = int(part) - 1
                if 0 <= i < len(asked) and text.strip():
                    sub.answers.append((seed, asked[i], text.strip()))
        out.append(sub)
    if problems:
        raise ScenarioError(problems)
    return out


def read_canvas(path: Path) -> list[Submission]:
    rows = _rows(path)
    columns = []  # (header, step, seed)
    for head in rows[0] if rows else []:
        step = CANVAS_STEP.search(head or "")
        found, seed = _seed(head or "")
        if step and found:
            columns.append((head, step.group(1), seed))
    if rows and not columns:
        raise ScenarioError([Problem(str(path), 1, 1, "no column of a bpwalk question ('work "
                                     "out STEP (...)' and 'bpwalk variant: seed N' in its "
                                     "header); is this the Student Analysis of a quiz made "
                                     "by 'bpwalk lms --format qti'?")])
    out = []
    for k, row in enumerate(rows, 2):
        sub = Submission(_student(row, k), k)
        sub.answers = [(seed, step, row[head].strip()) for head, step, seed in columns
                       if (row.get(head) or "").strip()]
        out.append(sub)
    return out


def mark(sc: Scenario, sub: Submission, judges: dict, asked: int, where: str) -> Report:
    """One student's answers marked by the judge of each variant they answered (Moodle: one;
    Canvas: a pick-1 group per step may give each step another), merged in working order."""
    from bpwalk.lms import redrawn

    results, unanswered = [], []
    by_seed: dict[int | None, list[Answer]] = {}
    for seed, step, text in sub.answers:
        try:
            value = float(text)
        except ValueError:
            raise ScenarioError([Problem(where, sub.row, None, f"{sub.name}: {text!r} is not a "
                                         "number (a decimal point, not a comma)")]) from None
        by_seed.setdefault(seed, []).append(Answer(step, value, text, sub.row, 1))
    order: dict[str, int] = {}
    for seed, answers in by_seed.items():
        if seed not in judges:
            judges[seed] = Judge(sc if seed is None else redrawn(sc, seed))
        order = judges[seed].order
        report = judges[seed].check(answers, where)
        results += report.results
        unanswered += report.unanswered
    results.sort(key=lambda r: order.get(r.id, 0))
    first = next((r.id for r in results if not r.correct), None)
    return Report(sc, results, unanswered, first, asked=asked)
