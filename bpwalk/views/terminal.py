"""The worked solution in the terminal: rich renderables laid out from a Trace.

The layout follows Mazur's post: a heading, the network table, then for each explained update
the forward pass layer by layer, the loss, the backward pass (output layer first), the update,
and finally a summary. Every step is written the way it is on paper::

    net_h1 = w₁·i₁ + w₂·i₂ + b₁·1          the formula in symbols
           = 0.15·0.05 + 0.2·0.1 + 0.35·1   the numbers substituted
           = 0.3775                          the result

Only formatting happens here: every number comes from the trace, every symbol and formula from
``bpwalk.notation``. Steps are laid out in a three-column grid (symbol, '=', expression) whose
expression column wraps at spaces, so a long formula breaks between terms and a number (one
word, far narrower than any column) is never split or cut.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import groupby

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.rule import Rule
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from bpwalk.notation import (
    activation_formula,
    formula,
    loss_formula,
    number,
    optimizer_settings,
    shortcut,
    symbol,
    update_rule,
)
from bpwalk.trace import PHASE_TITLES, PHASES, Iteration, Step, Trace

# Styles are names, not colours, so --no-color / NO_COLOR / a pipe drop them in one place.
TITLE = "bold"
HEADING = "bold cyan"
SUBHEADING = "bold"
RESULT = "bold green"
NOTE = "italic yellow"
DIM = "dim"

LOSS_TABLE_ROWS = 11  # iterations listed in the loss table when there are more
CURVE_HEIGHT = 8


def console(no_color: bool = False, ascii_only: bool = False, **kwargs) -> Console:
    """A console for the walkthrough: colour only on a terminal, never with NO_COLOR.

    Rich already writes no escape codes to a pipe. With --no-color or NO_COLOR (set and not
    empty, per no-color.org) there is no colour system at all, so bold goes too: plain text.
    """
    plain = no_color or bool(os.environ.get("NO_COLOR"))
    if plain:
        kwargs["color_system"] = None
    return Console(highlight=False, emoji=False, markup=False, safe_box=True,
                   no_color=plain, **kwargs)


@dataclass(frozen=True)
class Walkthrough:
    """The whole worked solution of a trace, as one rich renderable."""

    trace: Trace
    style: str = "unicode"  # or "ascii"
    decimals: int = 9
    phase: str | None = None  # show only this phase of each update

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from heading(self.trace, self.style, self.decimals)
        yield Text()
        yield network_table(self.trace, self.style, self.decimals)
        yield Text()
        yield from data_table(console, options, self.trace, self.style, self.decimals)
        phases = PHASES if self.phase is None else (self.phase,)
        for it in self.trace.iterations:
            yield from iteration(self.trace, it, phases, self.style, self.decimals)
        if self.trace.total_iterations > 1 and self.phase in (None, "loss"):
            yield from loss_history(self.trace, options.max_width, self.style, self.decimals)
        if self.phase in (None, "update"):
            yield from summary(console, options, self.trace, self.style, self.decimals)


# ----------------------------------------------------------------------------- small pieces


def _arrow(style: str) -> str:
    return "->" if style == "ascii" else "→"


def _box(style: str) -> box.Box:
    return box.ASCII if style == "ascii" else box.SIMPLE_HEAD


def _rule(title: str, style: str) -> Rule:
    return Rule(Text(title, style=HEADING), characters="-" if style == "ascii" else "─",
                style=DIM, align="left")


def _sub(text: str) -> Text:
    return Text(text, style=SUBHEADING)


def _note(text: str) -> Text:
    return Text(text, style=NOTE)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def _layer_name(trace: Trace, layer: int) -> str:
    sc = trace.scenario
    if layer == 0:  # dE/d(input) steps (input_gradients)
        return f"Inputs: {', '.join(sc.inputs)}, dE/d(input) (input_gradients)"
    lay = sc.layers[layer - 1]
    kind = "output layer" if layer == len(sc.layers) else "hidden layer"
    return f"Layer {layer}, {kind}: {', '.join(lay.neurons)} ({lay.activation})"


# ----------------------------------------------------------------------------- heading


def heading(trace: Trace, style: str, decimals: int) -> Iterator[RenderableType]:
    sc = trace.scenario
    yield Text(sc.title or sc.name, style=TITLE)
    if sc.source:
        yield Text(f"Source: {sc.source}")
    acts = ", ".join(f"layer {i} {lay.activation}" for i, lay in enumerate(sc.layers, 1))
    lines = [
        ("Network", f"{sc.shape} ({acts})"),
        ("Loss", f"{loss_formula(sc.loss, style)}  ({sc.loss})"),
        ("Learning rate", f"{symbol('lr', style)} = {number(sc.learning_rate, decimals)}"),
        *([("Optimizer", (f"{sc.optimizer.name} "
                          f"({optimizer_settings(sc.optimizer, style, decimals)})"))]
          if not sc.optimizer.plain else []),
        ("Biases", "updated" if sc.update_biases else "fixed (update_biases: false)"),
    ]
    n = len(sc.x)
    if n > 1:
        per = "full batch" if sc.batch is None else f"batches of {sc.batch}"
        data = f"{_plural(n, 'sample')}, {per}, E is the {sc.reduction} of the samples' losses"
        lines.append(("Data", data))
    if sc.init:  # starting values drawn by init: say which, and how to draw them again
        drawn = ", ".join(symbol("param:" + n, style) for n in sc.init["drawn"])
        how = f"init ({sc.init['scheme']}, seed {sc.init['seed']})"
        lines.append(("Drawn", f"{drawn} by {how}; values in the network table"))
    its = _plural(trace.total_iterations, "update")
    shown = ", ".join(str(it.number) for it in trace.iterations) or "none"
    lines.append(("Updates", f"{its}; explained in full: {shown}"))
    pad = max(len(label) for label, _ in lines) + 2
    for label, text in lines:
        yield Text.assemble((f"{label}:".ljust(pad), DIM), text)
    if trace.round_to is not None:
        yield _note(f"Values are rounded to {trace.round_to} decimals as soon as they are "
                    "computed, and the rounded value is carried forward, as a hand calculation "
                    "would.")


# ----------------------------------------------------------------------------- network


def network_table(trace: Trace, style: str, decimals: int) -> Table:
    """Every parameter: name, what it connects, starting value (numbered row by row)."""
    sc = trace.scenario
    arrow = _arrow(style)
    table = Table(title="Network", title_justify="left", title_style=HEADING, box=_box(style))
    table.add_column("parameter", no_wrap=True)
    table.add_column(f"from {arrow} to", overflow="fold")
    table.add_column("value", justify="right", no_wrap=True)
    layer = 0
    for c in sc.connections:
        if c.layer != layer:
            table.add_section()
            layer = c.layer
        # inputs are written as in the formulas (i₁); neurons by name, as in net_h1
        source = ("bias" if c.source is None else
                  symbol("in:" + c.source, style) if c.layer == 0 else c.source)
        table.add_row(symbol("param:" + c.param, style),
                      f"{source} {arrow} {', '.join(c.targets)}",
                      number(trace.params_first[c.param], decimals))
    return table


def data_table(console: Console, options: ConsoleOptions, trace: Trace, style: str,
               decimals: int) -> Iterator[RenderableType]:
    """Inputs and targets: one column per value if that fits, else one cell per sample."""
    sc = trace.scenario
    names = [symbol("in:" + n, style) for n in sc.inputs]
    outs = [symbol("target:" + n, style) for n in sc.outputs]
    rows = [([number(v, decimals) for v in x], [number(v, decimals) for v in t])
            for x, t in zip(sc.x.tolist(), sc.targets.tolist())]
    wide = Table(title="Inputs and targets", title_justify="left", title_style=HEADING,
                 box=_box(style))
    wide.add_column("sample", no_wrap=True, justify="right")
    for name in names + outs:
        wide.add_column(name, no_wrap=True, justify="right")
    for s, (x, t) in enumerate(rows, 1):
        wide.add_row(str(s), *x, *t)
    if _fits(console, options, wide):
        yield wide
        return
    # Too many columns for the terminal: name=value words wrap between pairs, never inside.
    narrow = Table(title="Inputs and targets", title_justify="left", title_style=HEADING,
                   box=_box(style))
    narrow.add_column("sample", no_wrap=True, justify="right")
    narrow.add_column("inputs")
    narrow.add_column("targets")
    for s, (x, t) in enumerate(rows, 1):
        narrow.add_row(str(s), "  ".join(f"{n}={v}" for n, v in zip(names, x)),
                       "  ".join(f"{n}={v}" for n, v in zip(outs, t)))
    yield narrow


# ----------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class StepBlock:
    """Steps as 'symbol = formula = numbers = result', one '=' line each, the '=' aligned::

        net_h1 = w₁·i₁ + w₂·i₂ + b₁·1
               = 0.15·0.05 + 0.2·0.1 + 0.35·1
               = 0.3775

    An expression too long for the line wraps at a space (between terms) and continues under
    its own start; a number is one word, so it is never split. A blank line separates neurons
    and a step's note (e.g. 'weights from before the update') follows it. Laid out by hand
    rather than as a rich grid table: this is most of the output, and a table measures every
    cell several times (it was half of `bpwalk run`'s time). Public so other views (the
    stepper) can show a step the same way.
    """

    steps: tuple[Step, ...]
    style: str = "unicode"
    decimals: int = 9
    ask: bool = False  # the quiz: '= ?' where the result goes, so it can be asked for

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        rows: list[tuple[str | None, str, str] | None] = []
        subject = None
        for step in self.steps:
            if subject is not None and step.subject != subject:
                rows.append(None)  # a blank line between neurons
            subject = step.subject
            rows.extend(_step_rows(step, self.style, self.decimals, self.ask))
        lhs_width = max(cell_len(r[0]) for r in rows if r is not None and r[0] is not None)
        width = options.max_width
        # A very long symbol would leave no room: then it gets a line of its own and the
        # expressions follow as '  = ...'.
        narrow = width - (lhs_width + 3) < 24
        indent = 4 if narrow else lhs_width + 3
        new_line = Segment.line()
        for row in rows:
            if row is None:
                yield new_line
                continue
            lhs, expr, style = row
            if lhs is None:  # a note, under the expressions
                first = " " * indent
            elif narrow:
                if lhs:
                    yield Segment(lhs)
                    yield new_line
                first = "  = "
            else:
                first = lhs + " " * (lhs_width - cell_len(lhs)) + " = "
            rich_style = console.get_style(style) if style else None
            for k, line in enumerate(wrap_expression(expr, width - indent)):
                # Segments, not Text: the line is already wrapped, wrapping it again costs.
                yield Segment(first if k == 0 else " " * indent)
                yield Segment(line, rich_style)
                yield new_line


# Where a formula may break: after a space, or after a product's '·' / '*'. Numbers contain
# neither, so a number is never split.
_ATOM = re.compile(r"[^ ·*]+[·*]? *|[·*] *| +")


def wrap_expression(expr: str, width: int) -> list[str]:
    """Greedy line filling over atoms; an atom wider than the line (never a number at any
    usable width) is folded as a last resort rather than pushed past the edge."""
    lines: list[str] = []
    line = ""
    for atom in _ATOM.findall(expr):
        if line and cell_len((line + atom).rstrip()) > width:
            lines.append(line.rstrip())
            line = ""
        line += atom
        while cell_len(line.rstrip()) > width:  # a single atom too wide for the line
            cut = _fit(line, width)
            lines.append(line[:cut])
            line = line[cut:]
    if line.strip() or not lines:
        lines.append(line.rstrip())
    return lines


def _fit(text: str, width: int) -> int:
    """How many characters of text fit in width cells (at least one)."""
    n = 0
    while n < len(text) and cell_len(text[:n + 1]) <= width:
        n += 1
    return max(n, 1)


def steps_grid(steps: Iterable[Step], style: str, decimals: int) -> StepBlock:
    return StepBlock(tuple(steps), style, decimals)


def _step_rows(step: Step, style: str, decimals: int, ask: bool = False
               ) -> list[tuple[str | None, str, str]]:
    f = formula(step, style, decimals)
    rows: list[tuple[str | None, str, str]] = [(f.lhs, f.symbolic, "")]
    if f.numeric != f.symbolic:
        rows.append(("", f.numeric, ""))
    if ask:
        rows.append(("", "?", RESULT))
        short = shortcut(step, style, decimals)
        if short is not None:
            rows.append(("", f"{short.symbolic} = {short.numeric}", ""))
        return rows + ([(None, f"({step.note})", NOTE)] if step.note else [])
    if f.result != f.numeric:
        rows.append(("", f.result, RESULT))
    else:  # the formula is the value itself (a bias input of 1, a linear unit)
        rows[-1] = (rows[-1][0], rows[-1][1], RESULT)
    short = shortcut(step, style, decimals)
    if short is not None:
        rows.append(("", f"{short.symbolic} = {short.numeric} = {short.result}", ""))
    if step.note:
        rows.append((None, f"({step.note})", NOTE))
    return rows


# ----------------------------------------------------------------------------- one update


def iteration(trace: Trace, it: Iteration, phases: Iterable[str], style: str,
              decimals: int) -> Iterator[RenderableType]:
    n = trace.total_iterations
    title = f"Update {it.number} of {n}" if n > 1 else f"Update {it.number}"
    if len(trace.scenario.x) > 1:
        title += f" (sample{'s' * (len(it.samples) != 1)} {', '.join(map(str, it.samples))})"
    yield Text()
    yield _rule(title, style)
    by_phase = {p: [s for s in it.steps if s.phase == p] for p in PHASES}
    for phase in phases:
        yield Text()
        yield Text(PHASE_TITLES[phase], style=HEADING)
        yield from _PHASE_VIEWS[phase](trace, by_phase[phase], style, decimals)


def _by_sample(steps: list[Step]) -> list[tuple[int | None, list[Step]]]:
    """Consecutive runs of steps with the same sample, in trace order."""
    return [(k, list(g)) for k, g in groupby(steps, key=lambda s: s.sample)]


def _by_layer(steps: list[Step]) -> list[tuple[int | None, list[Step]]]:
    """Consecutive runs of steps in the same layer, in trace order."""
    return [(k, list(g)) for k, g in groupby(steps, key=lambda s: s.layer)]


def _sample_heading(trace: Trace, sample: int, style: str, decimals: int) -> Text:
    sc = trace.scenario
    x = ", ".join(f"{symbol('in:' + n, style)} = {number(v, decimals)}"
                  for n, v in zip(sc.inputs, sc.x[sample - 1].tolist()))
    return _sub(f"Sample {sample} ({x})")


def _forward(trace: Trace, steps: list[Step], style: str, decimals: int) -> RenderResult:
    for sample, group in _by_sample(steps):
        if sample is not None:
            yield _sample_heading(trace, sample, style, decimals)
        for layer, layer_steps in _by_layer(group):
            act = trace.scenario.layers[layer - 1].activation
            yield _sub(_layer_name(trace, layer))
            yield Text(f"net = Σ w·input + b·1, then {activation_formula(act, style)}"
                       if style == "unicode" else
                       f"net = sum w*input + b*1, then {activation_formula(act, style)}",
                       style=DIM)
            yield steps_grid(layer_steps, style, decimals)
            yield Text()


def _loss(trace: Trace, steps: list[Step], style: str, decimals: int) -> RenderResult:
    yield Text(loss_formula(trace.scenario.loss, style), style=DIM)
    for sample, group in _by_sample(steps):
        if sample is not None:
            yield _sub(f"Sample {sample}")
        else:
            batch = [s for s in group if s.id == "loss" and any("@" in t[0].ref for t in s.terms)]
            if batch:
                yield _sub(f"The batch: the {trace.scenario.reduction} of the samples' losses")
        yield steps_grid(group, style, decimals)


def _backward(trace: Trace, steps: list[Step], style: str, decimals: int) -> RenderResult:
    sc = trace.scenario
    last = len(sc.layers)
    per_sample = [s for s in steps if not (s.sample is None and len(sc.x) > 1
                                           and _is_batch_grad(s))]
    combined = [s for s in steps if s not in per_sample]
    d = "∂" if style == "unicode" else "d"
    delta = "δ" if style == "unicode" else "delta"
    times = "·" if style == "unicode" else "*"
    yield Text(f"{delta} = {d}E/{d}net; {d}E/{d}w = {delta}{times}(the input the weight carries); "
               "output layer first", style=DIM)
    for sample, group in _by_sample(per_sample):
        if sample is not None:
            yield _sub(f"Sample {sample}")
        for layer, layer_steps in _by_layer(group):
            yield _sub(_layer_name(trace, layer))
            if 0 < layer < last:
                nxt = ", ".join(symbol("param:" + w, style)
                                for row in sc.layers[layer].weight_names for w in row)
                yield _note(f"{d}E/{d}out of a hidden neuron sums {delta}{times}weight over the next "
                            f"layer, with the weights from before the update ({nxt} as in the "
                            "network table, not their new values).")
            if layer and sc.layers[layer - 1].activation == "softmax":
                yield _note(f"softmax: {d}out_j/{d}net_k = out_j({delta}_jk − out_k), so each "
                            f"{delta} sums over every output (the Jacobian)."
                            .replace("−", "-" if style == "ascii" else "−"))
            yield steps_grid(layer_steps, style, decimals)
            yield Text()
    if combined:
        how = "mean" if sc.reduction == "mean" else "sum"
        yield _sub(f"Gradients of the batch: the {how} of the per-sample gradients")
        yield steps_grid(combined, style, decimals)
        yield Text()


def _is_batch_grad(step: Step) -> bool:
    return step.kind == "grad" and all(len(t) == 1 and "@" in t[0].ref for t in step.terms)


def _update(trace: Trace, steps: list[Step], style: str, decimals: int) -> RenderResult:
    sc = trace.scenario
    lr = symbol("lr", style)
    if sc.optimizer.plain:
        yield Text(f"new = old − {lr}·gradient" if style == "unicode"
                   else f"new = old - {lr}*gradient", style=DIM)
    else:
        for part in update_rule(sc.optimizer, style).split(",  "):
            yield Text(part, style=DIM)
    for layer, group in _by_layer(steps):
        yield _sub(_layer_name(trace, layer))
        yield steps_grid(group, style, decimals)
        yield Text()
    fixed = ([symbol("param:" + b, style) for lay in sc.layers for b in lay.bias_names]
             if not sc.update_biases else [])
    if fixed:
        yield _note(f"{', '.join(fixed)} {'is' if len(fixed) == 1 else 'are'} not updated "
                    "(update_biases: false).")


_PHASE_VIEWS = {"forward": _forward, "loss": _loss, "backward": _backward, "update": _update}


# ----------------------------------------------------------------------------- many updates


def _sampled(n: int, rows: int) -> list[int]:
    """Which loss_history positions to list: all when few, else evenly spread, ends kept."""
    if n <= rows:
        return list(range(n))
    picks = {round(k * (n - 1) / (rows - 1)) for k in range(rows)}
    return sorted(picks)


def loss_history(trace: Trace, width: int, style: str, decimals: int) -> RenderResult:
    history = trace.loss_history
    yield Text()
    yield _rule("Loss over all updates", style)
    table = Table(box=_box(style))
    table.add_column("after update", justify="right", no_wrap=True)
    table.add_column("loss E", justify="right", no_wrap=True)
    for i in _sampled(len(history), LOSS_TABLE_ROWS):
        table.add_row("start" if i == 0 else str(i), number(history[i], decimals))
    yield table
    yield curve(history, width, style, decimals)


def curve(history: list[float], width: int, style: str, decimals: int) -> Text:
    """The loss drawn as dots: x is the update, y the loss, min to max.

    The y axis is logarithmic when the loss spans two decades or more (training curves
    usually do; on a linear axis they collapse into an 'L'). The arithmetic here only places
    dots on a grid: no number it computes is shown, the axis labels are values of the trace.
    """
    hi, lo = max(history), min(history)
    top, bottom = number(hi, decimals), number(lo, decimals)
    label = max(len(top), len(bottom))
    suffix = "  updates"
    cols = max(10, min(60, width - label - 2 - len(suffix)))
    rows = CURVE_HEIGHT
    log = lo > 0 and hi / lo >= 100

    def y(v: float) -> float:
        return math.log10(v) if log else v

    span = y(hi) - y(lo)
    grid = [[" "] * cols for _ in range(rows)]
    dot = "*" if style == "ascii" else "•"
    last = len(history) - 1
    for c in range(cols):
        v = history[round(c * last / (cols - 1))] if last else history[0]
        r = 0 if span == 0 else round((y(hi) - y(v)) / span * (rows - 1))
        grid[r][c] = dot
    bar = "|" if style == "ascii" else "│"
    text = Text(f"loss E by update{' (log scale)' if log else ''}\n", style=DIM)
    for r, line in enumerate(grid):
        tick = top if r == 0 else bottom if r == rows - 1 else ""
        text.append(f"{tick:>{label}} {bar}", style=DIM)
        text.append("".join(line).rstrip() + "\n")
    corner, dash = ("+", "-") if style == "ascii" else ("└", "─")
    text.append(" " * label + " " + corner + dash * cols + "\n", style=DIM)
    text.append(" " * (label + 2) + "0" + str(last).rjust(cols - 1) + suffix, style=DIM)
    return text


# ----------------------------------------------------------------------------- summary


def summary(console: Console, options: ConsoleOptions, trace: Trace, style: str,
            decimals: int) -> RenderResult:
    sc = trace.scenario
    arrow = _arrow(style)
    n = trace.total_iterations
    yield Text()
    yield _rule(f"Summary after {_plural(n, 'update')}", style)
    rows = [(symbol("param:" + name, style), number(trace.params_first[name], decimals),
             number(trace.params_final[name], decimals), number(trace.param_change[name], decimals))
            for name in sc.param_names]
    table = Table(box=_box(style))
    table.add_column("parameter", no_wrap=True)
    table.add_column("before", justify="right", no_wrap=True)
    table.add_column(arrow, no_wrap=True)
    table.add_column("after", justify="right", no_wrap=True)
    table.add_column("change", justify="right", no_wrap=True)
    for name, before, after, change in rows:
        table.add_row(name, before, arrow, Text(after, style=RESULT), change)
    if _fits(console, options, table):
        yield table
    else:  # a narrow terminal: one line per parameter, wrapping between the numbers
        for name, before, after, change in rows:
            yield Text.assemble(f"{name}: {before} {arrow} ", (after, RESULT),
                                f"  (change {change})")
    yield Text(f"Loss before: E = {number(trace.loss_history[0], decimals)}")
    yield Text.assemble(f"Loss after {_plural(n, 'update')}: E = ",
                        (number(trace.loss_history[-1], decimals), RESULT))


def _fits(console: Console, options: ConsoleOptions, table: Table) -> bool:
    """Whether a table's no-wrap columns fit, so rich need not cut a number to make room.

    Measured against an unlimited width: Measurement.get clamps to the width it is given.
    """
    return Measurement.get(console, options.update_width(10**6), table).minimum <= options.max_width


def walkthrough(trace: Trace, style: str = "unicode", decimals: int = 9,
                phase: str | None = None) -> Group:
    """The walkthrough as a Group (convenience for callers that want a plain renderable)."""
    return Group(Walkthrough(trace, style, decimals, phase))
