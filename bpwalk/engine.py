"""The engine: forward pass, loss, backward pass and update, in float64 NumPy.

The only module that does arithmetic. Two paths share the formulas of bpwalk.functions:

* ``_explain``: one update computed quantity by quantity (net, out, loss terms, dE/dout,
  dout/dnet, delta, gradients, new parameters), each optionally rounded to D decimals as a
  hand calculation would, then written out as Steps. Used for the iterations a user sees.
* ``_fast_updates``: the same updates as a tight vectorised loop that only records the loss,
  for the iterations nobody reads.

Conventions (the README repeats them): E is the loss of the batch (mean or sum of the
per-sample losses); delta = dE/dnet; the backward pass uses the weights from before the
update; new = old - learning_rate * dE/dparam.
"""

from __future__ import annotations

import builtins
import gc
import itertools
import keyword
import math
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from bpwalk import optimizers
from bpwalk.functions import ACTIVATIONS, LOSSES
from bpwalk.mistakes import Mistake
from bpwalk.scenario import Scenario
from bpwalk.trace import Iteration, Operand, Step, Trace

ONE = Operand("1", 1.0)


DIVERGED = 1e6  # a loss this many times the starting loss (or 1, if larger) means divergence


class EngineError(Exception):
    """Training left the finite range or diverged; the message names the update and the
    value. `history` is the data-set loss before each update up to there (finite values),
    for the loss table and curve a view prints."""

    def __init__(self, message: str, history: list[float] | None = None):
        super().__init__(message)
        self.history = history or []


# ----------------------------------------------------------------------------- parameters


class Params:
    """Weights (neurons x inputs) and bias values (0, 1 shared, or one per neuron) per layer.

    (Plain classes here rather than dataclasses: defining one costs every start a millisecond.)
    """

    __slots__ = ("biases", "weights")

    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray]) -> None:
        self.weights = weights
        self.biases = biases

    def __repr__(self) -> str:
        return f"Params(weights={self.weights!r}, biases={self.biases!r})"

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


class _Slot(NamedTuple):
    """One trained array (a layer's weights or bias values) in the optimizer's flat vector."""

    layer: int  # 0-based
    bias: bool
    span: slice
    shape: tuple[int, ...]
    names: tuple[str, ...]  # row by row


def _layout(scenario: Scenario) -> list[_Slot]:
    """Every trained array, layer by layer, weights before biases, as one flat vector.

    The optimizer sees all parameters as one vector: its rules are element-wise, and one
    call per update costs the fast loop less than one per array.
    """
    slots, at = [], 0
    for li, lay in enumerate(scenario.layers):
        arrays = [(False, lay.weights.shape, tuple(n for row in lay.weight_names for n in row))]
        if scenario.update_biases and lay.bias != "none":
            arrays.append((True, lay.bias_values.shape, lay.bias_names))
        for bias, shape, names in arrays:
            slots.append(_Slot(li, bias, slice(at, at + len(names)), shape, names))
            at += len(names)
    return slots


def _flat(layout: list[_Slot], params: Params) -> np.ndarray:
    return np.concatenate([(params.biases if s.bias else params.weights)[s.layer].ravel()
                           for s in layout])


def _unflat(layout: list[_Slot], flat: np.ndarray, params: Params) -> Params:
    """`params` with the trained arrays taken from `flat` (as views: nothing is copied)."""
    weights, biases = params.weights[:], params.biases[:]
    for s in layout:
        (biases if s.bias else weights)[s.layer] = flat[s.span].reshape(s.shape)
    return Params(weights, biases)


class Plan(Sequence):
    """The batches of `length` updates: one epoch's batches, cycled. Never built out: a list
    for 1e8 updates would take 800 MB."""

    def __init__(self, epoch: list[list[int]], length: int):
        self.epoch, self.length = epoch, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i):  # an update's 0-based sample indices (slices: a list of them)
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.length))]
        if not -self.length <= i < self.length:
            raise IndexError(i)
        return self.epoch[i % self.length % len(self.epoch)]


def batches(scenario: Scenario, iterations: int) -> Plan:
    """0-based sample indices of each update: consecutive in file order, cycling per epoch."""
    n = len(scenario.x)
    if scenario.batch is None:
        return Plan([list(range(n))], iterations)
    return Plan([list(range(i, min(i + scenario.batch, n))) for i in range(0, n, scenario.batch)],
                iterations)


# The loss history keeps every entry of a run up to this many updates; a longer run keeps
# those at multiples of a stride, and the last, so that 1e8 updates fit in about 1 MB.
MAX_HISTORY = 100_000


def _stride(n_iter: int) -> int:
    """1 up to MAX_HISTORY updates, else the smallest of 2, 5, 10, 20, 50, ... that keeps
    at most MAX_HISTORY entries (a round stride reads well in the JSON)."""
    need, every = -(-n_iter // MAX_HISTORY), 1
    while every < need:
        every = every * 5 // 2 if str(every).startswith("2") else every * 2
    return every


# ----------------------------------------------------------------------------- the run


def run(scenario: Scenario, iterations: int | None = None, show: set[int] | None = None,
        round_to: int | None = None, mistakes: tuple[Mistake, ...] = (),
        watch: Watch | None = None) -> Trace:
    """Train for `iterations` updates; explain the updates numbered in `show` (1-based).

    With `round_to`, every explained step's value is rounded to that many decimals as soon
    as it is computed and the rounded value is used from then on (including the parameters
    carried into later updates); each step also keeps its full-precision value in `exact`.
    With `mistakes`, the explained updates compute the targeted steps with those classic
    mistakes (see Mistake); ``bpwalk check`` uses this to name a student's mistake.
    With `watch`, training tells it how far it is about ten times a second; when it answers
    False, training stops there and the trace holds the updates made so far.
    """
    n_iter = scenario.iterations if iterations is None else iterations
    show = {1} if show is None else {i for i in show if 1 <= i <= n_iter}
    plan = batches(scenario, n_iter)
    full_batch = scenario.batch is None
    params = Params.of(scenario)
    first = params.named(scenario)
    history: list[float] = []
    every = _stride(n_iter)
    shown: list[Iteration] = []

    try:
        params, state, n_iter = _train(scenario, params, plan, n_iter, show, full_batch,
                                       round_to, mistakes, history, shown, every, watch)
    except EngineError as e:
        e.history = list(itertools.takewhile(math.isfinite, history))
        e.updates = [*range(0, n_iter, every)][:len(e.history)] if every > 1 else None
        raise
    final = params.named(scenario)
    return Trace(scenario=scenario, iterations=shown, loss_history=history,
                 loss_updates=[*range(0, n_iter, every), n_iter] if every > 1 else None,
                 params_first=first, params_final=final,
                 total_iterations=n_iter, round_to=round_to,
                 param_change=_changes(first, final, round_to), state_final=state)


def _train(scenario: Scenario, params: Params, plan: list[list[int]], n_iter: int,
           show: set[int], full_batch: bool, round_to: int | None,
           mistakes: tuple[Mistake, ...], history: list[float], shown: list[Iteration],
           every: int, watch: Watch | None = None
           ) -> tuple[Params, dict[str, dict[str, float]], int]:
    """The updates of `run`: fast where nobody reads them, explained where shown. Returns
    the parameters after them, the optimizer's state per parameter name, and the number of
    updates made (fewer than n_iter when `watch` stopped the run)."""
    fast = _FastPath(scenario, plan)
    state = optimizers.zero_state(scenario.optimizer, fast.size)
    with np.errstate(all="ignore"):  # non-finite values are detected and reported, not warned
        number = 1  # the next update to make
        for explained in [*sorted(show), n_iter + 1]:
            # the updates before the next explained one, nobody reads: one tight loop
            params, state, number = _watched(watch, fast, scenario, params, state, plan,
                                             number, explained, history, every)
            if number < explained or explained > n_iter:  # asked to stop, or done
                break
            idx = plan[explained - 1]
            kept = (explained - 1) % every == 0
            if not full_batch and kept:
                history.append(_dataset_loss(fast, scenario, params))
            with _collector_paused():
                it, params, state, loss = _explained(scenario, params, state, explained, idx,
                                                     round_to, mistakes)
            shown.append(it)
            if full_batch and kept:
                history.append(loss)
            _check_bound(scenario, history, explained)
            number = explained + 1
            if watch is not None and not watch(explained, loss):
                break
        n_iter = number - 1  # the updates made: fewer than asked when `watch` stopped the run
        history.append(_dataset_loss(fast, scenario, params))
        if not math.isfinite(history[-1]):
            _locate_nonfinite(scenario, params, state, n_iter + 1, plan[0] if plan else [0])
        _check_bound(scenario, history, n_iter + 1)
    return params, _named_state(fast.layout, state), n_iter


def _named_state(layout: list[_Slot], state: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """The optimizer's state per parameter name: {"m": {"w1": ...}, "v": {...}}."""
    names = [n for s in layout for n in s.names]
    return {kind: dict(zip(names, flat.tolist())) for kind, flat in state.items()}


def _divergence_bound(history: list[float]) -> float:
    return DIVERGED * max(history[0], 1.0)


def _check_bound(scenario: Scenario, history: list[float], number: int) -> None:
    """Refuse a loss past DIVERGED times the start: finite, but training has diverged."""
    if history and history[-1] > _divergence_bound(history):
        raise EngineError(
            f"update {number}: the loss E = {history[-1]:.4g} is more than {DIVERGED:.0e} times "
            f"the starting loss ({history[0]:.4g}): training diverged; try a smaller "
            f"learning_rate (now {scenario.learning_rate:g})")


def _changes(first: dict[str, float], final: dict[str, float],
             round_to: int | None) -> dict[str, float]:
    """final - first per parameter (rounded like the trace, so 0.35891648 - 0.4 reads -0.04108352)."""
    names = list(first)
    diff = _rounder(round_to)(np.array([final[n] - first[n] for n in names], dtype=np.float64))
    return dict(zip(names, diff.tolist()))


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


def _explained(scenario: Scenario, params: Params, state: dict[str, np.ndarray], number: int,
               idx: list[int], round_to: int | None, mistakes: tuple[Mistake, ...] = ()
               ) -> tuple[Iteration, Params, dict[str, np.ndarray], float]:
    steps, new_params, new_state, loss = _explain(scenario, params, state, number, idx,
                                                  round_to, mistakes)
    if round_to is not None:
        exact_steps, _, _, loss = _explain(scenario, params, state, number, idx, None, mistakes)
        for s, e in zip(steps, exact_steps):
            s.exact = e.value
            s.drift = s.value - e.value  # views show the drift; they never compute it
    _check_finite(steps, number)
    it = Iteration(number=number, samples=[i + 1 for i in idx], steps=steps,
                   params_before=params.named(scenario), params_after=new_params.named(scenario))
    return it, new_params, new_state, loss


def _check_finite(steps: list[Step], number: int) -> None:
    for s in steps:
        if not math.isfinite(s.value):
            if s.kind == "loss" and s.fn in ("cross_entropy", "binary_cross_entropy"):
                why = (f"ln(0): {s.terms[1][0].ref} is {s.terms[1][0].value:g} with target "
                       f"{s.terms[0][0].value:g}, so the loss is infinite")
                fix = "use targets that the outputs can reach, or smaller weights"
            elif s.kind in optimizers.STEP_KINDS:  # the optimizer's state or its parts
                why = f"the value is {s.value}"
                fix = ("the optimizer's numbers grew too large: try a smaller learning_rate "
                       "or weight_decay, or smaller weights")
            else:
                why = f"the value is {s.value}"
                fix = ("the numbers grew too large: try a smaller learning_rate, smaller "
                       "weights, or fewer iterations")
            raise EngineError(f"update {number}, step {s.id}: {why}; {fix}")


def _locate_nonfinite(scenario: Scenario, params: Params, state: dict[str, np.ndarray],
                      number: int, idx: list[int]) -> None:
    """Re-run one update explained, to name the first step that is not finite."""
    steps, _, _, _ = _explain(scenario, params, state, number, idx, None)
    _check_finite(steps, number)
    raise EngineError(f"update {number}: the loss is not finite; try a smaller learning_rate "
                      f"(now {scenario.learning_rate:g})")


# ----------------------------------------------------------------------------- fast path


# Told (updates made, the latest loss) while training; answers whether to go on.
Watch = Callable[[int, float], bool]
WATCH_EVERY = 0.1  # seconds between two calls of a Watch, about


def _watched(watch: Watch | None, fast: _FastPath, scenario: Scenario, params: Params,
             state: dict[str, np.ndarray], plan: Plan, start: int, stop: int,
             history: list[float], every: int) -> tuple[Params, dict[str, np.ndarray], int]:
    """_fast_updates from `start` to `stop` in spans of about WATCH_EVERY seconds, telling
    `watch` after each; the parameters, the optimizer's state and the next update to make
    (below `stop` when `watch` asked to stop). Splitting the loop changes no number: each
    update reads only the parameters and state the one before left."""
    if watch is None:
        return (*_fast_span(fast, scenario, params, state, plan, start, stop, history, every),
                stop)
    span = 16  # doubled until a span takes WATCH_EVERY / 2: a run's speed is unknown at first
    while start < stop:
        end = min(stop, start + span)
        began = time.perf_counter()
        params, state = _fast_span(fast, scenario, params, state, plan, start, end, history,
                                   every)
        if time.perf_counter() - began < WATCH_EVERY / 2:
            span *= 2
        start = end
        if not watch(start - 1, history[-1]):
            break
    return params, state, start


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
        self.tiny = _Tiny.of(scenario, self)


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
            _check_bound(scenario, history, number)

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


def _fast_span(fast: _FastPath, scenario: Scenario, params: Params,
               state: dict[str, np.ndarray], plan: Plan, start: int, stop: int,
               history: list[float], every: int) -> tuple[Params, dict[str, np.ndarray]]:
    """Updates start..stop-1 nobody reads: in plain floats for a tiny network, else (and
    from an update the floats could not make) vectorised."""
    begun, kept = (params, state, start), len(history)
    if fast.tiny is not None:
        params, state, start = fast.tiny.updates(params, state, start, stop, history, every)
    params, state = _fast_updates(fast, scenario, params, state, plan, start, stop, history,
                                  every)
    if not _finite_state(state):
        del history[kept:]  # the losses of the updates made again, up to the first bad one
        _locate_state(fast, scenario, *begun, plan, stop, history, every)
    return params, state


def _finite_state(state: dict[str, np.ndarray]) -> bool:
    return all(np.isfinite(a).all() for a in state.values())


def _locate_state(fast: _FastPath, scenario: Scenario, params: Params,
                  state: dict[str, np.ndarray], start: int, plan: Plan, stop: int,
                  history: list[float], every: int) -> None:
    """A non-finite optimizer state (v = g² past 1.8e308, with a huge weight decay) is
    divergence, though the parameters stay finite (m / √inf = 0: the loss goes flat). The
    span's updates are made again one at a time, checked here rather than in the loop (no
    cost to a run that stays finite), and the first whose state is not finite is explained
    to name the step."""
    for number in range(start, stop):
        after, new_state = _fast_updates(fast, scenario, params, state, plan, number,
                                         number + 1, history, every)
        if not _finite_state(new_state):
            steps, _, _, _ = _explain(scenario, params, state, number, plan[number - 1], None)
            _check_finite(steps, number)
            break
        params, state = after, new_state
    raise EngineError(f"update {min(number, stop - 1)}: the optimizer's state is not finite; "
                      f"try a smaller learning_rate (now {scenario.learning_rate:g}) or "
                      "weight_decay")


# ----------------------------------------------------------------------------- tiny networks


# A network is tiny when a batch's samples times (its weights + 8) are at most this. Measured
# (CPU us per update, plain floats against vectorised, SGD): 2-2-1 x 1 sample 1.5 against 22,
# x 4 4.1/22, x 8 7.8/24; 4-4-2 x 4 13/24; 4-8-2 x 1 8/27; 8-16-4 x 1 20/20 (Adam: 2-2-1 x 1
# 4.3/38, 4-4-2 x 4 20/32, 8-16-4 x 1 80/51). The floats would win up to about 150; the
# networks above 40 keep the vectorised loop's numbers, as they have had them (XOR's four
# samples, 56, would train 7 times faster and land within 2 ulps of its parameters).
TINY_WORK = 40

# Optimizers the float loop leaves to the vectorised one, whose numbers they keep. RMSprop's
# step η·g/(√s + ε) is about ±η whatever the size of g: near a minimum, where a gradient is a
# sum that cancels to rounding noise, the noise's sign takes a full step, so the two loops'
# last-place differences (see _Tiny) grow into the third digit over 10,000 updates (Mazur's
# network at learning rate 0.5). Adam's first moment averages that sign away (its
# parameters stay within 2e-15 of the vectorised loop's over the same run).
VECTORISED = ("rmsprop",)


class _Tiny:
    """The loop for tiny networks: one Python function written for the run's network.

    A tiny network's update is 20-odd NumPy calls of about a microsecond each, for a few
    dozen multiplications; plain floats in straight-line code take a microsecond or two in
    all. So, at the first update it makes, this writes the updates as Python source for the
    network (`tiny_source` shows it): a local per parameter, neuron and gradient, every sum
    written out in the order the other loops add, the scalar forms of bpwalk.functions
    written into the code where they are plain arithmetic (else called), and each
    parameter's update as its optimizer's rule computes it (the rule is called on numbers
    that write down their arithmetic: _Source).

    The numbers: plain SGD's are the explained path's formulas in plain floats, as this loop
    has always made them; another optimizer's gradient is scaled by the batch's mean where
    the vectorised loop scales it, then the rule makes its own operations. The vectorised
    loop differs from both by a last place per operation at most (OpenBLAS fuses a multiply
    and an add; NumPy's exp is its own): see tests/test_tiny.py.
    """

    def __init__(self, scenario: Scenario, layout: list[_Slot]):
        self.scenario, self.layout = scenario, layout
        self.kinds = scenario.optimizer.state_kinds
        self.loop: Callable | None = None  # written at the first update it makes
        self.every = 0  # the loop's history stride (a run's is one: see _stride)

    @classmethod
    def of(cls, scenario: Scenario, fast: _FastPath) -> _Tiny | None:
        loss = LOSSES[scenario.loss]
        acts = [ACTIVATIONS[lay.activation] for lay in scenario.layers]
        weights = sum(lay.weights.size for lay in scenario.layers)
        batch = max(len(x) for x, _, _ in fast.batches.values())
        if (batch * (weights + 8) > TINY_WORK or loss.scalar_term is None
                or any(a.scalar is None for a in acts) or scenario.optimizer.name in VECTORISED):
            return None
        return cls(scenario, fast.layout)

    def updates(self, params: Params, state: dict[str, np.ndarray], start: int, stop: int,
                history: list[float], every: int
                ) -> tuple[Params, dict[str, np.ndarray], int]:
        """_fast_updates in plain floats: the parameters, the optimizer's state, and the next
        update to make: `stop`, or an earlier one whose arithmetic raised or whose loss is
        not finite, which the vectorised loop then makes again (and reports, as it does)."""
        if start >= stop:
            return params, state, start
        if self.loop is None or every != self.every:
            self.loop, self.every = _TinyWriter(self.scenario, self.layout).compiled(every), every
        values = [v for w, b in zip(params.weights, params.biases)
                  for v in (*w.ravel().tolist(), *b.tolist())]
        values, states, number = self.loop(values, [state[k].tolist() for k in self.kinds],
                                           start, stop, history)
        arrays, at = [], 0
        for a in (a for pair in zip(params.weights, params.biases) for a in pair):
            arrays.append(np.array(values[at:at + a.size], dtype=np.float64).reshape(a.shape))
            at += a.size
        return (Params(arrays[0::2], arrays[1::2]),
                {k: np.array(v, dtype=np.float64) for k, v in zip(self.kinds, states)}, number)


def tiny_source(scenario: Scenario) -> str | None:
    """The Python function the loop for tiny networks runs for this scenario (None when
    its network is not tiny), to read or debug it:

        python -c "from bpwalk import engine, scenario as s
        print(engine.tiny_source(s.load(s.resolve('mazur')[0])))"
    """
    fast = _FastPath(scenario, batches(scenario, 1))
    return None if fast.tiny is None else _TinyWriter(scenario, fast.layout).source(1)


ADD, MUL, UNARY, POW, ATOM = range(5)  # Python's operator precedence, loosest first
_PRECEDENCE = {"+": ADD, "-": ADD, "*": MUL, "/": MUL, "**": POW}


class _Source:
    """A number of the tiny loop's code: the Python source that computes it.

    Arithmetic on these writes each operation down (parenthesised where Python needs it)
    instead of doing it, so a function called on them returns the source that makes the
    same float operations in the same order. What is not arithmetic (a comparison, a
    branch, math.exp) raises TypeError: such a function is called from the code instead.
    `varies` is True for a number of one parameter or neuron, False for one of the whole
    update (its number, the learning rate), None for a constant. A rule's arithmetic on the
    update's numbers alone, such as Adam's 1 - beta1^t, becomes one local of the update
    (_TinyWriter.const), not one expression per parameter.
    """

    __slots__ = ("code", "prec", "src", "varies")

    def __init__(self, src: str, prec: int = ATOM, varies: bool | None = True,
                 code: _TinyWriter | None = None):
        self.src, self.prec, self.varies, self.code = src, prec, varies, code

    def _op(self, op: str, other, swap: bool = False) -> _Source:
        a, b = (_source(other), self) if swap else (self, _source(other))
        prec, code = _PRECEDENCE[op], a.code or b.code
        varies = True in (a.varies, b.varies)
        if varies and code:
            a, b = (code.const(x) if x.varies is False else x for x in (a, b))
            code.check_current(a, b)
        # a left operand is worked out first: a left-associative operator needs parentheses
        # around an equal precedence on its right, ** (right-associative) on its left
        left = a.src if a.prec > prec or (a.prec == prec and op != "**") else f"({a.src})"
        right = b.src if b.prec > prec or (b.prec == prec and op == "**") else f"({b.src})"
        return _Source(f"{left} {op} {right}", prec, varies, code)

    def __add__(self, o): return self._op("+", o)
    def __radd__(self, o): return self._op("+", o, True)
    def __sub__(self, o): return self._op("-", o)
    def __rsub__(self, o): return self._op("-", o, True)
    def __mul__(self, o): return self._op("*", o)
    def __rmul__(self, o): return self._op("*", o, True)
    def __truediv__(self, o): return self._op("/", o)
    def __rtruediv__(self, o): return self._op("/", o, True)
    def __pow__(self, o): return self._op("**", o)
    def __rpow__(self, o): return self._op("**", o, True)

    def __neg__(self) -> _Source:
        return _Source("-" + (self.src if self.prec >= UNARY else f"({self.src})"), UNARY,
                       self.varies, self.code)

    def sqrt(self) -> _Source:  # optimizers._sqrt
        return _Source(f"sqrt({self.src})", ATOM, self.varies, self.code)

    def __bool__(self):
        raise TypeError("a number of the code has no truth value while the code is written")

    def __eq__(self, other):
        raise TypeError("a number of the code cannot be compared while the code is written")

    __ne__ = __eq__
    __hash__ = None  # type: ignore[assignment]


def _source(x) -> _Source:
    """x as a number of the code: a constant written as its repr (exact for a float)."""
    if isinstance(x, _Source):
        return x
    if type(x) not in (float, int) or not math.isfinite(x):
        raise TypeError(f"not a finite constant of the code: {x!r}")
    return _Source(repr(x), UNARY if x < 0 or repr(x).startswith("-") else ATOM, None)


def _written(fn: Callable, name: str, *args) -> _Source:
    """fn(*args) as source: its arithmetic written out, or a call of `name` (fn, in the
    code's globals) where fn does more than arithmetic."""
    try:
        return _source(fn(*args))
    except TypeError:
        return _Source(f"{name}({', '.join(_source(a).src for a in args)})")


def _summed(terms) -> _Source:
    """0.0 + t1 + t2 + ...: a sum in the order written, as the other loops add."""
    total = _source(0.0)
    for t in terms:
        total = total + t
    return total


def _indented(lines: list[str], levels: int = 1) -> list[str]:
    return ["    " * levels + line for line in lines]


def _listed(names, unpack: bool = False) -> str:
    """Names as a list to return, or as the targets that unpack one (a, for one name)."""
    names = list(names)
    if unpack:
        return ", ".join(names) + ("," if len(names) == 1 else "")
    return f"[{', '.join(names)}]"


class _TinyWriter:
    """Writes the tiny loop's function for one scenario (see _Tiny)."""

    OWN = ("values", "state", "start", "stop", "history", "every", "append", "bound",
           "bound_of", "check", "BATCHES", "SAMPLES", "sqrt", "isfinite", "first", "rest",
           "scale", "number", "kept", "loss", "total", "lr", "updates",
           *(f"c{i}" for i in range(1, 10)), *optimizers.STEP_KINDS)

    def __init__(self, scenario: Scenario, layout: list[_Slot]):
        self.scenario, self.layout, self.layers = scenario, layout, scenario.layers
        self.opt, self.kinds = scenario.optimizer, scenario.optimizer.state_kinds
        self.k = scenario.targets.shape[1]
        mean = scenario.reduction == "mean"
        # a sample: its inputs, then its targets; a batch: its first sample, the others, 1/size
        self.samples = [(*x, *t) for x, t in zip(scenario.x.tolist(), scenario.targets.tolist())]
        self.batches = [(self.samples[idx[0]], tuple(self.samples[i] for i in idx[1:]),
                         1.0 / len(idx) if mean else 1.0) for idx in batches(scenario, 0).epoch]
        self.scaled = any(scale != 1.0 for _, _, scale in self.batches)
        acts = {lay.activation: ACTIVATIONS[lay.activation] for lay in self.layers}
        loss = LOSSES[scenario.loss]
        self.calls = {  # the functions the code calls (if any), by their names there
            **{name: a.scalar for name, a in acts.items()},
            **{name + "_derivative": a.scalar_derivative for name, a in acts.items()},
            scenario.loss: loss.scalar_term, scenario.loss + "_derivative": loss.scalar_derivative}
        self.consts: dict[str, _Source] = {}  # the update's own numbers, by their source
        self.current: dict[str, _Source] = {}  # the locals a rule wrote, as last written
        self._name()

    def _name(self) -> None:
        """The locals: the scenario's names where they make distinct Python names, else
        numbered ones (for a weight named `loss`, say)."""
        params = [n for lay in self.layers  # as Params holds them: weights, then biases
                  for n in (*(n for row in lay.weight_names for n in row), *lay.bias_names)]
        neurons = [n for lay in self.layers for n in lay.neurons]
        for numbered in (False, True):
            self.p = {n: f"p{i}" if numbered else n for i, n in enumerate(params, 1)}
            self.x = {n: f"x{i}" if numbered else n
                      for i, n in enumerate(self.scenario.inputs, 1)}
            self.u = {n: f"n{i}" if numbered else n for i, n in enumerate(neurons, 1)}
            names = [*self.OWN, *self.calls, *self.p.values(), *self.x.values(),
                     *(f"{k}_{p}" for p in self.p.values() for k in ("g", *self.kinds)),
                     *(f"{k}_{u}" for u in self.u.values()
                       for k in ("net", "out", "dout", "dnet", "t"))]
            # a scenario may name a weight `range` or `ValueError`: the code's builtins stay
            if len(set(names)) == len(names) and not any(
                    keyword.iskeyword(n) or hasattr(builtins, n) for n in names):
                return

    def const(self, x: _Source) -> _Source:
        """A number of the whole update, as one local (c1, c2, ...) of the update."""
        if x.src.isidentifier():
            return x
        if x.src not in self.consts:
            self.consts[x.src] = _Source(f"c{len(self.consts) + 1}", ATOM, False, self)
        return self.consts[x.src]

    def check_current(self, *operands: _Source) -> None:
        for x in operands:
            if self.current.get(x.src, x) is not x:
                raise AssertionError(f"{x.src} is read after the rule wrote its new value")

    def _q(self, kind: str, neuron: str) -> _Source:
        """A neuron's quantity (net, out, dout, dnet) or target (t), by its local."""
        return _Source(f"{kind}_{self.u[neuron]}")

    def _forward(self) -> list[str]:
        """net and out of every neuron, from the inputs."""
        lines, a = [], [_Source(self.x[n]) for n in self.scenario.inputs]
        for lay in self.layers:
            for j, n in enumerate(lay.neurons):
                net = _summed(_Source(self.p[w]) * ai for w, ai in zip(lay.weight_names[j], a))
                if lay.bias != "none":
                    net = net + _Source(self.p[lay.bias_names[0 if lay.bias == "shared" else j]])
                out = _written(ACTIVATIONS[lay.activation].scalar, lay.activation,
                               self._q("net", n), lay.slope)
                lines += [f"net_{self.u[n]} = {net.src}", f"out_{self.u[n]} = {out.src}"]
            a = [self._q("out", n) for n in lay.neurons]
        return lines

    def _loss(self, total: _Source) -> _Source:
        """total plus the sample's loss terms, output by output."""
        for n in self.layers[-1].neurons:
            total = total + _written(LOSSES[self.scenario.loss].scalar_term, self.scenario.loss,
                                     self._q("out", n), self._q("t", n), self.k)
        return total

    def _sample(self, first: bool) -> list[str]:
        """One sample's forward pass, loss and backward pass; its gradients start the
        batch's (the first sample) or are added to them."""
        scenario, q, p = self.scenario, self._q, self.p
        lines = self._forward()
        lines.append(f"loss = {self._loss(_source(0.0) if first else _Source('loss')).src}")
        for n in self.layers[-1].neurons:
            dout = _written(LOSSES[scenario.loss].scalar_derivative, scenario.loss + "_derivative",
                            q("out", n), q("t", n), self.k)
            if self.scaled and not self.opt.plain:  # where the vectorised loop scales it
                dout = dout * _Source("scale")
            lines.append(f"dout_{self.u[n]} = {dout.src}")

        def gradient(param: str, value: _Source) -> str:
            g = _Source("g_" + p[param])
            return f"{g.src} = {(value if first else g + value).src}"

        for li in range(len(self.layers) - 1, -1, -1):
            lay = self.layers[li]
            dact = ACTIVATIONS[lay.activation].scalar_derivative
            for n in lay.neurons:
                d = _written(dact, lay.activation + "_derivative", q("net", n), q("out", n),
                             lay.slope)
                lines.append(f"dnet_{self.u[n]} = {(q('dout', n) * d).src}")
            dnet = [q("dnet", n) for n in lay.neurons]
            if li:  # with the weights from before the update
                for i, n in enumerate(self.layers[li - 1].neurons):
                    dout = _summed(d * _Source(p[row[i]]) for d, row in zip(dnet, lay.weight_names))
                    lines.append(f"dout_{self.u[n]} = {dout.src}")
            a = ([q("out", n) for n in self.layers[li - 1].neurons] if li
                 else [_Source(self.x[n]) for n in scenario.inputs])
            for d, row in zip(dnet, lay.weight_names):
                lines += [gradient(w, d * ai) for w, ai in zip(row, a)]
            if scenario.update_biases and lay.bias == "per_neuron":
                lines += [gradient(b, d) for b, d in zip(lay.bias_names, dnet)]
            elif scenario.update_biases and lay.bias == "shared":
                lines.append(gradient(lay.bias_names[0], _summed(dnet)))
        return lines

    def _rule(self, param: str, t: _Source, lr: float | _Source) -> list[str]:
        """One parameter's update as its optimizer's rule computes it: the rule called on
        numbers of the code, each quantity it sees written to a local of its kind."""
        pn, lines = self.p[param], []

        def see(kind, value, *_, **__):
            local = pn if kind == "new" else f"{kind}_{pn}" if kind in self.kinds else kind
            lines.append(f"{local} = {_source(value).src}")
            self.current[local] = _Source(local, code=self)
            return self.current[local]

        state = {k: _Source(f"{k}_{pn}", code=self) for k in self.kinds}
        new, state = optimizers.update(self.opt, _Source(pn, code=self),
                                       _Source("g_" + pn, code=self), state, t, lr, see)
        assert new.src == pn and all(v.src == f"{k}_{pn}" for k, v in state.items())
        self.current.clear()
        return lines

    def source(self, every: int) -> str:
        """The function: updates(values, state, start, stop, history), for a history that
        keeps the loss of every `every`-th update (see MAX_HISTORY)."""
        scenario, full, one = self.scenario, self.scenario.batch is None, len(self.batches) == 1
        rest = any(rest for _, rest, _ in self.batches)  # a batch of two samples or more
        unpack = _listed([*self.x.values(), *(f"t_{self.u[n]}" for n in self.layers[-1].neurons)],
                         unpack=True)
        trained = [self.p[n] for s in self.layout for n in s.names]
        lr = scenario.learning_rate
        if self.opt.plain:  # lr * (the mean's 1/size) as the other loops compute it
            scales = {scale for _, _, scale in self.batches}
            lr = lr * scales.pop() if len(scales) == 1 else _Source("lr", ATOM, False, self)
        update = [line for s in self.layout for n in s.names
                  for line in self._rule(n, _Source("number", ATOM, False, self), lr)]
        update = [f"{c.src} = {src}" for src, c in self.consts.items()] + update
        if isinstance(lr, _Source):
            update.insert(0, f"lr = {scenario.learning_rate!r} * scale")
        sizes = "-".join(map(str, [len(scenario.inputs), *(len(lay.neurons) for lay in self.layers)]))
        head = ["def updates(values, state, start, stop, history):",
                f'    """Updates start..stop-1 of a {sizes} network, trained by {self.opt.name}.',
                "",
                "    Written for this one network by bpwalk.engine._TinyWriter (engine.tiny_source",
                "    prints it). Returns the parameters, the optimizer's state and the next update",
                '    to make: stop, or an earlier one that the floats could not make."""',
                f"    {_listed(self.p.values(), unpack=True)} = values",
                *(f"    {_listed((f'{k}_{p}' for p in trained), unpack=True)} = state[{i}]"
                  for i, k in enumerate(self.kinds)),
                "    append = history.append",
                "    bound = bound_of(history)"]
        if one:  # the same batch at every update (and, with one sample, the same sample)
            head.append("    first, rest, scale = BATCHES[0]")
            loop = []
        else:
            loop = [f"first, rest, scale = BATCHES[(number - 1) % {len(self.batches)}]"]
        same = one and full and not rest  # (the data set's loss would overwrite the sample)
        head += [f"    {unpack} = first"] if same else []
        body = [] if same else [f"{unpack} = first"]
        body += self._sample(True)
        if rest:
            body += [f"for {unpack} in rest:", *_indented(self._sample(False))]
        if self.scaled:
            body.append("loss = loss * scale")
        body += ["if not isfinite(loss):", "    break"]
        kept = None if every == 1 else f"(number - 1) % {every} == 0"  # the history keeps it
        if not full:  # the data set's loss before the update, and the history keeps that
            if kept:
                loop.append(f"kept = {kept}")
                kept = "kept"
            data = ["total = 0.0  # the loss of the data set before the update",
                    f"for {unpack} in SAMPLES:", *_indented(self._forward()),
                    f"    total = {self._loss(_Source('total')).src}",
                    *([f"total = total / {len(self.samples)}"]
                      if scenario.reduction == "mean" else [])]
            body = [*([f"if {kept}:", *_indented(data)] if kept else data), *body]
        entry = "loss" if full else "total"
        record = [f"append({entry})",
                  f"if {entry} > bound:  # diverged (or the first entry: its bound)",
                  "    bound = check(history, number)"]
        loop += ["try:", *_indented(body),
                 "except (ArithmeticError, ValueError):  # the vectorised loop makes it again",
                 "    break",
                 *([f"if {kept}:", *_indented(record)] if kept else record),
                 *update]
        states = _listed(_listed(f"{k}_{p}" for p in trained) for k in self.kinds)
        return "\n".join([*head, "    for number in range(start, stop):",
                          *_indented(loop, 2),
                          "    else:", "        number = stop",
                          f"    return {_listed(self.p.values())}, {states}, number", ""])

    def compiled(self, every: int) -> Callable:
        scenario = self.scenario

        def check(history: list[float], number: int) -> float:
            _check_bound(scenario, history, number)
            return _divergence_bound(history)

        space = {"BATCHES": self.batches, "SAMPLES": self.samples, "sqrt": math.sqrt,
                 "isfinite": math.isfinite, "check": check, **self.calls,
                 "bound_of": lambda h: _divergence_bound(h) if h else -math.inf}
        code = compile(self.source(every), f"<the tiny loop of {scenario.name}>", "exec")
        exec(code, space)  # noqa: S102 (our own source, written above from the scenario's numbers)
        return space["updates"]


# ----------------------------------------------------------------------------- mistakes


class _Inject:
    """Swaps the formula of the targeted steps; free when there are no mistakes.

    `ids` builds an array of step ids shaped like the quantity; `variants` maps a mistake
    kind to the wrong formula for the whole array. Only the targeted entries take it.
    """

    def __init__(self, mistakes: tuple[Mistake, ...]):
        self.mistakes = mistakes
        # kind -> its targets: the judge injects one kind at many independent steps at once
        self.by_kind: dict[str, list[str]] = {}
        for m in mistakes:
            self.by_kind.setdefault(m.kind, []).append(m.target)

    def __call__(self, ids, right: np.ndarray, variants: dict) -> np.ndarray:
        out = right
        if not self.mistakes:
            return out
        names = None
        for kind, targets in self.by_kind.items():
            if kind in variants:
                names = ids() if names is None else names
                wanted = set(targets)  # a set: np.isin on strings sorts them every call
                mask = np.fromiter((n in wanted for n in names.ravel()), dtype=bool,
                                   count=names.size).reshape(names.shape)
                if mask.any():
                    out = np.where(mask, variants[kind](), out)
        return out


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


def _explain(scenario: Scenario, params: Params, state: dict[str, np.ndarray], number: int,
             idx: list[int], round_to: int | None, mistakes: tuple[Mistake, ...] = ()
             ) -> tuple[list[Step], Params, dict[str, np.ndarray], float]:
    """Update `number`, quantity by quantity, written out as Steps in computation order."""
    r = _rounder(round_to)
    inj = _Inject(mistakes)
    layers = scenario.layers
    n_layers = len(layers)
    loss_fn = LOSSES[scenario.loss]
    x, t = scenario.x[idx], scenario.targets[idx]
    B, K = len(idx), t.shape[1]
    mean = scenario.reduction == "mean"
    sfx = [f"@{i + 1}" if B > 1 else "" for i in idx]
    gsfx = sfx if B > 1 else [""]
    samples = [i + 1 if B > 1 else None for i in idx]
    lr = scenario.learning_rate
    outputs = scenario.outputs

    # ---- forward: net = W·a + b, out = f(net), layer by layer (rows are samples)
    nets, outs = [], [x]
    for lay, w, b in zip(layers, params.weights, params.biases):
        net, out = _forward_layer(r, inj, lay, w, b, outs[-1], sfx)
        nets.append(net)
        outs.append(out)
    out = outs[-1]

    # ---- loss: per-output terms, per-sample sums, the batch's mean or sum
    terms = loss_fn.term(out, t, K)
    terms = r(inj(lambda: _ids("loss", outputs, sfx), terms, _scaled(terms)))
    sample_loss = terms.sum(axis=1)
    sample_loss = r(inj(lambda: np.array([f"loss{s}" for s in sfx], dtype=object), sample_loss,
                        _scaled(sample_loss)))
    batch_loss = float(sample_loss[0])
    if B > 1:
        combined = np.array(sample_loss.mean() if mean else sample_loss.sum())
        other = np.array(sample_loss.sum() if mean else sample_loss.mean())
        batch_loss = float(r(inj(lambda: np.array("loss", dtype=object), combined,
                                 {**_scaled(combined), "reduction": lambda: other,
                                  **_mean_twice(combined, B, mean)})))

    # ---- backward, output layer first; dE/dout of a hidden layer uses the old weights.
    # Each layer's gradients are found as soon as its deltas are, so that the mistake
    # "updated weights in the backward pass" has the updated weights to use.
    douts: list = [None] * n_layers
    dacts: list = [None] * n_layers
    dnets: list = [None] * n_layers
    jacs: list = [None] * n_layers
    prods: list = [None] * n_layers  # dout * dact before rounding: the factor grads multiply
    upd: list = [None] * n_layers  # dE/dout from the updated weights (only for that mistake)
    grads_w: list = [None] * n_layers
    grads_b: list = [None] * n_layers
    per_w: list = [None] * n_layers
    per_b: list = [None] * n_layers
    dout = loss_fn.derivative(out, t, K)
    dout = r(inj(lambda: _ids("dout", outputs, sfx), dout,
                 {**_scaled(dout), "neighbour_neuron": lambda: np.roll(dout, 1, axis=1)}))
    for li in range(n_layers - 1, -1, -1):
        douts[li] = dout
        wrong = _deltas(r, inj, layers[li], li, sfx, nets, outs, dout, upd, dacts, dnets,
                        jacs, prods)
        _gradients(scenario, li, sfx, gsfx, mean, r, inj, outs, prods, dnets, wrong,
                   per_w, per_b, grads_w, grads_b)
        if li:
            dout = _hidden_dout(r, inj, layers[li - 1], sfx, dnets[li], params.weights[li],
                                grads_w[li], lr, upd, li - 1)

    # ---- update: the optimizer's rule (plain SGD: new = old - learning_rate * gradient)
    layout = _layout(scenario)
    names = np.array([n for s in layout for n in s.names], dtype=object)
    seen: list[tuple[str, np.ndarray, tuple, str]] = []

    def see(kind: str, value: np.ndarray, terms=(), fn: str = "", variants=None) -> np.ndarray:
        value = r(inj(lambda: np.array([f"{kind}:{n}" for n in names], dtype=object), value,
                      variants() if variants and inj.mistakes else {}))
        seen.append((kind, value, terms, fn))
        return value

    new_flat, new_state = optimizers.update(
        scenario.optimizer, _flat(layout, params), _flat(layout, Params(grads_w, grads_b)),
        state, number, lr, see)
    new = _unflat(layout, new_flat, params)

    steps = _write_steps(scenario, params, idx, sfx, samples, nets, outs, terms, sample_loss,
                         batch_loss, douts, dacts, dnets, jacs, per_w, per_b, grads_w, grads_b)
    if scenario.input_gradients:  # each sample's right after its own backward pass
        for din in _input_gradient_steps(scenario, params, sfx, samples, dnets[0], r, inj):
            at = max(k for k, s in enumerate(steps) if s.phase == "backward"
                     and (s.sample == din.sample or din.sample is None))
            steps.insert(at + 1, din)
    steps += _update_steps(scenario, layout, state, number, seen)
    return steps, new, new_state, batch_loss


def _forward_layer(r, inj: _Inject, lay, w: np.ndarray, b: np.ndarray, a: np.ndarray,
                   sfx: list[str]) -> tuple[np.ndarray, np.ndarray]:
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
        "sign": lambda: -out, "neighbour_neuron": lambda: np.roll(out, 1, axis=1)}))
    return net, out


def _deltas(r, inj: _Inject, lay, li: int, sfx: list[str], nets, outs, dout: np.ndarray,
            upd, dacts, dnets, jacs, prods) -> dict:
    """dout/dnet and delta = dE/dnet of layer li (fills the lists).

    Returns the mistaken delta formulas of this layer, which its gradient steps can suffer
    too (a student may leave dout/dnet out of dE/dw5 only).
    """
    names = lay.neurons
    act = ACTIVATIONS[lay.activation]
    if lay.activation == "softmax":
        o = outs[li + 1]
        # Jacobian d out_j / d net_k = out_j (delta_jk - out_k), per sample: (B, j, k)
        jac = o[:, :, None] * (np.eye(o.shape[1])[None] - o[:, None, :])
        jacs[li] = jac
        dnet = np.einsum("bj,bjk->bk", dout, jac)
        wrong = {"jacobian_diagonal": lambda: dout * o * (1.0 - o),
                 "dact_again": lambda: dnet * o * (1.0 - o)}
        dnets[li] = r(inj(lambda: _ids("dnet", names, sfx), dnet, {
            **_scaled(dnet), "neighbour_neuron": lambda: np.roll(dnet, 1, axis=1), **wrong}))
        prods[li] = dnets[li]  # gradients show delta itself as their first factor
        return wrong
    net, o = nets[li], outs[li + 1]
    dact = act.derivative(net, o, lay.slope)

    def at_out() -> np.ndarray:  # the derivative (a function of net) evaluated at out
        return act.derivative(o, act.value(o, lay.slope), lay.slope)

    def at_net() -> np.ndarray:  # the formula written in out (like out(1 - out)) fed net
        return act.derivative(net, net, lay.slope)

    dacts[li] = r(inj(lambda: _ids("dact", names, sfx), dact, {
        "sign": lambda: -dact, "dact_at_out": at_out, "dact_at_net": at_net}))
    wrong = {"dact_at_out": lambda: dout * r(at_out()),
             "dact_at_net": lambda: dout * r(at_net()),
             "dact_left_out": lambda: dout,
             "dact_again": lambda: dout * dacts[li] * dacts[li]}
    if upd[li] is not None:
        wrong["updated_weights"] = lambda: upd[li] * dacts[li]
    p = dout * dacts[li]
    prods[li] = inj(lambda: _ids("dnet", names, sfx), p, {
        **_scaled(p), "neighbour_neuron": lambda: np.roll(p, 1, axis=1), **wrong})
    dnets[li] = r(prods[li])
    return wrong


def _hidden_dout(r, inj: _Inject, lay, sfx: list[str], dnet_next: np.ndarray,
                 w_next: np.ndarray, g_next: np.ndarray, lr: float, upd, li: int) -> np.ndarray:
    """dE/dout of hidden layer li: the next layer's deltas through its old weights."""
    if inj.mistakes:  # kept for the mistake "updated weights", whichever step it is made in
        upd[li] = r(dnet_next @ r(w_next - lr * g_next))
    dout = dnet_next @ w_next
    return r(inj(lambda: _ids("dout", lay.neurons, sfx), dout, {
        **_scaled(dout), "neighbour_neuron": lambda: np.roll(dout, 1, axis=1),
        "updated_weights": lambda: upd[li]}))


def _gradients(scenario, li, sfx, gsfx, mean, r, inj, outs, prods, dnets, wrong,
               per_w, per_b, grads_w, grads_b) -> None:
    """dE/dparam of layer li, per sample and combined over the batch (fills the lists)."""
    lay = scenario.layers[li]
    p, a = prods[li], outs[li]

    def times_input(factor: np.ndarray) -> np.ndarray:
        return factor[:, :, None] * a[:, None, :]

    # dE/dw_ji = (dE/dout_j * dout_j/dnet_j) * a_i, multiplied in the order it is written
    gw = times_input(p)
    gw_s = r(inj(lambda: _param_ids("grad", lay.weight_names, gsfx), gw, {
        **_scaled(gw),
        "neighbour_neuron": lambda: times_input(np.roll(p, 1, axis=1)),
        "neighbour_input": lambda: p[:, :, None] * np.roll(a, 1, axis=1)[:, None, :],
        **{k: (lambda f=f: times_input(f())) for k, f in wrong.items()}}))
    per_w[li] = gw_s
    grads_w[li] = _combine(gw_s, mean, r, inj, lambda: _param_ids("grad", lay.weight_names))
    if lay.bias == "none" or not scenario.update_biases:
        gb = np.zeros((len(sfx), 0))
    elif lay.bias == "per_neuron":
        gb = p * 1.0
    else:  # one bias shared by every neuron of the layer: the sum of their deltas
        gb = dnets[li].sum(axis=1, keepdims=True)
    one_neuron = {"bias_not_summed": lambda: dnets[li][:, :1]} if lay.bias == "shared" else {}
    def bias_ids() -> np.ndarray:
        return _param_ids("grad", [lay.bias_names], gsfx)[:, 0, :]

    gb_s = r(inj(bias_ids, gb, {**_scaled(gb), **one_neuron})) if gb.size else gb
    per_b[li] = gb_s
    grads_b[li] = (_combine(gb_s, mean, r, inj, lambda: _param_ids("grad", [lay.bias_names])[0])
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


def _write_steps(scenario, params, idx, sfx, samples, nets, outs, terms, sample_loss,
                 batch_loss, douts, dacts, dnets, jacs, per_w, per_b, grads_w,
                 grads_b) -> list[Step]:
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
                 fn=reduction, batch=True))

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
                             ops, fn=loss_name, aux=k_aux, output=li == last))
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
                             fn=lay.activation, aux=_slope(lay), output=li == last))
                    add(Step(f"dnet:{name}{s}", "backward", "dnet", name, li + 1, smp, dnet[j],
                             ((Operand(f"dout:{name}{s}", dout[j]), Operand(f"dact:{name}{s}", dact[j])),),
                             fn=lay.activation, output=li == last))
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
                        note = "softmax with cross-entropy: this sum equals out minus target"
                    add(Step(f"dnet:{name}{s}", "backward", "dnet", name, li + 1, smp, dnet[k],
                             ops, fn="softmax", note=note, aux=aux, output=li == last))
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
                             fn=reduction, batch=True))
            gb = grads_b[li].tolist()
            for j, bn in enumerate(lay.bias_names if per_b[li].size else ()):
                ops = tuple((Operand(f"grad:{bn}{sfx[b]}", float(per_b[li][b, j])),) for b in range(B))
                add(Step(f"grad:{bn}", "backward", "grad", bn, li + 1, None, gb[j], ops, fn=reduction,
                             batch=True))

    return steps


def _input_gradient_steps(scenario: Scenario, params: Params, sfx: list[str], samples: list,
                          dnet: np.ndarray, r, inj) -> list[Step]:
    """dE/d(input): the first layer's deltas through its weights, like a hidden neuron's dout.

    Nothing depends on these (inputs are not trained); CS231n's exercises ask for them.
    """
    w = params.weights[0]
    din = dnet @ w
    din = r(inj(lambda: _ids("din", scenario.inputs, sfx), din, {
        **_scaled(din), "neighbour_neuron": lambda: np.roll(din, 1, axis=1)}))
    lay = scenario.layers[0]
    wl, dl, values = w.tolist(), dnet.tolist(), din.tolist()
    steps = []
    for b, (s, smp) in enumerate(zip(sfx, samples)):
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
                     (d + (Operand(f"wrt:{name}/{wn}{s}", a[i]),),),
                     aux=(carried, Operand(f"dnet:{name}{s}", dnet[j]))))
    if not per_b[li].size:
        return
    gb = per_b[li][b].tolist()
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


# ----------------------------------------------------------------------------- one step again


def evaluate(step: Step, values: dict[str, float]) -> float:
    """The step's formula on other operand values: `values` maps operand refs (``out:h1``,
    ``dnet:o1``) to numbers; operands not in it keep the step's own values.

    The judge uses this to ask what a student's own earlier numbers give. A gradient's
    ``wrt:o1/w5`` factor is the input the weight carries, so it follows that input's ref.
    """
    carried = {o.ref: step.aux[0].ref for term in step.terms for o in term
               if o.ref.startswith("wrt:") and step.aux}

    def v(op: Operand) -> float:
        return values.get(carried.get(op.ref, op.ref), values.get(op.ref, op.value))

    kind, fn, terms = step.kind, step.fn, step.terms
    slope = next((o.value for o in step.aux if o.ref == "slope"), 0.0)
    with np.errstate(all="ignore"):
        if kind == "out":
            nets = np.array([[v(t[0]) for t in terms]])
            own = [t[0].ref for t in terms].index(f"net:{step.id.partition(':')[2]}")
            return float(ACTIVATIONS[fn].value(nets, slope)[0, own])
        if kind in ("loss", "dout") and fn in LOSSES:
            k = int(next(o.value for o in step.aux if o.ref == "K"))
            t, o = np.array([[v(terms[0][0])]]), np.array([[v(terms[1][0])]])
            f = LOSSES[fn].term if kind == "loss" else LOSSES[fn].derivative
            return float(f(o, t, k)[0, 0])
        if kind == "dact":
            net, out = np.array([v(terms[0][0])]), np.array([v(terms[1][0])])
            return float(ACTIVATIONS[fn].derivative(net, out, slope)[0])
        if kind == "new" and fn == "update":  # plain SGD, momentum (the velocity), L2
            return v(terms[0][0]) - v(terms[1][0]) * v(terms[2][0])
        if kind == "new" and fn == "adaptive":  # p − η·num/(√den + ε), RMSprop and Adam
            p, lr, num, den, eps = (v(t[0]) for t in terms[:5])
            return p - lr * (num / (math.sqrt(max(den, 0.0)) + eps))  # (a box may dip below 0)
        if kind == "new" and fn == "nesterov":  # p − η·(g + μ·v)
            (mu, vel) = terms[3]
            return v(terms[0][0]) - v(terms[1][0]) * (v(terms[2][0]) + v(mu) * v(vel))
        if fn == "quotient":  # Adam's bias corrections, m / (1 − β₁ᵗ)
            return v(terms[0][0]) / v(terms[1][0])
        # sums of products, or their mean; the optimizers' l2, decay, vel, sq, m, v; din
        if kind in ("net", "dout", "dnet", "grad", "loss", "din", *optimizers.STEP_KINDS):
            total = math.fsum(math.prod(v(o) for o in term) for term in terms)
            return total / len(terms) if fn == "mean" else total
    return step.value  # a formula this function does not know: its own value, no slack


def bounds(step: Step, boxes: dict[str, tuple[float, float]]) -> tuple[float, float]:
    """The range of the step's formula when each operand in `boxes` lies in its (lo, hi).

    Each operand is put at the end of its box that moves the result down (or up), found from
    the formula's own response to that operand; then the two corners are evaluated. This is
    exact for formulas monotone in each operand over the box (sums, products, activations,
    losses over the small boxes rounding makes) and close for the others.
    """
    mid = {ref: (lo + hi) / 2 for ref, (lo, hi) in boxes.items()}
    low, high = dict(mid), dict(mid)
    for ref, (lo, hi) in boxes.items():
        if lo == hi:
            continue
        up = evaluate(step, {**mid, ref: hi}) >= evaluate(step, {**mid, ref: lo})
        low[ref], high[ref] = (lo, hi) if up else (hi, lo)
    a, b, c = evaluate(step, low), evaluate(step, high), evaluate(step, mid)
    return min(a, b, c), max(a, b, c)
