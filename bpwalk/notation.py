"""Notation: which symbols a step uses (a profile) and how it reads in four styles.

A *profile* is the notation of one textbook or course: its symbols (Mazur's net, out, E;
Nielsen's z, a, C; Han & Kamber's I, O, Err, l; ...), the sign of its error term and the
written form of its update. It never changes a value: the trace is the same under every
profile, only the way a step is written differs.

The chain-rule form of each kind of step (net, out, loss, dout, dact, dnet, grad, batch
combination, softmax, shared bias, update) is defined once below as a formula tree
(``bpwalk.formulas``), from which ``formula(step, style)`` prints Unicode (terminal), ASCII,
LaTeX (Markdown) or MathML (HTML). Every view asks this module how a step reads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from bpwalk.formulas import (
    GREEK,
    STYLES,
    BigSum,
    Div,
    Hat,
    Mul,
    Neg,
    Node,
    Num,
    Partial,
    Pow,
    Rel,
    Root,
    Seq,
    Substituted,
    Sym,
    Val,
    Word,
    add,
    mul,
    number,
    quantity,
    render,
    sub,
)
from bpwalk.trace import Operand, Step

__all__ = ["PROFILES", "STYLES", "Formula", "Pen", "Profile", "formula", "number", "profile",
           "symbol"]

_SPLIT = re.compile(r"^([A-Za-z]+?)(\d+)$")
_RECURRENT = re.compile(r"^([A-Za-z]\w*)\.(W_x|W_h|b)\[(\d+(?:,\d+)?)\]$")  # rnn1.W_h[1,2]

# ----------------------------------------------------------------------------- profiles


class Profile:
    """One textbook's notation. `sign` is the sign of the profile's error term relative to
    bpwalk's δ = ∂E/∂net (Han & Kamber's Err_j = −∂E/∂I_j has sign −1); `additive` writes
    the update as w ← w + rate·(−∂E/∂w), the way books with such an error term do.

    The settings below are the defaults; Profile(name, source, author, net="z", ...) sets
    others. (A plain class, not a dataclass: defining one costs every `bpwalk run` a
    millisecond. The dicts are never changed in place.)
    """

    net: str = "net"
    out: str = "out"
    target: str = "target"
    loss: str = "E"
    lr: str = "eta"
    delta: str = ""  # a name for the error term of a neuron ("" : written ∂E/∂net)
    sign: int = 1
    additive: bool = False
    grad_prefix: str = ""  # "d": gradients written dw5, dz_h1 (Ng, CS231n code)
    local_first: bool = False  # CS231n's gates: local gradient × upstream gradient
    equations: Mapping[str, str] = MappingProxyType({})  # step role -> name (BP1..)
    # the optimizers' symbols where the source has its own (else _HYPER and _STATE below):
    # a setting -> (base, subscript); a state kind -> (base, superscript), "^" a hat
    hyper: Mapping[str, tuple[str, str]] = MappingProxyType({})
    state: Mapping[str, tuple[str, str]] = MappingProxyType({})
    # Layer-indexed symbols (z^l_j, w^l_jk): the number of the input layer (Nielsen's is
    # layer 1, Ng's layer [0]); None keeps the scenario's own names (net_h1, w5).
    input_layer: int | None = None
    brackets: bool = False  # Ng's z^[l]
    weight: str = "w"
    # Ng's batch of m examples: the error terms are entries of the matrix dZ^[l] (one column
    # per example) and a batch gradient is written (1/m)·Σ, as in dW^[l] = (1/m) dZ^[l] A^[l−1]T
    batch_delta: str = ""
    one_over_m: bool = False
    # a bound profile's table: the scenario's name -> (what it is, layer, indexes), see bind()
    places: Mapping[str, tuple[str, str, str]] = MappingProxyType({})
    # bound to a circuit (graph:): "output" (the loss symbol is the output's name: ∂f/∂x)
    # or "loss" (a loss follows the output: its node is written E); "" for a network
    circuit: str = ""

    def __init__(self, name: str, source: str, author: str, **settings: Any) -> None:
        self.name = name
        self.source = source
        self.author = author
        for key, value in settings.items():
            if key not in Profile.__annotations__:
                raise TypeError(f"Profile has no setting {key!r}")
            setattr(self, key, value)

    def __repr__(self) -> str:
        return f"Profile({self.name!r})"

    def sym(self, kind: str, name: str = "", sample: int | None = None) -> Sym:
        base = {"net": self.net, "out": self.out, "target": self.target, "loss": self.loss,
                "delta": self.delta}.get(kind, kind)
        if kind == "delta" and sample is not None and self.batch_delta:
            base = self.batch_delta
        if name in self.places:  # z^l_j; a target y_j and a loss term C_j: the output index
            _, layer, index = self.places[name]
            return Sym(base, index, sample=sample, layer="" if kind in ("target", "loss") else layer)
        return Sym(base, name, sample=sample)

    def param(self, name: str, sample: int | None = None) -> Sym:
        """A parameter or an input: w5 -> w₅ (its own name), or w³₁₁, b², x₁ (layer-indexed)."""
        if name not in self.places:
            return _name(name, sample)
        what, layer, index = self.places[name]
        base = {"weight": self.weight, "bias": "b", "input": "x"}[what]
        return Sym(base, index, sample=sample, layer=layer)

    def bind(self, scenario: Any) -> Profile:
        """This profile with the layer-indexed names of `scenario`'s neurons, weights,
        biases and inputs (itself when it keeps the scenario's names).

        Nielsen ch. 2: w^l_jk is the weight from the k-th neuron in layer l−1 to the j-th
        neuron in layer l, the input layer being layer 1; Ng numbers the input layer [0].

        A circuit (a graph: scenario) keeps its names; its gradients are written ∂f/∂x
        after its output f, or ∂E/∂x (the profile's loss) when a loss follows the output."""
        if getattr(scenario, "graph", None) is not None:
            return self._circuit(scenario)
        if self.input_layer is None:
            return self
        key = (self.name, id(scenario))
        if key in _BOUND and _BOUND[key][0] is scenario:
            return _BOUND[key][1]
        places = {n: ("input", "", str(k)) for k, n in enumerate(scenario.inputs, 1)}
        for number_, lay in enumerate(scenario.layers, self.input_layer + 1):
            layer = f"[{number_}]" if self.brackets else str(number_)
            wide = max(len(lay.neurons), len(lay.weight_names[0])) > 9  # w_{12,3}, not w_123
            for j, n in enumerate(lay.neurons, 1):
                places[n] = ("neuron", layer, str(j))
                if lay.kind == "rnn":  # W_x and W_h keep their names (rnn1.W_h[1,1])
                    continue
                for k, w in enumerate(lay.weight_names[j - 1], 1):
                    places[w] = ("weight", layer, f"{j},{k}" if wide else f"{j}{k}")
            shared = lay.bias == "shared"
            for j, b in enumerate(lay.bias_names, 1):
                places[b] = ("bias", layer, "" if shared else str(j))
        bound = Profile.__new__(Profile)
        bound.__dict__.update(vars(self), places=places)
        if len(_BOUND) > 64:  # a cache of the scenarios in use, not of every one ever seen
            _BOUND.clear()
        _BOUND[key] = (scenario, bound)
        return bound


    def _circuit(self, scenario: Any) -> Profile:
        key = (self.name, id(scenario))
        if key in _BOUND and _BOUND[key][0] is scenario:
            return _BOUND[key][1]
        g = scenario.graph
        bound = Profile.__new__(Profile)
        settings = {"circuit": "loss"} if g.loss else {"circuit": "output", "loss": g.result}
        bound.__dict__.update(vars(self), places=MappingProxyType({}), **settings)
        if len(_BOUND) > 64:
            _BOUND.clear()
        _BOUND[key] = (scenario, bound)
        return bound


_BOUND: dict[tuple[str, int], tuple[Any, Profile]] = {}


PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("mazur", "Matt Mazur, A Step by Step Backpropagation Example (2015)", "Mazur"),
    Profile("nielsen", "Michael Nielsen, Neural Networks and Deep Learning, ch. 2 (2015)",
            "Nielsen",
            net="z", out="a", target="y", loss="C", delta="delta", input_layer=1,
            equations={"dnet_output": "BP1", "dnet_hidden": "BP2", "grad_bias": "BP3",
                       "grad_weight": "BP4"}),
    Profile("ng", "Andrew Ng, Deep Learning Specialization, course 1 weeks 3 and 4 (2017)",
            "Ng",
            net="z", out="a", target="y", loss="J", lr="alpha", delta="dz",
            grad_prefix="d", input_layer=0, brackets=True, weight="W", batch_delta="dZ",
            one_over_m=True,
            # course 2, week 2 (optimization algorithms): V_dW, S_dW, β, V^corrected_dW
            hyper={"momentum": ("beta", ""), "alpha": ("beta", "")},
            state={"vel": ("V", ""), "sq": ("S", ""), "m": ("V", ""), "v": ("S", ""),
                   "mhat": ("V", "corrected"), "vhat": ("S", "corrected")}),
    Profile("han-kamber", "Han, Kamber & Pei, Data Mining, 3rd ed., section 9.2.3 (2012)",
            "Han & Kamber",
            net="I", out="O", target="T", lr="l", delta="Err", sign=-1, additive=True),
    Profile("mitchell", "Tom Mitchell, Machine Learning, section 4.5.2, table 4.2 (1997)",
            "Mitchell",
            net="net", out="o", target="t", delta="delta", sign=-1, additive=True,
            hyper={"momentum": ("alpha", "")}),  # section 4.5.2.1: Δw(n) = ηδx + αΔw(n−1)
    Profile("cs231n", "Stanford CS231n notes, Backpropagation, intuitions (2016)", "CS231n",
            loss="f", lr="step_size", delta="ddot", grad_prefix="d", local_first=True,
            # Neural Networks Part 3, parameter updates: cache, decay_rate, mt, vt
            hyper={"alpha": ("decay_rate", "")},
            state={"sq": ("cache", ""), "mhat": ("mt", ""), "vhat": ("vt", "")}),
)}
DEFAULT = "mazur"
MAZUR = PROFILES[DEFAULT]  # the profile of a function not given one


class UnknownProfile(ValueError):
    pass


def profile(name: str | Profile | None, scenario: Any = None) -> Profile:
    """The profile called `name` (None: the default), bound to `scenario`'s names when one
    is given; a wrong name raises UnknownProfile with a did-you-mean."""
    if scenario is not None:
        return profile(name).bind(scenario)
    if isinstance(name, Profile):
        return name
    if name is None:
        return PROFILES[DEFAULT]
    key = name.strip().lower().replace("_", "-").replace("&", "-")
    if key in PROFILES:
        return PROFILES[key]
    import difflib  # only when a name is wrong: not at every start

    close = difflib.get_close_matches(key, PROFILES, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise UnknownProfile(f"unknown notation {name!r}; {hint}choose one of {', '.join(PROFILES)}")


# ----------------------------------------------------------------------------- symbols


def _name(name: str, sample: int | None = None) -> Sym:
    """A parameter or input name: w5 -> w₅ / w_{5}; theta4 -> θ₄; a free name as typed."""
    m = _SPLIT.match(name)
    if m:
        return Sym(m.group(1), m.group(2), sample=sample)
    m = _RECURRENT.match(name)
    if m:  # an rnn layer's rnn1.W_h[1,2] -> W_h₁₂, rnn1.b[1] -> b_h₁
        index = m.group(3).split(",")
        sub = ("," if any(len(i) > 1 for i in index) else "").join(index)
        return Sym("b_h" if m.group(2) == "b" else m.group(2), sub, sample=sample)
    # a parameter called eta stays a word: a bare η is the learning rate
    if name in GREEK and name != "eta":
        return Sym(name, sample=sample)
    return Sym(name, literal=True, sample=sample)


def _grad_name(p: Profile, name: Sym) -> Node:
    if p.grad_prefix:  # dw5, db1: the gradient named after its parameter, as in code
        return name.but(base=p.grad_prefix + name.base, sup="")
    return Partial(p.sym("loss"), name)


# The optimizers' settings and state, unless the profile names them (Profile.hyper, .state)
_HYPER = {"momentum": ("mu", ""), "alpha": ("alpha", ""), "beta1": ("beta", "1"),
          "beta2": ("beta", "2"), "eps": ("epsilon", ""), "lambda": ("lambda", "")}
_STATE = {"vel": ("v", ""), "sq": ("s", ""), "m": ("m", ""), "v": ("v", ""),
          "mhat": ("m", "^"), "vhat": ("v", "^"), "l2": ("g", "")}
_T = Sym("t")  # the number of the update (Adam's bias correction)


def hyper(kind: str, p: Profile = MAZUR) -> Node:
    """An optimizer's setting (β₁) or a factor built from settings (1 − β₁ᵗ, 1 − ηλ)."""
    head, _, tail = kind.partition("-")
    if head == "1" and tail:  # 1-beta1, 1-beta1^t, 1-lr*lambda
        setting, _, power = tail.partition("^")
        if "*" in setting:
            return sub(1, mul(*(hyper(k, p) for k in setting.split("*"))))
        return sub(1, Pow(hyper(setting, p), _T) if power else hyper(setting, p))
    if kind == "lr":
        return Sym(p.lr)
    return Sym(*p.hyper.get(kind, _HYPER[kind]))


def state_sym(kind: str, name: str, p: Profile = MAZUR,
              prev: bool = False) -> Node:
    """A parameter's optimizer quantity: m_w5 (prev: m_w5[t-1], the value carried in);
    named after the gradient (V_dw5) where the profile names gradients dw5."""
    base, mark = p.state.get(kind, _STATE[kind])
    prefix = p.grad_prefix if kind != "l2" else ""  # g_w5: the gradient itself, with decay
    sym = Sym(base, prefix + name, "[t-1]" if prev else "" if mark == "^" else mark)
    return Hat(sym) if mark == "^" else sym


def node(ref: str, p: Profile = MAZUR) -> Node:
    """The symbol of a step id or operand ref as a tree: ``grad:w5`` -> ∂E/∂w₅."""
    base, _, at = ref.partition("@")
    if at.startswith("t"):  # a time step of a sequence (h1@t2, h1@t2@3): h^<2>
        time, _, sample_at = at.partition("@")
        return _at_time(node(f"{base}@{sample_at}" if sample_at else base, p), time[1:], p)
    sample = int(at) if at else None
    kind, _, name = base.partition(":")
    if kind == "1" and not name:
        return Num(1.0)
    if kind == "lr":
        return Sym(p.lr)
    if kind in ("slope", "K"):
        return Sym(kind)
    if not name and (kind in _HYPER or kind.startswith("1-")):
        return hyper(kind, p)
    if kind.removeprefix("prev_") in _STATE:
        return state_sym(kind.removeprefix("prev_"), name, p, kind.startswith("prev_"))
    if kind == "decay":  # AdamW's decayed parameter, before the Adam step: w5'
        return Sym(_name(name).base, _name(name).sub, "'", _name(name).literal)
    if kind == "loss":
        return p.sym("loss", name, sample)
    if kind == "val":  # a circuit's value: its name (the loss node: the profile's E)
        return p.sym("loss") if p.circuit == "loss" and name == "loss" else p.param(name)
    if kind == "local":  # a circuit's local gradient ∂q/∂x
        j, _, k = name.partition("/")
        return Partial(node(f"val:{j}", p), node(f"val:{k}", p))
    if kind == "grad" and p.circuit:  # ∂f/∂x, f and x as their values are written
        top = node(f"val:{p.loss}", p) if p.circuit == "output" else p.sym("loss")
        bottom = node(f"val:{name}", p)
        if p.grad_prefix and isinstance(bottom, Sym):  # CS231n's dx
            return bottom.but(base=p.grad_prefix + bottom.base, sup="")
        return Partial(top, bottom)
    if kind == "param":
        return p.param(name)
    if kind == "new":
        return p.param(name).but(sup="+")
    if kind == "in":
        return p.param(name, sample)
    if kind in ("out", "net", "target"):
        return p.sym(kind, name, sample)
    E = p.sym("loss")
    j, _, k = name.partition("/")
    if kind == "dout":
        d = _partial_or_d(p, E, p.sym("out", name), "out", name)
    elif kind == "dnet":
        if p.delta:
            return p.sym("delta", name, sample)
        d = Partial(E, p.sym("net", name))
    elif kind == "dact":
        d = Partial(p.sym("out", name), p.sym("net", name))
    elif kind == "jac":
        d = Partial(p.sym("out", j), p.sym("net", k))
    elif kind == "wrt":  # d net_j / d param: the input the parameter carries (1 for a bias)
        d = Partial(p.sym("net", j), p.param(k))
    elif kind in ("grad", "din"):  # din: dE/d(input), with input_gradients
        d = _grad_name(p, p.param(name))
    else:
        raise ValueError(f"unknown reference {ref!r}")
    return _with_sample(d, sample)


def _at_time(d: Node, time: str, p: Profile) -> Node:
    """A quantity at time step `time` of a sequence: each symbol but the loss E marked
    with it as a superscript, h^<2> (Ng's ⟨t⟩, in characters every printer has)."""
    if isinstance(d, Sym):
        return d if d == p.sym("loss") else d.but(sup=f"{d.sup}<{time}>")
    if isinstance(d, Partial):
        return Partial(_at_time(d.top, time, p), _at_time(d.bottom, time, p))
    return d


def _partial_or_d(p: Profile, E: Node, wrt: Sym, kind: str, name: str) -> Node:
    if p.grad_prefix:  # Ng's da_h1
        return wrt.but(base=p.grad_prefix + getattr(p, kind))
    return Partial(E, wrt)


def _with_sample(d: Node, sample: int | None) -> Node:
    """A derivative of one sample: the marker goes on the variable it is taken at."""
    if sample is None:
        return d
    if isinstance(d, Sym):
        return d.but(sample=sample)
    assert isinstance(d, Partial) and isinstance(d.bottom, Sym)
    return Partial(d.top, d.bottom.but(sample=sample))


def symbol(ref: str, style: str, p: Profile | str | None = None) -> str:
    """The symbol for a step id or operand ref, e.g. ``grad:w5`` -> ∂E/∂w₅."""
    p = profile(p)  # a Profile as it is; a name (from the API, say) looked up
    return render(node(ref, p), style)


# ----------------------------------------------------------------------------- formulas


class Formula(NamedTuple):
    """One step written out: lhs = symbolic = numeric = result; `label` names the equation
    of the profile the step uses (Nielsen's BP1..BP4), "" when it has none."""

    lhs: str
    symbolic: str
    numeric: str
    result: str
    label: str = ""


def _sign(step_kind: str, p: Profile) -> int:
    """How the profile writes this kind of value relative to the trace (Err = −δ)."""
    return p.sign if step_kind == "dnet" and p.delta else 1


def in_trace_sign(text: str, kind: str, p: Profile) -> str:
    """A number written in the profile's convention, as the trace writes it: an answer for
    Han & Kamber's Err_j = −∂E/∂I_j is negated before it is compared with ∂E/∂net."""
    return text if _sign(kind, p) > 0 else negated(text)


def negated(text: str) -> str:
    """A written number with the other sign ('0.1' -> '-0.1', '−0.1' -> '0.1')."""
    t = text.strip()
    return t[1:] if t[:1] in "-−" else "-" + t.lstrip("+")


def _val(op: Operand, p: Profile) -> Node:
    kind = op.ref.partition(":")[0]
    return Val(node(op.ref, p), op.value * _sign(kind, p))


def _signed(expr: Node, sign: int) -> Node:
    return Neg(expr) if sign < 0 else expr


def _products(step: Step, p: Profile) -> Node:
    """A sum of products of the step's operands (net, hidden dout, dnet, grad, ...).

    An operand written with the opposite sign (Err = −δ) is multiplied back by −1, so the
    formula stays true of the numbers shown."""
    terms = []
    flip = 1
    for term in step.terms:
        factors = [_val(o, p) for o in term]
        if p.local_first and step.kind == "dnet":  # the gate's local gradient, then upstream
            factors.reverse()
        flip = min(flip, *(_sign(o.ref.partition(":")[0], p) for o in term))
        terms.append(factors[0] if len(factors) == 1 else Mul(tuple(factors)))
    body = terms[0] if len(terms) == 1 else add(*terms)
    return _signed(body, flip)


def _aux(step: Step, ref: str, default: float) -> float:
    return next((o.value for o in step.aux if o.ref == ref), default)


def rhs(step: Step, p: Profile) -> Node:
    """The right-hand side of a step, one tree printed both in symbols and in numbers."""
    from bpwalk.functions import ACTIVATIONS, LOSSES  # (NumPy: not needed to name profiles)

    kind, terms, fn = step.kind, step.terms, step.fn
    if kind in ("val", "local") or fn in ("seed", "chain", "ascent"):  # a circuit's step
        from bpwalk.graph.written import rhs as circuit_rhs

        return circuit_rhs(step, p)
    slope = Num(_aux(step, "slope", 0.0))
    if kind == "out" and fn == "softmax":
        mine = next(o for t in terms for o in t if o.ref.split("@")[0] == f"net:{step.subject}")
        return ACTIVATIONS[fn].formula(_val(mine, p), slope, tuple(_val(t[0], p) for t in terms))
    if kind == "out":
        return ACTIVATIONS[fn].formula(_val(terms[0][0], p), slope, None)
    if kind == "dact":
        return ACTIVATIONS[fn].derivative_formula(_val(terms[0][0], p), _val(terms[1][0], p),
                                                  slope)
    if kind in ("loss", "dout") and step.subject and fn in LOSSES:
        loss = LOSSES[fn]
        make = loss.term_formula if kind == "loss" else loss.derivative_formula
        return make(_val(terms[0][0], p), _val(terms[1][0], p), Num(_aux(step, "K", 1.0)))
    if kind == "grad" and p.delta and len(step.aux) == 2:  # Nielsen's BP4: a_in·δ_out
        carried, delta = step.aux
        factors = [_val(delta, p), _val(carried, p)]
        return _signed(mul(*(factors[::-1] if p.local_first else factors)), p.sign)
    if kind.startswith("prev_"):  # the state carried in: a value, not a formula
        return quantity(step.value)
    if kind == "new" and fn == "adaptive":  # p − η·m̂/(√v̂ + ε), RMSprop's and Adam's step
        num, den, eps = (_val(t[0], p) for t in terms[2:5])
        return _descend(_val(terms[0][0], p), _val(terms[1][0], p),
                        Div(num, add(Root(den), eps)), p)
    if kind == "new" and fn == "nesterov":  # p − η·(g + μ·v)
        (mu, vel), g = terms[3], _val(terms[2][0], p)
        return _descend(_val(terms[0][0], p), _val(terms[1][0], p),
                        add(g, mul(_val(mu, p), _val(vel, p))), p)
    if kind == "new":
        return update_rule(_val(terms[0][0], p), _val(terms[1][0], p), terms[2][0], p)
    if fn == "quotient":  # a bias correction, m / (1 − β₁ᵗ)
        return Div(_val(terms[0][0], p), _val(terms[1][0], p))
    if step.batch and fn == "mean" and p.one_over_m:
        return mul(Div(Num(1.0), Num(float(len(terms)))), _products(step, p))
    if step.batch and fn == "mean":
        return Div(_products(step, p), Num(float(len(terms))))
    return _signed(_products(step, p), _sign(kind, p))


def update_rule(old: Node, lr: Node, grad: Operand | Node, p: Profile) -> Node:
    """The update, as the profile writes it: w − η·∂E/∂w, or w + l·(−∂E/∂w)."""
    if isinstance(grad, Operand):
        g, value = node(grad.ref, p), grad.value
    else:
        g, value = grad, 0.0
    if p.additive:
        return add(old, Mul((lr, Val(Neg(g), -value))))
    return sub(old, Mul((lr, Val(g, value))))


def _descend(old: Node, lr: Node, direction: Node, p: Profile) -> Node:
    """old − η·direction, or old + l·(−direction) where the profile writes updates that way."""
    if p.additive:
        return add(old, mul(lr, Neg(direction)))
    return sub(old, mul(lr, direction))


def _label(step: Step, p: Profile) -> str:
    """Which of the profile's named equations the step uses (Nielsen's BP1..BP4)."""
    role = ""
    if step.kind == "dnet":
        role = "dnet_output" if step.output else "dnet_hidden"
    elif step.kind == "grad" and not step.batch:  # a weight's carries an input, not 1
        role = "grad_weight" if step.aux and step.aux[0].ref != "1" else "grad_bias"
    return p.equations.get(role, "")


def formula(step: Step, style: str, decimals: int = 9, p: Profile | str | None = None,
            keep_zeros: bool = False) -> Formula:
    """How `step` reads in `style` under profile `p`: symbol, formula in symbols and in
    numbers, and the value (negated where the profile's error term has the other sign)."""
    p = profile(p)  # a Profile as it is; a name (from the API, say) looked up
    tree = rhs(step, p)
    lhs = node(step.id, p)
    value = step.value * _sign(step.kind, p)
    return Formula(render(lhs, style), render(tree, style, decimals),
                   render(tree, style, decimals, numeric=True, keep_zeros=keep_zeros),
                   render(quantity(value), style, decimals, keep_zeros=keep_zeros),
                   _label(step, p))


def shortcut(step: Step, style: str, decimals: int = 9, p: Profile | str | None = None
             ) -> Formula | None:
    """The softmax + cross-entropy delta written the short way, out − target, or None.

    The engine stores out and target in the dnet step's ``aux`` for that pairing; the value
    is the step's own (the Jacobian sum), so the shortcut adds a derivation, not a number.
    """
    p = profile(p)  # a Profile as it is; a name (from the API, say) looked up
    out = next((o for o in step.aux if o.ref.startswith("out:")), None)
    target = next((o for o in step.aux if o.ref.startswith("target:")), None)
    if step.kind != "dnet" or out is None or target is None:
        return None
    tree = _signed(sub(_val(out, p), _val(target, p)), _sign("dnet", p))
    sign = _sign("dnet", p)
    return Formula(render(node(step.id, p), style), render(tree, style, decimals),
                   render(tree, style, decimals, numeric=True),
                   render(quantity(step.value * sign), style, decimals))


# ----------------------------------------------------------------------------- rule captions


def loss_rule(loss: str, p: Profile = MAZUR) -> Node:
    """The loss of one sample, E = Σₖ term(target_k, out_k)."""
    from bpwalk.functions import LOSSES

    term = LOSSES[loss].term_formula(p.sym("target", "k"), p.sym("out", "k"), Sym("K"))
    return Rel(p.sym("loss"), "=", BigSum("k", term))


def activation_rule(activation: str, p: Profile = MAZUR) -> Node:
    """out = f(net) for an activation, in general symbols."""
    from bpwalk.functions import ACTIVATIONS

    act = ACTIVATIONS[activation]
    f = act.formula(p.sym("net"), Sym(act.parameter or "slope"), p.sym("net", "j"))
    return Rel(p.sym("out"), "=", f)


def net_rule(biases: bool, p: Profile = MAZUR) -> Node:
    """net = Σᵢ w·input (+ b·1 when the layer has biases)."""
    s = BigSum("i", mul(Sym("w"), Word("input")))
    return Rel(p.sym("net"), "=", add(s, mul(Sym("b"), 1)) if biases else s)


def forward_rule(activation: str, biases: bool, p: Profile = MAZUR) -> Node:
    return Seq((net_rule(biases, p), activation_rule(activation, p)), ", then ")


def backward_rule(p: Profile = MAZUR) -> Node:
    """δ = ∂E/∂net; ∂E/∂w = δ·input (with the profile's names and sign)."""
    delta = p.sym("delta") if p.delta else Sym("delta")
    d = Partial(p.sym("loss"), p.sym("net"))
    return Seq((Rel(delta, "=", _signed(d, p.sign if p.delta else 1)),
                Rel(_grad_name(p, Sym("w")), "=",
                    mul(_signed(delta, p.sign if p.delta else 1), Word("input")))), "; ")


def hidden_rule(p: Profile = MAZUR) -> Node:
    """∂E/∂out of a hidden neuron: Σ over the next layer of δ·w."""
    return _through_weights(node("dout:j", p), "k", "kj", p)


def _through_weights(lhs: Node, k: str, w: str, p: Profile) -> Node:
    """lhs = Σ_k δ_k·w: an error sent back through the weights (to an out, to an input)."""
    delta = p.sym("delta", k) if p.delta else Partial(p.sym("loss"), p.sym("net", k))
    return Rel(lhs, "=", _signed(BigSum(k, mul(delta, Sym("w", w))), p.sign if p.delta else 1))


def input_rule(p: Profile = MAZUR) -> Node:
    """∂E/∂input of an input: Σ over the first layer of δ·w, like a hidden neuron's."""
    return _through_weights(_grad_name(p, Sym("input", "i")), "j", "ji", p)


KRONECKER = Sym("delta", "jk")  # 1 when j = k, else 0


def jacobian_rule(p: Profile = MAZUR) -> Node:
    """softmax: ∂out_j/∂net_k = out_j(δ_jk − out_k)."""
    return Rel(Partial(p.sym("out", "j"), p.sym("net", "k")), "=",
               mul(p.sym("out", "j"), sub(KRONECKER, p.sym("out", "k")), dot=False))


def jacobian_entries(step: Step, outs: dict[str, float], p: Profile = MAZUR
                     ) -> list[Node]:
    """The softmax Jacobian entries a delta uses, each derived with its numbers:
    ∂out_j/∂net_k = out_j(δ_jk − out_k) = 0.30(0 − 0.48) = −0.143. `outs` holds the layer's
    outputs by neuron; the entry's value is the engine's."""
    entries = []
    for term in step.terms:
        jac = term[-1]
        j, _, k = jac.ref.partition(":")[2].partition("@")[0].partition("/")
        oj, ok = (Val(p.sym("out", n, step.sample), outs[n]) for n in (j, k))
        tree = mul(oj, sub(1.0 if j == k else 0.0, ok), dot=False)
        entries.append(Rel(node(jac.ref, p), "=",
                           Seq((tree, Substituted(tree), quantity(jac.value)), " = ")))
    return entries


def update_caption(p: Profile = MAZUR) -> Node:
    """new = old − η·gradient (or the profile's additive form)."""
    w = Sym("w")
    rule = update_rule(w, Sym(p.lr), _grad_name(p, w), p)
    return Rel(Sym("w", sup="+"), "=", rule)


def optimizer_rule(optimizer, p: Profile = MAZUR) -> Node:
    """An optimizer's rule in general symbols (w a parameter), with its weight decay, the
    way torch.optim computes it: the steps of each update in order."""
    w, g = Sym("w"), _grad_name(p, Sym("w"))
    name, h = optimizer.name, (lambda kind: hyper(kind, p))

    def s(kind: str, prev: bool = False) -> Node:
        return state_sym(kind, "w", p, prev)

    parts: list[Node] = []
    start = w
    if optimizer.weight_decay and name == "adamw":  # decoupled: the weight first
        start = Sym("w", sup="'")
        parts.append(Rel(start, "=", mul(w, h("1-lr*lambda"))))
    elif optimizer.weight_decay:  # L2: added to the gradient
        parts.append(Rel(s("l2"), "=", add(g, mul(h("lambda"), w))))
        g = s("l2")
    direction: Node = g
    if name in ("momentum", "nesterov"):
        parts.append(Rel(s("vel"), "=", add(mul(h("momentum"), s("vel", True)), g)))
        direction = s("vel") if name == "momentum" else add(g, mul(h("momentum"), s("vel")))
    elif name == "rmsprop":
        parts.append(Rel(s("sq"), "=", add(mul(h("alpha"), s("sq", True)),
                                           mul(h("1-alpha"), Pow(g, Num(2.0))))))
        direction = Div(g, add(Root(s("sq")), h("eps")))
    elif name in ("adam", "adamw"):
        parts += [Rel(s("m"), "=", add(mul(h("beta1"), s("m", True)), mul(h("1-beta1"), g))),
                  Rel(s("v"), "=", add(mul(h("beta2"), s("v", True)),
                                       mul(h("1-beta2"), Pow(g, Num(2.0))))),
                  Rel(s("mhat"), "=", Div(s("m"), h("1-beta1^t"))),
                  Rel(s("vhat"), "=", Div(s("v"), h("1-beta2^t")))]
        direction = Div(s("mhat"), add(Root(s("vhat")), h("eps")))
    parts.append(Rel(Sym("w", sup="+"), "=", _descend(start, Sym(p.lr), direction, p)))
    return Seq(tuple(parts), "; ")


def optimizer_settings(optimizer, p: Profile = MAZUR) -> Node:
    """An optimizer's settings: β₁ = 0.9, β₂ = 0.999, ε = 1e-08, λ = 0 (for adam)."""
    values = {k: v for k, v in optimizer.to_dict().items() if k != "name"}
    return Seq(tuple(Rel(hyper("lambda" if k == "weight_decay" else k, p), "=", Num(v))
                     for k, v in values.items()), ", ")


def caption(tree: Node, style: str) -> str:
    return render(tree, style)


class Pen:
    """What a view needs to write things down: a style, the decimals, a profile. Views hold
    one and ask it for symbols, numbers, formulas and rule captions.

    (A plain class, not a dataclass: defining one costs every `bpwalk run` a millisecond.)
    """

    __slots__ = ("decimals", "keep_zeros", "profile", "style")

    def __init__(self, style: str = "unicode", decimals: int = 9, profile: Profile | None = None,
                 keep_zeros: bool = False) -> None:
        self.style = style
        self.decimals = decimals
        self.profile = PROFILES[DEFAULT] if profile is None else profile
        self.keep_zeros = keep_zeros  # --decimals D given: 0.0310, as a hand calculation writes it

    def __repr__(self) -> str:
        return (f"Pen(style={self.style!r}, decimals={self.decimals!r}, "
                f"profile={self.profile.name!r}, keep_zeros={self.keep_zeros!r})")

    def sym(self, ref: str) -> str:
        return symbol(ref, self.style, self.profile)

    def num(self, value: float, fixed: bool = False) -> str:
        text = number(value, self.decimals, fixed, self.keep_zeros)
        return "−" + text[1:] if self.style == "unicode" and text.startswith("-") else text

    def formula(self, step: Step) -> Formula:
        return formula(step, self.style, self.decimals, self.profile, self.keep_zeros)

    def shortcut(self, step: Step) -> Formula | None:
        return shortcut(step, self.style, self.decimals, self.profile)

    def write(self, tree: Node) -> str:
        return render(tree, self.style, self.decimals, keep_zeros=self.keep_zeros)

    def value(self, step: Step) -> float:
        """The step's value as the profile writes it (Err = −δ under Han & Kamber)."""
        return step.value * _sign(step.kind, self.profile)


# ----------------------------------------------------------------------------- answer names


_FROM_SUB = str.maketrans("₀₁₂₃₄₅₆₇₈₉⁺", "0123456789+")


def spelling(key: str) -> str:
    """What a person typed, made comparable: case, spaces, ∂/δ and subscripts ignored."""
    key = key.strip().lower().translate(_FROM_SUB)
    return key.replace(" ", "").replace("∂", "d").replace("δ", "delta").replace("’", "'")


def aliases(step_id: str, p: Profile | str | None = None) -> list[str]:
    """Friendly spellings of a step id, bpwalk's own (net_h1, dE/dw5, w5+, delta_o1, ...)
    and the profile's (Err:o1 and Err_o1 under han-kamber, dz_o1 under ng, ...).

    One table for `check`, the quiz and the stepper's `g`."""
    p = profile(p)  # a Profile as it is; a name (from the API, say) looked up
    base, at, sample = step_id.partition("@")
    kind, _, n = base.partition(":")
    if p.circuit:
        return _circuit_aliases(kind, n, p)
    own = {
        "net": [f"net_{n}", f"net{n}"],
        "out": [f"out_{n}", f"out{n}"],
        "loss": ([f"loss_{n}", f"e_{n}", f"e{n}"] if n else
                 ["e", "e_total", "etotal", "e_tot", "error", "total_loss"]),
        "dout": [f"dout_{n}", f"de/dout_{n}", f"de/dout{n}", f"de_total/dout_{n}"],
        "dact": [f"dact_{n}", f"dout_{n}/dnet_{n}", f"dout{n}/dnet{n}"],
        "dnet": [f"dnet_{n}", f"delta_{n}", f"delta{n}", f"de/dnet_{n}", f"de/dnet{n}",
                 f"de_total/dnet_{n}"],
        "grad": [f"grad_{n}", f"de/d{n}", f"de_total/d{n}", f"detotal/d{n}", f"de/d_{n}",
                 f"grad{n}"],
        "new": [f"new_{n}", f"{n}_new", f"{n}+", f"{n}new", f"new{n}", f"{n}'", f"{n}^+",
                f"{n}_plus"],
    }.get(kind, [])
    word = {"net": p.net, "out": p.out, "dnet": p.delta, "loss": p.loss}.get(kind, "")
    if kind == "grad" and p.grad_prefix:
        word = p.grad_prefix
        own += [f"{word}{n}", f"{word}_{n}"]
    elif kind == "dout" and p.grad_prefix:
        own += [f"{p.grad_prefix}{p.out}_{n}", f"{p.grad_prefix}{p.out}:{n}"]
    elif word and n:
        own += [f"{word}:{n}", f"{word}_{n}", f"{word}{n}"]
    elif word:
        own += [word]
    if kind == "dnet" and p.sign > 0:  # ∂E/∂net itself only where it is the error term
        own += [f"d{p.loss}/d{p.net}_{n}"]
    if n in p.places:  # the layer-indexed symbol as printed: z^3_1, dC/dw^3_11, dW^[2]_11
        own += [render(node(base, p), "ascii")]
    return [a + at + sample for a in own]


def _circuit_aliases(kind: str, n: str, p: Profile) -> list[str]:
    """A circuit's spellings: micrograd's x.data and x.grad, CS231n's dx, df/dx (after the
    output f, or the profile's loss), and a local gradient's dq/dx."""
    if kind == "val":
        return [n, f"{n}.data", f"val_{n}"]
    if kind == "grad":
        return [f"d{n}", f"{n}.grad", f"d{p.loss}/d{n}", f"grad_{n}", f"grad{n}"]
    if kind == "local":
        j, _, k = n.partition("/")
        mine = [f"local_{j}/{k}"]
        # ∂f/∂q of the output f is df/dq, which the gradient of q is called too
        return mine + ([f"d{j}/d{k}"] if j != p.loss and j != "loss" else [])
    if kind == "new":
        return [f"new_{n}", f"{n}_new", f"{n}+", f"{n}new", f"new{n}", f"{n}'", f"{n}^+"]
    return []


def sign_note(p: Profile = MAZUR) -> str:
    """What to add when an error term's answer has the other sign."""
    if p.sign < 0:
        delta, net = render(p.sym("delta", "j"), "unicode"), render(p.sym("net", "j"), "unicode")
        return (f"{p.author}'s {delta} is −∂{p.loss}/∂{net}: your value has the other sign")
    return ("if your book's error term is Err = −∂E/∂net, as Han & Kamber's is, negate it "
            "(or use --notation han-kamber): bpwalk's δ is ∂E/∂net")
