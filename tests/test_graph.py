"""Circuits (graph: scenarios): the parser, compile, the sweeps, the bundled examples with
their published numbers, validation messages, the views and `check`'s graph mistakes."""

from __future__ import annotations

import json
import math
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bpwalk.cli import app
from bpwalk.engine import EngineError, evaluate, run
from bpwalk.graph import expr as E
from bpwalk.graph.compile import compile_graph
from bpwalk.judge import Judge
from bpwalk.scenario import ScenarioError, load, loads, resolve

runner = CliRunner()


def bundled(name: str):
    path, shown = resolve(name)
    return run(load(path, display_name=shown))


def values(trace, k: int = 0) -> dict[str, float]:
    return trace.iterations[k].values


def circuit(body: str, **top: object) -> str:
    extra = "".join(f"{k}: {v}\n" for k, v in top.items())
    return "graph:\n" + textwrap.indent(textwrap.dedent(body), "  ") + extra


# ----------------------------------------------------------------------------- published


def test_cs231n_circuit_numbers():
    # CS231n, Backpropagation, Intuitions (https://cs231n.github.io/optimization-2/):
    # f = (x + y) z at x = -2, y = 5, z = -4: q = 3, f = -12, df/dz = 3, df/dx = df/dy = -4
    v = values(bundled("cs231n_circuit"))
    assert (v["val:q"], v["val:f"]) == (3, -12)
    assert (v["grad:x"], v["grad:y"], v["grad:z"]) == (-4, -4, 3)
    assert v["grad:q"] == -4 and v["local:f/z"] == 3


def test_cs231n_sigmoid_numbers():
    # CS231n, Backpropagation, Intuitions, "Modularity: Sigmoid example": f = 0.73 and the
    # circuit figure's gradients w0 -0.20, x0 0.39, w1 -0.39, x1 -0.59, w2 0.20
    v = values(bundled("cs231n_sigmoid"))
    assert round(v["val:f"], 2) == 0.73
    published = {"w0": -0.20, "x0": 0.39, "w1": -0.39, "x1": -0.59, "w2": 0.20}
    assert {n: round(v[f"grad:{n}"], 2) for n in published} == published
    # the notes' gates, one step each: *, *, +, +, *-1, exp, +1, 1/x
    assert [k for k in v if k.startswith("val:") and "." in k] == [
        "val:dot.1", "val:dot.2", "val:dot.3", "val:f.1", "val:f.2", "val:f.3"]


def test_micrograd_tanh_numbers():
    # Karpathy, building micrograd (2022): o = 0.7071, do/dw1 = 1.0, do/dx1 = -1.5,
    # do/dx2 = 0.5, do/dw2 = 0
    tr = bundled("micrograd_tanh")
    v = values(tr)
    assert round(v["val:o"], 4) == 0.7071
    assert {n: round(v[f"grad:{n}"], 6) for n in ("w1", "x1", "x2", "w2")} == {
        "w1": 1.0, "x1": -1.5, "x2": 0.5, "w2": 0.0}
    # ascent: each param steps up its gradient (w1 + 0.01·1.0)
    assert tr.params_final["w1"] == v["val:w1"] + 0.01 * v["grad:w1"]
    assert tr.loss_history[1] > tr.loss_history[0]


# ----------------------------------------------------------------------------- the parser


@pytest.mark.parametrize("text, at, words", [
    ("x +", 3, "ends too soon"),
    ("x $ y", 2, "unexpected character"),
    ("exp(x, y)", 0, "takes 1 argument"),
    ("exq(x)", 0, "did you mean 'exp'"),
    ("x ^ 2", 2, "write x ** 2"),
    ("x ** y", 5, "must be a number"),
    ("(x + y", 6, "to close"),
    ("x y", 2, "operator"),
    ("max", 0, "is a function"),
])
def test_parse_errors_point_at_the_column(text, at, words):
    with pytest.raises(E.ExprError) as e:
        E.parse(text)
    assert e.value.at == at and words in str(e.value)


def test_power_binds_tighter_than_unary_minus_and_minus_folds_into_numbers():
    assert E.parse("-x ** 2") == E.Unary(E.Binary("**", E.Name("x", 1), E.Num(2.0, 6), 3), 0)
    assert E.parse("-1") == E.Num(-1.0, 0)


@given(st.text(alphabet="xy12.+-*/() ,^eaxpm_", max_size=30))
@settings(max_examples=300, deadline=None)
def test_any_text_parses_or_says_where(text):
    try:
        E.parse(text)
    except E.ExprError as e:
        assert 0 <= e.at <= len(text), (text, e.at)
        assert "; " in str(e), str(e)  # what is wrong; how to fix it


def test_deep_nesting_is_refused_not_a_recursion_error():
    with pytest.raises(E.ExprError, match="nests"):
        E.parse("(" * 150 + "x" + ")" * 150)
    with pytest.raises(E.ExprError, match="characters long"):
        E.parse("x+" * 6000 + "x")


# ----------------------------------------------------------------------------- compile


def test_nodes_in_any_order_and_intermediate_names():
    g, errors = compile_graph({"x": 1.0}, {"w": 2.0}, [("f", "1 / (1 + exp(-d))"),
                                                        ("d", "w * x")], "f")
    assert not errors
    assert [(n.name, n.op) for n in g.nodes] == [
        ("d", "mul"), ("f.1", "neg"), ("f.2", "exp"), ("f.3", "add"), ("f", "div")]


def test_cycle_and_unknown_name_are_reported_with_offsets():
    _, errors = compile_graph({"x": 1.0}, {}, [("a", "b + x"), ("b", "a * 2")], "a")
    assert errors[0].node == "a" and errors[0].at == 0 and "cycle (a -> b -> a)" in \
        errors[0].message
    _, errors = compile_graph({"xx": 1.0}, {}, [("a", "2 * xy")], "a")
    assert errors[0].at == 4 and "did you mean 'xx'" in errors[0].message


# ----------------------------------------------------------------------------- the sweep


def test_fan_out_is_summed_one_term_per_path():
    # micrograd's trap: b = a + a gives db/da = 2 (the local gradient sums both uses)
    tr = run(loads(circuit("inputs: {a: 3}\nnodes: {b: a + a}\noutput: b\n")))
    assert values(tr)["local:b/a"] == 2 and values(tr)["grad:a"] == 2
    # a value read by two nodes: its gradient is a step with a term per path
    tr = run(loads(circuit("inputs: {a: 3}\nnodes: {b: a * 2, c: a * b}\noutput: c\n")))
    step = tr.iterations[0].step("grad:a")
    assert [[o.ref for o in t] for t in step.terms] == [
        ["grad:b", "local:b/a"], ["grad:c", "local:c/a"]]
    assert step.value == 2 * 2 * 3  # d(2a²)/da = 4a at a = 3


def test_a_node_off_the_path_to_the_output_has_gradient_0():
    tr = run(loads(circuit("inputs: {a: 3}\nnodes: {b: a * 2, c: a + 1}\noutput: b\n")))
    step = tr.iterations[0].step("grad:c")
    assert step.value == 0 and step.terms == () and "does not lead" in step.note


def test_loss_after_the_output():
    sc = loads(circuit("inputs: {x: 2}\nparams: {w: 0.5}\nnodes: {y: w * x}\noutput: y\n"
                       "loss: half_squared_error\ntarget: 3\n", learning_rate=0.1))
    tr = run(sc, iterations=2, show={1, 2})
    v = values(tr)
    assert v["val:loss"] == 0.5 * (3 - 1) ** 2 and v["grad:w"] == (1 - 3) * 2
    assert tr.loss_history[0] == v["val:loss"]
    assert tr.iterations[1].params_before == tr.iterations[0].params_after


def test_round_keeps_exact_and_drift():
    sc = loads(circuit("inputs: {x: 0.123456}\nnodes: {f: exp(x)}\noutput: f\n"))
    step = run(sc, round_to=3).iterations[0].step("val:f")
    assert step.value == 1.131 and step.exact == math.exp(0.123456)
    assert step.drift == step.value - step.exact


def test_a_value_outside_the_domain_names_its_step():
    sc = loads(circuit("inputs: {x: -1}\nnodes: {f: log(x)}\noutput: f\n"))
    with pytest.raises(EngineError, match="step val:f: log of -1 is nan"):
        run(sc)


def test_evaluate_follows_a_students_numbers():
    tr = bundled("micrograd_tanh")
    step = tr.iterations[0].step("local:o/n")  # 1 − o²
    assert evaluate(step, {"val:o": 0.5}) == 0.75
    new = tr.iterations[0].step("new:w1")  # ascent: w + lr·g
    assert evaluate(new, {"grad:w1": 2.0}) == -3 + 0.01 * 2.0


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize("text, where, words", [
    ("graph:\n  inputs: {x: 1}\n  nodes:\n    f: x +* 2\n  output: f\n", "4:11",
     "an operand"),
    ("graph:\n  inputs: {x: 1}\n  nodes:\n    f: 2 * xx\n  output: f\n", "4:12",
     "did you mean 'x'"),
    ("graph:\n  inputs: {x: 1}\n  nodes:\n    f: x * 2\n  output: g\n", "5:11",
     "name one of the nodes (f)"),
    ("graph:\n  inputs: {x: 1}\n  nodes:\n    fx: x * 2\n  output: f\n", "5:11",
     "did you mean 'fx'"),
    ("graph:\n  inputs: {x: 1}\n  nodes:\n    f: 'x ** y'\n  output: f\n", "4:14",
     "must be a number"),
    ("graph:\n  inputs: {x: 1}\n  nodes:\n    f: x\n  output: f\n", "4:8", "computes nothing"),
    ("graph:\n  inputs: {x: 1, f: 2}\n  nodes:\n    f: x * 2\n  output: f\n", "4:5",
     "used twice"),
    ("graph:\n  inputs: {exp: 1}\n  nodes:\n    f: exp * 2\n  output: f\n", "2:12",
     "name of a function"),
    ("graph:\n  inputs: {x: 1}\n  nodes:\n    f: x * 2\n  output: f\nlayers: []\n", "6:1",
     "describes a layers: network"),
    ("graph:\n  inputs: {x: 1}\n  nodes:\n    f: x * 2\n  output: f\n  loss: half_squared\n",
     "6:9", "did you mean 'half_squared_error'"),
    ("graph:\n  inputs: {x: 1}\n  nodes:\n    f: x * 2\n  output: f\niterations: 3\n", "6:13",
     "need a learning_rate"),
    ("graph:\n  inputs: {x: 1}\n  nodes:\n    f: x * 2\n  outptu: f\n", "5:3",
     "did you mean 'output'"),
])
def test_bad_circuit_is_reported_where_it_is(text, where, words):
    with pytest.raises(ScenarioError) as e:
        loads(text, "c.yaml")
    first = str(e.value).splitlines()[0]
    assert first.startswith(f"c.yaml:{where}: ") and words in first, first
    assert "; " in first


def test_cli_refuses_a_bad_circuit_in_one_line(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("graph:\n  nodes:\n    f: (x\n  output: f\n")
    out = runner.invoke(app, ["run", str(bad)])
    assert out.exit_code == 2 and "Traceback" not in out.output
    assert f"{bad}:3:" in out.output


def test_form_matrix_refuses_a_circuit_in_one_line():
    out = runner.invoke(app, ["run", "cs231n_circuit", "--form", "matrix"])
    assert out.exit_code == 2
    assert out.output.count("\n") == 1 and "circuit" in out.output


# ----------------------------------------------------------------------------- views


def test_run_explains_each_gate_within_80_columns():
    out = runner.invoke(app, ["run", "cs231n_sigmoid"], env={"COLUMNS": "80", "NO_COLOR": "1"})
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert "…" not in out.output  # no number cut to fit
    assert "Gate f = 1/f.3 = 0.731058579" in out.output
    assert any(line.startswith("dw₀ = ") for line in lines)  # the scenario's cs231n notation


def test_run_ascii_and_the_chain_with_numbers():
    out = runner.invoke(app, ["run", "cs231n_circuit", "--ascii"])
    assert out.exit_code == 0 and out.output.split("Update 1")[1].isascii()
    assert "df/dx = df/dq*dq/dx\n      = (-4)*1\n      = -4" in out.output


def test_export_json_holds_the_ids_and_history():
    out = runner.invoke(app, ["export", "micrograd_tanh", "-f", "json", "-n", "3"])
    data = json.loads(out.stdout)
    v = data["iterations"][0]["values"]
    assert {"val:x1", "local:o/n", "grad:w1", "new:w1"} <= set(v)
    assert len(data["loss_history"]) == 4 and set(data["final"]["params"]) == {"w1", "w2", "b"}
    assert data["scenario"]["graph"]["nodes"]["o"] == "tanh(n)"


def test_export_md_has_latex_and_ids():
    out = runner.invoke(app, ["export", "cs231n_circuit", "-f", "md"])
    assert out.exit_code == 0
    assert "$$\\frac{\\partial \\mathrm{f}}{\\partial \\mathrm{x}} = " in out.stdout
    assert "| `grad:x` |" in out.stdout


def test_validate_and_examples_list_circuits():
    out = runner.invoke(app, ["validate", "cs231n_sigmoid"])
    assert out.exit_code == 0 and "circuit of 8 operations" in out.output


# ----------------------------------------------------------------------------- check


def _marked(tmp_path, scenario: str, answers: str) -> dict:
    f = tmp_path / "a.yaml"
    f.write_text(answers)
    out = runner.invoke(app, ["check", scenario, str(f), "--format", "json"])
    return json.loads(out.stdout)


def test_check_accepts_the_usual_spellings(tmp_path):
    got = _marked(tmp_path, "cs231n_circuit", "q: 3\ndq: -4\ndf/dx: -4\ny.grad: -4\n"
                                              "grad:z: 3\nlocal:f/z: 3\n")
    assert [r["id"] for r in got["results"]] == ["val:q", "local:f/z", "grad:q", "grad:x",
                                                 "grad:y", "grad:z"]
    assert all(r["correct"] for r in got["results"])


# a circuit where each graph mistake gives its own number: e = max(d, c) / (a − c),
# d = b + a, b = a·c at a = 3, c = 2, then f = exp(0.1·e)·a
FAN = circuit("inputs: {a: 3, c: 2}\nnodes:\n  b: a * c\n  d: b + a\n"
              "  e: max(d, c) / (a - c)\n  f: exp(e * 0.1) * a\noutput: f\n")


@pytest.mark.parametrize("kind, step", [
    ("fanout_not_summed", "grad:a"), ("upstream_left_out", "grad:a"),
    ("sub_sign_lost", "local:e.2/c"), ("quotient_sign", "local:e/e.2"),
    ("max_to_smaller", "local:e.1/c"), ("max_to_both", "local:e.1/c"),
    ("exp_local_one", "local:f.2/f.1"),
])
def test_each_graph_mistake_is_named_by_rerunning_with_it(kind, step):
    from bpwalk.mistakes import Mistake

    sc = loads(FAN)
    wrong = run(sc, mistakes=(Mistake(kind, step),)).iterations[0].values
    judge = Judge(sc)
    answered = [judge.judge_one(s, repr(wrong[s])) for s in ("grad:a", "grad:c")
                if wrong[s] != judge.by_id[s].value]
    assert answered, "the mistake changes an answer"
    res = answered[0]
    assert not res.correct and kind in (res.mistake, *res.also), res.diagnosis


# ----------------------------------------------------------------------------- the docs


def test_docs_circuits_shows_real_runs():
    from .conftest import ROOT, run_cli

    page = (ROOT / "docs" / "circuits.md").read_text(encoding="utf-8")
    blocks = page.split("```text\n")[1:]
    runs = [run_cli("run", "cs231n_circuit").stdout, run_cli("run", "cs231n_sigmoid").stdout]
    for block, real in zip(blocks, runs):
        shown = block[:block.index("```")].splitlines()
        real_lines = [line.rstrip() for line in real.splitlines()]
        assert len(shown) >= 10
        assert all(line in real_lines for line in shown), shown
    scenario = page.split("```yaml\n")[1].split("```")[0]
    assert scenario.splitlines() == [
        line for line in (ROOT / "scenarios" / "cs231n_circuit.yaml").read_text().splitlines()
        if not line.startswith("#") and not line.startswith("description")]


@pytest.mark.parametrize("text, where", [
    ("graph:\n  nodes: [a, b]\n  output: a\n", "2:10"),
    ("graph:\n  inputs: {x: 1}\n  nodes:\n    f: [x]\n  output: f\n", "4:8"),
    ("graph:\n  inputs: {x: 1}\n  nodes:\n  output: f\n", "3:9"),
])
def test_one_problem_is_one_message_not_a_cascade(text, where):
    with pytest.raises(ScenarioError) as e:
        loads(text, "c.yaml")
    assert str(e.value).startswith(f"c.yaml:{where}: ") and len(e.value.problems) == 1


def test_a_long_run_keeps_every_few_outputs_as_a_network_does(monkeypatch):
    import bpwalk.engine.train

    monkeypatch.setattr(bpwalk.engine.train, "MAX_HISTORY", 10)
    sc = loads(circuit("inputs: {x: 1}\nparams: {w: 0.5}\nnodes: {f: (w * x - 2) ** 2}\n"
                       "output: f\n", learning_rate=0.1))
    tr = run(sc, iterations=25, show={25})
    assert tr.loss_updates == [0, 5, 10, 15, 20, 25]
    monkeypatch.setattr(bpwalk.engine.train, "MAX_HISTORY", 100)
    full = run(sc, iterations=25, show={25}).loss_history
    assert tr.loss_history == [full[k] for k in tr.loss_updates]
