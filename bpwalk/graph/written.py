"""How a circuit's steps read: each step's right-hand side as a formula tree.

notation.rhs hands a circuit's steps (val, local, and the gradients' seed and chain) here;
the operation's own trees come from its entry in ops.py, so every printer and notation
writes them. Nothing here computes a value.
"""

from __future__ import annotations

from bpwalk.formulas import Mul, Node, Num, Sym, Val, add, mul, quantity
from bpwalk.graph.ops import op
from bpwalk.notation import Profile, node
from bpwalk.trace import Operand, Step


def _arg(o: Operand, p: Profile) -> Node:
    """An operand as a tree: a value of the trace by its name, a literal as its number."""
    if o.ref == "num":
        return Num(o.value)
    if o.ref == "target":
        return Val(Sym(p.target), o.value)
    return Val(node(o.ref, p), o.value)


def rhs(step: Step, p: Profile) -> Node:
    kind, fn, terms = step.kind, step.fn, step.terms
    if kind == "val" and not terms:  # an input or parameter: its given value
        return quantity(step.value)
    if kind == "val":
        return op(fn).formula(tuple(_arg(o, p) for o in terms[0]))
    if kind == "local":
        args = tuple(_arg(o, p) for o in terms[0])
        out = _arg(terms[1][0], p)
        name = step.id.rpartition("/")[2]
        per = op(fn).local_formula(args, out)
        mine = [per[i] for i, o in enumerate(terms[0]) if o.ref == f"val:{name}"]
        return mine[0] if len(mine) == 1 else add(*mine)  # a name read twice: a sum
    if fn == "seed":  # ∂f/∂f
        return Num(1.0)
    if fn == "chain":  # Σ over the paths: upstream gradient × local gradient
        if not terms:
            return Num(0.0)
        products = []
        for upstream, local in terms:
            factors = (_arg(local, p), _arg(upstream, p)) if p.local_first else \
                (_arg(upstream, p), _arg(local, p))
            products.append(Mul(factors))
        return products[0] if len(products) == 1 else add(*products)
    if fn == "ascent":  # new = old + lr·grad
        old, lr, g = (_arg(t[0], p) if t[0].ref != "lr" else Val(Sym(p.lr), t[0].value)
                      for t in terms[:3])
        return add(old, mul(lr, g))
    raise ValueError(f"not a circuit step: {step.id}")
