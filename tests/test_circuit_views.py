"""A graph scenario in the interactive views and handouts: the stepper (its pure `press` and
its screens at fixed sizes), `d` drawing the circuit with the step's operands lit, the quiz,
`run` with the circuit drawn, the worksheet with its key and answers template, PDF, and
`bpwalk new --graph`.

Typed numbers are CS231n's published values for f = (x + y)·z with x = −2, y = 5, z = −4
(Backpropagation, Intuitions): q = 3, f = −12, ∂f/∂x = ∂f/∂y = −4, ∂f/∂z = 3; and for its
sigmoid neuron (w = [2, −3, −3], x = [−1, −2]): ∂f/∂x0 = 0.39 (the notes print 2 decimals).
Wrong answers come from the engine run with the mistake injected.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

from bpwalk.cli import app
from bpwalk.engine import Mistake
from bpwalk.engine import run as engine_run
from bpwalk.judge import at_decimals
from bpwalk.quiz import Quiz, QuizState, asking
from bpwalk.quiz import press as quiz_press
from bpwalk.scenario import load, loads, resolve
from bpwalk.stepper import State, Walk, press, screen
from bpwalk.template import CIRCUITS, graph_practice_text
from bpwalk.views import circuit_drawing
from tests.conftest import run_cli

runner = CliRunner()


def scenario(name: str):
    path, shown = resolve(name)
    return load(path, display_name=shown)


@pytest.fixture(scope="module")
def walk() -> Walk:
    return Walk.of(engine_run(scenario("cs231n_circuit")))


def index_of(walk: Walk, step_id: str) -> int:
    return next(i for i, e in enumerate(walk.entries) if e.step.id == step_id)


def rows(walk: Walk, state: State, width: int = 80, height: int = 40, **kw) -> list[str]:
    console = Console(width=width, height=height, color_system=None)
    return screen(walk, state, console, **kw)


# ----------------------------------------------------------------------------- stepper


def test_every_step_of_a_circuit_has_a_screen_that_fits(walk):
    for i in range(len(walk)):
        for width in (80, 120):
            text = rows(walk, State(index=i), width)
            assert max(cell_len(t) for t in text) <= width
            assert "Traceback" not in "\n".join(text)


def test_the_screen_says_where_a_circuit_step_is(walk):
    text = "\n".join(rows(walk, State(index=index_of(walk, "local:f/q"))))
    assert "node f, from q" in text and "local gradient" in text
    text = "\n".join(rows(walk, State(index=index_of(walk, "grad:x"))))
    assert "input x" in text and "= −4" in text  # CS231n: ∂f/∂x = −4


def test_d_draws_the_circuit_with_the_steps_operands_lit(walk):
    at = index_of(walk, "grad:x")
    state = press(State(index=at), "d", walk)
    assert state.mode == "drawing"
    text = rows(walk, state)
    body = "\n".join(text)
    assert "The circuit at grad:x" in body
    assert "x ═" in body and "╣+╠ q ═" in body  # grad:x reads ∂f/∂q and ∂q/∂x: x and q lit
    assert "y ─" in body and "┤·├ f ─" in body  # the rest single
    wire = next(i for i, t in enumerate(text) if t.startswith("x "))
    assert "−2" in text[wire - 1] and "−4" in text[wire + 1]  # value above, gradient below
    z = next(i for i, t in enumerate(text) if t.startswith("z "))
    assert text[z + 1].strip() in ("", "│")  # ∂f/∂z comes after grad:x: not drawn yet
    assert press(state, "x", walk) == State(index=at)  # any key returns to the step


def test_d_in_ascii(walk):
    state = press(State(index=index_of(walk, "val:f")), "d", walk)
    text = rows(walk, state, style="ascii")
    body = "\n".join(text[1:-1])  # the drawing: between the scenario's title and the keys
    assert body.isascii() and "#*# f =" in body and "-12" in body


# ----------------------------------------------------------------------------- quiz


@pytest.fixture(scope="module")
def quiz() -> Quiz:
    sc = scenario("cs231n_circuit")
    return Quiz(Walk.of(engine_run(sc)), sc)


def typed(qs: QuizState, quiz: Quiz, text: str) -> QuizState:
    for k in (*text, "enter"):
        qs = quiz_press(qs, k, quiz)
    return qs


def test_the_quiz_asks_a_circuits_computed_steps(quiz):
    ids = [quiz.walk.entries[i].step.id for i in sorted(quiz.questions)]
    assert "val:q" in ids and "grad:x" in ids and "val:x" not in ids  # given: not asked


def test_the_quiz_judges_a_circuit_answer(quiz):
    qs = QuizState(step=State(index=index_of(quiz.walk, "val:q")))
    assert asking(qs, quiz)
    assert typed(qs, quiz, "3").answers[qs.step.index].result.correct  # CS231n: q = 3
    qs = QuizState(step=State(index=index_of(quiz.walk, "grad:x")))
    assert typed(qs, quiz, "-4").answers[qs.step.index].result.correct  # CS231n: ∂f/∂x = −4


def test_the_quiz_names_a_circuit_mistake(quiz):
    sc = scenario("cs231n_circuit")
    wrong = engine_run(sc, mistakes=(Mistake("upstream_left_out", "grad:x"),))
    text = at_decimals(wrong.iterations[0].step("grad:x").value, 4)
    qs = typed(QuizState(step=State(index=index_of(quiz.walk, "grad:x"))), quiz, text)
    result = qs.answers[qs.step.index].result
    assert not result.correct and result.mistake is not None
    console = Console(width=80, height=40, color_system=None)
    from bpwalk.quiz import screen as quiz_screen

    assert all(cell_len(t) <= 80 for t in quiz_screen(qs, quiz, console))


# ----------------------------------------------------------------------------- run


def test_run_draws_the_circuit_as_cs231n_draws_it():
    r = run_cli("run", "cs231n_circuit", env={"NO_COLOR": "1", "COLUMNS": "80"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert max(cell_len(t) for t in lines) <= 80
    after = lines[lines.index("The circuit after update 1"):]
    wire = next(i for i, t in enumerate(after) if t.startswith("x "))
    assert "−2" in after[wire - 1] and "−4" in after[wire + 1]  # CS231n: x = −2, ∂f/∂x = −4
    q = next(i for i, t in enumerate(after) if "┤+├ q" in t)
    assert "3" in after[q - 1] and "−4" in after[q + 1]  # CS231n: q = 3, ∂f/∂q = −4


def test_run_of_the_sigmoid_circuit_fits_80_columns():
    r = run_cli("run", "cs231n_sigmoid", env={"NO_COLOR": "1", "COLUMNS": "80"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert max(cell_len(t) for t in lines) <= 80
    drawn = "\n".join(lines[lines.index(next(t for t in lines
                                             if t.startswith("The circuit after"))):])
    assert "0.39" in drawn  # CS231n: ∂f/∂x0 = 0.39, as the drawing rounds it


# ----------------------------------------------------------------------------- worksheet


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_worksheet_with_key_and_answers_template(tmp_path, fmt):
    sheet, key, template = (tmp_path / f"sheet.{fmt}", tmp_path / f"key.{fmt}",
                            tmp_path / "answers.yaml")
    r = run_cli("worksheet", "cs231n_circuit", "-f", fmt, "-o", str(sheet), "--key", str(key),
                "--answers-template", str(template))
    assert r.returncode == 0, r.stderr
    ids = [line.split(":")[0] + ":" + line.split(":")[1] for line in
           template.read_text().splitlines() if line and not line.startswith("#")]
    steps = engine_run(scenario("cs231n_circuit")).iterations[0].steps
    assert ids == [s.id for s in steps]
    assert yaml.safe_load(template.read_text()).keys() == {s.id for s in steps}
    if fmt == "html":
        assert 'id="net" class="circuit"' in sheet.read_text()
        assert "−12" in key.read_text() and "−12" not in sheet.read_text()  # CS231n: f = −12
    filled = tmp_path / "filled.yaml"
    filled.write_text("".join(f"{s.id}: {s.value!r}\n" for s in steps))
    assert run_cli("check", "cs231n_circuit", str(filled)).returncode == 0


def test_pdf_of_a_circuit(tmp_path):
    pypdf = pytest.importorskip("pypdf")
    out = tmp_path / "c.pdf"
    r = run_cli("export", "cs231n_circuit", "-f", "pdf", "-o", str(out))
    assert r.returncode == 0, r.stderr
    text = "".join(p.extract_text() for p in pypdf.PdfReader(out).pages)
    assert "−12" in text or "-12" in text  # CS231n: f = −12


# ----------------------------------------------------------------------------- new --graph


def test_new_graph_writes_a_circuit_that_validates_and_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["new", "practice.yaml", "--graph", "--seed", "7"])
    assert r.exit_code == 0, r.output
    text = Path("practice.yaml").read_text()
    assert text == graph_practice_text(7, "practice.yaml")
    assert runner.invoke(app, ["validate", "practice.yaml"]).exit_code == 0
    assert runner.invoke(app, ["run", "practice.yaml"]).exit_code == 0
    again = runner.invoke(app, ["new", "practice.yaml", "--graph", "--seed", "8"])
    assert again.exit_code == 2 and Path("practice.yaml").read_text() == text
    assert not [p for p in os.listdir(".") if p.endswith(".tmp")]


@pytest.mark.parametrize("seed", range(12))
def test_new_graph_numbers_are_hand_friendly_with_a_fan_out(seed):
    sc = loads(graph_practice_text(seed))
    g = sc.graph
    assert all(leaf.value == int(leaf.value) and 1 <= abs(leaf.value) <= 4 for leaf in g.leaves)
    assert 3 <= len(g.nodes) <= 6
    uses = [a for n in g.nodes for a in n.args if isinstance(a, str)]
    assert any(uses.count(name) > 1 for name in g.names)  # a fan-out: some wire read twice
    trace = engine_run(sc)
    assert circuit_drawing.drawable(circuit_drawing.of_graph(g)) is None
    assert all(s.value == int(s.value) for s in trace.iterations[0].steps
               if s.phase in ("forward", "backward") and s.fn != "max")


def test_new_graph_draws_every_shape():
    shapes = {tuple(n for n, _ in CIRCUITS[k][2]) for k in range(len(CIRCUITS))}
    drawn = {tuple(loads(graph_practice_text(s)).graph.written) for s in range(40)}
    assert drawn == shapes


def test_check_redraws_a_practice_circuit_for_a_students_seed():
    from bpwalk.template import redraw

    assert redraw("bpwalk new --graph --seed 3", 11) == graph_practice_text(11)


def test_step_quiz_and_d_in_a_real_terminal():
    """The real program in a pseudo-terminal: the quiz judges CS231n's q = 3 right, and `d`
    draws the circuit."""
    import sys

    pexpect = pytest.importorskip("pexpect")
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(TERM="xterm", NO_COLOR="1")  # the pty's size, not the test run's
    child = pexpect.spawn(sys.executable, ["-m", "bpwalk", "run", "cs231n_circuit", "--step",
                                           "--quiz"], dimensions=(40, 80), env=env,
                          encoding="utf-8", timeout=15)
    child.expect("quit")
    for k in "nnn":  # past the given x, y, z to val:q
        child.send(k)
        child.expect("quit")
    child.send("3\r")
    child.expect("right 1/1")
    child.expect("quit")  # the whole screen drawn
    child.send("d")  # the answered step drawn, q and its operands x, y lit
    child.expect("The circuit at val:q")
    child.expect("quit")
    child.send("x")  # any key closes the drawing
    child.expect("quit")
    child.send("q")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_d_in_the_quiz_draws_without_the_unrevealed_result(quiz):
    from bpwalk.quiz import screen as quiz_screen

    at = index_of(quiz.walk, "val:q")
    qs = typed(QuizState(step=State(index=at)), quiz, "4")  # wrong: CS231n's q is 3
    assert not qs.answers[at].revealed
    qs = quiz_press(qs, "d", quiz)
    console = Console(width=80, height=40, color_system=None)
    text = quiz_screen(qs, quiz, console)
    row = next(i for i, t in enumerate(text) if "╣+╠ q" in t)
    assert "The circuit at val:q" in "\n".join(text)
    assert text[row - 1].split() == ["−2"]  # x's value; q's result 3 not shown yet
    qs = quiz_press(quiz_press(qs, "x", quiz), "enter", quiz)  # back, then reveal
    text = quiz_screen(quiz_press(qs, "d", quiz), quiz, console)
    row = next(i for i, t in enumerate(text) if "╣+╠ q" in t)
    assert text[row - 1].split() == ["−2", "3"]


def test_docs_show_the_real_drawing():
    from tests.conftest import ROOT

    page = (ROOT / "docs" / "circuits.md").read_text(encoding="utf-8")
    section = page.split("## The circuit drawn")[1]
    shown = section.split("```text\n")[1].split("```")[0].splitlines()
    real = [t.rstrip() for t in run_cli("run", "cs231n_circuit").stdout.splitlines()]
    start = real.index(shown[0])
    assert real[start:start + len(shown)] == shown
    assert "bpwalk new practice.yaml --graph --seed 7" in page
