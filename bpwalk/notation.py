"""Notation: how symbols, numbers and whole formulas are written, in three styles.

``unicode`` for the terminal (∂E/∂w₅, η, σ), ``ascii`` for plain text (dE/dw5, eta), and
``latex`` for Markdown math (\\frac{\\partial E_{total}}{\\partial w_{5}}). Every view asks this
module how a step reads; a new view is a new file that lays these strings out, not a new set
of formulas. Nothing here computes a value: numbers are only formatted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from bpwalk.functions import ACTIVATIONS, LOSSES
from bpwalk.trace import Operand, Step

STYLES = ("unicode", "ascii", "latex")
_STYLE_INDEX = {s: i for i, s in enumerate(STYLES)}

_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_SUP = str.maketrans("0123456789()", "⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾")
_SPLIT = re.compile(r"^([A-Za-z]+?)(\d+)$")
_GREEK = dict(zip(
    ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
     "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "phi", "chi", "psi", "omega"),
    "αβγδεζηθικλμνξπρστφχψω",
))

# ----------------------------------------------------------------------------- numbers


def number(value: float, decimals: int = 9, fixed: bool = False) -> str:
    """A number as a person writes it: at most `decimals` decimals, trailing zeros trimmed.

    Scientific notation only when fixed notation would hide the number (it would round to 0,
    or it is 1e15 or more); then with 4 significant digits, like 3.51e-10. With `fixed`, a
    number too small for `decimals` is written 0: for differences such as rounding drift,
    where anything below the last shown digit is float noise, not news.
    """
    if not math.isfinite(value):
        return str(value)
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("0", "-0"):
        if value == 0 or fixed:
            return "0"
        return f"{value:.4g}"
    if abs(value) >= 1e15:
        return f"{value:.4g}"
    return text


# ----------------------------------------------------------------------------- symbols


def _name(name: str, style: str) -> str:
    """A parameter or input name: w5 -> w₅ / w5 / w_{5}; theta4 -> θ... / \\theta_{4}."""
    m = _SPLIT.match(name)
    if style == "ascii":
        return name
    if style == "unicode":  # theta4 -> θ₄, as the textbook prints it
        if m:
            return _GREEK.get(m.group(1), m.group(1)) + m.group(2).translate(_SUB)
        return name if name == "eta" else _GREEK.get(name, name)  # η alone: the learning rate
    if m:
        head = "\\" + m.group(1) if m.group(1) in _GREEK else m.group(1)
        return f"{head}_{{{m.group(2)}}}"
    # a parameter called eta stays a word: a bare \eta is the learning rate
    return "\\" + name if name in _GREEK and name != "eta" else _text(name)


def _text(name: str) -> str:
    """A free-form name inside LaTeX math: upright, underscores escaped."""
    return "\\mathrm{" + name.replace("_", "\\_") + "}"


def _sub(base: str, name: str, style: str) -> str:
    """A quantity of a neuron: out_h1, net_o1; in LaTeX out_{h1}."""
    if style == "latex":
        inner = name.replace("_", "\\_")
        return f"{base}_{{{inner}}}"
    return f"{base}_{name}"


def _sample(text: str, sample: str | None, style: str) -> str:
    if not sample:
        return text
    if style == "unicode":
        return text + f"({sample})".translate(_SUP)
    if style == "ascii":
        return f"{text}@{sample}"
    return f"{{{text}}}^{{({sample})}}"


def _partial(top: str, bottom: str, style: str) -> str:
    if style == "unicode":
        return f"∂{top}/∂{bottom}"
    if style == "ascii":
        return f"d{top}/d{bottom}"
    return f"\\frac{{\\partial {top}}}{{\\partial {bottom}}}"


def _loss_symbol(style: str) -> str:
    return "E_{total}" if style == "latex" else "E"


# The optimizers' settings (operands without a name): unicode, ascii, latex
_HYPER = {
    "momentum": ("μ", "mu", "\\mu"), "alpha": ("α", "alpha", "\\alpha"),
    "beta1": ("β₁", "beta1", "\\beta_1"), "beta2": ("β₂", "beta2", "\\beta_2"),
    "eps": ("ε", "eps", "\\epsilon"), "lambda": ("λ", "lambda", "\\lambda"),
    "1-alpha": ("(1 − α)", "(1 - alpha)", "(1 - \\alpha)"),
    "1-beta1": ("(1 − β₁)", "(1 - beta1)", "(1 - \\beta_1)"),
    "1-beta2": ("(1 − β₂)", "(1 - beta2)", "(1 - \\beta_2)"),
    "1-beta1^t": ("(1 − β₁ᵗ)", "(1 - beta1^t)", "(1 - \\beta_1^t)"),
    "1-beta2^t": ("(1 − β₂ᵗ)", "(1 - beta2^t)", "(1 - \\beta_2^t)"),
    "1-lr*lambda": ("(1 − ηλ)", "(1 - eta*lambda)", "(1 - \\eta\\lambda)"),
}
# An optimizer's quantity of one parameter: the letter before the parameter's name
_STATE = {"vel": ("v", "v", "v"), "sq": ("s", "s", "s"), "m": ("m", "m", "m"),
          "v": ("v", "v", "v"), "mhat": ("m\u0302", "mhat", "\\hat{m}"),
          "vhat": ("v\u0302", "vhat", "\\hat{v}"), "l2": ("g", "g", "g")}


def _state(kind: str, name: str, style: str) -> str:
    """m_w5 (this update's m of w5); prev_m:w5 is the m carried in, m_w5[t−1]."""
    prev = kind.startswith("prev_")
    text = _sub(_STATE[kind.removeprefix("prev_")][_STYLE_INDEX[style]], name, style)
    if not prev:
        return text
    return {"unicode": f"{text}[t−1]", "ascii": f"{text}[t-1]", "latex": f"{text}^{{(t-1)}}"}[style]


def symbol(ref: str, style: str) -> str:
    """The symbol for a step id or operand ref, e.g. ``grad:w5`` -> ∂E/∂w₅."""
    base, _, sample = ref.partition("@")
    kind, _, name = base.partition(":")
    if kind == "1" and not name:
        return "1"
    if kind == "lr":
        return {"unicode": "η", "ascii": "eta", "latex": "\\eta"}[style]
    if kind in _HYPER and not name:
        return _HYPER[kind][_STYLE_INDEX[style]]
    if kind.removeprefix("prev_") in _STATE:
        return _state(kind, name, style)
    if kind == "decay":  # AdamW's decayed parameter, before the Adam step
        return _name(name, style) + {"unicode": "′", "ascii": "'", "latex": "'"}[style]
    E = _loss_symbol(style)
    if kind == "loss":
        text = _sub("E", name, style) if name else E
        return _sample(text, sample, style)
    if kind == "param":
        return _name(name, style)
    if kind == "new":
        plus = {"unicode": "⁺", "ascii": "+", "latex": "^{+}"}[style]
        return _name(name, style) + plus
    if kind == "in":
        return _sample(_name(name, style), sample, style)
    if kind in ("out", "net", "target"):
        return _sample(_sub(kind, name, style), sample, style)
    if kind == "dout":
        text = _partial(E, _sub("out", name, style), style)
    elif kind == "dnet":
        text = _partial(E, _sub("net", name, style), style)
    elif kind == "dact":
        text = _partial(_sub("out", name, style), _sub("net", name, style), style)
    elif kind == "jac":
        j, _, k = name.partition("/")
        text = _partial(_sub("out", j, style), _sub("net", k, style), style)
    elif kind == "wrt":  # d net_j / d param: the input the parameter carries (1 for a bias)
        j, _, p = name.partition("/")
        text = _partial(_sub("net", j, style), _name(p, style), style)
    elif kind in ("grad", "din"):  # din: dE/d(input), with input_gradients
        text = _partial(E, _name(name, style), style)
    else:
        raise ValueError(f"unknown reference {ref!r}")
    return _sample(text, sample, style) if style != "latex" or not sample else \
        _sample_partial(text, sample)


def _sample_partial(text: str, sample: str) -> str:
    return f"\\left({text}\\right)^{{({sample})}}"


# ----------------------------------------------------------------------------- formulas


@dataclass(frozen=True)
class Formula:
    """One step written out: lhs = symbolic = numeric = result."""

    lhs: str
    symbolic: str
    numeric: str
    result: str


_OPS = {
    "unicode": {"times": "·", "minus": " − ", "plus": " + "},
    "ascii": {"times": "*", "minus": " - ", "plus": " + "},
    "latex": {"times": " \\cdot ", "minus": " - ", "plus": " + "},
}


def _fill(template: str, **slots: str) -> str:
    for key, value in slots.items():
        template = template.replace("{" + key + "}", value)
    return template


def _num(style: str, decimals: int) -> Callable[[float], str]:
    def fmt(value: float) -> str:
        text = number(value, decimals)
        if style == "latex" and "e" in text:
            mant, _, exp = text.partition("e")
            text = f"{mant} \\times 10^{{{int(exp)}}}"
        return text

    return fmt


def _paren(text: str, style: str) -> str:
    if style == "latex":
        return f"\\left({text}\\right)"
    return f"({text})"


def _operand(op: Operand, style: str, fmt: Callable[[float], str], numeric: bool,
             in_product: bool) -> str:
    if not numeric:
        return symbol(op.ref, style)
    text = fmt(op.value)
    if in_product and text.startswith("-"):
        return _paren(text, style)
    return text


def _sum_of_products(terms, style: str, fmt, numeric: bool) -> str:
    ops = _OPS[style]
    parts = []
    for term in terms:
        product = len(term) > 1 or len(terms) > 1
        parts.append(ops["times"].join(_operand(o, style, fmt, numeric, product) for o in term))
    return ops["plus"].join(parts)


def formula(step: Step, style: str, decimals: int = 9) -> Formula:
    """How `step` reads in `style`: its symbol, the formula in symbols and in numbers, the value."""
    fmt = _num(style, decimals)
    ops = _OPS[style]
    lhs = symbol(step.id, style)
    result = fmt(step.value)
    kind, terms = step.kind, step.terms
    si = _STYLE_INDEX[style]

    def sym_num(builder: Callable[[bool], str]) -> tuple[str, str]:
        return builder(False), builder(True)

    if kind == "out" and step.fn != "softmax":
        act = ACTIVATIONS[step.fn]
        net = terms[0][0]
        slope = fmt(_slope(step))
        symbolic = _fill(act.formula[si], net=symbol(net.ref, style), slope=slope)
        numeric = _fill(act.formula[si], net=_maybe_paren(fmt(net.value), style), slope=slope)
    elif kind == "out":  # softmax
        mine = next(t[0] for t in terms if t[0].ref.split("@")[0] == f"net:{step.subject}")

        def soft(numeric: bool) -> str:
            def e(op: Operand) -> str:
                v = _maybe_paren(fmt(op.value), style) if numeric else symbol(op.ref, style)
                return f"e^{{{v}}}" if style == "latex" else f"e^{v}"
            den = ops["plus"].join(e(t[0]) for t in terms)
            if style == "latex":
                return f"\\frac{{{e(mine)}}}{{{den}}}"
            return f"{e(mine)} / ({den})"

        symbolic, numeric = sym_num(soft)
    elif kind == "loss" and step.subject:  # one output's term
        symbolic, numeric = _loss_templates(step, LOSSES[step.fn].term_formula[si], style, fmt)
    elif kind == "dout" and step.fn != "sum":  # output neuron: the loss's derivative
        symbolic, numeric = _loss_templates(step, LOSSES[step.fn].derivative_formula[si], style, fmt)
    elif kind == "dact":
        act = ACTIVATIONS[step.fn]
        net, out = terms[0][0], terms[1][0]
        slope = fmt(_slope(step))
        template = act.derivative_formula[si]
        symbolic = _fill(template, net=symbol(net.ref, style), out=symbol(out.ref, style),
                         slope=slope)
        numeric = _fill(template, net=_maybe_paren(fmt(net.value), style),
                        out=_maybe_paren(fmt(out.value), style), slope=slope)
    elif kind.startswith("prev_"):  # the state carried in: a value, not a formula
        symbolic = numeric = result
    elif kind == "new" and step.fn in ("adaptive", "nesterov"):
        symbolic, numeric = sym_num(lambda n: _optimizer_step(step, style, fmt, n))
    elif step.fn == "quotient":  # a bias correction: m / (1 − β₁ᵗ)
        def quotient(numeric: bool) -> str:
            top, bottom = (_operand(t[0], style, fmt, numeric, False) for t in terms)
            if style == "latex":
                return f"\\frac{{{top}}}{{{bottom.strip('()')}}}"
            return f"{top} / {bottom}"

        symbolic, numeric = sym_num(quotient)
    elif kind == "new":
        old, lr, grad = terms[0][0], terms[1][0], terms[2][0]

        def upd(numeric: bool) -> str:
            def o(op: Operand, product: bool) -> str:
                return _operand(op, style, fmt, numeric, product)
            return f"{o(old, False)}{ops['minus']}{o(lr, True)}{ops['times']}{o(grad, True)}"

        symbolic, numeric = sym_num(upd)
    elif step.fn in ("mean", "sum") and kind in ("loss", "grad") and step.sample is None \
            and all(len(t) == 1 and "@" in t[0].ref for t in terms):
        # a batch combination of per-sample values
        def combine(numeric: bool) -> str:
            inner = _sum_of_products(terms, style, fmt, numeric)
            if step.fn == "sum":
                return inner
            if style == "latex":
                return f"\\frac{{{inner}}}{{{len(terms)}}}"
            return f"({inner}) / {len(terms)}"

        symbolic, numeric = sym_num(combine)
    else:  # net, a sample's loss, hidden dout, dnet, grad: a sum of products
        symbolic, numeric = sym_num(lambda n: _sum_of_products(terms, style, fmt, n))
    return Formula(lhs, symbolic, numeric, result)


def _optimizer_step(step: Step, style: str, fmt, numeric: bool) -> str:
    """p − η·m̂/(√v̂ + ε) (RMSprop, Adam) or p − η·(g + μ·v) (Nesterov)."""
    ops = _OPS[style]

    def o(op: Operand, product: bool = True) -> str:
        return _operand(op, style, fmt, numeric, product)

    old, lr = step.terms[0][0], step.terms[1][0]
    head = f"{o(old, False)}{ops['minus']}{o(lr)}{ops['times']}"
    if step.fn == "nesterov":
        g, (mu, vel) = step.terms[2][0], step.terms[3]
        return head + _paren(f"{o(g, False)}{ops['plus']}{o(mu)}{ops['times']}{o(vel)}", style)
    num, den, eps = step.terms[2][0], step.terms[3][0], step.terms[4][0]
    if style == "latex":
        return head + f"\\frac{{{o(num, False)}}}{{\\sqrt{{{o(den, False)}}} + {o(eps, False)}}}"
    root = "√" if style == "unicode" else "sqrt"
    return head + f"{o(num)} / ({root}({o(den, False)}){ops['plus']}{o(eps, False)})"


def _maybe_paren(text: str, style: str) -> str:
    return _paren(text, style) if text.startswith("-") else text


def _aux(step: Step, ref: str, default: float) -> float:
    return next((o.value for o in step.aux if o.ref == ref), default)


def _slope(step: Step) -> float:
    return _aux(step, "slope", 0.0)  # leaky_relu's slope, elu's alpha


def _loss_templates(step: Step, template: str, style: str, fmt) -> tuple[str, str]:
    t, out = step.terms[0][0], step.terms[1][0]
    k = str(_outputs(step))
    symbolic = _fill(template, t=symbol(t.ref, style), out=symbol(out.ref, style), K=k)
    numeric = _fill(template, t=_maybe_paren(fmt(t.value), style),
                    out=_maybe_paren(fmt(out.value), style), K=k)
    return symbolic, numeric


def _outputs(step: Step) -> int:
    return int(_aux(step, "K", 1))


def shortcut(step: Step, style: str, decimals: int = 9) -> Formula | None:
    """The softmax + cross-entropy delta written the short way, out − target, or None.

    The engine stores out and target in the dnet step's ``aux`` for that pairing; the value
    is the step's own (the Jacobian sum), so the shortcut adds a derivation, not a number.
    """
    out = next((o for o in step.aux if o.ref.startswith("out:")), None)
    target = next((o for o in step.aux if o.ref.startswith("target:")), None)
    if step.kind != "dnet" or out is None or target is None:
        return None
    fmt = _num(style, decimals)
    minus = _OPS[style]["minus"]
    symbolic = f"{symbol(out.ref, style)}{minus}{symbol(target.ref, style)}"
    numeric = f"{fmt(out.value)}{minus}{_maybe_paren(fmt(target.value), style)}"
    return Formula(symbol(step.id, style), symbolic, numeric, fmt(step.value))


def loss_formula(loss: str, style: str) -> str:
    """The loss of one sample written out, e.g. E = Σ ½(target − out)²."""
    return LOSSES[loss].total_formula[_STYLE_INDEX[style]]


# Each optimizer's rule in general symbols (p a parameter, g its gradient), for a caption
_RULES = {
    "sgd": ("p⁺ = p − η·g", "p+ = p - eta*g", r"p^{+} = p - \eta g"),
    "momentum": ("v = μ·v[t−1] + g,  p⁺ = p − η·v", "v = mu*v[t-1] + g,  p+ = p - eta*v",
                 r"v = \mu v^{(t-1)} + g,\quad p^{+} = p - \eta v"),
    "nesterov": ("v = μ·v[t−1] + g,  p⁺ = p − η·(g + μ·v)",
                 "v = mu*v[t-1] + g,  p+ = p - eta*(g + mu*v)",
                 r"v = \mu v^{(t-1)} + g,\quad p^{+} = p - \eta (g + \mu v)"),
    "rmsprop": ("s = α·s[t−1] + (1 − α)·g²,  p⁺ = p − η·g / (√s + ε)",
                "s = alpha*s[t-1] + (1 - alpha)*g^2,  p+ = p - eta*g / (sqrt(s) + eps)",
                (r"s = \alpha s^{(t-1)} + (1 - \alpha) g^2,\quad "
                r"p^{+} = p - \eta \frac{g}{\sqrt{s} + \epsilon}")),
    "adam": (("m = β₁·m[t−1] + (1 − β₁)·g,  v = β₂·v[t−1] + (1 − β₂)·g²,  "
             "m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ),  p⁺ = p − η·m̂ / (√v̂ + ε)"),
             ("m = beta1*m[t-1] + (1 - beta1)*g,  v = beta2*v[t-1] + (1 - beta2)*g^2,  "
             "mhat = m / (1 - beta1^t),  vhat = v / (1 - beta2^t),  "
             "p+ = p - eta*mhat / (sqrt(vhat) + eps)"),
             (r"m = \beta_1 m^{(t-1)} + (1 - \beta_1) g,\quad v = \beta_2 v^{(t-1)} + "
             r"(1 - \beta_2) g^2,\quad \hat{m} = \frac{m}{1 - \beta_1^t},\quad "
             r"\hat{v} = \frac{v}{1 - \beta_2^t},\quad "
             r"p^{+} = p - \eta \frac{\hat{m}}{\sqrt{\hat{v}} + \epsilon}")),
}


def optimizer_settings(optimizer, style: str, decimals: int = 9) -> str:
    """An optimizer's settings: β₁ = 0.9, β₂ = 0.999, ε = 1e-08, λ = 0 (for adam)."""
    fmt = _num(style, decimals)
    values = optimizer.to_dict()
    del values["name"]
    refs = {"weight_decay": "lambda"}
    return ", ".join(f"{symbol(refs.get(k, k), style)} = {fmt(v)}" for k, v in values.items())


def update_rule(optimizer, style: str) -> str:
    """The optimizer's rule in general symbols, with its weight decay, for a caption."""
    rule = _RULES["adam" if optimizer.name == "adamw" else optimizer.name][_STYLE_INDEX[style]]
    if not optimizer.weight_decay:
        return rule
    if optimizer.name == "adamw":
        first = {"unicode": "p′ = p·(1 − ηλ), then ", "ascii": "p' = p*(1 - eta*lambda), then ",
                 "latex": r"p' = p (1 - \eta\lambda),\ \text{then}\ "}[style]
        return first + rule.replace("p⁺ = p ", "p⁺ = p′ ").replace("p+ = p ", "p+ = p' ") \
            .replace("p^{+} = p ", "p^{+} = p' ")
    first = {"unicode": "g = ∂E/∂p + λ·p,  ", "ascii": "g = dE/dp + lambda*p,  ",
             "latex": r"g = \frac{\partial E}{\partial p} + \lambda p,\quad "}[style]
    return first + rule


def activation_formula(activation: str, style: str) -> str:
    """out = f(net) for an activation, in general symbols (net, out)."""
    act = ACTIVATIONS[activation]
    return "out = " + _fill(act.formula[_STYLE_INDEX[style]], net="net",
                            slope=act.parameter or "slope")
