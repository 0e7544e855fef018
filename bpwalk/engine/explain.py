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
from typing import NamedTuple

import numpy as np

from bpwalk import optimizers
from bpwalk.engine.checks import EngineError, check_finite
from bpwalk.engine.params import Params, _flat, _layout, _Slot, _unflat
from bpwalk.graph.layers import Context, LossArrays
from bpwalk.graph.network import Network, network
from bpwalk.mistakes import Mistake
from bpwalk.scenario import Scenario
from bpwalk.trace import Iteration, Operand, Step


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
        """_sweep's rounding in a recorded run: a quantity the caller rounds is rounded
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
    sw = _sweep(scenario, params, state, number, idx, round_to, record=recorded)
    if scenario.input_gradients:  # (its quantity is recorded; its Steps are not kept)
        sw.net.layers[0].input_gradient(sw.ctx, sw.arrays[0], params.weights[0], None, None)
    recorded.close()
    if not all(np.isfinite(q).all() for _, q in record[start:]):
        raise EngineError(f"update {number}: a value is not finite")
    return Iteration(number, [i + 1 for i in idx], [], {}, {}), sw.new, sw.state, sw.loss.batch



# ----------------------------------------------------------------------------- explained path


def _rounder(round_to: int | None):
    if round_to is None:
        return lambda a: a
    from bpwalk.numbers import half_up_floats  # decimal: only a --round run pays for it

    return lambda a: half_up_floats(a, round_to)


class _Swept(NamedTuple):
    """One update's arrays, swept forward and back through the graph, and its update."""

    ctx: Context
    net: Network
    arrays: list  # each layer's record of arrays, in the chain's order
    loss: LossArrays
    out: np.ndarray  # the output layer's out (rows are samples)
    layout: list[_Slot]
    seen: list  # the optimizer's quantities, for the update's Steps
    new: Params
    state: dict[str, np.ndarray]


def _sweep(scenario: Scenario, params: Params, state: dict[str, np.ndarray], number: int,
           idx: list[int], round_to: int | None, mistakes: tuple[Mistake, ...] = (),
           record: _Recorded | None = None) -> _Swept:
    """Update `number`'s arrays: the graph's nodes swept forward in topological order, then
    back in reverse, then the optimizer's rule. No Steps: `_explain` writes them from this,
    and a network the fast loops do not serve trains its unread updates on this alone."""
    many = len(idx) > 1
    sfx = [f"@{i + 1}" if many else "" for i in idx]
    r = _rounder(round_to) if record is None or round_to is None else record.round
    inj = _Inject(mistakes) if record is None else record  # a recorded run: see _Recorded
    ctx = Context(r, inj, idx, sfx, sfx if many else [""],
                  [i + 1 if many else None for i in idx], scenario.reduction == "mean",
                  scenario)
    net = network(scenario)
    weights, biases = params.weights, params.biases

    # ---- forward: each layer's arrays from what feeds it (rows are samples), then the loss
    arrays = []
    a = scenario.x[idx]
    for node, w, b in zip(net.layers, weights, biases):
        arrays.append(node.forward(ctx, w, b, a))
        a = arrays[-1].out
    loss = net.loss.forward(ctx, a)

    # ---- backward, in reverse: each node's dout from the node it feeds (the weights from
    # before the update). Each layer's gradients are found as soon as its deltas are, so
    # that the mistake "updated weights in the backward pass" has the updated weights.
    dout = net.loss.input_gradient(ctx, a)
    for li in range(len(arrays) - 1, -1, -1):
        node, arr = net.layers[li], arrays[li]
        arr.dout = dout
        node.backward(ctx, arr)
        if li:
            dout = node.input_gradient(ctx, arr, weights[li], net.layers[li - 1],
                                       arrays[li - 1])

    # ---- update: the optimizer's rule (plain SGD: new = old - learning_rate * gradient)
    layout = _layout(scenario)
    names = np.array([n for s in layout for n in s.names], dtype=object)
    seen: list[tuple[str, np.ndarray, tuple, str]] = []
    r, inj = ctx.r, ctx.inj

    def see(kind: str, value: np.ndarray, terms=(), fn: str = "", variants=None) -> np.ndarray:
        value = r(inj(lambda: np.array([f"{kind}:{n}" for n in names], dtype=object), value,
                      variants() if variants and inj.mistakes else {}))
        seen.append((kind, value, terms, fn))
        return value

    grads = Params([arr.grad_w for arr in arrays], [arr.grad_b for arr in arrays])
    new_flat, new_state = optimizers.update(
        scenario.optimizer, _flat(layout, params), _flat(layout, grads), state, number,
        scenario.learning_rate, see)
    new = _unflat(layout, new_flat, params)
    return _Swept(ctx, net, arrays, loss, a, layout, seen, new, new_state)


def _explain(scenario: Scenario, params: Params, state: dict[str, np.ndarray], number: int,
             idx: list[int], round_to: int | None, mistakes: tuple[Mistake, ...] = ()
             ) -> tuple[list[Step], Params, dict[str, np.ndarray], float]:
    """Update `number`, quantity by quantity, written out as Steps in computation order:
    the graph's nodes swept forward in topological order, then back in reverse."""
    sw = _sweep(scenario, params, state, number, idx, round_to, mistakes)
    ctx, net, arrays = sw.ctx, sw.net, sw.arrays
    weights, biases = params.weights, params.biases
    many = len(idx) > 1

    # ---- the Steps, in the order a tutorial writes them: forward sample by sample, the
    # loss, backward sample by sample (output layer first), the batch's gradients, update.
    # A node's dout is written by the node it feeds (its `dout_steps`): the next node that
    # computes (a reshape such as flatten passes it on unchanged), or the loss.
    steps: list[Step] = []
    add = steps.append
    # A node that couples the batch's samples (batchnorm: one μ and σ² over all of them)
    # splits the sweep: every sample reaches it before its batch statistics are written,
    # and every sample's gradient reaches it before its sums over the batch are.
    for seg in _segments(net, range(len(arrays))):
        if _couples(net.layers[seg[0]]):
            net.layers[seg[0]].batch_forward_steps(add, ctx, arrays[seg[0]])
        for b in range(len(idx)):
            for li in seg:
                net.layers[li].forward_steps(add, ctx, arrays[li], weights[li], biases[li], b)
    net.loss.steps(add, ctx, sw.loss, sw.out, len(arrays))
    feeds = [_feeds(net, li) for li in range(len(arrays))]
    for seg in _segments(net, range(len(arrays) - 1, -1, -1), after=True):
        for b in range(len(idx)):
            for li in seg:
                d = feeds[li]
                net.layers[li].backward_steps(
                    add, ctx, arrays[li], b, net.loss if d is None else net.layers[d],
                    None if d is None else arrays[d], None if d is None else weights[d])
        if _couples(net.layers[seg[-1]]):
            net.layers[seg[-1]].batch_backward_steps(add, ctx, arrays[seg[-1]])
    if many:
        for li in range(len(arrays) - 1, -1, -1):
            net.layers[li].batch_steps(add, ctx, arrays[li])
    if scenario.input_gradients:  # each sample's right after its own backward pass
        first = net.layers[0]
        din = first.input_gradient(ctx, arrays[0], weights[0], None, None)
        for d in first.input_gradient_steps(ctx, din, weights[0], arrays[0]):
            at = max(k for k, s in enumerate(steps) if s.phase == "backward"
                     and (s.sample == d.sample or d.sample is None))
            steps.insert(at + 1, d)
    steps += _update_steps(scenario, sw.layout, state, number, sw.seen)
    return steps, sw.new, sw.state, sw.loss.batch


def _couples(node) -> bool:
    return getattr(node, "couples", False)


def _segments(net: Network, order, after: bool = False) -> list[list[int]]:
    """The layers in `order` cut at each node that couples the batch: a segment starts at
    it (forward), or ends with it (`after`: the backward sweep)."""
    out: list[list[int]] = []
    for li in order:
        if not out or (not after and _couples(net.layers[li])) or \
                (after and _couples(net.layers[out[-1][-1]])):
            out.append([])
        out[-1].append(li)
    return out


def _feeds(net: Network, li: int) -> int | None:
    """The node that layer `li`'s out feeds, past any reshape (None: the loss)."""
    for d in range(li + 1, len(net.layers)):
        if not net.layers[d].reshape:
            return d
    return None


class _SweptPath:
    """The unread updates of a network the fast loops (fast.py, tiny.py) do not serve, one
    with convolution or pooling layers: each update is `_sweep`, the explained path's
    arrays, without Steps. The same methods as fast._FastPath, for engine/train.py."""

    tiny = None  # the tiny loop serves dense chains only

    def __init__(self, scenario: Scenario) -> None:
        self.layout = _layout(scenario)
        self.size = self.layout[-1].span.stop if self.layout else 0

    def dataset_loss(self, scenario: Scenario, params: Params) -> float:
        """The loss over the whole data set, per `reduction` (loss_history's entries)."""
        idx = list(range(len(scenario.x)))
        ctx = Context(_rounder(None), _Inject(()), idx, [""] * len(idx), [""],
                      [None] * len(idx), scenario.reduction == "mean", scenario)
        net = network(scenario)
        a = scenario.x
        for node, w, b in zip(net.layers, params.weights, params.biases):
            a = node.forward(ctx, w, b, a).out
        per_sample = net.loss.forward(ctx, a).per_sample
        return float(per_sample.mean() if scenario.reduction == "mean" else per_sample.sum())

    def updates(self, scenario: Scenario, params: Params, state: dict[str, np.ndarray],
                plan, start: int, stop: int, history: list[float], every: int = 1
                ) -> tuple[Params, dict[str, np.ndarray]]:
        """Updates start..stop-1; their losses appended to `history` as fast.py does."""
        from bpwalk.engine.checks import check_bound

        full_batch = scenario.batch is None
        for number in range(start, stop):
            idx = plan[number - 1]
            kept = (number - 1) % every == 0
            if not full_batch and kept:
                history.append(self.dataset_loss(scenario, params))
            sw = _sweep(scenario, params, state, number, idx, None)
            if not math.isfinite(sw.loss.batch):
                _locate_nonfinite(scenario, params, state, number, idx)
            if full_batch and kept:
                history.append(sw.loss.batch)
            if kept:
                check_bound(scenario, history, number)
            params, state = sw.new, sw.state
        return params, state


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
