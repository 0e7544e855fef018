"""The vectorised loop: the updates nobody reads, each a few NumPy calls per layer over the
batch, every intermediate array written into a buffer made once per run."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bpwalk import optimizers
from bpwalk.engine.checks import check_bound
from bpwalk.engine.explain import _locate_nonfinite
from bpwalk.engine.params import Params, Plan, _flat, _layout, _unflat
from bpwalk.engine.tiny import Tiny
from bpwalk.functions import ACTIVATIONS, LOSSES
from bpwalk.scenario import Scenario


@dataclass(frozen=True)
class _FastLayer:
    """What the fast loop needs of one layer, looked up once per run rather than per update."""

    value: Callable[[np.ndarray, float], np.ndarray]
    derivative: Callable[[np.ndarray, np.ndarray, float], np.ndarray]
    slope: float
    softmax: bool
    has_bias: bool
    bias_grad: str  # "per_neuron" or "shared" when the bias updates, else ""
    # the activation's forms that write into a buffer, or None (see Activation.value_into)
    value_into: Callable[[np.ndarray, float, np.ndarray], np.ndarray] | None = None
    derivative_into: Callable[[np.ndarray, np.ndarray, float, np.ndarray], np.ndarray] | None = None


class _Buffers:
    """The arrays one batch size needs in an update, made once and written over by every
    update (out= and in-place operations give the numbers of the expressions they replace)."""

    def __init__(self, widths: list[int], samples: int, backward: bool = True):
        self.nets = [np.empty((samples, n)) for n in widths]
        self.outs = [np.empty((samples, n)) for n in widths]  # the layers', after the inputs
        # a forward pass only (the data set's loss, when it is not a batch): none of these
        self.dnets = [np.empty((samples, n)) for n in widths] if backward else []
        self.douts = [np.empty((samples, n)) for n in widths] if backward else []  # dE/dout


class _FastPath:
    """Per-run constants of the fast loop: layer functions, loss, and each batch's arrays.

    A long run repeats the same few batches (one per position in an epoch), so their inputs,
    targets and 1/size are sliced once here instead of at every update. A batch is known by
    its first sample: batches are consecutive runs of samples.
    """

    def __init__(self, scenario: Scenario, plan: Plan):
        update_biases = scenario.update_biases
        acts = [ACTIVATIONS[lay.activation] for lay in scenario.layers]
        self.layers = [
            _FastLayer(a.value, a.derivative, lay.slope, lay.activation == "softmax",
                       lay.bias != "none",
                       lay.bias if update_biases and lay.bias != "none" else "",
                       a.value_into, a.derivative_into)
            for a, lay in zip(acts, scenario.layers)]
        loss = LOSSES[scenario.loss]
        self.term, self.derivative = loss.term, loss.derivative
        self.k = scenario.targets.shape[1]
        self.lr = scenario.learning_rate
        self.optimizer = scenario.optimizer
        self.layout = _layout(scenario)
        self.size = self.layout[-1].span.stop
        # the gradients of an update, written straight into one flat vector through views
        self.grad = np.empty(self.size)
        self.grad_views = {(s.layer, s.bias): self.grad[s.span].reshape(s.shape)
                           for s in self.layout}
        mean = scenario.reduction == "mean"
        self.batches: dict[int, tuple[np.ndarray, np.ndarray, float]] = {}
        for idx in plan.epoch:
            if idx[0] not in self.batches:
                self.batches[idx[0]] = (scenario.x[idx], scenario.targets[idx],
                                        1.0 / len(idx) if mean else 1.0)
        # one set of buffers per batch size (a last, shorter batch has its own), and the
        # data set's for its loss
        widths = [len(lay.neurons) for lay in scenario.layers]
        trained = {len(x) for x, _, _ in self.batches.values()}
        self.buffers = {n: _Buffers(widths, n, n in trained) for n in trained | {len(scenario.x)}}
        self.tiny = Tiny.of(scenario, self.layout, max(len(x) for x, _, _ in self.batches.values()))

    def dataset_loss(self, scenario: Scenario, params: Params) -> float:
        return _dataset_loss(self, scenario, params)

    def updates(self, scenario: Scenario, params: Params, state: dict[str, np.ndarray],
                plan: Plan, start: int, stop: int, history: list[float], every: int = 1
                ) -> tuple[Params, dict[str, np.ndarray]]:
        return _fast_updates(self, scenario, params, state, plan, start, stop, history, every)


def _forward(layers: list[_FastLayer], weights: list[np.ndarray], biases: list[np.ndarray],
             x: np.ndarray, into: _Buffers) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """net of every layer, and out of every layer with the inputs first (rows are samples),
    written into the buffers `into` where the activation has the form for it."""
    outs, a = [x], x
    for lay, w, b, net, out in zip(layers, weights, biases, into.nets, into.outs):
        a.dot(w.T, net)  # same numbers as a @ w.T, with less overhead on small arrays
        if lay.has_bias:
            net += b
        a = lay.value_into(net, lay.slope, out) if lay.value_into else lay.value(net, lay.slope)
        outs.append(a)
    return into.nets, outs


def _dataset_loss(fast: _FastPath, scenario: Scenario, params: Params) -> float:
    """The loss over the whole data set, per `reduction` (loss_history's entries)."""
    out = _forward(fast.layers, params.weights, params.biases, scenario.x,
                   fast.buffers[len(scenario.x)])[1][-1]
    per_sample = fast.term(out, scenario.targets, fast.k).sum(axis=1)
    return float(per_sample.mean() if scenario.reduction == "mean" else per_sample.sum())


def _fast_updates(fast: _FastPath, scenario: Scenario, params: Params,
                  state: dict[str, np.ndarray], plan: Plan, start: int, stop: int,
                  history: list[float], every: int = 1) -> tuple[Params, dict[str, np.ndarray]]:
    """Updates number start..stop-1, vectorised over each batch; appends their losses to history
    (those of every `every`-th update: see MAX_HISTORY).

    The arithmetic is the explained path's, operation for operation, so both give the same
    float64 numbers (up to the order of a batch's sums). This loop runs every update nobody
    reads (thousands, for a loss curve), so it keeps Python's and NumPy's work per update
    small: the layer functions looked up once, every intermediate array written into a
    buffer made once (_Buffers), the gradients into one flat vector that the optimizer's
    rule updates in one call, and the parameters as views of one flat vector updated in
    place, so that they never need to be rebuilt.
    """
    if start >= stop:
        return params, state
    layers = fast.layers
    flat = _flat(fast.layout, params)
    params = _unflat(fast.layout, flat, params)
    weights, biases = params.weights, params.biases
    backward = [(li, layers[li], weights[li], fast.grad_views[li, False],
                 fast.grad_views.get((li, True))) for li in range(len(layers) - 1, -1, -1)]
    term, derivative, k, lr, per_batch = fast.term, fast.derivative, fast.k, fast.lr, fast.batches
    opt, grad, update, epoch = fast.optimizer, fast.grad, optimizers.update, plan.epoch
    plain = opt.plain
    full_batch = scenario.batch is None
    for number in range(start, stop):
        idx = epoch[(number - 1) % len(epoch)]  # plan[number - 1]
        kept = (number - 1) % every == 0
        if not full_batch and kept:  # the data set's loss before the update; full: the batch's
            history.append(_dataset_loss(fast, scenario, params))
        x, t, scale = per_batch[idx[0]]
        buf = fast.buffers[len(x)]
        nets, outs = _forward(layers, weights, biases, x, buf)
        a = outs[-1]
        loss = float(term(a, t, k).sum()) * scale
        if not math.isfinite(loss):
            _locate_nonfinite(scenario, params, state, number, idx)
        if full_batch and kept:
            history.append(loss)
        if kept:  # history[-1] is new: the latest update's
            check_bound(scenario, history, number)

        dout = derivative(a, t, k)
        if not plain:  # the batch's mean: scaled once here, on the smallest array
            dout *= scale
        for li, lay, w, grad_w, grad_b in backward:
            out = outs[li + 1]
            if lay.softmax:
                # sum_j dout_j * out_j (delta_jk - out_k) = out_k (dout_k - sum_j dout_j out_j)
                dnet = out * (dout - (dout * out).sum(axis=1, keepdims=True))
            elif lay.derivative_into:
                dnet = lay.derivative_into(nets[li], out, lay.slope, buf.dnets[li])
                dnet *= dout  # dout * dout/dnet, in place
            else:
                dnet = dout * lay.derivative(nets[li], out, lay.slope)
            if li:
                dout = dnet.dot(w, buf.douts[li - 1])  # with the weights from before the update
            dnet.T.dot(outs[li], grad_w)  # summed over the batch
            if lay.bias_grad == "per_neuron":
                np.add.reduce(dnet, 0, None, grad_b)  # dnet.sum(axis=0), into the gradient
            elif lay.bias_grad:
                grad_b[:] = dnet.sum(keepdims=True)[0]
        # The rules never keep `grad` itself, so its buffer is reused by the next update.
        if plain:  # lr * (scale * sum) as (lr * scale) * sum: plain SGD's numbers as before
            optimizers.sgd_in_place(flat, grad, lr * scale)
        else:  # the new values into the same vector: the weights and biases are its views
            new, state = update(opt, flat, grad, state, number, lr)
            np.copyto(flat, new)
    return params, state


