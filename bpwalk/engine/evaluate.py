"""One step's formula again, on other operand values: what the judge asks of a student's own
earlier numbers (evaluate), and the range of a step over boxes of operands (bounds)."""

from __future__ import annotations

import math

import numpy as np

from bpwalk import optimizers
from bpwalk.functions import ACTIVATIONS, LOSSES
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

    kind, fn, terms = step.kind, step.fn, step.terms
    if kind in ("val", "local") or fn == "ascent":  # a circuit's step (bpwalk.graph)
        from bpwalk.graph.sweep import evaluate as evaluate_graph

        with np.errstate(all="ignore"):
            return evaluate_graph(step, v)
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
