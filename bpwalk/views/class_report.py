"""The class report (`bpwalk check SCENARIO FILES... --format html`): one self-contained page.

Per step, the share of the class that got it right (a bar chart); the mistakes the judge named,
with how many students made each, most common first; a row per student linking to that
student's marked walkthrough further down the same page. Only formatting: every verdict and
number comes from the judge's Reports. Everything from a file (names, answers, which a
student controls) is escaped; anchors are numbered, never made from a name. No script, no
fetch: the page works offline and prints.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence

from bpwalk.judge import Report, Result, describe
from bpwalk.scenario import Scenario
from bpwalk.views.check import FileMark, complete


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def render(sc: Scenario, files: Sequence[FileMark], steps: Sequence[str], update: int = 1,
           noun: str = "file") -> str:
    """The whole page. `steps`: the step ids of the update, in the order a student works."""
    title = f"Class report: {sc.title or sc.name}"
    marked = [f for f in files if f.readable]
    passed = sum(complete(f) for f in files)
    unread = len(files) - len(marked)
    lead = (f"{len(files)} {noun}{'s' * (len(files) != 1)} marked for update {update}; "
            f"{passed} all right (every step answered, every answer right)"
            + (f"; {unread} could not be read" if unread else "") + ".")
    body = [f"<h1>{_e(title)}</h1>", f"<p>{_e(lead)}</p>",
            _steps(marked, steps), _mistakes(sc, marked), _students(files),
            *(_walkthrough(i, f) for i, f in enumerate(files, 1))]
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def _steps(marked: Sequence[FileMark], steps: Sequence[str]) -> str:
    """Per step: right, wrong and blank as one stacked bar of the students who could be read."""
    n = len(marked)
    verdicts: dict[str, Counter] = {sid: Counter() for sid in steps}
    for f in marked:
        for r in f.report.results if f.report else ():
            verdicts.setdefault(r.id, Counter())["right" if r.correct else "wrong"] += 1
    rows = []
    for sid, c in verdicts.items():
        blank = n - c["right"] - c["wrong"]
        bar = "".join(f'<span class="{k}" style="width:{100 * v / n:.2f}%"></span>'
                      for k, v in (("right", c["right"]), ("wrong", c["wrong"]),
                                   ("none", blank)) if v and n)
        share = f"{100 * c['right'] / n:.0f}%" if n else "–"
        rows.append(f'<tr><th scope="row"><code>{_e(sid)}</code></th>'
                    f'<td class="bar" aria-hidden="true"><div class="track">{bar}</div></td><td class="n">{share}</td>'
                    f'<td class="n">{c["right"]}</td><td class="n">{c["wrong"]}</td>'
                    f'<td class="n">{blank}</td></tr>')
    return ('<section id="per-step"><h2>Per step: the share of the class right</h2>'
            '<p class="key"><span class="right"></span> right <span class="wrong"></span> '
            'wrong <span class="none"></span> blank</p>'
            '<table class="steps"><thead><tr><th>step</th><th>right, wrong, blank</th>'
            '<th>share right</th><th>right</th><th>wrong</th><th>blank</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table></section>")


def _own_mistakes(report: Report) -> set[tuple[str, str]]:
    """The (kind, step made in) a student's answers show, each once (a mistake carried
    into later steps is the same mistake)."""
    return {(r.mistake, r.source or r.id) for r in report.results if r.mistake}


def _mistakes(sc: Scenario, marked: Sequence[FileMark]) -> str:
    counts: Counter = Counter()
    unnamed = Counter()  # wrong answers no classic mistake reproduces, by step
    for f in marked:
        if f.report is None:
            continue
        counts.update(_own_mistakes(f.report))
        unnamed.update(r.id for r in f.report.results if not r.correct and not r.mistake
                       and not r.diagnosis.startswith(("computed from", "carried")))
    if not counts and not unnamed:
        return ('<section id="mistakes"><h2>Mistakes</h2><p>No wrong answer in the class.</p>'
                "</section>")
    rows = [f'<tr><td>{_e(describe(kind, sc))}</td><td><code>{_e(where)}</code></td>'
            f'<td class="n">{n}</td></tr>'
            for (kind, where), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    rows += [f'<tr><td class="soft">wrong, no classic mistake gives the number</td>'
             f'<td><code>{_e(sid)}</code></td><td class="n">{n}</td></tr>'
             for sid, n in sorted(unnamed.items(), key=lambda kv: (-kv[1], kv[0]))]
    return ('<section id="mistakes"><h2>Mistakes, most common first</h2>'
            '<table><thead><tr><th>what the student did</th><th>made in</th>'
            '<th>students</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table></section>")


def _students(files: Sequence[FileMark]) -> str:
    rows = []
    for i, f in enumerate(files, 1):
        right, answered, blank = f.counts()
        first = f.report.first() if f.report else None
        asked = str(f.report.asked if f.report else f.asked) if f.readable else ""
        if f.report is None:
            what = f'<span class="bad">{_e(f.problem)}</span>'
        elif first is not None:
            what = _e(describe_first(first))
        elif f.report.blank:
            what = f'<span class="soft">{answered} of {asked} answered, all right</span>'
        else:
            what = '<span class="good">all right</span>'
        rows.append(f'<tr><td><a href="#student-{i}">{_e(f.name)}</a></td>'
                    f'<td class="n">{right}</td><td class="n">{answered}</td>'
                    f'<td class="n">{asked}</td><td class="n">{blank}</td>'
                    f"<td><code>{_e(f.report.first_wrong or '') if f.report else ''}</code></td>"
                    f"<td>{what}</td></tr>")
    return ('<section id="students"><h2>Students</h2><table><thead><tr><th>student</th>'
            '<th>right</th><th>answered</th><th>asked</th><th>blank</th><th>first wrong</th>'
            '<th>mistake</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table></section>")


def describe_first(first: Result) -> str:
    """The first wrong step's verdict, short: the mistake's words, else why none is named."""
    return first.reason or first.diagnosis


def _walkthrough(i: int, f: FileMark) -> str:
    """One student's answers marked, step by step, as `check FILE` shows them."""
    head = (f'<section class="student" id="student-{i}"><h2>{_e(f.name)} '
            '<a class="up" href="#students">(back to the class)</a></h2>')
    if f.report is None:
        return head + f'<p class="bad">{_e(f.problem)}</p></section>'
    report = f.report
    rows = []
    for r in report.results:
        first = r.id == report.first_wrong
        mark = '<td class="good">right</td>' if r.correct else '<td class="bad">WRONG</td>'
        said = r.note if r.correct else r.diagnosis
        rows.append(f'<tr{" class=first" if first else ""}><td><code>{_e(r.key)}</code></td>'
                    f'<td class="n">{_e(r.text)}</td><td class="n">{_e(r.expected_text)}</td>'
                    f"{mark}<td>{'first wrong step: ' if first else ''}{_e(said)}</td></tr>")
    blank = (f"<p>{len(report.results)} of {report.asked} answered; {report.blank} blank.</p>"
             if report.blank else "")
    return (head + f"<p>{report.right} of {len(report.results)} right.</p>{blank}"
            '<table><thead><tr><th>step</th><th>given</th><th>expected</th><th></th>'
            '<th>diagnosis</th></tr></thead><tbody>' + "".join(rows)
            + "</tbody></table></section>")


CSS = """
:root{--ink:#1b1b1b;--soft:#666;--good:#0b6e4f;--bad:#b42318;--none:#d0d0d0}
*{box-sizing:border-box}
body{font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);
 margin:0 auto;padding:1em;max-width:1100px}
h1{font-size:1.5em;margin:.2em 0}h2{margin:1.2em 0 .3em;font-size:1.2em}
table{border-collapse:collapse;margin:.4em 0;max-width:100%}
th,td{text-align:left;padding:.1em .5em;border-bottom:1px solid #e5e5e5;
 overflow-wrap:anywhere;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
th,code,td.n{white-space:nowrap;overflow-wrap:normal}
td.bar{width:22em;min-width:8em}
.track{display:flex;height:1em;margin-top:.2em}
.track span{flex:none}.key span{display:inline-block;height:1em;vertical-align:middle}
.key span{width:1em}
.right{background:var(--good)}.wrong{background:var(--bad)}.none{background:var(--none)}
.good{color:var(--good)}.bad{color:var(--bad)}.soft{color:var(--soft)}
tr.first{background:#fdecea}
.up{font-size:.7em;font-weight:normal}
.student{break-inside:avoid-page}
@media print{a{color:inherit;text-decoration:none}.up{display:none}
 .track span,.key span{print-color-adjust:exact;-webkit-print-color-adjust:exact}}
"""
