"""The operations of a circuit, each defined once: value, local derivatives, formulas, mistakes.

Read an entry as micrograd's engine.py reads: the forward value, and right beside it the
local derivative ∂out/∂arg of each argument, which the reverse sweep multiplies by the
upstream gradient ∂f/∂out. Each entry also holds

- `formula`: the value as a formula tree of bpwalk.formulas (so every notation and every
  printer, Unicode, ASCII, LaTeX, MathML, writes it), given the arguments' trees;
- `local_formula`: each argument's local derivative as a tree (arguments' trees and the
  node's own value `out`, since tanh′ = 1 − out² reads better than 1 − tanh²(x));
- `mistakes`: the classic wrong local derivatives (``bpwalk check`` names a student's
  mistake by re-running the sweep with one injected), kind -> wrong local(args, out).

Arguments are floats (float64). A value outside a function's domain is nan or ±inf, never an
exception: the sweep reports it with the step's id. `local` gives one derivative per argument
position; a literal argument's is computed but never used. Adding an operation is one entry
here: the parser knows every entry that is not an operator as a function of its name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import NamedTuple

from bpwalk.formulas import (
    HALF,
    Abs,
    Call,
    Cases,
    Div,
    Mul,
    Neg,
    Node,
    Num,
    Pow,
    Rel,
    Root,
    Word,
    add,
    exp,
    mul,
    sub,
)

Floats = tuple[float, ...]
Trees = tuple[Node, ...]
ONE, ZERO = Num(1.0), Num(0.0)


class Op(NamedTuple):
    name: str
    arity: int
    value: Callable[[Floats], float]  # (args) -> out
    local: Callable[[Floats, float], Floats]  # (args, out) -> ∂out/∂arg per position
    formula: Callable[[Trees], Node]  # out as a tree of the arguments' trees
    local_formula: Callable[[Trees, Node], Trees]  # (args, out) -> ∂out/∂arg trees
    gate: str  # the gate's label in a table or a drawing: +, −, ·, /, exp, ...
    mistakes: Mapping[str, Callable[[Floats, float], Floats]] = MappingProxyType({})


# -------------------------------------------------------------- safe float arithmetic
# (math raises where NumPy gives inf or nan; a circuit's value is reported, not raised)


def _div(a: float, b: float) -> float:
    try:
        return a / b
    except ZeroDivisionError:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a) * \
            math.copysign(1.0, b)


def _exp(a: float) -> float:
    try:
        return math.exp(a)
    except OverflowError:
        return math.inf


def _log(a: float) -> float:
    if a > 0:
        return math.log(a)
    return -math.inf if a == 0 else math.nan


def _sqrt(a: float) -> float:
    return math.sqrt(a) if a >= 0 else math.nan


def _pow(a: float, k: float) -> float:
    if k == 2.0:  # x·x, as torch's and NumPy's x ** 2 compute it
        return a * a
    try:
        return math.pow(a, k)
    except (ValueError, ZeroDivisionError):  # (−8) ** 0.5, 0 ** −1
        return math.nan if a < 0 else math.inf
    except OverflowError:
        return math.inf


def _sigmoid(a: float) -> float:
    return 1.0 / (1.0 + _exp(-a))


def _sign(a: float) -> float:
    return (a > 0) - (a < 0) if not math.isnan(a) else math.nan


def _ge(a: float, b: float) -> Floats:
    """max's routing: the gradient to the larger input; half to each on a tie (as torch)."""
    return (1.0, 0.0) if a > b else (0.0, 1.0) if b > a else (0.5, 0.5)


def _routed(first: Node, second: Node, op: str) -> Trees:
    """max's (or min's) local derivatives as cases: 1 to the input it passes on."""
    def rows(mine: Node, other: Node) -> Node:
        return Cases(((ONE, Rel(mine, ">", other) if op == ">" else Rel(other, ">", mine)),
                      (HALF, Rel(mine, "=", other)), (ZERO, Word("otherwise"))))
    return rows(first, second), rows(second, first)


# -------------------------------------------------------------- the entries

OPS: dict[str, Op] = {op.name: op for op in (
    Op("add", 2, lambda a: a[0] + a[1], lambda a, o: (1.0, 1.0),
       lambda t: add(t[0], t[1]), lambda t, o: (ONE, ONE), "+"),
    Op("sub", 2, lambda a: a[0] - a[1], lambda a, o: (1.0, -1.0),
       lambda t: sub(t[0], t[1]), lambda t, o: (ONE, Num(-1.0)), "−",
       {"sub_sign_lost": lambda a, o: (1.0, 1.0)}),
    Op("mul", 2, lambda a: a[0] * a[1], lambda a, o: (a[1], a[0]),
       lambda t: mul(t[0], t[1]), lambda t, o: (t[1], t[0]), "·"),
    Op("div", 2, lambda a: _div(a[0], a[1]),
       lambda a, o: (_div(1.0, a[1]), -_div(a[0], a[1] * a[1])),
       lambda t: Div(t[0], t[1]),
       lambda t, o: (Div(ONE, t[1]), Neg(Div(t[0], Pow(t[1], Num(2.0))))), "/",
       {"quotient_sign": lambda a, o: (_div(1.0, a[1]), _div(a[0], a[1] * a[1]))}),
    Op("neg", 1, lambda a: -a[0], lambda a, o: (-1.0,),
       lambda t: Neg(t[0]), lambda t, o: (Num(-1.0),), "−1·"),
    # x ** k: the exponent k is a number (the second argument, a literal)
    Op("pow", 2, lambda a: _pow(a[0], a[1]), lambda a, o: (a[1] * _pow(a[0], a[1] - 1), 0.0),
       lambda t: Pow(t[0], t[1]),
       lambda t, o: (mul(t[1], Pow(t[0], Num(t[1].value - 1.0) if isinstance(t[1], Num)
                                   else sub(t[1], 1))), ZERO), "**"),
    Op("exp", 1, lambda a: _exp(a[0]), lambda a, o: (o,),
       lambda t: exp(t[0]), lambda t, o: (exp(t[0]),), "exp",
       {"exp_local_one": lambda a, o: (1.0,)}),
    Op("log", 1, lambda a: _log(a[0]), lambda a, o: (_div(1.0, a[0]),),
       lambda t: Call("ln", (t[0],)), lambda t, o: (Div(ONE, t[0]),), "ln"),
    Op("sqrt", 1, lambda a: _sqrt(a[0]), lambda a, o: (_div(0.5, o),),
       lambda t: Root(t[0]), lambda t, o: (Div(ONE, mul(2, o)),), "√"),
    Op("abs", 1, lambda a: abs(a[0]), lambda a, o: (float(_sign(a[0])),),
       lambda t: Abs(t[0]), lambda t, o: (Call("sign", (t[0],)),), "abs"),
    Op("tanh", 1, lambda a: math.tanh(a[0]), lambda a, o: (1.0 - o * o,),
       lambda t: Call("tanh", (t[0],)), lambda t, o: (sub(1, Pow(o, Num(2.0))),), "tanh"),
    Op("sigmoid", 1, lambda a: _sigmoid(a[0]), lambda a, o: ((1.0 - o) * o,),
       lambda t: Call("sigma", (t[0],)), lambda t, o: (mul(o, sub(1, o), dot=False),), "σ"),
    Op("relu", 1, lambda a: max(a[0], 0.0), lambda a, o: (1.0 if a[0] > 0 else 0.0,),
       lambda t: Call("max", (ZERO, t[0])),
       lambda t, o: (Cases(((ONE, Rel(t[0], ">", ZERO)), (ZERO, Word("otherwise")))),),
       "relu"),
    Op("max", 2, lambda a: max(a[0], a[1]), lambda a, o: _ge(a[0], a[1]),
       lambda t: Call("max", t), lambda t, o: _routed(t[0], t[1], ">"), "max",
       {"max_to_smaller": lambda a, o: _ge(a[1], a[0]),
        "max_to_both": lambda a, o: (1.0, 1.0)}),
    Op("min", 2, lambda a: min(a[0], a[1]), lambda a, o: _ge(a[1], a[0]),
       lambda t: Call("min", t), lambda t, o: _routed(t[0], t[1], "<"), "min",
       {"max_to_smaller": lambda a, o: _ge(a[0], a[1]),
        "max_to_both": lambda a, o: (1.0, 1.0)}),
)}

# The parser's spelling of each operator -> the entry above; every other entry but neg (a
# unary minus) is a function called by its name, like tanh(x) (the parser reads this)
BINARY = {"+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow"}
FUNCTION_OPS = {name: name for name in OPS if name not in BINARY.values() and name != "neg"}


# -------------------------------------------------------------- losses after `loss:`

def _loss_op(name: str) -> Op:
    """A loss of bpwalk.functions as a two-argument operation (out, target), K = 1: the
    loss's own scalar term and derivative, and its formula trees, written once there."""
    from bpwalk.functions import LOSSES

    loss = LOSSES[name]
    term, deriv = loss.scalar_term, loss.scalar_derivative
    assert term is not None and deriv is not None
    return Op(name, 2, lambda a: term(a[0], a[1], 1), lambda a, o: (deriv(a[0], a[1], 1), 0.0),
              lambda t: _without_k(loss.term_formula(t[1], t[0], ONE)),
              lambda t, o: (_without_k(loss.derivative_formula(t[1], t[0], ONE)), ZERO), name)


def _without_k(tree: Node) -> Node:
    """A loss's formula with its K (the number of outputs) at 1 left out: / 1, ·1."""
    if isinstance(tree, Div) and tree.den == ONE:
        return _without_k(tree.num)
    if isinstance(tree, Neg):
        return Neg(_without_k(tree.arg))
    if isinstance(tree, Mul):
        kept = tuple(f for f in tree.factors if f != ONE)
        return kept[0] if len(kept) == 1 else Mul(kept, tree.dot)
    if isinstance(tree, Div):
        return Div(_without_k(tree.num), _without_k(tree.den))
    return tree


GRAPH_LOSSES = ("half_squared_error", "squared_error", "mean_squared_error",
                "binary_cross_entropy")


def op(name: str) -> Op:
    """The entry called `name`: an operation, or a loss of GRAPH_LOSSES."""
    if name in OPS:
        return OPS[name]
    if name in GRAPH_LOSSES:
        if name not in _LOSS_OPS:
            _LOSS_OPS[name] = _loss_op(name)
        return _LOSS_OPS[name]
    raise KeyError(name)


_LOSS_OPS: dict[str, Op] = {}
