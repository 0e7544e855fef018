"""How `bpwalk check` shows its verdicts: a rich table, or JSON for programs.

Only formatting: every number comes from the judge's Results (which come from the engine).
"""

from __future__ import annotations

import json

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from bpwalk.judge import Report, Result
from bpwalk.notation import symbol

FIRST_WRONG_STYLE = "bold red"


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


def render(report: Report, answers_name: str = "answers") -> RenderableType:
    """The verdict table in computation order, then a short summary."""
    sc = report.scenario
    title = Text(f"{answers_name}: answers for {sc.name}, update 1", style="bold")
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
    table.add_column("step", no_wrap=True)
    table.add_column("given", justify="right", no_wrap=True)
    table.add_column("expected", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)  # the mark: right or wrong, readable without colour
    table.add_column("diagnosis", overflow="fold")
    for r in report.results:
        first = r.id == report.first_wrong
        table.add_row(("→ " if first else "") + r.id, r.text, r.expected_text, _mark(r),
                      _diagnosis(r, first), style=FIRST_WRONG_STYLE if first else None)
    return Group(title, table, _summary(report))


def _mark(r: Result) -> Text:
    if r.correct:
        return Text("right", style="green")
    return Text("WRONG", style="red")


def _diagnosis(r: Result, first: bool) -> str:
    text = r.note if r.correct else r.diagnosis
    if first:
        text = "first wrong step: " + text
    return text


def _summary(report: Report) -> Text:
    results = report.results
    wrong = [r for r in results if not r.correct]
    drift = sum(1 for r in results if r.note)
    lines = [f"{len(results) - len(wrong)} of {len(results)} right"
             + (f" ({drift} with rounding drift)" if drift else "")
             + (f", {len(wrong)} wrong." if wrong else ".")]
    if report.unanswered:
        lines.append(f"{len(report.unanswered)} left blank: not checked.")
    for m in report.matrices:  # answers written as matrices: one verdict each
        shape = f"{m.given_shape[0]}×{m.given_shape[1]}"
        lines.append(f"Matrix {m.key} ({shape}): " + ("right." if m.correct else
                                                       f"WRONG: {m.diagnosis}."))
    if report.first_wrong:
        first = report.first_wrong
        lines.append(f"First wrong step: {first} ({symbol(first, 'unicode')}). Steps computed "
                     "after it from its value inherit the mistake: fix it first.")
    elif results:
        lines.append("Every answer is right.")
    return Text("\n".join(lines))
