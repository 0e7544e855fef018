"""A parser for Moodle's Cloze ("Embedded answers") blanks, written from Moodle's documented
grammar (docs.moodle.org, "Embedded Answers (Cloze) question type"):

    {WEIGHT:TYPE:ANSWER~ANSWER...}     WEIGHT optional, TYPE e.g. NUMERICAL (or NM)
    ANSWER = ("=" | "%" PERCENT "%")? TEXT ("#" FEEDBACK)?
    NUMERICAL TEXT = VALUE (":" TOLERANCE)?     "3:4" is 3 ± 4
    inside TEXT and FEEDBACK, \\ escapes one of  } # ~ / " \\

It is a test helper: it shares no code with bpwalk's writer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

ESCAPABLE = set('}#~/"\\')
START = re.compile(r"\{(\d*):(NUMERICAL|NM):")


@dataclass(frozen=True)
class ClozeAnswer:
    fraction: Decimal  # 100 for "=", else the %n%
    value: Decimal
    tolerance: Decimal
    feedback: str

    def accepts(self, x: Decimal) -> bool:
        return self.value - self.tolerance <= x <= self.value + self.tolerance


@dataclass(frozen=True)
class ClozeBlank:
    weight: int
    answers: list[ClozeAnswer]


def _split(body: str, sep: str) -> list[str]:
    """Split at unescaped `sep`; escapes are kept for the later unescape."""
    parts, cur, i = [], "", 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body) and body[i + 1] in ESCAPABLE:
            cur += body[i:i + 2]
            i += 2
            continue
        if c == sep:
            parts.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    return [*parts, cur]


def unescape(text: str) -> str:
    return re.sub(r'\\([}#~/"\\])', r"\1", text)


def _answer(text: str) -> ClozeAnswer:
    fraction = Decimal(0)
    if text.startswith("="):
        fraction, text = Decimal(100), text[1:]
    elif text.startswith("%"):
        pct, _, text = text[1:].partition("%")
        fraction = Decimal(pct)
    head, *fb = _split(text, "#")
    value, _, tol = unescape(head).partition(":")
    return ClozeAnswer(fraction, Decimal(value), Decimal(tol or 0),
                       unescape("#".join(fb)) if fb else "")


def blanks(text: str) -> list[ClozeBlank]:
    """Every NUMERICAL blank in a question text, in order."""
    out = []
    pos = 0
    while (m := START.search(text, pos)) is not None:
        i = m.end()
        body = ""
        while text[i] != "}":  # the first unescaped } closes the blank
            if text[i] == "\\" and text[i + 1] in ESCAPABLE:
                body += text[i:i + 2]
                i += 2
            else:
                body += text[i]
                i += 1
        out.append(ClozeBlank(int(m.group(1) or 1), [_answer(a) for a in _split(body, "~")]))
        pos = i + 1
    return out
