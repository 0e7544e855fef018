"""The plain-float loop for tiny networks, against the array forms and the vectorised loop.

The two loops do the same operations in the same order, but not always with the same
rounding: OpenBLAS's dot products fuse a multiply and an add (one rounding, where Python
rounds twice), and NumPy's exp and tanh are its own, not the C library's (math.exp). Each
gives at most one unit in the last place (ulp) per operation; the tests bound the result.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bpwalk import engine
from bpwalk.engine import EngineError, run
from bpwalk.functions import ACTIVATIONS, LOSSES
from bpwalk.scenario import bundled_names, load, loads, resolve

RNG = np.random.default_rng(17)
NO_SCALAR_FORM = {"softmax"}  # a function of the whole layer: the vectorised loop only


def _within_ulps(scalar: float, array: float, ulps: int = 2) -> bool:
    return scalar == array or abs(scalar - array) <= ulps * math.ulp(array)


# A chain of library calls, each a last place apart in the two forms (selu's alpha * expm1
# then lambda; mish's tanh of log1p of exp), agrees to 4 ulps rather than 2.
CHAINED = {"selu", "silu", "swish", "mish"}
# Near a zero of the result that terms of about 1 (or net) cancel to, such as silu's
# derivative at net = -1.28, or gelu_tanh at net = -7 where 1 + tanh(u) is 0 or one ulp of
# 1, a last-place difference in exp or tanh is many ulps of the result: there the forms agree
# to 8 ulps of those terms, max(1, |net|). Measured on 400,000 nets: at most 5.75.
CANCELLING = {"silu": ("derivative",), "swish": ("derivative",), "gelu": ("derivative",),
              "mish": ("derivative",), "gelu_tanh": ("value", "derivative")}


def _activation_agrees(name: str, form: str, net: float, scalar: float, array: float) -> bool:
    return (_within_ulps(scalar, array, 4 if name in CHAINED else 2)
            or form in CANCELLING.get(name, ())
            and abs(scalar - array) <= 8 * math.ulp(max(1.0, abs(net))))


def test_every_activation_but_softmax_has_a_scalar_form():
    assert {n for n, a in ACTIVATIONS.items() if a.scalar is None} == NO_SCALAR_FORM
    assert all((a.scalar is None) == (a.scalar_derivative is None) for a in ACTIVATIONS.values())
    assert all(loss.scalar_term and loss.scalar_derivative for loss in LOSSES.values())


@pytest.mark.parametrize("name", sorted(set(ACTIVATIONS) - NO_SCALAR_FORM))
def test_scalar_activation_agrees_with_the_array_form(name):
    act = ACTIVATIONS[name]
    net = np.concatenate([RNG.normal(0, 4, 500), [0.0, -0.0, 1e-300, -30.0, 30.0, -800.0]])
    for slope in (0.01, 0.3):
        with np.errstate(over="ignore"):  # e^800: inf, and the sigmoid's limit 0
            out = act.value(net, slope)
            dact = act.derivative(net, out, slope)
        for n, o, d in zip(net.tolist(), out.tolist(), dact.tolist()):
            assert _activation_agrees(name, "value", n, act.scalar(n, slope), o), (name, n)
            assert _activation_agrees(name, "derivative", n, act.scalar_derivative(n, o, slope),
                                      d), (name, n)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_scalar_loss_agrees_with_the_array_form(name):
    loss = LOSSES[name]
    o = RNG.uniform(0.01, 0.99, (300, 3))
    t = np.where(RNG.random((300, 3)) < 0.3, RNG.integers(0, 2, (300, 3)).astype(float),
                 RNG.uniform(0, 1, (300, 3)))
    terms, derivs = loss.term(o, t, 3), loss.derivative(o, t, 3)
    for oo, tt, e, d in zip(o.ravel().tolist(), t.ravel().tolist(), terms.ravel().tolist(),
                            derivs.ravel().tolist()):
        assert _within_ulps(loss.scalar_term(oo, tt, 3), e), (name, oo, tt)
        assert _within_ulps(loss.scalar_derivative(oo, tt, 3), d), (name, oo, tt)


def _both_loops(monkeypatch, scenario, iterations):
    with monkeypatch.context() as m:
        m.setattr(engine, "TINY_WORK", 10**9)  # every network is tiny: the float loop
        tiny = run(scenario, iterations=iterations, show=set())
        m.setattr(engine, "TINY_WORK", -1)  # no network is tiny: the vectorised loop only
        vectorised = run(scenario, iterations=iterations, show=set())
    return tiny, vectorised


def _relative(a: dict[str, float], b: dict[str, float]) -> float:
    scale = max(1.0, *(abs(v) for v in b.values()))
    return max(abs(a[n] - b[n]) for n in b) / scale


TINY = [n for n in bundled_names() if n not in ("softmax",)]


@pytest.mark.parametrize("name", TINY)
def test_tiny_loop_makes_the_vectorised_updates(monkeypatch, name):
    """One update: the parameters agree to a few ulps (at most 2e-15 of the largest, on the
    bundled examples); 300 updates drift no further than 1e-13."""
    scenario = load(resolve(name)[0])
    tiny, vectorised = _both_loops(monkeypatch, scenario, 2)  # update 2 runs in the loop
    assert _relative(tiny.params_final, vectorised.params_final) <= 2e-15
    tiny, vectorised = _both_loops(monkeypatch, scenario, 300)
    assert _relative(tiny.params_final, vectorised.params_final) <= 1e-13
    np.testing.assert_allclose(tiny.loss_history, vectorised.loss_history, rtol=1e-12,
                               atol=1e-15 * vectorised.loss_history[0])
    assert tiny.loss_updates == vectorised.loss_updates


def _network(inputs: int, hidden: int, extra: str = "") -> str:
    xs = ", ".join(f"x{i}" for i in range(1, inputs + 1))
    row = "[" + ", ".join(["0.1"] * inputs) + "]"
    return (f"inputs: [{xs}]\nloss: half_squared_error\nlearning_rate: 0.5\n{extra}layers:\n"
            f"  - neurons: {hidden}\n    activation: sigmoid\n"
            f"    weights: [{', '.join([row] * hidden)}]\n    bias: 0.1\n"
            f"  - neurons: [o1]\n    activation: sigmoid\n"
            f"    weights: [[{', '.join(['0.2'] * hidden)}]]\n    bias: 0.1\n"
            f"data:\n  - inputs: {row}\n    targets: [0.5]\n")


def test_which_networks_are_tiny():
    """Mazur's 2-2-2 network with one sample is; a wider one, a batch of four samples (the
    XOR example) or a softmax layer is not (see engine.TINY_WORK)."""
    tiny = loads(_network(2, 2))
    wide = loads(_network(8, 8))  # 72 weights
    for scenario, expected in ((tiny, True), (load(resolve("mazur")[0]), True),
                               (wide, False), (load(resolve("xor")[0]), False),
                               (load(resolve("softmax")[0]), False)):
        fast = engine._FastPath(scenario, engine.batches(scenario, 1))
        assert (fast.tiny is not None) == expected


def test_an_update_the_floats_cannot_make_is_left_to_the_vectorised_loop(monkeypatch):
    """ln(0) raises in Python and is -inf in NumPy: the same error, at the same update."""
    scenario = loads(_network(2, 2).replace("half_squared_error", "binary_cross_entropy")
                     .replace("learning_rate: 0.5", "learning_rate: 1e6")
                     .replace("targets: [0.5]", "targets: [1]"))
    messages = []
    for work in (engine.TINY_WORK, -1):
        monkeypatch.setattr(engine, "TINY_WORK", work)
        with pytest.raises(EngineError) as caught:
            run(scenario, iterations=50, show=set())
        messages.append(str(caught.value))
    assert messages[0] == messages[1]


@pytest.mark.parametrize("activation", sorted(set(ACTIVATIONS) - NO_SCALAR_FORM))
def test_tiny_loop_with_every_activation(monkeypatch, activation):
    """A 2-2-1 network with each activation in its hidden layer: the two loops agree."""
    scenario = loads(_network(2, 2).replace("activation: sigmoid", f"activation: {activation}", 1))
    tiny, vectorised = _both_loops(monkeypatch, scenario, 300)
    assert _relative(tiny.params_final, vectorised.params_final) <= 1e-13


@pytest.mark.parametrize("optimizer", ["{name: sgd, weight_decay: 0.01}", "{name: momentum}",
                                       "{name: adam}"])
def test_only_plain_sgd_is_tiny(optimizer):
    """Another optimizer, or SGD with weight decay, carries state or decay that the float
    loop does not compute: the vectorised loop makes those updates."""
    scenario = loads(_network(2, 2, f"optimizer: {optimizer}\n"))
    assert engine._FastPath(scenario, engine.batches(scenario, 1)).tiny is None
