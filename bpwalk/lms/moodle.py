"""Moodle XML: one Cloze ("Embedded answers") question per variant, in one category for a
"random question" slot.

Each asked step is a NUMERICAL blank, written as Moodle's documentation gives the grammar:
``{1:NUMERICAL:=answer:tolerance#feedback~%0%wrong:tolerance#feedback}``, where ``3:4``
means 3 ± 4. The right answer's range is the judge's marking at the asked decimals; each named
mistake's value is a 0% answer whose feedback is `check`'s words for it. Inside a blank the
characters } # ~ / " \\ are escaped with a backslash (Moodle docs, Cloze, "escaping").
"""

from __future__ import annotations

import base64
import html
import xml.etree.ElementTree as ET
from decimal import Decimal

from bpwalk.lms import Answer, Blank, Variant, blanks, given_rows, picture
from bpwalk.notation import Profile, symbol

CLOZE_SPECIAL = '\\}#~/"'  # the backslash first, so that no escape is escaped again


def escape(text: str) -> str:
    """Text safe inside a Cloze blank (an answer or a feedback)."""
    for ch in CLOZE_SPECIAL:
        text = text.replace(ch, "\\" + ch)
    return text


def _num(d: Decimal) -> str:
    """A plain decimal (Moodle reads no exponent), without trailing zeros."""
    text = format(d.normalize(), "f")
    return text if text not in ("-0", "") else "0"


def _part(a: Answer, fraction: str) -> str:
    head = "=" if fraction == "100" else f"%{fraction}%"
    fb = f"#{escape(a.feedback)}" if a.feedback else ""
    return f"{head}{_num(a.centre)}:{_num(a.tolerance)}{fb}"


def cloze(b: Blank) -> str:
    """One NUMERICAL blank: the right range first (Moodle takes the first that matches)."""
    right = Answer(b.right.text, b.right.centre, b.right.tolerance, "right")
    parts = [_part(right, "100"), *(_part(m, "0") for m in b.mistakes)]
    return "{1:NUMERICAL:" + "~".join(parts) + "}"


def _table(rows: list[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><td>{html.escape(n)}</td><td>{html.escape(v)}</td></tr>"
                    for n, v in rows)
    return f'<table border="1" cellpadding="3"><tbody>{cells}</tbody></table>'


def question_text(v: Variant, bl: list[Blank], decimals: int, notation: Profile | None = None
                  ) -> str:
    sc = v.scenario
    lines = [(f"<p>{html.escape(sc.title or sc.name)}: work out one update of this {sc.shape} "
             f"network by hand. Give each value to {decimals} decimals.</p>"),
             '<p><img src="@@PLUGINFILE@@/network.svg" alt="the network" width="480"></p>',
             _table(given_rows(sc))]
    for b in bl:
        lines.append(f"<p>{html.escape(b.step)} ({html.escape(symbol(b.step, 'unicode', notation))}) = "
                     f"{cloze(b)}</p>")
    lines.append(f"<p><small>bpwalk variant: {html.escape(v.label)}</small></p>")
    return "\n".join(lines)


def _text(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    ET.SubElement(el, "text").text = text
    return el


def render(name: str, variants: list[Variant], asked: list[str], decimals: int,
           notation: Profile | None = None) -> str:
    quiz = ET.Element("quiz")
    category = ET.SubElement(quiz, "question", type="category")
    _text(category, "category", f"$course$/top/bpwalk/{name}")
    for v in variants:
        q = ET.SubElement(quiz, "question", type="cloze")
        _text(q, "name", f"{name}, {v.label}")
        qt = _text(q, "questiontext", question_text(v, blanks(v, asked, decimals), decimals, notation),
                   format="html")
        svg = ET.SubElement(qt, "file", name="network.svg", path="/", encoding="base64")
        svg.text = base64.b64encode(picture(v.scenario).encode("utf-8")).decode("ascii")
        _text(q, "generalfeedback", "", format="html")
        ET.SubElement(q, "penalty").text = "0.3333333"
        ET.SubElement(q, "hidden").text = "0"
        ET.SubElement(q, "idnumber").text = f"bpwalk-{name}-{v.seed if v.seed is not None else 0}"
    ET.indent(quiz)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(quiz, "unicode") + "\n"
