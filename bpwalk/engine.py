"""The engine: forward pass, loss, backward pass and update, in float64 NumPy.

The only module that does arithmetic. Two paths share the formulas of bpwalk.functions:

* ``_explain``: one update computed quantity by quantity (net, out, loss terms, dE/dout,
  dout/dnet, delta, gradients, new parameters), each optionally rounded to D decimals as a
  hand calculation would, then written out as Steps. Used for the iterations a user sees.
* ``_fast_update``: the same update as a tight vectorised loop that only records the loss,
  for the iterations nobody reads.

Conventions (the README repeats them): E is the loss of the batch (mean or sum of the
per-sample losses); delta = dE/dnet; the backward pass uses the weights from before the
update; new = old - learning_rate * dE/dparam.
"""

from __future__ import annotations

import gc
import math
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from bpwalk.functions import ACTIVATIONS, LOSSES
from bpwalk.scenario import Scenario
from bpwalk.trace import Iteration, Operand, Step, Trace

ONE = Operand("1", 1.0)


class EngineError(Exception):
    """A computation produced a non-finite value; the message names the first step."""


# ----------------------------------------------------------------------------- parameters


@dataclass
class Params:
    """Weights (neurons x inputs) and bias values (0, 1 shared, or one per neuron) per layer."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]

    @classmethod
    def of(cls, scenario: Scenario) -> Params:
        return cls([np.array(lay.weights) for lay in scenario.layers],
                   [np.array(lay.bias_values) for lay in scenario.layers])

    def named(self, scenario: Scenario) -> dict[str, float]:
        out: dict[str, float] = {}
        for lay, w, b in zip(scenario.layers, self.weights, self.biases):
            out.update(zip((n for row in lay.weight_names for n in row), w.ravel().tolist()))
            out.update(zip(lay.bias_names, b.tolist()))
        return out


def batches(scenario: Scenario, iterations: int) -> list[list[int]]:
    """0-based sample indices of each update: consecutive in file order, cycling per epoch."""
    n = len(scenario.x)
    if scenario.batch is None:
        return [list(range(n))] * iterations
    per_epoch = [list(range(i, min(i + scenario.batch, n))) for i in range(0, n, scenario.batch)]
    return [per_epoch[i % len(per_epoch)] for i in range(iterations)]


# ----------------------------------------------------------------------------- the run


def run(scenario: Scenario, iterations: int | None = None, show: set[int] | None = None,
        round_to: int | None = None) -> Trace:
    """Train for `iterations` updates; explain the updates numbered in `show` (1-based).

    With `round_to`, every explained step's value is rounded to that many decimals as soon
    as it is computed and the rounded value is used from then on (including the parameters
    carried into later updates); each step also keeps its full-precision value in `exact`.
    """
    n_iter = scenario.iterations if iterations is None else iterations
    show = {1} if show is None else {i for i in show if 1 <= i <= n_iter}
    plan = batches(scenario, n_iter)
    full_batch = scenario.batch is None
    params = Params.of(scenario)
    first = params.named(scenario)
    history: list[float] = []
    shown: list[Iteration] = []

    with np.errstate(all="ignore"):  # non-finite values are detected and reported, not warned
        for number, idx in enumerate(plan, start=1):
            if not full_batch:
                history.append(_dataset_loss(scenario, params))
            if number in show:
                with _collector_paused():
                    it, new_params, loss = _explained(scenario, params, number, idx, round_to)
                shown.append(it)
            else:
                new_params, loss = _fast_update(scenario, params, idx)
                if not math.isfinite(loss):
                    _locate_nonfinite(scenario, params, number, idx)
            if full_batch:
                history.append(loss)
            params = new_params
        history.append(_dataset_loss(scenario, params))
        if not math.isfinite(history[-1]):
            _locate_nonfinite(scenario, params, n_iter + 1, plan[0] if plan else [0])

    return Trace(scenario=scenario, iterations=shown, loss_history=history,
                 params_first=first, params_final=params.named(scenario),
                 total_iterations=n_iter, round_to=round_to)


@contextmanager
def _collector_paused():
    """Pause Python's cyclic garbage collector while Steps are built.

    A wide network's update makes hundreds of thousands of Steps and Operand tuples, none in
    a reference cycle; the collector would rescan them over and over as they pile up, which
    took 80% of the engine's time for 100,000 parameters and grew faster than linearly.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _explained(scenario: Scenario, params: Params, number: int, idx: list[int],
               round_to: int | None) -> tuple[Iteration, Params, float]:
    steps, new_params, loss = _explain(scenario, params, idx, round_to)
    if round_to is not None:
        exact_steps, _, loss = _explain(scenario, params, idx, None)
        for s, e in zip(steps, exact_steps):
            s.exact = e.value
            s.drift = s.value - e.value  # views show the drift; they never compute it
    _check_finite(steps, number)
    it = Iteration(number=number, samples=[i + 1 for i in idx], steps=steps,
                   params_before=params.named(scenario), params_after=new_params.named(scenario))
    return it, new_params, loss


def _check_finite(steps: list[Step], number: int) -> None:
    for s in steps:
        if not math.isfinite(s.value):
            if s.kind == "loss" and s.fn in ("cross_entropy", "binary_cross_entropy"):
                why = (f"ln(0): {s.terms[1][0].ref} is {s.terms[1][0].value:g} with target "
                       f"{s.terms[0][0].value:g}, so the loss is infinite")
                fix = "use targets that the outputs can reach, or smaller weights"
            else:
                why = f"the value is {s.value}"
                fix = ("the numbers grew too large: try a smaller learning_rate, smaller "
                       "weights, or fewer iterations")
            raise EngineError(f"update {number}, step {s.id}: {why}; {fix}")


def _locate_nonfinite(scenario: Scenario, params: Params, number: int, idx: list[int]) -> None:
    """Re-run one update explained, to name the first step that is not finite."""
    steps, _, _ = _explain(scenario, params, idx, None)
    _check_finite(steps, number)
    raise EngineError(f"update {number}: the loss is not finite; try a smaller learning_rate")


# ----------------------------------------------------------------------------- fast path


def _forward(scenario: Scenario, params: Params, x: np.ndarray) -> list[np.ndarray]:
    """Outputs of every layer, inputs first: [x, out_1, ..., out_L] (rows are samples)."""
    outs = [x]
    for lay, w, b in zip(scenario.layers, params.weights, params.biases):
        net = outs[-1] @ w.T
        if b.size:
            net += b
        outs.append(ACTIVATIONS[lay.activation].value(net, lay.slope))
    return outs


def _dataset_loss(scenario: Scenario, params: Params) -> float:
    out = _forward(scenario, params, scenario.x)[-1]
    per_sample = LOSSES[scenario.loss].term(out, scenario.targets, out.shape[1]).sum(axis=1)
    return float(per_sample.mean() if scenario.reduction == "mean" else per_sample.sum())


def _fast_update(scenario: Scenario, params: Params, idx: list[int]) -> tuple[Params, float]:
    """One update, vectorised over the batch; returns the new parameters and the batch loss."""
    x, t = scenario.x[idx], scenario.targets[idx]
    layers = scenario.layers
    loss = LOSSES[scenario.loss]
    nets, outs = [], [x]
    for lay, w, b in zip(layers, params.weights, params.biases):
        net = outs[-1] @ w.T
        if b.size:
            net += b
        nets.append(net)
        outs.append(ACTIVATIONS[lay.activation].value(net, lay.slope))
    k = t.shape[1]
    terms = loss.term(outs[-1], t, k)
    scale = 1.0 / len(idx) if scenario.reduction == "mean" else 1.0
    batch_loss = float(terms.sum()) * scale

    lr = scenario.learning_rate
    dout = loss.derivative(outs[-1], t, k)
    new_w, new_b = list(params.weights), list(params.biases)
    for li in range(len(layers) - 1, -1, -1):
        lay, w, b = layers[li], params.weights[li], params.biases[li]
        act = ACTIVATIONS[lay.activation]
        out = outs[li + 1]
        if lay.activation == "softmax":
            # sum_j dout_j * out_j (delta_jk - out_k) = out_k (dout_k - sum_j dout_j out_j)
            dnet = out * (dout - (dout * out).sum(axis=1, keepdims=True))
        else:
            dnet = dout * act.derivative(nets[li], out, lay.slope)
        if li:
            dout = dnet @ w  # with the weights from before the update
        new_w[li] = w - (lr * scale) * (dnet.T @ outs[li])
        if b.size and scenario.update_biases:
            g = dnet.sum(axis=0) if lay.bias == "per_neuron" else dnet.sum(keepdims=True)[0]
            new_b[li] = b - (lr * scale) * g
    return Params(new_w, new_b), batch_loss


# ----------------------------------------------------------------------------- explained path


def _rounder(round_to: int | None):
    if round_to is None:
        return lambda a: a
    quantum = Decimal(1).scaleb(-round_to)

    def one(v: float) -> float:
        # Half-up on the shortest decimal form, as a person rounds what they read
        # (numpy's round is half-even on the binary value: 0.125 -> 0.12).
        if not math.isfinite(v):
            return v
        return float(Decimal(repr(v)).quantize(quantum, rounding=ROUND_HALF_UP))

    def rnd(a: np.ndarray) -> np.ndarray:
        flat = [one(v) for v in np.asarray(a, dtype=np.float64).ravel().tolist()]
        return np.array(flat, dtype=np.float64).reshape(np.shape(a))

    return rnd


def _explain(scenario: Scenario, params: Params, idx: list[int],
             round_to: int | None) -> tuple[list[Step], Params, float]:
    """One update, quantity by quantity, written out as Steps in computation order."""
    r = _rounder(round_to)
    layers = scenario.layers
    n_layers = len(layers)
    loss_fn = LOSSES[scenario.loss]
    x, t = scenario.x[idx], scenario.targets[idx]
    B, K = len(idx), t.shape[1]
    mean = scenario.reduction == "mean"
    sfx = [f"@{i + 1}" if B > 1 else "" for i in idx]
    samples = [i + 1 if B > 1 else None for i in idx]
    lr = scenario.learning_rate

    # ---- forward: net = W·a + b, out = f(net), layer by layer (rows are samples)
    nets, outs = [], [x]
    for lay, w, b in zip(layers, params.weights, params.biases):
        net = outs[-1] @ w.T
        if b.size:
            net = net + b
        net = r(net)
        nets.append(net)
        outs.append(r(ACTIVATIONS[lay.activation].value(net, lay.slope)))
    out = outs[-1]

    # ---- loss: per-output terms, per-sample sums, the batch's mean or sum
    terms = r(loss_fn.term(out, t, K))
    sample_loss = r(terms.sum(axis=1))
    batch_loss = float(r(np.array(sample_loss.mean() if mean else sample_loss.sum())))
    if B == 1:
        batch_loss = float(sample_loss[0])

    # ---- backward, output layer first; dE/dout of a hidden layer uses the old weights
    douts: list = [None] * n_layers
    dacts: list = [None] * n_layers
    dnets: list = [None] * n_layers
    jacs: list = [None] * n_layers
    prods: list = [None] * n_layers  # dout * dact before rounding: the factor grads multiply
    dout = r(loss_fn.derivative(out, t, K))
    for li in range(n_layers - 1, -1, -1):
        lay = layers[li]
        douts[li] = dout
        if lay.activation == "softmax":
            o = outs[li + 1]
            # Jacobian d out_j / d net_k = out_j (delta_jk - out_k), per sample: (B, j, k)
            jac = o[:, :, None] * (np.eye(o.shape[1])[None] - o[:, None, :])
            jacs[li] = jac
            dnets[li] = r(np.einsum("bj,bjk->bk", dout, jac))
            prods[li] = dnets[li]  # gradients show delta itself as their first factor
        else:
            dacts[li] = r(ACTIVATIONS[lay.activation].derivative(nets[li], outs[li + 1], lay.slope))
            prods[li] = dout * dacts[li]
            dnets[li] = r(prods[li])
        if li:
            dout = r(dnets[li] @ params.weights[li])

    # ---- gradients: per sample, then combined over the batch
    grads_w, grads_b, per_w, per_b = [], [], [], []
    for li, lay in enumerate(layers):
        p, a = prods[li], outs[li]
        # dE/dw_ji = (dE/dout_j * dout_j/dnet_j) * a_i, multiplied in the order it is written
        gw_s = r(p[:, :, None] * a[:, None, :])
        per_w.append(gw_s)
        grads_w.append(_combine(gw_s, mean, r))
        if lay.bias == "none" or not scenario.update_biases:
            gb_s = np.zeros((B, 0))
        elif lay.bias == "per_neuron":
            gb_s = r(p * 1.0)
        else:  # one bias shared by every neuron of the layer: the sum of their deltas
            gb_s = r(dnets[li].sum(axis=1, keepdims=True))
        per_b.append(gb_s)
        grads_b.append(_combine(gb_s, mean, r) if gb_s.size else np.zeros(0))

    # ---- update: new = old - learning_rate * gradient
    new_w = [r(w - lr * g) for w, g in zip(params.weights, grads_w)]
    new_b = [r(b - lr * g) if g.size else b.copy() for b, g in zip(params.biases, grads_b)]

    steps = _write_steps(scenario, params, idx, sfx, samples, nets, outs, terms, sample_loss,
                         batch_loss, douts, dacts, dnets, jacs, per_w, per_b, grads_w, grads_b,
                         new_w, new_b)
    return steps, Params(new_w, new_b), batch_loss


def _combine(per_sample: np.ndarray, mean: bool, r) -> np.ndarray:
    if per_sample.shape[0] == 1:
        return per_sample[0]
    total = per_sample.sum(axis=0)
    return r(total / per_sample.shape[0] if mean else total)


# ----------------------------------------------------------------------------- steps


def _write_steps(scenario, params, idx, sfx, samples, nets, outs, terms, sample_loss,
                 batch_loss, douts, dacts, dnets, jacs, per_w, per_b, grads_w, grads_b,
                 new_w, new_b) -> list[Step]:
    """Turn the arrays of one update into Steps, in the order a tutorial writes them."""
    layers = scenario.layers
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
            a = outs[li][b].tolist()
            refs = in_refs(li, s)
            net = nets[li][b].tolist()
            out = outs[li + 1][b].tolist()
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
        o, tt, term = outs[-1][b].tolist(), scenario.targets[idx[b]].tolist(), terms[b].tolist()
        for k, name in enumerate(outputs):
            add(Step(f"loss:{name}{s}", "loss", "loss", name, last + 1, smp, term[k],
                     ((Operand(f"target:{name}{s}", tt[k]),), (Operand(f"out:{name}{s}", o[k]),)),
                     fn=loss_name, aux=k_aux))
        add(Step(f"loss{s}", "loss", "loss", "", None, smp, float(sample_loss[b]),
                 tuple((Operand(f"loss:{name}{s}", term[k]),) for k, name in enumerate(outputs)),
                 fn="sum"))
    if B > 1:
        add(Step("loss", "loss", "loss", "", None, None, batch_loss,
                 tuple((Operand(f"loss{sfx[b]}", float(sample_loss[b])),) for b in range(B)),
                 fn=reduction))

    # backward, sample by sample, output layer first
    for b in range(B):
        s, smp = sfx[b], samples[b]
        for li in range(last, -1, -1):
            lay = layers[li]
            dout, dnet = douts[li][b].tolist(), dnets[li][b].tolist()
            out, net = outs[li + 1][b].tolist(), nets[li][b].tolist()
            dact = dacts[li][b].tolist() if dacts[li] is not None else None
            for j, name in enumerate(lay.neurons):
                if li == last:
                    tt = scenario.targets[idx[b]].tolist()
                    ops = ((Operand(f"target:{name}{s}", tt[j]),), (Operand(f"out:{name}{s}", out[j]),))
                    add(Step(f"dout:{name}{s}", "backward", "dout", name, li + 1, smp, dout[j],
                             ops, fn=loss_name, aux=k_aux))
                else:
                    nxt = layers[li + 1]
                    w_next = params.weights[li + 1][:, j].tolist()
                    dn_next = dnets[li + 1][b].tolist()
                    ops = tuple((Operand(f"dnet:{n}{s}", dn_next[k]),
                                 Operand("param:" + nxt.weight_names[k][j], w_next[k]))
                                for k, n in enumerate(nxt.neurons))
                    add(Step(f"dout:{name}{s}", "backward", "dout", name, li + 1, smp, dout[j],
                             ops, fn="sum", note="weights from before the update"))
                if dact is not None:
                    add(Step(f"dact:{name}{s}", "backward", "dact", name, li + 1, smp, dact[j],
                             ((Operand(f"net:{name}{s}", net[j]),), (Operand(f"out:{name}{s}", out[j]),)),
                             fn=lay.activation, aux=_slope(lay)))
                    add(Step(f"dnet:{name}{s}", "backward", "dnet", name, li + 1, smp, dnet[j],
                             ((Operand(f"dout:{name}{s}", dout[j]), Operand(f"dact:{name}{s}", dact[j])),),
                             fn=lay.activation))
            if dact is None:  # softmax: each delta is a sum over the Jacobian's column
                jac = jacs[li][b].tolist()
                for k, name in enumerate(lay.neurons):
                    ops = tuple((Operand(f"dout:{n}{s}", dout[j]),
                                 Operand(f"jac:{n}/{name}{s}", jac[j][k]))
                                for j, n in enumerate(lay.neurons))
                    aux = ()
                    note = ""
                    if scenario.loss == "cross_entropy":
                        tt = scenario.targets[idx[b]].tolist()
                        aux = (Operand(f"out:{name}{s}", out[k]), Operand(f"target:{name}{s}", tt[k]))
                        note = "softmax with cross-entropy: dE/dnet = out - target"
                    add(Step(f"dnet:{name}{s}", "backward", "dnet", name, li + 1, smp, dnet[k],
                             ops, fn="softmax", note=note, aux=aux))
            _grad_steps(add, scenario, li, b, s, smp, outs, douts, dacts, dnets, per_w, per_b,
                        "" if B == 1 else s)

    # batch gradients
    if B > 1:
        for li in range(last, -1, -1):
            lay = layers[li]
            gw = grads_w[li].tolist()
            for j, row in enumerate(lay.weight_names):
                for i, wn in enumerate(row):
                    ops = tuple((Operand(f"grad:{wn}{sfx[b]}", float(per_w[li][b, j, i])),)
                                for b in range(B))
                    add(Step(f"grad:{wn}", "backward", "grad", wn, li + 1, None, gw[j][i], ops,
                             fn=reduction))
            gb = grads_b[li].tolist()
            for j, bn in enumerate(lay.bias_names if per_b[li].size else ()):
                ops = tuple((Operand(f"grad:{bn}{sfx[b]}", float(per_b[li][b, j])),) for b in range(B))
                add(Step(f"grad:{bn}", "backward", "grad", bn, li + 1, None, gb[j], ops, fn=reduction))

    # update, in the order the gradients were found (output layer first, like Mazur)
    lr = Operand("lr", scenario.learning_rate)
    for li in range(last, -1, -1):
        lay = layers[li]
        old_w, gw, nw = (params.weights[li].tolist(), grads_w[li].tolist(), new_w[li].tolist())
        for j, row in enumerate(lay.weight_names):
            for i, wn in enumerate(row):
                add(Step(f"new:{wn}", "update", "new", wn, li + 1, None, nw[j][i],
                         ((Operand("param:" + wn, old_w[j][i]),), (lr,),
                          (Operand(f"grad:{wn}", gw[j][i]),)), fn="update"))
        if per_b[li].size:
            old_b, gb, nb = params.biases[li].tolist(), grads_b[li].tolist(), new_b[li].tolist()
            for j, bn in enumerate(lay.bias_names):
                add(Step(f"new:{bn}", "update", "new", bn, li + 1, None, nb[j],
                         ((Operand("param:" + bn, old_b[j]),), (lr,),
                          (Operand(f"grad:{bn}", gb[j]),)), fn="update"))
    return steps


def _slope(layer) -> tuple[Operand, ...]:
    return (Operand("slope", layer.slope),) if layer.activation == "leaky_relu" else ()


def _grad_steps(add, scenario, li, b, s, smp, outs, douts, dacts, dnets, per_w, per_b, gsfx):
    """dE/dparam of one sample for layer li: delta times the input the parameter carries."""
    lay = scenario.layers[li]
    src = "in" if li == 0 else "out"
    inputs = scenario.layer_inputs(li)
    a = outs[li][b].tolist()
    dout, dnet = douts[li][b].tolist(), dnets[li][b].tolist()
    dact = dacts[li][b].tolist() if dacts[li] is not None else None
    gw = per_w[li][b].tolist()

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
                     (d + (Operand(f"wrt:{name}/{wn}{s}", a[i]),),), aux=(carried,)))
    if not per_b[li].size:
        return
    gb = per_b[li][b].tolist()
    if lay.bias == "per_neuron":
        for j, bn in enumerate(lay.bias_names):
            add(Step(f"grad:{bn}{gsfx}", "backward", "grad", bn, li + 1, smp, gb[j],
                     (delta(j) + (Operand(f"wrt:{lay.neurons[j]}/{bn}{s}", 1.0),),), aux=(ONE,)))
    else:
        bn = lay.bias_names[0]
        ops = tuple((Operand(f"dnet:{n}{s}", dnet[j]),) for j, n in enumerate(lay.neurons))
        add(Step(f"grad:{bn}{gsfx}", "backward", "grad", bn, li + 1, smp, gb[0], ops,
                 note="a shared bias: the sum of the deltas of the neurons it feeds"))
