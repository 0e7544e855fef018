"""One step's formula again, on other operand values: what the judge asks of a student's own
earlier numbers (evaluate), and the range of a step over boxes of operands (bounds)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bpwalk import optimizers
from bpwalk.functions import LOSSES
from bpwalk.graph.attention import Attention
from bpwalk.graph.layers import Dense, Dropout, Loss, Norm, Pool
from bpwalk.trace import Operand, Step


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

    writer = _writer(step)
    if writer is None:
        return step.value  # a formula no operation owns: its own value, no slack
    with np.errstate(all="ignore"):
        return writer(step, v)


def _writer(step: Step) -> Callable[[Step, Callable[[Operand], float]], float] | None:
    """The evaluate of the operation that wrote the step: each operation of the graph core
    owns the formulas of the kinds it writes. The gradient reaching a node (dout) is
    written by the node it feeds: the loss for an output neuron, else the next layer."""
    if step.kind in ("dout", "dloss") and step.fn in LOSSES:
        return Loss.evaluate
    if step.kind == "dout" and step.fn == "norm":  # the three paths through a normalisation
        return Norm.evaluate
    return _WRITERS.get(step.kind)


def _circuit(step: Step, v: Callable[[Operand], float]) -> float:
    from bpwalk.engine.circuit import evaluate as evaluate_graph  # only a circuit's judge

    return evaluate_graph(step, v)


_WRITERS = {
    **dict.fromkeys((*Dense.KINDS, "dout"), Dense.evaluate),  # grad: also a circuit's chain
    **dict.fromkeys(Loss.KINDS, Loss.evaluate),
    **dict.fromkeys(Pool.KINDS, Pool.evaluate),  # (Conv writes a dense layer's kinds)
    **dict.fromkeys(Dropout.KINDS, Dropout.evaluate),
    **dict.fromkeys(Norm.KINDS, Norm.evaluate),
    **dict.fromkeys(("new", *optimizers.STEP_KINDS), optimizers.evaluate),
    "val": _circuit, "local": _circuit,
    **dict.fromkeys(Attention.KINDS, Attention.evaluate),
}


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
