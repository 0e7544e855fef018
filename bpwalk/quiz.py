"""Quiz yourself while stepping (``bpwalk run SCENARIO --step --quiz``).

A layer over the stepper: at each step whose value can be computed, the screen shows the
formula in symbols and with the numbers substituted, but '?' for the result, and asks
``your answer:``. The answer is judged by ``bpwalk check``'s Judge, at the decimals typed,
and then the result is revealed with right or wrong and the named mistake.

Why the numbers are shown: the operands are values already revealed on earlier screens, and
a student practising asks "can I do this step's arithmetic?", not "can I look the inputs up".

Keys at a question (everything else is the stepper's):

- digits, ``.`` (or ``,``), ``-``, ``+``, ``e``: type the answer; Backspace edits it;
- Enter: judge the answer; with nothing typed, reveal the result without judging;
- after a wrong answer the result stays hidden: ``r`` retries, Enter (or n, Esc) reveals;
- n, space, →, Esc (with nothing typed): reveal without judging; a second Esc quits, as on
  any revealed step; ``q`` with nothing typed quits; while an answer is typed only Enter,
  Backspace and Esc act, so a stray key cannot throw it away.

As in the stepper, ``press`` is pure logic (it calls the Judge, which only runs the engine)
and the terminal is the stepper's ``interact``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from rich.console import Console, RenderableType
from rich.text import Text

from bpwalk import stepper
from bpwalk.judge import Judge, Result
from bpwalk.notation import Profile, formula
from bpwalk.scenario import Scenario
from bpwalk.stepper import State, Walk
from bpwalk.trace import Trace

# At most 3 exponent digits: the judge's exact arithmetic overflows near 1e999999.
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?")
NUMBER_KEYS = frozenset("0123456789.,-+eE−")
MAX_TYPED = 40  # characters; no hand-calculated answer is longer

QUIZ_HELP = (
    ("0-9 . - e", "type your answer at 'your answer:'"),
    ("Enter", "judge the answer; with nothing typed, reveal the result"),
    ("Backspace", "edit the answer"),
    ("Esc", "reveal without answering (on a revealed step: quit)"),
    ("r", "after a wrong answer: try again before the result is revealed"),
)
# The status line holds " step 999/999  right 999/999 " (28 columns) and these: 80 in all.
KEYS_ASKING = "type+Enter answer  Enter reveal  ? keys  q quit"
KEYS_TYPING = "Enter answer  Backspace edit  Esc reveal"
KEYS_WRONG = "r retry  Enter reveal  b back  ? keys  q quit"
# The stepper's own keys, less '] [ pass' (? lists it): with the score they would pass 80.
KEYS_REVEALED = "n next  b back  g go to  d draw  ? keys  q quit"
RETRY = "r"
REVEAL = {"enter", "esc", "n", " ", "right"}


# ----------------------------------------------------------------------------- the quiz


@dataclass(frozen=True)
class Answer:
    text: str | None  # as typed; None when revealed without an answer
    result: Result | None  # the Judge's verdict; None when revealed without an answer
    revealed: bool = True  # False after a wrong answer, until Enter reveals (r retries)
    tries: int = 1  # answers typed at this step (a retry adds one)


class Quiz:
    """The walk, which of its steps are questions, and one Judge per update (cached runs)."""

    def __init__(self, walk: Walk, scenario: Scenario, round_to: int | None = None):
        self.walk = walk
        self.scenario = scenario
        self.round_to = round_to
        self._judges: dict[int, Judge] = {}
        self.questions = frozenset(i for i, e in enumerate(walk.entries) if _computed(e.step))

    def judge(self, index: int, text: str, answers: Mapping[int, Answer]) -> Result:
        """The verdict on `text` typed at step `index`, with the answers to earlier steps of
        the same update (a mistake made there can explain this one: "carried forward")."""
        entry = self.walk.entries[index]
        if entry.iteration not in self._judges:
            self._judges[entry.iteration] = Judge(self.scenario, self.round_to, entry.iteration,
                                                  self.walk.notation)
        earlier = [a.result for i, a in sorted(answers.items())
                   if i < index and a.result is not None
                   and self.walk.entries[i].iteration == entry.iteration]
        return self._judges[entry.iteration].judge_one(entry.step.id, text, earlier,
                                                       own_only=True)


def _computed(step) -> bool:
    """A question: the result is not already written in the formula (E = E_o1 = 0.27 is not)."""
    f = formula(step, "unicode")
    return f.result != f.numeric


@dataclass(frozen=True)
class QuizState:
    step: State = field(default_factory=State)  # the stepper's position, mode and message
    answers: Mapping[int, Answer] = field(default_factory=dict)  # walk index -> answer
    typed: str = ""  # the answer being typed
    tries: Mapping[int, int] = field(default_factory=dict)  # wrong tries before a retry
    # the wrong answers taken back with r: they stay in the score (a retry is a new answer)
    retried: tuple[tuple[int, Result], ...] = ()

    @property
    def done(self) -> bool:
        return self.step.done

    def judged(self) -> list[tuple[int, Result]]:
        """Every answer judged, in computation order: the retried ones, then the last."""
        final = [(i, a.result) for i, a in self.answers.items() if a.result is not None]
        return sorted([*self.retried, *final], key=lambda t: t[0])

    def score(self) -> tuple[int, int]:
        """(right, answered): a wrong answer retried counts as one wrong answer."""
        judged = [r for _, r in self.judged()]
        return sum(r.correct for r in judged), len(judged)


def asking(qs: QuizState, quiz: Quiz) -> bool:
    """Is the step on screen a question not yet answered or revealed?"""
    i = qs.step.index
    return qs.step.mode == "step" and i in quiz.questions and i not in qs.answers


def unseen_operands(qs: QuizState, quiz: Quiz) -> bool:
    """Does the step on screen read a value the student has not seen: an earlier question
    of its update neither answered right nor revealed (reached with g, say)? Then its
    formula is shown in symbols only, so that it does not give those answers away."""
    i = qs.step.index
    if not (asking(qs, quiz) or pending(qs)):
        return False
    entries = quiz.walk.entries
    seen = {k for k, a in qs.answers.items() if a.revealed}
    hidden = {entries[k].step.id for k in quiz.questions
              if k < i and k not in seen and entries[k].iteration == entries[i].iteration}
    return any(op.ref in hidden for term in entries[i].step.terms for op in term)


def pending(qs: QuizState) -> bool:
    """Is the step on screen answered wrong, its result not yet revealed (r retries)?"""
    a = qs.answers.get(qs.step.index)
    return qs.step.mode == "step" and a is not None and not a.revealed


# ----------------------------------------------------------------------------- keys -> state


def press(qs: QuizState, key: str, quiz: Quiz) -> QuizState:
    """What `key` does: at a question, type, judge or reveal; elsewhere, as in the stepper."""
    if asking(qs, quiz) and key not in ("eof", "resize"):
        return _answer_key(replace(qs, step=replace(qs.step, message="")), key, quiz)
    if pending(qs) and (key == RETRY or key in REVEAL):
        i = qs.step.index
        a = qs.answers[i]
        if key == RETRY:  # back to the prompt; the wrong answer stays in the score
            rest = {k: v for k, v in qs.answers.items() if k != i}
            assert a.result is not None
            return replace(qs, answers=rest, tries={**qs.tries, i: a.tries},
                           retried=(*qs.retried, (i, a.result)))
        return replace(qs, answers={**qs.answers, i: replace(a, revealed=True)})
    return replace(qs, step=stepper.press(qs.step, key, quiz.walk))


def _answer_key(qs: QuizState, key: str, quiz: Quiz) -> QuizState:
    i = qs.step.index
    if len(key) == 1 and key in NUMBER_KEYS:
        if len(qs.typed) >= MAX_TYPED:
            return qs
        return replace(qs, typed=qs.typed + {",": ".", "−": "-"}.get(key, key))
    if key == "backspace":
        return replace(qs, typed=qs.typed[:-1])
    if key == "enter" and qs.typed:
        if not NUMBER.fullmatch(qs.typed):
            return _say(qs, f"{qs.typed!r} is not a number like 0.5933 or 4.4e-4; "
                            "Backspace edits it, Esc reveals")
        result = quiz.judge(i, qs.typed, qs.answers)
        answer = Answer(qs.typed, result, revealed=result.correct, tries=qs.tries.get(i, 0) + 1)
        return replace(qs, typed="", answers={**qs.answers, i: answer})
    if key == "esc" or (not qs.typed and key in stepper.NEXT):
        return replace(qs, typed="", answers={**qs.answers, i: Answer(None, None)})
    if qs.typed:  # a stray key must not throw the answer away
        return _say(qs, "Enter judges your answer, Backspace edits it, Esc reveals the result")
    return replace(qs, step=stepper.press(qs.step, key, quiz.walk))


def _say(qs: QuizState, message: str) -> QuizState:
    return replace(qs, step=replace(qs.step, message=message))


# ----------------------------------------------------------------------------- the screen


def _words(text: str, style: str) -> str:
    """The judge's wording in ASCII when asked (its descriptions use ′, ½, −)."""
    if style != "ascii":
        return text
    for a, b in (("′", "'"), ("½", "1/2"), ("−", "-"), ("·", "*"), ("→", "->"), ("∂", "d")):
        text = text.replace(a, b)
    return text


def _diagnosis(result: Result) -> str:
    # When no mistake reproduces the number, the judge appends the right calculation, which
    # the panel shows just above in the chosen notation.
    if result.formula is not None:
        return result.reason + "; compare with the calculation above"
    return result.diagnosis


def _hint(result: Result) -> str:
    """What went wrong, without the right value (the student may try again)."""
    if result.mistake:
        return result.diagnosis
    if result.slip:
        return (f"close, but not right at {result.decimals} decimal"
                f"{'s' * (result.decimals != 1)}: check the last digit's rounding")
    return "no classic mistake gives this number; check the arithmetic of the line above"


def below(qs: QuizState, quiz: Quiz, style: str) -> tuple[RenderableType, ...]:
    """The prompt under a question, or the verdict under an answered step."""
    i = qs.step.index
    if i not in quiz.questions:
        return ()
    answer = qs.answers.get(i)
    if answer is None:
        return (Text.assemble(("your answer: ", "bold"), qs.typed + "_"),)
    if answer.result is None:
        return (Text("not answered (revealed)", style="dim"),)
    r = answer.result
    verdict = Text.assemble(("your answer: ", "bold"), answer.text or "", "  ")
    if not answer.revealed:
        verdict.append("wrong", style="bold red")
        return verdict, Text(_words(_hint(r), style), style="yellow"), Text(
            "r: try again    Enter: reveal the result", style="bold")
    if r.correct:
        verdict.append("right", style="bold green")
        # said, because the judge's tolerance follows what was typed: "0" is 0.3775 at 0
        verdict.append(f" at {r.decimals} decimal{'s' * (r.decimals != 1)}")
        return (verdict, Text(_words(r.note, style), style="dim")) if r.note else (verdict,)
    verdict.append("wrong", style="bold red")
    verdict.append(f"  (expected {r.expected_text})")
    return verdict, Text(_words(_diagnosis(r), style), style="yellow")


def status(qs: QuizState, quiz: Quiz) -> Text:
    right, answered = qs.score()
    keys = (KEYS_TYPING if qs.typed else KEYS_ASKING if asking(qs, quiz)
            else KEYS_WRONG if pending(qs) else KEYS_REVEALED)
    text = Text(style="reverse")
    text.append(f" step {qs.step.index + 1}/{len(quiz.walk)} ", style="bold")
    text.append(f" right {right}/{answered} ", style="bold")
    text.append(f" {keys} ")
    return text


def screen(qs: QuizState, quiz: Quiz, console: Console, style: str = "unicode",
           decimals: int = 9) -> list[str]:
    """The stepper's screen with the question or verdict in the panel, the score in the
    status line, and '?' in the history for questions not yet revealed."""
    if qs.step.mode == "help":
        panel = stepper.help_table(style, QUIZ_HELP)
    elif qs.step.mode == "drawing":  # the stepper's picture (without unrevealed results)
        panel = None
    else:
        panel = stepper.current(quiz.walk, qs.step.index, style, decimals,
                                ask=asking(qs, quiz) or pending(qs),
                                below=below(qs, quiz, style),
                                numbers=not unseen_operands(qs, quiz))
    hidden = quiz.questions - {i for i, a in qs.answers.items() if a.revealed}
    return stepper.screen(quiz.walk, qs.step, console, style, decimals, panel=panel,
                          status_line=status(qs, quiz), hidden=hidden)


# ----------------------------------------------------------------------------- the end


def summary(qs: QuizState, quiz: Quiz, style: str = "unicode") -> str:
    """One line for the normal screen: the score and the first wrong answer.

    quiz: 18 of 22 right (38 questions); first wrong: grad:w6 (the sign is flipped)
    """
    right, answered = qs.score()
    line = (f"quiz: {right} of {answered} right" if answered else "quiz: no answers given")
    line += f" ({len(quiz.questions)} question{'s' * (len(quiz.questions) != 1)})"
    wrong = [(i, r) for i, r in qs.judged() if not r.correct]
    if wrong:
        i, r = wrong[0]
        where = r.id
        if quiz.walk.trace.total_iterations > 1:
            where += f" in update {quiz.walk.entries[i].iteration}"
        line += f"; first wrong: {where} ({_words(_diagnosis(r), style)})"
    return line


def run(trace: Trace, scenario: Scenario, round_to: int | None = None, style: str = "unicode",
        decimals: int = 9, phase: str | None = None, no_color: bool = False,
        notation: Profile | None = None, keep_zeros: bool = False) -> int:
    """Quiz on this terminal; print the summary once the screen is restored. The exit code:
    0 (practice, not a check, whatever the score), 130 for Ctrl-C."""
    walk = Walk.of(trace, phase, notation, keep_zeros)
    if not walk.entries:
        return 0
    quiz = Quiz(walk, scenario, round_to)
    code, last = stepper.interact(QuizState(), lambda qs, key: press(qs, key, quiz),
                                  lambda qs, console: screen(qs, quiz, console, style, decimals),
                                  no_color)
    print(summary(last, quiz, style), flush=True)
    return code
