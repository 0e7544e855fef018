"""Activations and losses: each one entry holding its value, its derivative and its notation.

Adding an activation or a loss means adding one entry here; the engine, the views and the
scenario validator all read these tables. Every function works on float64 NumPy arrays.

The formulas are functions that build a formula tree (``bpwalk.formulas``) from the nodes
they are given: the symbols of one neuron (or, when a step is written out, those symbols
together with their values), so one definition is printed in Unicode, ASCII, LaTeX and
MathML, in symbols and with the numbers substituted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bpwalk.formulas import (
    HALF,
    BigSum,
    Call,
    Cases,
    Div,
    Neg,
    Node,
    Pow,
    Rel,
    add,
    exp,
    mul,
    n,
    sub,
)

Array = np.ndarray


def _sigmoid(net: Array) -> Array:
    # exp(-net) overflows to inf for net << 0; 1 / (1 + inf) is the right limit, 0. The
    # engine computes under np.errstate(all="ignore"), so the overflow is not warned about;
    # a guard of its own here would cost more than the sigmoid itself on small networks.
    e = np.exp(-net)
    e += 1.0  # in place: on a network this small, fewer new arrays is most of the cost
    return np.reciprocal(e, out=e)  # exactly 1.0 / e


def _softmax(net: Array) -> Array:
    # Subtracting the row maximum keeps exp() finite for any net; the result is unchanged.
    shifted = net - net.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def _kink(net: Node, above: Node, below: Node) -> Cases:
    """above if net > 0, else below (ReLU and leaky ReLU)."""
    return Cases(((above, Rel(net, ">", n(0))), (below, Rel(net, "<=", n(0)))))


@dataclass(frozen=True)
class Activation:
    name: str
    value: Callable[[Array, float], Array]
    # d out / d net, written the way tutorials write it (in terms of out where that is usual).
    derivative: Callable[[Array, Array, float], Array]
    # Notation: out as a tree of (net, slope, the layer's nets: a tuple, or net_j for Σ_j),
    # and d out / d net as a tree of (net, out, slope).
    formula: Callable[[Node, Node, object], Node]
    derivative_formula: Callable[[Node, Node, Node], Node]
    output_only: bool = False
    description: str = ""


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in [
        Activation(
            "sigmoid",
            value=lambda net, slope: _sigmoid(net),
            derivative=lambda net, out, slope: out * (1.0 - out),
            formula=lambda net, slope, layer: Div(n(1), add(1, exp(Neg(net)))),
            derivative_formula=lambda net, out, slope: mul(out, sub(1, out), dot=False),
            description="logistic sigmoid 1/(1+e^-net), output in (0, 1)",
        ),
        Activation(
            "tanh",
            value=lambda net, slope: np.tanh(net),
            derivative=lambda net, out, slope: 1.0 - out * out,
            formula=lambda net, slope, layer: Call("tanh", (net,)),
            derivative_formula=lambda net, out, slope: sub(1, Pow(out, n(2))),
            description="hyperbolic tangent, output in (-1, 1)",
        ),
        Activation(
            "relu",
            value=lambda net, slope: np.maximum(net, 0.0),
            # The derivative at exactly 0 is taken as 0 (a convention; the kink has none).
            derivative=lambda net, out, slope: (net > 0).astype(np.float64),
            formula=lambda net, slope, layer: Call("max", (n(0), net)),
            derivative_formula=lambda net, out, slope: _kink(net, n(1), n(0)),
            description="rectified linear unit max(0, net); derivative 0 at net = 0",
        ),
        Activation(
            "leaky_relu",
            value=lambda net, slope: np.where(net > 0, net, slope * net),
            derivative=lambda net, out, slope: np.where(net > 0, 1.0, slope),
            formula=lambda net, slope, layer: _kink(net, net, mul(slope, net)),
            derivative_formula=lambda net, out, slope: _kink(net, n(1), slope),
            description="leaky ReLU: net, or slope*net below 0 (slope 0.01 unless set)",
        ),
        Activation(
            "linear",
            value=lambda net, slope: net.copy(),
            derivative=lambda net, out, slope: np.ones_like(net),
            formula=lambda net, slope, layer: net,
            derivative_formula=lambda net, out, slope: n(1),
            description="identity: out = net",
        ),
        Activation(
            "softmax",
            value=lambda net, slope: _softmax(net),
            # The diagonal of the Jacobian; the engine uses the full Jacobian
            # d out_j / d net_k = out_j (delta_jk - out_k) for softmax layers.
            derivative=lambda net, out, slope: out * (1.0 - out),
            # over the layer's nets when written out, Σ_j e^net_j in general
            formula=lambda net, slope, layer: Div(exp(net), add(*(exp(x) for x in layer))
                                                  if isinstance(layer, tuple)
                                                  else BigSum("j", exp(layer))),
            derivative_formula=lambda net, out, slope: mul(out, sub(1, out), dot=False),
            output_only=True,
            description="softmax over the layer, outputs sum to 1 (output layer only)",
        ),
    ]
}


@dataclass(frozen=True)
class Loss:
    name: str
    # Per-output terms of one sample's loss; the sample's loss is their sum.
    term: Callable[[Array, Array, int], Array]  # (out, target, K) -> terms
    # d E / d out for each output.
    derivative: Callable[[Array, Array, int], Array]
    # Notation: one output's term and its derivative, trees of (target, out, K).
    term_formula: Callable[[Node, Node, Node], Node]
    derivative_formula: Callable[[Node, Node, Node], Node]
    description: str = ""


def _xlogy(t: Array, o: Array) -> Array:
    # t ln o with the convention 0 ln 0 = 0, so a zero target never produces nan.
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(t == 0, 0.0, t * np.log(o))


def _bce_term(o: Array, t: Array, k: int) -> Array:
    return -(_xlogy(t, o) + _xlogy(1.0 - t, 1.0 - o)) / k


def _bce_derivative(o: Array, t: Array, k: int) -> Array:
    with np.errstate(divide="ignore", invalid="ignore"):
        return (o - t) / (o * (1.0 - o)) / k


def _ce_derivative(o: Array, t: Array, k: int) -> Array:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(t == 0, 0.0, -t / o)


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in [
        Loss(
            "half_squared_error",
            term=lambda o, t, k: 0.5 * (t - o) ** 2,
            derivative=lambda o, t, k: o - t,  # = -(t - o), bit for bit
            term_formula=lambda t, o, k: mul(HALF, Pow(sub(t, o), n(2)), dot=False),
            derivative_formula=lambda t, o, k: Neg(sub(t, o)),
            description="sum over outputs of 1/2 (target - out)^2 (Mazur's E_total)",
        ),
        Loss(
            "squared_error",
            term=lambda o, t, k: (t - o) ** 2,
            derivative=lambda o, t, k: 2.0 * (o - t),
            term_formula=lambda t, o, k: Pow(sub(t, o), n(2)),
            derivative_formula=lambda t, o, k: Neg(mul(2, sub(t, o), dot=False)),
            description="sum over outputs of (target - out)^2",
        ),
        Loss(
            "mean_squared_error",
            term=lambda o, t, k: (t - o) ** 2 / k,
            derivative=lambda o, t, k: -2.0 * (t - o) / k,
            term_formula=lambda t, o, k: Div(Pow(sub(t, o), n(2)), k),
            derivative_formula=lambda t, o, k: Neg(Div(mul(2, sub(t, o), dot=False), k)),
            description="mean over the K outputs of (target - out)^2",
        ),
        Loss(
            "binary_cross_entropy",
            term=_bce_term,
            derivative=_bce_derivative,
            term_formula=lambda t, o, k: Neg(Div(add(mul(t, Call("ln", (o,))),
                                                     mul(sub(1, t), Call("ln", (sub(1, o),)))),
                                                 k)),
            derivative_formula=lambda t, o, k: Div(sub(o, t), mul(o, sub(1, o), k)),
            description="binary cross-entropy, averaged over outputs (sigmoid outputs)",
        ),
        Loss(
            "cross_entropy",
            term=lambda o, t, k: -_xlogy(t, o),
            derivative=_ce_derivative,
            term_formula=lambda t, o, k: Neg(mul(t, Call("ln", (o,)))),
            derivative_formula=lambda t, o, k: Neg(Div(t, o)),
            description="categorical cross-entropy -sum t ln out (softmax output)",
        ),
        Loss(
            "output",
            # E is the sum of the outputs themselves, so dE/dout = 1: backpropagating it gives
            # the gradient of the network's output (CS231n's circuits start from df/df = 1).
            # Targets are ignored.
            term=lambda o, t, k: o.copy(),
            derivative=lambda o, t, k: np.ones_like(o),
            term_formula=lambda t, o, k: o,
            derivative_formula=lambda t, o, k: n(1),
            description="the outputs themselves (dE/dout = 1): gradients of the output, targets ignored",
        ),
    ]
}
