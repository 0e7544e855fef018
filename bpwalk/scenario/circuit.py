"""The ``graph:`` scenario (a circuit): its YAML read into a validated GraphScenario.

The validator (validate.py) hands over when the file has ``graph:``. Expressions are parsed
and compiled by bpwalk.graph (which never sees YAML); their problems come back with an offset
in the expression text, made FILE:LINE:COL here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from bpwalk.graph.compile import LOSS_NODE, compile_graph
from bpwalk.graph.expr import FUNCTIONS
from bpwalk.graph.ops import GRAPH_LOSSES
from bpwalk.scenario.errors import choice_hint, did_you_mean
from bpwalk.scenario.format import FORMAT, MAX_ITERATIONS, keys
from bpwalk.scenario.model import GraphScenario

if TYPE_CHECKING:
    from bpwalk.scenario.validate import _Validator

# the keys a graph: scenario may have beside graph: (the others describe layers)
GRAPH_TOP = ("name", "title", "source", "description", "graph", "learning_rate", "ascent",
             "iterations", "notation")
MAX_GRAPH_NODES = 10_000  # names in a circuit: far above one anyone works through by hand


def read(v: _Validator, top: dict, default_name: str) -> GraphScenario | None:
    """The scenario of a file with ``graph:`` (problems recorded on `v`)."""
    for key, (knode, _) in top.items():
        if key not in GRAPH_TOP:
            v.err(knode, f"'{key}' describes a layers: network, not a graph: scenario; "
                         "remove it (a circuit's values go under graph: inputs and params)")
    if "graph" not in top:
        return None

    def opt_text(key: str, default: str) -> str:
        return (v.text(top[key][1], key) or default) if key in top else default

    name = opt_text("name", default_name)
    title, source = opt_text("title", ""), opt_text("source", "")
    description = opt_text("description", "")
    lr = None
    if "learning_rate" in top:
        lr = v.number(top["learning_rate"][1], "learning_rate")
        if lr is not None and lr <= 0:
            v.err(top["learning_rate"][1], f"learning_rate must be above 0, not {lr:g}; "
                                           "leave it out to keep the params as given")
            lr = None
    ascent = v.flag(top, "ascent", False)
    iterations = 1
    if "iterations" in top:
        iterations = v.integer(top["iterations"][1], "iterations", 1, MAX_ITERATIONS,
                               "bpwalk's limit; see docs/limits.md") or 1
    if iterations > 1 and "learning_rate" not in top:
        v.err(top["iterations"][1], "iterations above 1 need a learning_rate: without one "
                                    "nothing changes between updates; add 'learning_rate: 0.01'")
    notation = v.notation(top)
    graph = _graph(v, top["graph"][1])
    if v.problems or graph is None:
        return None
    return GraphScenario(name, title, source, description, v.file, graph, lr, ascent,
                         iterations, notation)


def _graph(v: _Validator, node: yaml.Node) -> Any:
    m = v.mapping(node, "graph", keys("graph"))
    if m is None:
        return None
    for k in FORMAT["graph"]:
        if k.required and k.name not in m:
            v.err(node, f"graph is missing '{k.name}'; {k.fix}")
    declared: dict[str, yaml.Node] = {}
    ok = True

    def declare(name: str | None, where: yaml.Node, what: str) -> bool:
        if name is None:
            return False
        if name in FUNCTIONS:
            v.err(where, f"'{name}' is the name of a function; call the {what} something "
                         f"else, like {name}_{what[0]}")
            return False
        if name in declared:
            v.err(where, f"the name '{name}' is used twice (line "
                         f"{declared[name].start_mark.line + 1}); every input, param and "
                         "node needs its own name")
            return False
        declared[name] = where
        return True

    values: dict[str, dict[str, float]] = {"inputs": {}, "params": {}}
    for key, named in values.items():
        if key not in m:
            continue
        entries = _pairs(v, m[key][1], f"graph {key}")
        if entries is None:
            ok = False
            continue
        for knode, vnode in entries:
            name = v.name(knode, f"graph {key}")
            number = v.number(vnode, f"{key[:-1]} {knode.value}")
            if declare(name, knode, key[:-1]) and number is not None:
                named[name] = number  # type: ignore[index]
            else:
                ok = False
    nodes: list[tuple[str, str]] = []
    places: dict[str, yaml.Node] = {}
    if "nodes" in m:
        entries = _pairs(v, m["nodes"][1], "graph nodes")
        if entries is None:
            ok, entries = False, []
        elif not entries:
            v.err(m["nodes"][1], "graph nodes is empty; write at least one, like 'f: x * y'")
            ok = False
        if len(entries) > MAX_GRAPH_NODES:
            v.err(m["nodes"][1], f"graph nodes has {len(entries):,} nodes, more than "
                                 f"bpwalk's limit of {MAX_GRAPH_NODES:,}; a walkthrough is "
                                 "for circuits you can follow")
            return None
        for knode, vnode in entries:
            name = v.name(knode, "graph nodes")
            if not isinstance(vnode, yaml.ScalarNode) or vnode.value == "":
                v.err(vnode, f"node {knode.value}: write its expression on the line, like "
                             f"'{knode.value}: x + y'")
                ok = False
                continue
            if not declare(name, knode, "node"):
                ok = False
                continue
            text = v.text(vnode, f"node {name}")
            if text is None:
                ok = False
                continue
            nodes.append((name, text))  # type: ignore[arg-type]
            places[name] = vnode  # type: ignore[index]
    output = v.name(m["output"][1], "graph output") if "output" in m else None
    if output is not None and output not in dict(nodes) and ok:  # (a node's own problem
        #                                                             is reported already)
        names = [n for n, _ in nodes]
        hint = did_you_mean(output, names) or (f"; name one of the nodes ({', '.join(names)})"
                                               if names else "")
        if output in declared:
            hint = f"; {output} is an input or param, not a node{hint}"
        v.err(m["output"][1], f"output '{output}' is not a node{hint}")
        output = None
    loss, target = None, None
    if "loss" in m:
        loss = v.text(m["loss"][1], "graph loss")
        if loss is not None and loss not in GRAPH_LOSSES:
            v.err(m["loss"][1], f"unknown loss '{loss}' for a graph"
                                f"{choice_hint(loss, GRAPH_LOSSES)}")
            loss = None
        if LOSS_NODE in declared:
            v.err(declared[LOSS_NODE], f"'{LOSS_NODE}' names the node loss: adds after the "
                                       "output; call this one something else")
            loss = None
        if "target" not in m:
            v.err(m["loss"][0], "loss needs a target to compare the output with; add "
                                "'target: 1' under graph")
            loss = None
    if "target" in m:
        target = v.number(m["target"][1], "graph target")
        if "loss" not in m:
            v.err(m["target"][0], "target is for a loss; add 'loss: half_squared_error' "
                                  "under graph, or remove target")
    if not ok or output is None or v.problems or ("loss" in m and (loss is None or
                                                                  target is None)):
        return None
    graph, errors = compile_graph(values["inputs"], values["params"], nodes, output, loss,
                                  target)
    for e in errors:
        where = places[e.node]
        if e.at is None:
            v.err(where, e.message)
        else:
            line, col = _position(where, e.at)
            from bpwalk.scenario.errors import Problem

            v.problems.append(Problem(v.file, line, col, f"node {e.node}: {e.message}"))
    return graph


def _pairs(v: _Validator, node: yaml.Node, what: str) -> list | None:
    """A mapping's (key node, value node) pairs, in file order; keys must be unique."""
    if isinstance(node, yaml.ScalarNode) and v.scalar(node) is None:
        return []  # `params:` left empty
    if not isinstance(node, yaml.MappingNode):
        v.err(node, f"{what} must be a mapping of names, like {{x: -2, y: 5}}, not a list "
                    "or a single value")
        return None
    seen: set[str] = set()
    out = []
    for k, val in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value in seen:
            v.err(k, f"'{k.value}' appears twice in {what}; keep one")
            continue
        seen.add(getattr(k, "value", ""))
        out.append((k, val))
    return out


def _position(node: yaml.ScalarNode, at: int) -> tuple[int, int]:
    """FILE:LINE:COL (1-based) of character `at` of a scalar's text, where the file's text
    can be followed: a plain or quoted scalar on one line; else the scalar's start."""
    m = node.start_mark
    one_line = node.end_mark.line == m.line
    quoted = node.style in ("'", '"')
    if one_line and (quoted or not node.style):  # (plain: None, or "" from libyaml)
        return m.line + 1, m.column + 1 + at + quoted
    return m.line + 1, m.column + 1
