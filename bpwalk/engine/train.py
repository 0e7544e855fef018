"""A run: the updates of a training, each made by the path that serves it, with the loss
history, the divergence checks and what the trace keeps.

Three paths make an update, all from the formulas of bpwalk.functions and the rules of
bpwalk.optimizers: the explained path (explain.py: quantity by quantity, written out as
Steps) for the updates a user reads; for the others, the tiny loop (tiny.py: plain floats
in code written for the network) where the network is tiny, else the vectorised loop
(fast.py). `run` chooses in one place, `_train` with `_unread`.
"""

from __future__ import annotations

import gc
import itertools
import math
import time
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np

from bpwalk import optimizers
from bpwalk.engine.checks import EngineError, check_bound, check_finite
from bpwalk.engine.explain import _explain, _explained, _locate_nonfinite, _rounder, _SweptPath
from bpwalk.engine.fast import _FastPath
from bpwalk.engine.params import Params, Plan, _Slot, batches
from bpwalk.mistakes import Mistake
from bpwalk.scenario import Scenario
from bpwalk.scenario.model import is_graph
from bpwalk.trace import Iteration, Trace

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


def run(scenario: Scenario, iterations: int | None = None, show: set[int] | None = None,
        round_to: int | None = None, mistakes: tuple[Mistake, ...] = (),
        watch: Watch | None = None, record: list | None = None) -> Trace:
    """Train for `iterations` updates; explain the updates numbered in `show` (1-based).

    With `round_to`, every explained step's value is rounded to that many decimals as soon
    as it is computed and the rounded value is used from then on (including the parameters
    carried into later updates); each step also keeps its full-precision value in `exact`.
    With `mistakes`, the explained updates compute the targeted steps with those classic
    mistakes (see Mistake); ``bpwalk check`` uses this to name a student's mistake.
    With `watch`, training tells it how far it is about ten times a second; when it answers
    False, training stops there and the trace holds the updates made so far.
    With `record` (a list), the explained updates write no Steps: each appends every
    quantity it computes, as (a function giving its step ids, an array of their values as
    the Steps would hold them). The judge's runs read a few numbers of a wide network so;
    an engine.Record given the ids of an earlier run of the same update makes none again.
    """
    if is_graph(scenario):  # a circuit (graph:): the graph core's sweeps
        from bpwalk.engine.circuit import run as run_graph

        return run_graph(scenario, iterations, show, round_to, mistakes, watch)
    n_iter = scenario.iterations if iterations is None else iterations
    show = {1} if show is None else {i for i in show if 1 <= i <= n_iter}
    plan = batches(scenario, n_iter)
    full_batch = scenario.batch is None
    params = Params.of(scenario)
    # (a recorded run's trace is not read: its parameters by name cost more than its update)
    first = params.named(scenario) if record is None else {}
    history: list[float] = []
    every = _stride(n_iter)
    shown: list[Iteration] = []

    try:
        params, state, n_iter = _train(scenario, params, plan, n_iter, show, full_batch,
                                       round_to, mistakes, history, shown, every, watch,
                                       record)
    except EngineError as e:
        e.history = list(itertools.takewhile(math.isfinite, history))
        e.updates = [*range(0, n_iter, every)][:len(e.history)] if every > 1 else None
        raise
    final = params.named(scenario) if record is None else {}
    return Trace(scenario=scenario, iterations=shown, loss_history=history,
                 loss_updates=[*range(0, n_iter, every), n_iter] if every > 1 else None,
                 params_first=first, params_final=final,
                 total_iterations=n_iter, round_to=round_to,
                 param_change=_changes(first, final, round_to), state_final=state)


def _train(scenario: Scenario, params: Params, plan: list[list[int]], n_iter: int,
           show: set[int], full_batch: bool, round_to: int | None,
           mistakes: tuple[Mistake, ...], history: list[float], shown: list[Iteration],
           every: int, watch: Watch | None = None, record: list | None = None
           ) -> tuple[Params, dict[str, dict[str, float]], int]:
    """The updates of `run`: fast where nobody reads them, explained where shown. Returns
    the parameters after them, the optimizer's state per parameter name, and the number of
    updates made (fewer than n_iter when `watch` stopped the run)."""
    fast = _path(scenario, plan)
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
                history.append(fast.dataset_loss(scenario, params))
            with collector_paused():
                it, params, state, loss = _explained(scenario, params, state, explained, idx,
                                                     round_to, mistakes, record)
            shown.append(it)
            if full_batch and kept:
                history.append(loss)
            check_bound(scenario, history, explained)
            number = explained + 1
            if watch is not None and not watch(explained, loss):
                break
        n_iter = number - 1  # the updates made: fewer than asked when `watch` stopped the run
        history.append(fast.dataset_loss(scenario, params))
        if not math.isfinite(history[-1]):
            _locate_nonfinite(scenario, params, state, n_iter + 1, plan[0] if plan else [0])
        check_bound(scenario, history, n_iter + 1)
    return params, _named_state(fast.layout, state), n_iter


Path = _FastPath | _SweptPath


def _path(scenario: Scenario, plan: Plan) -> Path:
    """The path of the updates nobody reads: the fast loops (vectorised, or the tiny loop
    they hold) serve chains of dense layers; a network with another kind of layer
    (convolution, pooling) trains on the explained path's arrays, without Steps."""
    if all(lay.kind == "dense" for lay in scenario.layers):
        return _FastPath(scenario, plan)
    return _SweptPath(scenario)


def _named_state(layout: list[_Slot], state: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """The optimizer's state per parameter name: {"m": {"w1": ...}, "v": {...}}."""
    if not state:  # plain SGD's (the judge's runs of a wide network: 55k names each)
        return {}
    names = [n for s in layout for n in s.names]
    return {kind: dict(zip(names, flat.tolist())) for kind, flat in state.items()}


def _changes(first: dict[str, float], final: dict[str, float],
             round_to: int | None) -> dict[str, float]:
    """final - first per parameter (rounded like the trace, so 0.35891648 - 0.4 reads -0.04108352)."""
    names = list(first)
    diff = _rounder(round_to)(np.array([final[n] - first[n] for n in names], dtype=np.float64))
    return dict(zip(names, diff.tolist()))


@contextmanager
def collector_paused():
    """Pause Python's cyclic garbage collector while Steps are built (and, in the judge and
    `check`, while they are read).

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


# Told (updates made, the latest loss) while training; answers whether to go on.
Watch = Callable[[int, float], bool]
WATCH_EVERY = 0.1  # seconds between two calls of a Watch, about


def _watched(watch: Watch | None, fast: Path, scenario: Scenario, params: Params,
             state: dict[str, np.ndarray], plan: Plan, start: int, stop: int,
             history: list[float], every: int) -> tuple[Params, dict[str, np.ndarray], int]:
    """_unread from `start` to `stop` in spans of about WATCH_EVERY seconds, telling
    `watch` after each; the parameters, the optimizer's state and the next update to make
    (below `stop` when `watch` asked to stop). Splitting the loop changes no number: each
    update reads only the parameters and state the one before left."""
    if watch is None:
        return (*_unread(fast, scenario, params, state, plan, start, stop, history, every),
                stop)
    span = 16  # doubled until a span takes WATCH_EVERY / 2: a run's speed is unknown at first
    while start < stop:
        end = min(stop, start + span)
        began = time.perf_counter()
        params, state = _unread(fast, scenario, params, state, plan, start, end, history,
                                   every)
        if time.perf_counter() - began < WATCH_EVERY / 2:
            span *= 2
        start = end
        if not watch(start - 1, history[-1]):
            break
    return params, state, start


def _unread(fast: Path, scenario: Scenario, params: Params,
               state: dict[str, np.ndarray], plan: Plan, start: int, stop: int,
               history: list[float], every: int) -> tuple[Params, dict[str, np.ndarray]]:
    """Updates start..stop-1 nobody reads: in plain floats where the network is tiny (see
    tiny.Tiny.of), else (and from an update the floats could not make) vectorised. With
    `_train`'s choice of the explained updates, the one place a path is chosen."""
    begun, kept = (params, state, start), len(history)
    if fast.tiny is not None:
        params, state, start = fast.tiny.updates(params, state, start, stop, history, every)
    params, state = fast.updates(scenario, params, state, plan, start, stop, history, every)
    if not _finite_state(state):
        del history[kept:]  # the losses of the updates made again, up to the first bad one
        _locate_state(fast, scenario, *begun, plan, stop, history, every)
    return params, state


def _finite_state(state: dict[str, np.ndarray]) -> bool:
    return all(np.isfinite(a).all() for a in state.values())


def _locate_state(fast: Path, scenario: Scenario, params: Params,
                  state: dict[str, np.ndarray], start: int, plan: Plan, stop: int,
                  history: list[float], every: int) -> None:
    """A non-finite optimizer state (v = g² past 1.8e308, with a huge weight decay) is
    divergence, though the parameters stay finite (m / √inf = 0: the loss goes flat). The
    span's updates are made again one at a time, checked here rather than in the loop (no
    cost to a run that stays finite), and the first whose state is not finite is explained
    to name the step."""
    for number in range(start, stop):
        after, new_state = fast.updates(scenario, params, state, plan, number, number + 1,
                                        history, every)
        if not _finite_state(new_state):
            steps, _, _, _ = _explain(scenario, params, state, number, plan[number - 1], None)
            check_finite(steps, number)
            break
        params, state = after, new_state
    raise EngineError(f"update {min(number, stop - 1)}: the optimizer's state is not finite; "
                      f"try a smaller learning_rate (now {scenario.learning_rate:g}) or "
                      "weight_decay")


