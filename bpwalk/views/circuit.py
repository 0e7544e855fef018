"""The worked solution of a circuit (a graph: scenario): terminal (rich) and Markdown.

Same order in both: the heading and the circuit's operations (each node as written and the
steps it is broken into), then per explained update the forward pass, the loss, the backward
pass gate by gate, from the output back (a table per gate: each input's value, the local
gradient, the upstream gradient and the input's gradient; then the chain rule written out
with numbers), the inputs' and parameters' gradients (a value that feeds several gates sums
one term per path), the update, and a summary. Only formatting: every number is a value of
the trace, every formula comes from bpwalk.notation (and, for an operation, its entry in
bpwalk.graph.ops).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from bpwalk.notation import Pen, Profile, profile
from bpwalk.trace import Iteration, Step, Trace

# ----------------------------------------------------------------------------- the outline


class Gate(NamedTuple):
    """The backward pass at one operation (or, with node "", the inputs' and params')."""

    node: str  # the operation's name; "" for the leaves' gradients
    value: Step | None  # its val step
    steps: tuple[Step, ...]  # grad:NODE, then local:NODE/NAME for each name it reads
    rows: tuple[tuple[str, Step | None, Step, Step | None], ...]  # per input: (name, val,
    #                                                local, the input's grad)


def phases(it: Iteration) -> dict[str, list[Step]]:
    out: dict[str, list[Step]] = {"forward": [], "loss": [], "backward": [], "update": []}
    for s in it.steps:
        out[s.phase].append(s)
    return out


def gates(it: Iteration) -> list[Gate]:
    """The backward steps grouped by gate, in the order they are computed."""
    by_id = {s.id: s for s in it.steps}
    back = [s for s in it.steps if s.phase == "backward"]
    out: list[Gate] = []
    leaves: list[Step] = []
    i = 0
    while i < len(back):
        s = back[i]
        val = by_id.get(f"val:{s.subject}")
        if s.kind == "grad" and val is not None and val.terms:  # an operation
            group = [s]
            i += 1
            while i < len(back) and back[i].kind == "local":
                group.append(back[i])
                i += 1
            rows = tuple((loc.id.rpartition("/")[2], by_id.get(f"val:{loc.id.rpartition('/')[2]}"),
                          loc, by_id.get(f"grad:{loc.id.rpartition('/')[2]}"))
                         for loc in group[1:])
            out.append(Gate(s.subject, val, tuple(group), rows))
        else:
            leaves.append(s)
            i += 1
    if leaves:
        out.append(Gate("", None, tuple(leaves), ()))
    return out


def _names(names) -> str:
    return ", ".join(names) if names else "none"


# ----------------------------------------------------------------------------- terminal


class Walkthrough:
    """A circuit's worked solution as one rich renderable (the `layers:` one's twin)."""

    def __init__(self, trace: Trace, style: str = "unicode", decimals: int = 9,
                 phase: str | None = None, notation: Profile | None = None,
                 keep_zeros: bool = False) -> None:
        self.trace = trace
        self.style = style
        self.decimals = decimals
        self.phase = phase
        self.notation = notation
        self.keep_zeros = keep_zeros

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from bpwalk.views import drawing
        from bpwalk.views import terminal as T

        tr, sc = self.trace, self.trace.scenario
        pen = Pen(self.style, self.decimals, profile(self.notation, sc), self.keep_zeros)
        yield Text(sc.title or sc.name, style=T.TITLE)
        if sc.source:
            yield Text(f"Source: {sc.source}", style=T.DIM)
        if sc.description:
            yield Text(sc.description)
        yield Text(_about(sc, pen))
        yield Text()
        yield T._rule("The circuit", self.style)
        yield _circuit_table(tr, pen)
        yield drawing.opening(tr, self.decimals, self.style == "ascii")
        for it in tr.iterations:
            yield from _update(tr, it, pen, self.phase, console, options)
            if self.phase is None:  # the circuit with this update's values and gradients
                yield from (Text(), drawing.after(tr, it, self.decimals, self.style == "ascii"))
        if tr.total_iterations > 1 and self.phase in (None, "loss", "forward"):
            what = "Loss" if sc.graph.loss else f"Output {sc.graph.result}"
            yield from T.loss_history(tr.loss_history, options.max_width, pen,
                                      tr.loss_updates, f"{what} over all updates")
        if self.phase in (None, "update", "backward"):
            yield from _summary(tr, pen, console, options)


def _about(sc, pen: Pen) -> str:
    g = sc.graph
    ops = len(g.nodes) - (1 if g.loss else 0)
    params = sc.param_names
    text = (f"A circuit of {ops} operation{'s' * (ops != 1)}: inputs {_names(sc.inputs)}; "
            f"params {_names(params)}; output {g.result}")
    if g.loss:
        text += (f", compared with the target {pen.num(g.target)} by the loss {g.loss}")
    text += "."
    if sc.learning_rate is not None:
        way = "up (ascent)" if sc.ascent else "down"
        text += (f" Each update steps the params {way} their gradients, "
                 f"{pen.sym('lr')} = {pen.num(sc.learning_rate)}.")
    return text


def _circuit_table(tr: Trace, pen: Pen) -> Table:
    from rich import box

    g = tr.scenario.graph
    steps = {s.id: s for s in tr.iterations[0].steps} if tr.iterations else {}
    table = Table(box=box.ASCII if pen.style == "ascii" else box.SIMPLE_HEAD)
    table.add_column("node", no_wrap=True)
    table.add_column("written as")
    table.add_column("its steps (gates)")
    owners: dict[str, list[str]] = {}
    for n in g.nodes:
        s = steps.get(f"val:{n.name}")
        f = pen.formula(s) if s is not None else None
        owners.setdefault(n.owner, []).append(f"{f.lhs} = {f.symbolic}" if f else n.name)
    for owner, lines in owners.items():
        table.add_row(owner, g.written.get(owner, f"{g.loss}({g.result}, target)"),
                      "\n".join(lines))
    return table


def _update(tr: Trace, it: Iteration, pen: Pen, only: str | None, console: Console,
            options: ConsoleOptions) -> Iterator[RenderableType]:
    from bpwalk.views import terminal as T

    n = tr.total_iterations
    yield Text()
    yield T._rule(f"Update {it.number} of {n}" if n > 1 else f"Update {it.number}", pen.style)
    ph = phases(it)
    if only in (None, "forward"):
        yield Text()
        yield Text("Forward pass", style=T.HEADING)
        given = [s for s in ph["forward"] if not s.terms]
        yield Text("Given: " + ", ".join(f"{pen.sym(s.id)} = {pen.num(s.value)}"
                                         for s in given) + ". Then each gate in turn, from "
                   "the inputs to the output:", style=T.DIM)
        yield T.steps_grid([s for s in ph["forward"] if s.terms], pen)
    if ph["loss"] and only in (None, "loss"):
        yield Text()
        yield Text("Loss", style=T.HEADING)
        yield T.steps_grid(ph["loss"], pen)
    if only in (None, "backward"):
        yield Text()
        yield Text("Backward pass", style=T.HEADING)
        yield Text(_backward_rule(tr, pen), style=T.DIM)
        for gate in gates(it):
            yield Text()
            yield from _gate(gate, pen, console, options)
    if ph["update"] and only in (None, "update"):
        yield Text()
        yield Text("Update", style=T.HEADING)
        yield T.steps_grid(ph["update"], pen)


def _backward_rule(tr: Trace, pen: Pen) -> str:
    g = tr.scenario.graph
    seed = pen.sym(f"grad:{g.output}")
    return (f"From the output back, {seed} = 1: at each gate, an input's gradient is the "
            "gate's upstream gradient times its local gradient, summed over every gate the "
            "input feeds (one term per path).")


def _gate(gate: Gate, pen: Pen, console: Console, options: ConsoleOptions
          ) -> Iterator[RenderableType]:
    from rich import box

    from bpwalk.views import terminal as T

    if not gate.node:
        yield T._sub("Inputs and params: their gradients")
        yield T.steps_grid(gate.steps, pen)
        return
    assert gate.value is not None
    f = pen.formula(gate.value)
    upstream = gate.steps[0]
    yield T._sub(f"Gate {f.lhs} = {f.symbolic} = {f.result}; upstream gradient "
                 f"{pen.sym(upstream.id)} = {pen.num(upstream.value)}")
    if gate.rows:
        # numbers only: a symbol per cell would not fit 80 columns (the steps below have them)
        table = Table(box=box.ASCII if pen.style == "ascii" else box.SIMPLE_HEAD, padding=(0, 1))
        for title, justify in (("input", "left"), ("value", "right"), ("local gradient", "right"),
                               ("upstream", "right"), ("gradient", "right")):
            table.add_column(title, justify=justify, no_wrap=True)  # type: ignore[arg-type]
        for name, val, local, grad in gate.rows:
            paths = len(grad.terms) if grad is not None else 0
            gtext = pen.num(grad.value) if grad is not None else ""
            if paths > 1:
                gtext += f" (sum of {paths} paths)"
            table.add_row(pen.sym(f"val:{name}"), pen.num(val.value) if val else "",
                          pen.num(pen.value(local)), pen.num(upstream.value), gtext)
        if _fits(console, options, table):  # else none: the steps below say the same
            yield table
    yield T.steps_grid(gate.steps, pen)


def _fits(console: Console, options: ConsoleOptions, table: Table) -> bool:
    """Whether a table fits whole: else a view writes its rows as lines (rich would cut
    the numbers to make a table fit)."""
    return Measurement.get(console, options.update_width(10**6), table).maximum <= \
        options.max_width


def _summary(tr: Trace, pen: Pen, console: Console, options: ConsoleOptions
             ) -> Iterator[RenderableType]:
    from rich import box

    from bpwalk.views import terminal as T

    sc = tr.scenario
    n = tr.total_iterations
    frame = box.ASCII if pen.style == "ascii" else box.SIMPLE_HEAD
    yield Text()
    yield T._rule(f"Summary after {n} update{'s' * (n != 1)}", pen.style)
    if tr.iterations:
        it = tr.iterations[0]
        rows = []
        for leaf in sc.graph.leaves:
            grad = it.step(f"grad:{leaf.name}")
            rows.append((pen.sym(f"val:{leaf.name}"), leaf.kind,
                         pen.num(it.step(f"val:{leaf.name}").value),
                         f"{pen.sym(grad.id)} = {pen.num(grad.value)}"))
        table = Table(box=frame, title=f"Gradients at update {it.number}", title_justify="left")
        for title, justify in (("name", "left"), ("is", "left"), ("value", "right"),
                               ("gradient", "right")):
            table.add_column(title, justify=justify, no_wrap=True)  # type: ignore[arg-type]
        for name, kind, value, grad in rows:
            table.add_row(name, kind, value, Text(grad, style=T.RESULT))
        if _fits(console, options, table):
            yield table
        else:
            yield Text(f"Gradients at update {it.number}:")
            for name, kind, value, grad in rows:
                yield Text.assemble(f"{name} ({kind}) = {value}: ", (grad, T.RESULT))
    if sc.learning_rate is not None and sc.param_names:
        arrow = "->" if pen.style == "ascii" else "→"
        rows = [(pen.sym(f"val:{p}"), pen.num(tr.params_first[p]), pen.num(tr.params_final[p]),
                 pen.num(tr.param_change[p])) for p in sc.param_names]
        table = Table(box=frame)
        for title, justify in (("param", "left"), ("before", "right"), (arrow, "left"),
                               ("after", "right"), ("change", "right")):
            table.add_column(title, justify=justify, no_wrap=True)  # type: ignore[arg-type]
        for name, before, after, change in rows:
            table.add_row(name, before, arrow, Text(after, style=T.RESULT), change)
        if _fits(console, options, table):
            yield table
        else:
            for name, before, after, change in rows:
                yield Text.assemble(f"{name}: {before} {arrow} ", (after, T.RESULT),
                                    f"  (change {change})")
    what = f"Loss {pen.sym('val:loss')}" if sc.graph.loss else f"Output {sc.graph.result}"
    if sc.learning_rate is None:
        yield Text.assemble(f"{what} = ", (pen.num(tr.loss_history[0]), T.RESULT))
        return
    yield Text(f"{what} before: {pen.num(tr.loss_history[0])}")
    yield Text.assemble(f"{what} after {n} update{'s' * (n != 1)}: ",
                        (pen.num(tr.loss_history[-1]), T.RESULT))


# ----------------------------------------------------------------------------- Markdown


def markdown(trace: Trace, decimals: int = 9, notation: Profile | None = None,
             keep_zeros: bool = False) -> str:
    """The circuit's worked solution as Markdown with LaTeX math (ends with one newline)."""
    from bpwalk.views.markdown import code, math, table, text

    sc = trace.scenario
    pen = Pen("latex", decimals, profile(notation, sc), keep_zeros)
    lines: list[str] = [f"# {text(sc.title or sc.name)}", ""]
    if sc.description:
        lines += [text(sc.description), ""]
    rows = []
    if sc.source:
        rows.append(["Source", text(sc.source)])
    rows.append(["Circuit", text(_about(sc, Pen("unicode", decimals, pen.profile)))])
    if pen.profile.name != "mazur":
        rows.append(["Notation", f"{code(pen.profile.name)}: {text(pen.profile.source)}"])
    lines += table(["Scenario", ""], rows)
    lines += ["## The circuit", ""]
    steps = {s.id: s for s in trace.iterations[0].steps} if trace.iterations else {}
    rows = []
    for n in sc.graph.nodes:
        s = steps.get(f"val:{n.name}")
        written = sc.graph.written.get(n.owner, "")
        formula = math(f"{pen.formula(s).lhs} = {pen.formula(s).symbolic}") if s else ""
        rows.append([code(n.owner), code(written) if written else "", code(f"val:{n.name}"),
                     formula])
    lines += table(["Node", "Written as", "Step", "Operation"], rows)

    def display(s: Step) -> str:
        f = pen.formula(s)
        parts = [f.lhs, f.symbolic, f.numeric, f.result]
        kept = [p for i, p in enumerate(parts) if i == 0 or p != parts[i - 1]]
        return "$$" + " = ".join(kept) + "$$"

    def block(group) -> None:
        for s in group:
            lines.extend([display(s), ""])
            if s.note:
                lines.extend([f"*Note: {text(s.note)}.*", ""])
        lines.extend(table(["Id", "Quantity", "Value"],
                           ([code(s.id), math(pen.sym(s.id)), pen.num(pen.value(s))]
                            for s in group)))

    for it in trace.iterations:
        lines += [f"## Update {it.number}", ""]
        ph = phases(it)
        lines += ["### Forward pass", ""]
        given = [s for s in ph["forward"] if not s.terms]
        lines.extend(["The given values:", ""])
        lines.extend(table(["Id", "Quantity", "Value"],
                           ([code(s.id), math(pen.sym(s.id)), pen.num(s.value)] for s in given)))
        lines.extend(["Then each gate in turn, from the inputs to the output:", ""])
        block([s for s in ph["forward"] if s.terms])
        if ph["loss"]:
            lines += ["### Loss", ""]
            block(ph["loss"])
        lines += ["### Backward pass", "", text(_backward_rule(trace, Pen("unicode", decimals,
                                                                          pen.profile))), ""]
        for gate in gates(it):
            if gate.node:
                f = pen.formula(gate.value)
                lines += [f"#### Gate {math(f'{f.lhs} = {f.symbolic}')}", ""]
                up = gate.steps[0]
                lines += table(["Input", "Value", "Local gradient", "Upstream gradient",
                                "Its gradient"],
                               ([math(pen.sym(f"val:{name}")),
                                 pen.num(val.value) if val else "",
                                 math(f"{pen.sym(loc.id)} = {pen.num(loc.value)}"),
                                 math(f"{pen.sym(up.id)} = {pen.num(up.value)}"),
                                 math(f"{pen.sym(grad.id)} = {pen.num(grad.value)}")
                                 if grad else ""]
                                for name, val, loc, grad in gate.rows))
            else:
                lines += ["#### Inputs and params: their gradients", ""]
            block(gate.steps)
        if ph["update"]:
            lines += ["### Update", ""]
            block(ph["update"])
    lines += ["## Summary", ""]
    if trace.iterations:
        it = trace.iterations[0]
        lines += table(["Id", "Name", "Is", "Value", "Gradient"],
                       ([code(f"grad:{leaf.name}"), math(pen.sym(f"val:{leaf.name}")),
                         leaf.kind, pen.num(it.step(f"val:{leaf.name}").value),
                         pen.num(it.step(f"grad:{leaf.name}").value)]
                        for leaf in sc.graph.leaves))
    if sc.learning_rate is not None and sc.param_names:
        n = trace.total_iterations
        lines += table(["Param", "Before", f"After {n} update{'s' * (n != 1)}", "Change"],
                       ([math(pen.sym(f"val:{p}")), pen.num(trace.params_first[p]),
                         pen.num(trace.params_final[p]), pen.num(trace.param_change[p])]
                        for p in sc.param_names))
    what = "Loss" if sc.graph.loss else f"Output {code(sc.graph.result)}"
    rows = [["Before the first update", pen.num(trace.loss_history[0])]]
    if trace.total_iterations > 1 or sc.learning_rate is not None:
        n = trace.total_iterations
        rows.append([f"After {n} update{'s' * (n != 1)}", pen.num(trace.loss_history[-1])])
    lines += table([what, "Value"], rows)
    return "\n".join(lines).rstrip("\n") + "\n"
