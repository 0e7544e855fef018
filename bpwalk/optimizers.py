"""Optimizers: each update rule written once, on NumPy arrays, with PyTorch's semantics.

Both engine paths call the same rule. The fast path hands it every trained parameter as one
flat vector and a `see` that returns each quantity unchanged. The explained path hands it the
same vector and a `see` that rounds each quantity (``round_to``), injects a classic mistake
when asked, and keeps the quantity with its formula's operands to write Steps. So a rule
names each quantity as it computes it, with the operands of its formula beside it, the way
micrograd writes an operation's derivative beside its value:

    see(kind, value, terms, fn, variants) -> the value to go on with

``terms`` is a sum of products of (ref kind, operand) pairs: an operand that is an array is
per parameter (ref ``m:w5``), a float is a scalar (ref ``beta1``). ``fn`` names a formula
that is not a sum of products (a quotient, the adaptive step). ``variants`` returns a dict
that maps a mistake kind to the wrong formula, for ``bpwalk check`` (built only when asked).

The fast loop runs a rule thousands of times on small vectors, where NumPy's cost is per
operation, not per element: so the rules compute into their own temporaries in place
(``m *= ...``), which gives the same float64 numbers as the textbook expression and saves
an array per operation. Arrays passed in (p, g, the state) are never changed.

A rule uses nothing but arithmetic operators and this module's _sqrt and _divided, so it
runs on other numbers too: the engine's loop for tiny networks calls it on numbers that
write down their arithmetic as Python source (one parameter's chain of quantities), and
runs that source on plain floats. The same operations in the same order, written once.

The rules follow torch.optim (2.x, defaults ``foreach``/single-tensor, not fused):

* sgd:       g = ∂E/∂p (+ λp);  p ← p − η·g
* momentum:  v ← μ·v + g (dampening 0; the first update v = g);  p ← p − η·v
* nesterov:  v ← μ·v + g;  p ← p − η·(g + μ·v)
* rmsprop:   s ← α·s + (1 − α)·g²;  p ← p − η·g / (√s + ε)   (ε outside the root)
* adam:      m ← β₁·m + (1 − β₁)·g;  v ← β₂·v + (1 − β₂)·g²;  m̂ = m / (1 − β₁ᵗ);
             v̂ = v / (1 − β₂ᵗ);  p ← p − η·m̂ / (√v̂ + ε)
* adamw:     p ← p·(1 − ηλ) first (decoupled decay), then adam without the λp in g.

Weight decay λ (``weight_decay``) is L2 added to the gradient, g = ∂E/∂p + λp, for every rule
but adamw, as torch does. t counts updates from 1. The optimizer's state (v, s, m and v)
starts at zero and is carried from one update to the next.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:  # NumPy is imported where a rule runs: the scenario format reads the
    import numpy as np  # tables below, and `bpwalk --help` and `schema` run without NumPy

    Array = np.ndarray

NAMES = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")

# The hyperparameters each optimizer reads (besides the learning rate), and torch's defaults.
# momentum has no default in torch (its SGD's 0 means "no momentum"); 0.9 is the usual value.
HYPERPARAMETERS: dict[str, tuple[str, ...]] = {
    "sgd": ("weight_decay",),
    "momentum": ("momentum", "weight_decay"),
    "nesterov": ("momentum", "weight_decay"),
    "rmsprop": ("alpha", "eps", "weight_decay"),
    "adam": ("beta1", "beta2", "eps", "weight_decay"),
    "adamw": ("beta1", "beta2", "eps", "weight_decay"),
}
DEFAULTS: dict[str, float] = {"momentum": 0.9, "alpha": 0.99, "beta1": 0.9, "beta2": 0.999,
                              "eps": 1e-8, "weight_decay": 0.0}
ADAMW_WEIGHT_DECAY = 0.01  # torch.optim.AdamW's default, unlike Adam's 0

# The state each optimizer carries from one update to the next, per parameter.
STATE: dict[str, tuple[str, ...]] = {
    "sgd": (), "momentum": ("vel",), "nesterov": ("vel",), "rmsprop": ("sq",),
    "adam": ("m", "v"), "adamw": ("m", "v"),
}

# What each kind of step holds (the trace's id table lists them too).
STEP_KINDS: dict[str, str] = {
    "l2": "the gradient with weight decay as L2: ∂E/∂p + λ·p",
    "decay": "AdamW's decoupled weight decay: p·(1 − ηλ), before the Adam step",
    "vel": "the velocity: μ times the last one plus the gradient",
    "sq": "RMSprop's running mean of squared gradients",
    "m": "Adam's first moment: running mean of gradients",
    "v": "Adam's second moment: running mean of squared gradients",
    "mhat": "m with bias correction: m / (1 − β₁ᵗ)",
    "vhat": "v with bias correction: v / (1 − β₂ᵗ)",
}


class Optimizer(NamedTuple):
    """The scenario's ``optimizer:``; the fields a rule does not read keep their defaults.

    (A NamedTuple, immutable as a frozen dataclass and a tenth of its cost to define.)
    """

    name: str = "sgd"
    momentum: float = DEFAULTS["momentum"]
    alpha: float = DEFAULTS["alpha"]
    beta1: float = DEFAULTS["beta1"]
    beta2: float = DEFAULTS["beta2"]
    eps: float = DEFAULTS["eps"]
    weight_decay: float = DEFAULTS["weight_decay"]

    @property
    def plain(self) -> bool:
        """Plain SGD: new = old − η·gradient, with no state and no decay."""
        return self.name == "sgd" and self.weight_decay == 0.0

    @property
    def state_kinds(self) -> tuple[str, ...]:
        return STATE[self.name]

    def to_dict(self) -> dict[str, float | str]:
        return {"name": self.name, **{k: getattr(self, k) for k in HYPERPARAMETERS[self.name]}}


SGD = Optimizer()

See = Callable[..., "Array"]


def unseen(kind: str, value: Array, terms=(), fn: str = "", variants=None) -> Array:
    """The fast path's `see`: every quantity as computed."""
    return value


def update(opt: Optimizer, p: Array, g: Array, state: dict[str, Array], t: int, lr: float,
           see: See = unseen) -> tuple[Array, dict[str, Array]]:
    """One update of parameters `p` with gradients `g`: the new parameters and the new state.

    `state` maps each of ``opt.state_kinds`` to an array shaped like p (zeros before the first
    update); `t` is the 1-based number of this update. Nothing is changed in place.
    """
    gref = "grad"
    if opt.weight_decay and opt.name != "adamw":  # L2: the decay term joins the gradient
        lam = opt.weight_decay
        g = see("l2", g + lam * p, (((gref, g),), (("lambda", lam), ("param", p))))
        gref = "l2"
    rule = _RULES[opt.name]
    return rule(opt, p, g, gref, state, t, lr, see)


def _sgd(opt, p, g, gref, state, t, lr, see):
    new = see("new", p - lr * g, ((("param", p),), (("lr", lr),), ((gref, g),)), fn="update",
              variants=lambda: {"lr_left_out": lambda: p - g, "lr_twice": lambda: p - lr * lr * g,
                                "update_added": lambda: p + lr * g})
    return new, {}


def sgd_in_place(p: Array, g: Array, lr: float) -> None:
    """Plain SGD's update written into `p`: _sgd's numbers, p − η·g, with no new array (the
    fast loop's, whose parameters are views of `p`). `g` is scratch: it ends as η·g."""
    g *= lr
    p -= g


def _velocity(opt, g, gref, state, see) -> Array:
    mu, v0 = opt.momentum, state["vel"]
    # torch starts the buffer as a copy of the first gradient: mu * 0 + g is that, exactly
    v = mu * v0
    v += g
    return see("vel", v, ((("momentum", mu), ("prev_vel", v0)), ((gref, g),)),
               variants=lambda: {"velocity_sign": lambda: mu * v0 - g})


def _momentum(opt, p, g, gref, state, t, lr, see):
    v = _velocity(opt, g, gref, state, see)
    new = see("new", p - lr * v, ((("param", p),), (("lr", lr),), (("vel", v),)), fn="update",
              variants=lambda: {"lr_left_out": lambda: p - v, "update_added": lambda: p + lr * v})
    return new, {"vel": v}


def _nesterov(opt, p, g, gref, state, t, lr, see):
    v = _velocity(opt, g, gref, state, see)
    mu = opt.momentum
    # torch: g <- g + mu * v, then p <- p - lr * g (the look-ahead of Sutskever et al., 2013)
    new = see("new", p - lr * (g + mu * v),
              ((("param", p),), (("lr", lr),), ((gref, g),), (("momentum", mu), ("vel", v))),
              fn="nesterov", variants=lambda: {"update_added": lambda: p + lr * (g + mu * v),
                                               "nesterov_plain": lambda: p - lr * v})
    return new, {"vel": v}


def _rmsprop(opt, p, g, gref, state, t, lr, see):
    a, eps = opt.alpha, opt.eps
    s0 = state["sq"]
    s = g * g
    s *= 1.0 - a
    s += a * s0
    s = see("sq", s, ((("alpha", a), ("prev_sq", s0)), (("1-alpha", 1.0 - a), (gref, g), (gref, g))))
    new = _adaptive(p, g, gref, s, "sq", lr, eps, see)
    return new, {"sq": s}


def _sqrt(x: Array) -> Array:
    """√x: NumPy's of an array; another kind of number brings its own (the engine's tiny
    loop calls the rules on numbers that write the source of their arithmetic)."""
    import numpy as np
    return np.sqrt(x) if isinstance(x, np.ndarray) else x.sqrt()


def _divided(a: Array, b: Array) -> Array:
    """a / b, written into b's array when b is one (the rules' own temporary)."""
    import numpy as np
    return np.divide(a, b, out=b) if isinstance(b, np.ndarray) else a / b


def _adaptive(p, num, num_ref, den, den_ref, lr, eps, see, start="param") -> Array:
    """p − η·num / (√den + ε): the step of RMSprop and Adam, with its classic mistakes."""
    step = _sqrt(den)
    step += eps
    step = _divided(num, step)
    step *= lr  # lr * (num / (sqrt(den) + eps))
    new = see("new", p - step,
              (((start, p),), (("lr", lr),), ((num_ref, num),), ((den_ref, den),), (("eps", eps),)),
              fn="adaptive",
              variants=lambda: {"sqrt_left_out": lambda: p - lr * (num / (den + eps)),
                                "eps_inside_sqrt": lambda: p - lr * (num / _sqrt(den + eps)),
                                "update_added": lambda: p + step})
    return new


def _adam(opt, p, g, gref, state, t, lr, see):
    b1, b2, eps = opt.beta1, opt.beta2, opt.eps
    start = "param"
    wrong_g = g  # the gradient a student who adds L2 (instead of AdamW's decay) would use
    if opt.name == "adamw" and opt.weight_decay:
        lam = opt.weight_decay
        keep = 1.0 - lr * lam  # torch: p.mul_(1 - lr * weight_decay), before the Adam step
        p_old = p
        p = see("decay", p * keep, ((("param", p), ("1-lr*lambda", keep)),))
        wrong_g = g + lam * p_old
        start = "decay"
    m0, v0 = state["m"], state["v"]
    m = b1 * m0
    m += (1.0 - b1) * g  # b1 * m0 + (1 - b1) * g
    m = see("m", m, ((("beta1", b1), ("prev_m", m0)), (("1-beta1", 1.0 - b1), (gref, g))),
            variants=lambda: {"l2_not_decoupled": lambda: b1 * m0 + (1.0 - b1) * wrong_g})
    v = g * g
    v *= 1.0 - b2
    v += b2 * v0  # b2 * v0 + (1 - b2) * g²
    v = see("v", v,
            ((("beta2", b2), ("prev_v", v0)), (("1-beta2", 1.0 - b2), (gref, g), (gref, g))),
            variants=lambda: {"l2_not_decoupled":
                              lambda: b2 * v0 + (1.0 - b2) * (wrong_g * wrong_g)})
    c1, c2 = 1.0 - b1 ** t, 1.0 - b2 ** t
    # t counted from 0: the first update divides by 1 − β⁰ = 0, so that mistake shows from t = 2
    mhat = see("mhat", m / c1, ((("m", m),), (("1-beta1^t", c1),)), fn="quotient",
               variants=lambda: {"bias_correction_left_out": lambda: m,
                                 "t_from_0": lambda: m / (1.0 - b1 ** (t - 1))})
    vhat = see("vhat", v / c2, ((("v", v),), (("1-beta2^t", c2),)), fn="quotient",
               variants=lambda: {"bias_correction_left_out": lambda: v,
                                 "t_from_0": lambda: v / (1.0 - b2 ** (t - 1))})
    new = _adaptive(p, mhat, "mhat", vhat, "vhat", lr, eps, see, start)
    return new, {"m": m, "v": v}


_RULES = {"sgd": _sgd, "momentum": _momentum, "nesterov": _nesterov, "rmsprop": _rmsprop,
          "adam": _adam, "adamw": _adam}


def evaluate(step, v: Callable[[Any], float]) -> float:
    """An update step (kind ``new`` or one of STEP_KINDS) on other operand values: `v`
    gives each operand's value (the judge's engine.evaluate)."""
    terms, fn = step.terms, step.fn
    if step.kind == "new" and fn in ("update", "ascent"):  # SGD, momentum (the velocity), L2
        p, lr, g = (v(t[0]) for t in terms[:3])
        return p + lr * g if fn == "ascent" else p - lr * g
    if step.kind == "new" and fn == "adaptive":  # p − η·num/(√den + ε), RMSprop and Adam
        p, lr, num, den, eps = (v(t[0]) for t in terms[:5])
        return p - lr * (num / (math.sqrt(max(den, 0.0)) + eps))  # (a box may dip below 0)
    if step.kind == "new" and fn == "nesterov":  # p − η·(g + μ·v)
        (mu, vel) = terms[3]
        return v(terms[0][0]) - v(terms[1][0]) * (v(terms[2][0]) + v(mu) * v(vel))
    if fn == "quotient":  # Adam's bias corrections, m / (1 − β₁ᵗ)
        return v(terms[0][0]) / v(terms[1][0])
    if step.kind in STEP_KINDS:  # l2, decay, vel, sq, m, v: sums of products
        return math.fsum(math.prod(v(o) for o in term) for term in terms)
    return step.value


def zero_state(opt: Optimizer, size: int) -> dict[str, Array]:
    """The state before the first update: zeros, as torch starts it."""
    import numpy as np

    return {k: np.zeros(size) for k in opt.state_kinds}
