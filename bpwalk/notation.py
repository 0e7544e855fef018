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

import functools
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from bpwalk.formulas import (
    GREEK,
    STYLES,
    BigSum,
    Call,
    Div,
    FnCall,
    Hadamard,
    Hat,
    Mul,
    Neg,
    Node,
    Num,
    Partial,
    Postfix,
    Pow,
    Rel,
    Root,
    Seq,
    Substituted,
    Sym,
    Val,
    Word,
    add,
    exp,
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
# rnn1.W_h[1,2], lstm1.W_x[5,1], lstm1.W_xf[1,2] and lstm1.b_f[1] (gates by name), att1.W_Q[2,1]
# (a bias of torch's layout keeps its name, rnn1.b[1], lstm1.b[5], as a convolution's conv1.b[1])
_RECURRENT = re.compile(r"^([A-Za-z]\w*)\.(W_x[ifgo]?|W_h[ifgo]?|b_[ifgo]|W_Q|W_K|W_V|W_O)"
                        r"\[(\d+(?:,\d+)?)\]$")
# an attention head's matrix entry, att:Q1@t2 (Q's row 2, column 1): its letter and column
_ENTRY = re.compile(r"^([QKVSAPH])(\d+)$")

# ----------------------------------------------------------------------------- profiles


_NAMED = frozenset(("net", "out", "target", "loss", "delta"))  # a profile's names of these


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
    # Ng's batch of m examples: a batch gradient is written (1/m)·Σ, as in
    # dW^[l] = (1/m) dZ^[l] A^[l−1]T
    one_over_m: bool = False
    # a bound profile's table: the scenario's name -> (what it is, layer, indexes), see bind()
    places: Mapping[str, tuple[str, str, str]] = MappingProxyType({})
    # bound to a circuit (graph:): "output" (the loss symbol is the output's name: ∂f/∂x)
    # or "loss" (a loss follows the output: its node is written E); "" for a network
    circuit: str = ""
    # The book's own lines (each step written as the book writes it, see _book below):
    units: bool = False  # Han & Kamber number the units 1, 2, ... from the inputs on
    bias: str = "b"  # a bias's symbol where the profile numbers the biases (θ_j)
    act_prime: str = ""  # the activation's derivative written as f′(z): σ′ (Nielsen), g′ (Ng)
    sigmoid_error: bool = False  # Err_j = O_j(1 − O_j)(T_j − O_j), O_j(1 − O_j)·Σ_k Err_k w_jk
    next_error: bool = False  # a hidden unit's error term from the next layer's: (Σ w δ)·σ′(z)
    weight_first: bool = False  # that sum written Σ_k w_kj δ_k (else δ_k·w_kj, as Mazur's)
    input_first: bool = False  # Nielsen's BP4 ∂C/∂w = a·δ, and BP3 ∂C/∂b = δ alone
    error_update: bool = False  # the update written with the error term: w + l·Err_j·O_i
    assign: bool = False  # the book's rules assign (Mitchell's ←)
    logistic: bool = False  # dz = a − y, where a sigmoid output meets cross-entropy (Ng)
    sample_sup: bool = False  # an example written as a superscript a^[l](i) (Ng), not [#i]
    rule_words: str = ""  # said after the backward pass's rule (CS231n's gates)

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
        base = getattr(self, kind) if kind in _NAMED else kind
        if name in self.places:  # z^l_j; a target y_j and a loss term C_j: the output index
            _, layer, index = self.places[name]
            layer = "" if kind in ("target", "loss") else layer
            return self.at(Sym(base, index, sample=sample, layer=layer))
        return self.at(Sym(base, name, sample=sample))

    def param(self, name: str, sample: int | None = None) -> Sym:
        """A parameter or an input: w5 -> w₅ (its own name), or w³₁₁, b², x₁ (layer-indexed)."""
        if name not in self.places:
            return self.at(_name(name, sample))
        what, layer, index = self.places[name]
        base = {"weight": self.weight, "bias": self.bias, "input": "x"}[what]
        return self.at(Sym(base, index, sample=sample, layer=layer))

    def at(self, s: Sym) -> Sym:
        """A symbol of one example as the profile marks it: Ng's a^[2](1), else a[#1]."""
        if s.sample is None or not self.sample_sup:
            return s
        return s.but(layer=f"{s.layer}({s.sample})", sample=None)

    def bind(self, scenario: Any) -> Profile:
        """This profile with the layer-indexed names of `scenario`'s neurons, weights,
        biases and inputs (itself when it keeps the scenario's names).

        Nielsen ch. 2: w^l_jk is the weight from the k-th neuron in layer l−1 to the j-th
        neuron in layer l, the input layer being layer 1; Ng numbers the input layer [0].

        A circuit (a graph: scenario) keeps its names; its gradients are written ∂f/∂x
        after its output f, or ∂E/∂x (the profile's loss) when a loss follows the output."""
        if getattr(scenario, "graph", None) is not None:
            return self._circuit(scenario)
        if self.input_layer is None and not (self.units and _dense(scenario)):
            return self  # (Han & Kamber number units of dense layers only)
        key = (self.name, id(scenario))
        if key in _BOUND and _BOUND[key][0] is scenario:
            return _BOUND[key][1]
        places = _units(scenario) if self.units else self._layers(scenario)
        bound = Profile.__new__(Profile)
        bound.__dict__.update(vars(self), places=places)
        if len(_BOUND) > 64:  # a cache of the scenarios in use, not of every one ever seen
            _BOUND.clear()
        _BOUND[key] = (scenario, bound)
        return bound

    def _layers(self, scenario: Any) -> dict[str, tuple[str, str, str]]:
        """Nielsen's and Ng's places: z^l_j, w^l_jk (layer l, neuron j, input k)."""
        assert self.input_layer is not None
        places = {n: ("input", "", _index(n, k)) for k, n in enumerate(scenario.inputs, 1)}
        for number_, lay in enumerate(scenario.layers, self.input_layer + 1):
            layer = f"[{number_}]" if self.brackets else str(number_)
            if lay.kind not in ("dense", "rnn", "lstm", "attention"):  # cells, parameters:
                # their indexes, z^[1]_{1,2,2}
                if lay.kind != "flatten":  # (flatten's cells are those of what feeds it)
                    places.update((n, ("neuron", layer, _index(n))) for n in lay.neurons)
                places.update((w, ("weight", layer, _index(w)))
                              for row in lay.weight_names for w in row)
                places.update((b, ("bias", layer, _index(b))) for b in lay.bias_names)
                continue
            wide = max(len(lay.neurons), len(lay.weight_names[0])) > 9  # w_{12,3}, not w_123
            for j, n in enumerate(lay.neurons, 1):
                places[n] = ("neuron", layer, str(j))
                if lay.kind in ("rnn", "lstm", "attention"):  # W_x, W_h, W_Q keep their
                    continue  # names (rnn1.W_h[1,1], att1.W_Q[2,1])
                for k, w in enumerate(lay.weight_names[j - 1], 1):
                    places[w] = ("weight", layer, f"{j},{k}" if wide else f"{j}{k}")
            shared = lay.bias == "shared"
            for j, b in enumerate(lay.bias_names if lay.kind != "lstm" else (), 1):
                places[b] = ("bias", layer, "" if shared else str(j))
        return places

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


def _index(name: str, k: int = 0) -> str:
    """The index a layer-indexed symbol takes from a cell's or parameter's name: 1,2,2 of
    conv1[1,2,2]; a plain name's position `k`."""
    return name[name.index("[") + 1:-1] if name.endswith("]") else str(k)


def _dense(scenario: Any) -> bool:
    return all(getattr(lay, "kind", "dense") == "dense" for lay in scenario.layers)


def _units(scenario: Any) -> dict[str, tuple[str, str, str]]:
    """Han & Kamber's places (Data Mining, section 9.2.3, Figure 9.5): the units numbered
    1, 2, ... from the inputs on, layer by layer; w_ij joins unit i to unit j, θ_j is unit
    j's bias (a shared bias keeps its own name: the book has none)."""
    unit: dict[str, int] = {n: k for k, n in enumerate(scenario.inputs, 1)}
    for lay in scenario.layers:
        unit.update((n, len(unit) + 1) for n in lay.neurons)
    sep = "," if len(unit) > 9 else ""  # w_{12,3}, not w_123
    places = {n: ("input", "", str(unit[n])) for n in scenario.inputs}
    before = list(scenario.inputs)
    for lay in scenario.layers:
        for j, n in enumerate(lay.neurons):
            places[n] = ("neuron", "", str(unit[n]))
            for i, w in enumerate(lay.weight_names[j]):
                places[w] = ("weight", "", f"{unit[before[i]]}{sep}{unit[n]}")
            if lay.bias == "per_neuron":
                places[lay.bias_names[j]] = ("bias", "", str(unit[n]))
        before = list(lay.neurons)
    return places


PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("mazur", "Matt Mazur, A Step by Step Backpropagation Example (2015)", "Mazur"),
    Profile("nielsen", "Michael Nielsen, Neural Networks and Deep Learning, ch. 2 (2015)",
            "Nielsen",
            net="z", out="a", target="y", loss="C", delta="delta", input_layer=1,
            equations={"dnet_output": "BP1", "dnet_hidden": "BP2", "grad_bias": "BP3",
                       "grad_weight": "BP4"},
            act_prime="sigma", next_error=True, weight_first=True, input_first=True),
    Profile("ng", "Andrew Ng, Deep Learning Specialization, course 1 weeks 3 and 4 (2017)",
            "Ng",
            net="z", out="a", target="y", loss="J", lr="alpha", delta="dz",
            grad_prefix="d", input_layer=0, brackets=True, weight="W", one_over_m=True,
            # week 3 and 4: dz^[2](i) = a^[2](i) − y^(i); dz^[1] = W^[2]T dz^[2] * g^[1]′(z^[1])
            act_prime="g", next_error=True, weight_first=True, logistic=True, sample_sup=True,
            # course 2, week 2 (optimization algorithms): V_dW, S_dW, β, V^corrected_dW
            hyper={"momentum": ("beta", ""), "alpha": ("beta", "")},
            state={"vel": ("V", ""), "sq": ("S", ""), "m": ("V", ""), "v": ("S", ""),
                   "mhat": ("V", "corrected"), "vhat": ("S", "corrected")}),
    Profile("han-kamber", "Han, Kamber & Pei, Data Mining, 3rd ed., section 9.2.3 (2012)",
            "Han & Kamber",
            net="I", out="O", target="T", lr="l", delta="Err", sign=-1, additive=True,
            units=True, bias="theta", sigmoid_error=True, error_update=True),
    Profile("mitchell", "Tom Mitchell, Machine Learning, section 4.5.2, table 4.2 (1997)",
            "Mitchell",
            net="net", out="o", target="t", delta="delta", sign=-1, additive=True,
            sigmoid_error=True, weight_first=True, error_update=True, assign=True,
            hyper={"momentum": ("alpha", "")}),  # section 4.5.2.1: Δw(n) = ηδx + αΔw(n−1)
    Profile("cs231n", "Stanford CS231n notes, Backpropagation, intuitions (2016)", "CS231n",
            loss="f", lr="step_size", delta="ddot", grad_prefix="d", local_first=True,
            rule_words="each line is the local gradient × the upstream gradient",
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
    if m:  # an rnn layer's rnn1.W_h[1,2] -> W_h₁₂
        index = m.group(3).split(",")
        sub = ("," if any(len(i) > 1 for i in index) else "").join(index)
        return Sym(m.group(2), sub, sample=sample)
    # a parameter called eta stays a word: a bare η is the learning rate (and Delta: Δ is
    # a change, Han & Kamber's Δw)
    if name in GREEK and name not in ("eta", "Delta"):
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


@functools.lru_cache(maxsize=1 << 14)  # a ref is read by many steps (out:h1 by every net of
def node(ref: str, p: Profile = MAZUR) -> Node:  # the next layer); its tree is never changed
    """The symbol of a step id or operand ref as a tree: ``grad:w5`` -> ∂E/∂w₅."""
    base, _, at = ref.partition("@")
    if base.startswith(("att:", "datt:")) and at.startswith("t"):  # Q₂₁, ∂E/∂P₂₃
        return _entry(base, at, p)
    if at.startswith("t"):  # a time step of a sequence (h1@t2, h1@t2@3): h^<2>
        time, _, sample_at = at.partition("@")
        return _at_time(node(f"{base}@{sample_at}" if sample_at else base, p), time[1:], p)
    sample = int(at) if at else None
    kind, _, name = base.partition(":")
    if kind in ("0", "1") and not name:  # 0: a sum no term reaches (a padded cell)
        return Num(float(kind))
    if kind == "lr":
        return Sym(p.lr)
    if kind in _NORM_SYMS or kind == "mask" or kind in ("keep", "m") and not name:
        return _norm_node(kind, name, sample, p)
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
    if kind in ("dout", "dxc"):  # dxc: the compact form of a normalisation's dout
        d = _partial_or_d(p, E, p.sym("out", name), "out", name)
    elif kind == "dloss":  # an output's own loss term's derivative (an lstm's h: ∂E_h/∂h),
        d = Partial(p.sym("loss", name), p.sym("out", name))  # (CS231n's dout_h is dE/dh)
    elif kind == "dnet":
        if p.delta:
            return p.sym("delta", name, sample)
        d = Partial(E, p.sym("net", name))
    elif kind == "dact" and p.act_prime:  # σ′(z³₁): the book's name for ∂a/∂z
        return FnCall(Postfix(Sym(p.act_prime), "prime"), (p.sym("net", name, sample),))
    elif kind == "dact":
        d = Partial(p.sym("out", name), p.sym("net", name))
    elif kind == "jac":
        d = Partial(p.sym("out", j), p.sym("net", k))
    elif kind == "dpool":  # a pooling window's out over one of its cells: 1, 0 or 1/size
        d = Partial(p.sym("out", j), p.sym("out", k))
    elif kind == "wrt":  # d net_j / d param: the input the parameter carries (1 for a bias)
        d = Partial(p.sym("net", j), p.param(k))
    elif kind in ("grad", "din"):  # din: dE/d(input), with input_gradients
        d = _grad_name(p, p.param(name))
    else:
        raise ValueError(f"unknown reference {ref!r}")
    return _with_sample(d, sample, p)


def _entry(base: str, at: str, p: Profile) -> Node:
    """An attention head's matrix entry, its row the token: att:Q1@t2 -> Q₂₁ (the row
    first, as a matrix's entries are written), datt:P3@t2 -> ∂E/∂P₂₃ (dP₂₃ where the
    profile names gradients so), with the sample's marker in a batch."""
    kind, _, name = base.partition(":")
    time, _, sample_at = at.partition("@")
    m = _ENTRY.match(name)
    if m is None:
        raise ValueError(f"unknown reference {base}@{at!r}")
    row, col = time[1:], m.group(2)
    sym = Sym(m.group(1), ("," if len(row) > 1 or len(col) > 1 else "").join((row, col)))
    sample = int(sample_at) if sample_at else None
    if kind == "att":
        return p.at(sym.but(sample=sample))
    return _with_sample(_grad_name(p, sym), sample, p)


# a dropout's and a normalisation's quantities: ∂E/∂x̂, ∂E/∂σ², Σ∂E/∂x̂ ... of a cell or
# of a group (a feature or channel, bn1[2]; a sample's, ln1@2)
_NORM_SYMS = ("mu", "var", "xhat", "dxhat", "dvar", "dmu", "sdx", "sdxx")
_NORM_RHS = ("mu", "var", "xhat", "dvar", "dmu", "dout", "dxc")


def _norm_node(kind: str, name: str, sample: int | None, p: Profile) -> Node:
    if kind == "keep":  # dropout's scale of the kept values
        return Div(Num(1.0), sub(1, Sym("p")))
    if kind == "m":  # the values a normalisation's μ and σ² are taken over
        return Sym("m")
    if kind == "mask":
        return p.at(Sym("m", name, sample=sample))
    mu = p.at(Sym("mu", name, sample=sample))
    var = p.at(Sym("sigma", name, sup="2", sample=sample))
    xhat = Hat(p.at(Sym("x", name, sample=sample)))
    E = p.sym("loss")
    return {"mu": mu, "var": var, "xhat": xhat, "dxhat": Partial(E, xhat),
            "dvar": Partial(E, var), "dmu": Partial(E, mu),
            "sdx": BigSum("i", Partial(E, xhat)),
            "sdxx": BigSum("i", mul(Partial(E, xhat), xhat))}[kind]


def _norm_rhs(step: Step, p: Profile) -> Node | None:
    """A normalisation's step written out, or None for a step of products."""
    kind, t = step.kind, step.terms
    aux = {o.ref.partition(":")[0]: _val(o, p) for o in step.aux}
    if kind == "mu":
        return Div(add(*(_val(x[0], p) for x in t)), Num(float(len(t))))
    if kind == "var":
        mu = aux["mu"]
        # (1/m)·Σ: a product of a long sum wraps on the page, a fraction's top would not
        return mul(Div(Num(1.0), Num(float(len(t)))),
                   add(*(Pow(sub(_val(x[0], p), mu), Num(2.0)) for x in t)))
    if kind == "xhat":
        x, mu, var, eps = (_val(o[0], p) for o in t)
        return Div(sub(x, mu), Root(add(var, eps)))
    if kind == "dvar":  # −½·Σ∂E/∂x̂·x̂/(σ² + ε)
        sdxx, var, eps = (_val(o[0], p) for o in t)
        return Neg(Div(sdxx, mul(Num(2.0), add(var, eps))))
    if kind == "dmu":  # −Σ∂E/∂x̂/√(σ² + ε)
        sdx, var, eps = (_val(o[0], p) for o in t)
        return Neg(Div(sdx, Root(add(var, eps))))
    if kind == "dout" and step.fn == "norm":  # the x̂, σ² and μ paths
        (dx, var, eps), (dvar, x, mu), (dmu,) = t
        m = aux["m"]
        return add(Div(_val(dx, p), Root(add(_val(var, p), _val(eps, p)))),
                   mul(_val(dvar, p), Div(mul(Num(2.0), sub(_val(x, p), _val(mu, p))), m)),
                   Div(_val(dmu, p), m))
    if kind == "dxc":
        dx, sdx, xhat, sdxx, var, eps = (_val(o[0], p) for o in t)
        m = aux["m"]
        return Div(sub(sub(mul(m, dx), sdx), mul(xhat, sdxx)), mul(m, Root(add(var, eps))))
    return None


def _at_time(d: Node, time: str, p: Profile) -> Node:
    """A quantity at time step `time` of a sequence: each symbol but the loss E marked
    with it as a superscript, h^<2> (Ng's ⟨t⟩, in characters every printer has)."""
    if isinstance(d, Sym):
        return d if d == p.sym("loss") else d.but(sup=f"{d.sup}<{time}>")
    if isinstance(d, Partial):
        return Partial(_at_time(d.top, time, p), _at_time(d.bottom, time, p))
    if isinstance(d, FnCall):  # a book's σ′(z), g′(z): its argument at that time
        return FnCall(d.fn, tuple(_at_time(a, time, p) for a in d.args))
    return d


def _partial_or_d(p: Profile, E: Node, wrt: Sym, kind: str, name: str) -> Node:
    if p.grad_prefix:  # Ng's da_h1
        return wrt.but(base=p.grad_prefix + getattr(p, kind))
    return Partial(E, wrt)


def _with_sample(d: Node, sample: int | None, p: Profile) -> Node:
    """A derivative of one sample: the marker goes on the variable it is taken at."""
    if sample is None:
        return d
    if isinstance(d, Sym):
        return p.at(d.but(sample=sample))
    assert isinstance(d, Partial) and isinstance(d.bottom, Sym)
    return Partial(d.top, p.at(d.bottom.but(sample=sample)))


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
        if p.local_first and (step.kind == "dnet" or len(term) == 2 and term[1].ref.startswith(
                "param:")):  # the gate's local gradient (∂out/∂net, a weight), then upstream
            factors.reverse()
        flip = min(flip, *(_sign(o.ref.partition(":")[0], p) for o in term))
        terms.append(factors[0] if len(factors) == 1 else Mul(tuple(factors)))
    body = terms[0] if len(terms) == 1 else add(*terms)
    return _signed(body, flip)


def _aux(step: Step, ref: str, default: float) -> float:
    return next((o.value for o in step.aux if o.ref == ref), default)


def rhs(step: Step, p: Profile, steps: Mapping[str, Step] | None = None) -> Node:
    """The right-hand side of a step, one tree printed both in symbols and in numbers.
    `steps`: the steps of the step's update by id, where a book's line takes its numbers
    from other steps (Han & Kamber's Err_j from O_j and T_j); None: today's chain only."""
    from bpwalk.functions import ACTIVATIONS, LOSSES  # (NumPy: not needed to name profiles)

    kind, terms, fn = step.kind, step.terms, step.fn
    if kind in ("val", "local") or fn in ("seed", "chain", "ascent"):  # a circuit's step
        from bpwalk.graph.written import rhs as circuit_rhs

        return circuit_rhs(step, p)
    if kind in ("att", "datt"):  # an attention head's entry: graph/attention.py
        return _attention_rhs(step, p)
    book = _book(step, p, steps) if steps is not None else None
    if book is not None:
        return book
    slope = Num(_aux(step, "slope", 0.0))
    if kind == "out" and fn == "softmax":
        mine = next(o for t in terms for o in t if o.ref.split("@")[0] == f"net:{step.subject}")
        return ACTIVATIONS[fn].formula(_val(mine, p), slope, tuple(_val(t[0], p) for t in terms))
    if kind == "out" and fn in ACTIVATIONS:
        return ACTIVATIONS[fn].formula(_val(terms[0][0], p), slope, None)
    norm = _norm_rhs(step, p) if kind in _NORM_RHS else None
    if norm is not None:
        return norm
    if kind == "pool":  # a pooling window: its max, or its mean
        cells = tuple(_val(t[0], p) for t in terms)
        return Call("max", cells) if fn == "max" else Div(add(*cells), Num(float(len(cells))))
    if kind == "dact":
        return ACTIVATIONS[fn].derivative_formula(_val(terms[0][0], p), _val(terms[1][0], p),
                                                  slope)
    if kind in ("loss", "dout", "dloss") and step.subject and fn in LOSSES:
        loss = LOSSES[fn]
        make = loss.term_formula if kind == "loss" else loss.derivative_formula
        return make(_val(terms[0][0], p), _val(terms[1][0], p), Num(_aux(step, "K", 1.0)))
    if kind == "grad" and p.delta and len(step.aux) == 2:  # Nielsen's BP4: a_in·δ_out
        carried, delta = step.aux
        if p.input_first and carried.ref == "1":  # BP3: ∂C/∂b = δ
            return _signed(_val(delta, p), p.sign)
        factors = [_val(delta, p), _val(carried, p)]
        first = p.local_first or p.input_first
        return _signed(mul(*(factors[::-1] if first else factors)), p.sign)
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
    if kind == "grad" and fn == "sum" and not step.batch and p.sign < 0:
        # a convolution's kernel or bias gradient, a long sum: each product carries its own
        # sign (not one −(...) around them all), so that the sum can wrap between terms
        return add(*(_products(Step(step.id, step.phase, kind, step.subject, step.layer,
                                    step.sample, 0.0, (t,)), p) for t in terms))
    if step.batch and fn == "mean" and p.one_over_m:
        return mul(Div(Num(1.0), Num(float(len(terms)))), _products(step, p))
    if step.batch and fn == "mean":
        return Div(_products(step, p), Num(float(len(terms))))
    return _signed(_products(step, p), _sign(kind, p))


def _attention_rhs(step: Step, p: Profile) -> Node:
    """An attention head's step: a sum of products (Q, K, V, S, P·V, dP, dV, dQ, dK), the
    scale (S₂₃/√d_k, or c·S₂₃), a softmax over the row, the softmax Jacobian of a row
    P₂₃(∂E/∂P₂₃ − Σ_k P₂ₖ·∂E/∂P₂ₖ), or a masked weight's 0."""
    fn, terms = step.fn, step.terms
    if fn == "masked":
        return Num(0.0)
    if fn == "scale":
        x = _val(terms[0][0], p)
        if len(step.aux) == 2:  # 1/√d_k
            return Div(x, Root(Val(Sym("d", "k"), step.aux[1].value)))
        return mul(Val(Sym("c"), step.aux[0].value), x)
    if fn == "softmax":
        from bpwalk.functions import ACTIVATIONS

        return ACTIVATIONS["softmax"].formula(_val(step.aux[0], p), Num(0.0),
                                              tuple(_val(t[0], p) for t in terms))
    if fn == "softmax_row":
        (pij, dpij), *row = terms
        inner = add(*(mul(_val(a, p), _val(b, p)) for a, b in row))
        return mul(_val(pij, p), sub(_val(dpij, p), inner), dot=False)
    return _products(step, p)


def matrix_symbol(name: str, grad: bool, p: Profile = MAZUR) -> Node:
    """An attention head's matrix (Q, P, W_Q) or its gradient (∂E/∂P, dW_Q); z is the
    head's output, written as the profile's out."""
    sym = p.sym("out") if name == "z" else Sym("W", name[2:]) if name.startswith("W_") \
        else Sym(name)
    return _grad_name(p, sym) if grad else sym


def attention_rules(p: Profile, scaling: str, causal: bool, w_o: bool) -> tuple[Node, ...]:
    """An attention head's forward rules in matrix symbols: Q = X·W_Q ...; S = Q·Kᵀ;
    A = S/√d_k; P = softmax(A) by row; out = P·V (then H·W_O)."""
    X, W = Sym("X"), (lambda s: Sym("W", s))
    Q, K, V, S, A, P, H = (Sym(c) for c in "QKVSAPH")
    parts: list[Node] = [Seq((Rel(Q, "=", mul(X, W("Q"))), Rel(K, "=", mul(X, W("K"))),
                              Rel(V, "=", mul(X, W("V")))), ", "),
                         Rel(S, "=", mul(Q, Postfix(K, "T")))]
    soft = S
    if scaling != "none":
        c = Root(Sym("d", "k")) if scaling == "root" else None
        parts.append(Rel(A, "=", Div(S, c) if c is not None else mul(Sym("c"), S)))
        soft = A
    ij = (lambda m, s="ij": Sym(m.base, s))
    parts.append(Rel(ij(P), "=", Div(exp(ij(soft)), BigSum("k", exp(ij(soft, "ik"))))))
    if w_o:
        parts.append(Seq((Rel(H, "=", mul(P, V)), Rel(p.sym("out"), "=", mul(H, W("O")))), ", "))
    else:
        parts.append(Rel(p.sym("out"), "=", mul(P, V)))
    return tuple(parts)


def attention_backward_rules(p: Profile, scaling: str, w_o: bool) -> tuple[Node, ...]:
    """The head's backward rules: dP = dH·Vᵀ, dV = Pᵀ·dH, the softmax Jacobian by row,
    the scale, dQ = dS·K, dK = dSᵀ·Q, dW_Q = Xᵀ·dQ, ... (dH = ∂E/∂out, or ·W_Oᵀ)."""
    g = (lambda s: _grad_name(p, s))
    X, W = Sym("X"), (lambda s: Sym("W", s))
    Q, K, V, S, P, H = (Sym(c) for c in "QKVSPH")
    A = Sym("A") if scaling != "none" else S
    T = (lambda m: Postfix(m, "T"))
    dout = g(p.sym("out"))
    parts: list[Node] = []
    if w_o:
        parts.append(Seq((Rel(g(H), "=", mul(dout, T(W("O")))),
                          Rel(g(W("O")), "=", mul(T(H), dout))), ", "))
    dh = g(H) if w_o else dout
    parts.append(Seq((Rel(g(P), "=", mul(dh, T(V))), Rel(g(V), "=", mul(T(P), dh))), ", "))
    ij = (lambda m, s="ij": m.but(sub=s) if isinstance(m, Sym) else m)
    gp = (lambda s: _grad_name(p, Sym("P", s)))
    parts.append(Rel(_grad_name(p, ij(A)), "=", mul(
        Sym("P", "ij"), sub(gp("ij"), BigSum("k", mul(Sym("P", "ik"), gp("ik")))), dot=False)))
    if scaling == "root":
        parts.append(Rel(g(S), "=", Div(g(A), Root(Sym("d", "k")))))
    elif scaling == "number":
        parts.append(Rel(g(S), "=", mul(Sym("c"), g(A))))
    parts.append(Seq((Rel(g(Q), "=", mul(g(S), K)), Rel(g(K), "=", mul(T(g(S)), Q))), ", "))
    parts.append(Seq(tuple(Rel(g(W(c)), "=", mul(T(X), g(m))) for c, m in
                           (("Q", Q), ("K", K), ("V", V))), ", "))
    return tuple(parts)


# ----------------------------------------------------------------------------- books' lines
# Where a book writes a step its own way, the line is built from the operands of the step
# and of the steps of the same update it names (by id): a view's lookup, nothing computed.


def _ref(kind: str, step: Step) -> str:
    """The id of the step of `kind` about the same neuron and sample: dout:h1@2."""
    _, at, sample = step.id.partition("@")
    return f"{kind}:{step.subject}{at}{sample}"


def _sum(dout: Step, p: Profile) -> Node:
    """A hidden unit's sum over the next layer, Σ_k Err_k·w_jk (or w_kj·δ_k), from the
    operands of its dout step (the next layer's error terms and the old weights)."""
    terms = []
    for term in dout.terms:
        factors = [_val(o, p) for o in term]
        terms.append(Mul(tuple(factors[::-1] if p.weight_first else factors)))
    return terms[0] if len(terms) == 1 else add(*terms)


def _book(step: Step, p: Profile, steps: Mapping[str, Step]) -> Node | None:
    """The step as the profile's book writes it, or None where the book has no form for it
    (an optimizer, a batch, a shared bias, an activation or loss the form does not hold for):
    then the chain rule is written as for every profile."""
    if step.kind == "dnet" and len(step.terms) == 1 and len(step.terms[0]) == 2:
        dout, dact = (steps.get(o.ref) for o in step.terms[0])
        if dout is None or dact is None:
            return None
        if p.sigmoid_error and step.fn == "sigmoid":  # Han & Kamber (9.6)/(9.7), Mitchell T4.3/4
            o = _val(dact.terms[1][0], p)
            if step.output and dout.fn == "half_squared_error":
                return mul(o, sub(1, o), sub(_val(dout.terms[0][0], p), o), dot=False)
            if not step.output and _over_weights(dout):
                return mul(mul(o, sub(1, o), dot=False), _sum(dout, p))
            return None
        if p.logistic and step.output and step.fn == "sigmoid" and \
                dout.fn == "binary_cross_entropy" and _aux(dout, "K", 0.0) == 1.0:
            return sub(_val(dout.terms[1][0], p), _val(dout.terms[0][0], p))  # dz = a − y
        if p.next_error and not step.output and _over_weights(dout):  # BP2, Ng's dz^[1]
            return mul(_sum(dout, p), _val(step.terms[0][1], p))
        return None
    if step.kind == "new" and p.error_update and len(step.terms) == 3 and step.fn != "nesterov":
        old, lr, grad = (t[0] for t in step.terms)
        g = steps.get(grad.ref)
        if g is None or g.batch or len(g.aux) != 2 or not grad.ref.startswith("grad:"):
            return None
        carried, delta = g.aux  # w_ij + (l)·Err_j·O_i; a bias θ_j + (l)·Err_j
        factors = (lr, delta) if carried.ref == "1" else (lr, delta, carried)
        return add(_val(old, p), mul(*(_val(f, p) for f in factors)))
    return None


def _over_weights(dout: Step) -> bool:
    """A hidden dout that is the books' Σ w·δ (the next layer's weights), not a pooling
    layer's routing: only then do their hidden forms hold."""
    return all(len(t) == 2 and t[1].ref.startswith("param:") for t in dout.terms)


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
            keep_zeros: bool = False, steps: Mapping[str, Step] | None = None) -> Formula:
    """How `step` reads in `style` under profile `p`: symbol, formula in symbols and in
    numbers, and the value (negated where the profile's error term has the other sign).
    `steps`: the steps of its update by id, for the lines a book writes (see rhs)."""
    p = profile(p)  # a Profile as it is; a name (from the API, say) looked up
    tree = rhs(step, p, steps)
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


def dropout_rule() -> Node:
    """out = x·m·1/(1 − p): inverted dropout, the kept values scaled."""
    return Rel(Sym("out"), "=", mul(Sym("x"), Sym("m"), Div(Num(1.0), sub(1, Sym("p")))))


def norm_rule() -> Node:
    """x̂ = (x − μ)/√(σ² + ε), then y = γ·x̂ + β."""
    xhat, mu, var = Hat(Sym("x")), Sym("mu"), Sym("sigma", sup="2")
    return Seq((Rel(xhat, "=", Div(sub(Sym("x"), mu), Root(add(var, Sym("epsilon"))))),
                Rel(Sym("y"), "=", add(mul(Sym("gamma"), xhat), Sym("beta")))), ", then ")


def backward_rule(p: Profile = MAZUR) -> Node:
    """δ = ∂E/∂net; ∂E/∂w = δ·input (with the profile's names and sign)."""
    delta = p.sym("delta") if p.delta else Sym("delta")
    d = Partial(p.sym("loss"), p.sym("net"))
    return Seq((Rel(delta, "=", _signed(d, p.sign if p.delta else 1)),
                Rel(_grad_name(p, Sym("w")), "=",
                    mul(_signed(delta, p.sign if p.delta else 1), Word("input")))), "; ")


def book_backward(p: Profile, scenario: Any) -> tuple[Node | str, ...]:
    """The backward pass's rules as the profile's book states them, where they hold for the
    scenario (words and trees, to go before backward_rule); () where the book has none."""
    acts = {lay.activation for lay in scenario.layers}
    if p.sigmoid_error and acts == {"sigmoid"} and scenario.loss == "half_squared_error":
        # Han & Kamber (9.6), (9.7): Err_j, Σ_k Err_k w_jk; Mitchell T4.3, T4.4: δ_k ← ...,
        # δ_h ← o_h(1 − o_h) Σ_k w_kh δ_k (Mitchell assigns, and names units k and h)
        op, k, h = ("<-", "k", "h") if p.assign else ("=", "j", "j")
        d, o = (lambda j: Sym(p.delta, j)), (lambda j: Sym(p.out, j))
        pair = (Sym("w", "k" + h), d("k")) if p.weight_first else (d("k"), Sym("w", h + "k"))
        return (Rel(d(k), op, mul(o(k), sub(1, o(k)), sub(Sym(p.target, k), o(k)), dot=False)),
                " for an output unit, ",
                Rel(d(h), op, mul(mul(o(h), sub(1, o(h)), dot=False), BigSum("k", mul(*pair)))),
                " for a hidden one; ")
    if p.equations and p.act_prime and "softmax" not in acts:  # Nielsen ch. 2, BP1-BP4
        def prime(z: Node) -> Node:
            return FnCall(Postfix(Sym(p.act_prime), "prime"), (z,))

        delta = Sym("delta", "j", layer="l")
        bp2 = Hadamard((Mul((Postfix(Sym("w", layer="l+1"), "T"), Sym("delta", layer="l+1")),
                             dot=False), prime(Sym(p.net, layer="l"))))
        return ("BP1 ", Rel(Sym("delta", "j", layer="L"), "=",
                            mul(Partial(Sym(p.loss), Sym(p.out, "j", layer="L")),
                                prime(Sym(p.net, "j", layer="L")))),
                ", BP2 ", Rel(Sym("delta", layer="l"), "=", bp2),
                ", BP3 ", Rel(Partial(Sym(p.loss), Sym("b", "j", layer="l")), "=", delta),
                ", BP4 ", Rel(Partial(Sym(p.loss), Sym("w", "jk", layer="l")), "=",
                              mul(Sym(p.out, "k", layer="l-1"), delta)),
                " (L the output layer); ")
    return ()


def book_update(p: Profile) -> Node | None:
    """The update as Han & Kamber (9.8)-(9.11) and Mitchell (T4.5) write it, with the error
    term, for one training example and plain gradient descent; None for other profiles."""
    if not p.error_update:
        return None
    change = (lambda w: Mul((Sym("Delta"), w), dot=False))
    if p.assign:  # Mitchell: Δw_ji = η δ_j x_ji; w_ji ← w_ji + Δw_ji
        w = Sym("w", "ji")
        return Seq((Rel(change(w), "=", mul(Sym(p.lr), Sym(p.delta, "j"), Sym("x", "ji"))),
                    Rel(w, "<-", add(w, change(w)))), ", ")
    w, theta = Sym("w", "ij"), Sym(p.bias, "j")  # Han & Kamber: O_i the output of unit i
    err = Sym(p.delta, "j")
    return Seq((Rel(change(w), "=", mul(Sym(p.lr), err, Sym(p.out, "i"))),
                Rel(w, "=", add(w, change(w))),
                Rel(change(theta), "=", mul(Sym(p.lr), err)),
                Rel(theta, "=", add(theta, change(theta)))), ", ")


def hidden_rule(p: Profile = MAZUR) -> Node:
    """∂E/∂out of a hidden neuron: Σ over the next layer of δ·w (Han & Kamber's w_jk runs
    from unit j to unit k)."""
    return _through_weights(node("dout:j", p), "k", "jk" if p.units else "kj", p)


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

    __slots__ = ("decimals", "keep_zeros", "profile", "steps", "style")

    def __init__(self, style: str = "unicode", decimals: int = 9, profile: Profile | None = None,
                 keep_zeros: bool = False, steps: Callable[[Step], Mapping[str, Step]] | None
                 = None) -> None:
        self.style = style
        self.decimals = decimals
        self.profile = PROFILES[DEFAULT] if profile is None else profile
        self.keep_zeros = keep_zeros  # --decimals D given: 0.0310, as a hand calculation writes it
        # a step -> the steps of its update by id (lookup(trace)): the numbers of a book's
        # line that other steps hold; None: every step written from its own operands
        self.steps = steps

    def __repr__(self) -> str:
        return (f"Pen(style={self.style!r}, decimals={self.decimals!r}, "
                f"profile={self.profile.name!r}, keep_zeros={self.keep_zeros!r})")

    def sym(self, ref: str) -> str:
        return symbol(ref, self.style, self.profile)

    def num(self, value: float, fixed: bool = False) -> str:
        text = number(value, self.decimals, fixed, self.keep_zeros)
        return "−" + text[1:] if self.style == "unicode" and text.startswith("-") else text

    def formula(self, step: Step) -> Formula:
        steps = self.steps(step) if self.steps is not None else None
        return formula(step, self.style, self.decimals, self.profile, self.keep_zeros, steps)

    def like(self, style: str | None = None, decimals: int | None = None) -> Pen:
        """This pen in another style or at other decimals (its profile and lookup kept)."""
        return Pen(self.style if style is None else style,
                   self.decimals if decimals is None else decimals, self.profile,
                   self.keep_zeros, self.steps)

    def shortcut(self, step: Step) -> Formula | None:
        return shortcut(step, self.style, self.decimals, self.profile)

    def write(self, tree: Node) -> str:
        return render(tree, self.style, self.decimals, keep_zeros=self.keep_zeros)

    def value(self, step: Step) -> float:
        """The step's value as the profile writes it (Err = −δ under Han & Kamber)."""
        return step.value * _sign(step.kind, self.profile)


def lookup(trace: Any) -> Callable[[Step], Mapping[str, Step]]:
    """For a Pen: a step of `trace` -> the steps of its update by id. Built when a book's
    line first asks (the default notation never does), once for the whole trace."""
    where: dict[int, dict[str, Step]] = {}

    def steps(step: Step) -> Mapping[str, Step]:
        if not where:
            for it in trace.iterations:
                by_id = {s.id: s for s in it.steps}
                where.update((id(s), by_id) for s in it.steps)
        return where.get(id(step), {})

    return steps


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
