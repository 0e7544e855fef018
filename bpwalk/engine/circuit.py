"""A circuit's sweeps: its graph of scalar operations (bpwalk.graph.compile, each operation
defined once in bpwalk.graph.ops) forward in topological order and back, as Steps.

One update of a ``graph:`` scenario:

- forward: ``val:NAME`` for every input and parameter (its given value), then every operation
  in topological order (fn: the operation; terms[0]: its operands, ``val:a`` or ``num``);
  the node ``loss`` a ``loss:`` adds is in the phase "loss";
- backward, from the output back: for each node, ``grad:NODE`` = ∂output/∂NODE (the
  output's seeded with 1), then ``local:NODE/NAME`` = ∂NODE/∂NAME for each name it reads;
  an input or parameter's ``grad:NAME`` comes after every node that reads it. A gradient is
  the sum over the nodes that read the value (its paths to the output) of upstream gradient
  times local gradient, one term per path: the fan-out sum is a step of its own;
- update (only with a learning_rate): ``new:NAME`` = NAME − lr·grad (+ with ``ascent``).

With `round_to`, each value is rounded half-up to that many decimals as soon as it is
computed and the rounded value is used from then on, as a hand calculation does. With
`mistakes`, the explained updates compute the targeted steps wrongly (ops.GRAPH_MISTAKES and
the update's), and everything after from the wrong value, as a student would.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from bpwalk.graph.compile import LOSS_NODE, Graph
from bpwalk.graph.ops import GRAPH_LOSSES, op
from bpwalk.mistakes import Mistake
from bpwalk.trace import Iteration, Operand, Step, Trace

Watch = Callable[[int, float], bool]
ONE = Operand("1", 1.0)

# the update's mistakes, made on new:NAME (the others are on their ops or in _grad)
UPDATE_MISTAKES = ("lr_left_out", "lr_twice", "update_added")


def _rounder(round_to: int | None) -> Callable[[float], float]:
    if round_to is None:
        return lambda v: v
    from bpwalk.numbers import half_up_float

    return lambda v: half_up_float(v, round_to)


class _Sweep:
    """One update of the circuit: every value, local derivative and gradient, recorded as
    Steps when `record` (the explained updates), else only computed (the others)."""

    def __init__(self, g: Graph, lr: float | None, ascent: bool, round_to: int | None,
                 mistakes: tuple[Mistake, ...] = (), record: bool = True) -> None:
        self.g = g
        self.lr = lr
        self.ascent = ascent
        self.r = _rounder(round_to)
        self.wrong = {m.target: m.kind for m in mistakes}
        self.record = record
        self.steps: list[Step] = []
        self.consumers = _live_consumers(g)

    def add(self, sid: str, phase: str, kind: str, subject: str, value: float,
            terms: tuple = (), fn: str = "", note: str = "") -> None:
        if self.record:
            self.steps.append(Step(sid, phase, kind, subject, None, None, value, terms, fn,
                                   note))

    def update(self, leaves: dict[str, float]) -> tuple[dict[str, float], dict[str, float],
                                                          dict[str, float]]:
        """(values, gradients, parameters after the update) from the leaves' values."""
        g, r = self.g, self.r
        val: dict[str, float] = {}
        for leaf in g.leaves:
            val[leaf.name] = leaves[leaf.name]
            self.add(f"val:{leaf.name}", "forward", "val", leaf.name, val[leaf.name],
                     fn=leaf.kind)
        for n in g.nodes:
            args = tuple(val[a] if isinstance(a, str) else a for a in n.args)
            val[n.name] = r(op(n.op).value(args))
            if self.record:
                self.add(f"val:{n.name}", "loss" if n.name == LOSS_NODE else "forward", "val",
                         n.name, val[n.name], (self._operands(n, val),), n.op)
        grad = self.reverse(val)
        new = dict(leaves)
        if self.lr is not None:
            for leaf in g.leaves:
                if leaf.kind == "param":
                    new[leaf.name] = self.step(leaf.name, val[leaf.name], grad[leaf.name])
        return val, grad, new

    def _operands(self, n, val: dict[str, float]) -> tuple[Operand, ...]:
        target = n.op in GRAPH_LOSSES
        return tuple(Operand(f"val:{a}", val[a]) if isinstance(a, str)
                     else Operand("target" if target else "num", a) for a in n.args)

    def reverse(self, val: dict[str, float]) -> dict[str, float]:
        g, r = self.g, self.r
        grad: dict[str, float] = {}
        local: dict[tuple[str, str], float] = {}
        by_name = {n.name: n for n in g.nodes}
        order = [n.name for n in reversed(g.nodes)] + [leaf.name for leaf in g.leaves]
        for name in order:
            grad[name] = r(self._grad(name, grad, local))
            n = by_name.get(name)
            if n is None or (name != g.output and not self.consumers[name]):
                continue  # a leaf, or a node off every path to the output: no locals
            args = tuple(val[a] if isinstance(a, str) else a for a in n.args)
            entry = op(n.op)
            for a in dict.fromkeys(x for x in n.args if isinstance(x, str)):
                sid = f"local:{name}/{a}"
                kind = self.wrong.get(sid)
                per = entry.mistakes[kind](args, val[name]) if kind in entry.mistakes \
                    else entry.local(args, val[name])
                at = [i for i, x in enumerate(n.args) if x == a]
                if kind == "fanout_not_summed":
                    at = at[-1:]
                value = r(math.fsum(per[i] for i in at))
                local[(name, a)] = value
                if self.record:
                    self.add(sid, "backward", "local", name, local[(name, a)],
                             (self._operands(n, val), (Operand(f"val:{name}", val[name]),)),
                             n.op)
        return grad

    def _grad(self, name: str, grad: dict[str, float],
              local: dict[tuple[str, str], float]) -> float:
        sid = f"grad:{name}"
        if name == self.g.output:
            self.add(sid, "backward", "grad", name, 1.0, ((ONE,),), "seed")
            return 1.0
        paths = self.consumers[name]
        kind = self.wrong.get(sid)
        used = paths[-1:] if kind == "fanout_not_summed" else paths
        if kind == "upstream_left_out":
            value = math.fsum(local[(c, name)] for c in used)
        else:
            value = math.fsum(grad[c] * local[(c, name)] for c in used)
        if self.record:
            terms = tuple((Operand(f"grad:{c}", grad[c]),
                           Operand(f"local:{c}/{name}", local[(c, name)])) for c in paths)
            note = "" if paths else f"{name} does not lead to the output: its gradient is 0"
            self.steps.append(Step(sid, "backward", "grad", name, None, None, self.r(value),
                                   terms, "chain", note))
        return value

    def step(self, name: str, value: float, g: float) -> float:
        """The parameter after one step along (ascent) or against its gradient."""
        lr = self.lr
        assert lr is not None
        kind = self.wrong.get(f"new:{name}")
        up = self.ascent != (kind == "update_added")
        rate = 1.0 if kind == "lr_left_out" else lr * lr if kind == "lr_twice" else lr
        new = self.r(value + rate * g if up else value - rate * g)
        self.add(f"new:{name}", "update", "new", name, new,
                 ((Operand(f"val:{name}", value),), (Operand("lr", lr),),
                  (Operand(f"grad:{name}", g),)), "ascent" if self.ascent else "update")
        return new


def _live_consumers(g: Graph) -> dict[str, tuple[str, ...]]:
    """Each name -> the operations that read it and lead to the output (its paths)."""
    live = {g.output}
    for n in reversed(g.nodes):
        if n.name in live:
            live.update(a for a in n.args if isinstance(a, str))
    return {name: tuple(c for c in readers if c in live)
            for name, readers in g.consumers().items()}


# ----------------------------------------------------------------------------- the run


def run(scenario, iterations: int | None = None, show: set[int] | None = None,
        round_to: int | None = None, mistakes: tuple[Mistake, ...] = (),
        watch: Watch | None = None) -> Trace:
    """engine.run for a graph scenario: `iterations` updates, those in `show` explained
    (without a learning_rate nothing changes between them)."""
    g: Graph = scenario.graph
    n_iter = scenario.iterations if iterations is None else iterations
    show = {1} if show is None else {i for i in show if 1 <= i <= n_iter}
    lr, ascent = scenario.learning_rate, scenario.ascent
    leaves = {leaf.name: leaf.value for leaf in g.leaves}
    params = [leaf.name for leaf in g.leaves if leaf.kind == "param"]
    first = {p: leaves[p] for p in params}
    fast = _Sweep(g, lr, ascent, round_to, record=False)
    from bpwalk.engine.train import _stride  # a long run keeps every few losses, as a network's

    every = _stride(n_iter)
    history: list[float] = []
    shown: list[Iteration] = []
    last_told = time.perf_counter()
    made = 0
    for number in range(1, n_iter + 1):
        if number in show:
            sweep = _Sweep(g, lr, ascent, round_to, mistakes)
            val, _, new = sweep.update(leaves)
            if round_to is not None:  # the full-precision values beside the rounded ones
                exact = _Sweep(g, lr, ascent, None, mistakes)
                exact.update(leaves)
                for s, e in zip(sweep.steps, exact.steps):
                    s.exact, s.drift = e.value, s.value - e.value
            _check_finite(sweep.steps, number)
            shown.append(Iteration(number, [1], sweep.steps, {p: leaves[p] for p in params},
                                   {p: new[p] for p in params}))
        else:
            val, grad, new = fast.update(leaves)
            if not all(math.isfinite(v) for v in (*val.values(), *grad.values())):
                _check_finite(_explained_steps(g, lr, ascent, round_to, leaves), number)
                _check_finite([Step(f"val:{g.output}", "forward", "val", g.output, None, None,
                                    math.nan, (), "")], number)  # (not found again: say so)
        if (number - 1) % every == 0:
            history.append(val[g.output])
        leaves = new
        made = number
        if watch is not None and time.perf_counter() - last_told > 0.1:
            last_told = time.perf_counter()
            if not watch(number, val[g.output]):
                break
    val, _, _ = fast.update(leaves)
    history.append(val[g.output])
    final = {p: leaves[p] for p in params}
    r = _rounder(round_to)
    return Trace(scenario=scenario, iterations=shown, loss_history=history,
                 loss_updates=[*range(0, made, every), made] if every > 1 else None,
                 params_first=first, params_final=final, total_iterations=made,
                 round_to=round_to, param_change={p: r(final[p] - first[p]) for p in params})


def _explained_steps(g: Graph, lr: float | None, ascent: bool, round_to: int | None,
                     leaves: dict[str, float]) -> list[Step]:
    sweep = _Sweep(g, lr, ascent, round_to)
    sweep.update(leaves)
    return sweep.steps


def _check_finite(steps: list[Step], number: int) -> None:
    from bpwalk.engine import EngineError

    for s in steps:
        if not math.isfinite(s.value):
            what = s.fn if s.kind == "val" else f"the {s.kind} gradient"
            args = ", ".join(f"{o.value:g}" for o in (s.terms[0] if s.terms else ()))
            at = f" of {args}" if args and s.kind == "val" else ""
            raise EngineError(f"update {number}, step {s.id}: {what}{at} is {s.value}; check "
                              "the values this operation gets (a log or sqrt of a negative "
                              "number, a division by 0), or use a smaller learning_rate")


def evaluate(step: Step, v: Callable[[Operand], float]) -> float:
    """A circuit step's formula on other operand values (the judge's engine.evaluate):
    `v` gives each operand's value."""
    if step.kind == "val" and step.terms:
        return op(step.fn).value(tuple(v(o) for o in step.terms[0]))
    if step.kind == "local":
        args = tuple(v(o) for o in step.terms[0])
        out = v(step.terms[1][0])
        name = step.id.rpartition("/")[2]
        per = op(step.fn).local(args, out)
        return math.fsum(per[i] for i, o in enumerate(step.terms[0]) if o.ref == f"val:{name}")
    return step.value


def mistake_applies(kind: str, step: Step) -> bool:
    """Can `kind` (a key of mistakes.MISTAKES) change this circuit step? (The judge tries
    only these.)"""
    if step.kind == "local":
        name = step.id.rpartition("/")[2]
        reads = sum(o.ref == f"val:{name}" for o in step.terms[0])
        return kind in op(step.fn).mistakes or (kind == "fanout_not_summed" and reads > 1)
    if step.kind == "grad" and step.fn == "chain":
        return kind == "upstream_left_out" or (
            kind == "fanout_not_summed" and len(step.terms) > 1)
    return step.kind == "new" and kind in UPDATE_MISTAKES
