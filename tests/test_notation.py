"""Notation profiles and the formula trees: each formula written once, printed four ways.

Every profile is checked against the formula as its source prints it (chapter and section in
each test); numbers typed here are the sources' published values, or derived in comments.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pytest

from bpwalk.engine import run
from bpwalk.formulas import HALF, Div, Neg, Num, Pow, Sym, Val, add, exp, mathml, render, sub
from bpwalk.judge import Judge
from bpwalk.notation import (
    PROFILES,
    Pen,
    UnknownProfile,
    aliases,
    formula,
    profile,
    shortcut,
)
from bpwalk.scenario import ScenarioError, bundled_dir, bundled_names, load, loads, loads_answers
from bpwalk.stepper import Walk
from bpwalk.views import markdown
from bpwalk.views.terminal import StepBlock, Walkthrough, console
from tests import latex_check
from tests.conftest import run_cli

XOR_SHARED = """\
inputs: [x1, x2]
layers:
  - {neurons: [h1, h2], activation: sigmoid, weights: [[0.5, -0.4], [0.3, 0.8]], bias: 0.1}
  - {neurons: [o1, o2], activation: sigmoid, weights: [[0.7, -0.6], [0.2, 0.1]], bias: 0.05}
loss: half_squared_error
learning_rate: 0.5
data:
  - {inputs: [0, 1], targets: [1, 0]}
  - {inputs: [1, 0], targets: [1, 0]}
"""


def trace_of(name: str, **kw):
    return run(load(bundled_dir() / f"{name}.yaml"), **kw)


def step(trace, sid: str):
    return trace.iterations[0].step(sid)


def reads(trace, sid: str, notation: str, style: str = "unicode", decimals: int = 9,
          bound: bool = False) -> str:
    """How a step reads; `bound`: with the profile's layer-indexed names of the scenario."""
    p = profile(notation, trace.scenario) if bound else notation
    f = formula(step(trace, sid), style, decimals, p)
    return f"{f.lhs} = {f.symbolic} = {f.numeric} = {f.result}"


def text(trace, notation: str | None = None, **kw) -> str:
    out = io.StringIO()
    c = console(no_color=True, file=out, width=100)
    c.print(Walkthrough(trace, notation=notation, **kw))
    return out.getvalue()


# ----------------------------------------------------------------------------- the trees


def test_one_tree_four_printers():
    # the sigmoid 1/(1 + e^(−net)), in symbols and with net = 0.3775 (Mazur's net_h1)
    net = Val(Sym("net", "h1"), 0.3775)
    tree = Div(Num(1), add(1, exp(Neg(net))))
    assert render(tree, "unicode") == "1/(1 + e^(−net_h1))"
    assert render(tree, "ascii") == "1/(1 + e^(-net_h1))"
    assert render(tree, "latex") == r"\frac{1}{1 + {e}^{-\mathrm{net}_{h1}}}"
    assert render(tree, "unicode", numeric=True) == "1/(1 + e^(−0.3775))"
    xml = mathml(render(tree, "mathml"))
    root = ET.fromstring(xml)  # well-formed presentation MathML
    # a name of several letters is upright without a mathvariant (MathML 3 and MathML Core)
    assert root.tag.endswith("math") and "<mfrac>" in xml and "<mi>net</mi>" in xml


def test_negative_numbers_get_a_true_minus_and_parentheses():
    t = Val(Sym("target", "o2"), 0.99)
    o = Val(Sym("out", "o2"), -0.217)
    tree = mul_ = add(t, Neg(o))
    assert render(mul_, "unicode", numeric=True) == "0.99 − (−0.217)"
    assert render(tree, "ascii", numeric=True) == "0.99 - (-0.217)"
    assert render(Pow(sub(t, o), Num(2)), "unicode") == "(target_o2 − out_o2)²"
    assert render(HALF, "unicode") == "½" and render(HALF, "latex") == r"\tfrac{1}{2}"


def test_sample_marker_is_not_a_power_or_a_layer():
    s = Sym("net", "h1", sample=2)
    assert render(s, "unicode") == "net_h1[#2]"
    assert render(s, "ascii") == "net_h1@2"  # the id's own spelling
    assert render(s, "latex") == r"\mathrm{net}_{h1}\,[\text{sample 2}]"


def test_decimals_keep_trailing_zeros_of_values_not_of_constants():
    # Mazur: out_o1 = 0.75136507; at 4 decimals 0.7514, and (1 − out) keeps its bare 1
    tr = trace_of("mazur")
    f = Pen("unicode", 4, keep_zeros=True).formula(step(tr, "dact:o1"))
    assert f.numeric == "0.7514(1 − 0.7514)" and f.result == "0.1868"
    assert Pen("unicode", 4, keep_zeros=True).num(0.031) == "0.0310"
    assert "0.2000" in run_cli("run", "mazur", "--decimals", "4").stdout  # w₂ = 0.2


def test_views_hold_no_formula_text():
    from pathlib import Path

    from bpwalk import views

    for path in Path(views.__file__).parent.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        for literal in ("\\frac", "\\sum", "Σ", "e^", "∂"):
            assert literal not in source, (path.name, literal)


# ----------------------------------------------------------------------------- profiles


@pytest.mark.parametrize("name", bundled_names())
def test_every_profile_ends_with_the_same_new_weights(name):
    """A profile changes symbols, never a value: every new:* step and the summary read the
    same numbers under every profile."""
    trace = trace_of(name)
    news = [s for s in trace.iterations[0].steps if s.kind == "new"]
    mazur = [formula(s, "unicode", 9, "mazur").result for s in news]
    for p in PROFILES:
        assert [formula(s, "unicode", 9, p).result for s in news] == mazur, p
        summary = text(trace, p)
        summary = summary[summary.index("Summary"):]
        for v in trace.params_final.values():
            assert Pen("unicode").num(v) in summary, p


def test_nielsen_bp1_to_bp4():
    # Nielsen, Neural Networks and Deep Learning, ch. 2, "The four fundamental equations
    # behind backpropagation": (BP1) δ^L_j = ∂C/∂a^L_j σ′(z^L_j); (BP2) δ^l = ((w^{l+1})^T
    # δ^{l+1}) ⊙ σ′(z^l); (BP3) ∂C/∂b^l_j = δ^l_j; (BP4) ∂C/∂w^l_jk = a^{l−1}_k δ^l_j.
    tr = trace_of("mazur")
    f = formula(step(tr, "dnet:o1"), "unicode", 9, "nielsen")
    assert (f.lhs, f.symbolic, f.label) == ("δ_o1", "∂C/∂a_o1·σ′(z_o1)", "BP1")
    assert formula(step(tr, "dnet:h1"), "unicode", 9, "nielsen").label == "BP2"
    f = formula(step(tr, "grad:w5"), "unicode", 9, "nielsen")
    assert (f.lhs, f.symbolic, f.label) == ("∂C/∂w₅", "a_h1·δ_o1", "BP4")
    assert f.numeric == "0.593269992·0.138498562"  # Mazur's out_h1 and δ_o1
    # BP3 on a bias of its own (Han & Kamber's θ₆) and on a shared one (b₂ feeds o1, o2)
    f = formula(step(trace_of("han_kamber"), "grad:theta6"), "unicode", 9, "nielsen")
    assert (f.symbolic, f.label) == ("δ_u6", "BP3")
    xor = run(loads(XOR_SHARED))
    f = formula(step(xor, "grad:b2@1"), "unicode", 9, "nielsen")
    assert (f.symbolic, f.label) == ("δ_o1[#1] + δ_o2[#1]", "BP3")
    assert reads(tr, "net:h1", "nielsen").startswith("z_h1 = w₁·i₁ + w₂·i₂ + b₁·1")


def test_ng_dz_dw_and_alpha():
    # Ng, Deep Learning Specialization, course 1, week 3, "Gradient descent for neural
    # networks": dz^[2] = a^[2] − y, dW^[2] = dz^[2] a^[1]T, W := W − α dW.
    tr = trace_of("softmax")  # softmax with cross-entropy: dz = a − y exactly
    short = shortcut(step(tr, "dnet:o1"), "unicode", 9, "ng")
    assert (short.lhs, short.symbolic) == ("dz_o1", "a_o1 − y_o1")
    assert reads(tr, "grad:w7", "ng").startswith("dw₇ = dz_o2·a_h1 = ")
    assert reads(tr, "new:w7", "ng").startswith("w₇⁺ = w₇ − α·dw₇ = ")
    assert formula(step(tr, "loss"), "unicode", 9, "ng").lhs == "J"


def test_nielsen_layer_indexed_symbols():
    # Nielsen, Neural Networks and Deep Learning, ch. 2, "Warm up: a fast matrix-based
    # approach": "w^l_jk ... the weight for the connection from the k-th neuron in the
    # (l−1)-th layer to the j-th neuron in the l-th layer", b^l_j, a^l_j, z^l_j; the input
    # layer is layer 1 (ch. 2, "The backpropagation algorithm": "set the corresponding
    # activation a^1 for the input layer"). Mazur's 2-2-2 net: inputs layer 1, h1/h2 layer 2,
    # o1/o2 layer 3; w5 runs h1 -> o1, so it is w^3_11, w6 (h2 -> o1) w^3_12, w7 (h1 -> o2)
    # w^3_21; the shared biases b1, b2 are b^2, b^3.
    tr = trace_of("mazur")
    assert reads(tr, "net:o1", "nielsen", bound=True).startswith(
        "z³₁ = w³₁₁·a²₁ + w³₁₂·a²₂ + b³·1 = ")
    assert reads(tr, "net:h1", "nielsen", bound=True).startswith("z²₁ = w²₁₁·x₁ + w²₁₂·x₂ + b²·1")
    assert reads(tr, "grad:w7", "nielsen", bound=True).startswith("∂C/∂w³₂₁ = a²₁·δ³₂ = ")
    # BP4 in all four printers: ∂C/∂w^l_jk = a^{l−1}_k δ^l_j
    p = profile("nielsen", tr.scenario)
    forms = {style: formula(step(tr, "grad:w5"), style, 9, p) for style in
             ("unicode", "ascii", "latex", "mathml")}
    assert (forms["unicode"].lhs, forms["unicode"].symbolic) == ("∂C/∂w³₁₁", "a²₁·δ³₁")
    assert (forms["ascii"].lhs, forms["ascii"].symbolic) == ("dC/dw^3_11", "a^2_1*delta^3_1")
    assert forms["latex"].lhs == "\\frac{\\partial C}{\\partial w_{11}^{3}}"
    assert "<msubsup><mi>w</mi><mn>11</mn><mn>3</mn></msubsup>" in forms["mathml"].lhs
    assert reads(tr, "new:w5", "nielsen", bound=True).startswith("w³₁₁⁺ = w³₁₁ − η·∂C/∂w³₁₁")
    # the scenario's own names stay answers' aliases, beside the layer-indexed ones
    judge = Judge(load(bundled_dir() / "mazur.yaml"), notation="nielsen")
    # Mazur: ∂E_total/∂w5 = 0.082167041, ∂E/∂out_o1 = 0.74136507
    for answers in ("dC/dw^3_11: 0.0822\ndC/da^3_1: 0.7414\n",
                    "grad:w5: 0.0822\ndE/dout_o1: 0.7414\n"):
        report = judge.check(loads_answers(answers))
        assert report.all_correct and report.results, answers
    walk = Walk.of(tr, notation="nielsen")
    assert walk.entries[walk.find("w^3_11", 0)].step.subject == "w5"
    assert walk.entries[walk.find("delta^2_1", 0)].step.id == "dnet:h1"
    assert walk.entries[walk.find("w5", 0)].step.subject == "w5"


def test_ng_layer_indexed_symbols_and_the_batch():
    # Ng, Deep Learning Specialization, course 1, week 3, "Neural network representation":
    # the input layer is a^[0] = x, the first hidden layer [1]; W^[l] is (n^[l], n^[l−1]),
    # so W^[l]_jk runs from neuron k of layer [l−1] to neuron j of layer [l]. Week 4,
    # "Forward and backward propagation", for m examples: dZ^[l] = dA^[l] * g^[l]′(Z^[l]),
    # dW^[l] = (1/m) dZ^[l] A^[l−1]T, db^[l] = (1/m) Σ dZ^[l], W^[l] := W^[l] − α dW^[l].
    tr = trace_of("mazur")
    assert reads(tr, "grad:w5", "ng", bound=True).startswith("dW^[2]₁₁ = dz^[2]₁·a^[1]₁ = ")
    assert reads(tr, "new:w5", "ng", bound=True).startswith("W^[2]₁₁⁺ = W^[2]₁₁ − α·dW^[2]₁₁")
    assert reads(tr, "grad:w5", "ng", "ascii", bound=True).startswith("dW^[2]_11 = dz^[2]_1*")
    assert reads(tr, "net:h1", "ng", bound=True).startswith("z^[1]₁ = W^[1]₁₁·x₁ + ")
    # regression: 2-3-1, a full batch of m = 3 examples, reduction mean; its output neuron
    # `score` is neuron 1 of layer [2], w7 (h1 -> score) is W^[2]_11
    reg = trace_of("regression")
    # (week 2, "Logistic regression cost function": example i written x^(i), a^[l](i))
    assert reads(reg, "dnet:score@1", "ng", bound=True).startswith("dz^[2](1)₁ = ")
    assert reads(reg, "grad:w7", "ng", bound=True).startswith(
        "dW^[2]₁₁ = 1/3·(dW^[2](1)₁₁ + dW^[2](2)₁₁ + dW^[2](3)₁₁) = ")
    walk = Walk.of(tr, notation="ng")
    assert walk.entries[walk.find("dW^[2]_11", 0)].step.id == "grad:w5"


def test_markdown_in_nielsen_and_ng_is_layer_indexed_and_parses():
    md = {n: run_cli("export", "mazur", "--format", "md", "--notation", n).stdout
          for n in ("nielsen", "ng")}
    assert "w_{11}^{3}" in md["nielsen"] and "W_{11}^{[2]}" in md["ng"]
    assert latex_check.check_documents({f"mazur-{n}.md": t for n, t in md.items()}) == []


def test_han_kamber_err_and_additive_update():
    # Han, Kamber & Pei, Data Mining, 3rd ed., section 9.2.3, eqs. (9.6)-(9.10) and
    # Example 9.1: Err_j = O_j(1 − O_j)(T_j − O_j) = −∂E/∂I_j; Δw_ij = (l) Err_j O_i,
    # w_ij = w_ij + Δw_ij; θ_j = θ_j + (l) Err_j. Table 9.4 prints Err_6 = 0.1311 (from
    # O_6 rounded to 0.474; the exact O_6 = 0.47389 gives 0.1312) and Table 9.5 θ_6 = 0.218,
    # w_46 = −0.261.
    tr = trace_of("han_kamber")
    assert reads(tr, "dnet:u6", "han-kamber", decimals=4) == (
        "Err_u6 = −∂E/∂O_u6·∂O_u6/∂I_u6 = −(−0.5261)·0.2493 = 0.1312")
    assert reads(tr, "new:theta6", "han-kamber", decimals=3) == (
        "θ₆⁺ = θ₆ + l·(−∂E/∂θ₆) = 0.1 + 0.9·0.131 = 0.218")
    assert reads(tr, "new:w46", "han-kamber", decimals=3).endswith(" = −0.261")
    assert reads(tr, "grad:w46", "han-kamber", decimals=4).startswith(
        "∂E/∂w₄₆ = −Err_u6·O_u4 = ")


def test_mitchell_delta_is_minus_de_dnet():
    # Mitchell, Machine Learning (1997), section 4.5.2, Table 4.2 (T4.3): for an output unit
    # δ_k ← o_k(1 − o_k)(t_k − o_k); (T4.5) w_ji ← w_ji + Δw_ji with Δw_ji = η δ_j x_ji.
    tr = trace_of("mazur")
    o, t = step(tr, "out:o1").value, 0.01  # Mazur's target_o1 = 0.01
    f = formula(step(tr, "dnet:o1"), "unicode", 9, "mitchell")
    assert f.lhs == "δ_o1" and f.result == Pen("unicode").num(o * (1 - o) * (t - o))
    assert reads(tr, "new:w5", "mitchell").startswith("w₅⁺ = w₅ + η·(−∂E/∂w₅) = ")


def test_cs231n_local_times_upstream():
    # CS231n notes, "Backpropagation, Intuitions", sigmoid example: ddot = (1 - f) * f;
    # dw = [x[0] * ddot, x[1] * ddot, 1.0 * ddot] = [-0.20, -0.39, 0.20].
    tr = trace_of("cs231n_neuron")
    assert reads(tr, "grad:w0", "cs231n", decimals=2) == "dw₀ = x₀·ddot_f = (−1)·0.2 = −0.2"
    assert reads(tr, "grad:w1", "cs231n", decimals=2).endswith(" = −0.39")
    assert reads(tr, "dnet:f", "cs231n").startswith("ddot_f = ∂out_f/∂net_f·dout_f = ")


def test_mazur_is_the_default():
    tr = trace_of("mazur")
    assert reads(tr, "grad:w5", "mazur") == reads(tr, "grad:w5", None)
    assert text(tr) == text(tr, "mazur")


def test_profile_names_and_did_you_mean():
    assert profile("Han_Kamber").name == "han-kamber"
    with pytest.raises(UnknownProfile, match="did you mean 'nielsen'"):
        profile("nielson")
    r = run_cli("run", "mazur", "--notation", "nielson")
    assert r.returncode == 2 and "did you mean 'nielsen'" in r.stderr and "Traceback" not in r.stderr


def test_scenario_notation_key_and_the_option_wins(tmp_path):
    src = (bundled_dir() / "mazur.yaml").read_text(encoding="utf-8")
    path = tmp_path / "m.yaml"
    path.write_text(src + "notation: han-kamber\n", encoding="utf-8")
    assert "Err₅" in run_cli("run", str(path)).stdout  # o1: unit 5 after i1, i2, h1, h2
    assert "δ³₁" in run_cli("run", str(path), "--notation", "nielsen").stdout  # o1's δ
    with pytest.raises(ScenarioError, match="unknown notation 'nielson'.*nielsen"):
        loads(src + "notation: nielson\n")


def test_export_md_in_nielsen_renders_in_katex():
    md = run_cli("export", "mazur", "--format", "md", "--notation", "nielsen").stdout
    assert "\\tag{BP1}" in md and "\\delta_{1}^{3}" in md  # δ^3_1: o1 in layer 3
    assert latex_check.check_documents({"mazur-nielsen.md": md}) == []


# ----------------------------------------------------------------------------- the judge


def test_check_speaks_han_kamber():
    sc = load(bundled_dir() / "han_kamber.yaml")
    judge = Judge(sc, notation="han-kamber")
    # Table 9.4: Err_6 = 0.1311 (book) / 0.1312 (exact O_6); both agree at 3 decimals: 0.131
    report = judge.check(loads_answers("Err:u6: 0.131\nI_u6: -0.105\n"))
    assert report.all_correct, [r.diagnosis for r in report.results]
    wrong = judge.check(loads_answers("Err_u6: -0.1312\n")).results[0]
    assert not wrong.correct
    assert "Han & Kamber's Err_j is −∂E/∂I_j: your value has the other sign" in wrong.diagnosis
    assert wrong.given == -0.1312 and wrong.expected > 0  # reported as the student wrote it


def test_later_steps_follow_from_an_err_answer_in_the_traces_sign():
    """Mazur's δ_o1 = 0.138498562 and δ_o2 = −0.038098237 (Mazur's worked example), so Han &
    Kamber's Err_o1 = −0.1385 and Err_o2 = 0.0381, written at 2 decimals as −0.14 and 0.04.
    The student's δs are then 0.14 ± 0.005 and −0.04 ± 0.005, and ∂E/∂out_h1 = δ_o1·w5 +
    δ_o2·w7 (w5 = 0.40, w7 = 0.50) lies in [0.054 − 0.0225, 0.058 − 0.0175] = [0.0315,
    0.0405], which holds 0.0380. Read with the Err sign, the δs would give [−0.0405,
    −0.0315], and the exact 0.0363503 is 0.0364 at 4 decimals: 0.0380 would be wrong."""
    judge = Judge(load(bundled_dir() / "mazur.yaml"), notation="han-kamber")
    report = judge.check(loads_answers("Err:o1: -0.14\nErr:o2: 0.04\ndout:h1: 0.0380\n"))
    assert report.all_correct, [r.diagnosis for r in report.results]
    assert not judge.check(loads_answers("dout:h1: 0.0380\n")).all_correct


def test_alias_table_is_the_profiles():
    assert "Err:o1" in aliases("dnet:o1", "han-kamber")
    assert "dz_o1@2" in aliases("dnet:o1@2", "ng")
    assert "J" in aliases("loss", "ng") and "e_total" in aliases("loss", "mazur")


def test_stepper_g_takes_every_alias_and_prefers_the_batch_gradient():
    tr = run(loads((bundled_dir() / "xor.yaml").read_text(encoding="utf-8")))
    walk = Walk.of(tr)
    i = walk.find("grad:b1", 0)
    assert walk.entries[i].step.id == "grad:b1" and walk.entries[i].step.batch
    assert walk.entries[walk.find("E_total", 0)].step.id == "loss"
    assert walk.entries[walk.find("delta_h1@2", 0)].step.id == "dnet:h1@2"
    hk = Walk.of(trace_of("han_kamber"), notation="han-kamber")
    assert hk.entries[hk.find("Err:u6", 0)].step.id == "dnet:u6"


# ----------------------------------------------------------------------------- walkthrough


def test_a_network_without_biases_says_so():
    src = (bundled_dir() / "mazur.yaml").read_text(encoding="utf-8")
    lines = [ln for ln in src.splitlines() if not ln.strip().startswith(("bias:", "bias_names:"))]
    yaml = "\n".join(lines).replace("    activation: sigmoid", "    activation: sigmoid\n    bias: null")
    out = text(run(loads(yaml)))
    assert "Biases:" in out and "none" in out.split("Biases:")[1].split("\n")[0]
    assert "b·1" not in out and "+ b" not in out


def test_a_later_update_opens_with_its_parameters():
    # issue 13: run xor_sgd --iterations 4 --show 2 --phase backward used updated weights
    # while pointing at the network table
    tr = trace_of("xor_sgd", iterations=4, show={2})
    out = text(tr, phase="backward")
    assert "Parameters at the start of update 2" in out and "as in the table above" in out
    it = tr.iterations[0]
    for name, v in it.params_before.items():
        if v != tr.params_first[name]:
            assert Pen("unicode").num(v) in out
            break
    else:
        pytest.fail("no parameter changed in update 1")


def test_softmax_jacobian_entries_are_derived_with_their_numbers():
    # ∂out_j/∂net_k = out_j(δ_jk − out_k); the entries' values are the engine's jac operands,
    # checked here against the outputs: out_o1(1 − out_o1) and out_o2(0 − out_o1)
    tr = trace_of("softmax")
    o1, o2 = step(tr, "out:o1").value, step(tr, "out:o2").value
    out = text(tr, phase="backward")
    num = Pen("unicode").num
    assert (f"∂out_o1/∂net_o1 = out_o1(1 − out_o1) = {num(o1)}(1 − {num(o1)}) = "
            f"{num(o1 * (1 - o1))}") in out
    assert f"∂out_o2/∂net_o1 = out_o2(0 − out_o1) = {num(o2)}(0 − {num(o1)}) = " in out
    md = markdown.render(tr)
    assert "\\mathrm{out}_{o2}\\left(0 - \\mathrm{out}_{o1}\\right) = " in md


def test_the_quiz_prompt_does_not_give_the_answer_away():
    tr = trace_of("softmax")
    s = step(tr, "dnet:o1")
    out = io.StringIO()
    console(no_color=True, file=out, width=100).print(StepBlock((s,), Pen(), ask=True))
    assert "?" in out.getvalue() and "target_o1" not in out.getvalue()


def test_markdown_in_every_profile_passes_the_latex_check():
    tr = trace_of("softmax")
    docs = {f"{p}.md": markdown.render(tr, notation=p) for p in PROFILES}
    assert latex_check.check_documents(docs) == []


def test_the_outline_holds_the_whole_documents_data():
    # Mazur's post: w5 = 0.40 connects h1 -> o1 and becomes 0.35891648; the shared bias b1
    # (0.35) feeds h1 and h2 and is not updated; the one sample is i1 = 0.05, i2 = 0.10 with
    # targets 0.01, 0.99.
    from bpwalk.views import outline

    tr = trace_of("mazur")
    doc = outline.document(tr, profile("mazur"))
    by = {c.name: c for c in doc.params}
    assert [c.name for c in doc.params] == list(tr.scenario.param_names)
    w5 = by["w5"]
    assert (w5.layer, w5.source, w5.targets, w5.before) == (1, "h1", ("o1",), 0.4)
    assert round(w5.after, 8) == 0.35891648 and w5.change == w5.after - w5.before
    assert (by["b1"].source, by["b1"].targets, by["b1"].change) == (None, ("h1", "h2"), 0)
    assert [(s.number, s.inputs, s.targets) for s in doc.samples] == [
        (1, (("i1", 0.05), ("i2", 0.1)), (("o1", 0.01), ("o2", 0.99)))]
    assert [u.number for u in doc.updates] == [1]
    h = doc.heading  # Mazur's 2-2-2 sigmoid net, η = 0.5, biases not updated in the post
    assert (h.shape, h.learning_rate, h.biases, h.samples, h.shown) == ("2-2-2", 0.5, "fixed",
                                                                          1, (1,))
    assert [(lay.neurons, lay.output) for lay in h.layers] == [(("h1", "h2"), False),
                                                             (("o1", "o2"), True)]
    assert [ph.name for ph in outline.document(tr, profile("mazur"), ["loss"]).updates[0].phases
            ] == ["loss"]
