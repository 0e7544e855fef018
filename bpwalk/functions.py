"""Activations and losses: each one entry holding its value, its derivative and its notation.

Adding an activation or a loss means adding one entry here; the engine, the views and the
scenario validator all read these tables. Every function works on float64 NumPy arrays;
most entries also have a scalar form, the same formula on one Python float, which the
engine's loop for tiny networks uses (NumPy's cost per call, not per element, dominates a
2-2-2 network). A test checks that the two forms agree on random inputs. A scalar form may
raise ArithmeticError or ValueError where the array form returns inf or nan; the engine then
leaves that update to the array forms. That loop writes a scalar form that is nothing but
arithmetic on its arguments into its own code (and calls the others), so such a form must
not count on catching an error of its own arithmetic (** overflowing, say): the code written
from it would not catch it.

The formulas are functions that build a formula tree (``bpwalk.formulas``) from the nodes
they are given: the symbols of one neuron (or, when a step is written out, those symbols
together with their values), so one definition is printed in Unicode, ASCII, LaTeX and
MathML, in symbols and with the numbers substituted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from bpwalk.formulas import (
    HALF,
    Abs,
    BigSum,
    Call,
    Cases,
    Div,
    Neg,
    Node,
    Pow,
    Rel,
    Root,
    Seq,
    Sym,
    add,
    exp,
    mul,
    n,
    sub,
)

Array = np.ndarray


def _sigmoid(net: Array, into: Array | None = None) -> Array:
    """1 / (1 + e^-net), written into `into` when given (the fast loop's buffers)."""
    # exp(-net) overflows to inf for net << 0; 1 / (1 + inf) is the right limit, 0. The
    # engine computes under np.errstate(all="ignore"), so the overflow is not warned about;
    # a guard of its own here would cost more than the sigmoid itself on small networks.
    e = np.negative(net, into)
    np.exp(e, e)  # in place: on a network this small, fewer new arrays is most of the cost
    e += 1.0
    return np.reciprocal(e, e)  # exactly 1.0 / e


def _sigmoid_slope(out: Array, into: Array | None = None) -> Array:
    """out (1 - out), the sigmoid's derivative, written into `into` when given."""
    d = np.subtract(1.0, out, into)
    d *= out  # (1 - out) out: the same product as out (1 - out)
    return d


def _tanh_slope(out: Array, into: Array | None = None) -> Array:
    """1 - out², the derivative of tanh, written into `into` when given."""
    d = np.multiply(out, out, into)
    return np.subtract(1.0, d, d)


def _sigmoid1(net: float, slope: float = 0.0) -> float:
    # (slope: the scalar forms' signature, unused; the entry holds this function itself,
    # as a lambda around it would cost the tiny loop a second call per neuron)
    try:
        return 1.0 / (1.0 + math.exp(-net))
    except OverflowError:  # e^-net beyond float64: the limit, 0, as the array form gives
        return 0.0


def _softmax(net: Array) -> Array:
    # Subtracting the row maximum keeps exp() finite for any net; the result is unchanged.
    shifted = net - net.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


_ERF = np.frompyfunc(math.erf, 1, 1)  # NumPy has no erf; math.erf is exact to float64
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_GELU_C = math.sqrt(2.0 / math.pi)  # the tanh approximation of Hendrycks & Gimpel (2016)
# SELU's constants (Klambauer et al., 2017), as torch.nn.SELU writes them
SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717


def _erf(x: Array) -> Array:
    return _ERF(x).astype(np.float64)


def _softplus(net: Array) -> Array:
    return np.logaddexp(0.0, net)  # ln(1 + e^net) without overflow for large net


def _elu(net: Array, alpha: float) -> Array:
    return np.where(net > 0, net, alpha * np.expm1(np.minimum(net, 0.0)))


def _gelu_tanh_parts(net: Array) -> tuple[Array, Array]:
    u = _GELU_C * (net + 0.044715 * net ** 3)
    return u, np.tanh(u)


def _gelu_tanh_derivative(net: Array) -> Array:
    _, t = _gelu_tanh_parts(net)
    return 0.5 * (1.0 + t) + 0.5 * net * (1.0 - t * t) * _GELU_C * (1.0 + 3 * 0.044715 * net ** 2)


def _mish_derivative(net: Array) -> Array:
    t = np.tanh(_softplus(net))
    return t + net * (1.0 - t * t) * _sigmoid(net)


# The scalar forms of the functions above, on one float (the engine's loop for tiny networks)


def _square(x: float) -> float:
    return x * x  # as NumPy squares x ** 2 (pow may round otherwise)


def _softplus1(net: float) -> float:
    # np.logaddexp(0, net)'s own formula: max(0, net) + ln(1 + e^-|net|)
    return max(net, 0.0) + math.log1p(math.exp(-abs(net)))


def _elu1(net: float, alpha: float) -> float:
    return net if net > 0 else alpha * math.expm1(min(net, 0.0))


def _elu1_derivative(net: float, alpha: float) -> float:
    return 1.0 if net > 0 else alpha * math.exp(min(net, 0.0))


def _silu1_derivative(net: float) -> float:
    s = _sigmoid1(net)
    return s * (1.0 + net * (1.0 - s))


def _gelu_tanh1(net: float) -> float:
    return math.tanh(_GELU_C * (net + 0.044715 * net ** 3))


def _gelu_tanh1_derivative(net: float) -> float:
    t = _gelu_tanh1(net)
    return 0.5 * (1.0 + t) + 0.5 * net * (1.0 - t * t) * _GELU_C * (1.0 + 3 * 0.044715 * _square(net))


def _mish1_derivative(net: float) -> float:
    t = math.tanh(_softplus1(net))
    return t + net * (1.0 - t * t) * _sigmoid1(net)


def _kink(net: Node, above: Node, below: Node) -> Cases:
    """above if net > 0, else below (ReLU and leaky ReLU)."""
    return Cases(((above, Rel(net, ">", n(0))), (below, Rel(net, "<=", n(0)))))


# Symbols of the newer activations' formulas
_LAMBDA, _ALPHA, _PI, _T = Sym("lambda"), Sym("alpha"), Sym("pi"), Sym("t")
_SQRT_2_PI = Root(Div(n(2), _PI))  # √(2/π)


def _sigma(net: Node) -> Call:
    return Call("sigma", (net,))


def _ln_1p_exp(net: Node) -> Call:
    """ln(1 + e^net), softplus."""
    return Call("ln", (add(1, exp(net)),))


def _gelu_tanh_t(net: Node) -> Call:
    """tanh(√(2/π)·(net + 0.044715·net³))."""
    return Call("tanh", (mul(_SQRT_2_PI, add(net, mul(0.044715, Pow(net, n(3))))),))


def _where_t(expr: Node, t: Node) -> Seq:
    """expr, t = ...: a derivative written with its tanh as t."""
    return Seq((expr, Rel(_T, "=", t)), ", ")


class Activation(NamedTuple):  # not a dataclass: a tenth of the cost at start-up
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
    # The layer key of the activation's one setting ("slope" for leaky_relu, "alpha" for
    # elu), shown as {slope} in the formulas, and its default; "" when it has none.
    parameter: str = ""
    default: float = 0.0
    # The same value and derivative on one float (None: the activation has no scalar form)
    scalar: Callable[[float, float], float] | None = None
    scalar_derivative: Callable[[float, float, float], float] | None = None
    # value and derivative written into a given array shaped like net, the last argument,
    # and returned: the fast loop's form, the same numbers with no new array per update
    # (None: the fast loop calls value and derivative)
    value_into: Callable[[Array, float, Array], Array] | None = None
    derivative_into: Callable[[Array, Array, float, Array], Array] | None = None


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in [
        Activation(
            "sigmoid",
            value=lambda net, slope: _sigmoid(net),
            derivative=lambda net, out, slope: _sigmoid_slope(out),
            formula=lambda net, slope, layer: Div(n(1), add(1, exp(Neg(net)))),
            derivative_formula=lambda net, out, slope: mul(out, sub(1, out), dot=False),
            description="logistic sigmoid 1/(1+e^-net), output in (0, 1)",
            scalar=_sigmoid1,
            scalar_derivative=lambda net, out, slope: out * (1.0 - out),
            value_into=lambda net, slope, into: _sigmoid(net, into),
            derivative_into=lambda net, out, slope, into: _sigmoid_slope(out, into),
        ),
        Activation(
            "tanh",
            value=lambda net, slope: np.tanh(net),
            derivative=lambda net, out, slope: _tanh_slope(out),
            formula=lambda net, slope, layer: Call("tanh", (net,)),
            derivative_formula=lambda net, out, slope: sub(1, Pow(out, n(2))),
            description="hyperbolic tangent, output in (-1, 1)",
            scalar=lambda net, slope: math.tanh(net),
            scalar_derivative=lambda net, out, slope: 1.0 - out * out,
            value_into=lambda net, slope, into: np.tanh(net, into),
            derivative_into=lambda net, out, slope, into: _tanh_slope(out, into),
        ),
        Activation(
            "relu",
            value=lambda net, slope: np.maximum(net, 0.0),
            # The derivative at exactly 0 is taken as 0 (a convention; the kink has none).
            derivative=lambda net, out, slope: (net > 0).astype(np.float64),
            formula=lambda net, slope, layer: Call("max", (n(0), net)),
            derivative_formula=lambda net, out, slope: _kink(net, n(1), n(0)),
            description="rectified linear unit max(0, net); derivative 0 at net = 0",
            # like np.maximum, max keeps net when it is -0.0 or nan (0.0 is not greater)
            scalar=lambda net, slope: max(net, 0.0),
            scalar_derivative=lambda net, out, slope: 1.0 if net > 0 else 0.0,
        ),
        Activation(
            "leaky_relu",
            value=lambda net, slope: np.where(net > 0, net, slope * net),
            derivative=lambda net, out, slope: np.where(net > 0, 1.0, slope),
            formula=lambda net, slope, layer: _kink(net, net, mul(slope, net)),
            derivative_formula=lambda net, out, slope: _kink(net, n(1), slope),
            description="leaky ReLU: net, or slope*net below 0 (slope 0.01 unless set)",
            parameter="slope",
            default=0.01,
            scalar=lambda net, slope: net if net > 0 else slope * net,
            scalar_derivative=lambda net, out, slope: 1.0 if net > 0 else slope,
        ),
        Activation(
            "elu",
            value=lambda net, alpha: _elu(net, alpha),
            derivative=lambda net, out, alpha: np.where(net > 0, 1.0, alpha * np.exp(np.minimum(net, 0.0))),
            formula=lambda net, alpha, layer: _kink(net, net, mul(alpha, sub(exp(net), 1))),
            derivative_formula=lambda net, out, alpha: _kink(net, n(1), mul(alpha, exp(net))),
            description="ELU (Clevert et al., 2016): net, or alpha(e^net - 1) below 0 (alpha 1)",
            parameter="alpha",
            default=1.0,
            scalar=_elu1,
            scalar_derivative=lambda net, out, alpha: _elu1_derivative(net, alpha),
        ),
        Activation(
            "selu",
            value=lambda net, slope: SELU_LAMBDA * _elu(net, SELU_ALPHA),
            derivative=lambda net, out, slope: SELU_LAMBDA * np.where(
                net > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(net, 0.0))),
            formula=lambda net, slope, layer: mul(
                _LAMBDA, _kink(net, net, mul(_ALPHA, sub(exp(net), 1)))),
            derivative_formula=lambda net, out, slope: _kink(
                net, _LAMBDA, mul(_LAMBDA, _ALPHA, exp(net))),
            description="SELU (Klambauer et al., 2017): ELU scaled, lambda 1.0507, alpha 1.6733",
            scalar=lambda net, slope: SELU_LAMBDA * _elu1(net, SELU_ALPHA),
            scalar_derivative=lambda net, out, slope: SELU_LAMBDA * _elu1_derivative(
                net, SELU_ALPHA),
        ),
        Activation(
            "softplus",
            value=lambda net, slope: _softplus(net),
            derivative=lambda net, out, slope: _sigmoid(net),
            formula=lambda net, slope, layer: _ln_1p_exp(net),
            derivative_formula=lambda net, out, slope: Div(n(1), add(1, exp(Neg(net)))),
            description="softplus ln(1 + e^net), a smooth ReLU; its derivative is the sigmoid",
            scalar=lambda net, slope: _softplus1(net),
            scalar_derivative=lambda net, out, slope: _sigmoid1(net),
        ),
        Activation(
            "softsign",
            value=lambda net, slope: net / (1.0 + np.abs(net)),
            derivative=lambda net, out, slope: 1.0 / (1.0 + np.abs(net)) ** 2,
            formula=lambda net, slope, layer: Div(net, add(1, Abs(net))),
            derivative_formula=lambda net, out, slope: Div(n(1), Pow(add(1, Abs(net)), n(2))),
            description="softsign net/(1 + |net|), output in (-1, 1)",
            scalar=lambda net, slope: net / (1.0 + abs(net)),
            scalar_derivative=lambda net, out, slope: 1.0 / _square(1.0 + abs(net)),
        ),
        Activation(
            "silu",
            value=lambda net, slope: net * _sigmoid(net),
            derivative=lambda net, out, slope: _sigmoid(net) * (1.0 + net * (1.0 - _sigmoid(net))),
            formula=lambda net, slope, layer: mul(net, _sigma(net)),
            derivative_formula=lambda net, out, slope: mul(
                _sigma(net), add(1, mul(net, sub(1, _sigma(net))))),
            description="SiLU (swish) net*sigmoid(net) (Hendrycks & Gimpel; Ramachandran et al.)",
            scalar=lambda net, slope: net * _sigmoid1(net),
            scalar_derivative=lambda net, out, slope: _silu1_derivative(net),
        ),
        Activation(
            "gelu",
            value=lambda net, slope: 0.5 * net * (1.0 + _erf(net / math.sqrt(2.0))),
            derivative=lambda net, out, slope: (0.5 * (1.0 + _erf(net / math.sqrt(2.0)))
                                                + net * np.exp(-0.5 * net * net) / _SQRT_2PI),
            formula=lambda net, slope, layer: Rel(
                mul(net, Call("Phi", (net,))), "=",
                mul(HALF, net, add(1, Call("erf", (Div(net, Root(n(2))),))))),
            derivative_formula=lambda net, out, slope: add(
                Call("Phi", (net,)),
                Div(mul(net, exp(Neg(Div(Pow(net, n(2)), n(2))))), Root(mul(2, _PI, dot=False)))),
            description="GELU, exact: net*Phi(net), Phi the normal CDF (Hendrycks & Gimpel, 2016)",
            scalar=lambda net, slope: 0.5 * net * (1.0 + math.erf(net / math.sqrt(2.0))),
            scalar_derivative=lambda net, out, slope: (
                0.5 * (1.0 + math.erf(net / math.sqrt(2.0)))
                + net * math.exp(-0.5 * net * net) / _SQRT_2PI),
        ),
        Activation(
            "gelu_tanh",
            value=lambda net, slope: 0.5 * net * (1.0 + _gelu_tanh_parts(net)[1]),
            derivative=lambda net, out, slope: _gelu_tanh_derivative(net),
            formula=lambda net, slope, layer: mul(HALF, net, add(1, _gelu_tanh_t(net))),
            derivative_formula=lambda net, out, slope: _where_t(
                add(mul(HALF, add(1, _T)),
                    mul(HALF, net, sub(1, Pow(_T, n(2))), _SQRT_2_PI,
                        add(1, mul(0.134145, Pow(net, n(2)))))),
                _gelu_tanh_t(net)),
            description="GELU, tanh approximation (torch's approximate='tanh')",
            scalar=lambda net, slope: 0.5 * net * (1.0 + _gelu_tanh1(net)),
            scalar_derivative=lambda net, out, slope: _gelu_tanh1_derivative(net),
        ),
        Activation(
            "mish",
            value=lambda net, slope: net * np.tanh(_softplus(net)),
            derivative=lambda net, out, slope: _mish_derivative(net),
            formula=lambda net, slope, layer: mul(net, Call("tanh", (_ln_1p_exp(net),))),
            derivative_formula=lambda net, out, slope: _where_t(
                add(_T, mul(net, sub(1, Pow(_T, n(2))), _sigma(net))),
                Call("tanh", (_ln_1p_exp(net),))),
            description="Mish (Misra, 2019): net*tanh(softplus(net))",
            scalar=lambda net, slope: net * math.tanh(_softplus1(net)),
            scalar_derivative=lambda net, out, slope: _mish1_derivative(net),
        ),
        Activation(
            "linear",
            value=lambda net, slope: net.copy(),
            derivative=lambda net, out, slope: np.ones_like(net),
            formula=lambda net, slope, layer: net,
            derivative_formula=lambda net, out, slope: n(1),
            description="identity: out = net",
            scalar=lambda net, slope: net,
            scalar_derivative=lambda net, out, slope: 1.0,
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
# swish is another name for silu (Ramachandran et al., 2017, with beta = 1)
ACTIVATIONS["swish"] = ACTIVATIONS["silu"]._replace(
    name="swish", description="swish: another name for silu, net*sigmoid(net)")


class Loss(NamedTuple):
    name: str
    # Per-output terms of one sample's loss; the sample's loss is their sum.
    term: Callable[[Array, Array, int], Array]  # (out, target, K) -> terms
    # d E / d out for each output.
    derivative: Callable[[Array, Array, int], Array]
    # Notation: one output's term and its derivative, trees of (target, out, K).
    term_formula: Callable[[Node, Node, Node], Node]
    derivative_formula: Callable[[Node, Node, Node], Node]
    description: str = ""
    # term and derivative of one output, on floats (o, t, K): see the module's docstring
    scalar_term: Callable[[float, float, int], float] | None = None
    scalar_derivative: Callable[[float, float, int], float] | None = None


def _xlogy(t: Array, o: Array) -> Array:
    # t ln o with the convention 0 ln 0 = 0, so a zero target never produces nan.
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(t == 0, 0.0, t * np.log(o))


def _xlogy1(t: float, o: float) -> float:
    return 0.0 if t == 0 else t * math.log(o)


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
            # d * d: NumPy squares x ** 2 as x * x, and so must this (pow may round otherwise)
            scalar_term=lambda o, t, k: 0.5 * ((t - o) * (t - o)),
            scalar_derivative=lambda o, t, k: o - t,
        ),
        Loss(
            "squared_error",
            term=lambda o, t, k: (t - o) ** 2,
            derivative=lambda o, t, k: 2.0 * (o - t),
            term_formula=lambda t, o, k: Pow(sub(t, o), n(2)),
            derivative_formula=lambda t, o, k: Neg(mul(2, sub(t, o), dot=False)),
            description="sum over outputs of (target - out)^2",
            scalar_term=lambda o, t, k: (t - o) * (t - o),
            scalar_derivative=lambda o, t, k: 2.0 * (o - t),
        ),
        Loss(
            "mean_squared_error",
            term=lambda o, t, k: (t - o) ** 2 / k,
            derivative=lambda o, t, k: -2.0 * (t - o) / k,
            term_formula=lambda t, o, k: Div(Pow(sub(t, o), n(2)), k),
            derivative_formula=lambda t, o, k: Neg(Div(mul(2, sub(t, o), dot=False), k)),
            description="mean over the K outputs of (target - out)^2",
            scalar_term=lambda o, t, k: (t - o) * (t - o) / k,
            scalar_derivative=lambda o, t, k: -2.0 * (t - o) / k,
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
            scalar_term=lambda o, t, k: -(_xlogy1(t, o) + _xlogy1(1.0 - t, 1.0 - o)) / k,
            scalar_derivative=lambda o, t, k: (o - t) / (o * (1.0 - o)) / k,
        ),
        Loss(
            "cross_entropy",
            term=lambda o, t, k: -_xlogy(t, o),
            derivative=_ce_derivative,
            term_formula=lambda t, o, k: Neg(mul(t, Call("ln", (o,)))),
            derivative_formula=lambda t, o, k: Neg(Div(t, o)),
            description="categorical cross-entropy -sum t ln out (softmax output)",
            scalar_term=lambda o, t, k: -_xlogy1(t, o),
            scalar_derivative=lambda o, t, k: 0.0 if t == 0 else -t / o,
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
            scalar_term=lambda o, t, k: o,
            scalar_derivative=lambda o, t, k: 1.0,
        ),
    ]
}
