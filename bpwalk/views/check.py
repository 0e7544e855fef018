"""How `bpwalk check` shows its verdicts: a rich table, or JSON for programs.

Only formatting: every number comes from the judge's Results (which come from the engine).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from bpwalk.judge import Report, Result
from bpwalk.notation import symbol
from bpwalk.scenario.errors import printable

FIRST_WRONG_STYLE = "bold red"


@dataclass(frozen=True)
class FileMark:
    """One file given to `check`, marked or not: every file gets a row in every format."""

    name: str
    report: Report | None  # None: the file could not be marked
    asked: int = 0  # steps asked (known when the file was read, marked or blank)
    problem: str = ""  # why it was not marked, one line ("" when it was)
    readable: bool = True  # False: the file could not be read as answers at all

    @property
    def answered(self) -> int:
        return len(self.report.results) if self.report else 0

    @property
    def blank(self) -> int:
        return self.report.blank if self.report else self.asked

    def counts(self) -> tuple[str, str, str]:
        """right, answered, blank as shown: empty for a file that could not be read."""
        if not self.readable:
            return "", "", ""
        right = self.report.right if self.report else 0
        return str(right), str(self.answered), str(self.blank)


def render_json(files: list[FileMark], many: bool = False) -> str:
    """One file: its report. `many`: {"files": [each report with its "file"]}; a file
    that could not be marked is {"file", "error", "answered", "blank"}. The names are kept
    exact (JSON escapes what it must); no number in a report is infinite or NaN (the answers
    reader refuses them), and allow_nan=False keeps it so."""
    docs: list | None = [{"file": f.name, **f.report.to_dict()} if f.report else
            {"file": f.name, "error": f.problem, "asked": f.asked if f.readable else None,
             "answered": 0 if f.readable else None, "blank": f.blank if f.readable else None}
            for f in files]
    data = {"files": docs} if many else docs[0]
    docs = None  # (freed with data, before the text is joined)
    # json.dumps's text, its pieces joined a few thousand at a time: dumps holds them all in
    # one list first (2.25M for the 50,000 results of a wide network's dW1: 135 MB)
    text: list[str] = []
    pieces: list[str] = []
    for piece in json.JSONEncoder(indent=2, ensure_ascii=False,
                                  allow_nan=False).iterencode(data):
        pieces.append(piece)
        if len(pieces) == 4096:
            text.append("".join(pieces))
            pieces.clear()
    text += [*pieces, "\n"]
    data = pieces = None
    return "".join(text)


CSV_COLUMNS = ("file", "right", "answered", "blank", "first_wrong", "mistake", "diagnosis")

# A spreadsheet runs a cell that starts with one of these as a formula (=cmd|' -C calc'!A0,
# +1, @SUM(...)); OWASP's advice for CSV injection: start such a text cell with a ' instead.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str | int) -> str:
    """One CSV field: a text cell that a spreadsheet would run as a formula begins with ',
    and a field holding a comma, a quote or a line break (\\r too, which csv.writer leaves
    bare when its rows end in \\n) is quoted, its quotes doubled (RFC 4180)."""
    if isinstance(value, int):
        return str(value)
    if value.startswith(_FORMULA_START):
        value = "'" + value
    if any(c in value for c in ',"\r\n'):
        value = '"' + value.replace('"', '""') + '"'
    return value


def render_csv(files: list[FileMark]) -> str:
    """One row per answers file, for a gradebook; a file that could not be marked has its
    row too, with the reason in diagnosis."""
    rows: list[tuple] = [CSV_COLUMNS]
    for f in files:
        first = f.report.first() if f.report else None
        rows.append((f.name, *f.counts(), f.report.first_wrong or "" if f.report else "",
                     (first.mistake or "") if first else "",
                     first.diagnosis if first else f.problem))
    return "".join(",".join(csv_cell(v) for v in row) + "\n" for row in rows)


def _file_name(name: str) -> str:
    """A file name as the terminal shows it: every control character escaped (an ESC would
    retitle the window or clear the screen), and a tab or line break too (one row a file)."""
    return printable(name).replace("\t", "\\t").replace("\n", "\\n")


def render_class(files: list[FileMark], noun: str = "file") -> RenderableType:
    """One row per file: right, answered and blank, the first wrong step and what went
    wrong; a file that could not be marked says why."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
    table.add_column(noun, overflow="fold")
    table.add_column("right", justify="right", no_wrap=True)
    table.add_column("answered", justify="right", no_wrap=True)
    table.add_column("blank", justify="right", no_wrap=True)
    table.add_column("first wrong", no_wrap=True)
    table.add_column("what went wrong", overflow="fold")
    for f in files:
        table.add_row(_file_name(f.name), *f.counts(),
                      f.report.first_wrong or "" if f.report else "",
                      _what(f))
    passed = sum(complete(f) for f in files)
    summary = Text(f"{passed} of {len(files)} {noun}{'s' * (len(files) != 1)} all right.")
    return Group(table, summary)


def complete(f: FileMark) -> bool:
    """Every asked step answered, and every answer right."""
    return f.report is not None and f.report.passed and f.report.blank == 0


def _what(f: FileMark) -> Text:
    report = f.report
    if report is None:
        return Text(f.problem if f.readable else f"not marked: {f.problem}", style="red")
    first = report.first()
    if first is not None:
        return Text(first.diagnosis)
    if report.blank:
        return Text(f"{f.answered} of {report.asked} answered, all right",
                    style="yellow")
    return Text("all right", style="green")


def render(report: Report, answers_name: str = "answers") -> RenderableType:
    """The verdict table in computation order, then a short summary."""
    sc = report.scenario
    title = Text(f"{_file_name(answers_name)}: answers for {sc.name}, update {report.iteration}",
                 style="bold")
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
    if not results:
        return Text(f"Nothing answered: {len(report.unanswered)} steps left blank. Write a "
                    "number after each 'step-id:' (like 'net:h1: 0.3775'), then check again.")
    wrong = [r for r in results if not r.correct]
    drift = sum(1 for r in results if r.note)
    lines = [f"{len(results) - len(wrong)} of {len(results)} right"
             + (f" ({drift} with rounding drift)" if drift else "")
             + (f", {len(wrong)} wrong." if wrong else ".")]
    if report.blank:  # left blank, or left out of the file
        lines.append(f"{len(results)} of {report.asked} answered; {report.blank} blank: "
                     "not checked.")
    for m in report.matrices:  # answers written as matrices: one verdict each
        shape = f"{m.given_shape[0]}×{m.given_shape[1]}"
        lines.append(f"Matrix {m.key} ({shape}): " + ("right." if m.correct else
                                                       f"WRONG: {m.diagnosis}."))
    if report.first_wrong:
        first = report.first_wrong
        written = symbol(first, "unicode", report.profile)  # Err_h1 under han-kamber, dx
        lines.append(f"First wrong step: {first} ({written}). Steps computed "
                     "after it from its value inherit the mistake: fix it first.")
    elif results:
        lines.append("Every answer given is right." if report.blank else "Every answer is right.")
    return Text("\n".join(lines))
