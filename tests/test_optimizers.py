"""Optimizers: torch.optim's numbers, state carried across updates, one Adam step by hand.

The torch comparisons are optional (torch is the 'bench' extra) and skip without it.
"""

from __future__ import annotations

import importlib.util
import math

import pytest
import yaml

from bpwalk.engine import batches, run
from bpwalk.optimizers import NAMES
from bpwalk.scenario import load, loads

from .conftest import SCENARIOS

has_torch = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not has_torch, reason="torch not installed (pip install "
                                                       "-e '.[bench]')")
RTOL = 1e-9  # the bar: bpwalk and torch differ only in rounding order


def network(optimizer: dict | None = None, **over) -> dict:
    """A 2-3-2 network (tanh, then sigmoid; per-neuron biases) and four samples."""
    spec = {
        "inputs": 2,
        "layers": [
            {"neurons": 3, "activation": "tanh",
             "weights": [[0.1, -0.2], [0.3, 0.4], [-0.5, 0.25]], "bias": [0.1, -0.1, 0.05]},
            {"neurons": 2, "activation": "sigmoid",
             "weights": [[0.5, 0.6, -0.3], [-0.4, 0.2, 0.7]], "bias": [0.2, -0.3]},
        ],
        "loss": "half_squared_error",
        "learning_rate": 0.1,
        "data": [{"inputs": [0, 1], "targets": [0, 1]}, {"inputs": [1, 0], "targets": [1, 0]},
                 {"inputs": [1, 1], "targets": [0, 0]}, {"inputs": [0.5, -1], "targets": [1, 1]}],
    }
    if optimizer:
        spec["optimizer"] = optimizer
    spec.update(over)
    return spec


def scenario(optimizer: dict | None = None, **over):
    return loads(yaml.safe_dump(network(optimizer, **over)), "test.yaml")


CASES = [pytest.param(name, wd, batch, id=f"{name}-wd{wd}-{batch}")
         for name in NAMES for wd in (0.0, 0.05) for batch in ("full", 2)]


@needs_torch
@pytest.mark.parametrize("name,wd,batch", CASES)
@pytest.mark.parametrize("shown", [set(), {1, 2, 3, 4, 5, 6}], ids=["fast", "explained"])
def test_final_parameters_match_torch_optim(name, wd, batch, shown):
    from . import torch_net

    sc = scenario({"name": name, "weight_decay": wd}, batch=batch)
    n = 6  # mini-batch: three epochs of two batches, so the state crosses epochs
    ours = run(sc, iterations=n, show=shown).params_final
    theirs = torch_net.train(sc, batches(sc, n))
    assert list(ours) == list(theirs)
    for p in ours:
        assert ours[p] == pytest.approx(theirs[p], rel=RTOL), p


@needs_torch
def test_the_torch_comparison_can_fail():
    # Adam and AdamW with the same nonzero weight decay differ: L2 versus decoupled decay.
    from . import torch_net

    sc = scenario({"name": "adam", "weight_decay": 0.05})
    other = scenario({"name": "adamw", "weight_decay": 0.05})
    ours = run(sc, iterations=3).params_final
    theirs = torch_net.train(other, batches(other, 3))
    assert any(ours[p] != pytest.approx(theirs[p], rel=RTOL) for p in ours)


@needs_torch
@pytest.mark.parametrize("name", ["mazur_momentum", "mazur_rmsprop", "mazur_adam"])
def test_bundled_examples_match_torch(name):
    from . import torch_net

    sc = load(SCENARIOS / f"{name}.yaml")
    ours = run(sc, show=set(range(1, sc.iterations + 1)))
    theirs = torch_net.train(sc, batches(sc, sc.iterations))
    for p, value in ours.params_final.items():
        assert value == pytest.approx(theirs[p], rel=RTOL), p


def test_plain_sgd_is_the_default():
    # Writing 'optimizer: {name: sgd}' changes nothing: it is what an absent key means.
    a = run(scenario(), iterations=4, show={2})
    b = run(scenario({"name": "sgd"}), iterations=4, show={2})
    assert a.params_final == b.params_final
    assert [s.id for s in a.iterations[0].steps] == [s.id for s in b.iterations[0].steps]
    assert a.state_final == {} == b.state_final


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("batch", ["full", 2])
def test_explained_and_fast_paths_agree(name, batch):
    sc = scenario({"name": name, "weight_decay": 0.01}, batch=batch)
    fast = run(sc, iterations=5, show=set())
    explained = run(sc, iterations=5, show={1, 2, 3, 4, 5})
    for p, value in fast.params_final.items():
        assert explained.params_final[p] == pytest.approx(value, rel=1e-12), p
    for kind, values in fast.state_final.items():
        for p, value in values.items():
            assert explained.state_final[kind][p] == pytest.approx(value, rel=1e-12, abs=1e-300)


def test_state_carried_into_an_update_is_shown_at_its_start():
    # Update 3 starts from the m and v that update 2 ended with.
    trace = run(scenario({"name": "adam"}), iterations=3, show={2, 3})
    two, three = trace.iterations
    for name in ("w1", "b4"):
        assert three.values[f"prev_m:{name}"] == two.values[f"m:{name}"]
        assert three.values[f"prev_v:{name}"] == two.values[f"v:{name}"]
        assert trace.state_final["m"][name] == three.values[f"m:{name}"]
    first = run(scenario({"name": "adam"})).iterations[0]
    assert first.values["prev_m:w1"] == 0.0 and first.values["prev_v:w1"] == 0.0


def test_update_steps_come_in_the_order_of_the_rule():
    it = run(scenario({"name": "adamw", "weight_decay": 0.1})).iterations[0]
    ids = [s.id for s in it.steps if s.phase == "update" and s.subject == "w7"]
    assert ids == ["prev_m:w7", "prev_v:w7", "decay:w7", "m:w7", "v:w7", "mhat:w7", "vhat:w7",
                   "new:w7"]
    it = run(scenario({"name": "nesterov", "weight_decay": 0.1})).iterations[0]
    ids = [s.id for s in it.steps if s.phase == "update" and s.subject == "b4"]
    assert ids == ["prev_vel:b4", "l2:b4", "vel:b4", "new:b4"]


def test_one_adam_step_on_mazur_by_hand():
    # Mazur (2015) prints dE/dw5 = 0.082167041 for his first update. Adam's first step
    # (t = 1, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, eta = 0.5), by hand from that g:
    #   m    = 0.9 * 0 + 0.1 * g           = 0.0082167041
    #   v    = 0.999 * 0 + 0.001 * g^2     = 0.001 * 0.006751422626695681 = 6.7514226267e-06
    #   mhat = m / (1 - 0.9^1)             = g  = 0.082167041
    #   vhat = v / (1 - 0.999^1)           = g^2 = 0.0067514226267
    #   w5+  = 0.4 - 0.5 * g / (sqrt(g^2) + 1e-8) = 0.4 - 0.5 * g / (g + 1e-8)
    #        = 0.4 - 0.5 * (1 - 1e-8 / g) (to 1e-16) = -0.1 + 0.5 * 1.21703e-7
    #        = -0.09999993914836
    # g has 9 digits, so g^2 is good to about 2e-8 relative; w5+ hardly depends on g.
    # So Adam's first step moves every weight by about eta, whatever its gradient's size.
    text = (SCENARIOS / "mazur.yaml").read_text() + "optimizer:\n  name: adam\n"
    it = run(loads(text, "mazur_adam.yaml")).iterations[0]
    g = 0.082167041
    assert it.values["grad:w5"] == pytest.approx(g, abs=5e-10)
    assert it.values["m:w5"] == pytest.approx(0.0082167041, rel=1e-8)
    assert it.values["v:w5"] == pytest.approx(6.7514226267e-06, rel=2e-8)
    assert it.values["mhat:w5"] == pytest.approx(g, rel=1e-8)
    assert it.values["vhat:w5"] == pytest.approx(0.0067514226267, rel=2e-8)
    assert it.values["new:w5"] == pytest.approx(-0.09999993914836, rel=1e-12)
    assert math.isclose(it.values["new:w5"] - 0.4, -0.5, rel_tol=1e-6)


def test_rounded_trace_carries_rounded_state():
    trace = run(scenario({"name": "adam"}), iterations=2, show={1, 2}, round_to=4)
    one, two = trace.iterations
    assert two.values["prev_m:w1"] == one.values["m:w1"] == round(one.values["m:w1"], 4)


# (optimizer, weight decay, mistake kind, the step whose formula the student got wrong,
# the update it is made in: t counted from 0 divides by zero in update 1, so update 2)
OPTIMIZER_MISTAKES = [
    ("momentum", 0.0, "velocity_sign", "vel:w5", 2),
    ("momentum", 0.0, "lr_left_out", "new:w2", 2),
    ("nesterov", 0.0, "nesterov_plain", "new:w3", 2),
    ("rmsprop", 0.0, "sqrt_left_out", "new:w6", 1),
    ("rmsprop", 0.0, "eps_inside_sqrt", "new:b4", 1),
    ("adam", 0.0, "bias_correction_left_out", "mhat:w1", 2),
    ("adam", 0.0, "bias_correction_left_out", "vhat:w7", 2),
    ("adam", 0.0, "t_from_0", "mhat:w4", 2),
    ("adam", 0.0, "t_from_0", "vhat:b5", 3),
    ("adam", 0.0, "sqrt_left_out", "new:w9", 1),
    ("adam", 0.0, "eps_inside_sqrt", "new:w8", 2),
    ("adam", 0.0, "update_added", "new:w5", 1),
    ("adamw", 0.1, "l2_not_decoupled", "m:w6", 1),
    ("adamw", 0.1, "l2_not_decoupled", "v:w2", 2),
]


def test_every_optimizer_mistake_has_a_paired_case():
    from bpwalk.mistakes import MISTAKES

    optimizer_kinds = {k for k, (_, kinds) in MISTAKES.items()
                       if set(kinds) & {"vel", "sq", "m", "v", "mhat", "vhat"} or
                       k in ("nesterov_plain", "sqrt_left_out", "eps_inside_sqrt")}
    assert optimizer_kinds <= {kind for _, _, kind, _, _ in OPTIMIZER_MISTAKES}


@pytest.mark.parametrize("name,wd,kind,target,update", OPTIMIZER_MISTAKES,
                         ids=[f"{k}-{t}" for _, _, k, t, _ in OPTIMIZER_MISTAKES])
def test_optimizer_mistakes_are_named_by_rerunning_the_engine(name, wd, kind, target, update):
    from bpwalk.judge import Judge
    from bpwalk.mistakes import Mistake

    sc = scenario({"name": name, "weight_decay": wd})
    show = {update}

    def steps(mistakes=()):
        trace = run(sc, iterations=update, show=show, mistakes=mistakes)
        return {s.id: s.value for s in trace.iterations[0].steps}

    right, made = steps(), steps((Mistake(kind, target),))
    assert made[target] != pytest.approx(right[target], rel=1e-6)  # the mistake shows ...
    before = list(right)[:list(right).index(target)]
    assert all(made[k] == right[k] for k in before)  # ... from its step on
    judge = Judge(sc, iteration=update)
    verdict = judge.judge_one(target, f"{made[target]:.10g}")
    assert not verdict.correct
    assert verdict.mistake == kind or kind in verdict.also, (verdict.mistake, verdict.also)
    assert verdict.source == target


def test_every_profile_writes_the_optimizer_steps():
    """Each notation profile renders the optimizers' walkthroughs (terminal, HTML and
    Markdown, KaTeX-parsed), with its own symbols where its source has them (Ng's V_dw, S_dw)."""
    import io
    from dataclasses import replace

    from bpwalk.notation import PROFILES, Pen, profile
    from bpwalk.optimizers import Optimizer
    from bpwalk.views import html, markdown, terminal
    from tests import latex_check

    adam = load(SCENARIOS / "mazur_adam.yaml")
    cases = {"adam": adam, "adamw": replace(adam, optimizer=Optimizer("adamw", weight_decay=0.01)),
             "nesterov": replace(adam, optimizer=Optimizer("nesterov", weight_decay=0.1),
                                 input_gradients=True),
             "rmsprop": load(SCENARIOS / "mazur_rmsprop.yaml"),
             "momentum": load(SCENARIOS / "mazur_momentum.yaml")}
    docs = {}
    for name, sc in cases.items():
        tr = run(sc, 2, {2})
        for p in PROFILES:
            docs[f"{name}-{p}.md"] = md = markdown.render(tr, notation=p)
            out = io.StringIO()
            terminal.console(no_color=True, file=out, width=80).print(
                terminal.walkthrough(tr, notation=p))
            text = out.getvalue()
            assert "Optimizer:" in text and "Optimizer |" in md, (name, p)
            # w₅⁺, or the layer-indexed w³₁₁⁺ (nielsen), W^[2]₁₁⁺ (ng)
            new = Pen(profile=profile(p, sc)).sym("new:w5")
            assert f"{new} " in text and "`new:w5`" in md, (name, p)
            page = html.render(tr, notation=p)
            assert "<th>Optimizer</th>" in page and 'data-id="new:w5"' in page, (name, p)
    assert latex_check.check_documents(docs) == []
    assert "V_{dw5}" in docs["adam-ng.md"] and "S_{dw5}^{corrected}" in docs["adam-ng.md"]
    assert "\\mathrm{cache}_{dw5}" in docs["rmsprop-cs231n.md"]
    assert "\\hat{m}_{w5}" in docs["adam-mazur.md"]


@pytest.mark.parametrize("args", [["run", "mazur_adam", "--form", "matrix"],
                                  ["export", "mazur", "--form", "matrix", "--input-gradients"]])
def test_matrix_form_refuses_what_it_does_not_write(args):
    """The matrix form writes plain gradient descent: an optimizer's steps (or input
    gradients) are refused with exit 2, not shown as an SGD update the engine did not make."""
    from typer.testing import CliRunner

    from bpwalk.cli import app

    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "--form scalar" in result.output


@pytest.mark.parametrize("name", ["adam", "adamw", "nesterov", "rmsprop", "momentum", "sgd"])
def test_evaluate_knows_every_optimizer_step(name):
    """The judge marks an answer from the student's own earlier numbers through
    engine.evaluate: each optimizer step's formula, on its own operands, gives its value,
    and moving an operand moves the result (so the rule is not the step's value again)."""
    from bpwalk.engine import evaluate

    sc = loads(yaml.safe_dump(network({"name": name, "weight_decay": 0.01})))
    steps = [s for s in run(sc, 2, {2}).iterations[0].steps
             if s.phase == "update" and s.terms]
    assert {s.kind for s in steps} >= {"new"}
    for s in steps:
        assert evaluate(s, {}) == pytest.approx(s.value, rel=1e-12, abs=1e-15), s.id
        ref = s.terms[0][-1].ref  # a per-parameter operand (param, prev state, m, grad)
        nudged = evaluate(s, {ref: s.terms[0][-1].value + 0.5})
        assert nudged != pytest.approx(s.value, rel=1e-12, abs=1e-15), s.id
