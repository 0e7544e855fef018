"""`bpwalk run --step --quiz`: the quiz's key logic as a pure function, its screens at fixed
sizes, and the real program driven in a pseudo-terminal (pexpect).

Typed numbers are Mazur's published values (A Step by Step Backpropagation Example, 2015:
net_h1 = 0.3775, dE/dw5 = 0.082167041) or come from the engine, wrong ones from the engine
run with that mistake injected (as the judge itself does).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console

from bpwalk.engine import Mistake
from bpwalk.engine import run as engine_run
from bpwalk.judge import Judge, at_decimals
from bpwalk.quiz import QUIZ_HELP, Answer, Quiz, QuizState, asking, press, screen, summary
from bpwalk.scenario import load, resolve
from bpwalk.stepper import State, Walk
from tests.test_stepper import CTRL_C, ENTER, ESC_KEY, Session, _env, _stty_restored

from .conftest import network_names

pexpect = pytest.importorskip("pexpect")

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
DRIFT = Path(__file__).parent / "fixtures" / "answers" / "drift_scenario.yaml"


def mazur():
    path, shown = resolve("mazur")
    return load(path, display_name=shown)


def make_quiz(sc=None, iterations: int = 1, show: set[int] | None = None,
              round_to: int | None = None) -> Quiz:
    sc = sc or mazur()
    trace = engine_run(sc, iterations=iterations, show=show or {1}, round_to=round_to)
    return Quiz(Walk.of(trace), sc, round_to)


@pytest.fixture(scope="module")
def quiz() -> Quiz:
    return make_quiz()


def index_of(quiz: Quiz, step_id: str, iteration: int = 1) -> int:
    return next(i for i, e in enumerate(quiz.walk.entries)
                if e.step.id == step_id and e.iteration == iteration)


def keys(qs: QuizState, quiz: Quiz, *pressed: str) -> QuizState:
    for k in pressed:
        qs = press(qs, k, quiz)
    return qs


def typed(qs: QuizState, quiz: Quiz, text: str) -> QuizState:
    """Type `text` and press Enter."""
    return keys(qs, quiz, *text, "enter")


def at(quiz: Quiz, step_id: str) -> QuizState:
    return QuizState(step=State(index=index_of(quiz, step_id)))


def mistaken(step_id: str, kind: str, decimals: int = 4) -> str:
    """The engine's value of `step_id` with mistake `kind` made in it, as a student writes it."""
    trace = engine_run(mazur(), iterations=1, show={1}, mistakes=(Mistake(kind, step_id),))
    return at_decimals(next(s.value for s in trace.iterations[0].steps if s.id == step_id),
                       decimals)


# ----------------------------------------------------------------------------- questions


def test_every_mazur_step_is_a_question(quiz):
    assert quiz.questions == frozenset(range(len(quiz.walk)))


def test_a_step_whose_formula_is_its_value_is_not_asked():
    # cs231n's single-output loss reads E = E_f = 0.731058579: nothing to compute
    q = make_quiz(load(SCENARIOS / "cs231n_neuron.yaml"))
    assert index_of(q, "loss") not in q.questions
    assert index_of(q, "net:f") in q.questions


# ----------------------------------------------------------------------------- keys -> state


def test_typing_and_backspace(quiz):
    qs = keys(QuizState(), quiz, "0", ",", "3", "9", "backspace", "7", "7", "5")
    assert qs.typed == "0.3775" and asking(qs, quiz)  # a comma is a decimal point
    assert keys(qs, quiz, *["backspace"] * 9).typed == ""


def test_a_right_answer_is_judged_right(quiz):
    qs = typed(QuizState(), quiz, "0.3775")  # Mazur: net_h1 = 0.3775
    answer = qs.answers[0]
    assert answer.text == "0.3775" and answer.result.correct
    assert qs.score() == (1, 1) and qs.typed == "" and not asking(qs, quiz)
    assert qs.step.index == 0  # the result is revealed on the same step
    assert press(qs, "n", quiz).step.index == 1


def test_judged_at_the_decimals_typed(quiz):
    for text in ("0.38", "0.377", "0.3775", "0.37750"):  # Mazur: net_h1 = 0.3775
        assert typed(QuizState(), quiz, text).answers[0].result.correct, text
    assert not typed(QuizState(), quiz, "0.3795").answers[0].result.correct


def test_a_sign_flipped_gradient_is_wrong_and_named(quiz):
    qs = typed(at(quiz, "grad:w6"), quiz, mistaken("grad:w6", "sign"))
    r = qs.answers[qs.step.index].result
    assert not r.correct and r.mistake == "sign" and "sign is flipped" in r.diagnosis
    assert qs.score() == (0, 1)


def test_same_verdict_as_check(quiz):
    """The quiz's verdicts are the Judge's, answer for answer (doubled grad:w7 here)."""
    text = mistaken("grad:w7", "double")
    qs = typed(at(quiz, "grad:w7"), quiz, text)
    mine = qs.answers[qs.step.index].result
    theirs = Judge(mazur()).judge_one("grad:w7", text)
    assert (mine.correct, mine.mistake, mine.diagnosis) == (theirs.correct, "double",
                                                           theirs.diagnosis)


def test_earlier_answers_explain_a_carried_mistake(quiz):
    """As in check: a sign flipped at dout:o1 and carried into dnet:o1 is named as such."""
    trace = engine_run(mazur(), iterations=1, show={1}, mistakes=(Mistake("sign", "dout:o1"),))
    wrong = {s.id: at_decimals(s.value, 4) for s in trace.iterations[0].steps}
    qs = typed(at(quiz, "dout:o1"), quiz, wrong["dout:o1"])
    # reveal the wrong answer, on to dact:o1, reveal it, on to dnet:o1
    qs = keys(qs, quiz, "n", "n", "enter", "n")
    assert quiz.walk.entries[qs.step.index].step.id == "dnet:o1"
    qs = typed(qs, quiz, wrong["dnet:o1"])
    r = qs.answers[qs.step.index].result
    assert not r.correct and "carried forward from dout:o1" in r.diagnosis


def test_rounding_drift_is_right_with_the_note():
    sc = load(DRIFT)
    q = make_quiz(sc)
    exact = {e.step.id: e.step.value for e in q.walk.entries}
    rounded = {s.id: s.value for s in engine_run(sc, round_to=2).iterations[0].steps}
    k = "grad:w2"  # the fixture is built so that 2-decimal rounding drifts here
    text = f"{rounded[k]:.2f}"
    assert text != at_decimals(exact[k], 2)
    qs = typed(at(q, k), q, text)
    r = qs.answers[qs.step.index].result
    assert r.correct and "rounding drift" in r.note
    view = "\n".join(screen(qs, q, plain_console(100, 30)))
    assert "right" in view and "rounding drift" in view


def test_decimals_given_keep_trailing_zeros_in_the_quiz():
    # Mazur: net_h1 = 0.3775 exactly; the quiz's history writes it as `--decimals 6` asks
    sc = mazur()
    trace = engine_run(sc, iterations=1, show={1})
    q = Quiz(Walk.of(trace, keep_zeros=True), sc)
    qs = typed(at(q, "net:h1"), q, "0.3775")
    text = "\n".join(screen(qs, q, plain_console(100, 30), "unicode", 6))
    assert "0.377500" in text


def test_a_right_verdict_says_at_how_many_decimals(quiz):
    for text, shown in (("0.3775", "right at 4 decimals"), ("0.4", "right at 1 decimal")):
        qs = typed(QuizState(), quiz, text)  # Mazur: net_h1 = 0.3775
        view = "\n".join(screen(qs, quiz, plain_console(80, 24)))
        assert f"your answer: {text}  {shown}" in view


def test_not_a_number_is_refused_and_kept(quiz):
    for text in ("1.2.3", "-", "e5", "1e", "9e999999999"):
        qs = typed(QuizState(), quiz, text)
        assert asking(qs, quiz) and qs.typed == text and not qs.answers
        assert "not a number" in qs.step.message


def test_other_keys_are_refused_while_an_answer_is_typed(quiz):
    qs = keys(QuizState(), quiz, "0", ".", "3")
    for key in ("q", "b", "]", "g", "?", "n", " ", "right", "x"):
        after = press(qs, key, quiz)
        assert after.typed == "0.3" and after.step.index == 0 and not after.done
        assert after.step.mode == "step" and "Enter judges" in after.step.message


@pytest.mark.parametrize("key", ["enter", "esc", "n", " ", "right"])
def test_reveal_without_judging(quiz, key):
    qs = press(QuizState(step=State(index=3)), key, quiz)
    assert qs.answers[3].text is None and qs.answers[3].result is None
    assert qs.score() == (0, 0) and qs.step.index == 3 and not qs.done


def test_esc_reveals_and_a_second_esc_quits(quiz):
    once = press(QuizState(), "esc", quiz)
    assert not once.done
    assert press(once, "esc", quiz).done


def test_q_on_an_empty_prompt_quits(quiz):
    assert press(QuizState(), "q", quiz).done


def test_esc_with_an_answer_typed_reveals_without_judging(quiz):
    qs = keys(QuizState(), quiz, "0", ".", "3", "esc")
    assert qs.answers[0].result is None and qs.typed == ""


def test_moving_keys_work_at_an_empty_prompt(quiz):
    start = at(quiz, "net:o1")
    assert press(start, "b", quiz).step.index == start.step.index - 1
    assert press(start, "]", quiz).step.index == index_of(quiz, "loss:o1")
    assert press(start, "?", quiz).step.mode == "help"
    qs = keys(start, quiz, "g", "w", "6", "enter")  # after g, letters and digits are a name
    assert qs.step.index == index_of(quiz, "grad:w6") and not qs.answers
    assert asking(qs, quiz)


def test_back_shows_the_earlier_answer_and_verdict(quiz):
    qs = typed(at(quiz, "grad:w6"), quiz, mistaken("grad:w6", "sign"))
    i = qs.step.index
    qs = keys(qs, quiz, "enter", "n", "b")  # reveal, next, back
    assert qs.step.index == i and not asking(qs, quiz)
    assert keys(qs, quiz, "1", "enter").answers[i] == qs.answers[i]  # answered once
    view = "\n".join(screen(qs, quiz, plain_console(100, 30)))
    assert f"your answer: {mistaken('grad:w6', 'sign')}" in view
    assert "wrong" in view and "the sign is flipped" in view
    assert "0.082667628" in view  # the result is revealed (engine: dE/dw6)


def test_score_counts_answers_not_reveals(quiz):
    qs = typed(QuizState(), quiz, "0.3775")  # Mazur: net_h1 = 0.3775
    qs = keys(qs, quiz, "n", "enter", "n")  # out:h1 revealed without an answer
    qs = typed(qs, quiz, "0.1")  # net:h2 is 0.3925 (Mazur)
    assert qs.score() == (1, 2)
    assert len(qs.answers) == 3


KEYS = st.sampled_from(["n", " ", "enter", "right", "b", "left", "]", "[", "g", "?", "q",
                        "esc", "backspace", "resize", "w", "5", "0", ".", "-", "e", "x", "r"])


@settings(max_examples=150, deadline=None)
@given(st.lists(KEYS, max_size=60))
def test_any_key_sequence_keeps_the_quiz_consistent(pressed):
    q = make_quiz()
    qs = QuizState()
    for key in pressed:
        qs = press(qs, key, q)
        assert 0 <= qs.step.index < len(q.walk)
        assert not qs.typed or asking(qs, q)  # an answer is only typed at a question
        right, answered = qs.score()
        assert 0 <= right <= answered <= len(qs.answers) + len(qs.retried)  # retries count
        if qs.done:
            break


def test_later_updates_are_judged_on_their_own_numbers():
    sc = mazur()
    q = make_quiz(sc, iterations=2, show={1, 2})
    i = index_of(q, "grad:w5", iteration=2)
    value = q.walk.entries[i].step.value  # engine: update 2's dE/dw5
    assert at_decimals(value, 4) != at_decimals(0.082167041, 4)  # Mazur: update 1's
    qs = typed(QuizState(step=State(index=i)), q, at_decimals(value, 4))
    assert qs.answers[i].result.correct
    assert Judge(sc, iteration=2).by_id["grad:w5"].value == value


# ----------------------------------------------------------------------------- the screen


def plain_console(width: int, height: int) -> Console:
    return Console(width=width, height=height, force_terminal=False, color_system=None)


def test_a_question_shows_symbols_and_numbers_but_not_the_result(quiz):
    i = index_of(quiz, "grad:w5")
    # the steps before it revealed (unrevealed operands are not substituted: issue 26)
    seen = {k: Answer(None, None) for k in quiz.questions if k < i}
    rows = screen(QuizState(step=State(index=i), answers=seen), quiz, plain_console(100, 30))
    text = "\n".join(rows)
    assert "∂E/∂w₅ = ∂E/∂out_o1·∂out_o1/∂net_o1·∂net_o1/∂w₅" in text
    assert "0.74136507·0.186815602·0.593269992" in text  # Mazur's three factors
    assert "= ?" in text and "your answer: _" in text
    assert "0.082167041" not in text  # Mazur: dE/dw5 = 0.082167041, not before it is answered
    assert "∂E/∂w₆" not in text
    assert "step" in rows[-1] and "right 0/0" in rows[-1] and "q quit" in rows[-1]


def test_the_history_hides_questions_not_revealed(quiz):
    qs = typed(QuizState(), quiz, "0.3775")  # Mazur: net_h1 = 0.3775
    qs = keys(qs, quiz, "g", "w", "5", "enter")
    text = "\n".join(screen(qs, quiz, plain_console(100, 40)))
    assert "net_h1 = 0.3775" in text and "out_h1 = ?" in text
    assert "0.593269992 " not in text.split("╭")[0]  # Mazur: out_h1, skipped, stays hidden


def test_the_prompt_shows_what_is_typed_and_the_keys(quiz):
    qs = keys(QuizState(), quiz, "0", ".", "3")
    rows = screen(qs, quiz, plain_console(80, 24))
    assert any("your answer: 0.3_" in r for r in rows)
    assert "Enter answer" in rows[-1] and "Esc reveal" in rows[-1]


def test_help_lists_the_quiz_keys_and_the_stepper_keys(quiz):
    text = "\n".join(screen(press(QuizState(), "?", quiz), quiz, plain_console(100, 30)))
    for keys_, action in QUIZ_HELP:
        assert keys_ in text and action in text
    assert "previous pass" in text


@pytest.mark.parametrize("path", [SCENARIOS / f"{n}.yaml" for n in network_names()],
                         ids=lambda p: p.stem)  # circuits: the quiz comes with their stepper
def test_every_question_fits_80_columns_with_its_prompt(path):
    q = make_quiz(load(path))
    console = plain_console(80, 24)
    for style in ("unicode", "ascii"):
        for i in sorted(q.questions):
            rows = screen(QuizState(step=State(index=i)), q, console, style)
            assert len(rows) == 24 and all(cell_len(r) <= 80 for r in rows)
            assert any("your answer:" in r for r in rows), (path.stem, i)
            if style == "ascii":
                assert all(r.isascii() for r in rows[1:]), (i, rows)


def test_ascii_verdicts_are_ascii(quiz):
    # the judge writes f′(out) and ½; --ascii must not show them
    for step_id, kind in (("dact:o1", "dact_at_out"), ("dout:o1", "double")):
        qs = typed(at(quiz, step_id), quiz, mistaken(step_id, kind))
        text = "\n".join(screen(qs, quiz, plain_console(80, 24), "ascii"))
        assert text.isascii() and "wrong" in text
        assert summary(qs, quiz, "ascii").isascii()


# ----------------------------------------------------------------------------- the summary


def test_summary_counts_and_names_the_first_wrong_in_computation_order(quiz):
    qs = typed(at(quiz, "grad:w7"), quiz, mistaken("grad:w7", "double"))
    qs = keys(qs, quiz, "g", "w", "6", "enter")
    qs = typed(qs, quiz, mistaken("grad:w6", "sign"))
    qs = keys(qs, quiz, "g", "w", "5", "enter")
    qs = typed(qs, quiz, "0.0822")  # Mazur: dE/dw5 = 0.082167041
    n = len(quiz.questions)
    assert summary(qs, quiz) == (f"quiz: 1 of 3 right ({n} questions); "
                                 "first wrong: grad:w6 (the sign is flipped)")


def test_summary_without_answers(quiz):
    assert summary(QuizState(), quiz) == f"quiz: no answers given ({len(quiz.questions)} questions)"


# ----------------------------------------------------------------------------- the program


def quiz_session(*args: str, shell_tail: str = "stty -a") -> Session:
    return Session("--quiz", *args, shell_tail=shell_tail)


def test_program_right_then_sign_flipped_then_summary(quiz):
    s = quiz_session()
    try:
        text = s.screen()
        assert "your answer: _" in text and "= ?" in text
        text = s.press(*"0.3775")  # Mazur: net_h1 = 0.3775
        assert "your answer: 0.3775_" in text
        text = s.press(ENTER)
        assert "0.3775  right at 4 decimals" in text and "right 1/1" in text
        s.press("g", "w", "6", ENTER)
        assert s.position()[0] == index_of(quiz, "grad:w6") + 1
        flipped = mistaken("grad:w6", "sign")
        s.press(*flipped)
        text = s.press(ENTER)
        assert f"your answer: {flipped}  wrong" in text
        assert "the sign is flipped" in text and "right 1/2" in text
        s.child.send("q")
        rest = s.finish()
        after = s.raw.rsplit("\x1b[?1049l", 1)[1]  # what the normal screen shows
        n = len(quiz.questions)
        assert (f"quiz: 1 of 2 right ({n} questions); first wrong: grad:w6 "
                "(the sign is flipped)") in after
        assert "exit=0" in rest and _stty_restored(rest.split("exit=0", 1)[1])
    finally:
        if s.child.isalive():
            s.child.terminate(force=True)


def test_program_next_pass_key_reaches_a_gradient(quiz):
    s = quiz_session(shell_tail="")
    try:
        s.press("]", "]")  # the backward pass
        backward = next(i for i, e in enumerate(quiz.walk.entries) if e.step.phase == "backward")
        assert s.position()[0] == backward + 1 and "your answer: _" in s.screen()
        s.press("g", "w", "5", ENTER)
        text = s.press(*"0.0822", ENTER)  # Mazur: dE/dw5 = 0.082167041
        assert "0.0822  right at 4 decimals" in text and "0.082167041" in text
        s.child.send("q")
        s.finish()
        assert s.child.exitstatus == 0
    finally:
        if s.child.isalive():
            s.child.terminate(force=True)


def test_program_esc_twice_quits_with_exit_0_and_a_summary(quiz):
    s = quiz_session()
    text = s.press(ESC_KEY)
    assert "not answered (revealed)" in text and "0.3775" in text  # Mazur: net_h1
    s.child.send(ESC_KEY)
    rest = s.finish()
    assert "quiz: no answers given" in s.raw.rsplit("\x1b[?1049l", 1)[1]
    assert "exit=0" in rest and _stty_restored(rest.split("exit=0", 1)[1])


def test_program_ctrl_c_still_sums_up_and_exits_130():
    s = quiz_session()
    s.press(*"0.3775", ENTER)  # Mazur: net_h1 = 0.3775
    s.child.send(CTRL_C)
    rest = s.finish()
    assert "quiz: 1 of 1 right" in s.raw.rsplit("\x1b[?1049l", 1)[1]
    assert "exit=130" in rest and "Traceback" not in s.raw
    assert _stty_restored(rest.split("exit=130", 1)[1])


def test_quiz_without_step_is_a_usage_error():
    done = subprocess.run([sys.executable, "-m", "bpwalk", "run", "mazur", "--quiz"],
                          capture_output=True, text=True, env=_env(), timeout=30, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "--quiz works while stepping" in done.stderr and "--step --quiz" in done.stderr


# ----------------------------------------------------------------------------- retry


def test_a_wrong_answer_can_be_retried_before_the_result_is_revealed(quiz):
    i = index_of(quiz, "grad:w6")
    flipped = mistaken("grad:w6", "sign")
    qs = typed(at(quiz, "grad:w6"), quiz, flipped)
    assert not qs.answers[i].revealed
    view = "\n".join(screen(qs, quiz, plain_console(100, 30)))
    assert "the sign is flipped" in view and "r: try again" in view
    assert "0.082667628" not in view and "= ?" in view  # engine: dE/dw6, still hidden
    assert "r retry" in view.splitlines()[-1]
    qs = press(qs, "r", quiz)
    assert asking(qs, quiz) and i not in qs.answers
    qs = typed(qs, quiz, at_decimals(quiz.walk.entries[i].step.value, 4))
    answer = qs.answers[i]
    assert answer.result.correct and answer.revealed and answer.tries == 2
    # the wrong answer stays in the score; the retry that succeeds counts on its own (issue 26)
    assert qs.score() == (1, 2)


def test_enter_reveals_a_wrong_answer_and_then_it_is_final(quiz):
    i = index_of(quiz, "grad:w6")
    qs = keys(typed(at(quiz, "grad:w6"), quiz, mistaken("grad:w6", "sign")), quiz, "enter")
    assert qs.answers[i].revealed and qs.step.index == i
    view = "\n".join(screen(qs, quiz, plain_console(100, 30)))
    assert "0.082667628" in view  # engine: dE/dw6, revealed now
    assert press(qs, "r", quiz).answers[i] == qs.answers[i]  # no retry after the reveal


def test_minus_zero_is_not_0_3775(quiz):
    """An integer answer is judged at 0 decimals; '-0' says negative (Mazur: net_h1 = 0.3775)."""
    assert not typed(QuizState(), quiz, "-0").answers[0].result.correct
    assert not typed(QuizState(), quiz, "-1").answers[0].result.correct


@pytest.mark.parametrize("state", ["asking", "typing", "wrong", "revealed"])
def test_the_status_line_fits_80_columns_at_the_widest_score(state):
    q = make_quiz(mazur(), iterations=30, show=set(range(1, 30)))
    assert len(q.walk) >= 999  # "step 999/1131" is as wide as it gets here
    i = index_of(q, "grad:w6", iteration=29)
    qs = QuizState(step=State(index=i))
    if state == "typing":
        qs = keys(qs, q, "0", ".")
    elif state in ("wrong", "revealed"):
        qs = typed(qs, q, "0.5")
        qs = press(qs, "enter", q) if state == "revealed" else qs
    line = "\n".join(screen(qs, q, plain_console(80, 24))).splitlines()[-1]
    assert cell_len(line) <= 80
    assert line.rstrip().endswith(("q quit", "Esc reveal")), line


def test_a_slip_in_the_last_digit_is_said_without_the_value(quiz):
    """dE/dout_h2 = 0.0414 (engine); 0.05 is within one unit of 0.04 at two decimals: no
    mistake can be told from a slip, and the value stays hidden until revealed."""
    i = index_of(quiz, "dout:h2")
    qs = typed(at(quiz, "dout:h2"), quiz, "0.05")
    r = qs.answers[i].result
    assert not r.correct and r.slip and r.mistake is None
    view = "\n".join(screen(qs, quiz, plain_console(100, 30)))
    assert "close, but not right at 2 decimals" in view and "0.04" not in view
    view = "\n".join(screen(press(qs, "enter", quiz), quiz, plain_console(200, 30)))
    assert "cannot tell a mistake from a rounding slip" in view and "expected 0.04" in view


# ----------------------------------------------------------------------------- issue 26


def test_a_retried_wrong_answer_stays_in_the_score_and_the_summary(quiz):
    flipped = mistaken("grad:w6", "sign")
    qs = typed(at(quiz, "grad:w6"), quiz, flipped)
    assert qs.score() == (0, 1)
    qs = press(qs, "r", quiz)
    assert qs.score() == (0, 1)  # 0/1 stays while the student tries again
    qs = typed(qs, quiz, at_decimals(quiz.walk.entries[index_of(quiz, "grad:w6")].step.value, 4))
    assert qs.score() == (1, 2)
    assert "first wrong: grad:w6 (the sign is flipped)" in summary(qs, quiz)


def test_a_question_reached_past_unseen_steps_does_not_show_their_values(quiz):
    qs = at(quiz, "out:h1")  # reached with g: net:h1 (Mazur: 0.3775) not revealed yet
    view = "\n".join(screen(qs, quiz, plain_console(100, 30)))
    assert "0.3775" not in view and "= ?" in view
    qs = typed(QuizState(), quiz, "0.3775")  # answered right: now it is seen
    qs = press(qs, "n", quiz)
    view = "\n".join(screen(qs, quiz, plain_console(100, 30)))
    assert current_panel_has(view, "0.3775")


def current_panel_has(view: str, text: str) -> bool:
    return any(text in line and "=" in line for line in view.splitlines())


def test_net_answered_for_out_is_named_forgot_the_activation(quiz):
    qs = typed(QuizState(), quiz, "0.3775")  # Mazur: net_h1
    qs = press(qs, "n", quiz)
    qs = typed(qs, quiz, "0.3775")  # net again, where out_h1 = 0.5933 belongs
    view = "\n".join(screen(qs, quiz, plain_console(100, 30)))
    assert "forgot the activation" in view


def test_keys_typed_before_the_first_screen_are_kept():
    from tests.test_stepper import _STATUS, COLS, ROWS, _env

    child = pexpect.spawn(sys.executable, ["-m", "bpwalk", "run", "mazur", "--step", "--quiz"],
                          dimensions=(ROWS, COLS), env=_env(), encoding="utf-8", timeout=15)
    try:
        child.send("0.3775")  # at once, while Python is still starting
        child.expect(_STATUS)
        child.send("\r")
        child.expect("right 1/1")
        child.send("q")
        child.expect(pexpect.EOF)
    finally:
        if child.isalive():
            child.terminate(force=True)
