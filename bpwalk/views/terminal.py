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

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.rule import Rule
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from bpwalk.notation import Pen, Profile, lookup, profile
from bpwalk.trace import PHASES, Step, Trace
from bpwalk.views import drawing, outline
from bpwalk.views.outline import Phase, Update

# Styles are names, not colours, so --no-color / NO_COLOR / a pipe drop them in one place.
TITLE = "bold"
HEADING = "bold cyan"
SUBHEADING = "bold"
RESULT = "bold green"
NOTE = "italic yellow"
DIM = "dim"

LOSS_TABLE_ROWS = 11  # iterations listed in the loss table when there are more
CURVE_HEIGHT = 8


MIN_WIDTH = 40  # narrower, rich's tables cannot lay out (COLUMNS=2 looped for ever)


def console(no_color: bool = False, ascii_only: bool = False, **kwargs) -> Console:
    """A console for the walkthrough: colour only on a terminal, never with NO_COLOR.

    Rich already writes no escape codes to a pipe. With --no-color or NO_COLOR (set and not
    empty, per no-color.org) there is no colour system at all, so bold goes too: plain text.
    """
    plain = no_color or bool(os.environ.get("NO_COLOR"))
    if plain:
        kwargs["color_system"] = None
    out = Console(highlight=False, emoji=False, markup=False, safe_box=True,
                  no_color=plain, **kwargs)
    if out.width < MIN_WIDTH:  # COLUMNS=0..3 or a 2-column window: tables cannot lay out
        out.size = (MIN_WIDTH, out.height)  # pinned only then: a wider terminal may resize
    return out


class Walkthrough:
    """The whole worked solution of a trace, as one rich renderable.

    (A plain class: a dataclass costs a millisecond to define, and `bpwalk run` starts for
    every student; the same holds for the renderables below.)
    """

    __slots__ = ("decimals", "entries", "keep_zeros", "notation", "phase", "style", "trace")

    def __init__(self, trace: Trace, style: str = "unicode", decimals: int = 9,
                 phase: str | None = None, notation: Profile | str | None = None,
                 keep_zeros: bool = False, entries: bool = True) -> None:
        self.entries = entries  # an attention head's entries one by one (else its matrices)
        self.trace = trace
        self.style = style  # or "ascii"
        self.decimals = decimals
        self.phase = phase  # show only this phase of each update
        self.notation = notation  # a profile, or its name (bpwalk.notation.PROFILES); None: mazur
        self.keep_zeros = keep_zeros  # --decimals given: trailing zeros kept

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if getattr(self.trace.scenario, "graph", None) is not None:  # a circuit: its view
            from bpwalk.views import circuit

            yield circuit.Walkthrough(self.trace, self.style, self.decimals, self.phase,
                                      self.notation, self.keep_zeros)
            return
        pen = Pen(self.style, self.decimals, profile(self.notation, self.trace.scenario),
                  self.keep_zeros, lookup(self.trace))
        phases = PHASES if self.phase is None else (self.phase,)
        doc = outline.document(self.trace, pen.profile, phases, self.entries)
        yield from heading(doc.heading, pen)
        yield Text()
        yield drawing.opening(self.trace, self.decimals, self.style == "ascii", pen.profile)
        yield Text()
        yield network_table(doc.params, pen)
        yield Text()
        yield from data_table(console, options, doc.samples, pen)
        for it, up in zip(self.trace.iterations, doc.updates):
            yield from iteration(doc, up, pen)
            if self.phase is None:  # the network with this update's values filled in
                yield from (Text(), drawing.after(self.trace, it, self.decimals,
                                                  self.style == "ascii", pen.profile))
        if self.trace.total_iterations > 1 and self.phase in (None, "loss"):
            yield from loss_history(self.trace.loss_history, options.max_width, pen,
                                    self.trace.loss_updates)
        if self.phase in (None, "update"):
            yield from summary(console, options, self.trace, doc.params, pen)


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


def _layer_name(h: outline.Heading, layer: int) -> str:
    if layer == 0:  # dE/d(input) steps (input_gradients)
        return f"Inputs: {', '.join(h.inputs)} (input_gradients)"
    lay = h.layers[layer - 1]
    if lay.what:
        return f"Layer {lay.number}, {lay.what}"
    kind = "output layer" if lay.output else "hidden layer"
    return f"Layer {lay.number}, {kind}: {', '.join(lay.neurons)} ({lay.activation})"


# ----------------------------------------------------------------------------- heading


def heading(h: outline.Heading, pen: Pen) -> Iterator[RenderableType]:
    yield Text(h.title, style=TITLE)
    if h.source:
        yield Text(f"Source: {h.source}")
    acts = ", ".join(f"layer {lay.number} {lay.activation}" for lay in h.layers
                     if lay.activated)
    lines = [
        ("Network", f"{h.shape} ({acts})" if acts else h.shape),
        ("Loss", f"{pen.write(h.loss_rule)}  ({h.loss})"),
        ("Learning rate", f"{pen.sym('lr')} = {pen.num(h.learning_rate)}"),
        *([("Optimizer", f"{h.optimizer} ({pen.write(h.optimizer_settings)})")]
          if h.optimizer_settings is not None else []),
        ("Biases", {"fixed": "fixed (update_biases: false)"}.get(h.biases, h.biases)),
    ]
    if pen.profile.name != "mazur":
        lines.append(("Notation", f"{pen.profile.name}: {pen.profile.source}"))
    n = h.samples
    if n > 1:
        per = "full batch" if h.batch is None else f"batches of {h.batch}"
        data = f"{_plural(n, 'sample')}, {per}, E is the {h.reduction} of the samples' losses"
        lines.append(("Data", data))
    if h.init:  # starting values drawn by init: say which, and how to draw them again
        drawn = ", ".join(pen.sym("param:" + n) for n in h.drawn)
        how = f"init ({h.init[0]}, seed {h.init[1]})"
        lines.append(("Drawn", f"{drawn} by {how}; values in the network table"))
    its = _plural(h.updates, "update")
    shown = ", ".join(map(str, h.shown)) or "none"
    lines.append(("Updates", f"{its}; explained in full: {shown}"))
    pad = max(len(label) for label, _ in lines) + 2
    for label, text in lines:
        yield Text.assemble((f"{label}:".ljust(pad), DIM), text)
    if h.round_to is not None:
        yield _note(f"Values are rounded to {h.round_to} decimals as soon as they are "
                    "computed, and the rounded value is carried forward, as a hand calculation "
                    "would.")


# ----------------------------------------------------------------------------- network


def network_table(params: Iterable[outline.Param], pen: Pen,
                  values: dict[str, float] | None = None, title: str = "Parameters") -> Table:
    """Every parameter: name, what it connects, value (at the start unless `values`)."""
    style = pen.style
    arrow = _arrow(style)
    table = Table(title=title, title_justify="left", title_style=HEADING, box=_box(style))
    table.add_column("parameter", no_wrap=True)
    table.add_column(f"from {arrow} to", overflow="fold")
    table.add_column("value", justify="right", no_wrap=True)
    layer = 0
    for c in params:
        if c.layer != layer:
            table.add_section()
            layer = c.layer
        # inputs are written as in the formulas (i₁); neurons by name, as in net_h1
        source = ("bias" if c.source is None else
                  pen.sym("in:" + c.source) if c.layer == 0 and "@" not in c.source
                  else c.source)  # h1@t-1: what an rnn layer's W_h carries
        table.add_row(pen.sym("param:" + c.name),
                      f"{source} {arrow} {', '.join(c.targets)}",
                      pen.num(c.before if values is None else values[c.name]))
    return table


def data_table(console: Console, options: ConsoleOptions, samples: tuple[outline.Sample, ...],
               pen: Pen) -> Iterator[RenderableType]:
    """Inputs and targets: one column per value if that fits, else one cell per sample."""
    style = pen.style
    names = [pen.sym("in:" + n) for n, _ in samples[0].inputs]
    outs = [pen.sym("target:" + n) for n, _ in samples[0].targets]
    rows = [([pen.num(v) for _, v in s.inputs], [pen.num(v) for _, v in s.targets])
            for s in samples]
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

    __slots__ = ("ask", "numbers", "pen", "steps")

    def __init__(self, steps: tuple[Step, ...], pen: Pen | None = None, ask: bool = False,
                 numbers: bool = True) -> None:
        self.steps = steps
        self.pen = Pen() if pen is None else pen
        self.ask = ask  # the quiz: '= ?' where the result goes, so it can be asked for
        self.numbers = numbers  # the quiz: False hides operands the student has not seen

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        rows: list[tuple[str | None, str, str] | None] = []
        subject = None
        for step in self.steps:
            if subject is not None and step.subject != subject:
                rows.append(None)  # a blank line between neurons
            subject = step.subject
            rows.extend(_step_rows(step, self.pen, self.ask, self.numbers))
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


def steps_grid(steps: Iterable[Step], pen: Pen) -> StepBlock:
    return StepBlock(tuple(steps), pen)


def _step_rows(step: Step, pen: Pen, ask: bool = False, numbers: bool = True
               ) -> list[tuple[str | None, str, str]]:
    f = pen.formula(step)
    rows: list[tuple[str | None, str, str]] = [(f.lhs, f.symbolic, "")]
    if f.numeric != f.symbolic and numbers:
        rows.append(("", f.numeric, ""))
    notes = [f"({n})" for n in (f.label, step.note) if n]
    if ask:  # no shortcut: out − target would give the answer away
        rows.append(("", "?", RESULT))
        return rows + [(None, n, NOTE) for n in notes]
    if f.result != f.numeric:
        rows.append(("", f.result, RESULT))
    else:  # the formula is the value itself (a bias input of 1, a linear unit)
        rows[-1] = (rows[-1][0], rows[-1][1], RESULT)
    short = pen.shortcut(step)
    if short is not None:
        rows.append(("", f"{short.symbolic} = {short.numeric} = {short.result}", ""))
    return rows + [(None, n, NOTE) for n in notes]


# ----------------------------------------------------------------------------- one update


def iteration(doc: outline.Document, up: Update, pen: Pen) -> Iterator[RenderableType]:
    n = doc.heading.updates
    title = f"Update {up.number} of {n}" if n > 1 else f"Update {up.number}"
    if doc.heading.samples > 1:
        title += f" (sample{'s' * (len(up.samples) != 1)} {', '.join(map(str, up.samples))})"
    yield Text()
    yield _rule(title, pen.style)
    if up.params is not None:  # the weights this update starts from are not the table's
        yield Text()
        yield network_table(doc.params, pen, up.params,
                            f"Parameters at the start of update {up.number}")
    for phase in up.phases:
        yield Text()
        yield Text(phase.title, style=HEADING)
        if phase.rule:
            yield Text(_write(phase.rule, pen), style=DIM)
        yield from _groups(doc, phase, pen)
        for note in phase.after:
            yield _note(_write(note, pen))


def _write(parts, pen: Pen) -> str:
    """A caption or note of the outline: words as they are, formulas in the pen's style."""
    return "".join(p if isinstance(p, str) else pen.write(p) for p in parts)


def _groups(doc: outline.Document, phase: Phase, pen: Pen) -> RenderResult:
    sample = None
    combined = False
    for g in phase.groups:
        if g.batch and not combined and phase.name == "backward":
            how = "mean" if doc.heading.reduction == "mean" else "sum"
            yield _sub(f"Gradients of the batch: the {how} of the per-sample gradients")
        combined = combined or g.batch
        if g.sample is not None and g.sample != sample:
            yield (_sample_heading(doc.samples[g.sample - 1], pen) if phase.name == "forward"
                   else _sub(f"Sample {g.sample}"))
        elif g.batch and phase.name == "loss":
            yield _sub(f"The batch: the {doc.heading.reduction} of the samples' losses")
        sample = g.sample
        if g.layer is not None and not g.batch:
            yield _sub(_layer_name(doc.heading, g.layer))
        if g.rule:
            yield Text(_write(g.rule, pen), style=DIM)
        for note in g.notes:
            yield _note(_write(note, pen))
        grids = ()
        if g.grids:  # an attention head's matrices: what the forward pass makes, before its
            from bpwalk.views import attention  # entries; going back, after what feeds them

            grids = tuple(attention.terminal(g.grids, pen))
        if phase.name == "forward":
            yield from grids
        if g.steps:
            yield steps_grid(g.steps, pen)
        if phase.name != "forward":
            yield from grids
        if phase.name != "loss":
            yield Text()


def _sample_heading(sample: outline.Sample, pen: Pen) -> Text:
    x = ", ".join(f"{pen.sym('in:' + n)} = {pen.num(v)}" for n, v in sample.inputs)
    return _sub(f"Sample {sample.number} ({x})")


# ----------------------------------------------------------------------------- many updates


def _sampled(n: int, rows: int) -> list[int]:
    """Which loss_history positions to list: all when few, else evenly spread, ends kept."""
    if n <= rows:
        return list(range(n))
    picks = {round(k * (n - 1) / (rows - 1)) for k in range(rows)}
    return sorted(picks)


def loss_history(history: list[float], width: int, pen: Pen, updates: list[int] | None = None,
                 title: str = "Loss over all updates") -> RenderResult:
    """The losses as a table of sampled rows and a curve. `updates[i]` counts the updates
    before history[i] when a long run kept every few only (Trace.loss_updates); None: i."""
    style = pen.style
    yield Text()
    yield _rule(title, style)
    table = Table(box=_box(style))
    table.add_column("after update", justify="right", no_wrap=True)
    table.add_column(f"loss {pen.sym('loss')}", justify="right", no_wrap=True)
    for i in _sampled(len(history), LOSS_TABLE_ROWS):
        table.add_row("start" if i == 0 else str(i if updates is None else updates[i]),
                      pen.num(history[i]))
    yield table
    yield curve(history, width, pen, None if updates is None else updates[-1])


def curve(history: list[float], width: int, pen: Pen, updates: int | None = None) -> Text:
    """The loss drawn as dots: x is the update, y the loss, min to max.

    The y axis is logarithmic when the loss spans two decades or more (training curves
    usually do; on a linear axis they collapse into an 'L'). The arithmetic here only places
    dots on a grid: no number it computes is shown, the axis labels are values of the trace.
    """
    hi, lo = max(history), min(history)
    style = pen.style
    top, bottom = pen.num(hi), pen.num(lo)
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
    text = Text(f"loss {pen.sym('loss')} by update{' (log scale)' if log else ''}\n", style=DIM)
    for r, line in enumerate(grid):
        tick = top if r == 0 else bottom if r == rows - 1 else ""
        text.append(f"{tick:>{label}} {bar}", style=DIM)
        text.append("".join(line).rstrip() + "\n")
    corner, dash = ("+", "-") if style == "ascii" else ("└", "─")
    text.append(" " * label + " " + corner + dash * cols + "\n", style=DIM)
    end = str(last if updates is None else updates)  # a long run keeps some losses only
    text.append(" " * (label + 2) + "0" + end.rjust(cols - 1) + suffix, style=DIM)
    return text


# ----------------------------------------------------------------------------- summary


def summary(console: Console, options: ConsoleOptions, trace: Trace,
            params: Iterable[outline.Param], pen: Pen) -> RenderResult:
    style = pen.style
    arrow = _arrow(style)
    n = trace.total_iterations
    yield Text()
    yield _rule(f"Summary after {_plural(n, 'update')}", style)
    rows = [(pen.sym("param:" + c.name), pen.num(c.before), pen.num(c.after),
             pen.num(c.change)) for c in params]
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
    E = pen.sym("loss")
    yield Text(f"Loss before: {E} = {pen.num(trace.loss_history[0])}")
    yield Text.assemble(f"Loss after {_plural(n, 'update')}: {E} = ",
                        (pen.num(trace.loss_history[-1]), RESULT))


def _fits(console: Console, options: ConsoleOptions, table: Table) -> bool:
    """Whether a table's no-wrap columns fit, so rich need not cut a number to make room.

    Measured against an unlimited width: Measurement.get clamps to the width it is given.
    """
    return Measurement.get(console, options.update_width(10**6), table).minimum <= options.max_width


def walkthrough(trace: Trace, style: str = "unicode", decimals: int = 9,
                phase: str | None = None, notation: Profile | str | None = None) -> Group:
    """The walkthrough as a Group (convenience for callers that want a plain renderable)."""
    return Group(Walkthrough(trace, style, decimals, phase, notation))
