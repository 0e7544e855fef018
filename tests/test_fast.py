"""The vectorised loop's in-place forms: the numbers of the forms they stand for, bit for bit.

The loop writes every intermediate array into buffers made once per run, and updates the
parameters in place (engine.fast._Buffers, Activation.value_into, optimizers.sgd_in_place); an
in-place operation is the same float64 operation as the expression it replaces, so every
number must be identical, not merely close.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from bpwalk import optimizers
from bpwalk.engine import run
from bpwalk.functions import ACTIVATIONS
from bpwalk.scenario import loads

RNG = np.random.default_rng(15)
IN_PLACE = sorted(n for n, a in ACTIVATIONS.items() if a.value_into)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_the_in_place_forms_come_in_pairs():
    assert {"sigmoid", "tanh"} <= set(IN_PLACE)
    assert all((a.value_into is None) == (a.derivative_into is None) for a in ACTIVATIONS.values())


@pytest.mark.parametrize("name", IN_PLACE)
def test_in_place_activation_gives_the_array_forms_numbers(name):
    act = ACTIVATIONS[name]
    net = np.concatenate([RNG.normal(0, 4, 498), [0.0, -0.0, 1e-300, -30.0, 30.0, -800.0,
                                                  np.inf, -np.inf, np.nan, 800.0]]).reshape(-1, 4)
    with np.errstate(all="ignore"):
        out = act.value(net, 0.01)
        into = np.full_like(net, 7.0)
        assert act.value_into(net, 0.01, into) is into
        assert _same_bits(into, out)
        dact = act.derivative(net, out, 0.01)
        into = np.full_like(net, 7.0)
        assert act.derivative_into(net, out, 0.01, into) is into
        assert _same_bits(into, dact)


def test_sgd_in_place_is_the_rules_update():
    p, g = RNG.normal(0, 1, 300), RNG.normal(0, 1, 300)
    new, _ = optimizers.update(optimizers.SGD, p, g, {}, 1, 0.37)
    p2, g2 = p.copy(), g.copy()
    optimizers.sgd_in_place(p2, g2, 0.37)
    assert _same_bits(p2, new)


def _scenario(**over) -> str:
    rng = np.random.default_rng(3)
    spec = {
        "inputs": 3,
        "layers": [
            {"neurons": 5, "activation": "tanh", "weights": rng.uniform(-1, 1, (5, 3)).tolist(),
             "bias": rng.uniform(-0.1, 0.1, 5).tolist()},
            {"neurons": 4, "activation": "relu", "weights": rng.uniform(-1, 1, (4, 5)).tolist(),
             "bias": 0.1},
            {"neurons": 2, "activation": "sigmoid", "weights": rng.uniform(-1, 1, (2, 4)).tolist(),
             "bias": rng.uniform(-0.1, 0.1, 2).tolist()},
        ],
        "loss": "half_squared_error",
        "learning_rate": 0.3,
        "data": [{"inputs": rng.uniform(0, 1, 3).tolist(), "targets": rng.uniform(0, 1, 2).tolist()}
                 for _ in range(7)],
    }
    spec.update(over)
    return yaml.safe_dump(spec)


@pytest.mark.parametrize("over", [{}, {"batch": 3}, {"batch": 3, "optimizer": {"name": "adam"}},
                                  {"reduction": "sum", "learning_rate": 0.05},
                                  {"optimizer": {"name": "sgd", "weight_decay": 0.01}}])
def test_the_fast_loop_agrees_with_explained_updates(over):
    """Batches of 3, 3 and 1 samples (two sizes of buffers, and the data set's for its loss),
    layers with and without in-place forms, plain SGD in place and the other rules."""
    scenario = loads(_scenario(**over), "fast.yaml")
    fast = run(scenario, iterations=40, show=set())
    explained = run(scenario, iterations=40, show=set(range(1, 41)))
    np.testing.assert_allclose(fast.loss_history, explained.loss_history, rtol=1e-13)
    for name, value in explained.params_final.items():
        assert fast.params_final[name] == pytest.approx(value, rel=1e-12, abs=1e-15)


def test_training_in_place_leaves_the_scenario_as_it_was():
    """The parameters are updated in place, in the loop's own copy: the scenario's arrays,
    and a second run of it, are untouched by the first."""
    scenario = loads(_scenario(), "fast.yaml")
    weights = [lay.weights.copy() for lay in scenario.layers]
    first = run(scenario, iterations=30, show=set())
    assert all(np.array_equal(w, lay.weights) for w, lay in zip(weights, scenario.layers))
    again = run(scenario, iterations=30, show=set())
    assert again.loss_history == first.loss_history
    assert again.params_final == first.params_final
    assert first.params_first == again.params_first != first.params_final
