"""The one error type of scenario and answers files: problems with FILE:LINE:COL."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None  # 1-based
    column: int | None  # 1-based
    message: str

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class ScenarioError(Exception):
    """One or more problems in a scenario file; str() gives one line per problem."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else ""


def choice_hint(word: str, choices: Any) -> str:
    """The end of an 'unknown name' message: the closest choice, and all of them."""
    names = ", ".join(choices)
    close = did_you_mean(word, choices)
    return f"{close} (one of: {names})" if close else f"; choose one of: {names}"
