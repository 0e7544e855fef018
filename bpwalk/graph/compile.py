"""A ``graph:`` scenario's nodes -> one graph of named operations in topological order.

Nodes may be listed in any order; each may read inputs, parameters and other nodes, any
number of times. A node written as one big expression is broken into one operation per
operator or function, so every gate of the circuit is a step of its own. Naming: the
operation that gives the node its value keeps the node's name; the ones inside it are
numbered after it in the order they are computed (innermost first, left to right)::

    f: 1 / (1 + exp(-dot))      f.1 = −dot, f.2 = exp(f.1), f.3 = 1 + f.2, f = 1 / f.3

(A dot cannot occur in a name a scenario gives, so these names never clash.) A number in an
expression stays a literal operand of its operation; a minus before a number is part of it.

Problems are CompileErrors naming the node and the offset in its expression text; the
scenario reader turns them into FILE:LINE:COL. Nothing here reads YAML.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import NamedTuple

from bpwalk.graph import expr as E
from bpwalk.graph.ops import BINARY, FUNCTION_OPS

Arg = str | float  # a name (an input, a parameter or a node), or a number literal

LOSS_NODE = "loss"  # the node `loss:` adds after the output; its gradient is seeded with 1


class Leaf(NamedTuple):
    name: str
    value: float
    kind: str  # "input" (not learned) or "param" (updated by a learning_rate step)


class GNode(NamedTuple):
    name: str  # f, or f.1 for an operation inside node f's expression
    op: str  # a key of ops.OPS, or a loss of ops.GRAPH_LOSSES
    args: tuple[Arg, ...]
    owner: str  # the scenario's node this operation belongs to (f for f.1)


class Graph(NamedTuple):
    leaves: tuple[Leaf, ...]  # inputs, then parameters, as the scenario lists them
    nodes: tuple[GNode, ...]  # topological order: every argument is computed before
    output: str  # the node whose gradient is seeded with 1 (LOSS_NODE with a loss)
    written: Mapping[str, str]  # each scenario node -> its expression as written
    result: str  # the scenario's output node (the output, unless a loss follows it)
    loss: str | None = None  # the loss after the output, or None
    target: float | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(leaf.name for leaf in self.leaves) + tuple(n.name for n in self.nodes)

    def consumers(self) -> dict[str, tuple[str, ...]]:
        """Each name -> the operations that read it, in topological order, once each."""
        out: dict[str, list[str]] = {name: [] for name in self.names}
        for n in self.nodes:
            for a in dict.fromkeys(a for a in n.args if isinstance(a, str)):
                out[a].append(n.name)
        return {k: tuple(v) for k, v in out.items()}


class CompileError(NamedTuple):
    node: str  # the scenario node whose expression is wrong ("" for the whole graph)
    at: int | None  # offset in its expression text (None: the node's name itself)
    message: str


def compile_graph(inputs: Mapping[str, float], params: Mapping[str, float],
                  nodes: Iterable[tuple[str, str]], output: str,
                  loss: str | None = None, target: float | None = None
                  ) -> tuple[Graph | None, list[CompileError]]:
    """The graph of the nodes `(name, expression text)` in file order, or the problems."""
    nodes = list(nodes)
    errors: list[CompileError] = []
    trees: dict[str, E.Expr] = {}
    for name, text in nodes:
        try:
            tree = E.parse(text)
        except E.ExprError as e:
            errors.append(CompileError(name, e.at, str(e)))
            continue
        if isinstance(tree, (E.Name, E.Num)):
            what = f"just '{tree.name}'" if isinstance(tree, E.Name) else "just a number"
            errors.append(CompileError(name, tree.at, f"it is {what}, which computes nothing; "
                                       "write an operation (like 'x + y'), or put the value "
                                       "under inputs or params"))
            continue
        trees[name] = tree
    known = [*inputs, *params, *(n for n, _ in nodes)]
    for name, tree in trees.items():
        for ref in E.names(tree):
            if ref.name not in known:
                from bpwalk.scenario.errors import did_you_mean

                close = did_you_mean(ref.name, known)
                errors.append(CompileError(name, ref.at, f"unknown name '{ref.name}'"
                                           f"{close or ''}; a node may use the inputs, the "
                                           "params and the other nodes"))
    if errors:
        return None, errors
    order, cycle = _topological([n for n, _ in nodes], trees)
    if cycle:
        first = cycle[0]
        at = next(r.at for r in E.names(trees[first]) if r.name == cycle[1 % len(cycle)])
        path = " -> ".join([*cycle, cycle[0]])
        return None, [CompileError(first, at, f"the nodes form a cycle ({path}); a node "
                                   "cannot depend on itself, so remove one of these uses")]
    ops: list[GNode] = []
    for name in order:
        _flatten(trees[name], name, ops, [0], top=True)
    final = output
    if loss is not None:
        ops.append(GNode(LOSS_NODE, loss, (output, float(target or 0.0)), LOSS_NODE))
        final = LOSS_NODE
    leaves = tuple(Leaf(n, float(v), "input") for n, v in inputs.items()) + \
        tuple(Leaf(n, float(v), "param") for n, v in params.items())
    return Graph(leaves, tuple(ops), final, MappingProxyType(dict(nodes)), output, loss,
                 None if target is None else float(target)), []


def _topological(listed: list[str], trees: Mapping[str, E.Expr]
                 ) -> tuple[list[str], list[str]]:
    """Kahn's algorithm, taking the earliest listed node that is ready: a file already in
    order keeps it. Returns the order, and a cycle (names) when some nodes are left."""
    index = {n: i for i, n in enumerate(listed)}
    deps = {n: {r.name for r in E.names(trees[n]) if r.name in index} for n in listed}
    users: dict[str, list[str]] = {n: [] for n in listed}
    for n, ds in deps.items():
        for d in ds:
            users[d].append(n)
    waiting = {n: len(ds) for n, ds in deps.items()}
    ready = [index[n] for n in listed if not waiting[n]]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        n = listed[heapq.heappop(ready)]
        order.append(n)
        for u in users[n]:
            waiting[u] -= 1
            if not waiting[u]:
                heapq.heappush(ready, index[u])
    if len(order) == len(listed):
        return order, []
    left = [n for n in listed if waiting[n]]
    # walk from the first left node along unfinished dependencies until a name repeats
    path, seen, n = [], {}, left[0]
    while n not in seen:
        seen[n] = len(path)
        path.append(n)
        n = min((d for d in deps[n] if waiting[d]), key=index.__getitem__)
    return order, path[seen[n]:]


def _flatten(tree: E.Expr, owner: str, out: list[GNode], counter: list[int],
             top: bool = False) -> Arg:
    """Append the operations of `tree` (innermost first); the argument that stands for it."""
    if isinstance(tree, E.Num):
        return tree.value
    if isinstance(tree, E.Name):
        return tree.name
    if isinstance(tree, E.Unary):
        op, args = "neg", (_flatten(tree.arg, owner, out, counter),)
    elif isinstance(tree, E.Binary) and tree.op == "**":
        assert isinstance(tree.right, E.Num)  # the parser allows only a number
        op, args = "pow", (_flatten(tree.left, owner, out, counter), tree.right.value)
    elif isinstance(tree, E.Binary):
        op = BINARY[tree.op]
        args = (_flatten(tree.left, owner, out, counter),
                _flatten(tree.right, owner, out, counter))
    else:
        assert isinstance(tree, E.Call)
        op = FUNCTION_OPS[tree.fn]
        args = tuple(_flatten(a, owner, out, counter) for a in tree.args)
    if top:
        name = owner
    else:
        counter[0] += 1
        name = f"{owner}.{counter[0]}"
    out.append(GNode(name, op, args, owner))
    return name
