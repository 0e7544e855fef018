"""Each notation profile writes its book's own lines, with the numbers substituted (issue 26,
section 3): Han & Kamber's Err_j and Δw_ij, Mitchell's δ_k and δ_h, Nielsen's BP1-BP4, Ng's
g′(z), dz = a − y and (i), CS231n's local gradient × upstream gradient.

Each test reads what `bpwalk run` prints (the terminal view; the other views share the
Pen) and compares a step's lines with the book's equation, cited beside it. Numbers typed
here are the books' own printed values.
"""

from __future__ import annotations

import re

import pytest

from bpwalk.engine import run
from bpwalk.notation import Pen, profile
from bpwalk.scenario import bundled_dir, load, loads
from bpwalk.stepper import Walk
from tests.conftest import run_cli


def printed(*args: str) -> str:
    result = run_cli("run", *args, env={"COLUMNS": "160"})
    assert result.returncode == 0, result.stderr
    return result.stdout


def line(text: str, lhs: str) -> str:
    """A step as one line, `lhs = formula = numbers = result`, from its printed rows."""
    rows = text.splitlines()
    for i, row in enumerate(rows):
        if re.match(rf"{re.escape(lhs)}\s+= ", row):
            parts = [row.split("= ", 1)[1].strip()]
            for more in rows[i + 1:]:
                if not re.match(r"\s+= ", more):
                    break
                parts.append(more.split("= ", 1)[1].strip())
            return " = ".join([lhs, *parts])
    raise AssertionError(f"no step {lhs!r} in the output")


# ----------------------------------------------------------------------------- Han & Kamber


def test_han_kamber_writes_example_9_1_as_the_book_does():
    # Han, Kamber & Pei, Data Mining, 3rd ed., section 9.2.3, Figure 9.5 and Example 9.1:
    # units numbered 1-6 (inputs 1, 2, 3; hidden 4, 5; output 6), (9.6) Err_j = O_j(1 − O_j)
    # (T_j − O_j) for an output unit, (9.7) Err_j = O_j(1 − O_j) Σ_k Err_k w_jk for a hidden
    # one, (9.8)-(9.11) Δw_ij = (l) Err_j O_i, w_ij = w_ij + Δw_ij, Δθ_j = (l) Err_j,
    # θ_j = θ_j + Δθ_j. Table 9.4: Err_5 = (0.525)(1 − 0.525)(0.1311)(−0.2) = −0.0065,
    # Err_4 = (0.332)(1 − 0.332)(0.1311)(−0.3) = −0.0087; Table 9.5: w_46 = −0.3 + (0.9)
    # (0.1311)(0.332) = −0.261, θ_6 = 0.1 + (0.9)(0.1311) = 0.218, w_15 = −0.306.
    exact = printed("han_kamber", "--notation", "han-kamber", "--decimals", "4")
    assert line(exact, "Err₆").startswith("Err₆ = O₆(1 − O₆)(T₆ − O₆) = 0.4739(1 − 0.4739)")
    assert line(exact, "Err₅") == ("Err₅ = O₅(1 − O₅)·Err₆·w₅₆ = "
                                   "0.5250(1 − 0.5250)·0.1312·(−0.2000) = −0.0065")
    assert line(exact, "Err₄").endswith(" = −0.0087")
    # the weights at the book's 3 digits (--decimals 3 shows the exact values so)
    at3 = printed("han_kamber", "--notation", "han-kamber", "--decimals", "3")
    assert line(at3, "w₄₆⁺") == "w₄₆⁺ = w₄₆ + l·Err₆·O₄ = −0.300 + 0.900·0.131·0.332 = −0.261"
    assert line(at3, "θ₆⁺") == "θ₆⁺ = θ₆ + l·Err₆ = 0.100 + 0.900·0.131 = 0.218"
    assert line(at3, "w₁₅⁺").endswith(" = −0.306")
    assert "Δw_ij = l·Err_j·O_i, w_ij = w_ij + Δw_ij, Δθ_j = l·Err_j, θ_j = θ_j + Δθ_j" in at3
    assert ("Err_j = O_j(1 − O_j)(T_j − O_j) for an output unit, "
            "Err_j = O_j(1 − O_j)·(Σₖ Err_k·w_jk) for a hidden one") in at3
    # the book carries O_6 at 3 digits: with --round 3 its Err_6 line is written digit for
    # digit, (0.474)(1 − 0.474)(1 − 0.474), = 0.131 (the book's 0.1311 at 3 digits)
    carried = printed("han_kamber", "--notation", "han-kamber", "--round", "3")
    assert line(carried, "Err₆") == (
        "Err₆ = O₆(1 − O₆)(T₆ − O₆) = 0.474(1 − 0.474)(1 − 0.474) = 0.131")


def test_han_kamber_in_markdown_html_and_the_stepper():
    md = run_cli("export", "han_kamber", "--format", "md", "--notation", "han-kamber").stdout
    assert r"\mathrm{Err}_{6} = O_{6}\left(1 - O_{6}\right)\left(T_{6} - O_{6}\right)" in md
    assert r"\Delta w_{ij} = l \cdot \mathrm{Err}_{j} \cdot O_{i}" in md
    page = run_cli("export", "han_kamber", "--format", "html", "--notation", "han-kamber").stdout
    assert "<mi>Δ</mi>" in page and "<msub><mi>T</mi><mn>6</mn></msub>" in page
    tr = run(load(bundled_dir() / "han_kamber.yaml"))
    walk = Walk.of(tr, notation="han-kamber")
    f = walk.pen("unicode", 4).formula(tr.iterations[0].step("new:w46"))
    assert (f.lhs, f.symbolic, f.numeric) == ("w₄₆⁺", "w₄₆ + l·Err₆·O₄",
                                              "−0.3 + 0.9·0.1312·0.3318")


def test_where_the_book_has_no_form_the_chain_stays():
    # Han & Kamber's forms are for sigmoid units and ½(T − O)²: a tanh network, and an
    # optimizer's update, keep the chain rule in the book's symbols
    out = printed("tanh", "--notation", "han-kamber")
    assert re.search(r"\nErr\S+\s+= −∂E/∂O\S+·∂O\S+/∂I\S+\n", out)
    adam = printed("mazur_adam", "--notation", "han-kamber")
    assert "Δw_ij" not in adam and "l·Err" not in adam


# ----------------------------------------------------------------------------- Mitchell


def test_mitchell_table_4_2():
    # Mitchell, Machine Learning (1997), Table 4.2: (T4.3) δ_k ← o_k(1 − o_k)(t_k − o_k);
    # (T4.4) δ_h ← o_h(1 − o_h) Σ_k w_kh δ_k; (T4.5) w_ji ← w_ji + Δw_ji, Δw_ji = η δ_j x_ji.
    out = printed("mazur", "--notation", "mitchell")
    assert line(out, "δ_o1").startswith("δ_o1 = o_o1(1 − o_o1)(t_o1 − o_o1) = ")
    assert line(out, "δ_h1").startswith("δ_h1 = o_h1(1 − o_h1)·(w₅·δ_o1 + w₇·δ_o2) = ")
    assert line(out, "w₅⁺").startswith("w₅⁺ = w₅ + η·δ_o1·o_h1 = ")
    assert "δ_k ← o_k(1 − o_k)(t_k − o_k) for an output unit" in out
    assert "Δw_ji = η·δ_j·x_ji, w_ji ← w_ji + Δw_ji" in out
    # Mazur's numbers: δ_o1 = −0.138498562 in Mitchell's sign, w5⁺ = 0.35891648
    assert line(out, "δ_o1").endswith(" = −0.138498562")
    assert line(out, "w₅⁺").endswith(" = 0.35891648")


# ----------------------------------------------------------------------------- Nielsen


def test_nielsen_bp1_to_bp4_and_his_layer_numbers():
    # Nielsen, Neural Networks and Deep Learning, ch. 2: (BP1) δ^L_j = ∂C/∂a^L_j σ′(z^L_j);
    # (BP2) δ^l = ((w^{l+1})^T δ^{l+1}) ⊙ σ′(z^l); (BP3) ∂C/∂b^l_j = δ^l_j; (BP4)
    # ∂C/∂w^l_jk = a^{l−1}_k δ^l_j; the input layer is layer 1, so Mazur's output layer is 3.
    out = printed("mazur", "--notation", "nielsen")
    assert line(out, "σ′(z³₁)").startswith("σ′(z³₁) = a³₁(1 − a³₁) = ")
    assert line(out, "δ³₁").startswith("δ³₁ = ∂C/∂a³₁·σ′(z³₁) = ")
    assert line(out, "δ²₁").startswith("δ²₁ = (w³₁₁·δ³₁ + w³₂₁·δ³₂)·σ′(z²₁) = ")
    assert line(out, "∂C/∂w³₁₁").startswith("∂C/∂w³₁₁ = a²₁·δ³₁ = ")
    assert "BP2 δˡ = ((wˡ⁺¹)ᵀδˡ⁺¹) ⊙ σ′(zˡ)" in out
    assert "Layer 3, output layer: o1, o2" in out and "Layer 2, hidden layer: h1, h2" in out
    assert "Layer 1," not in out
    # BP3: a bias's gradient is its unit's δ (Han & Kamber's own θ_6 under Nielsen)
    hk = printed("han_kamber", "--notation", "nielsen")
    assert line(hk, "∂C/∂b³₁") == "∂C/∂b³₁ = δ³₁ = −0.131169078"


# ----------------------------------------------------------------------------- Ng

BCE = """\
inputs: [x1, x2]
layers:
  - {neurons: [h1, h2], activation: tanh, weights: [[0.5, -0.4], [0.3, 0.8]], bias: [0.1, 0.2]}
  - {neurons: [o1], activation: sigmoid, weights: [[0.7, -0.6]], bias: [0.05]}
loss: binary_cross_entropy
learning_rate: 0.5
data:
  - {inputs: [0, 1], targets: [1]}
  - {inputs: [1, 0], targets: [0]}
"""


def test_ng_dz_is_a_minus_y_with_the_example_as_superscript(tmp_path):
    # Ng, Deep Learning Specialization, course 1: week 2, the i-th example written x^(i),
    # a^(i), y^(i); week 3, "Gradient descent for neural networks": dz^[2] = a^[2] − y
    # (sigmoid output, cross-entropy loss), dz^[1] = W^[2]T dz^[2] * g^[1]′(z^[1]),
    # dW^[1] = (1/m) dZ^[1] X^T.
    path = tmp_path / "bce.yaml"
    path.write_text(BCE, encoding="utf-8")
    out = printed(str(path), "--notation", "ng")
    it = run(loads(BCE)).iterations[0]
    a, dz = (Pen().num(it.step(sid).value) for sid in ("out:o1@1", "dnet:o1@1"))
    # the first example's target is y^(1) = 1 (BCE above)
    assert line(out, "dz^[2](1)₁") == f"dz^[2](1)₁ = a^[2](1)₁ − y^(1)₁ = {a} − 1 = {dz}"
    assert line(out, "g′(z^[1](1)₁)").startswith("g′(z^[1](1)₁) = 1 − a^[1](1)₁² = ")
    assert line(out, "dz^[1](1)₁").startswith("dz^[1](1)₁ = W^[2]₁₁·dz^[2](1)₁·g′(z^[1](1)₁)")
    assert line(out, "dW^[1]₁₁").startswith("dW^[1]₁₁ = ½·(dW^[1](1)₁₁ + dW^[1](2)₁₁) = ")


# ----------------------------------------------------------------------------- CS231n


def test_cs231n_every_backward_line_is_local_times_upstream():
    # CS231n notes, "Backpropagation, Intuitions": at each gate "the local gradient ...
    # multiplied by the upstream gradient"; the sigmoid example writes ddot = (1 − f)·f,
    # then dx = w·ddot, dw = x·ddot.
    out = printed("mazur", "--notation", "cs231n")
    assert "each line is the local gradient × the upstream gradient" in out
    assert line(out, "ddot_o1").startswith("ddot_o1 = ∂out_o1/∂net_o1·dout_o1 = ")
    assert line(out, "dout_h1").startswith("dout_h1 = w₅·ddot_o1 + w₇·ddot_o2 = ")
    assert line(out, "dw₅").startswith("dw₅ = out_h1·ddot_o1 = ")


@pytest.mark.parametrize("name", ["mazur", "xor", "han_kamber"])
def test_the_default_notation_keeps_mazurs_chain(name):
    out = printed(name)
    assert "∂E/∂out" in out and "σ′" not in out and "Δw" not in out
    assert profile("mazur").bind(load(bundled_dir() / f"{name}.yaml")) is profile("mazur")
