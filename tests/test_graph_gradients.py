"""Random circuits (every operation, fan-out, expressions up to depth 8): the reverse sweep's
gradients against finite differences, and against torch autograd to 1e-12 when torch is
installed (pip install -e '.[bench]'; skipped otherwise)."""

from __future__ import annotations

import importlib.util
import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bpwalk.engine import run
from bpwalk.graph.expr import Name, Num, parse
from bpwalk.graph.ops import OPS
from bpwalk.scenario import loads

# Forms that keep every value finite and every function in its domain, whatever the
# operands: {0} and {1} are sub-expressions.
UNARY = ["exp(tanh({0}))", "log(1 + {0} * {0})", "sqrt(1 + {0} ** 2)", "abs({0})",
         "tanh({0})", "sigmoid({0})", "relu({0})", "-{0}", "tanh({0}) ** 2",
         "{0} / (2 + tanh({0}))", "tanh({0}) ** 3"]
BINARY = ["{0} + {1}", "{0} - {1}", "tanh({0}) * tanh({1})", "max({0}, {1})",
          "min({0}, {1})", "{0} / (1.5 + sigmoid({1}))"]


def expressions(names: list[str]) -> st.SearchStrategy[str]:
    leaf = st.sampled_from(names) | st.sampled_from(["0.5", "2", "-1.25"])

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        one = st.tuples(st.sampled_from(UNARY), inner).map(lambda t: t[0].format(f"({t[1]})"))
        two = st.tuples(st.sampled_from(BINARY), inner, inner).map(
            lambda t: t[0].format(f"({t[1]})", f"({t[2]})"))
        return one | two

    return st.recursive(leaf, extend, max_leaves=8)


@st.composite
def circuits(draw) -> tuple[str, list[str]]:
    inputs = {f"x{i}": draw(st.floats(-2, 2, allow_nan=False).map(lambda v: round(v, 3)))
              for i in range(draw(st.integers(1, 3)))}
    params = {f"w{i}": draw(st.floats(-2, 2).map(lambda v: round(v, 3)))
              for i in range(draw(st.integers(0, 2)))}
    names = [*inputs, *params]
    nodes = []
    for k in range(draw(st.integers(1, 5))):
        text = draw(expressions(names))
        if isinstance(parse(text), (Name, Num)):  # a node must compute something
            text = f"tanh({text})"
        nodes.append((f"n{k}", text))
        names.append(f"n{k}")
    # the output reads every node, so fan-out and every path count
    nodes.append(("out", " + ".join(f"({n})" for n, _ in nodes) + " * 1"))
    yaml = ("graph:\n  inputs: {" + ", ".join(f"{k}: {v}" for k, v in inputs.items()) + "}\n"
            "  params: {" + ", ".join(f"{k}: {v}" for k, v in params.items()) + "}\n"
            "  nodes:\n" + "".join(f"    {n}: '{t}'\n" for n, t in nodes) + "  output: out\n")
    return yaml, [*inputs, *params]


def _value(sc, leaf: str, value: float) -> float:
    """The output with one leaf changed (a fresh scenario with that value)."""
    g = sc.graph
    leaves = tuple(lf._replace(value=value) if lf.name == leaf else lf for lf in g.leaves)
    from dataclasses import replace

    return run(replace(sc, graph=g._replace(leaves=leaves))).loss_history[0]


@given(circuits())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_gradients_match_finite_differences(case):
    text, leaves = case
    sc = loads(text)
    v = run(sc).iterations[0].values
    for leaf in leaves:
        x, y, h = v[f"val:{leaf}"], v["val:out"], 1e-6
        up, down = _value(sc, leaf, x + h), _value(sc, leaf, x - h)
        # a kink (relu, abs, max, min) near x: the one-sided slopes differ, no derivative
        assume(math.isclose((up - y) / h, (y - down) / h, rel_tol=1e-3, abs_tol=1e-5))
        fd = (up - down) / (2 * h)
        assert math.isclose(v[f"grad:{leaf}"], fd, rel_tol=1e-4, abs_tol=1e-6), (leaf, text)


def test_the_random_forms_use_every_operation():
    from bpwalk.graph.compile import compile_graph

    used = set()
    for form in UNARY + BINARY:
        g, errors = compile_graph({"a": 1.0, "b": 2.0}, {}, [("f", form.format("a", "b"))], "f")
        assert not errors, form
        used |= {n.op for n in g.nodes}
    assert used == set(OPS)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                    reason="torch not installed (pip install -e '.[bench]')")
@given(circuits())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_gradients_match_torch_autograd(case):
    import torch

    text, leaves = case
    sc = loads(text)
    v = run(sc).iterations[0].values
    g = sc.graph
    fns = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
           "neg": torch.neg, "pow": torch.pow, "exp": torch.exp, "log": torch.log,
           "sqrt": torch.sqrt, "abs": torch.abs, "tanh": torch.tanh,
           "sigmoid": torch.sigmoid, "relu": torch.relu, "max": torch.maximum,
           "min": torch.minimum}
    t = {lf.name: torch.tensor(lf.value, dtype=torch.float64, requires_grad=True)
         for lf in g.leaves}
    for n in g.nodes:
        args = [t[a] if isinstance(a, str) else torch.tensor(a, dtype=torch.float64)
                for a in n.args]
        t[n.name] = fns[n.op](*args)
    if t[g.output].requires_grad:  # (an output of constants alone: every gradient is 0)
        t[g.output].backward()
    for n in g.nodes:
        assert math.isclose(v[f"val:{n.name}"], t[n.name].item(), rel_tol=1e-12, abs_tol=1e-300)
    for leaf in leaves:
        grad = t[leaf].grad  # None: the leaf does not reach the output
        want = 0.0 if grad is None else grad.item()
        assert math.isclose(v[f"grad:{leaf}"], want, rel_tol=1e-12, abs_tol=1e-14), leaf


@pytest.mark.parametrize("form", UNARY + BINARY)
def test_each_form_nested_8_deep_matches_finite_differences(form):
    expr = "x"
    for _ in range(8):
        expr = form.format(f"({expr})", "y")
    sc = loads(f"graph:\n  inputs: {{x: 0.3, y: -0.7}}\n  nodes:\n    f: '{expr}'\n"
               "  output: f\n")
    v = run(sc).iterations[0].values
    for leaf in ("x", "y"):
        h = 1e-6
        fd = (_value(sc, leaf, v[f"val:{leaf}"] + h) - _value(sc, leaf, v[f"val:{leaf}"] - h)) \
            / (2 * h)
        assert math.isclose(v[f"grad:{leaf}"], fd, rel_tol=1e-5, abs_tol=1e-7), (form, leaf)
