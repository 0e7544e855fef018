"""The drawing rules (bpwalk.handwork): numbers worth working by hand, for `bpwalk new` and
the variants of `bpwalk lms`.

Every rule has a draw that breaks it; 1,000 draws are checked against what the engine's own
trace says; and drawn problems are checked with the judge itself: every mistake it can name
in a step, written at the asked decimals, is not taken for the right answer.
"""

from __future__ import annotations

import itertools

import pytest

from bpwalk import handwork
from bpwalk.engine import run
from bpwalk.judge import Judge, at_decimals
from bpwalk.practice import generator, problem
from bpwalk.scenario import loads
from bpwalk.template import activations_for, practice_text, render

from .conftest import run_cli

SHAPES = [([2, 2, 1], "sigmoid", "half_squared_error"), ([2, 3, 2], "tanh", "mean_squared_error"),
          ([3, 4, 3], "relu", "cross_entropy"), ([2, 2, 2], "sigmoid", "binary_cross_entropy")]


def drawn(sizes, activation, loss, rng):
    acts = activations_for(activation, loss, len(sizes) - 1)
    numbers = problem(rng, sizes, acts, loss, 2)
    return loads(render(numbers, sizes, acts, loss, 0, 2, [], "p.yaml"), "p.yaml")


def scenario(weights_o, weights_h, activation="sigmoid", loss="half_squared_error",
             inputs="[0.5, 0.5]", targets="[0.5]"):
    return loads(f"""inputs: [i1, i2]
layers:
  - neurons: [h1, h2]
    activation: {activation}
    weights: {weights_h}
    bias: [0.1, 0.1]
  - neurons: [o1]
    activation: {"sigmoid" if activation in ("relu", "tanh") else activation}
    weights: {weights_o}
    bias: [0.1]
loss: {loss}
learning_rate: 0.5
data:
  - inputs: {inputs}
    targets: {targets}
""", "fixture.yaml")


def first_broken(sc, **kw) -> str:
    got = handwork.broken(handwork.Draw(sc, **kw), every=True)
    return got[0].split(":")[0] if got else ""


def test_each_rule_rejects_a_draw_that_breaks_it():
    # sigmoid at net = 0.9*5*... > 2.5: saturated
    assert first_broken(scenario("[[0.4, 0.3]]", "[[3.0, 3.0], [0.2, 0.3]]")) == "saturation"
    # every ReLU input negative
    assert first_broken(scenario("[[0.4, 0.3]]", "[[-0.5, -0.5], [-0.2, -0.3]]",
                                 activation="relu")) == "relu"
    # an answer below 1e-4: the output's error term when the target is all but met
    sc = scenario("[[0.4, 0.3]]", "[[0.1, 0.2], [0.2, 0.3]]")
    out = {s.id: s.value for s in run(sc).iterations[0].steps}["out:o1"]
    near = scenario("[[0.4, 0.3]]", "[[0.1, 0.2], [0.2, 0.3]]", targets=f"[{out + 1e-6!r}]")
    assert first_broken(near, asked=["dout:o1"]) == "small"
    # two neighbours equal at 6 decimals: the same weights give h1 and h2 the same values,
    # which is not equal by definition only through the bias
    twins = scenario("[[0.4, 0.3]]", "[[0.1, 0.2], [0.1, 0.2]]")
    assert first_broken(twins, asked=["out:h1", "out:h2"]) == ""  # exactly equal: allowed
    sc2 = scenario("[[0.4, 0.3]]", "[[0.1, 0.2], [0.1, 0.2000001]]")
    assert first_broken(sc2, asked=["out:h1", "out:h2"]) == "neighbours"


def test_softmax_near_uniform_is_redrawn():
    sc = loads("""inputs: [i1, i2]
layers:
  - neurons: [o1, o2]
    activation: softmax
    weights: [[0.01, 0.02], [0.02, 0.01]]
    bias: [0, 0]
loss: cross_entropy
learning_rate: 0.5
data:
  - inputs: [0.5, 0.5]
    targets: [1, 0]
""", "soft.yaml")
    assert first_broken(sc) == "softmax"


def test_a_hidden_mistake_is_one_the_judge_cannot_tell_from_the_right_answer():
    """The 'mistakes' rule, checked by the judge itself: the first 2-2-1 sigmoid draw of
    seed 1 breaks it at 4 decimals, and the mistaken value it names, written at 4 decimals,
    is judged right."""
    sc = drawn([2, 2, 1], "sigmoid", "half_squared_error", generator(1))
    d = handwork.Draw(sc, decimals=4)
    why = handwork.broken(d)
    assert why and why[0].startswith("mistakes: ")
    kind, _, step = why[0].removeprefix("mistakes: ").split(" gives ")[0].partition(" in ")
    wrong = {(s, k): v for s, k, v in handwork.mistakes(d.judge, [step])}[(step, kind)]
    assert Judge(sc).judge_one(step, at_decimals(wrong, 4)).correct


@pytest.mark.parametrize("sizes, activation, loss", SHAPES)
def test_1000_draws_are_classified_as_the_trace_says(sizes, activation, loss):
    """250 draws per shape, 1,000 in all: the cheap rules' verdicts agree with the engine's
    trace read directly (the mistakes rule, which re-runs the engine per mistake, is checked
    on whole problems below)."""
    rng = generator(2026)
    cheap = [r for r in handwork.RULES if r.name != "mistakes"]
    for _ in range(250):
        sc = drawn(sizes, activation, loss, rng)
        steps = run(sc).iterations[0].steps
        d = handwork.Draw(sc)
        verdict = {r.name: r.broken(d) is not None for r in cheap}
        layer_act = {i + 1: lay.activation for i, lay in enumerate(sc.layers)}
        nets = [(s.layer, s.value) for s in steps if s.kind == "net"]
        assert verdict["saturation"] == any(
            layer_act[k] in ("sigmoid", "tanh") and abs(v) > 2.5 for k, v in nets)
        relu_layers = {k for k, _ in nets if layer_act[k] == "relu"}
        assert verdict["relu"] == any(all(v <= 0 for k2, v in nets if k2 == k)
                                      for k in relu_layers)
        assert verdict["small"] == any(0 < abs(s.value) < 1e-4 for s in steps)
        pairs = itertools.pairwise(s.value for s in steps)
        assert verdict["neighbours"] == any(
            a != b and at_decimals(a, 6) == at_decimals(b, 6) for a, b in pairs)
        # every input, weight and bias has at most 2 decimals
        given = [*sc.x[0], *(w for lay in sc.layers for w in lay.weights.ravel()),
                 *(b for lay in sc.layers for b in lay.bias_values)]
        assert all(abs(round(v, 2) - v) < 1e-12 for v in given)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("sizes, activation, loss", SHAPES[:2])
def test_a_new_problem_lets_the_judge_name_every_mistake(sizes, activation, loss, seed):
    """Every mistake the judge can name in a step of a problem 'bpwalk new' draws, written at
    the asked decimals, is judged wrong (so it can be told from the right answer), and the problem
    meets every rule."""
    shape = "-".join(map(str, sizes))
    sc = loads(practice_text(shape, activation, loss, seed, 2), "p.yaml")
    d = handwork.Draw(sc)
    assert handwork.broken(d, every=True) == []
    judge = Judge(sc)
    for step, kind, wrong in handwork.mistakes(d.judge, list(d.judge.by_id)):
        res = judge.judge_one(step, at_decimals(wrong, handwork.ASK_DECIMALS))
        assert not res.correct, (step, kind)


def test_explain_rules_prints_every_rule_in_80_columns():
    r = run_cli("new", "--explain-rules")
    assert r.returncode == 0 and r.stderr == ""
    assert max(map(len, r.stdout.splitlines())) <= 80
    flat = " ".join(r.stdout.split())
    assert all(" ".join(rule.text.split()) in flat for rule in handwork.RULES)
    assert run_cli("new").returncode == 2
