"""The explained path: one update computed quantity by quantity (net, out, loss terms,
dE/dout, dout/dnet, delta, gradients, new parameters), each optionally rounded to D decimals
as a hand calculation would and optionally computed with a classic mistake injected, then
written out as Steps in the order a tutorial writes them.

Conventions (docs/conventions.md repeats them): E is the loss of the batch (mean or sum of the
per-sample losses); delta = dE/dnet; the backward pass uses the weights from before the
update; new = old - learning_rate * dE/dparam.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from bpwalk import optimizers
from bpwalk.engine.checks import EngineError, check_finite
from bpwalk.engine.params import Params, _flat, _layout, _Slot, _unflat
from bpwalk.functions import ACTIVATIONS, LOSSES
from bpwalk.mistakes import Mistake
from bpwalk.scenario import Scenario
from bpwalk.scenario.model import Layer
from bpwalk.trace import Iteration, Operand, Step

ONE = Operand("1", 1.0)


def _explained(scenario: Scenario, params: Params, state: dict[str, np.ndarray], number: int,
               idx: list[int], round_to: int | None, mistakes: tuple[Mistake, ...] = (),
               record: list | None = None
               ) -> tuple[Iteration, Params, dict[str, np.ndarray], float]:
    if record is not None:  # the judge's mistake runs: the quantities, no Steps (_Recorded)
        return _recorded(scenario, params, state, number, idx, round_to, mistakes, record)
    steps, new_params, new_state, loss = _explain(scenario, params, state, number, idx,
                                                  round_to, mistakes)
    if round_to is not None:
        exact_steps, _, _, loss = _explain(scenario, params, state, number, idx, None, mistakes)
        for s, e in zip(steps, exact_steps):
            s.exact = e.value
            s.drift = s.value - e.value  # views show the drift; they never compute it
    check_finite(steps, number)
    it = Iteration(number=number, samples=[i + 1 for i in idx], steps=steps,
                   params_before=params.named(scenario), params_after=new_params.named(scenario))
    return it, new_params, new_state, loss


def _locate_nonfinite(scenario: Scenario, params: Params, state: dict[str, np.ndarray],
                      number: int, idx: list[int]) -> None:
    """Re-run one update explained, to name the first step that is not finite."""
    steps, _, _, _ = _explain(scenario, params, state, number, idx, None)
    check_finite(steps, number)
    raise EngineError(f"update {number}: the loss is not finite; try a smaller learning_rate "
                      f"(now {scenario.learning_rate:g})")


# ----------------------------------------------------------------------------- mistakes


class _Inject:
    """Swaps the formula of the targeted steps; free when there are no mistakes.

    `ids` builds an array of step ids shaped like the quantity; `variants` maps a mistake
    kind to the wrong formula for the whole array. Only the targeted entries take it.
    """

    def __init__(self, mistakes: tuple[Mistake, ...]):
        self.mistakes = mistakes
        # kind -> its targets: the judge injects one kind at many independent steps at once
        # (sets, made once: the judge's runs have up to 50,000 targets, often of one kind)
        self.by_kind = {kind: {m.target for m in mistakes if m.kind == kind}
                        for kind in dict.fromkeys(m.kind for m in mistakes)}

    def __call__(self, ids, right: np.ndarray, variants: dict) -> np.ndarray:
        out = right
        if not self.mistakes:
            return out
        names = None
        for kind, targets in self.by_kind.items():
            if kind in variants:
                names = ids() if names is None else names
                # a set's lookup: np.isin on strings sorts them every call
                mask = np.fromiter(map(targets.__contains__, names.ravel()), dtype=bool,
                                   count=names.size).reshape(names.shape)
                if mask.any():
                    out = np.where(mask, variants[kind](), out)
        return out


class Record(list):
    """What `run(..., record=...)` fills (a plain list works too). `known` may hold, for
    each quantity of an earlier run of the same update, (its ids function's code, its ids,
    their set): a run then neither makes those ids again nor looks for targets in a
    quantity that holds none (the judge's runs of a wide network, thirty-odd of each)."""

    def __init__(self, known: list[tuple] | None = None):
        super().__init__()
        self.known = known or []


class _Recorded(_Inject):
    """_Inject that also appends every quantity it sees to `record`, as (its step ids, made
    when called; its values, rounded as its Steps are): the judge's mistake runs read a few
    of a wide network's numbers, where writing every Step took nearly all of a run's time.
    (Every quantity passes through the injector, and the caller rounds what it returns.)"""

    def __init__(self, mistakes: tuple[Mistake, ...], record: list, round_to: int | None):
        super().__init__(mistakes)
        self.record = record
        self.r = _rounder(round_to)
        self.rounded = round_to is not None
        self.pending: dict[int, list[int]] = {}  # id(values) -> entries the caller rounds
        self.start = len(record)

    def __call__(self, ids, right: np.ndarray, variants: dict) -> np.ndarray:
        n = len(self.record) - self.start
        known = getattr(self.record, "known", ())
        # the same quantity as the earlier run's (the same code makes its ids, in the same
        # place of the update's order): its ids are those
        if n < len(known) and known[n][0] is ids.__code__ and known[n][1].shape == np.shape(right):
            _, made, held = known[n]
            ids = lambda: made
            if all(targets.isdisjoint(held) for kind, targets in self.by_kind.items()
                   if kind in variants):
                variants = {}  # no target here
        out = super().__call__(ids, right, variants)
        if self.rounded:
            self.pending.setdefault(id(out), []).append(len(self.record))
        self.record.append((ids, out))
        return out

    def round(self, a: np.ndarray) -> np.ndarray:
        """_explain's rounding in a recorded run: a quantity the caller rounds is rounded
        once, for the caller and for its entry (decimal rounding is most of such a run)."""
        rounded = self.r(a)
        for n in self.pending.pop(id(a), []):
            self.record[n] = (self.record[n][0], rounded)
        return rounded

    def close(self) -> None:
        """Rounds the entries no caller rounded."""
        for n in (n for entries in self.pending.values() for n in entries):
            self.record[n] = (self.record[n][0], self.r(self.record[n][1]))
        self.pending.clear()


def _recorded(scenario: Scenario, params: Params, state: dict[str, np.ndarray], number: int,
              idx: list[int], round_to: int | None, mistakes: tuple[Mistake, ...], record: list
              ) -> tuple[Iteration, Params, dict[str, np.ndarray], float]:
    """_explained for `run(..., record=...)`: the update's quantities appended to `record`,
    an Iteration with no Steps; EngineError where a Step would not be finite."""
    start = len(record)
    recorded = _Recorded(mistakes, record, round_to)
    _, new_params, new_state, loss = _explain(scenario, params, state, number, idx, round_to,
                                              record=recorded)
    recorded.close()
    if not all(np.isfinite(q).all() for _, q in record[start:]):
        raise EngineError(f"update {number}: a value is not finite")
    return Iteration(number, [i + 1 for i in idx], [], {}, {}), new_params, new_state, loss


def _ids(kind: str, names, sfx: list[str]) -> np.ndarray:
    """Step ids of a per-sample quantity: rows are samples, columns are `names`."""
    return np.array([[f"{kind}:{n}{s}" for n in names] for s in sfx], dtype=object)


def _param_ids(kind: str, names, sfx: list[str] | None = None) -> np.ndarray:
    """Step ids of a parameter quantity (neurons x inputs), per sample when `sfx` is given."""
    grid = [[f"{kind}:{n}" for n in row] for row in names]
    if sfx is None:
        return np.array(grid, dtype=object)
    return np.array([[[g + s for g in row] for row in grid] for s in sfx], dtype=object)


# ----------------------------------------------------------------------------- explained path


def _rounder(round_to: int | None):
    if round_to is None:
        return lambda a: a
    from bpwalk.numbers import half_up  # decimal: only a --round run pays for it

    def one(v: float) -> float:
        return float(half_up(v, round_to)) if math.isfinite(v) else v

    def rnd(a: np.ndarray) -> np.ndarray:
        flat = [one(v) for v in np.asarray(a, dtype=np.float64).ravel().tolist()]
        return np.array(flat, dtype=np.float64).reshape(np.shape(a))

    return rnd


def _scaled(value: np.ndarray) -> dict:
    """The mistakes any quantity can suffer: its sign, or a stray factor of 2."""
    return {"sign": lambda: -value, "double": lambda: 2.0 * value, "half": lambda: 0.5 * value}


class _Batch(NamedTuple):
    """The samples of one explained update, and how their steps are named."""

    idx: list[int]  # 0-based sample indices
    sfx: list[str]  # each sample's id suffix: "@2", or "" when the batch has one sample
    gsfx: list[str]  # a per-sample gradient's suffix ([""] for one sample: it is the gradient)
    samples: list[int | None]  # each sample's 1-based number; None for one sample
    mean: bool  # the batch's loss and gradients are means (else sums)

    @classmethod
    def of(cls, scenario: Scenario, idx: list[int]) -> _Batch:
        many = len(idx) > 1
        sfx = [f"@{i + 1}" if many else "" for i in idx]
        return cls(idx, sfx, sfx if many else [""], [i + 1 if many else None for i in idx],
                   scenario.reduction == "mean")


class _Loss(NamedTuple):
    """The loss of one explained update."""

    terms: np.ndarray  # (samples, outputs): each output's term
    per_sample: np.ndarray  # (samples,): their sums
    batch: float  # the batch's mean or sum (a single sample's own loss)


class _Layer:
    """One layer's arrays in an explained update (rows are samples), filled in as the
    forward and backward passes reach it. (A plain class with slots: a slots dataclass
    costs every start about 0.4 ms to define, for nothing a dataclass adds here.)"""

    __slots__ = ("a", "dact", "dnet", "dout", "grad_b", "grad_w", "jac", "lay", "net", "out",
                 "per_b", "per_w", "prod", "upd")

    def __init__(self, lay: Layer, a: np.ndarray, net: np.ndarray, out: np.ndarray) -> None:
        self.lay = lay  # the scenario's layer
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


def _explain(scenario: Scenario, params: Params, state: dict[str, np.ndarray], number: int,
             idx: list[int], round_to: int | None, mistakes: tuple[Mistake, ...] = (),
             record: _Recorded | None = None
             ) -> tuple[list[Step], Params, dict[str, np.ndarray], float]:
    """Update `number`, quantity by quantity, written out as Steps in computation order
    (with `record`, its quantities recorded instead: see _Recorded)."""
    r = _rounder(round_to) if record is None or round_to is None else record.round
    inj = _Inject(mistakes) if record is None else record
    batch = _Batch.of(scenario, idx)
    lr = scenario.learning_rate

    # ---- forward: net = W·a + b, out = f(net), layer by layer (rows are samples)
    layers: list[_Layer] = []
    a = scenario.x[idx]
    for lay, w, b in zip(scenario.layers, params.weights, params.biases):
        layers.append(_forward_layer(r, inj, lay, w, b, a, batch.sfx))
        a = layers[-1].out

    loss = _loss(scenario, r, inj, batch, a)

    # ---- backward, output layer first; dE/dout of a hidden layer uses the old weights.
    # Each layer's gradients are found as soon as its deltas are, so that the mistake
    # "updated weights in the backward pass" has the updated weights to use.
    t, K = scenario.targets[idx], scenario.targets.shape[1]
    dout = LOSSES[scenario.loss].derivative(a, t, K)
    dout = r(inj(lambda: _ids("dout", scenario.outputs, batch.sfx), dout,
                 {**_scaled(dout), "neighbour_neuron": lambda: np.roll(dout, 1, axis=1)}))
    for li in range(len(layers) - 1, -1, -1):
        layer = layers[li]
        layer.dout = dout
        wrong = _deltas(r, inj, layer, batch.sfx)
        _gradients(scenario, layer, batch, r, inj, wrong)
        if li:
            dout = _hidden_dout(r, inj, layers[li - 1], batch.sfx, layer, params.weights[li], lr)

    # ---- update: the optimizer's rule (plain SGD: new = old - learning_rate * gradient)
    layout = _layout(scenario)
    names = np.array([n for s in layout for n in s.names], dtype=object)
    seen: list[tuple[str, np.ndarray, tuple, str]] = []

    def see(kind: str, value: np.ndarray, terms=(), fn: str = "", variants=None) -> np.ndarray:
        value = r(inj(lambda: np.array([f"{kind}:{n}" for n in names], dtype=object), value,
                      variants() if variants and inj.mistakes else {}))
        seen.append((kind, value, terms, fn))
        return value

    grads = Params([lay.grad_w for lay in layers], [lay.grad_b for lay in layers])
    new_flat, new_state = optimizers.update(
        scenario.optimizer, _flat(layout, params), _flat(layout, grads), state, number, lr, see)
    new = _unflat(layout, new_flat, params)

    if record is not None:
        if scenario.input_gradients:  # (its quantity is recorded; its Steps are not kept)
            _input_gradient_steps(scenario, params, batch, layers[0].dnet, r, inj)
        return [], new, new_state, loss.batch
    steps = _write_steps(scenario, params, batch, layers, loss)
    if scenario.input_gradients:  # each sample's right after its own backward pass
        for din in _input_gradient_steps(scenario, params, batch, layers[0].dnet, r, inj):
            at = max(k for k, s in enumerate(steps) if s.phase == "backward"
                     and (s.sample == din.sample or din.sample is None))
            steps.insert(at + 1, din)
    steps += _update_steps(scenario, layout, state, number, seen)
    return steps, new, new_state, loss.batch


def _loss(scenario: Scenario, r, inj: _Inject, batch: _Batch, out: np.ndarray) -> _Loss:
    """Per-output terms, per-sample sums, the batch's mean or sum."""
    t = scenario.targets[batch.idx]
    terms = LOSSES[scenario.loss].term(out, t, t.shape[1])
    terms = r(inj(lambda: _ids("loss", scenario.outputs, batch.sfx), terms, _scaled(terms)))
    sample_loss = terms.sum(axis=1)
    sample_loss = r(inj(lambda: np.array([f"loss{s}" for s in batch.sfx], dtype=object),
                        sample_loss, _scaled(sample_loss)))
    batch_loss = float(sample_loss[0])
    B, mean = len(batch.idx), batch.mean
    if B > 1:
        combined = np.array(sample_loss.mean() if mean else sample_loss.sum())
        other = np.array(sample_loss.sum() if mean else sample_loss.mean())
        batch_loss = float(r(inj(lambda: np.array("loss", dtype=object), combined,
                                 {**_scaled(combined), "reduction": lambda: other,
                                  **_mean_twice(combined, B, mean)})))
    return _Loss(terms, sample_loss, batch_loss)


def _forward_layer(r, inj: _Inject, lay: Layer, w: np.ndarray, b: np.ndarray, a: np.ndarray,
                   sfx: list[str]) -> _Layer:
    """net = W·a + b and out = f(net) of one layer, for every sample of the batch."""
    names = lay.neurons
    net = a @ w.T
    if b.size:
        net = net + b
    net = r(inj(lambda: _ids("net", names, sfx), net, {
        "sign": lambda: -net,
        "neighbour_neuron": lambda: np.roll(net, 1, axis=1),
        "neighbour_input": lambda: np.roll(a, 1, axis=1) @ w.T + (b if b.size else 0.0)}))
    out = ACTIVATIONS[lay.activation].value(net, lay.slope)
    out = r(inj(lambda: _ids("out", names, sfx), out, {
        "sign": lambda: -out, "neighbour_neuron": lambda: np.roll(out, 1, axis=1),
        "activation_left_out": lambda: net}))
    return _Layer(lay, a, net, out)


def _deltas(r, inj: _Inject, layer: _Layer, sfx: list[str]) -> dict:
    """dout/dnet and delta = dE/dnet of the layer (fills them in).

    Returns the mistaken delta formulas of this layer, which its gradient steps can suffer
    too (a student may leave dout/dnet out of dE/dw5 only).
    """
    lay, dout, o = layer.lay, layer.dout, layer.out
    names = lay.neurons
    act = ACTIVATIONS[lay.activation]
    if lay.activation == "softmax":
        # Jacobian d out_j / d net_k = out_j (delta_jk - out_k), per sample: (B, j, k)
        jac = o[:, :, None] * (np.eye(o.shape[1])[None] - o[:, None, :])
        layer.jac = jac
        dnet = np.einsum("bj,bjk->bk", dout, jac)
        wrong = {"jacobian_diagonal": lambda: dout * o * (1.0 - o),
                 "dact_again": lambda: dnet * o * (1.0 - o)}
        layer.dnet = r(inj(lambda: _ids("dnet", names, sfx), dnet, {
            **_scaled(dnet), "neighbour_neuron": lambda: np.roll(dnet, 1, axis=1), **wrong}))
        layer.prod = layer.dnet  # gradients show delta itself as their first factor
        return wrong
    net = layer.net
    dact = act.derivative(net, o, lay.slope)

    def at_out() -> np.ndarray:  # the derivative (a function of net) evaluated at out
        return act.derivative(o, act.value(o, lay.slope), lay.slope)

    def at_net() -> np.ndarray:  # the formula written in out (like out(1 - out)) fed net
        return act.derivative(net, net, lay.slope)

    layer.dact = r(inj(lambda: _ids("dact", names, sfx), dact, {
        "sign": lambda: -dact, "dact_at_out": at_out, "dact_at_net": at_net}))
    wrong = {"dact_at_out": lambda: dout * r(at_out()),
             "dact_at_net": lambda: dout * r(at_net()),
             "dact_left_out": lambda: dout,
             "dact_again": lambda: dout * layer.dact * layer.dact}
    if layer.upd is not None:
        wrong["updated_weights"] = lambda: layer.upd * layer.dact
    p = dout * layer.dact
    layer.prod = inj(lambda: _ids("dnet", names, sfx), p, {
        **_scaled(p), "neighbour_neuron": lambda: np.roll(p, 1, axis=1), **wrong})
    layer.dnet = r(layer.prod)
    return wrong


def _hidden_dout(r, inj: _Inject, layer: _Layer, sfx: list[str], nxt: _Layer,
                 w_next: np.ndarray, lr: float) -> np.ndarray:
    """dE/dout of a hidden layer: the next layer's deltas through its old weights."""
    if inj.mistakes:  # kept for the mistake "updated weights", whichever step it is made in
        layer.upd = r(nxt.dnet @ r(w_next - lr * nxt.grad_w))
    dout = nxt.dnet @ w_next
    return r(inj(lambda: _ids("dout", layer.lay.neurons, sfx), dout, {
        **_scaled(dout), "neighbour_neuron": lambda: np.roll(dout, 1, axis=1),
        "updated_weights": lambda: layer.upd}))


def _gradients(scenario: Scenario, layer: _Layer, batch: _Batch, r, inj: _Inject,
               wrong: dict) -> None:
    """dE/dparam of the layer, per sample and combined over the batch (fills them in)."""
    lay, p, a, gsfx, mean = layer.lay, layer.prod, layer.a, batch.gsfx, batch.mean

    def times_input(factor: np.ndarray) -> np.ndarray:
        return factor[:, :, None] * a[:, None, :]

    # dE/dw_ji = (dE/dout_j * dout_j/dnet_j) * a_i, multiplied in the order it is written
    gw = times_input(p)
    gw_s = r(inj(lambda: _param_ids("grad", lay.weight_names, gsfx), gw, {
        **_scaled(gw),
        "neighbour_neuron": lambda: times_input(np.roll(p, 1, axis=1)),
        "neighbour_input": lambda: p[:, :, None] * np.roll(a, 1, axis=1)[:, None, :],
        **{k: (lambda f=f: times_input(f())) for k, f in wrong.items()}}))
    layer.per_w = gw_s
    layer.grad_w = _combine(gw_s, mean, r, inj, lambda: _param_ids("grad", lay.weight_names))
    if lay.bias == "none" or not scenario.update_biases:
        gb = np.zeros((len(batch.sfx), 0))
    elif lay.bias == "per_neuron":
        gb = p * 1.0
    else:  # one bias shared by every neuron of the layer: the sum of their deltas
        gb = layer.dnet.sum(axis=1, keepdims=True)
    one_neuron = ({"bias_not_summed": lambda: layer.dnet[:, :1]} if lay.bias == "shared"
                  else {})

    def bias_ids() -> np.ndarray:
        return _param_ids("grad", [lay.bias_names], gsfx)[:, 0, :]

    gb_s = r(inj(bias_ids, gb, {**_scaled(gb), **one_neuron})) if gb.size else gb
    layer.per_b = gb_s
    layer.grad_b = (_combine(gb_s, mean, r, inj, lambda: _param_ids("grad", [lay.bias_names])[0])
                    if gb_s.size else np.zeros(0))


def _mean_twice(value: np.ndarray, m: int, mean: bool) -> dict:
    """The mistake "1/m applied twice", which only a mean over the batch can make."""
    return {"mean_twice": lambda: value / m} if mean else {}


def _combine(per_sample: np.ndarray, mean: bool, r, inj=None, ids=None) -> np.ndarray:
    if per_sample.shape[0] == 1:
        return per_sample[0]
    total = per_sample.sum(axis=0)
    right, other = (total / per_sample.shape[0], total) if mean else (total, total / per_sample.shape[0])
    if inj is not None:
        right = inj(ids, right, {**_scaled(right), "reduction": lambda: other,
                                 "one_sample": lambda: per_sample[0],
                                 **_mean_twice(right, per_sample.shape[0], mean)})
    return r(right)


# ----------------------------------------------------------------------------- steps


def _write_steps(scenario: Scenario, params: Params, batch: _Batch, arrays: list[_Layer],
                 loss: _Loss) -> list[Step]:
    """Turn the arrays of one update into Steps, in the order a tutorial writes them."""
    layers = scenario.layers
    idx, sfx, samples = batch.idx, batch.sfx, batch.samples
    B = len(idx)
    steps: list[Step] = []
    add = steps.append
    loss_name, reduction = scenario.loss, scenario.reduction
    outputs = scenario.outputs
    last = len(layers) - 1
    k_aux = (Operand("K", float(len(outputs))),)  # the loss formulas that average over outputs

    def in_refs(li: int, s: str) -> list[str]:
        src = "in" if li == 0 else "out"
        return [f"{src}:{n}{s}" for n in scenario.layer_inputs(li)]

    # forward, sample by sample
    for b in range(B):
        s, smp = sfx[b], samples[b]
        for li, lay in enumerate(layers):
            w = params.weights[li].tolist()
            bias = params.biases[li].tolist()
            a = arrays[li].a[b].tolist()
            refs = in_refs(li, s)
            net = arrays[li].net[b].tolist()
            out = arrays[li].out[b].tolist()
            softmax = lay.activation == "softmax"
            for j, name in enumerate(lay.neurons):
                ops = tuple((Operand("param:" + wn, w[j][i]), Operand(refs[i], a[i]))
                            for i, wn in enumerate(lay.weight_names[j]))
                if lay.bias != "none":
                    bj = 0 if lay.bias == "shared" else j
                    ops += ((Operand("param:" + lay.bias_names[bj], bias[bj]), ONE),)
                add(Step(f"net:{name}{s}", "forward", "net", name, li + 1, smp, net[j], ops))
                if not softmax:
                    add(Step(f"out:{name}{s}", "forward", "out", name, li + 1, smp, out[j],
                             ((Operand(f"net:{name}{s}", net[j]),),), fn=lay.activation,
                             aux=_slope(lay)))
            if softmax:
                all_nets = tuple((Operand(f"net:{n}{s}", net[k]),) for k, n in enumerate(lay.neurons))
                for j, name in enumerate(lay.neurons):
                    add(Step(f"out:{name}{s}", "forward", "out", name, li + 1, smp, out[j],
                             all_nets, fn="softmax"))

    # loss, sample by sample, then the batch
    for b in range(B):
        s, smp = sfx[b], samples[b]
        o, tt = arrays[-1].out[b].tolist(), scenario.targets[idx[b]].tolist()
        term = loss.terms[b].tolist()
        for k, name in enumerate(outputs):
            add(Step(f"loss:{name}{s}", "loss", "loss", name, last + 1, smp, term[k],
                     ((Operand(f"target:{name}{s}", tt[k]),), (Operand(f"out:{name}{s}", o[k]),)),
                     fn=loss_name, aux=k_aux))
        add(Step(f"loss{s}", "loss", "loss", "", None, smp, float(loss.per_sample[b]),
                 tuple((Operand(f"loss:{name}{s}", term[k]),) for k, name in enumerate(outputs)),
                 fn="sum"))
    if B > 1:
        add(Step("loss", "loss", "loss", "", None, None, loss.batch,
                 tuple((Operand(f"loss{sfx[b]}", float(loss.per_sample[b])),)
                       for b in range(B)),
                 fn=reduction, batch=True))

    # backward, sample by sample, output layer first
    for b in range(B):
        s, smp = sfx[b], samples[b]
        for li in range(last, -1, -1):
            lay, arr = layers[li], arrays[li]
            dout, dnet = arr.dout[b].tolist(), arr.dnet[b].tolist()
            out, net = arr.out[b].tolist(), arr.net[b].tolist()
            dact = arr.dact[b].tolist() if arr.dact is not None else None
            for j, name in enumerate(lay.neurons):
                if li == last:
                    tt = scenario.targets[idx[b]].tolist()
                    ops = ((Operand(f"target:{name}{s}", tt[j]),), (Operand(f"out:{name}{s}", out[j]),))
                    add(Step(f"dout:{name}{s}", "backward", "dout", name, li + 1, smp, dout[j],
                             ops, fn=loss_name, aux=k_aux, output=li == last))
                else:
                    nxt = layers[li + 1]
                    w_next = params.weights[li + 1][:, j].tolist()
                    dn_next = arrays[li + 1].dnet[b].tolist()
                    ops = tuple((Operand(f"dnet:{n}{s}", dn_next[k]),
                                 Operand("param:" + nxt.weight_names[k][j], w_next[k]))
                                for k, n in enumerate(nxt.neurons))
                    add(Step(f"dout:{name}{s}", "backward", "dout", name, li + 1, smp, dout[j],
                             ops, fn="sum", note="weights from before the update"))
                if dact is not None:
                    add(Step(f"dact:{name}{s}", "backward", "dact", name, li + 1, smp, dact[j],
                             ((Operand(f"net:{name}{s}", net[j]),), (Operand(f"out:{name}{s}", out[j]),)),
                             fn=lay.activation, aux=_slope(lay), output=li == last))
                    add(Step(f"dnet:{name}{s}", "backward", "dnet", name, li + 1, smp, dnet[j],
                             ((Operand(f"dout:{name}{s}", dout[j]), Operand(f"dact:{name}{s}", dact[j])),),
                             fn=lay.activation, output=li == last))
            if dact is None:  # softmax: each delta is a sum over the Jacobian's column
                jac = arr.jac[b].tolist()
                for k, name in enumerate(lay.neurons):
                    ops = tuple((Operand(f"dout:{n}{s}", dout[j]),
                                 Operand(f"jac:{n}/{name}{s}", jac[j][k]))
                                for j, n in enumerate(lay.neurons))
                    aux = ()
                    note = ""
                    if scenario.loss == "cross_entropy":
                        tt = scenario.targets[idx[b]].tolist()
                        aux = (Operand(f"out:{name}{s}", out[k]), Operand(f"target:{name}{s}", tt[k]))
                        note = "softmax with cross-entropy: this sum equals out minus target"
                    add(Step(f"dnet:{name}{s}", "backward", "dnet", name, li + 1, smp, dnet[k],
                             ops, fn="softmax", note=note, aux=aux, output=li == last))
            _grad_steps(add, scenario, li, arr, b, s, smp, "" if B == 1 else s)

    # batch gradients
    if B > 1:
        for li in range(last, -1, -1):
            lay, arr = layers[li], arrays[li]
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
                add(Step(f"grad:{bn}", "backward", "grad", bn, li + 1, None, gb[j], ops, fn=reduction,
                             batch=True))

    return steps


def _input_gradient_steps(scenario: Scenario, params: Params, batch: _Batch,
                          dnet: np.ndarray, r, inj: _Inject) -> list[Step]:
    """dE/d(input): the first layer's deltas through its weights, like a hidden neuron's dout.

    Nothing depends on these (inputs are not trained); CS231n's exercises ask for them.
    """
    w, sfx = params.weights[0], batch.sfx
    din = dnet @ w
    din = r(inj(lambda: _ids("din", scenario.inputs, sfx), din, {
        **_scaled(din), "neighbour_neuron": lambda: np.roll(din, 1, axis=1)}))
    lay = scenario.layers[0]
    wl, dl, values = w.tolist(), dnet.tolist(), din.tolist()
    steps = []
    for b, (s, smp) in enumerate(zip(sfx, batch.samples)):
        for i, name in enumerate(scenario.inputs):
            ops = tuple((Operand(f"dnet:{n}{s}", dl[b][j]),
                         Operand("param:" + lay.weight_names[j][i], wl[j][i]))
                        for j, n in enumerate(lay.neurons))
            steps.append(Step(f"din:{name}{s}", "backward", "din", name, 0, smp, values[b][i],
                              ops, fn="sum", note="weights from before the update"))
    return steps


def _update_steps(scenario: Scenario, layout: list[_Slot], state: dict[str, np.ndarray],
                  number: int, seen: list) -> list[Step]:
    """The update's Steps, in the order the gradients were found (output layer first, like
    Mazur): per layer, the optimizer state carried into this update (``prev_m:w5``), then
    each parameter's chain of quantities as its rule computed them (m, v, mhat, vhat, new).
    """
    # each quantity's operands as Python lists once: ("m", [..]) per parameter, ("beta1", x)
    def listed(op):
        kind, value = op
        return (kind, value.tolist()) if isinstance(value, np.ndarray) else (kind, float(value))

    quantities = [(kind, value.tolist(), [[listed(op) for op in t] for t in terms], fn)
                  for kind, value, terms, fn in seen]
    carried = [(k, state[k].tolist()) for k in scenario.optimizer.state_kinds]
    note = "zero before the first update" if number == 1 else f"from update {number - 1}"
    steps: list[Step] = []
    add = steps.append
    for li in range(len(scenario.layers) - 1, -1, -1):
        slots = [s for s in layout if s.layer == li]
        for kind, values in carried:
            for s in slots:
                for i, name in enumerate(s.names, s.span.start):
                    add(Step(f"prev_{kind}:{name}", "update", "prev_" + kind, name, li + 1, None,
                             values[i], (), note=note))
        for s in slots:
            for i, name in enumerate(s.names, s.span.start):
                for kind, values, terms, fn in quantities:
                    ops = tuple(tuple(Operand(f"{k}:{name}", v[i]) if isinstance(v, list)
                                      else Operand(k, v) for k, v in t) for t in terms)
                    add(Step(f"{kind}:{name}", "update", kind, name, li + 1, None, values[i],
                             ops, fn=fn))
    return steps


def _slope(layer) -> tuple[Operand, ...]:
    return (Operand("slope", layer.slope),) if ACTIVATIONS[layer.activation].parameter else ()


def _grad_steps(add: Callable[[Step], None], scenario: Scenario, li: int, arr: _Layer, b: int,
                s: str, smp: int | None, gsfx: str) -> None:
    """dE/dparam of sample b for layer li: delta times the input the parameter carries."""
    lay = arr.lay
    src = "in" if li == 0 else "out"
    inputs = scenario.layer_inputs(li)
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
            carried = Operand(f"{src}:{inputs[i]}{s}", a[i])
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


