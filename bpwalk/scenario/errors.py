"""The one error type of scenario and answers files: problems with FILE:LINE:COL."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

SHOWN_PROBLEMS = 20  # a message lists this many problems, then says how many more there are

# C0 and C1 control characters (but tab and newline), and the bidirectional overrides that can
# make text read differently from what it is: a file's text must not retitle the window,
# clear the screen or move the cursor when bpwalk shows it.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with every control character written as its escape (ESC as \\x1b)."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def control_character(text: str) -> str | None:
    """The escape of the first control character in `text`, or None."""
    found = _CONTROL.search(text)
    return printable(found.group()) if found else None


class Problem(NamedTuple):
    file: str
    line: int | None  # 1-based
    column: int | None  # 1-based
    message: str

    def __str__(self) -> str:  # one line, whatever the file name or the message hold
        where = self.file if self.line is None else f"{self.file}:{self.line}:{self.column}"
        return printable(f"{where}: {self.message}").replace("\n", "\\n")


class ScenarioError(Exception):
    """One or more problems in a scenario file; str() gives one line per problem."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        lines = [str(p) for p in problems[:SHOWN_PROBLEMS]]
        if len(problems) > SHOWN_PROBLEMS:
            more = len(problems) - SHOWN_PROBLEMS
            lines.append(f"{problems[0].file}: ... and {more} more problem{'s' * (more != 1)}; "
                         "fix these first")
        super().__init__("\n".join(lines))


def did_you_mean(word: str, choices: Any) -> str:
    """"; did you mean 'x'?" for the choice closest in spelling, or known as another name for
    it (lr for learning_rate, mse for mean_squared_error); "" when none is close."""
    from bpwalk.scenario.format import ALIASES

    choices = list(choices)
    alias = ALIASES.get(str(word).strip().lower().replace("-", "_").replace(" ", "_"))
    if alias in choices:
        return f"; did you mean '{alias}'?"
    import difflib  # only when a name is wrong: not at every start

    close = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else ""


def choice_hint(word: str, choices: Any) -> str:
    """The end of an 'unknown name' message: the closest choice, and all of them."""
    names = ", ".join(choices)
    close = did_you_mean(word, choices)
    return f"{close} (one of: {names})" if close else f"; choose one of: {names}"
