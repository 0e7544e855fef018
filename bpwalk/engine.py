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

import gc
import itertools
import math
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

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


@dataclass(frozen=True)
class _Slot:
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


def _check_bound(scenario: Scenario, history: list[float], number: int) -> None:
    """Refuse a loss past DIVERGED times the start: finite, but training has diverged."""
    if history and history[-1] > DIVERGED * max(history[0], 1.0):
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
    """Updates start..stop-1 nobody reads: in plain floats for a tiny network trained by
    plain SGD, else (and from an update the floats could not make) vectorised."""
    if fast.tiny is not None:  # plain SGD: no optimizer state to carry
        params, start = _tiny_updates(fast.tiny, scenario, params, plan, start, stop, history,
                                      every)
    return _fast_updates(fast, scenario, params, state, plan, start, stop, history, every)


# A network is tiny when a batch's samples times (its weights + 8) are at most this. Measured
# (us per update, plain floats against vectorised): 2-2-2 x 1 sample 14 against 34, 4-4-2 x 1
# 18 against 30, 4-4-4 x 1 26/29, 2-2-2 x 2 31/32, 2-2-1 x 4 45/31: a sample costs the float
# loop about 6 us plus 1 per weight, an update costs NumPy's 20-odd calls about 30 us.
TINY_WORK = 40


class _Tiny:
    """What the plain-float loop needs of a run, in Python lists and floats."""

    def __init__(self, scenario: Scenario, fast: _FastPath):
        acts = [ACTIVATIONS[lay.activation] for lay in scenario.layers]
        self.layers = [(a.scalar, a.scalar_derivative, lay.slope,
                        # the bias each neuron adds: its own, the layer's one, or none
                        None if lay.bias == "none" else
                        [0] * len(lay.neurons) if lay.bias == "shared" else
                        list(range(len(lay.neurons))), f.bias_grad)
                       for a, lay, f in zip(acts, scenario.layers, fast.layers)]
        loss = LOSSES[scenario.loss]
        self.term, self.derivative = loss.scalar_term, loss.scalar_derivative
        self.k, self.lr, self.mean = fast.k, fast.lr, scenario.reduction == "mean"
        self.x, self.t = scenario.x.tolist(), scenario.targets.tolist()
        self.batches = {first: (x.tolist(), t.tolist(), scale)
                        for first, (x, t, scale) in fast.batches.items()}

    @classmethod
    def of(cls, scenario: Scenario, fast: _FastPath) -> _Tiny | None:
        loss = LOSSES[scenario.loss]
        acts = [ACTIVATIONS[lay.activation] for lay in scenario.layers]
        weights = sum(lay.weights.size for lay in scenario.layers)
        batch = max(len(x) for x, _, _ in fast.batches.values())
        if (not scenario.optimizer.plain or batch * (weights + 8) > TINY_WORK
                or loss.scalar_term is None or any(a.scalar is None for a in acts)):
            return None
        return cls(scenario, fast)


def _tiny_forward(tiny: _Tiny, W: list, B: list, x: list[float]) -> tuple[list, list]:
    """nets and outs (inputs first) of one sample; each sum in the order it is written."""
    nets, outs, a = [], [x], x
    for (value, _, slope, bias_of, _), rows, b in zip(tiny.layers, W, B):
        net = []
        for j, row in enumerate(rows):
            s = 0.0
            for w, ai in zip(row, a):
                s += w * ai
            if bias_of is not None:
                s += b[bias_of[j]]
            net.append(s)
        a = [value(v, slope) for v in net]
        nets.append(net)
        outs.append(a)
    return nets, outs


def _tiny_loss(tiny: _Tiny, W: list, B: list, xs: list, ts: list) -> float:
    """The summed loss of samples xs (targets ts): the terms in the order NumPy adds them."""
    total, term, k = 0.0, tiny.term, tiny.k
    for x, t in zip(xs, ts):
        for o, tk in zip(_tiny_forward(tiny, W, B, x)[1][-1], t):
            total += term(o, tk, k)
    return total


def _tiny_updates(tiny: _Tiny, scenario: Scenario, params: Params, plan: Plan, start: int,
                  stop: int, history: list[float], every: int) -> tuple[Params, int]:
    """_fast_updates in Python floats, for networks where NumPy's cost per call, not the
    arithmetic, is the time: the same formulas (the scalar forms of bpwalk.functions), in
    the same order. Returns the parameters and the next update to make: `stop`, or an
    earlier one that raised an arithmetic error or made a loss that is not finite, which
    the vectorised loop then makes again (and reports, as it does)."""
    W = [w.tolist() for w in params.weights]
    B = [b.tolist() for b in params.biases]
    derivative, term, k, full_batch = tiny.derivative, tiny.term, tiny.k, scenario.batch is None
    layers, epoch, batches = tiny.layers, plan.epoch, tiny.batches
    backward = range(len(layers) - 1, -1, -1)
    number = start
    for number in range(start, stop):
        kept = (number - 1) % every == 0
        mark = len(history)
        xs, ts, scale = batches[epoch[(number - 1) % len(epoch)][0]]
        try:
            if not full_batch and kept:  # the data set's loss before the update
                total = _tiny_loss(tiny, W, B, tiny.x, tiny.t)
                history.append(total / len(tiny.x) if tiny.mean else total)
            GW: list = [None] * len(W)  # summed over the batch, sample by sample
            GB: list = [None] * len(W)
            loss = 0.0
            for x, t in zip(xs, ts):
                nets, outs = _tiny_forward(tiny, W, B, x)
                for o, tk in zip(outs[-1], t):
                    loss += term(o, tk, k)
                dout = [derivative(o, tk, k) for o, tk in zip(outs[-1], t)]
                for li in backward:
                    _, dact, slope, _, bias_grad = layers[li]
                    dnet = [d * dact(n, o, slope) for d, n, o in zip(dout, nets[li], outs[li + 1])]
                    if li:  # with the weights from before the update
                        dout = []
                        for column in zip(*W[li]):
                            s = 0.0
                            for dj, wj in zip(dnet, column):
                                s += dj * wj
                            dout.append(s)
                    a = outs[li]
                    gw = [[dj * ai for ai in a] for dj in dnet]
                    gb = dnet if bias_grad == "per_neuron" else [_sum(dnet)] if bias_grad else []
                    if GW[li] is None:
                        GW[li], GB[li] = gw, gb
                    else:
                        GW[li] = [[s + g for s, g in zip(srow, grow)]
                                  for srow, grow in zip(GW[li], gw)]
                        GB[li] = [s + g for s, g in zip(GB[li], gb)]
            loss *= scale
            if not math.isfinite(loss):
                raise ArithmeticError(loss)
        except (ArithmeticError, ValueError):
            del history[mark:]
            break
        if full_batch and kept:
            history.append(loss)
        _check_bound(scenario, history, number)
        _tiny_step(tiny, W, B, GW, GB, scale)
    else:
        number = stop
    return Params([np.array(w) for w in W], [np.array(b) for b in B]), number


def _sum(values: list[float]) -> float:
    """A sum in the order written (Python 3.12's sum() compensates, NumPy's does not)."""
    s = 0.0
    for v in values:
        s += v
    return s


def _tiny_step(tiny: _Tiny, W: list, B: list, GW: list, GB: list, scale: float) -> None:
    """new = old - learning_rate * gradient, in place, as the vectorised loop computes it."""
    step = tiny.lr * scale
    for li, (w, gw, b, gb) in enumerate(zip(W, GW, B, GB)):
        for row, grow in zip(w, gw):
            for i, g in enumerate(grow):
                row[i] = row[i] - step * g
        if tiny.layers[li][4]:
            for j, g in enumerate(gb):
                b[j] = b[j] - step * g


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
