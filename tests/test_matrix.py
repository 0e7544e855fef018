"""The matrix form: every entry is the scalar trace's value, and every equation holds.

Each matrix equation is re-computed here with NumPy from its operands (W @ A + b, δ @ Aᵀ / m,
Wᵀ @ δ, ...) and compared with the matrix the module assembled from the scalar steps: that
checks the entry-to-id mapping (a wrong row order or a transposed grid breaks an equation)
as well as the shapes. Then every entry is compared with the trace's step of that id.
"""

from __future__ import annotations

import io
import json
from fractions import Fraction

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from rich.console import Console

from bpwalk.engine import EngineError, run
from bpwalk.functions import ACTIVATIONS, LOSSES
from bpwalk.judge import Judge
from bpwalk.matrix import Apply, Equation, Matrix, Op, Scalar, matrix_form
from bpwalk.scenario import ScenarioError, bundled_dir, load, loads, loads_answers
from bpwalk.views import matrix as matrix_view
from bpwalk.views.matrix import MatrixWalkthrough
from tests import latex_check
from tests.conftest import network_names, run_cli
from tests.test_gradients import networks


def _expected(eq: Equation, form, sc) -> np.ndarray:
    """The right-hand side of `eq`, computed here from its operands' numbers."""
    rhs = eq.rhs
    scale, rest = (rhs[0].value, rhs[1:]) if isinstance(rhs[0], Scalar) else (1.0, rhs)
    ops = [x.kind for x in rest if isinstance(x, Op)]
    mats = [x.array() for x in rest if isinstance(x, Matrix)]
    if eq.kind == "Z":
        assert ops[0] == "matmul"
        return mats[0] @ mats[1] + (mats[2] if len(mats) > 2 else 0.0)
    if eq.kind in ("A", "fprime"):
        spec = ACTIVATIONS[rest[0].fn]
        slope = sc.layers[eq.layer - 1].slope
        z = rest[0].args[0].array().T  # the engine's functions take samples as rows
        if eq.kind == "A":
            return spec.value(z, slope).T
        return spec.derivative(z, spec.value(z, slope), slope).T
    if eq.kind == "dA_out":
        a, y = (m.array().T for m in rest[0].args)
        return LOSSES[sc.loss].derivative(a, y, y.shape[1]).T
    if eq.kind == "delta" and isinstance(rest[0], Apply):  # softmax: Jᵀ dA, column by column
        da = rest[0].args[0].array()
        a = next(e.result.array() for e in form.equations if e.kind == "A" and e.layer == eq.layer)
        cols = []
        for c in range(da.shape[1]):
            o = a[:, c]
            jac = np.diag(o) - np.outer(o, o)  # J[j, k] = d out_j / d net_k
            cols.append(jac.T @ da[:, c])
        return np.stack(cols, axis=1)
    if eq.kind == "delta" and ops == ["matmul"]:  # softmax, one sample: Jᵀ dA
        o = next(e.result.array() for e in form.equations
                 if e.kind == "A" and e.layer == eq.layer)[:, 0]
        np.testing.assert_allclose(mats[0], (np.diag(o) - np.outer(o, o)).T, atol=1e-15)
        return mats[0] @ mats[1]
    if eq.kind == "delta":
        assert ops == ["hadamard"]
        return mats[0] * mats[1]
    if eq.kind in ("newW", "newb"):
        assert ops == ["sub"] and isinstance(rest[2], Scalar)
        return mats[0] - rest[2].value * mats[1]
    assert eq.kind in ("dW", "db", "dA_prev") and set(ops) <= {"matmul"}
    acc = mats[0]
    for x in mats[1:]:
        acc = acc @ x
    return scale * acc


def _check(trace) -> int:
    """Every equation of every explained update holds; returns how many entries were seen."""
    seen = 0
    for it in trace.iterations:
        form = matrix_form(trace, it)
        for eq in form.equations:
            want = _expected(eq, form, trace.scenario)
            assert want.shape == eq.result.shape, (eq.kind, eq.layer)
            np.testing.assert_allclose(eq.result.array(), want, rtol=1e-9, atol=1e-12,
                                       err_msg=f"{eq.kind} layer {eq.layer}")
            for mat in (eq.result, *eq.operands()):
                for _, _, ref, value in mat.entries():
                    if ref in it.values:  # a step (params and inputs are operands)
                        assert value == it.step(ref).value, ref
                        seen += 1
    return seen


@pytest.mark.parametrize("name", network_names())  # (a circuit has no matrices)
def test_bundled_equations_hold(name):
    sc = load(bundled_dir() / f"{name}.yaml")
    if not sc.optimizer.plain:  # the matrix form writes W − η·dW: bpwalk refuses these
        pytest.skip("an optimizer's update has no matrix form (test_optimizers checks the "
                    "refusal)")
    trace = run(sc, iterations=min(sc.iterations, 3), show={1, 3})
    assert _check(trace) > 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=networks(), update_biases=st.booleans())
def test_random_networks_equations_hold(spec, update_biases):
    spec["update_biases"] = update_biases
    try:
        trace = run(loads(yaml.safe_dump(spec)), iterations=1)
    except EngineError:
        assume(False)
    _check(trace)


def _form(name: str, **kw):
    sc = load(bundled_dir() / f"{name}.yaml")
    trace = run(sc, iterations=1, **kw)
    return matrix_form(trace, trace.iterations[0])


def test_mazur_ids_layout():
    # The README's example: grad:w5 is row 1, column 1 of dE/dW2 (w5: h1 -> o1, w6: h2 -> o1)
    form = _form("mazur")
    mats = form.matrices()
    assert mats["dW2"].ids == (("grad:w5", "grad:w6"), ("grad:w7", "grad:w8"))
    assert mats["W1"].ids == (("param:w1", "param:w2"), ("param:w3", "param:w4"))
    assert mats["A0"].ids == (("in:i1",), ("in:i2",))
    # Mazur's shared, fixed biases: a 1x1 b in the forward pass, no gradient, no update
    assert mats["b2"].shape == (1, 1)
    assert not {"db1", "db2", "newb1", "newb2"} & set(mats)
    # the update: W2 - eta dE/dW2 has w5's published new value, 0.35891648 (Mazur 2015)
    assert mats["newW2"].values[0][0] == pytest.approx(0.35891648, abs=5e-9)


def test_batch_columns_and_mean_once():
    form = _form("regression")  # three samples, reduction mean
    assert form.m == 3
    dw = next(e for e in form.equations if e.kind == "dW" and e.layer == 2)
    assert isinstance(dw.rhs[0], Scalar) and dw.rhs[0].fraction == Fraction(1, 3)
    assert sum(isinstance(x, Scalar) for x in dw.rhs) == 1  # 1/m once
    delta = dw.rhs[1]
    assert isinstance(delta, Matrix) and delta.shape == (1, 3)
    assert delta.ids[0] == ("dnet:score@1", "dnet:score@2", "dnet:score@3")


def test_sum_reduction_has_no_1_over_m():
    form = _form("xor")  # four samples, reduction sum
    dw = next(e for e in form.equations if e.kind == "dW")
    assert not any(isinstance(x, Scalar) for x in dw.rhs)


# ----------------------------------------------------------------------------- layout


def _terminal(trace, width: int = 80, **kw) -> str:
    console = Console(record=True, width=width, color_system=None, file=io.StringIO())
    console.print(MatrixWalkthrough(trace, **kw))
    return console.export_text()


def test_terminal_snapshot_dw2():
    # Mazur (2015) publishes delta_o1 = 0.138498562, delta_o2 = -0.038098236, out_h1 =
    # 0.593269992, out_h2 = 0.596884378 and dE/dw5..w8 = 0.082167041, 0.082667628,
    # -0.022602540, -0.022740242; at 4 decimals they read as below. The brackets of the
    # three operands line up on the middle row, and the shapes sit under each operand.
    text = _terminal(run(load(bundled_dir() / "mazur.yaml"), iterations=1), decimals=4,
                     phase="backward")
    start = text.index("∂E/∂W² = δ²")
    assert text[start:].split("\n\n")[0] == (
        "∂E/∂W² = δ²·(A¹)ᵀ\n"
        "⎡  0.0822   0.0827 ⎤   ⎡  0.1385 ⎤\n"
        "⎣ −0.0226  −0.0227 ⎦ = ⎣ −0.0381 ⎦ · [ 0.5933  0.5969 ]\n"
        "        2×2          =     2×1     ·        1×2")


def test_terminal_ids_snapshot():
    text = _terminal(run(load(bundled_dir() / "mazur.yaml"), iterations=1), ids=True,
                     phase="update")
    start = text.index("W² ← ")
    assert text[start:].split("\n\n")[0] == (
        "W² ← W² − η·∂E/∂W²\n"
        "⎡ new:w5  new:w6 ⎤   ⎡ param:w5  param:w6 ⎤        ⎡ grad:w5  grad:w6 ⎤\n"
        "⎣ new:w7  new:w8 ⎦ = ⎣ param:w7  param:w8 ⎦ − lr · ⎣ grad:w7  grad:w8 ⎦\n"
        "       2×2         =          2×2           −    ·         2×2")


WIDE = """
inputs: 14
layers:
  - neurons: 3
    activation: tanh
    weights: [[0.123456, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8, 0.9, -0.1, 0.2, -0.3, 0.4, -0.5],
              [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
              [-0.2, -0.3, -0.4, -0.5, -0.6, -0.7, -0.8, -0.9, -0.1, -0.2, -0.3, -0.4, -0.5, 0.6]]
    bias: 0.1
  - neurons: 1
    activation: linear
    weights: [[0.5, -0.5, 0.25]]
loss: half_squared_error
learning_rate: 0.1
data:
  - {inputs: [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0], targets: [1]}
  - {inputs: [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1], targets: [0]}
"""


@pytest.mark.parametrize("style", ["unicode", "ascii"])
def test_too_wide_is_shown_in_parts_within_80_columns(style):
    text = _terminal(run(loads(WIDE), iterations=1), style=style, decimals=6)
    assert "shown in parts" in text
    assert "(cols 1-" in text  # W1 (3x14) is cut into column slices, and says which
    assert max(len(line) for line in text.splitlines()) <= 80
    if style == "ascii":
        assert text.isascii()


def test_markdown_renders_in_katex():
    docs = {}
    for name in network_names():
        trace = run(load(bundled_dir() / f"{name}.yaml"), iterations=1)
        docs[name] = matrix_view.markdown(trace)
        docs[f"{name} --ids"] = matrix_view.markdown(trace, ids=True)
        docs[f"{name} worksheet"] = matrix_view.markdown(trace, blanks=True)
    docs["wide"] = matrix_view.markdown(run(loads(WIDE), iterations=1))
    assert latex_check.check_documents(docs) == []
    assert r"\begin{bmatrix}" in docs["mazur"] and r"\underbrace" in docs["mazur"]


def test_worksheet_blanks_results_keeps_given_numbers():
    md = matrix_view.markdown(run(load(bundled_dir() / "mazur.yaml"), iterations=1),
                              blanks=True)
    assert r"\underline{\qquad}" in md
    assert "0.593269992" not in md  # out_h1 is a result: blank
    assert "0.15 & 0.2" in md  # W1 is given


def test_json_has_matrices_and_id_map():
    trace = run(load(bundled_dir() / "xor.yaml"), iterations=1)
    doc = json.loads(matrix_view.render_json(trace))
    it = doc["iterations"][0]
    mats = it["matrices"]
    assert mats["Z1"]["shape"] == [2, 4] and mats["Z1"]["ids"][0][3] == "net:h1@4"
    for key, m in mats.items():
        for ids, vals in zip(m["ids"], m["values"]):
            for ref, v in zip(ids, vals):
                if ref in trace.iterations[0].values:
                    assert trace.iterations[0].values[ref] == v, (key, ref)
    kinds = [e["kind"] for e in it["equations"]]
    assert kinds[:2] == ["Z", "A"] and "dW" in kinds and "newW" in kinds


# ----------------------------------------------------------------------------- CLI


def test_cli_form_matrix():
    r = run_cli("run", "mazur", "--form", "matrix", "--ids", "--ascii")
    assert r.returncode == 0, r.stderr
    assert "[ grad:w5  grad:w6 ]" in r.stdout and r.stdout.isascii()
    r = run_cli("export", "mazur", "--form", "matrix", "-f", "md")
    assert r.returncode == 0 and r"\begin{bmatrix}" in r.stdout
    r = run_cli("worksheet", "mazur", "--form", "matrix")
    assert r.returncode == 0 and r"\underline{\qquad}" in r.stdout


@pytest.mark.parametrize("args, message", [
    (("run", "mazur", "--form", "matrx"), "--form 'matrx': use scalar or matrix"),
    (("run", "mazur", "--ids"), "add --form matrix"),
    (("export", "mazur", "--ids"), "add --form matrix"),
    (("worksheet", "mazur", "--form", "tensor"), "use scalar or matrix"),
    (("run", "mazur", "--form", "matrix", "--phase", "loss"), "no matrix equation"),
])
def test_cli_form_errors(args, message):
    r = run_cli(*args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


# ----------------------------------------------------------------------------- check


def _fmt(values) -> str:
    """A matrix written as a student would, at 6 decimals."""
    return "[" + ", ".join("[" + ", ".join(f"{v:.6f}" for v in row) + "]"
                           for row in np.atleast_2d(values)) + "]"


def _mats(name: str) -> tuple:
    sc = load(bundled_dir() / f"{name}.yaml")
    trace = run(sc, iterations=1)
    return sc, {k: m.array() for k, m in matrix_form(trace, trace.iterations[0]).matrices().items()}


def _verdict(sc, text: str):
    report = Judge(sc).check(loads_answers(text), "answers.yaml")
    return report, report.matrices[0]


def test_check_cli_matrix_right_and_transposed():
    r = run_cli("check", "mazur", "tests/fixtures/answers/matrix_mazur_right.yaml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Matrix dW2 (2×2): right." in " ".join(r.stdout.split())
    r = run_cli("check", "mazur", "tests/fixtures/answers/matrix_mazur_transposed.yaml",
                "--format", "json")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["matrices"][0]["mistake"] == "a_delta_T"
    assert {x["id"]: x["correct"] for x in doc["results"]} == {
        "grad:w5": True, "grad:w6": False, "grad:w7": False, "grad:w8": True}


# Each mistaken matrix below is computed here, by the test, from the right operands.
def test_check_names_w_not_transposed():
    sc, m = _mats("mazur")
    report, v = _verdict(sc, f"dA1: {_fmt(m['W2'] @ m['delta2'])}")
    assert v.mistake == "W_not_transposed" and not report.all_correct


def test_check_names_hadamard_as_matmul():
    sc, m = _mats("mazur")
    outer = m["dA2"] @ m["fprime2"].T  # 2x1 times 1x2: a 2x2 instead of a 2x1
    _, v = _verdict(sc, f"delta2: {_fmt(outer)}")
    assert v.mistake == "hadamard_as_matmul" and v.given_shape == (2, 2)


def test_check_names_transposed_vector():
    sc, m = _mats("mazur")
    _, v = _verdict(sc, f"Z2: {_fmt(m['Z2'].T)}")
    assert v.mistake == "transposed" and v.shape == (2, 1)


@pytest.mark.parametrize("factor, mistake", [(3.0, "inv_m_missing"), (1 / 3, "inv_m_twice")])
def test_check_names_1_over_m(factor, mistake):
    sc, m = _mats("regression")  # three samples, the mean: dW2 = 1/3 delta2 A1^T
    _, v = _verdict(sc, f"dW2: {_fmt(factor * m['dW2'])}")
    assert v.mistake == mistake


def test_check_matrix_right_marks_every_entry():
    sc, m = _mats("regression")
    report, v = _verdict(sc, f"dE/dW1: {_fmt(m['dW1'])}\ndelta2: {_fmt(m['delta2'])}")
    assert v.correct and report.all_correct
    assert len(report.results) == m["dW1"].size + m["delta2"].size


def test_check_unnamed_wrong_matrix():
    sc, m = _mats("mazur")
    wrong = m["dW2"].copy()
    wrong[0, 0] += 0.5
    report, v = _verdict(sc, f"dW2: {_fmt(wrong)}")
    assert not v.correct and v.mistake is None and report.first_wrong == "grad:w5"


@pytest.mark.parametrize("text, message", [
    ("dW9: [[1, 2]]", "'dW9' is not a matrix this update computes"),
    ("W2: [[1, 2], [3, 4]]", "'W2' is not a matrix this update computes"),
    ("dW2: [[1, 2], [3]]", "the rows of 'dW2' differ in length"),
    ("dW2: [1, 2]", "must be a list of rows"),
    ("dW2: [[1, x], [3, 4]]", "must be a number"),
    ("dW2: [[1, ~], [3, 4]]", "has a blank entry"),
])
def test_check_matrix_answer_errors(text, message):
    sc = load(bundled_dir() / "mazur.yaml")
    with pytest.raises(ScenarioError) as e:
        Judge(sc).check(loads_answers(text, "answers.yaml"), "answers.yaml")
    assert message in str(e.value) and "answers.yaml:1:" in str(e.value)


def test_matrix_answers_template_round_trip():
    sc = load(bundled_dir() / "xor.yaml")
    trace = run(sc, iterations=1)
    template = matrix_view.answers_template(trace)
    report = Judge(sc).check(loads_answers(template), "t.yaml")
    assert report.results == [] and len(report.unanswered) > 0 and report.all_correct
    # fill every matrix with its own values (from the matrix form): every entry is right
    mats = matrix_form(trace, trace.iterations[0]).matrices()
    filled = "\n".join(f"{k}: {_fmt(mats[k].array())}" for k in
                       (line.split(":")[0] for line in template.splitlines()
                        if line and not line.startswith("#")))
    report = Judge(sc).check(loads_answers(filled), "t.yaml")
    assert report.all_correct and not report.unanswered
    assert len(report.matrices) == template.count(": [[")


@pytest.mark.parametrize("notation, dw2, delta1, update", [
    # Ng's course: W^[l], dW^[l], dZ^[l] for the delta, alpha for the learning rate
    ("ng", "dW[2] = dZ[2]·(A[1])ᵀ", "dZ[1] = dA[1] ⊙ σ′(Z[1])", "W[2] ← W[2] − α·dW[2]"),
    # Nielsen, ch. 2: lower-case w^l, a^l, z^l, delta^l, the cost C
    ("nielsen", "∂C/∂w² = δ²·(a¹)ᵀ", "δ¹ = ∂C/∂a¹ ⊙ σ′(z¹)", "w² ← w² − η·∂C/∂w²"),
    (None, "∂E/∂W² = δ²·(A¹)ᵀ", "δ¹ = ∂E/∂A¹ ⊙ σ′(Z¹)", "W² ← W² − η·∂E/∂W²"),
])
def test_profiles_symbols(notation, dw2, delta1, update):
    trace = run(load(bundled_dir() / "mazur.yaml"), iterations=1)
    eqs = {(e.kind, e.layer): e for e in matrix_form(trace, trace.iterations[0]).equations}
    text = {k: matrix_view.equation_text(e, "unicode", notation) for k, e in eqs.items()}
    assert text[("dW", 2)] == dw2
    assert text[("delta", 1)] == delta1
    assert text[("newW", 2)] == update


def test_cli_notation_with_matrix_form():
    r = run_cli("run", "mazur", "--form", "matrix", "--notation", "ng", "--phase", "backward")
    assert r.returncode == 0 and "dW[2] = dZ[2]·(A[1])ᵀ" in r.stdout
    r = run_cli("export", "mazur", "--form", "matrix", "-f", "md", "--notation", "nielsen")
    assert r.returncode == 0 and r"\frac{\partial C}{\partial w^{2}}" in r.stdout
