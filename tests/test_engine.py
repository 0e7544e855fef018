"""Engine behaviour beyond Mazur: batches, per-sample ids, rounding, numerics."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from bpwalk.engine import EngineError, batches, run
from bpwalk.numbers import half_up, half_up_floats
from bpwalk.scenario import loads

from .conftest import run_cli


def scenario(**over):
    spec = {
        "inputs": 2,
        "layers": [
            {"neurons": 2, "activation": "sigmoid", "weights": [[0.1, 0.2], [0.3, 0.4]], "bias": 0.1},
            {"neurons": 1, "activation": "sigmoid", "weights": [[0.5, 0.6]], "bias": [0.2]},
        ],
        "loss": "half_squared_error",
        "learning_rate": 0.5,
        "data": [{"inputs": [0, 0], "targets": [0]}, {"inputs": [0, 1], "targets": [1]},
                 {"inputs": [1, 0], "targets": [1]}, {"inputs": [1, 1], "targets": [0]}],
    }
    spec.update(over)
    return loads(yaml.safe_dump(spec), "test.yaml")


def test_batches_are_consecutive_and_cycle():
    assert list(batches(scenario(batch=3), 4)) == [[0, 1, 2], [3], [0, 1, 2], [3]]
    assert list(batches(scenario(batch=1), 5)) == [[0], [1], [2], [3], [0]]
    assert list(batches(scenario(), 2)) == [[0, 1, 2, 3]] * 2


def test_per_sample_ids_and_batch_gradient_is_mean_of_terms():
    it = run(scenario()).iterations[0]
    v = it.values
    assert it.samples == [1, 2, 3, 4]
    assert {"out:o1@1", "out:o1@4", "loss@2", "dnet:h1@3", "grad:w1@4"} <= set(v)
    assert "out:o1" not in v and "grad:w1" in v
    step = it.step("grad:w5")
    assert step.fn == "mean" and [t[0].ref for t in step.terms] == [f"grad:w5@{s}" for s in range(1, 5)]
    assert v["grad:w5"] == pytest.approx(sum(v[f"grad:w5@{s}"] for s in range(1, 5)) / 4, abs=1e-16)
    assert v["loss"] == pytest.approx(sum(v[f"loss@{s}"] for s in range(1, 5)) / 4, abs=1e-16)


def test_sum_reduction_sums():
    v = run(scenario(reduction="sum")).iterations[0].values
    assert v["grad:b2"] == pytest.approx(sum(v[f"grad:b2@{s}"] for s in range(1, 5)), abs=1e-16)


def test_single_sample_batches_have_plain_ids():
    tr = run(scenario(batch=1), iterations=3, show={2})
    it = tr.iterations[0]
    assert it.number == 2 and it.samples == [2]
    assert "out:o1" in it.values and "out:o1@2" not in it.values
    assert len(tr.loss_history) == 4


def test_loss_history_is_data_set_loss_for_mini_batches():
    full = run(scenario(), iterations=1)
    mini = run(scenario(batch=1), iterations=1)
    assert mini.loss_history[0] == pytest.approx(full.loss_history[0], abs=1e-15)


def test_round_rounds_half_up_and_carries_forward():
    tr = run(scenario(), round_to=3)
    for step in tr.iterations[0].steps:
        assert step.value == round(step.value, 3) or abs(step.value * 1000 - round(step.value * 1000)) < 1e-9
        assert step.exact is not None
    spec = {"inputs": 1, "layers": [{"neurons": 1, "activation": "linear", "weights": [[0.5]]}],
            "loss": "half_squared_error", "learning_rate": 1,
            "data": [{"inputs": [0.25], "targets": [0]}]}
    v = run(loads(yaml.safe_dump(spec)), round_to=2).iterations[0].values
    assert v["net:o1"] == 0.13  # 0.125 rounds half up, as by hand (numpy would give 0.12)
    assert v["dout:o1"] == 0.13  # computed from the rounded out, not from 0.125


# values written with one digit past `decimals`, a 5 (ties in decimal, rarely in binary)
_TIES = st.builds(lambda k, d: float(f"{k}5e-{d + 1}"), st.integers(-10**6, 10**6),
                  st.integers(0, 15))


@given(st.lists(st.floats(allow_subnormal=True) | _TIES, min_size=1, max_size=40),
       st.integers(0, 15))
@example([0.145, -0.145, 0.125, 2.675, -0.0, float("nan")], 2)
def test_rounding_an_array_at_once_is_the_decimal_half_up_of_each_value(values, decimals):
    """half_up_floats (the rounded runs' rounding, in floats) gives exactly what the Decimal
    half-up rounding of each value's repr gives: ties, a float just below a written tie
    (0.145 is 0.14499999999999999), huge, tiny, negative zero, inf and nan included."""
    got = half_up_floats(np.array(values), decimals).tolist()
    for v, g in zip(values, got):
        want = float(half_up(v, decimals)) if np.isfinite(v) else v
        assert repr(g) == repr(want), (v, decimals)


def test_extreme_nets_do_not_warn_or_overflow():
    spec = {"inputs": 1, "layers": [
        {"neurons": 2, "activation": "sigmoid", "weights": [[1000.0], [-1000.0]]},
        {"neurons": 2, "activation": "softmax", "weights": [[1000.0, 0.0], [-1000.0, 0.0]]}],
        "loss": "half_squared_error", "learning_rate": 0.1,
        "data": [{"inputs": [1.0], "targets": [1, 0]}]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v = run(loads(yaml.safe_dump(spec))).iterations[0].values
    assert v["out:h1"] == 1.0 and v["out:h2"] == 0.0 and v["out:o1"] == 1.0


def test_ln_zero_names_the_step():
    spec = {"inputs": 1, "layers": [
        {"neurons": 2, "activation": "softmax", "weights": [[1000.0], [-1000.0]]}],
        "loss": "cross_entropy", "learning_rate": 0.1,
        "data": [{"inputs": [1.0], "targets": [0, 1]}]}
    with pytest.raises(EngineError, match=r"update 1, step loss:o2: ln\(0\)"):
        run(loads(yaml.safe_dump(spec)))


def test_divergence_names_the_first_non_finite_step(tmp_path):
    spec = {"inputs": 1, "layers": [{"neurons": 1, "activation": "linear", "weights": [[1.0]]}],
            "loss": "squared_error", "learning_rate": 10.0,
            "data": [{"inputs": [3.0], "targets": [0]}]}
    # the error 3w grows 1 - 2·10·9 = -179 times per update: the loss passes 1e6 times its
    # start (9) at update 3, long before it overflows (tests/test_divergence.py has both)
    with pytest.raises(EngineError, match=r"update 3: the loss E = \S+ is more than 1e\+06"):
        run(loads(yaml.safe_dump(spec)), iterations=2000)
    path = tmp_path / "diverges.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = run_cli("export", str(path), "--iterations", "2000")
    assert result.returncode == 2
    last = result.stderr.rstrip().splitlines()[-1]
    assert last.startswith(f"{path}: update ") and "smaller learning_rate" in last
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_show_none_trains_without_explaining():
    result = run_cli("export", "mazur", "--iterations", "50", "--show", "none")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["iterations"] == [] and len(data["loss_history"]) == 51
    shown = json.loads(run_cli("export", "mazur", "--iterations", "50").stdout)
    assert data["loss_history"] == shown["loss_history"]  # explaining update 1 changes nothing
    text = run_cli("run", "mazur", "--iterations", "50", "--show", "none").stdout
    assert "Forward pass" not in text and "Loss after 50 updates" in text
