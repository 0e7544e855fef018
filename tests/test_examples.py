"""The bundled examples reproduce their sources.

Numbers typed here are the sources' printed values, compared at the digits the source prints
(`printed`). Examples whose source prints no numbers are checked against `reference`, a
separate NumPy computation written from the textbook formulas (closed-form deltas where the
textbooks give them), not from bpwalk's code.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from bpwalk.engine import run
from bpwalk.scenario import bundled_dir, bundled_names, load, loads
from bpwalk.scenario.examples import SCHEMA_HINT
from bpwalk.template import SCHEMA_MODELINE
from bpwalk.trace import Trace

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def printed(value: float, text: str) -> bool:
    """True when `value`, rounded to as many decimals as `text` shows, reads `text`."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return abs(value - float(text)) <= 0.5 * 10 ** -decimals + 1e-12


def assert_printed(trace: Trace, expected: dict[str, str], sign: float = 1.0) -> None:
    values = {s.id: s.value for s in trace.iterations[0].steps}
    wrong = {k: (sign * values[k], v) for k, v in expected.items() if not printed(sign * values[k], v)}
    assert not wrong, f"(bpwalk, source) differ: {wrong}"


def bundled(name: str) -> Trace:
    return run(load(bundled_dir() / f"{name}.yaml"))


# ----------------------------------------------------------------------------- the library


def test_bundled_names_are_the_files_in_scenarios():
    files = sorted(p.stem for p in SCENARIOS.glob("*.yaml"))
    assert bundled_names() == files
    assert len(files) >= 8


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIOS.glob("*.yaml")))
def test_every_bundled_example_cites_its_source(name):
    text = (SCENARIOS / f"{name}.yaml").read_text(encoding="utf-8")
    sc = load(SCENARIOS / f"{name}.yaml")
    assert sc.name == name
    assert sc.source and sc.title
    assert sc.description and "\n" not in sc.description and len(sc.description) <= 64
    # the modeline names the schema file; the next line says how to make it (#13)
    assert text.startswith(f"{SCHEMA_MODELINE}\n{SCHEMA_HINT}\n")
    assert text.count("\n#") >= 3  # comments that explain the source and its conventions


# Mazur's example is checked number by number in tests/test_mazur.py.


# ----------------------------------------------------------------------------- Han & Kamber


def test_han_kamber_reproduces_example_9_1():
    trace = bundled("han_kamber")
    # Han, Kamber & Pei, Data Mining: Concepts and Techniques, 3rd ed., Example 9.1.
    # Table 9.2, net input I_j and output O_j:
    assert_printed(trace, {
        "net:u4": "-0.7", "net:u5": "0.1", "net:u6": "-0.105",
        "out:u4": "0.332", "out:u5": "0.525", "out:u6": "0.474",
    })
    # Table 9.3, Err_j = -dE/dnet_j (the book's error is minus bpwalk's delta). Err_6 is
    # printed 0.1311 from the rounded O_6 = 0.474; exact it is 0.13117, which prints as 0.1312
    # (a slip of carried rounding, noted in the scenario file).
    assert_printed(trace, {"dnet:u5": "-0.0065", "dnet:u4": "-0.0087"}, sign=-1.0)
    assert_printed(trace, {"dnet:u6": "0.1312"}, sign=-1.0)
    # Table 9.4, updated weights and biases: w + l Err O is w - l dE/dw
    assert_printed(trace, {
        "new:w46": "-0.261", "new:w56": "-0.138", "new:w14": "0.192", "new:w15": "-0.306",
        "new:w24": "0.4", "new:w25": "0.1", "new:w34": "-0.508", "new:w35": "0.194",
        "new:theta6": "0.218", "new:theta5": "0.194", "new:theta4": "-0.408",
    })


def test_han_kamber_names_are_the_books():
    sc = load(bundled_dir() / "han_kamber.yaml")
    assert sc.param_names == ("w14", "w24", "w34", "w15", "w25", "w35", "theta4", "theta5",
                              "w46", "w56", "theta6")


# ----------------------------------------------------------------------------- CS231n


def test_cs231n_neuron_reproduces_the_notes():
    trace = bundled("cs231n_neuron")
    # CS231n, Backpropagation notes, sigmoid example: "computes the output 0.73", the local
    # gradient "(1 - 0.73) * 0.73 ~= 0.2", and the circuit figure's gradients on w0, w1, w2.
    assert_printed(trace, {
        "net:f": "1.00", "out:f": "0.73", "dout:f": "1.00", "dnet:f": "0.2",
        "grad:w0": "-0.20", "grad:w1": "-0.39", "grad:w2": "0.20",
    })
    # The figure's gradients on the inputs, dx = [0.39, -0.59]: bpwalk stops at the weights,
    # so dx_i = w_i * dE/dnet is formed here from the two values the trace shows.
    steps = {s.id: s for s in trace.iterations[0].steps}
    delta = steps["dnet:f"].value
    operands = {o.ref: o.value for term in steps["net:f"].terms for o in term}
    w0, w1 = operands["param:w0"], operands["param:w1"]
    assert printed(w0 * delta, "0.39") and printed(w1 * delta, "-0.59")


# ----------------------------------------------------------------------------- XOR


def test_xor_sgd_reproduces_the_homework_epochs():
    # Stack Overflow question 2359571, answer quoting a homework: weights after each epoch of
    # online training, to 6 decimals. Its biases are weights on a -1 input: b = -(printed).
    trace = run(load(bundled_dir() / "xor_sgd.yaml"), iterations=12, show={4, 8, 12})
    printed_epochs = {
        4: ("0.599691", "0.599987", "0.599985", "0.599864", "0.599712"),
        8: ("0.599382", "0.599973", "0.599970", "0.599726", "0.599425"),
        12: ("0.599072", "0.599960", "0.599956", "0.599587", "0.599139"),
    }
    for it in trace.iterations:
        p = it.params_after
        bias_in, from_x1, from_x2, bias_out, from_h = printed_epochs[it.number]
        for hidden, (w_x1, w_x2, b) in {"h1": ("w1", "w2", "b1"), "h2": ("w3", "w4", "b2")}.items():
            assert printed(-p[b], bias_in), (it.number, hidden)
            assert printed(p[w_x1], from_x1) and printed(p[w_x2], from_x2), (it.number, hidden)
        assert printed(-p["b3"], bias_out)
        assert printed(p["w5"], from_h) and printed(p["w6"], from_h)


# ----------------------------------------------------------------------------- NumPy reference

SIGMOID = (lambda z: 1 / (1 + np.exp(-z)), lambda z, a: a * (1 - a))
TANH = (np.tanh, lambda z, a: 1 - a ** 2)
RELU = (lambda z: np.maximum(z, 0), lambda z, a: (z > 0) * 1.0)
LINEAR = (lambda z: z, lambda z, a: np.ones_like(z))


def reference(x, t, W1, b1, W2, b2, hidden, output, loss, lr, reduction="mean"):
    """One gradient step of a 2-layer network (rows of x are samples), from the textbook
    formulas. Returns the loss before the step, the outputs, and the new parameters."""
    z1 = x @ W1.T + b1
    a1 = hidden[0](z1)
    z2 = a1 @ W2.T + b2
    if output == "softmax":
        a2 = np.exp(z2) / np.exp(z2).sum(axis=1, keepdims=True)
    else:
        a2 = {"sigmoid": SIGMOID, "tanh": TANH, "linear": LINEAR}[output][0](z2)
    k = t.shape[1]
    if loss == "half_squared_error":
        per = 0.5 * ((t - a2) ** 2).sum(axis=1)
        d2 = (a2 - t) * {"sigmoid": SIGMOID, "tanh": TANH}[output][1](z2, a2)
    elif loss == "mean_squared_error":  # linear output: dE/dz = 2 (a - t) / K
        per = ((t - a2) ** 2).sum(axis=1) / k
        d2 = 2 * (a2 - t) / k
    elif loss == "cross_entropy":  # softmax output: dE/dz = a - t (Goodfellow et al. 6.2.2.3)
        per = -(t * np.log(a2)).sum(axis=1)
        d2 = a2 - t
    elif loss == "binary_cross_entropy":  # sigmoid output: dE/dz = (a - t) / K (6.2.2.2)
        per = -(t * np.log(a2) + (1 - t) * np.log(1 - a2)).sum(axis=1) / k
        d2 = (a2 - t) / k
    d1 = (d2 @ W2) * hidden[1](z1, a1)
    scale = 1 / len(x) if reduction == "mean" else 1.0
    new = {
        "W2": W2 - lr * scale * d2.T @ a1, "b2": b2 - lr * scale * d2.sum(axis=0),
        "W1": W1 - lr * scale * d1.T @ x, "b1": b1 - lr * scale * d1.sum(axis=0),
    }
    return (per.mean() if reduction == "mean" else per.sum()), a2, new


def check_against_reference(name: str, hidden, output: str) -> Trace:
    sc = load(bundled_dir() / f"{name}.yaml")
    (l1, l2) = sc.layers
    trace = run(sc, iterations=1)
    loss, _, new = reference(np.array(sc.x), np.array(sc.targets), np.array(l1.weights),
                             np.array(l1.bias_values), np.array(l2.weights),
                             np.array(l2.bias_values), hidden, output, sc.loss,
                             sc.learning_rate, sc.reduction)
    after = trace.params_final
    assert trace.loss_history[0] == pytest.approx(loss, rel=1e-12)
    for layer, w_key, b_key in ((l1, "W1", "b1"), (l2, "W2", "b2")):
        got_w = [[after[n] for n in row] for row in layer.weight_names]
        np.testing.assert_allclose(got_w, new[w_key], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose([after[n] for n in layer.bias_names], new[b_key],
                                   rtol=1e-12, atol=1e-15)
    return trace


def test_tanh_matches_numpy():
    check_against_reference("tanh", TANH, "tanh")


def test_relu_matches_numpy_and_the_dead_unit_does_not_learn():
    trace = check_against_reference("relu", RELU, "sigmoid")
    steps = {s.id: s.value for s in trace.iterations[0].steps}
    assert steps["net:h2"] < 0 and steps["out:h2"] == 0 and steps["dact:h2"] == 0
    assert steps["grad:w3"] == steps["grad:w4"] == steps["grad:b2"] == 0
    assert steps["grad:w8"] == 0  # h2's output carries nothing forward either


def test_regression_matches_numpy():
    trace = check_against_reference("regression", SIGMOID, "linear")
    assert [it.samples for it in trace.iterations] == [[1, 2, 3]]


def test_softmax_matches_numpy_and_delta_is_out_minus_target():
    trace = check_against_reference("softmax", SIGMOID, "softmax")
    steps = {s.id: s.value for s in trace.iterations[0].steps}
    for k, target in zip(("o1", "o2", "o3"), (0, 1, 0)):
        assert steps[f"dnet:{k}"] == pytest.approx(steps[f"out:{k}"] - target, abs=1e-15)
    assert sum(steps[f"out:{k}"] for k in ("o1", "o2", "o3")) == pytest.approx(1.0)


SOFTMAX_ONLY = """
inputs: [one]
layers:
  - neurons: [c1, c2, c3]
    activation: softmax
    weights: [[{0}], [{1}], [{2}]]
loss: cross_entropy
learning_rate: 1
data:
  - inputs: [1]
    targets: [0, 0, 1]
"""


@pytest.mark.parametrize("scores, probabilities", [
    # CS231n, Linear classification notes, "Softmax classifier provides probabilities":
    # [1, -2, 0] -> [0.7, 0.04, 0.26] and [0.5, -1, 0] -> [0.55, 0.12, 0.33]
    (("1", "-2", "0"), ("0.7", "0.04", "0.26")),
    (("0.5", "-1", "0"), ("0.55", "0.12", "0.33")),
])
def test_softmax_reproduces_cs231n(scores, probabilities):
    trace = run(loads(SOFTMAX_ONLY.format(*scores)))
    assert_printed(trace, {f"out:c{i + 1}": p for i, p in enumerate(probabilities)})


def test_xor_full_batch_matches_numpy_and_learns_xor():
    sc = load(bundled_dir() / "xor.yaml")
    assert sc.batch is None and sc.reduction == "sum"
    check_against_reference("xor", SIGMOID, "sigmoid")
    trace = run(sc)  # the scenario's own iterations
    p = trace.params_final
    W1 = np.array([[p["w1"], p["w2"]], [p["w3"], p["w4"]]])
    b1 = np.array([p["b1"], p["b2"]])
    W2 = np.array([[p["w5"], p["w6"]]])
    b2 = np.array([p["b3"]])
    _, out, _ = reference(np.array(sc.x), np.array(sc.targets), W1, b1, W2, b2, SIGMOID,
                          "sigmoid", sc.loss, sc.learning_rate, "sum")
    assert ((out[:, 0] > 0.5) == (np.array(sc.targets)[:, 0] == 1)).all()
    assert trace.loss_history[-1] < 0.05 < trace.loss_history[0]


def test_xor_sgd_hidden_units_stay_twins():
    trace = run(load(bundled_dir() / "xor_sgd.yaml"), iterations=400, show=set())
    p = trace.params_final
    assert math.isclose(p["w1"], p["w3"]) and math.isclose(p["w2"], p["w4"])
    assert math.isclose(p["w5"], p["w6"]) and math.isclose(p["b1"], p["b2"])
