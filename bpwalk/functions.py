"""Activations and losses: each one entry holding its value, its derivative and its notation.

Adding an activation or a loss means adding one entry here; the engine, the views and the
scenario validator all read these tables. Every function works on float64 NumPy arrays.

Notation fields are templates a view fills in: ``{net}``, ``{out}``, ``{t}`` stand for the
symbols of one neuron (the view chooses Unicode, ASCII or LaTeX) and ``{K}`` for the number
of outputs. Each template exists in three flavours so no view has to translate math.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

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


@dataclass(frozen=True)
class Activation:
    name: str
    value: Callable[[Array, float], Array]
    # d out / d net, written the way tutorials write it (in terms of out where that is usual).
    derivative: Callable[[Array, Array, float], Array]
    # Notation: the function applied to net, and its derivative, in unicode / ascii / latex.
    formula: tuple[str, str, str]
    derivative_formula: tuple[str, str, str]
    output_only: bool = False
    description: str = ""
    # The layer key of the activation's one setting ("slope" for leaky_relu, "alpha" for
    # elu), shown as {slope} in the formulas, and its default; "" when it has none.
    parameter: str = ""
    default: float = 0.0


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in [
        Activation(
            "sigmoid",
            value=lambda net, slope: _sigmoid(net),
            derivative=lambda net, out, slope: out * (1.0 - out),
            formula=("1/(1 + e^(−{net}))", "1/(1 + e^(-{net}))", r"\frac{1}{1 + e^{-{net}}}"),
            derivative_formula=("{out}(1 − {out})", "{out}(1 - {out})", r"{out}(1 - {out})"),
            description="logistic sigmoid 1/(1+e^-net), output in (0, 1)",
        ),
        Activation(
            "tanh",
            value=lambda net, slope: np.tanh(net),
            derivative=lambda net, out, slope: 1.0 - out * out,
            formula=("tanh({net})", "tanh({net})", r"\tanh({net})"),
            derivative_formula=("1 − {out}²", "1 - {out}^2", r"1 - {out}^2"),
            description="hyperbolic tangent, output in (-1, 1)",
        ),
        Activation(
            "relu",
            value=lambda net, slope: np.maximum(net, 0.0),
            # The derivative at exactly 0 is taken as 0 (a convention; the kink has none).
            derivative=lambda net, out, slope: (net > 0).astype(np.float64),
            formula=("max(0, {net})", "max(0, {net})", r"\max(0, {net})"),
            derivative_formula=(
                "1 if {net} > 0 else 0",
                "1 if {net} > 0 else 0",
                r"\begin{cases} 1 & {net} > 0 \\ 0 & {net} \le 0 \end{cases}",
            ),
            description="rectified linear unit max(0, net); derivative 0 at net = 0",
        ),
        Activation(
            "leaky_relu",
            value=lambda net, slope: np.where(net > 0, net, slope * net),
            derivative=lambda net, out, slope: np.where(net > 0, 1.0, slope),
            formula=(
                "{net} if {net} > 0 else {slope}·{net}",
                "{net} if {net} > 0 else {slope}*{net}",
                r"\begin{cases} {net} & {net} > 0 \\ {slope} \cdot {net} & {net} \le 0 \end{cases}",
            ),
            derivative_formula=(
                "1 if {net} > 0 else {slope}",
                "1 if {net} > 0 else {slope}",
                r"\begin{cases} 1 & {net} > 0 \\ {slope} & {net} \le 0 \end{cases}",
            ),
            description="leaky ReLU: net, or slope*net below 0 (slope 0.01 unless set)",
            parameter="slope",
            default=0.01,
        ),
        Activation(
            "elu",
            value=lambda net, alpha: _elu(net, alpha),
            derivative=lambda net, out, alpha: np.where(net > 0, 1.0, alpha * np.exp(np.minimum(net, 0.0))),
            formula=(
                "{net} if {net} > 0 else {slope}·(e^{net} − 1)",
                "{net} if {net} > 0 else {slope}*(e^{net} - 1)",
                r"\begin{cases} {net} & {net} > 0 \\ {slope} (e^{{net}} - 1) & {net} \le 0 \end{cases}",
            ),
            derivative_formula=(
                "1 if {net} > 0 else {slope}·e^{net}",
                "1 if {net} > 0 else {slope}*e^{net}",
                r"\begin{cases} 1 & {net} > 0 \\ {slope} e^{{net}} & {net} \le 0 \end{cases}",
            ),
            description="ELU (Clevert et al., 2016): net, or alpha(e^net - 1) below 0 (alpha 1)",
            parameter="alpha",
            default=1.0,
        ),
        Activation(
            "selu",
            value=lambda net, slope: SELU_LAMBDA * _elu(net, SELU_ALPHA),
            derivative=lambda net, out, slope: SELU_LAMBDA * np.where(
                net > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(net, 0.0))),
            formula=(
                "λ·({net} if {net} > 0 else α·(e^{net} − 1))",
                "lambda*({net} if {net} > 0 else alpha*(e^{net} - 1))",
                r"\lambda \begin{cases} {net} & {net} > 0 \\ \alpha (e^{{net}} - 1) & {net} \le 0 \end{cases}",
            ),
            derivative_formula=(
                "λ if {net} > 0 else λ·α·e^{net}",
                "lambda if {net} > 0 else lambda*alpha*e^{net}",
                r"\begin{cases} \lambda & {net} > 0 \\ \lambda \alpha e^{{net}} & {net} \le 0 \end{cases}",
            ),
            description="SELU (Klambauer et al., 2017): ELU scaled, lambda 1.0507, alpha 1.6733",
        ),
        Activation(
            "softplus",
            value=lambda net, slope: _softplus(net),
            derivative=lambda net, out, slope: _sigmoid(net),
            formula=("ln(1 + e^{net})", "ln(1 + e^{net})", r"\ln(1 + e^{{net}})"),
            derivative_formula=("1/(1 + e^(−{net}))", "1/(1 + e^(-{net}))",
                                r"\frac{1}{1 + e^{-{net}}}"),
            description="softplus ln(1 + e^net), a smooth ReLU; its derivative is the sigmoid",
        ),
        Activation(
            "softsign",
            value=lambda net, slope: net / (1.0 + np.abs(net)),
            derivative=lambda net, out, slope: 1.0 / (1.0 + np.abs(net)) ** 2,
            formula=("{net} / (1 + |{net}|)", "{net} / (1 + |{net}|)",
                     r"\frac{{net}}{1 + |{net}|}"),
            derivative_formula=("1 / (1 + |{net}|)²", "1 / (1 + |{net}|)^2",
                                r"\frac{1}{(1 + |{net}|)^2}"),
            description="softsign net/(1 + |net|), output in (-1, 1)",
        ),
        Activation(
            "silu",
            value=lambda net, slope: net * _sigmoid(net),
            derivative=lambda net, out, slope: _sigmoid(net) * (1.0 + net * (1.0 - _sigmoid(net))),
            formula=("{net}·σ({net})", "{net}*sigmoid({net})", r"{net} \, \sigma({net})"),
            derivative_formula=("σ({net})·(1 + {net}·(1 − σ({net})))",
                                "sigmoid({net})*(1 + {net}*(1 - sigmoid({net})))",
                                r"\sigma({net}) \left(1 + {net} (1 - \sigma({net}))\right)"),
            description="SiLU (swish) net*sigmoid(net) (Hendrycks & Gimpel; Ramachandran et al.)",
        ),
        Activation(
            "gelu",
            value=lambda net, slope: 0.5 * net * (1.0 + _erf(net / math.sqrt(2.0))),
            derivative=lambda net, out, slope: (0.5 * (1.0 + _erf(net / math.sqrt(2.0)))
                                                + net * np.exp(-0.5 * net * net) / _SQRT_2PI),
            formula=("{net}·Φ({net}) = ½·{net}·(1 + erf({net}/√2))",
                     "{net}*Phi({net}) = 0.5*{net}*(1 + erf({net}/sqrt(2)))",
                     r"\tfrac{1}{2} {net} \left(1 + \operatorname{erf}({net}/\sqrt{2})\right)"),
            derivative_formula=("Φ({net}) + {net}·e^(−{net}²/2)/√(2π)",
                                "Phi({net}) + {net}*e^(-{net}^2/2)/sqrt(2 pi)",
                                r"\Phi({net}) + \frac{{net} \, e^{-{net}^2/2}}{\sqrt{2\pi}}"),
            description="GELU, exact: net*Phi(net), Phi the normal CDF (Hendrycks & Gimpel, 2016)",
        ),
        Activation(
            "gelu_tanh",
            value=lambda net, slope: 0.5 * net * (1.0 + _gelu_tanh_parts(net)[1]),
            derivative=lambda net, out, slope: _gelu_tanh_derivative(net),
            formula=("½·{net}·(1 + tanh(√(2/π)·({net} + 0.044715·{net}³)))",
                     "0.5*{net}*(1 + tanh(sqrt(2/pi)*({net} + 0.044715*{net}^3)))",
                     r"\tfrac{1}{2} {net} \left(1 + \tanh\left(\sqrt{2/\pi}\,({net} + 0.044715\,{net}^3)\right)\right)"),
            derivative_formula=(("½(1 + t) + ½·{net}·(1 − t²)·√(2/π)·(1 + 0.134145·{net}²), "
                                "t = tanh(√(2/π)·({net} + 0.044715·{net}³))"),
                                ("0.5(1 + t) + 0.5*{net}*(1 - t^2)*sqrt(2/pi)*(1 + 0.134145*{net}^2), "
                                "t = tanh(sqrt(2/pi)*({net} + 0.044715*{net}^3))"),
                                (r"\tfrac{1}{2}(1 + t) + \tfrac{1}{2} {net} (1 - t^2) \sqrt{2/\pi}\,"
                                r"(1 + 0.134145\,{net}^2),\ t = \tanh\left(\sqrt{2/\pi}\,({net} + "
                                r"0.044715\,{net}^3)\right)")),
            description="GELU, tanh approximation (torch's approximate='tanh')",
        ),
        Activation(
            "mish",
            value=lambda net, slope: net * np.tanh(_softplus(net)),
            derivative=lambda net, out, slope: _mish_derivative(net),
            formula=("{net}·tanh(ln(1 + e^{net}))", "{net}*tanh(ln(1 + e^{net}))",
                     r"{net} \tanh\left(\ln(1 + e^{{net}})\right)"),
            derivative_formula=("t + {net}·(1 − t²)·σ({net}), t = tanh(ln(1 + e^{net}))",
                                "t + {net}*(1 - t^2)*sigmoid({net}), t = tanh(ln(1 + e^{net}))",
                                r"t + {net} (1 - t^2) \sigma({net}),\ t = \tanh\left(\ln(1 + e^{{net}})\right)"),
            description="Mish (Misra, 2019): net*tanh(softplus(net))",
        ),
        Activation(
            "linear",
            value=lambda net, slope: net.copy(),
            derivative=lambda net, out, slope: np.ones_like(net),
            formula=("{net}", "{net}", "{net}"),
            derivative_formula=("1", "1", "1"),
            description="identity: out = net",
        ),
        Activation(
            "softmax",
            value=lambda net, slope: _softmax(net),
            # The diagonal of the Jacobian; the engine uses the full Jacobian
            # d out_j / d net_k = out_j (delta_jk - out_k) for softmax layers.
            derivative=lambda net, out, slope: out * (1.0 - out),
            formula=(
                "e^{net} / Σⱼ e^(net_j)",
                "e^{net} / sum_j e^(net_j)",
                r"\frac{e^{{net}}}{\sum_j e^{net_j}}",
            ),
            derivative_formula=(
                "{out}(δ − {out2})",
                "{out}(delta - {out2})",
                r"{out}(\delta - {out2})",
            ),
            output_only=True,
            description="softmax over the layer, outputs sum to 1 (output layer only)",
        ),
    ]
}
# swish is another name for silu (Ramachandran et al., 2017, with beta = 1)
ACTIVATIONS["swish"] = replace(ACTIVATIONS["silu"], name="swish",
                               description="swish: another name for silu, net*sigmoid(net)")


@dataclass(frozen=True)
class Loss:
    name: str
    # Per-output terms of one sample's loss; the sample's loss is their sum.
    term: Callable[[Array, Array, int], Array]  # (out, target, K) -> terms
    # d E / d out for each output.
    derivative: Callable[[Array, Array, int], Array]
    # Notation of one output's term and of its derivative, unicode / ascii / latex.
    term_formula: tuple[str, str, str]
    derivative_formula: tuple[str, str, str]
    total_formula: tuple[str, str, str]
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
            term_formula=("½({t} − {out})²", "1/2 ({t} - {out})^2", r"\tfrac{1}{2}({t} - {out})^2"),
            derivative_formula=("−({t} − {out})", "-({t} - {out})", r"-({t} - {out})"),
            total_formula=("E = Σ ½(target − out)²", "E = sum 1/2 (target - out)^2",
                           r"E_{total} = \sum_k \tfrac{1}{2}(target_k - out_k)^2"),
            description="sum over outputs of 1/2 (target - out)^2 (Mazur's E_total)",
        ),
        Loss(
            "squared_error",
            term=lambda o, t, k: (t - o) ** 2,
            derivative=lambda o, t, k: 2.0 * (o - t),
            term_formula=("({t} − {out})²", "({t} - {out})^2", r"({t} - {out})^2"),
            derivative_formula=("−2({t} − {out})", "-2({t} - {out})", r"-2({t} - {out})"),
            total_formula=("E = Σ (target − out)²", "E = sum (target - out)^2",
                           r"E_{total} = \sum_k (target_k - out_k)^2"),
            description="sum over outputs of (target - out)^2",
        ),
        Loss(
            "mean_squared_error",
            term=lambda o, t, k: (t - o) ** 2 / k,
            derivative=lambda o, t, k: -2.0 * (t - o) / k,
            term_formula=("({t} − {out})²/{K}", "({t} - {out})^2/{K}", r"\frac{({t} - {out})^2}{{K}}"),
            derivative_formula=("−2({t} − {out})/{K}", "-2({t} - {out})/{K}",
                                r"-\frac{2({t} - {out})}{{K}}"),
            total_formula=("E = (1/K) Σ (target − out)²", "E = (1/K) sum (target - out)^2",
                           r"E_{total} = \frac{1}{K}\sum_k (target_k - out_k)^2"),
            description="mean over the K outputs of (target - out)^2",
        ),
        Loss(
            "binary_cross_entropy",
            term=_bce_term,
            derivative=_bce_derivative,
            term_formula=("−[{t} ln {out} + (1 − {t}) ln(1 − {out})]/{K}",
                          "-[{t} ln {out} + (1 - {t}) ln(1 - {out})]/{K}",
                          r"-\frac{{t} \ln {out} + (1 - {t}) \ln(1 - {out})}{{K}}"),
            derivative_formula=("({out} − {t}) / ({out}(1 − {out})·{K})",
                                "({out} - {t}) / ({out}(1 - {out})*{K})",
                                r"\frac{{out} - {t}}{{out}(1 - {out}) \cdot {K}}"),
            total_formula=("E = −(1/K) Σ [t ln out + (1 − t) ln(1 − out)]",
                           "E = -(1/K) sum [t ln out + (1 - t) ln(1 - out)]",
                           r"E_{total} = -\frac{1}{K}\sum_k \left[t_k \ln out_k + (1 - t_k)\ln(1 - out_k)\right]"),
            description="binary cross-entropy, averaged over outputs (sigmoid outputs)",
        ),
        Loss(
            "cross_entropy",
            term=lambda o, t, k: -_xlogy(t, o),
            derivative=_ce_derivative,
            term_formula=("−{t} ln {out}", "-{t} ln {out}", r"-{t} \ln {out}"),
            derivative_formula=("−{t}/{out}", "-{t}/{out}", r"-\frac{{t}}{{out}}"),
            total_formula=("E = −Σ target ln out", "E = -sum target ln out",
                           r"E_{total} = -\sum_k target_k \ln out_k"),
            description="categorical cross-entropy -sum t ln out (softmax output)",
        ),
        Loss(
            "output",
            # E is the sum of the outputs themselves, so dE/dout = 1: backpropagating it gives
            # the gradient of the network's output (CS231n's circuits start from df/df = 1).
            # Targets are ignored.
            term=lambda o, t, k: o.copy(),
            derivative=lambda o, t, k: np.ones_like(o),
            term_formula=("{out}", "{out}", "{out}"),
            derivative_formula=("1", "1", "1"),
            total_formula=("E = Σ out", "E = sum out", r"E = \sum_k out_k"),
            description="the outputs themselves (dE/dout = 1): gradients of the output, targets ignored",
        ),
    ]
}
