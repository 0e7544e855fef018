"""The layer operations of a network graph, each defined once: its forward arrays, its
backward arrays, the classic mistakes a student makes in it, the Steps it writes and its
formula again on other numbers (evaluate).

`layers:` is a front end: bpwalk.graph.network compiles it into a chain of these nodes,
one per layer (Dense, Conv, Pool, Flatten) then Loss, and the explained engine
(bpwalk.engine.explain) sweeps them forward in order and back in reverse. Read an entry as
the scalar operations of bpwalk.graph.ops read: the forward value, and beside it the
derivative the reverse sweep multiplies by the gradient from downstream. A new layer kind
(normalisation, dropout, recurrence) is one more class here with the same methods:

    forward(ctx, ...)          -> its record of arrays (rows are the batch's samples)
    backward(ctx, rec, ...)    fills in the record's gradients
    input_gradient(ctx, ...)   dE/d(what feeds it): the upstream node's dout
    forward_steps / backward_steps / batch_steps    its Steps, in the order a tutorial
                               writes them, one sample at a time
    dout_steps(ctx, b, up, ...)  the Steps of the upstream node's dout: a node's gradient
                               is written by the node it feeds (Loss for the output layer)
    evaluate(step, v)          a step it wrote, on other operand values (the judge's)

and `names` (its cells, in its arrays' column order) and `reshape` (True for a node that
only reshapes, like Flatten: the driver passes the gradient through it).

Each quantity goes through `ctx.inj` (the mistakes it can suffer, by kind) and `ctx.r` (the
rounding of a hand calculation) as soon as it is computed, so everything after it is
computed from the rounded, or the wrong, value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from bpwalk.functions import ACTIVATIONS, LOSSES
from bpwalk.scenario.model import Layer
from bpwalk.trace import Operand, Step

ONE = Operand("1", 1.0)
Add = Callable[[Step], None]
Value = Callable[[Operand], float]  # an operand's value in an evaluation


class Context(NamedTuple):
    """What every node of one explained update shares."""

    r: Callable[[np.ndarray], np.ndarray]  # the rounding of a hand calculation (or none)
    inj: Any  # bpwalk.engine.explain._Inject: the mistakes of this update
    idx: list[int]  # the batch's 0-based sample indices
    sfx: list[str]  # each sample's id suffix: "@2", or "" when the batch has one sample
    gsfx: list[str]  # a per-sample gradient's suffix ([""] for one sample: it is the gradient)
    samples: list[int | None]  # each sample's 1-based number; None for one sample
    mean: bool  # the batch's loss and gradients are means (else sums)
    scenario: Any  # bpwalk.scenario.Scenario


def ids(kind: str, names, sfx: list[str]) -> np.ndarray:
    """Step ids of a per-sample quantity: rows are samples, columns are `names`."""
    return np.array([[f"{kind}:{n}{s}" for n in names] for s in sfx], dtype=object)


def param_ids(kind: str, names, sfx: list[str] | None = None) -> np.ndarray:
    """Step ids of a parameter quantity (neurons x inputs), per sample when `sfx` is given."""
    grid = [[f"{kind}:{n}" for n in row] for row in names]
    if sfx is None:
        return np.array(grid, dtype=object)
    return np.array([[[g + s for g in row] for row in grid] for s in sfx], dtype=object)


def scaled(value: np.ndarray) -> dict:
    """The mistakes any quantity can suffer: its sign, or a stray factor of 2."""
    return {"sign": lambda: -value, "double": lambda: 2.0 * value, "half": lambda: 0.5 * value}


def mean_twice(value: np.ndarray, m: int, mean: bool) -> dict:
    """The mistake "1/m applied twice", which only a mean over the batch can make."""
    return {"mean_twice": lambda: value / m} if mean else {}


def combine(per_sample: np.ndarray, mean: bool, r, inj=None, ids_of=None) -> np.ndarray:
    """The batch's gradient from the per-sample ones: their mean or sum."""
    if per_sample.shape[0] == 1:
        return per_sample[0]
    total = per_sample.sum(axis=0)
    right, other = (total / per_sample.shape[0], total) if mean else (total, total / per_sample.shape[0])
    if inj is not None:
        right = inj(ids_of, right, {**scaled(right), "reduction": lambda: other,
                                    "one_sample": lambda: per_sample[0],
                                    **mean_twice(right, per_sample.shape[0], mean)})
    return r(right)


def sum_of_products(step: Step, v: Value) -> float:
    """A step whose formula is its terms' sum of products (or their mean, fn "mean")."""
    total = math.fsum(math.prod(v(o) for o in term) for term in step.terms)
    return total / len(step.terms) if step.fn == "mean" else total


def _slope_of(step: Step) -> float:
    return next((o.value for o in step.aux if o.ref == "slope"), 0.0)


# ----------------------------------------------------------------------------- Dense


class DenseArrays:
    """One dense layer's arrays in an explained update (rows are samples), filled in as the
    forward and backward sweeps reach it. (A plain class with slots: a slots dataclass
    costs every start about 0.4 ms to define, for nothing a dataclass adds here.)"""

    __slots__ = ("a", "dact", "dnet", "dout", "grad_b", "grad_w", "jac", "net", "out",
                 "per_b", "per_w", "prod", "upd")

    def __init__(self, a: np.ndarray, net: np.ndarray, out: np.ndarray) -> None:
        self.a = a  # what feeds it: the data, or the previous layer's out
        self.net = net
        self.out = out
        self.dout: np.ndarray | None = None  # dE/dout
        self.dact: np.ndarray | None = None  # dout/dnet; None for softmax (see jac)
        self.jac: np.ndarray | None = None  # softmax: d out_j / d net_k, (samples, j, k)
        self.dnet: np.ndarray | None = None  # delta = dE/dnet
        self.prod: np.ndarray | None = None  # dout * dact unrounded: the gradients' factor
        self.upd: np.ndarray | None = None  # dE/dout from the updated weights (that mistake)
        self.per_w: np.ndarray | None = None  # dE/dw per sample, (samples, neurons, inputs)
        self.per_b: np.ndarray | None = None  # dE/db per sample: (samples, 0) when not trained
        self.grad_w: np.ndarray | None = None  # the batch's dE/dw
        self.grad_b: np.ndarray | None = None  # the batch's dE/db


class Dense:
    """A layer of neurons: net = W·a + b, out = f(net) (softmax: over the layer's nets).

    Backward: dout/dnet = f′(net) (softmax: its Jacobian), delta = dE/dnet = dE/dout·dout/dnet,
    dE/dw_ji = delta_j·a_i, dE/db_j = delta_j (a shared bias: the sum of the deltas), and
    dE/da_i = Σ_j delta_j·w_ji, the upstream layer's dout (or the input's din).
    """

    KINDS = ("net", "out", "dact", "dnet", "grad", "din")  # and dout of a hidden layer
    reshape = False  # a node that only reshapes (flatten) computes nothing and writes no step

    __slots__ = ("index", "inputs", "lay", "src")

    def __init__(self, index: int, lay: Layer, inputs: tuple[str, ...]) -> None:
        self.index = index  # 0-based position among the layers
        self.lay = lay  # the scenario's layer
        self.inputs = inputs  # the names of what feeds it
        self.src = "in" if index == 0 else "out"  # their refs' kind

    @property
    def names(self) -> tuple[str, ...]:
        """Its cells' names, in the order of its arrays' columns."""
        return self.lay.neurons

    # ---- forward

    def forward(self, ctx: Context, w: np.ndarray, b: np.ndarray, a: np.ndarray) -> DenseArrays:
        """net = W·a + b and out = f(net) for every sample of the batch."""
        r, inj, lay, sfx = ctx.r, ctx.inj, self.lay, ctx.sfx
        names = lay.neurons
        net = a @ w.T
        if b.size:
            net = net + b
        net = r(inj(lambda: ids("net", names, sfx), net, {
            "sign": lambda: -net,
            "neighbour_neuron": lambda: np.roll(net, 1, axis=1),
            "neighbour_input": lambda: np.roll(a, 1, axis=1) @ w.T + (b if b.size else 0.0)}))
        out = ACTIVATIONS[lay.activation].value(net, lay.slope)
        out = r(inj(lambda: ids("out", names, sfx), out, {
            "sign": lambda: -out, "neighbour_neuron": lambda: np.roll(out, 1, axis=1),
            "activation_left_out": lambda: net}))
        return DenseArrays(a, net, out)

    # ---- backward

    def backward(self, ctx: Context, arr: DenseArrays) -> None:
        """delta and the gradients of the layer, from its dout (fills them in)."""
        wrong = self._deltas(ctx, arr)
        self._gradients(ctx, arr, wrong)

    def _deltas(self, ctx: Context, arr: DenseArrays) -> dict:
        """dout/dnet and delta = dE/dnet of the layer (fills them in).

        Returns the mistaken delta formulas of this layer, which its gradient steps can
        suffer too (a student may leave dout/dnet out of dE/dw5 only).
        """
        r, inj, sfx, lay = ctx.r, ctx.inj, ctx.sfx, self.lay
        dout, o = arr.dout, arr.out
        names = lay.neurons
        act = ACTIVATIONS[lay.activation]
        if lay.activation == "softmax":
            # Jacobian d out_j / d net_k = out_j (delta_jk - out_k), per sample: (B, j, k)
            jac = o[:, :, None] * (np.eye(o.shape[1])[None] - o[:, None, :])
            arr.jac = jac
            dnet = np.einsum("bj,bjk->bk", dout, jac)
            wrong = {"jacobian_diagonal": lambda: dout * o * (1.0 - o),
                     "dact_again": lambda: dnet * o * (1.0 - o)}
            arr.dnet = r(inj(lambda: ids("dnet", names, sfx), dnet, {
                **scaled(dnet), "neighbour_neuron": lambda: np.roll(dnet, 1, axis=1), **wrong}))
            arr.prod = arr.dnet  # gradients show delta itself as their first factor
            return wrong
        net = arr.net
        dact = act.derivative(net, o, lay.slope)

        def at_out() -> np.ndarray:  # the derivative (a function of net) evaluated at out
            return act.derivative(o, act.value(o, lay.slope), lay.slope)

        def at_net() -> np.ndarray:  # the formula written in out (like out(1 - out)) fed net
            return act.derivative(net, net, lay.slope)

        arr.dact = r(inj(lambda: ids("dact", names, sfx), dact, {
            "sign": lambda: -dact, "dact_at_out": at_out, "dact_at_net": at_net}))
        wrong = {"dact_at_out": lambda: dout * r(at_out()),
                 "dact_at_net": lambda: dout * r(at_net()),
                 "dact_left_out": lambda: dout,
                 "dact_again": lambda: dout * arr.dact * arr.dact}
        if arr.upd is not None:
            wrong["updated_weights"] = lambda: arr.upd * arr.dact
        p = dout * arr.dact
        arr.prod = inj(lambda: ids("dnet", names, sfx), p, {
            **scaled(p), "neighbour_neuron": lambda: np.roll(p, 1, axis=1), **wrong})
        arr.dnet = r(arr.prod)
        return wrong

    def _gradients(self, ctx: Context, arr: DenseArrays, wrong: dict) -> None:
        """dE/dparam of the layer, per sample and combined over the batch (fills them in)."""
        r, inj, lay, gsfx, mean = ctx.r, ctx.inj, self.lay, ctx.gsfx, ctx.mean
        p, a = arr.prod, arr.a

        def times_input(factor: np.ndarray) -> np.ndarray:
            return factor[:, :, None] * a[:, None, :]

        # dE/dw_ji = (dE/dout_j * dout_j/dnet_j) * a_i, multiplied in the order it is written
        gw = times_input(p)
        gw_s = r(inj(lambda: param_ids("grad", lay.weight_names, gsfx), gw, {
            **scaled(gw),
            "neighbour_neuron": lambda: times_input(np.roll(p, 1, axis=1)),
            "neighbour_input": lambda: p[:, :, None] * np.roll(a, 1, axis=1)[:, None, :],
            **{k: (lambda f=f: times_input(f())) for k, f in wrong.items()}}))
        arr.per_w = gw_s
        arr.grad_w = combine(gw_s, mean, r, inj, lambda: param_ids("grad", lay.weight_names))
        if lay.bias == "none" or not ctx.scenario.update_biases:
            gb = np.zeros((len(ctx.sfx), 0))
        elif lay.bias == "per_neuron":
            gb = p * 1.0
        else:  # one bias shared by every neuron of the layer: the sum of their deltas
            gb = arr.dnet.sum(axis=1, keepdims=True)
        one_neuron = ({"bias_not_summed": lambda: arr.dnet[:, :1]} if lay.bias == "shared"
                      else {})

        def bias_ids() -> np.ndarray:
            return param_ids("grad", [lay.bias_names], gsfx)[:, 0, :]

        gb_s = r(inj(bias_ids, gb, {**scaled(gb), **one_neuron})) if gb.size else gb
        arr.per_b = gb_s
        arr.grad_b = (combine(gb_s, mean, r, inj, lambda: param_ids("grad", [lay.bias_names])[0])
                      if gb_s.size else np.zeros(0))

    def input_gradient(self, ctx: Context, arr: DenseArrays, w: np.ndarray, upstream,
                       up: DenseArrays | None) -> np.ndarray:
        """dE/da = Σ_j delta_j·w_j (the weights from before the update): the dout of the
        layer `upstream` (whose arrays `up` keep the mistake "updated weights"), or the
        inputs' din when `upstream` is None."""
        r, inj, sfx = ctx.r, ctx.inj, ctx.sfx
        if upstream is None:
            din = arr.dnet @ w
            return r(inj(lambda: ids("din", ctx.scenario.inputs, sfx), din, {
                **scaled(din), "neighbour_neuron": lambda: np.roll(din, 1, axis=1)}))
        if inj.mistakes:  # kept for the mistake "updated weights", whichever step it is in
            up.upd = r(arr.dnet @ r(w - ctx.scenario.learning_rate * arr.grad_w))
        dout = arr.dnet @ w
        return r(inj(lambda: ids("dout", upstream.lay.neurons, sfx), dout, {
            **scaled(dout), "neighbour_neuron": lambda: np.roll(dout, 1, axis=1),
            "updated_weights": lambda: up.upd}))

    # ---- steps

    def forward_steps(self, add: Add, ctx: Context, arr: DenseArrays, w: np.ndarray,
                      bias: np.ndarray, b: int) -> None:
        """Sample b's net and out of each neuron."""
        lay, li = self.lay, self.index
        s, smp = ctx.sfx[b], ctx.samples[b]
        wl, bl = w.tolist(), bias.tolist()
        a = arr.a[b].tolist()
        refs = [f"{self.src}:{n}{s}" for n in self.inputs]
        net, out = arr.net[b].tolist(), arr.out[b].tolist()
        softmax = lay.activation == "softmax"
        for j, name in enumerate(lay.neurons):
            ops = tuple((Operand("param:" + wn, wl[j][i]), Operand(refs[i], a[i]))
                        for i, wn in enumerate(lay.weight_names[j]))
            if lay.bias != "none":
                bj = 0 if lay.bias == "shared" else j
                ops += ((Operand("param:" + lay.bias_names[bj], bl[bj]), ONE),)
            add(Step(f"net:{name}{s}", "forward", "net", name, li + 1, smp, net[j], ops))
            if not softmax:
                add(Step(f"out:{name}{s}", "forward", "out", name, li + 1, smp, out[j],
                         ((Operand(f"net:{name}{s}", net[j]),),), fn=lay.activation,
                         aux=self._slope()))
        if softmax:
            all_nets = tuple((Operand(f"net:{n}{s}", net[k]),) for k, n in enumerate(lay.neurons))
            for j, name in enumerate(lay.neurons):
                add(Step(f"out:{name}{s}", "forward", "out", name, li + 1, smp, out[j],
                         all_nets, fn="softmax"))

    def backward_steps(self, add: Add, ctx: Context, arr: DenseArrays, b: int,
                       downstream: Any, down: Any, w_down: np.ndarray | None) -> None:
        """Sample b's dout (written by `downstream`, the node it feeds, with its arrays
        `down` and weights `w_down`), dout/dnet and delta of each neuron, then its
        gradients."""
        lay, li = self.lay, self.index
        s, smp = ctx.sfx[b], ctx.samples[b]
        last = isinstance(downstream, Loss)
        douts: dict[str, list[Step]] = {}  # each neuron's (a normalisation writes two)
        for step in downstream.dout_steps(ctx, b, self, arr, down, w_down):
            douts.setdefault(step.subject, []).append(step)
        dout, dnet = arr.dout[b].tolist(), arr.dnet[b].tolist()
        out, net = arr.out[b].tolist(), arr.net[b].tolist()
        dact = arr.dact[b].tolist() if arr.dact is not None else None
        for j, name in enumerate(lay.neurons):
            for step in douts[name]:
                add(step)
            if dact is not None:
                add(Step(f"dact:{name}{s}", "backward", "dact", name, li + 1, smp, dact[j],
                         ((Operand(f"net:{name}{s}", net[j]),), (Operand(f"out:{name}{s}", out[j]),)),
                         fn=lay.activation, aux=self._slope(), output=last))
                add(Step(f"dnet:{name}{s}", "backward", "dnet", name, li + 1, smp, dnet[j],
                         ((Operand(f"dout:{name}{s}", dout[j]), Operand(f"dact:{name}{s}", dact[j])),),
                         fn=lay.activation, output=last))
        if dact is None:  # softmax: each delta is a sum over the Jacobian's column
            jac = arr.jac[b].tolist()
            cross_entropy = ctx.scenario.loss == "cross_entropy"
            for k, name in enumerate(lay.neurons):
                ops = tuple((Operand(f"dout:{n}{s}", dout[j]),
                             Operand(f"jac:{n}/{name}{s}", jac[j][k]))
                            for j, n in enumerate(lay.neurons))
                aux: tuple[Operand, ...] = ()
                note = ""
                if cross_entropy:
                    tt = ctx.scenario.targets[ctx.idx[b]].tolist()
                    aux = (Operand(f"out:{name}{s}", out[k]), Operand(f"target:{name}{s}", tt[k]))
                    note = "softmax with cross-entropy: this sum equals out minus target"
                add(Step(f"dnet:{name}{s}", "backward", "dnet", name, li + 1, smp, dnet[k],
                         ops, fn="softmax", note=note, aux=aux, output=last))
        self._grad_steps(add, ctx, arr, b)

    def dout_steps(self, ctx: Context, b: int, up: Any, up_arr: Any, arr: DenseArrays,
                   w: np.ndarray) -> list[Step]:
        """Sample b's dE/dout of each cell of `up`, the node feeding this one (its arrays
        `up_arr`): Σ_k delta_k·w_kj, with this layer's weights `w` from before the update."""
        s, smp, li = ctx.sfx[b], ctx.samples[b], up.index
        dn = arr.dnet[b].tolist()
        values = up_arr.dout[b].tolist()
        wl = w.T.tolist()
        steps = []
        for j, name in enumerate(up.names):
            wj = wl[j]
            ops = tuple((Operand(f"dnet:{n}{s}", dn[k]),
                         Operand("param:" + self.lay.weight_names[k][j], wj[k]))
                        for k, n in enumerate(self.lay.neurons))
            steps.append(Step(f"dout:{name}{s}", "backward", "dout", name, li + 1, smp,
                              values[j], ops, fn="sum", note="weights from before the update"))
        return steps

    def _grad_steps(self, add: Add, ctx: Context, arr: DenseArrays, b: int) -> None:
        """dE/dparam of sample b: delta times the input the parameter carries."""
        lay, li = self.lay, self.index
        s, smp = ctx.sfx[b], ctx.samples[b]
        gsfx = "" if len(ctx.sfx) == 1 else s
        a = arr.a[b].tolist()
        dout, dnet = arr.dout[b].tolist(), arr.dnet[b].tolist()
        dact = arr.dact[b].tolist() if arr.dact is not None else None
        gw = arr.per_w[b].tolist()

        def delta(j: int) -> tuple[Operand, ...]:
            name = lay.neurons[j]
            if dact is None:
                return (Operand(f"dnet:{name}{s}", dnet[j]),)
            return (Operand(f"dout:{name}{s}", dout[j]), Operand(f"dact:{name}{s}", dact[j]))

        for j, row in enumerate(lay.weight_names):
            d = delta(j)
            name = lay.neurons[j]
            for i, wn in enumerate(row):
                # the last factor is d net_j / d w_ji, which is the input the weight carries
                carried = Operand(f"{self.src}:{self.inputs[i]}{s}", a[i])
                add(Step(f"grad:{wn}{gsfx}", "backward", "grad", wn, li + 1, smp, gw[j][i],
                         (d + (Operand(f"wrt:{name}/{wn}{s}", a[i]),),),
                         aux=(carried, Operand(f"dnet:{name}{s}", dnet[j]))))
        if not arr.per_b.size:
            return
        gb = arr.per_b[b].tolist()
        if lay.bias == "per_neuron":
            for j, bn in enumerate(lay.bias_names):
                add(Step(f"grad:{bn}{gsfx}", "backward", "grad", bn, li + 1, smp, gb[j],
                         (delta(j) + (Operand(f"wrt:{lay.neurons[j]}/{bn}{s}", 1.0),),),
                         aux=(ONE, Operand(f"dnet:{lay.neurons[j]}{s}", dnet[j]))))
        else:
            bn = lay.bias_names[0]
            ops = tuple((Operand(f"dnet:{n}{s}", dnet[j]),) for j, n in enumerate(lay.neurons))
            add(Step(f"grad:{bn}{gsfx}", "backward", "grad", bn, li + 1, smp, gb[0], ops,
                     note="a shared bias: the sum of the deltas of the neurons it feeds"))

    def batch_steps(self, add: Add, ctx: Context, arr: DenseArrays) -> None:
        """The batch's gradient of each parameter: the mean or sum of the samples'."""
        lay, li, sfx = self.lay, self.index, ctx.sfx
        B, reduction = len(sfx), ctx.scenario.reduction
        gw = arr.grad_w.tolist()
        for j, row in enumerate(lay.weight_names):
            for i, wn in enumerate(row):
                ops = tuple((Operand(f"grad:{wn}{sfx[b]}", float(arr.per_w[b, j, i])),)
                            for b in range(B))
                add(Step(f"grad:{wn}", "backward", "grad", wn, li + 1, None, gw[j][i], ops,
                         fn=reduction, batch=True))
        gb = arr.grad_b.tolist()
        for j, bn in enumerate(lay.bias_names if arr.per_b.size else ()):
            ops = tuple((Operand(f"grad:{bn}{sfx[b]}", float(arr.per_b[b, j])),)
                        for b in range(B))
            add(Step(f"grad:{bn}", "backward", "grad", bn, li + 1, None, gb[j], ops,
                     fn=reduction, batch=True))

    def input_gradient_steps(self, ctx: Context, din: np.ndarray, w: np.ndarray,
                             arr: DenseArrays) -> list[Step]:
        """dE/d(input) of each sample, like a hidden neuron's dout (nothing depends on
        these: inputs are not trained; CS231n's exercises ask for them)."""
        lay = self.lay
        wl, dl, values = w.tolist(), arr.dnet.tolist(), din.tolist()
        steps = []
        for b, (s, smp) in enumerate(zip(ctx.sfx, ctx.samples)):
            for i, name in enumerate(ctx.scenario.inputs):
                ops = tuple((Operand(f"dnet:{n}{s}", dl[b][j]),
                             Operand("param:" + lay.weight_names[j][i], wl[j][i]))
                            for j, n in enumerate(lay.neurons))
                steps.append(Step(f"din:{name}{s}", "backward", "din", name, 0, smp,
                                  values[b][i], ops, fn="sum",
                                  note="weights from before the update"))
        return steps

    def _slope(self) -> tuple[Operand, ...]:
        lay = self.lay
        return (Operand("slope", lay.slope),) if ACTIVATIONS[lay.activation].parameter else ()

    # ---- a step again, on other numbers

    @staticmethod
    def evaluate(step: Step, v: Value) -> float:
        kind, fn, terms = step.kind, step.fn, step.terms
        if kind == "out" and fn in ACTIVATIONS:
            nets = np.array([[v(t[0]) for t in terms]])
            own = [t[0].ref for t in terms].index(f"net:{step.id.partition(':')[2]}")
            return float(ACTIVATIONS[fn].value(nets, _slope_of(step))[0, own])
        if kind == "dact":
            net, out = np.array([v(terms[0][0])]), np.array([v(terms[1][0])])
            return float(ACTIVATIONS[fn].derivative(net, out, _slope_of(step))[0])
        # net, hidden dout, dnet, grad, din: sums of products (a batch's: their mean)
        return sum_of_products(step, v)


# ----------------------------------------------------------------------------- Loss


class LossArrays(NamedTuple):
    """The loss of one explained update."""

    terms: np.ndarray  # (samples, outputs): each output's term
    per_sample: np.ndarray  # (samples,): their sums
    batch: float  # the batch's mean or sum (a single sample's own loss)


class Loss:
    """The loss of the output layer's out against the targets: one term per output, their
    sum per sample, the batch's mean or sum. Backward: dE/dout of each output."""

    KINDS = ("loss",)  # and dout of an output neuron (fn: the loss)

    __slots__ = ("k_aux", "name", "outputs")

    def __init__(self, name: str, outputs: tuple[str, ...]) -> None:
        self.name = name  # a key of bpwalk.functions.LOSSES
        self.outputs = outputs
        self.k_aux = (Operand("K", float(len(outputs))),)  # formulas that average over outputs

    def forward(self, ctx: Context, out: np.ndarray) -> LossArrays:
        """Per-output terms, per-sample sums, the batch's mean or sum."""
        r, inj, sfx = ctx.r, ctx.inj, ctx.sfx
        t = ctx.scenario.targets[ctx.idx]
        terms = LOSSES[self.name].term(out, t, t.shape[1])
        terms = r(inj(lambda: ids("loss", self.outputs, sfx), terms, scaled(terms)))
        sample_loss = terms.sum(axis=1)
        sample_loss = r(inj(lambda: np.array([f"loss{s}" for s in sfx], dtype=object),
                            sample_loss, scaled(sample_loss)))
        batch_loss = float(sample_loss[0])
        B, mean = len(ctx.idx), ctx.mean
        if B > 1:
            combined = np.array(sample_loss.mean() if mean else sample_loss.sum())
            other = np.array(sample_loss.sum() if mean else sample_loss.mean())
            batch_loss = float(r(inj(lambda: np.array("loss", dtype=object), combined,
                                     {**scaled(combined), "reduction": lambda: other,
                                      **mean_twice(combined, B, mean)})))
        return LossArrays(terms, sample_loss, batch_loss)

    def input_gradient(self, ctx: Context, out: np.ndarray) -> np.ndarray:
        """dE/dout of the output layer (the loss's own derivative, per output)."""
        t = ctx.scenario.targets[ctx.idx]
        dout = LOSSES[self.name].derivative(out, t, t.shape[1])
        return ctx.r(ctx.inj(lambda: ids("dout", self.outputs, ctx.sfx), dout,
                             {**scaled(dout), "neighbour_neuron": lambda: np.roll(dout, 1, axis=1)}))

    def steps(self, add: Add, ctx: Context, loss: LossArrays, out: np.ndarray, layer: int) -> None:
        """Each sample's loss terms and their sum, then the batch's."""
        sfx = ctx.sfx
        for b in range(len(sfx)):
            s, smp = sfx[b], ctx.samples[b]
            o, tt = out[b].tolist(), ctx.scenario.targets[ctx.idx[b]].tolist()
            term = loss.terms[b].tolist()
            for k, name in enumerate(self.outputs):
                add(Step(f"loss:{name}{s}", "loss", "loss", name, layer, smp, term[k],
                         ((Operand(f"target:{name}{s}", tt[k]),), (Operand(f"out:{name}{s}", o[k]),)),
                         fn=self.name, aux=self.k_aux))
            add(Step(f"loss{s}", "loss", "loss", "", None, smp, float(loss.per_sample[b]),
                     tuple((Operand(f"loss:{name}{s}", term[k]),) for k, name in enumerate(self.outputs)),
                     fn="sum"))
        if len(sfx) > 1:
            add(Step("loss", "loss", "loss", "", None, None, loss.batch,
                     tuple((Operand(f"loss{sfx[b]}", float(loss.per_sample[b])),)
                           for b in range(len(sfx))),
                     fn=ctx.scenario.reduction, batch=True))

    def dout_steps(self, ctx: Context, b: int, up: Any, up_arr: Any, arr: Any = None,
                   w: Any = None) -> list[Step]:
        """Sample b's dE/dout of each output: the loss's derivative at its out and target."""
        s, smp, li = ctx.sfx[b], ctx.samples[b], up.index
        tt = ctx.scenario.targets[ctx.idx[b]].tolist()
        out, dout = up_arr.out[b].tolist(), up_arr.dout[b].tolist()
        return [Step(f"dout:{name}{s}", "backward", "dout", name, li + 1, smp, dout[j],
                     ((Operand(f"target:{name}{s}", tt[j]),), (Operand(f"out:{name}{s}", out[j]),)),
                     fn=self.name, aux=self.k_aux, output=True)
                for j, name in enumerate(up.names)]

    @staticmethod
    def evaluate(step: Step, v: Value) -> float:
        if step.fn not in LOSSES:  # a sample's sum of terms, or the batch's mean or sum
            return sum_of_products(step, v)
        k = int(next(o.value for o in step.aux if o.ref == "K"))
        t, o = np.array([[v(step.terms[0][0])]]), np.array([[v(step.terms[1][0])]])
        f = LOSSES[step.fn].term if step.kind == "loss" else LOSSES[step.fn].derivative
        return float(f(o, t, k)[0, 0])


# ----------------------------------------------------------------------------- Conv


def _zero(terms: tuple) -> tuple:
    """A sum with no terms (a cell no window or kernel reaches) written as 0."""
    return terms or ((Operand("0", 0.0),),)


class Conv(Dense):
    """A convolution as torch's Conv2d computes it, a cross-correlation: each out cell's
    net is Σ K[o,i,ky,kx]·a[i, y·sh + ky − ph, x·sw + kx − pw] over its receptive field
    (padding adds zeros, which add nothing) plus the channel's bias; out = f(net).

    Backward: dout/dnet and delta as a dense layer's; dE/dK[o,i,ky,kx] = Σ over the out
    positions of delta·the input under that kernel entry; dE/db[o] = Σ of the channel's
    deltas; and dE/da of what feeds it = Σ delta·K over every out cell whose field holds
    it: the full correlation of the deltas with the flipped kernel.

    Computed as a dense layer whose weight matrix (out cells x in cells) holds each kernel
    entry wherever it applies: `taps` list, per out cell, the (kernel entry, in cell) pairs.
    """

    KINDS = ()  # net, out, dact, dnet, grad, dout: a dense layer's kinds and formulas

    __slots__ = ("by_param", "by_src", "channel", "taps", "tk", "tn", "ts", "unstrided")

    def __init__(self, index: int, lay: Any, inputs: tuple[str, ...]) -> None:
        super().__init__(index, lay, inputs)
        n_out, n_in, kh, kw = lay.weights.shape
        _, h, w = lay.in_shape
        _, oh, ow = lay.out_shape
        (sh, sw), (ph, pw) = lay.stride, lay.padding
        taps: list[list[tuple[int, int]]] = []
        for o, y, x in np.ndindex(n_out, oh, ow):
            cell = []
            for i, ky, kx in np.ndindex(n_in, kh, kw):
                r, c = y * sh + ky - ph, x * sw + kx - pw
                if 0 <= r < h and 0 <= c < w:
                    cell.append((((o * n_in + i) * kh + ky) * kw + kx, (i * h + r) * w + c))
            taps.append(cell)
        self.taps = taps
        flat = [(n, k, s) for n, cell in enumerate(taps) for k, s in cell]
        self.tn, self.tk, self.ts = (np.array(v, dtype=np.intp).reshape(-1)
                                     for v in zip(*flat)) if flat else (np.zeros(0, np.intp),) * 3
        self.channel = np.repeat(np.arange(n_out), oh * ow)  # each out cell's channel
        # the mistake "stride ignored in the kernel gradient": each out position's input
        # read as if the kernel had slid one cell at a time, (out cell, entry, in cell)
        wrong = [] if (sh, sw) == (1, 1) else [
            (n, ((o * n_in + i) * kh + ky) * kw + kx, (i * h + y + ky - ph) * w + x + kx - pw)
            for n, (o, y, x) in enumerate(np.ndindex(n_out, oh, ow))
            for i, ky, kx in np.ndindex(n_in, kh, kw)
            if 0 <= y + ky - ph < h and 0 <= x + kx - pw < w]
        self.unstrided = tuple(np.array(v, dtype=np.intp) for v in zip(*wrong)) if wrong \
            else None
        self.by_param: list[list[tuple[int, int]]] = [[] for _ in range(lay.weights.size)]
        self.by_src: list[list[tuple[int, int]]] = [[] for _ in range(len(inputs))]
        for n, k, s in flat:
            self.by_param[k].append((n, s))
            self.by_src[s].append((n, k))

    def matrix(self, w: np.ndarray) -> np.ndarray:
        """The kernels as a dense layer's weights: (out cells, in cells)."""
        m = np.zeros((len(self.lay.neurons), len(self.inputs)))
        m[self.tn, self.ts] = w.ravel()[self.tk]
        return m

    # ---- forward

    def forward(self, ctx: Context, w: np.ndarray, b: np.ndarray, a: np.ndarray) -> DenseArrays:
        r, inj, lay, sfx = ctx.r, ctx.inj, self.lay, ctx.sfx
        bias = b[self.channel] if b.size else 0.0
        net = a @ self.matrix(w).T + bias  # (samples, out cells)
        net = r(inj(lambda: ids("net", lay.neurons, sfx), net, {
            "sign": lambda: -net,
            # a true convolution: the kernel flipped (rows and columns) before it slides
            "kernel_flipped": lambda: a @ self.matrix(w[:, :, ::-1, ::-1]).T + bias}))
        out = ACTIVATIONS[lay.activation].value(net, lay.slope)
        out = r(inj(lambda: ids("out", lay.neurons, sfx), out, {
            "sign": lambda: -out, "activation_left_out": lambda: net}))
        return DenseArrays(a, net, out)

    # ---- backward

    def _gradients(self, ctx: Context, arr: DenseArrays, wrong: dict) -> None:
        r, inj, lay, gsfx, mean = ctx.r, ctx.inj, self.lay, ctx.gsfx, ctx.mean
        d, a = arr.dnet, arr.a
        shape = (len(d), *np.shape(lay.weight_names))  # (samples, out channels, entries)
        taps = d[:, self.tn] * a[:, self.ts]  # (samples, taps): each tap's product
        size = self.lay.weights.size  # summed into its kernel entry's gradient
        gw = np.stack([np.bincount(self.tk, row, size) for row in taps]).reshape(shape)
        wrong = {}
        if self.unstrided is not None:
            un, uk, us = self.unstrided

            def unstrided() -> np.ndarray:  # WRONG: the input under the entry at stride 1
                return np.stack([np.bincount(uk, row, size)
                                 for row in d[:, un] * a[:, us]]).reshape(shape)

            wrong["stride_ignored"] = unstrided
        gw_s = r(inj(lambda: param_ids("grad", lay.weight_names, gsfx), gw,
                     {**scaled(gw), **wrong}))
        arr.per_w = gw_s
        arr.grad_w = combine(gw_s, mean, r, inj, lambda: param_ids("grad", lay.weight_names))
        if lay.bias == "none" or not ctx.scenario.update_biases:
            arr.per_b, arr.grad_b = np.zeros((len(d), 0)), np.zeros(0)
            return
        gb = d.reshape(len(d), shape[1], -1).sum(axis=2)  # (samples, out channels)

        def bias_ids() -> np.ndarray:
            return param_ids("grad", [lay.bias_names], gsfx)[:, 0, :]

        arr.per_b = r(inj(bias_ids, gb, scaled(gb)))
        arr.grad_b = combine(arr.per_b, mean, r, inj,
                             lambda: param_ids("grad", [lay.bias_names])[0])

    def input_gradient(self, ctx: Context, arr: DenseArrays, w: np.ndarray, upstream,
                       up) -> np.ndarray:
        """dE/da of the cells feeding it: Σ delta·K over the out cells whose field holds
        each (the kernels from before the update)."""
        dout = arr.dnet @ self.matrix(w)
        names, kind = (ctx.scenario.inputs, "din") if upstream is None else \
            (upstream.names, "dout")
        return ctx.r(ctx.inj(lambda: ids(kind, names, ctx.sfx), dout, scaled(dout)))

    def input_gradient_steps(self, ctx: Context, din: np.ndarray, w: np.ndarray,
                             arr: DenseArrays) -> list[Step]:
        """dE/d(input) of each sample: the full correlation with the flipped kernel."""
        wl, dl, values = w.ravel().tolist(), arr.dnet.tolist(), din.tolist()
        wn = [n for row in self.lay.weight_names for n in row]
        cells = self.lay.neurons
        return [Step(f"din:{name}{s}", "backward", "din", name, 0, smp, values[b][i],
                     _zero(tuple((Operand(f"dnet:{cells[n]}{s}", dl[b][n]),
                                  Operand("param:" + wn[k], wl[k]))
                                 for n, k in self.by_src[i])),
                     fn="sum", note="the full correlation with the flipped kernel, from "
                                    "before the update")
                for b, (s, smp) in enumerate(zip(ctx.sfx, ctx.samples))
                for i, name in enumerate(ctx.scenario.inputs)]

    # ---- steps

    def forward_steps(self, add: Add, ctx: Context, arr: DenseArrays, w: np.ndarray,
                      bias: np.ndarray, b: int) -> None:
        """Sample b's net and out of each out cell: its receptive field's sum of products."""
        lay, li = self.lay, self.index
        s, smp = ctx.sfx[b], ctx.samples[b]
        wl, bl = w.ravel().tolist(), bias.tolist()
        wn = [n for row in lay.weight_names for n in row]
        refs = [f"{self.src}:{n}{s}" for n in self.inputs]
        a, net, out = arr.a[b].tolist(), arr.net[b].tolist(), arr.out[b].tolist()
        channel = self.channel.tolist()
        for n, name in enumerate(lay.neurons):
            ops = tuple((Operand("param:" + wn[k], wl[k]), Operand(refs[i], a[i]))
                        for k, i in self.taps[n])
            if lay.bias != "none":
                o = channel[n]
                ops += ((Operand("param:" + lay.bias_names[o], bl[o]), ONE),)
            add(Step(f"net:{name}{s}", "forward", "net", name, li + 1, smp, net[n], _zero(ops)))
            add(Step(f"out:{name}{s}", "forward", "out", name, li + 1, smp, out[n],
                     ((Operand(f"net:{name}{s}", net[n]),),), fn=lay.activation,
                     aux=self._slope()))

    def _grad_steps(self, add: Add, ctx: Context, arr: DenseArrays, b: int) -> None:
        """dE/dK of sample b: Σ over the out positions of delta·the input under the entry;
        dE/db: Σ of the channel's deltas."""
        lay, li = self.lay, self.index
        s, smp = ctx.sfx[b], ctx.samples[b]
        gsfx = "" if len(ctx.sfx) == 1 else s
        a, dnet = arr.a[b].tolist(), arr.dnet[b].tolist()
        gw = arr.per_w[b].ravel().tolist()
        wn = [n for row in lay.weight_names for n in row]
        dref = [f"dnet:{n}{s}" for n in lay.neurons]
        refs = [f"{self.src}:{n}{s}" for n in self.inputs]
        for k, name in enumerate(wn):
            ops = tuple((Operand(dref[n], dnet[n]), Operand(refs[i], a[i]))
                        for n, i in self.by_param[k])
            add(Step(f"grad:{name}{gsfx}", "backward", "grad", name, li + 1, smp, gw[k],
                     _zero(ops), fn="sum"))
        if not arr.per_b.size:
            return
        gb = arr.per_b[b].tolist()
        channel = self.channel.tolist()
        for o, name in enumerate(lay.bias_names):
            ops = tuple((Operand(dref[n], dnet[n]),) for n in range(len(dnet)) if channel[n] == o)
            add(Step(f"grad:{name}{gsfx}", "backward", "grad", name, li + 1, smp, gb[o], ops,
                     fn="sum", note="a convolution's bias: the sum of its channel's deltas"))

    def dout_steps(self, ctx: Context, b: int, up: Any, up_arr: Any, arr: DenseArrays,
                   w: np.ndarray) -> list[Step]:
        """Sample b's dE/dout of each cell feeding it: Σ delta·K over the out cells whose
        field holds it (the full correlation with the flipped kernel)."""
        s, smp, li = ctx.sfx[b], ctx.samples[b], up.index
        dn = arr.dnet[b].tolist()
        wl = w.ravel().tolist()
        wn = [n for row in self.lay.weight_names for n in row]
        cells = self.lay.neurons
        values = up_arr.dout[b].tolist()
        return [Step(f"dout:{name}{s}", "backward", "dout", name, li + 1, smp, values[j],
                     _zero(tuple((Operand(f"dnet:{cells[n]}{s}", dn[n]),
                                  Operand("param:" + wn[k], wl[k]))
                                 for n, k in self.by_src[j])),
                     fn="sum", note="the full correlation with the flipped kernel, from "
                                    "before the update")
                for j, name in enumerate(up.names)]


# ----------------------------------------------------------------------------- Pool


class PoolArrays:
    """A pooling layer's arrays in an explained update (rows are samples)."""

    __slots__ = ("a", "dout", "grad_b", "grad_w", "local", "out", "upd")

    def __init__(self, a: np.ndarray, out: np.ndarray, local: np.ndarray) -> None:
        self.a = a
        self.out = out
        self.local = local  # d out / d a of each window's cells: (samples, out cells, window)
        self.dout: np.ndarray | None = None
        self.upd = None
        self.grad_w = self.grad_b = np.zeros(0)  # nothing trained


class Pool:
    """Max or average pooling, per channel: out = the max (or the mean) of its window.

    Backward: d out / d a is 1 for the window's winner and 0 for the others (max), or
    1/size for each of its cells (average); dE/da = Σ over the windows holding a cell of
    dE/dout·d out/d a.
    """

    KINDS = ("pool",)  # the out of a pooling window (its id out:pool1[1,1,1])
    reshape = False

    __slots__ = ("by_src", "index", "inputs", "lay", "src", "windows")

    def __init__(self, index: int, lay: Any, inputs: tuple[str, ...]) -> None:
        self.index, self.lay, self.inputs = index, lay, inputs
        self.src = "in" if index == 0 else "out"
        _, h, w = lay.in_shape
        c, oh, ow = lay.out_shape
        (kh, kw), (sh, sw) = lay.size, lay.stride
        self.windows = np.array([[(ch * h + y * sh + dy) * w + x * sw + dx
                                  for dy, dx in np.ndindex(kh, kw)]
                                 for ch, y, x in np.ndindex(c, oh, ow)], dtype=np.intp)
        self.by_src: list[list[tuple[int, int]]] = [[] for _ in inputs]
        for n, row in enumerate(self.windows.tolist()):
            for slot, i in enumerate(row):
                self.by_src[i].append((n, slot))

    @property
    def names(self) -> tuple[str, ...]:
        return self.lay.neurons

    def forward(self, ctx: Context, w: np.ndarray, b: np.ndarray, a: np.ndarray) -> PoolArrays:
        window = a[:, self.windows]  # (samples, out cells, window)
        size = self.windows.shape[1]
        if self.lay.mode == "max":
            out = window.max(axis=2)
            # the first largest wins, as torch's max_pool2d picks it
            local = (np.arange(size) == window.argmax(axis=2)[:, :, None]).astype(float)
        else:
            out = window.sum(axis=2) / size
            local = np.full(window.shape, 1.0 / size)
        return PoolArrays(a, ctx.r(out), local)

    def backward(self, ctx: Context, arr: PoolArrays) -> None:
        """Nothing of its own to train."""

    def input_gradient(self, ctx: Context, arr: PoolArrays, w: np.ndarray, upstream,
                       up) -> np.ndarray:
        """dE/da: each window's dE/dout routed back through d out/d a."""
        dout, local = arr.dout, arr.local
        size = self.windows.shape[1]

        cells, n_in = self.windows.ravel(), len(self.inputs)

        def routed(share: np.ndarray) -> np.ndarray:  # each window cell's share into its cell
            parts = (dout[:, :, None] * share).reshape(len(dout), -1)
            return np.stack([np.bincount(cells, row, n_in) for row in parts])

        din = routed(local)
        wrong = ({"pool_spread": lambda: routed(np.ones_like(local)),
                  "pool_averaged": lambda: routed(np.full(local.shape, 1.0 / size))}
                 if self.lay.mode == "max" else
                 {"pool_not_divided": lambda: routed(np.ones_like(local))})
        return ctx.r(ctx.inj(lambda: ids("dout", upstream.names, ctx.sfx), din,
                             {**scaled(din), **wrong}))

    def forward_steps(self, add: Add, ctx: Context, arr: PoolArrays, w: np.ndarray,
                      bias: np.ndarray, b: int) -> None:
        """Sample b's out of each window: its max (which cell won) or its mean."""
        lay, li = self.lay, self.index
        s, smp = ctx.sfx[b], ctx.samples[b]
        a, out = arr.a[b].tolist(), arr.out[b].tolist()
        refs = [f"{self.src}:{n}{s}" for n in self.inputs]
        local = arr.local[b].tolist()
        fn = "max" if lay.mode == "max" else "mean"
        for n, name in enumerate(lay.neurons):
            row = self.windows[n].tolist()
            note = ""
            if fn == "max":
                note = f"{self.inputs[row[local[n].index(1.0)]]} is the largest: it won"
            add(Step(f"out:{name}{s}", "forward", "pool", name, li + 1, smp, out[n],
                     tuple((Operand(refs[i], a[i]),) for i in row), fn=fn, note=note))

    def backward_steps(self, add: Add, ctx: Context, arr: PoolArrays, b: int,
                       downstream: Any, down: Any, w_down: np.ndarray | None) -> None:
        """Sample b's dout of each window (written by the node it feeds)."""
        for step in downstream.dout_steps(ctx, b, self, arr, down, w_down):
            add(step)

    def dout_steps(self, ctx: Context, b: int, up: Any, up_arr: Any, arr: PoolArrays,
                   w: Any) -> list[Step]:
        """Sample b's dE/dout of each cell feeding it: Σ over the windows holding it of the
        window's dE/dout times d out/d a (1 for the winner, 0 else; or 1/size)."""
        s, smp, li = ctx.sfx[b], ctx.samples[b], up.index
        dout, local = arr.dout[b].tolist(), arr.local[b].tolist()
        cells = self.lay.neurons
        values = up_arr.dout[b].tolist()
        note = ("max-pooling: the gradient goes to the window's winner only"
                if self.lay.mode == "max" else
                "average pooling: each cell of the window gets 1/size of the gradient")
        return [Step(f"dout:{name}{s}", "backward", "dout", name, li + 1, smp, values[j],
                     _zero(tuple((Operand(f"dout:{cells[n]}{s}", dout[n]),
                                  Operand(f"dpool:{cells[n]}/{name}{s}", local[n][slot]))
                                 for n, slot in self.by_src[j])),
                     fn="sum", note=note)
                for j, name in enumerate(up.names)]

    def batch_steps(self, add: Add, ctx: Context, arr: PoolArrays) -> None:
        """Nothing trained: no batch gradients."""

    @staticmethod
    def evaluate(step: Step, v: Value) -> float:
        values = [v(t[0]) for t in step.terms]
        return max(values) if step.fn == "max" else math.fsum(values) / len(values)


# ----------------------------------------------------------------------------- Flatten


class FlatArrays:
    __slots__ = ("a", "dout", "grad_b", "grad_w", "out", "upd")

    def __init__(self, a: np.ndarray) -> None:
        self.a = self.out = a
        self.dout: np.ndarray | None = None
        self.upd = None
        self.grad_w = self.grad_b = np.zeros(0)


class Flatten:
    """A reshape (channel-major, as torch.flatten): its cells are those of what feeds it,
    under the same names, so it computes nothing and writes no Step; the driver passes
    the gradient of the node it feeds straight through (`reshape`)."""

    KINDS = ()
    reshape = True

    __slots__ = ("index", "inputs", "lay")

    def __init__(self, index: int, lay: Any, inputs: tuple[str, ...]) -> None:
        self.index, self.lay, self.inputs = index, lay, inputs

    @property
    def names(self) -> tuple[str, ...]:
        return self.lay.neurons

    def forward(self, ctx: Context, w: np.ndarray, b: np.ndarray, a: np.ndarray) -> FlatArrays:
        return FlatArrays(a)

    def backward(self, ctx: Context, arr: FlatArrays) -> None:
        pass

    def input_gradient(self, ctx: Context, arr: FlatArrays, w: np.ndarray, upstream,
                       up) -> np.ndarray:
        return arr.dout

    def forward_steps(self, add: Add, ctx: Context, arr: FlatArrays, w: np.ndarray,
                      bias: np.ndarray, b: int) -> None:
        pass

    def backward_steps(self, add: Add, ctx: Context, arr: FlatArrays, b: int,
                       downstream: Any, down: Any, w_down: np.ndarray | None) -> None:
        pass

    def batch_steps(self, add: Add, ctx: Context, arr: FlatArrays) -> None:
        pass


# ----------------------------------------------------------------------------- Dropout


class DropArrays:
    __slots__ = ("a", "dout", "grad_b", "grad_w", "mask", "out", "upd")

    def __init__(self, a: np.ndarray, out: np.ndarray, mask: np.ndarray) -> None:
        self.a, self.out, self.mask = a, out, mask  # mask: the batch's rows
        self.dout: np.ndarray | None = None
        self.upd = None
        self.grad_w = self.grad_b = np.zeros(0)  # nothing trained


class Dropout:
    """Inverted dropout, as torch's in training mode: out = a·m·1/(1 − p), the mask m given
    (one row per sample). Backward: d out/d a = m/(1 − p), so dE/da = dE/dout·m·1/(1 − p):
    a dropped value gets no gradient, a kept one the same scaling as forward."""

    KINDS = ("drop",)  # out:drop1[j] (fn drop); the dout of the cells feeding it (fn drop)
    reshape = False

    __slots__ = ("index", "inputs", "keep", "lay", "src")

    def __init__(self, index: int, lay: Any, inputs: tuple[str, ...]) -> None:
        self.index, self.lay, self.inputs = index, lay, inputs
        self.src = "in" if index == 0 else "out"
        self.keep = 1.0 / (1.0 - lay.p)  # the kept values' scale

    @property
    def names(self) -> tuple[str, ...]:
        return self.lay.neurons

    def forward(self, ctx: Context, w: np.ndarray, b: np.ndarray, a: np.ndarray) -> DropArrays:
        mask = self.lay.mask[ctx.idx]  # (samples, cells)
        out = a * mask * self.keep
        out = ctx.r(ctx.inj(lambda: ids("out", self.names, ctx.sfx), out, {
            "sign": lambda: -out,
            "dropout_not_scaled": lambda: a * mask}))  # WRONG: 1/(1 - p) forgotten
        return DropArrays(a, out, mask)

    def backward(self, ctx: Context, arr: DropArrays) -> None:
        """Nothing of its own to train."""

    def input_gradient(self, ctx: Context, arr: DropArrays, w: np.ndarray, upstream,
                       up) -> np.ndarray:
        """dE/da = dE/dout·m·1/(1 − p)."""
        dout, mask = arr.dout, arr.mask
        din = dout * mask * self.keep
        names = ctx.scenario.inputs if upstream is None else upstream.names
        return ctx.r(ctx.inj(lambda: ids("din" if upstream is None else "dout", names,
                                          ctx.sfx), din, {
            **scaled(din),
            "dropout_backward_not_scaled": lambda: dout * mask,  # WRONG: the mask only
            "dropout_mask_not_applied": lambda: dout * self.keep}))  # WRONG: no mask

    def _ops(self, ref: str, value: float, name: str, s: str, m: float) -> tuple:
        return ((Operand(ref, value), Operand(f"mask:{name}{s}", m), Operand("keep", self.keep)),)

    def forward_steps(self, add: Add, ctx: Context, arr: DropArrays, w: np.ndarray,
                      bias: np.ndarray, b: int) -> None:
        """Sample b's out of each cell: its input times its mask entry and 1/(1 − p)."""
        li, s, smp = self.index, ctx.sfx[b], ctx.samples[b]
        a, out, mask = arr.a[b].tolist(), arr.out[b].tolist(), arr.mask[b].tolist()
        for j, name in enumerate(self.names):
            add(Step(f"out:{name}{s}", "forward", "drop", name, li + 1, smp, out[j],
                     self._ops(f"{self.src}:{self.inputs[j]}{s}", a[j], name, s, mask[j]),
                     fn="drop", note="" if mask[j] else "dropped: its mask entry is 0"))

    def backward_steps(self, add: Add, ctx: Context, arr: DropArrays, b: int,
                       downstream: Any, down: Any, w_down: np.ndarray | None) -> None:
        for step in downstream.dout_steps(ctx, b, self, arr, down, w_down):
            add(step)

    def dout_steps(self, ctx: Context, b: int, up: Any, up_arr: Any, arr: DropArrays,
                   w: Any) -> list[Step]:
        """Sample b's dE/dout of each cell feeding it: the gradient through the same mask
        and scale as forward."""
        s, smp, li = ctx.sfx[b], ctx.samples[b], up.index
        dout, mask = arr.dout[b].tolist(), arr.mask[b].tolist()
        values = up_arr.dout[b].tolist()
        return [Step(f"dout:{name}{s}", "backward", "dout", name, li + 1, smp, values[j],
                     self._ops(f"dout:{self.names[j]}{s}", dout[j], self.names[j], s, mask[j]),
                     fn="drop", note="dropout: the same mask and 1/(1 - p) as forward")
                for j, name in enumerate(up.names)]

    def batch_steps(self, add: Add, ctx: Context, arr: DropArrays) -> None:
        """Nothing trained: no batch gradients."""

    def input_gradient_steps(self, ctx: Context, din: np.ndarray, w: np.ndarray,
                             arr: DropArrays) -> list[Step]:
        """dE/d(input) of each sample (a first dropout): through the mask and scale."""
        mask, dout, values = arr.mask.tolist(), arr.dout.tolist(), din.tolist()
        return [Step(f"din:{name}{s}", "backward", "din", name, 0, smp, values[b][j],
                     self._ops(f"dout:{self.names[j]}{s}", dout[b][j], self.names[j], s,
                               mask[b][j]),
                     fn="drop", note="dropout: the same mask and 1/(1 - p) as forward")
                for b, (s, smp) in enumerate(zip(ctx.sfx, ctx.samples))
                for j, name in enumerate(ctx.scenario.inputs)]

    @staticmethod
    def evaluate(step: Step, v: Value) -> float:
        return sum_of_products(step, v)


# ----------------------------------------------------------------------------- Norm


class NormArrays:
    """A normalisation's arrays (rows are samples; a group is what one μ and σ² are taken
    over: a feature or channel of the batch, or one sample)."""

    __slots__ = ("a", "dmu", "dout", "dvar", "dxhat", "gamma", "gid", "grad_b", "grad_w", "m",
                 "mu", "out", "per_b", "per_w", "sdx", "sdxx", "upd", "var", "xhat")

    def __init__(self, a: np.ndarray, mu: np.ndarray, var: np.ndarray, xhat: np.ndarray,
                 out: np.ndarray, gamma: np.ndarray, gid: np.ndarray, m: int) -> None:
        self.a, self.mu, self.var, self.xhat, self.out = a, mu, var, xhat, out  # mu: (groups,)
        self.gamma = gamma  # γ of this update (before it)
        self.gid, self.m = gid, m  # each value's group, (samples, cells); values per group
        self.dout: np.ndarray | None = None
        self.upd = None
        self.dxhat = self.sdx = self.sdxx = self.dvar = self.dmu = None
        self.per_w = self.per_b = self.grad_w = self.grad_b = None


class Norm:
    """Batch normalisation (training mode) or layer normalisation, on groups of m values:
    a feature (batchnorm after a dense layer or flatten: m = the batch's samples), a channel
    (batchnorm after a convolution: m = samples × height × width) or a sample (layernorm:
    m = its features).

        μ = Σx/m,  σ² = Σ(x − μ)²/m (biased, as torch in training mode),
        x̂ = (x − μ)/√(σ² + ε),  y = γ·x̂ + β.

    Backward, through all three paths by which x reaches E: ∂E/∂x̂ = ∂E/∂y·γ;
        ∂E/∂σ² = Σ ∂E/∂x̂·(x − μ)·(−½)(σ² + ε)^(−3/2)
        ∂E/∂μ  = Σ ∂E/∂x̂·(−1/√(σ² + ε))   (the σ² path's own term, ∂E/∂σ²·Σ−2(x − μ)/m,
                                             is zero: the deviations sum to zero)
        ∂E/∂x  = ∂E/∂x̂/√(σ² + ε) + ∂E/∂σ²·2(x − μ)/m + ∂E/∂μ/m   (x̂, σ², μ paths)
               = (m·∂E/∂x̂ − Σ∂E/∂x̂ − x̂·Σ(∂E/∂x̂·x̂)) / (m·√(σ² + ε))   (the compact form)
    ∂E/∂γ = Σ ∂E/∂y·x̂ and ∂E/∂β = Σ ∂E/∂y over the cells each scales (per sample, then
    over the batch as every parameter's). Batchnorm couples the batch's samples: the
    gradient reaching x of one sample holds every sample's loss (`couples`).
    """

    KINDS = ("mu", "var", "xhat", "norm", "dxhat", "sdx", "sdxx", "dvar", "dmu", "dxc")
    reshape = False

    __slots__ = ("couples", "index", "inputs", "lay", "pid", "src")

    def __init__(self, index: int, lay: Any, inputs: tuple[str, ...]) -> None:
        self.index, self.lay, self.inputs = index, lay, inputs
        self.src = "in" if index == 0 else "out"
        self.couples = lay.mode == "batch"
        n = len(lay.neurons)
        per = n // len(lay.bias_names)  # cells per parameter: a channel's, else 1
        self.pid = np.repeat(np.arange(len(lay.bias_names)), per)  # each cell's γ and β

    @property
    def names(self) -> tuple[str, ...]:
        return self.lay.neurons

    def _groups(self, samples: int) -> np.ndarray:
        """Each value's group, (samples, cells): its feature or channel (batchnorm) or its
        sample (layernorm)."""
        n = len(self.names)
        if self.couples:
            return np.broadcast_to(self.pid, (samples, n))
        return np.broadcast_to(np.arange(samples)[:, None], (samples, n))

    def group_names(self, ctx: Context) -> list[str]:
        """bn1[1] .. (a feature or channel), or ln1@2 (a sample's)."""
        name = self.lay.name
        if self.couples:
            return [f"{name}[{j + 1}]" for j in range(len(self.lay.bias_names))]
        return [f"{name}{s}" for s in ctx.sfx]

    # ---- forward

    def forward(self, ctx: Context, w: np.ndarray, b: np.ndarray, a: np.ndarray) -> NormArrays:
        r, inj, eps = ctx.r, ctx.inj, self.lay.eps
        gid = self._groups(len(a))
        groups = int(gid.max()) + 1
        m = a.size // groups

        def gids(kind: str):
            return lambda: np.array([f"{kind}:{g}" for g in self.group_names(ctx)], dtype=object)

        def per_group(values: np.ndarray) -> np.ndarray:  # (groups,): Σ over each group
            return np.bincount(gid.ravel(), values.ravel(), groups)

        mu = r(inj(gids("mu"), per_group(a) / m, {}))
        dev = a - mu[gid]  # x − μ, (samples, cells)
        var = per_group(dev * dev) / m
        wrong = {"variance_unbiased": lambda: per_group(dev * dev) / (m - 1)} if m > 1 else {}
        var = r(inj(gids("var"), var, {**scaled(var), **wrong}))  # WRONG: n − 1
        xhat = dev / np.sqrt(var[gid] + eps)
        xhat = r(inj(lambda: ids("xhat", self.names, ctx.sfx), xhat, scaled(xhat)))
        out = w[self.pid] * xhat + b[self.pid]
        out = r(inj(lambda: ids("out", self.names, ctx.sfx), out, scaled(out)))
        return NormArrays(a, mu, var, xhat, out, w, gid, m)

    # ---- backward

    def backward(self, ctx: Context, arr: NormArrays) -> None:
        """∂E/∂x̂, each group's sums, ∂E/∂σ² and ∂E/∂μ, ∂E/∂γ and ∂E/∂β of the layer,
        from its dout (fills them in)."""
        r, inj, gsfx, mean = ctx.r, ctx.inj, ctx.gsfx, ctx.mean
        dout, xhat, pid = arr.dout, arr.xhat, self.pid
        dxhat = dout * arr.gamma[pid]
        arr.dxhat = r(inj(lambda: ids("dxhat", self.names, ctx.sfx), dxhat, scaled(dxhat)))
        self._sums(ctx, arr)
        P = len(self.lay.bias_names)

        def per_param(values: np.ndarray) -> np.ndarray:  # (samples, params)
            return np.stack([np.bincount(pid, row, P) for row in values])

        gw = per_param(dout * xhat)
        gw_s = r(inj(lambda: param_ids("grad", self.lay.weight_names, gsfx)[:, 0, :], gw,
                     scaled(gw)))
        arr.per_w = gw_s
        arr.grad_w = combine(gw_s, mean, r, inj,
                             lambda: param_ids("grad", self.lay.weight_names)[0])
        if not ctx.scenario.update_biases:
            arr.per_b, arr.grad_b = np.zeros((len(dout), 0)), np.zeros(0)
            return
        gb = per_param(dout)

        def bias_ids() -> np.ndarray:
            return param_ids("grad", [self.lay.bias_names], gsfx)[:, 0, :]

        arr.per_b = r(inj(bias_ids, gb, scaled(gb)))
        arr.grad_b = combine(arr.per_b, mean, r, inj,
                             lambda: param_ids("grad", [self.lay.bias_names])[0])

    def _sums(self, ctx: Context, arr: NormArrays) -> None:
        """Σ∂E/∂x̂, Σ∂E/∂x̂·x̂, ∂E/∂σ² and ∂E/∂μ of each group (fills them in)."""
        r, inj, gid, eps = ctx.r, ctx.inj, arr.gid, self.lay.eps
        groups = len(arr.mu)

        def gids(kind: str):
            return lambda: np.array([f"{kind}:{g}" for g in self.group_names(ctx)], dtype=object)

        def per_group(values: np.ndarray) -> np.ndarray:
            return np.bincount(gid.ravel(), values.ravel(), groups)

        dxhat, var = arr.dxhat, arr.var
        arr.sdx = r(inj(gids("sdx"), per_group(dxhat), {}))
        arr.sdxx = r(inj(gids("sdxx"), per_group(dxhat * arr.xhat), {}))
        # Σ∂E/∂x̂·(x − μ)·(−½)(σ² + ε)^(−3/2), with x − μ = x̂·√(σ² + ε): the sum above
        dvar = -0.5 * arr.sdxx / (var + eps)
        arr.dvar = r(inj(gids("dvar"), dvar, scaled(dvar)))
        dmu = -arr.sdx / np.sqrt(var + eps)
        arr.dmu = r(inj(gids("dmu"), dmu, scaled(dmu)))

    def input_gradient(self, ctx: Context, arr: NormArrays, w: np.ndarray, upstream,
                       up) -> np.ndarray:
        """dE/dx by the three paths: x̂, σ² and μ."""
        gid, m, eps = arr.gid, arr.m, self.lay.eps
        std = np.sqrt(arr.var[gid] + eps)
        dev = arr.a - arr.mu[gid]
        xhat_path = arr.dxhat / std
        dx = xhat_path + arr.dvar[gid] * 2.0 * dev / m + arr.dmu[gid] / m
        names = ctx.scenario.inputs if upstream is None else upstream.names
        return ctx.r(ctx.inj(lambda: ids("din" if upstream is None else "dout", names,
                                         ctx.sfx), dx, {
            **scaled(dx),
            "norm_stats_constant": lambda: xhat_path}))  # WRONG: the x̂ path only

    # ---- steps

    def _group_ops(self, ctx: Context, arr: NormArrays, g: int, kind: str,
                   values: np.ndarray, also: np.ndarray | None = None) -> tuple:
        """One term per value of group g: (kind:cell@s) or (kind:cell@s, also's)."""
        terms = []
        rows, cols = np.nonzero(arr.gid == g)
        for b, j in zip(rows.tolist(), cols.tolist()):
            s = ctx.sfx[b]
            ref = (f"{self.src}:{self.inputs[j]}{s}" if kind == "in" else
                   f"{kind}:{self.names[j]}{s}")
            op = Operand(ref, float(values[b, j]))
            if also is None:
                terms.append((op,))
            else:
                terms.append((op, Operand(f"{self.src}:{self.inputs[j]}{s}", float(also[b, j]))))
        return tuple(terms)

    def _stat_refs(self, ctx: Context, arr: NormArrays, g: int) -> tuple[Operand, Operand]:
        gn = self.group_names(ctx)[g]
        return Operand(f"mu:{gn}", float(arr.mu[g])), Operand(f"var:{gn}", float(arr.var[g]))

    def _stats_steps(self, add: Add, ctx: Context, arr: NormArrays, groups) -> None:
        """μ and σ² of each group in `groups`."""
        li, eps = self.index, Operand("eps", self.lay.eps)
        names = self.group_names(ctx)
        for g in groups:
            smp = None if self.couples else ctx.samples[g]
            x = self._group_ops(ctx, arr, g, "in", arr.a)
            mu, var = self._stat_refs(ctx, arr, g)
            add(Step(mu.ref, "forward", "mu", names[g], li + 1, smp, mu.value, x, fn="mean"))
            add(Step(var.ref, "forward", "var", names[g], li + 1, smp, var.value, x, fn="var",
                     aux=(mu, eps), note="the biased variance (divided by m), as torch in "
                                         "training mode"))

    def batch_forward_steps(self, add: Add, ctx: Context, arr: NormArrays) -> None:
        """Batchnorm's μ and σ² of each feature or channel, over the whole batch."""
        if self.couples:
            self._stats_steps(add, ctx, arr, range(len(arr.mu)))

    def forward_steps(self, add: Add, ctx: Context, arr: NormArrays, w: np.ndarray,
                      bias: np.ndarray, b: int) -> None:
        """Sample b's x̂ and y of each cell (layernorm: its μ and σ² first)."""
        li, s, smp = self.index, ctx.sfx[b], ctx.samples[b]
        if not self.couples:
            self._stats_steps(add, ctx, arr, [b])
        a, xhat, out = arr.a[b].tolist(), arr.xhat[b].tolist(), arr.out[b].tolist()
        gid, pid = arr.gid[b].tolist(), self.pid.tolist()
        wl, bl = w.tolist(), bias.tolist()
        eps = Operand("eps", self.lay.eps)
        for j, name in enumerate(self.names):
            mu, var = self._stat_refs(ctx, arr, gid[j])
            add(Step(f"xhat:{name}{s}", "forward", "xhat", name, li + 1, smp, xhat[j],
                     ((Operand(f"{self.src}:{self.inputs[j]}{s}", a[j]),), (mu,), (var,),
                      (eps,)), fn="xhat"))
            k = pid[j]
            add(Step(f"out:{name}{s}", "forward", "norm", name, li + 1, smp, out[j],
                     ((Operand("param:" + self.lay.weight_names[0][k], wl[k]),
                       Operand(f"xhat:{name}{s}", xhat[j])),
                      (Operand("param:" + self.lay.bias_names[k], bl[k]), ONE)), fn="norm"))

    def backward_steps(self, add: Add, ctx: Context, arr: NormArrays, b: int,
                       downstream: Any, down: Any, w_down: np.ndarray | None) -> None:
        """Sample b's dout (written by the node it feeds), ∂E/∂x̂ and its γ and β gradients;
        layernorm: then its sample's sums, ∂E/∂σ² and ∂E/∂μ."""
        li, s, smp = self.index, ctx.sfx[b], ctx.samples[b]
        gsfx = "" if len(ctx.sfx) == 1 else s
        for step in downstream.dout_steps(ctx, b, self, arr, down, w_down):
            add(step)
        dout, dxhat, xhat = arr.dout[b].tolist(), arr.dxhat[b].tolist(), arr.xhat[b].tolist()
        gamma = arr.gamma.tolist()  # (γ from before the update)
        pid = self.pid.tolist()
        wn, bn = self.lay.weight_names[0], self.lay.bias_names
        for j, name in enumerate(self.names):
            add(Step(f"dxhat:{name}{s}", "backward", "dxhat", name, li + 1, smp, dxhat[j],
                     ((Operand(f"dout:{name}{s}", dout[j]),
                       Operand("param:" + wn[pid[j]], gamma[pid[j]])),)))
        for k in range(len(bn)):
            cells = [j for j in range(len(pid)) if pid[j] == k]
            add(Step(f"grad:{wn[k]}{gsfx}", "backward", "grad", wn[k], li + 1, smp,
                     float(arr.per_w[b, k]),
                     tuple((Operand(f"dout:{self.names[j]}{s}", dout[j]),
                            Operand(f"xhat:{self.names[j]}{s}", xhat[j])) for j in cells),
                     fn="sum"))
            if arr.per_b.size:
                add(Step(f"grad:{bn[k]}{gsfx}", "backward", "grad", bn[k], li + 1, smp,
                         float(arr.per_b[b, k]),
                         tuple((Operand(f"dout:{self.names[j]}{s}", dout[j]),) for j in cells),
                         fn="sum"))
        if not self.couples:
            self._sum_steps(add, ctx, arr, [b])

    def batch_backward_steps(self, add: Add, ctx: Context, arr: NormArrays) -> None:
        """Batchnorm's sums, ∂E/∂σ² and ∂E/∂μ of each feature or channel, over the batch
        (once every sample's ∂E/∂x̂ is known)."""
        if self.couples:
            self._sum_steps(add, ctx, arr, range(len(arr.mu)))

    def _sum_steps(self, add: Add, ctx: Context, arr: NormArrays, groups) -> None:
        li, eps = self.index, Operand("eps", self.lay.eps)
        names = self.group_names(ctx)
        for g in groups:
            smp = None if self.couples else ctx.samples[g]
            gn = names[g]
            dx = self._group_ops(ctx, arr, g, "dxhat", arr.dxhat)
            _, var = self._stat_refs(ctx, arr, g)
            add(Step(f"sdx:{gn}", "backward", "sdx", gn, li + 1, smp, float(arr.sdx[g]), dx,
                     fn="sum"))
            rows, cols = np.nonzero(arr.gid == g)
            add(Step(f"sdxx:{gn}", "backward", "sdxx", gn, li + 1, smp, float(arr.sdxx[g]),
                     tuple((t[0], Operand(f"xhat:{self.names[j]}{ctx.sfx[b]}",
                                          float(arr.xhat[b, j])))
                           for t, b, j in zip(dx, rows.tolist(), cols.tolist())), fn="sum"))
            sdxx = Operand(f"sdxx:{gn}", float(arr.sdxx[g]))
            sdx = Operand(f"sdx:{gn}", float(arr.sdx[g]))
            add(Step(f"dvar:{gn}", "backward", "dvar", gn, li + 1, smp, float(arr.dvar[g]),
                     ((sdxx,), (var,), (eps,)), fn="dvar",
                     note="the variance path: the sum of dE/dx-hat times (x - mean), times "
                          "-1/2 (var + eps)^(-3/2), is this (x - mean = x-hat sqrt(var + eps))"))
            add(Step(f"dmu:{gn}", "backward", "dmu", gn, li + 1, smp, float(arr.dmu[g]),
                     ((sdx,), (var,), (eps,)), fn="dmu",
                     note="the mean path (through the variance it also adds dE/dvar times "
                          "the sum of -2(x - mean)/m, which is 0: the deviations from the "
                          "mean sum to 0)"))

    def dout_steps(self, ctx: Context, b: int, up: Any, up_arr: Any, arr: NormArrays,
                   w: Any) -> list[Step]:
        """Sample b's dE/dx of each cell feeding it, by the three paths, and the compact
        form beside it (the same number)."""
        s, smp, li = ctx.sfx[b], ctx.samples[b], up.index
        eps, m = Operand("eps", self.lay.eps), Operand("m", float(arr.m))
        gn = self.group_names(ctx)
        values = up_arr.dout[b].tolist()
        a, dxhat, xhat = arr.a[b].tolist(), arr.dxhat[b].tolist(), arr.xhat[b].tolist()
        gid = arr.gid[b]
        std = np.sqrt(arr.var[gid] + self.lay.eps)
        compact = ((arr.m * arr.dxhat[b] - arr.sdx[gid] - arr.xhat[b] * arr.sdxx[gid])
                   / (arr.m * std)).tolist()
        steps = []
        for j, name in enumerate(up.names):
            g = int(gid[j])
            cell = self.names[j]
            mu, var = self._stat_refs(ctx, arr, g)
            dx = Operand(f"dxhat:{cell}{s}", dxhat[j])
            x = Operand(f"{self.src}:{self.inputs[j]}{s}", a[j])
            dvar = Operand(f"dvar:{gn[g]}", float(arr.dvar[g]))
            dmu = Operand(f"dmu:{gn[g]}", float(arr.dmu[g]))
            steps.append(Step(f"dout:{name}{s}", "backward", "dout", name, li + 1, smp,
                              values[j], ((dx, var, eps), (dvar, x, mu), (dmu,)), fn="norm",
                              aux=(m,), note="the x-hat path + the variance path + the mean path"))
            steps.append(Step(f"dxc:{name}{s}", "backward", "dxc", name, li + 1, smp,
                              compact[j], ((dx,), (Operand(f"sdx:{gn[g]}", float(arr.sdx[g])),),
                                           (Operand(f"xhat:{cell}{s}", xhat[j]),),
                                           (Operand(f"sdxx:{gn[g]}", float(arr.sdxx[g])),),
                                           (var,), (eps,)),
                              fn="compact", aux=(m,),
                              note="the compact form: the same number as the three paths"))
        return steps

    def batch_steps(self, add: Add, ctx: Context, arr: NormArrays) -> None:
        """The batch's gradient of γ and β: the mean or sum of the samples'."""
        li, sfx, reduction = self.index, ctx.sfx, ctx.scenario.reduction
        for names, per, total in ((self.lay.weight_names[0], arr.per_w, arr.grad_w),
                                  (self.lay.bias_names, arr.per_b, arr.grad_b)):
            if not per.size:
                continue
            for k, pn in enumerate(names):
                ops = tuple((Operand(f"grad:{pn}{sfx[b]}", float(per[b, k])),)
                            for b in range(len(sfx)))
                add(Step(f"grad:{pn}", "backward", "grad", pn, li + 1, None, float(total[k]),
                         ops, fn=reduction, batch=True))

    @staticmethod
    def evaluate(step: Step, v: Value) -> float:
        kind, t = step.kind, step.terms
        aux = {o.ref.partition(":")[0]: v(o) for o in step.aux}
        if kind == "var":
            x = [v(term[0]) for term in t]
            return math.fsum((xi - aux["mu"]) ** 2 for xi in x) / len(x)
        if kind == "xhat":
            x, mu, var, eps = (v(term[0]) for term in t)
            return (x - mu) / math.sqrt(var + eps)
        if kind == "dvar":
            sdxx, var, eps = (v(term[0]) for term in t)
            return -0.5 * sdxx / (var + eps)
        if kind == "dmu":
            sdx, var, eps = (v(term[0]) for term in t)
            return -sdx / math.sqrt(var + eps)
        if kind == "dout":  # the three paths
            (dx, var, eps), (dvar, x, mu), (dmu,) = t
            m = aux["m"]
            return (v(dx) / math.sqrt(v(var) + v(eps)) + v(dvar) * 2 * (v(x) - v(mu)) / m
                    + v(dmu) / m)
        if kind == "dxc":
            dx, sdx, xhat, sdxx, var, eps = (v(term[0]) for term in t)
            m = aux["m"]
            return (m * dx - sdx - xhat * sdxx) / (m * math.sqrt(var + eps))
        return sum_of_products(step, v)  # mu (mean), norm, dxhat, sdx, sdxx
