"""Practice problems (`bpwalk new`) and drawn starting values (`init:`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bpwalk.cli import app
from bpwalk.engine import run
from bpwalk.scenario import INIT_SCHEMES, ScenarioError, loads
from bpwalk.scenario.examples import SCHEMA_HINT
from bpwalk.template import SCHEMA_MODELINE, PracticeError, practice_text

runner = CliRunner()


def bpwalk(*args: str):
    return runner.invoke(app, list(args))


# ----------------------------------------------------------------------------- bpwalk new


def test_new_writes_a_valid_scenario_and_never_overwrites(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = bpwalk("new", "practice.yaml", "--seed", "3")
    assert first.exit_code == 0, first.output
    text = Path("practice.yaml").read_text()
    assert bpwalk("validate", "practice.yaml").exit_code == 0
    again = bpwalk("new", "practice.yaml", "--seed", "4")
    assert again.exit_code == 2
    assert "--force" in again.output
    assert Path("practice.yaml").read_text() == text  # untouched
    forced = bpwalk("new", "practice.yaml", "--seed", "4", "--force")
    assert forced.exit_code == 0 and Path("practice.yaml").read_text() != text
    assert not [p for p in os.listdir(".") if p.endswith(".tmp")]  # atomic: no leftovers


def test_new_is_reproducible_from_the_seed():
    a = practice_text("2-3-2", "tanh", "mean_squared_error", 11, 2)
    assert a == practice_text("2-3-2", "tanh", "mean_squared_error", 11, 2)
    assert a != practice_text("2-3-2", "tanh", "mean_squared_error", 12, 2)


def test_new_without_seed_writes_the_seed_it_chose(tmp_path):
    out = bpwalk("new", str(tmp_path / "p.yaml"))
    assert out.exit_code == 0
    text = (tmp_path / "p.yaml").read_text()
    seed = text.split("--seed ")[1].split()[0]
    assert text == practice_text("2-2-1", "sigmoid", "half_squared_error", int(seed), 2, "p.yaml")


@pytest.mark.parametrize("shape, activation, loss", [
    ("2-2-1", "sigmoid", "half_squared_error"),
    ("2-2-2", "sigmoid", "squared_error"),
    ("3-4-3", "relu", "cross_entropy"),
    ("2-3-1", "leaky_relu", "binary_cross_entropy"),
    ("2-3-2-1", "tanh", "mean_squared_error"),
    ("1-1", "linear", "half_squared_error"),
])
@pytest.mark.parametrize("seed", [0, 1, 99])
def test_new_numbers_are_hand_friendly(shape, activation, loss, seed):
    text = practice_text(shape, activation, loss, seed, 2)
    sc = loads(text)
    assert "-".join(str(n) for n in [len(sc.inputs)] + [len(la.neurons) for la in sc.layers]) == shape
    values = [v for la in sc.layers for v in [*la.weights.ravel(), *la.bias_values]]
    values += [*sc.x.ravel(), *sc.targets.ravel()]
    assert all(abs(v) <= 1 and round(v, 2) == v for v in values)
    assert all(w != 0 for la in sc.layers for w in la.weights.ravel())
    run(sc)  # and it computes
    if loss == "cross_entropy":
        assert sc.layers[-1].activation == "softmax" and sorted(sc.targets[0]) == [0] * 2 + [1]


def test_new_comments_name_every_weight():
    text = practice_text("2-2-1", "sigmoid", "half_squared_error", 5, 2)
    data = yaml.safe_load(text)
    row = data["layers"][0]["weights"][0]
    line = next(li for li in text.splitlines() if "# w1: i1 -> h1, w2: i2 -> h1" in li)
    assert line.split("#")[0].strip() == "- [" + ", ".join(f"{v:g}" for v in row) + "]"
    # the modeline names the schema file; the next line says how to make it (#13)
    assert text.startswith(f"{SCHEMA_MODELINE}\n{SCHEMA_HINT}\n")


@pytest.mark.parametrize("args, message", [
    (["--shape", "2"], "--shape"),
    (["--shape", "2-a-1"], "--shape"),
    (["--shape", "2-40-1"], "--shape"),
    (["--activation", "sigmod"], "did you mean 'sigmoid'"),
    (["--activation", "softmax"], "only for the output layer"),
    (["--loss", "hinge"], "choose one of"),
    (["--loss", "mse"], "did you mean 'mean_squared_error'"),  # the alias table (#13)
])
def test_new_refuses_bad_options(tmp_path, args, message):
    out = bpwalk("new", str(tmp_path / "p.yaml"), *args)
    assert out.exit_code == 2
    assert message in out.output
    assert not (tmp_path / "p.yaml").exists()
    assert "Traceback" not in out.output


def test_practice_error_is_a_value_error():
    with pytest.raises(PracticeError):
        practice_text("0-1", "sigmoid", "half_squared_error", 1, 2)


# ----------------------------------------------------------------------------- init:

INIT = """\
inputs: [i1, i2]
layers:
  - neurons: [h1, h2, h3]
    activation: sigmoid
  - neurons: [o1]
    activation: sigmoid
    weights: [[0.1, 0.2, 0.3]]
    bias: null
loss: half_squared_error
learning_rate: 0.5
init: {init}
data:
  - inputs: [0.5, 0.1]
    targets: [1]
"""


@pytest.mark.parametrize("scheme", ["uniform", "xavier", "he"])
def test_init_draws_missing_values_reproducibly(scheme):
    text = INIT.format(init=f"{{seed: 7, scheme: {scheme}}}")
    a, b = loads(text), loads(text)
    assert a.layers[0].weights.tolist() == b.layers[0].weights.tolist()
    assert a.layers[0].weights.shape == (3, 2) and a.layers[0].bias == "per_neuron"
    assert a.layers[1].weights.tolist() == [[0.1, 0.2, 0.3]]  # given values are kept
    assert a.layers[1].bias == "none"  # bias: null means no bias, init or not
    assert a.init["drawn"] == ["w1", "w2", "w3", "w4", "w5", "w6", "b1", "b2", "b3"]
    assert all(round(v, 2) == v for v in a.layers[0].weights.ravel())
    other = loads(INIT.format(init=f"{{seed: 8, scheme: {scheme}}}"))
    assert other.layers[0].weights.tolist() != a.layers[0].weights.tolist()
    if scheme != "uniform":
        assert a.layers[0].bias_values.tolist() == [0, 0, 0]
    if scheme == "xavier":  # Glorot & Bengio: |w| <= sqrt(6 / (fan_in + fan_out))
        assert abs(a.layers[0].weights).max() <= (6 / 5) ** 0.5 + 0.005


def test_init_values_are_the_scenarios_weights_everywhere():
    sc = loads(INIT.format(init="{seed: 1, scheme: uniform, decimals: 1}"))
    trace = run(sc)
    net_h1 = next(s for s in trace.iterations[0].steps if s.id == "net:h1")
    w = {o.ref: o.value for term in net_h1.terms for o in term}
    assert w["param:w1"] == sc.layers[0].weights[0, 0] == trace.params_first["w1"]
    assert sc.to_dict()["init"]["seed"] == 1
    assert sc.to_dict()["layers"][0]["weights"] == sc.layers[0].weights.tolist()
    assert all(round(v, 1) == v for v in sc.layers[0].weights.ravel())


@pytest.mark.parametrize("init, message, at", [
    ("{scheme: xavier}", "init is missing 'seed'", "{"),
    ("{seed: -1}", "init seed must be a whole number of at least 0", "-1"),
    ("{seed: 1, scheme: xavir}", "did you mean 'xavier'", "xavir"),
    ("{seed: 1, decimals: 12}", "init decimals must be at most 9", "12"),
    ("{seed: 1, sed: 2}", "unknown key 'sed' in init", "sed"),
    ("3", "init must be a mapping", "3"),
])
def test_init_errors_point_at_the_problem(init, message, at):
    text = INIT.format(init=init)
    line = next(i for i, li in enumerate(text.splitlines(), 1) if li.startswith("init:"))
    col = text.splitlines()[line - 1].index(at) + 1
    with pytest.raises(ScenarioError) as e:
        loads(text, "s.yaml")
    assert str(e.value).startswith(f"s.yaml:{line}:{col}: ")
    assert message in str(e.value)


def test_init_with_nothing_to_draw_is_refused():
    text = INIT.format(init="{seed: 1}").replace(
        "    activation: sigmoid\n  - neurons: [o1]",
        "    activation: sigmoid\n    weights: [[1, 2], [3, 4], [5, 6]]\n    bias: 0.1\n"
        "  - neurons: [o1]")
    with pytest.raises(ScenarioError, match="init has nothing to draw"):
        loads(text)


def test_missing_weights_without_init_is_still_an_error():
    text = INIT.replace("init: {init}\n", "")
    with pytest.raises(ScenarioError, match="layer 1 is missing 'weights'"):
        loads(text)


init_values = st.one_of(st.none(), st.booleans(), st.integers(-3, 2**33), st.floats(),
                        st.text(max_size=6), st.sampled_from(INIT_SCHEMES),
                        st.lists(st.integers(), max_size=2))


@settings(max_examples=200, deadline=None)
@given(st.one_of(init_values, st.dictionaries(st.sampled_from(["seed", "scheme", "decimals", "x"]),
                                              init_values, max_size=4)),
       st.booleans(), st.booleans())
def test_random_init_never_crashes(init, drop_weights, drop_bias):
    doc = yaml.safe_load(INIT.format(init="{seed: 1}"))
    doc["init"] = init
    if drop_weights:
        del doc["layers"][1]["weights"]
    if drop_bias:
        del doc["layers"][1]["bias"]
    try:
        sc = loads(yaml.safe_dump(doc), "fuzz.yaml")
    except ScenarioError as e:
        assert all(str(p).startswith("fuzz.yaml:") for p in e.problems)
        return
    run(sc)
