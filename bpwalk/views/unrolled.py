"""A recurrent network unrolled in time: one column per time step, x_t → h_t → y_t.

The picture of a sequence scenario (docs/recurrence.md), for the terminal and the page. The
layout is data, read from the scenario's layers and the trace, not from the RNN's equations:

- a *row* per layer (the inputs first), its nodes at each time step: a box ``h@t2`` listing
  the fields the trace has for it (net, out and the gradients at them) in the cell model of
  ``bpwalk.views.grids`` (keys ``h@t2|out``); a layer whose kind is in RECURRENT also has
  h at t0 (given) and an arrow from each time step to the next;
- an *arrow* between two boxes carries the parameters whose terms join them in the head's
  net step (``rnn1.W_h[1,1]`` joins h@t1 to h@t2): forward, the weight's value; backward,
  that weight's term of its gradient at that time step (``grad:rnn1.W_h[1,1]@t2``).

An LSTM's row stacks a box per gate (i, f, g, o), its cell c and its h at each time step;
the arrow W_h carries h_(t-1) to the gates, and a second arrow c_(t-1) to c_t (the forget
path, no parameter on it: ``cell``).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import NamedTuple

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from bpwalk.notation import Pen, Profile
from bpwalk.trace import Iteration, Trace
from bpwalk.views import grids

RECURRENT = ("rnn", "lstm")  # layer kinds whose nodes feed themselves at the next time step
ORDER = ("in", "net", "out", "dout", "dnet")
HIGHLIGHT = grids.HIGHLIGHT
FEW = 4  # the fewest decimals the picture drops to before it wraps its time steps


class Row(NamedTuple):
    title: str  # "inputs", "rnn1", "layer 2"
    names: tuple[str, ...]  # its nodes (a box each, at each time step)
    recurrent: bool
    carried: tuple[str, ...] = ()  # its nodes given at t0 (h0; an lstm's c0 too)
    cell: str = ""  # an lstm's (first) cell state c, drawn with an arrow c_(t-1) -> c_t


class Arrow(NamedTuple):
    params: tuple[str, ...]  # the parameters it carries (names)
    label: str  # what it is called: the one parameter, else the matrix (W_x)


class Layout(NamedTuple):
    rows: tuple[Row, ...]
    steps: int  # time steps
    fields: dict[str, tuple[str, ...]]  # node@tT -> the fields its box lists
    down: dict[tuple[int, int], Arrow]  # (row, t): from row to row + 1 at time t
    across: dict[tuple[int, int], Arrow]  # (row, t): from t - 1 to t in a recurrent row
    cell: dict[tuple[int, int], Arrow]  # (row, t): an lstm's c_(t-1) -> c_t


def _row(i: int, lay) -> Row:
    """A layer's row: an lstm's gates, cell and h; another's neurons."""
    title = lay.name if getattr(lay, "name", "") else f"layer {i}"
    if lay.kind == "lstm":
        names = (*(n for q in lay.gates for n in q), *lay.cells, *lay.neurons)
        return Row(title, names, True, (*lay.cells, *lay.neurons), lay.cells[0])
    recurrent = lay.kind in RECURRENT
    return Row(title, tuple(lay.neurons), recurrent, tuple(lay.neurons) if recurrent else ())


def layout(trace: Trace) -> Layout:
    """Rows, boxes and arrows from the scenario's layers and the steps of the trace."""
    sc = trace.scenario
    rows = [Row("inputs", tuple(sc.inputs), False)]
    rows += [_row(i, lay) for i, lay in enumerate(sc.layers, 1)]
    steps = sc.x.shape[1]
    its = trace.iterations
    seen: dict[str, list[str]] = {}
    for n in sc.inputs:
        for t in range(1, steps + 1):
            seen[f"{n}@t{t}"] = ["in"]
    for s in (s for it in its[:1] for s in it.steps):
        k = grids.key(s.id, one_number=False)
        if k is not None and "@t" in k:
            node, field = k.split("|")
            if node.split("@")[0] in {n for r in rows[1:] for n in r.names}:
                seen.setdefault(node, [])
                if field not in seen[node]:
                    seen[node].append(field)
    fields = {n: tuple(sorted(f, key=lambda x: ORDER.index(x) if x in ORDER else len(ORDER)))
              for n, f in seen.items()}
    row_of = {n: r for r, row in enumerate(rows) for n in row.names}
    joins: dict[tuple[str, int, int], list[str]] = {}  # (kind, row, t) -> params
    for s in (s for it in its[:1] for s in it.steps if s.kind == "net" and s.sample in (None, 1)):
        head, _, t = s.id.partition(":")[2].partition("@t")
        t_head = int(t.split("@")[0])
        for term in s.terms:
            refs = [op.ref for op in term]
            param = next((r[6:] for r in refs if r.startswith("param:")), None)
            src = next((r for r in refs if r.startswith(("in:", "out:"))), None)
            if param is None or src is None or head not in row_of:
                continue
            name, _, ts = src.partition(":")[2].partition("@t")
            t_src = int(ts.split("@")[0])
            kind = "across" if t_src < t_head else "down"
            where = (kind, row_of[name] if kind == "down" else row_of[head], t_head)
            if param not in joins.setdefault(where, []):
                joins[where].append(param)
    down, across = {}, {}
    for (kind, r, t), params in joins.items():
        arrow = Arrow(tuple(params), _label(params))
        (down if kind == "down" else across)[(r, t)] = arrow
    cell = {(r, t): Arrow((), "c") for r, lay in enumerate(sc.layers, 1)
            if lay.kind == "lstm" for t in range(1, steps + 1)}
    return Layout(tuple(rows), steps, fields, down, across, cell)


def _label(params: list[str]) -> str:
    """One parameter: its name without the layer's prefix (W_x[1,1]); several: the matrix."""
    short = [p.split(".", 1)[1] if "." in p else p for p in params]
    if len(short) == 1:
        return short[0]
    base = {s.split("[")[0] for s in short}
    stems = {b[:-1] for b in base}  # an lstm's gates' matrices: W_hi, W_hf ... are W_h
    if len(base) > 1 and len(stems) == 1 and {b[-1] for b in base} <= set("ifgo"):
        return stems.pop()
    return base.pop() if len(base) == 1 else ", ".join(short)


def labels(n: grids.Names, cell: bool = False) -> dict[str, str]:
    """A box's fields as the notation names them: net, out, and the loss's derivatives
    with respect to them; an lstm's cell state: c (its net) and tanh(c) (its out)."""
    if cell:
        return {"net": "c", "out": "tanh(c)", "dout": n.d("tanh(c)"), "dnet": n.d("c")}
    return {"in": "", "net": n.field("net"), "out": n.field("out"), "dout": n.d("out"),
            "dnet": n.d("net")}


def cell_states(trace: Trace) -> set[str]:
    """The names of the lstm layers' cell states (their boxes are labelled c, tanh(c))."""
    return {c for lay in trace.scenario.layers if lay.kind == "lstm" for c in lay.cells}


def arrow_lit(a: Arrow, t: int, ends: tuple[str, str], lit: set[str]) -> tuple[bool, bool]:
    """Which of the arrow's numbers at time step t a step reads or fills: (its weight: read
    between two boxes the step also reads or fills, `ends`; its gradient's term at t)."""
    both = all(any(k.startswith(e + "|") for k in lit) for e in ends)
    if not a.params:  # c_(t-1) -> c_t: lit when a step reads one and fills the other
        return both, False
    return (both and any(f"{p}|value" in lit for p in a.params),
            any(f"{p}@t{t}|grad" in lit for p in a.params))


def arrows(lay: Layout) -> list[tuple[Arrow, int, tuple[str, str], str]]:
    """Every arrow with its time step, the boxes it joins and its key (``down 1 2``)."""
    out = []
    for (r, t), a in lay.down.items():
        ends = (f"{lay.rows[r].names[0]}@t{t}", f"{lay.rows[r + 1].names[0]}@t{t}")
        out.append((a, t, ends, f"down {r} {t}"))  # (the page's data-a: down/r/t)
    for (r, t), a in lay.across.items():
        out.append((a, t, across_ends(lay, r, t), f"across {r} {t}"))
    for (r, t), a in lay.cell.items():
        out.append((a, t, cell_ends(lay, r, t), f"cell {r} {t}"))
    return out


def across_ends(lay: Layout, r: int, t: int) -> tuple[str, str]:
    """The boxes a recurrent arrow joins: h_(t-1) and the row's first node at t (an lstm's
    first gate; an rnn's h)."""
    row = lay.rows[r]
    h = row.carried[len(row.carried) // 2] if row.cell else row.names[0]
    return f"{h}@t{t - 1}", f"{row.names[0]}@t{t}"


def cell_ends(lay: Layout, r: int, t: int) -> tuple[str, str]:
    c = lay.rows[r].cell
    return f"{c}@t{t - 1}", f"{c}@t{t}"


# ----------------------------------------------------------------------------- terminal


class Unrolled:
    """The unrolled network in text: a column per time step (h at t0 first), each layer a
    row of boxes; the arrows' labels above them, the weight's value and, backward, its
    gradient's term at that step below. A box with a highlighted field has a double border
    and the field in brackets."""

    __slots__ = ("ascii", "cells", "decimals", "lay", "lit", "names", "sizing", "title",
                 "values")

    def __init__(self, trace: Trace, values: dict[str, float], lit: Iterable[str] = (),
                 decimals: int = 9, ascii: bool = False, title: str = "",
                 sizing: dict[str, float] | None = None,
                 notation: Profile | str | None = None) -> None:
        self.lay = layout(trace)
        self.cells = cell_states(trace)
        self.names = grids.Names(notation, trace.scenario, "ascii" if ascii else "unicode")
        self.sizing = sizing  # the values the picture is sized by (default: its own)
        self.values = values
        self.lit = set(lit)
        self.decimals = decimals
        self.ascii = ascii
        self.title = title or "The network unrolled in time"

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        # every time step side by side, with fewer decimals down to FEW; else in bands of
        # as many time steps as fit, with as many decimals as fit
        top = min(self.decimals, 9)
        d, bands = next(((d, b) for d in range(top, min(top, FEW) - 1, -1)
                         if (b := self._bands(d, width)) is not None), (top, None))
        if bands is None:
            d, bands = next(((d, b) for d in range(top, grids.MIN_DECIMALS - 1, -1)
                             if (b := self._bands(d, width, wrap=True)) is not None),
                            (grids.MIN_DECIMALS, self._bands(grids.MIN_DECIMALS, width, 1)))
        yield Text(self.title + (f" (values to {d} decimals)" if d < self.decimals else ""),
                   style="bold cyan")
        for k, band in enumerate(bands):
            if k:
                yield Text()
            yield from band
        legend = f"an arrow: its weight, then {self.names.d('W')}, its term at that step"
        if self.lit:
            legend += "; [ ] read or filled by this step"
        yield Text(legend, style="dim")

    # -- pieces

    def _num(self, k: str, d: int) -> str:
        v = self.values.get(k)
        return "" if v is None else Pen("ascii" if self.ascii else "unicode", d).num(v)

    def _start(self, node: str, d: int) -> str:
        """A carried node's given value at t0: h0 (out), an lstm's c0 (its net)."""
        return self._num(f"{node}@t0|out", d) or self._num(f"{node}@t0|net", d)

    def _box(self, node: str, d: int, inner: int = 0) -> list[Text]:
        fields = self.lay.fields.get(node, ())
        keys = [f"{node}|{f}" for f in fields]
        rows = []
        for f, k in zip(fields, keys):
            label = labels(self.names, node.split("@")[0] in self.cells).get(f, f)
            text = f"{label} {self._num(k, d)}".strip() if label else self._num(k, d)
            rows.append((f"[{text}]" if k in self.lit else f" {text} ", k in self.lit))
        lit = any(on for _, on in rows)
        tl, tr, bl, br, h, v = (("####=#" if lit else "++++-|") if self.ascii else
                                ("╔╗╚╝═║" if lit else "┌┐└┘─│"))
        inner = max([cell_len(t) for t, _ in rows] + [cell_len(node) + 2, inner])
        style = HIGHLIGHT if lit else ""
        out = [Text(tl + f" {node} " + h * (inner - cell_len(node) - 2) + tr, style=style)]
        for t, on in rows:
            line = Text(v, style=style)
            line.append(t.ljust(inner), style=HIGHLIGHT if on else "")
            line.append(v, style=style)
            out.append(line)
        out.append(Text(bl + h * inner + br, style=style))
        return out

    def _arrow_text(self, a: Arrow, t: int, d: int, ends: tuple[str, str] = ("", "")
                    ) -> tuple[str, str, bool]:
        """(label, numbers, lit): "W_h[1,1]", "0.1  dE/dW −0.15", the numbers a step reads
        or fills in brackets: "[0.1]  dE/dW −0.15"."""
        weight, term = arrow_lit(a, t, ends, self.lit)
        if len(a.params) != 1:
            return (f"[{a.label}]" if weight or term else a.label), "", weight or term
        p = a.params[0]
        value, grad = self._num(f"{p}|value", d), self._num(f"{p}@t{t}|grad", d)
        value = f"[{value}]" if weight else value
        grad = f"{self.names.d('W')} {grad}" if grad else ""
        grad = f"[{grad}]" if term and grad else grad
        return (f"[{a.label}]" if weight or term else a.label,
                value + (f"  {grad}" if grad else ""), weight or term)

    def _bands(self, d: int, width: int, per_band: int | None = None, wrap: bool = False
               ) -> list[list[Text]] | None:
        """The picture in bands of time steps at `d` decimals, or None when all the time
        steps do not fit one band; sized by the values of the whole update (`sizing`), so
        that stepping through it does not move the columns."""
        lay = self.lay
        (shown, lit), self.values, self.lit = (self.values, self.lit), \
            self.sizing or self.values, set()  # (brackets: room kept below)
        col_w = max(max((cell_len(x.plain) for x in self._box(f"{n}@t{t}", d)), default=0)
                    for row in lay.rows for n in row.names for t in range(1, lay.steps + 1))
        col_w = max([col_w] + [cell_len(part) + 4 for (r, t), a in lay.down.items()
                               for part in (self._arrow_text(a, t, d)[0],
                                            *self._arrow_text(a, t, d)[1].split("  "))])
        starts = [n for row in lay.rows for n in row.carried]
        start_w = max([cell_len(n) + 7 for n in starts] +
                      [cell_len(self._start(n, d)) + 2 for n in starts] + [0])
        gap_w = max([cell_len(part) + 3 for (r, t), a in [*lay.across.items(), *lay.cell.items()]
                     for part in (self._arrow_text(a, t, d)[0],
                                  *self._arrow_text(a, t, d)[1].split("  "))] + [4]) \
            if starts else 2
        self.values, self.lit = shown, lit
        times = list(range(1, lay.steps + 1))
        fit = per_band or (width - start_w) // (gap_w + col_w)
        if per_band is None and (fit < 1 or (fit < lay.steps and not wrap)):
            return None
        return [self._band(times[k:k + fit], col_w, start_w, gap_w, d, col_w - 2)
                for k in range(0, len(times), fit)]

    def _band(self, times: list[int], col_w: int, start_w: int, gap_w: int, d: int,
              inner: int) -> list[Text]:
        lay = self.lay
        lines: list[Text] = []
        for r, row in enumerate(lay.rows):
            # each node's box stacked in the row: (node, line within its box) per line
            boxes = {t: [x for n in row.names for x in (self._box(f"{n}@t{t}", d, inner)
                                                          if f"{n}@t{t}" in lay.fields else [])]
                     for t in times}
            where = [(n, i) for n in row.names
                     for i in range(len(self._box(f"{n}@t{times[0]}", d, inner))
                                    if f"{n}@t{times[0]}" in lay.fields else 0)]
            height = max(len(b) for b in boxes.values())
            where += [("", -1)] * (height - len(where))
            first = times[0]
            for i in range(height):
                line = Text()
                node, at = where[i]
                if node in row.carried and first == 1:  # h (and c) at t0, given
                    line.append((f"{node}@t0" if at == 1 else self._start(node, d) if at == 2
                                 else "").ljust(start_w))
                else:
                    line.append(" " * start_w)
                for t in times:
                    a, ends = None, ("", "")
                    if row.recurrent and (t > first or first == 1) and at >= 0:
                        if node == row.names[0]:
                            a, ends = lay.across.get((r, t)), across_ends(lay, r, t)
                        elif node == row.cell:
                            a, ends = lay.cell.get((r, t)), cell_ends(lay, r, t)
                    if a is not None:
                        label, nums, on = self._arrow_text(a, t, d, ends)
                        style = HIGHLIGHT if on else ""
                        arrow = ("-" * (gap_w - 2) + "> ") if self.ascii else \
                            ("─" * (gap_w - 2) + "▶ ")
                        value, _, grad = nums.partition("  ")  # the weight, its term
                        part = (" " + label if at == 0 else arrow if at == 1 else
                                " " + value if at == 2 else " " + grad if at == 3 else "")
                        lit = at != 1 and "[" in part
                        line.append(part.ljust(gap_w)[:gap_w], style=style if lit else "")
                    else:
                        line.append(" " * gap_w)
                    b = boxes[t]
                    line.append_text(b[i] if i < len(b) else Text(""))
                    line.append(" " * (col_w - (cell_len(b[i].plain) if i < len(b) else 0)))
                line.rstrip()
                lines.append(line)
            if r + 1 < len(lay.rows):  # the arrows down to the next row: the weight's
                # name, its value, its gradient's term (once the update has gradients)
                grads = any(k.endswith("|grad") and "@t" in k
                            for k in (self.sizing or self.values))
                for i in range(3 if grads else 2):
                    line = Text(" " * start_w)
                    for t in times:
                        line.append(" " * gap_w)
                        a = lay.down.get((r, t))
                        if a is None:
                            line.append(" " * col_w)
                            continue
                        ends = (f"{lay.rows[r].names[0]}@t{t}", f"{lay.rows[r + 1].names[0]}@t{t}")
                        label, nums, on = self._arrow_text(a, t, d, ends)
                        value, _, grad = nums.partition("  ")
                        head = ("|", "v", " ")[i] if self.ascii else ("│", "▼", " ")[i]
                        text = f"{head} " + (label, value, grad)[i]
                        line.append(text.ljust(col_w), style=HIGHLIGHT if "[" in text else "")
                    line.rstrip()
                    lines.append(line)
        return lines


def at_step(trace: Trace, it: Iteration, index: int, decimals: int, ascii: bool = False,
            notation: Profile | str | None = None) -> Unrolled:
    """The unrolled picture at step `index`: the values so far, its numbers highlighted."""
    step = it.steps[index]
    who = f" (sample {step.sample})" if step.sample is not None else ""
    return Unrolled(trace, grids.values_at(trace, it, index, one_number=False),
                    grids.lit(it, index, one_number=False), decimals, ascii,
                    f"The network unrolled in time, at {step.id}{who}",
                    grids.values_at(trace, it, len(it.steps) - 1, one_number=False), notation)


def once(trace: Trace, it: Iteration | None, decimals: int, ascii: bool = False,
         given_only: bool = False, notation: Profile | str | None = None) -> Unrolled:
    """The unrolled picture with the given numbers (`given_only`), or once update `it` is
    done (every value and gradient of it)."""
    if given_only or it is None:
        first = it.samples[0] if it is not None else None
        whose = f" of sample {first}" if it is not None and len(it.samples) > 1 else ""
        return Unrolled(trace, grids.given(trace, it, first), (), decimals, ascii,
                        f"The network unrolled in time (the given numbers{whose})",
                        notation=notation)
    upto, whose = grids.shown_once(it)
    return Unrolled(trace, grids.values_at(trace, it, upto, one_number=False),
                    (), decimals, ascii, f"The network unrolled, after update {it.number}{whose}",
                    notation=notation)


# ----------------------------------------------------------------------------- the page


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def page_picture(trace: Trace, pen: Pen, blanks: bool) -> str:
    """The unrolled network as an HTML grid (a column per time step), with the values of
    the whole first update (a handout: the given numbers); the page's script (grids.SCRIPT)
    fills in the step on screen."""
    lay = layout(trace)
    names = grids.Names(pen.profile, trace.scenario)
    named, cell_named, cell_names = labels(names), labels(names, True), cell_states(trace)
    it = trace.iterations[0] if trace.iterations else None
    values = grids.given(trace, it, it.samples[0] if it else None) if blanks or it is None \
        else grids.values_at(trace, it, grids.shown_once(it)[0], one_number=False)

    def num(k: str) -> str:
        return f'<span data-k="{_e(k)}">{pen.num(values[k]) if k in values else ""}</span>'

    def box(node: str) -> str:
        named_here = cell_named if node.split("@")[0] in cell_names else named
        rows = "".join(f'<div>{_e(named_here.get(f, f))} {num(f"{node}|{f}")}</div>'
                       for f in lay.fields.get(node, ()))
        return f'<div class="box"><b>{_e(node)}</b>{rows}</div>'

    def arrow(a: Arrow | None, t: int, cls: str, r: int) -> str:
        if a is None:
            return "<div></div>"
        name = f"{cls}/{r}/{t}"  # its weight lit by arrow_lit, not by the weight's key

        def part(k: str) -> str:
            return (f'<span data-k="{_e(k)}" data-a="{name}">'
                    f'{pen.num(values[k]) if k in values else ""}</span>')
        nums = ""
        if len(a.params) == 1:
            p = a.params[0]
            grad = f"{p}@t{t}|grad"  # lit by its own step
            nums = (f'{part(f"{p}|value")}<br><span class="g">{_e(names.d("W"))}<br><span data-k="{_e(grad)}">'
                    f'{pen.num(values[grad]) if grad in values else ""}</span></span>')
        if not a.params:  # c_(t-1) -> c_t carries c_(t-1)'s value, lit by its ends
            nums = part(f"{lay.rows[r].cell}@t{t - 1}|net")
        look = "across" if cls == "cell" else cls  # (drawn as the recurrent arrow)
        return f'<div class="arrow {look}"><i>{_e(a.label)}</i><br>{nums}</div>'

    cols = 1 + 2 * lay.steps
    cells = ['<div class="time"></div>'] + [
        f'<div></div><div class="time">t = {t}</div>' for t in range(1, lay.steps + 1)]
    for r, row in enumerate(lay.rows):
        for n in row.names:
            given = num(f"{n}@t0|net" if n == row.cell else f"{n}@t0|out")
            start = (f'<div class="box h0"><b>{_e(n)}@t0</b><div>{given}</div></div>'
                     if n in row.carried else "<div></div>")
            cells.append(start)
            for t in range(1, lay.steps + 1):
                cells.append(arrow(lay.across.get((r, t)), t, "across", r)
                             if row.recurrent and n == row.names[0] else
                             arrow(lay.cell.get((r, t)), t, "cell", r)
                             if n == row.cell else "<div></div>")
                cells.append(box(f"{n}@t{t}") if f"{n}@t{t}" in lay.fields else "<div></div>")
        if r + 1 < len(lay.rows):
            cells.append("<div></div>")
            for t in range(1, lay.steps + 1):
                cells += ["<div></div>", arrow(lay.down.get((r, t)), t, "down", r)]
    return (f'<div id="grids"><div class="panel" data-panel="unrolled"><p class="ptitle">'
            f'The network unrolled in time: a column per time step; on each arrow its weight '
            f'and, backward, that step\'s term of its gradient ({_e(names.d("W"))})</p>'
            f'<div class="unrolled" style="grid-template-columns:repeat({cols},auto)">'
            f'{"".join(cells)}</div></div></div>')


def steps_attrs(trace: Trace, it: Iteration, pen: Pen) -> list[str]:
    """What the page's script needs of each step of `it` (see grids.SCRIPT): the cells it
    lights, with the arrows whose weight it reads (arrow_lit), and the cell it fills."""
    ids = {s.id: s for s in it.steps}
    every = arrows(layout(trace))
    out = []
    for index, s in enumerate(it.steps):
        on = grids.lit(it, index, one_number=False, ids=ids)
        on |= {name.replace(" ", "/") for a, t, ends, name in every
               if arrow_lit(a, t, ends, on)[0]}
        attrs = f' data-panel="unrolled" data-lit="{_e(" ".join(sorted(on)))}"'
        k = grids.key(s.id, one_number=False)
        if k is not None:
            attrs += f' data-k="{_e(k)}" data-kv="{pen.num(s.value)}"'
        out.append(attrs)
    return out


CSS = """
.unrolled{display:grid;gap:.2em .3em;align-items:center;justify-content:start;
 font-variant-numeric:tabular-nums;font-size:.8em}
.unrolled .box{border:1.5px solid #4a6fa5;border-radius:6px;background:#eef3fb;
 padding:.2em .5em;white-space:nowrap}
.unrolled .box:has(.lit){border-color:var(--lit);background:var(--litbg)}
.unrolled .time{text-align:center;color:var(--soft)}
.unrolled .arrow{text-align:center;color:#444;white-space:nowrap}
.unrolled .arrow.across::after{content:"⟶";display:block;font-size:1.4em;line-height:.8}
.unrolled .arrow.down::before{content:"↓ ";font-size:1.2em}
.unrolled .lit{color:var(--lit);font-weight:bold;outline:2px solid var(--lit)}
.unrolled .g{color:#0b6e4f}
"""
