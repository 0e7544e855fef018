"""Every gradient the engine reports agrees with a finite difference of the loss.

Random networks (every activation, every loss, every bias form, full and mini batches, mean
and sum) are written as scenario YAML, loaded, and run. Each reported ``grad:PARAM`` is compared
with a fourth-order central difference of the batch loss the engine reports for the same
update, the parameter nudged in the scenario itself. Agreement is required to 1e-6 relative
(with a 1e-9 absolute floor for gradients that are essentially zero).
"""

from __future__ import annotations

import copy
import importlib.util

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bpwalk.engine import EngineError, run
from bpwalk.functions import ACTIVATIONS, LOSSES
from bpwalk.scenario import loads

OUTPUT_NEEDS = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid"}
HIDDEN = [a for a, spec in ACTIVATIONS.items() if not spec.output_only]
# A kink at 0 within reach of the nudges makes the difference meaningless: relu's and leaky
# relu's slope jumps there, as elu's (α ≠ 1) and selu's do; elu's with α = 1 is continuous but
# its curvature jumps, and the fourth-order difference is then only first-order accurate.
KINKED = {"relu", "leaky_relu", "elu", "selu"}
H = 1e-3


@st.composite
def networks(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    loss = draw(st.sampled_from(sorted(LOSSES)))
    out_act = OUTPUT_NEEDS.get(loss) or draw(st.sampled_from(sorted(ACTIVATIONS)))
    sizes = draw(st.lists(st.integers(1, 3), min_size=0, max_size=2))
    n_in = draw(st.integers(1, 3))
    n_out = draw(st.integers(2 if out_act == "softmax" else 1, 3))
    widths = sizes + [n_out]
    layers, fan_in = [], n_in
    for i, width in enumerate(widths):
        act = out_act if i == len(widths) - 1 else draw(st.sampled_from(HIDDEN))
        layer = {
            "neurons": width,
            "activation": act,
            "weights": rng.uniform(-1.5, 1.5, (width, fan_in)).round(3).tolist(),
        }
        bias = draw(st.sampled_from(["none", "shared", "per_neuron"]))
        if bias == "shared":
            layer["bias"] = round(float(rng.uniform(-1, 1)), 3)
        elif bias == "per_neuron":
            layer["bias"] = rng.uniform(-1, 1, width).round(3).tolist()
        if act == "leaky_relu" and draw(st.booleans()):
            layer["slope"] = 0.1
        if act == "elu" and draw(st.booleans()):
            layer["alpha"] = 0.5
        layers.append(layer)
        fan_in = width
    n_samples = draw(st.integers(1, 4))
    data = []
    for _ in range(n_samples):
        if loss == "cross_entropy":
            t = np.zeros(n_out)
            t[rng.integers(n_out)] = 1.0
        elif loss == "binary_cross_entropy":
            t = rng.uniform(0, 1, n_out).round(2)
        else:
            t = rng.uniform(-1, 1, n_out).round(2)
        data.append({"inputs": rng.uniform(-2, 2, n_in).round(2).tolist(), "targets": t.tolist()})
    batch = draw(st.sampled_from(["full"] + list(range(1, n_samples + 1))))
    return {
        "inputs": n_in,
        "layers": layers,
        "loss": loss,
        "learning_rate": 0.5,
        "data": data,
        "batch": batch,
        "reduction": draw(st.sampled_from(["mean", "sum"])),
    }


def _batch_loss(spec: dict) -> float:
    trace = run(loads(yaml.safe_dump(spec)), iterations=1)
    return trace.iterations[0].values["loss"]


def _nudged(spec: dict, where: tuple, delta: float) -> dict:
    out = copy.deepcopy(spec)
    layer = out["layers"][where[0]]
    if where[1] == "w":
        layer["weights"][where[2]][where[3]] += delta
    elif isinstance(layer["bias"], list):
        layer["bias"][where[2]] += delta
    else:
        layer["bias"] += delta
    return out


def _finite_difference(spec: dict, where: tuple) -> float:
    f = [_batch_loss(_nudged(spec, where, k * H)) for k in (-2, -1, 1, 2)]
    return (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * H)


def _param_positions(spec: dict, scenario) -> dict[str, tuple]:
    where = {}
    for li, (layer, lay) in enumerate(zip(spec["layers"], scenario.layers)):
        for j, row in enumerate(lay.weight_names):
            for i, name in enumerate(row):
                where[name] = (li, "w", j, i)
        for j, name in enumerate(lay.bias_names):
            where[name] = (li, "b", j)
    return where


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_gradients_match_finite_differences(spec):
    scenario = loads(yaml.safe_dump(spec))
    try:
        trace = run(scenario, iterations=1)
    except EngineError as e:  # the one step diverged: the engine refuses it (no trace to check)
        assert "training diverged" in str(e)
        assume(False)
    values = trace.iterations[0].values
    for li, lay in enumerate(scenario.layers):
        if lay.activation in KINKED:
            nets = [v for k, v in values.items() if k.startswith("net:")
                    and k.split(":")[1].split("@")[0] in lay.neurons]
            assume(all(abs(v) > 0.05 for v in nets))
    positions = _param_positions(spec, scenario)
    assert positions, "every network has parameters"
    for name, where in positions.items():
        grad = values[f"grad:{name}"]
        fd = _finite_difference(spec, where)
        assert abs(grad - fd) <= 1e-6 * max(abs(grad), abs(fd)) + 1e-9, (name, grad, fd)
        # the update follows the gradient: new = old - learning_rate * gradient
        assert values[f"new:{name}"] == trace.iterations[0].params_before[name] - 0.5 * grad


def test_softmax_cross_entropy_delta_is_out_minus_target():
    spec = {
        "inputs": 2,
        "layers": [{"neurons": 3, "activation": "softmax",
                    "weights": [[0.1, 0.2], [-0.3, 0.4], [0.5, -0.6]], "bias": [0.1, 0.0, -0.1]}],
        "loss": "cross_entropy", "learning_rate": 0.1,
        "data": [{"inputs": [1.0, 2.0], "targets": [0, 1, 0]}],
    }
    it = run(loads(yaml.safe_dump(spec))).iterations[0]
    for k, name in enumerate(["o1", "o2", "o3"]):
        step = it.step(f"dnet:{name}")
        out, target = (op.value for op in step.aux)
        assert abs(step.value - (out - target)) < 1e-15
        assert len(step.terms) == 3  # the full Jacobian sum is shown


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_fast_loop_agrees_with_explained_updates(spec):
    """The unexplained iterations run a separate vectorised loop: it must do the same updates."""
    scenario = loads(yaml.safe_dump(spec))
    outcomes = []
    for show in ({1, 2, 3, 4}, set()):
        try:
            outcomes.append(run(scenario, iterations=4, show=show))
        except EngineError as e:  # a diverging network must stop on both paths, same update
            outcomes.append(str(e).split(",")[0])
    explained, fast = outcomes
    if isinstance(explained, str) or isinstance(fast, str):
        assert explained == fast
        return
    assert not fast.iterations and len(explained.iterations) == 4
    np.testing.assert_allclose(fast.loss_history, explained.loss_history, rtol=1e-12, atol=1e-15)
    for name, value in explained.params_final.items():
        assert abs(fast.params_final[name] - value) <= 1e-12 * max(1.0, abs(value)), name


SMOOTH_AWAY_FROM_0 = {"relu", "leaky_relu", "elu", "selu", "softsign"}  # kinked at 0 only


@pytest.mark.parametrize("name", [a for a, spec in ACTIVATIONS.items() if not spec.output_only])
def test_each_activation_derivative_is_its_values_slope(name):
    # A fourth-order central difference of the value, at points away from a kink at 0.
    act = ACTIVATIONS[name]
    setting = act.default if act.parameter else 0.0
    net = np.array([-4.0, -2.5, -1.0, -0.3, -0.05, 0.05, 0.3, 1.0, 2.5, 4.0])
    h = 1e-3

    def f(x):
        return act.value(x, setting)

    fd = (-f(net + 2 * h) + 8 * f(net + h) - 8 * f(net - h) + f(net - 2 * h)) / (12 * h)
    exact = act.derivative(net, f(net), setting)
    np.testing.assert_allclose(exact, fd, rtol=1e-8, atol=1e-10)


def test_the_derivative_check_can_fail():
    # softplus's derivative is the sigmoid; tanh's is not, and the check tells them apart.
    net = np.array([0.3, 1.0])
    sp, th = ACTIVATIONS["softplus"], ACTIVATIONS["tanh"]
    assert not np.allclose(th.derivative(net, th.value(net, 0.0), 0.0),
                           sp.derivative(net, sp.value(net, 0.0), 0.0), rtol=1e-8)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                    reason="torch not installed (pip install -e '.[bench]')")
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "elu", "selu", "softplus", "softsign",
                                  "silu", "swish", "gelu", "gelu_tanh", "mish"])
def test_activation_and_derivative_match_torch_autograd(name):
    import torch

    from .torch_net import ACTIVATIONS as TORCH

    act = ACTIVATIONS[name]
    net = np.linspace(-4.0, 4.0, 33)
    x = torch.tensor(net, dtype=torch.float64, requires_grad=True)
    y = TORCH[name](x)
    y.sum().backward()
    setting = act.default if act.parameter else 0.0
    out = act.value(net, setting)
    np.testing.assert_allclose(out, y.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(act.derivative(net, out, setting), x.grad.numpy(),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("batch", ["full", 1])
def test_input_gradients_match_finite_differences(batch):
    # din:x@S is dE_S/dx for sample S's own loss (like the per-sample grad steps).
    spec = {
        "inputs": 2,
        "layers": [{"neurons": 3, "activation": "gelu", "bias": [0.1, -0.2, 0.3],
                    "weights": [[0.4, -0.6], [0.9, 0.2], [-0.3, 0.5]]},
                   {"neurons": 2, "activation": "sigmoid", "bias": 0.1,
                    "weights": [[0.3, -0.8, 0.5], [0.7, 0.1, -0.4]]}],
        "loss": "half_squared_error", "learning_rate": 0.5, "batch": batch,
        "input_gradients": True,
        "data": [{"inputs": [0.5, -1.0], "targets": [0.2, 0.9]},
                 {"inputs": [1.5, 0.25], "targets": [0.7, 0.1]}],
    }
    values = run(loads(yaml.safe_dump(spec))).iterations[0].values
    for s, sample in enumerate(spec["data"][:1 if batch == 1 else 2]):
        for i, name in enumerate(["x1", "x2"]):
            def loss_at(dx: float, s: int = s, i: int = i) -> float:
                nudged = copy.deepcopy(spec)
                nudged["data"][s]["inputs"][i] += dx
                its = run(loads(yaml.safe_dump(nudged))).iterations[0].values
                return its["loss" if batch == 1 else f"loss@{s + 1}"]

            fd = (-loss_at(2 * H) + 8 * loss_at(H) - 8 * loss_at(-H) + loss_at(-2 * H)) / (12 * H)
            key = f"din:{name}" if batch == 1 else f"din:{name}@{s + 1}"
            assert values[key] == pytest.approx(fd, rel=1e-6, abs=1e-9), key


def test_input_gradients_are_off_unless_asked():
    spec = {"inputs": 1, "layers": [{"neurons": 1, "activation": "tanh", "weights": [[0.5]]}],
            "loss": "half_squared_error", "learning_rate": 0.5,
            "data": [{"inputs": [1.0], "targets": [0.0]}]}
    assert not any(k.startswith("din:") for k in run(loads(yaml.safe_dump(spec)))
                   .iterations[0].values)
