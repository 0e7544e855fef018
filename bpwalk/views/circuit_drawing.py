"""A circuit drawn as CS231n draws it: gates as labelled boxes, each wire with its value above
(green) and its gradient below (red), in the terminal and as SVG.

Three parts, shared by the terminal, the stepper and the HTML page:

- the *circuit*: leaves (inputs and parameters) and gates (a name, the operation's label, the
  names it reads), in an order where every gate comes after what it reads;
- the *layout*: placement only. A node's column is its depth (leaves 0, a gate one more than
  its deepest operand). Each node's output runs along a *lane* (a row band: value, wire,
  gradient); a gate sits on the lane of an operand it alone reads, so a chain of gates reads
  as one line, and its other operands come down or up to it on vertical *tracks* just left of
  its box. A wire read twice by one gate (``a + a``) comes in twice, so the sum shows.
- the drawings: ``Drawing`` (a rich renderable that fits the console's width, wrapping its
  columns into bands when it must) and ``svg``.

Elements are named ``node:NAME`` for every leaf and gate, as in the picture model of
``bpwalk.views.drawing``; a picture's values are keyed ``(node:NAME, "value" | "grad")``.
Nothing here computes a value: every number comes from the trace.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from bpwalk.notation import Pen
from bpwalk.trace import Iteration, Step, Trace

MAX_GATES = 12  # drawn up to this many gates: beyond, the picture is a tangle, not a help
MIN_DECIMALS = 2
VALUE = "green"
GRAD = "red"
HIGHLIGHT = "bold reverse"

Values = Mapping[tuple[str, str], float]
_ASCII_OPS = str.maketrans({"·": "*", "−": "-", "√": "sqrt", "σ": "sigmoid"})


class Gate(NamedTuple):
    name: str
    op: str  # the label in its box: "+", "·", "exp", "1/x"
    operands: tuple[str, ...]  # names it reads, in order; a name may come twice


class Circuit(NamedTuple):
    leaves: tuple[str, ...]  # inputs and parameters
    gates: tuple[Gate, ...]  # each after the names it reads
    output: str


def of_graph(graph) -> Circuit:
    """The circuit of a compiled graph (bpwalk.graph.compile.Graph): one gate per operation,
    labelled as CS231n labels them; a number an operation reads goes into its label
    (``+1``, ``·−1``, ``1/x``, ``**2``), since it is no wire."""
    return Circuit(tuple(leaf.name for leaf in graph.leaves),
                   tuple(Gate(n.name, _label(n.op, n.args), tuple(a for a in n.args
                                                                  if isinstance(a, str)))
                         for n in graph.nodes), graph.output)


_COMMUTES = {"add", "mul"}


def _label(name: str, args: tuple) -> str:
    from bpwalk.graph.ops import GRAPH_LOSSES, op

    if name in GRAPH_LOSSES:
        return "loss"
    gate = op(name).gate
    if len(args) != 2 or all(isinstance(a, str) for a in args):
        return gate
    k = next(a for a in args if not isinstance(a, str))
    text = Pen("unicode", 4).num(float(k))
    if isinstance(args[1], str) and name not in _COMMUTES:  # 1/x, 1−x
        return f"{text}{gate}x"
    return f"{gate}{text}"  # +1, ·−1, **2, −3


# ----------------------------------------------------------------------------- picture model
# (a graph trace's counterpart of bpwalk.views.drawing's: what a step fills in, what it reads)

_SLOTS = {"val": "value", "grad": "grad"}


def slot(step: Step) -> tuple[str, str] | None:
    """(element, field) that a circuit step's value fills on the picture, or None: a value
    goes above its wire, a gradient below; local gradients and new values are not drawn."""
    kind, _, name = step.id.partition("@")[0].partition(":")
    field = _SLOTS.get(kind)
    return None if field is None else (f"node:{name}", field)


def names(c: Circuit) -> frozenset[str]:
    return frozenset((*c.leaves, *(g.name for g in c.gates)))


def operands(known: frozenset[str], step: Step) -> frozenset[str]:
    """The elements a step is about and reads (`known`: the circuit's names): what the
    picture highlights."""
    return elements(known, [step.id, *(o.ref for term in step.terms for o in term)])


def given(trace: Trace, it: Iteration | None) -> dict[tuple[str, str], float]:
    """The numbers on the picture before any step: the inputs, and the parameters as the
    update starts."""
    params = it.params_before if it is not None else trace.params_first
    return {(f"node:{leaf.name}", "value"): params.get(leaf.name, leaf.value)
            for leaf in trace.scenario.graph.leaves}


def values_at(trace: Trace, it: Iteration, upto: int) -> dict[tuple[str, str], float]:
    """What the picture shows once steps 0..upto of `it` are done (upto = -1: none yet)."""
    values = given(trace, it)
    for s in it.steps[: upto + 1]:
        where = slot(s)
        if where is not None:
            values[where] = s.value
    return values


def at_step(trace: Trace, it: Iteration, index: int, decimals: int, ascii: bool = False
            ) -> Drawing:
    """The circuit at step `index` of `it`: values so far, the step's operands highlighted."""
    c = of_graph(trace.scenario.graph)
    step = it.steps[index]
    return Drawing(c, values_at(trace, it, index), operands(names(c), step), decimals,
                   title=f"The circuit at {step.id}", ascii=ascii)


def opening(trace: Trace, decimals: int, ascii: bool = False) -> Drawing:
    """The circuit with the given numbers only."""
    it = trace.iterations[0] if trace.iterations else None
    return Drawing(of_graph(trace.scenario.graph), given(trace, it), decimals=decimals,
                   title="The circuit with the given values", ascii=ascii)


def after(trace: Trace, it: Iteration, decimals: int, ascii: bool = False) -> Drawing:
    """The circuit once update `it` is done: every value and gradient filled in."""
    return Drawing(of_graph(trace.scenario.graph), values_at(trace, it, len(it.steps) - 1),
                   decimals=decimals, title=f"The circuit after update {it.number}",
                   ascii=ascii)


# ----------------------------------------------------------------------------- layout


class Feed(NamedTuple):
    """One wire into a gate that is not the gate's own lane: it turns at a track."""

    source: str
    gate: str
    track: int  # 0-based, from the left of the gate column's tracks


class Layout(NamedTuple):
    column: dict[str, int]  # name -> depth
    lane: dict[str, int]  # name -> row band, from the top
    lanes: int
    columns: int
    along: dict[str, str]  # gate -> the operand whose lane it continues (straight in)
    feeds: tuple[tuple[Feed, ...], ...]  # per column, the wires that turn into its gates
    reach: dict[str, int]  # name -> last column its wire reaches (its readers' column)


def layout(c: Circuit) -> Layout:
    gates = {g.name: g for g in c.gates}
    uses: dict[str, int] = {}
    for g in c.gates:
        for o in g.operands:
            uses[o] = uses.get(o, 0) + 1
    column: dict[str, int] = dict.fromkeys(c.leaves, 0)
    for g in c.gates:
        column[g.name] = 1 + max((column[o] for o in g.operands), default=0)
    order: list[str] = []  # lanes top to bottom, each named by the first node on it
    lane_of: dict[str, str] = {}
    along: dict[str, str] = {}

    def settle(n: str) -> None:
        """n's lane, once its operands have theirs."""
        g = gates.get(n)
        if g is None:
            lane_of[n] = n
            order.append(n)
            return
        for o in dict.fromkeys(g.operands):
            # continue the lane of an operand only this gate reads, and reads once
            if uses[o] == 1:
                along[n] = o
                lane_of[n] = lane_of[o]
                return
        lane_of[n] = n  # a new lane just below the first operand's
        order.insert(order.index(lane_of[g.operands[0]]) + 1 if g.operands else len(order), n)

    # depth first from the output, operands in order (a loop: a chain may be long)
    for root in (c.output, *c.leaves, *(g.name for g in c.gates)):
        stack = [(root, False)]
        while stack:
            n, ready = stack.pop()
            if n in lane_of:
                continue
            if ready:
                settle(n)
                continue
            stack.append((n, True))
            g = gates.get(n)
            stack += [(o, False) for o in reversed(g.operands if g else ())]
    index = {name: i for i, name in enumerate(order)}
    lane = {n: index[lane_of[n]] for n in lane_of}
    columns = 1 + max(column.values(), default=0)
    turns: list[list[tuple[str, str]]] = [[] for _ in range(columns)]
    reach = dict(column)
    for g in c.gates:
        straight = along.get(g.name)
        for k, o in enumerate(g.operands):
            reach[o] = max(reach[o], column[g.name])
            if o == straight and k == g.operands.index(o):
                continue
            turns[column[g.name]].append((o, g.name))
    reach[c.output] = columns  # the output's wire runs off to the right
    feeds = []
    for col in turns:
        # the longest turn leftmost: the others' short horizontals then cross fewer verticals
        col.sort(key=lambda t: -abs(lane[t[0]] - lane[t[1]]))
        feeds.append(tuple(Feed(o, g, k) for k, (o, g) in enumerate(col)))
    return Layout(column, lane, len(order), columns, along, tuple(feeds), reach)


def elements(names: Iterable[str], refs: Iterable[str]) -> frozenset[str]:
    """The picture elements named in step ids or operand refs (``val:q``, ``local:f/q``,
    ``grad:x@2``): every circuit name among their parts."""
    known = names if isinstance(names, (set, frozenset)) else set(names)
    out = set()
    for ref in refs:
        body = ref.partition("@")[0].partition(":")[2]
        out.update(f"node:{p}" for p in body.split("/") if p in known)
    return frozenset(out)


# ----------------------------------------------------------------------------- terminal

# cell direction bits: a cell's line character is the set of sides it connects
_U, _D, _L, _R = 1, 2, 4, 8
_LINES = {_L | _R: "─", _L: "─", _R: "─", _U | _D: "│", _U: "│", _D: "│",
          _R | _D: "┌", _L | _D: "┐", _R | _U: "└", _L | _U: "┘",
          _L | _R | _D: "┬", _L | _R | _U: "┴", _U | _D | _R: "├", _U | _D | _L: "┤",
          _U | _D | _L | _R: "┼"}


class _Cell:
    __slots__ = ("bits", "char", "lit", "style")

    def __init__(self) -> None:
        self.bits = 0
        self.char = ""
        self.style = ""
        self.lit = False


class Drawing:
    """The circuit in text at `values`, the elements in `lit` highlighted: a lit wire is
    drawn double (═) and a lit gate with a double border (╣+╠), so the highlight survives
    NO_COLOR and a pipe. A plain class: a dataclass costs start-up time."""

    __slots__ = ("ascii", "circuit", "decimals", "lit", "title", "values")

    def __init__(self, circuit: Circuit, values: dict[tuple[str, str], float],
                 lit: frozenset[str] = frozenset(), decimals: int = 9,
                 title: str = "The circuit", ascii: bool = False) -> None:
        self.circuit = circuit
        self.values = values
        self.lit = lit
        self.decimals = decimals
        self.title = title
        self.ascii = ascii

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        why = drawable(self.circuit)
        if why is not None:
            yield Text(why, style="italic")
            return
        lay = layout(self.circuit)
        width = options.max_width
        top = min(self.decimals, 9)
        # fewer decimals before more bands: one band at any decimals, then two, then any
        for most in (1, 2, None):
            for d in range(top, MIN_DECIMALS - 1, -1):
                plan = self._plan(lay, d, width)
                if plan is not None and (most is None or len(plan[0]) <= most):
                    yield Text(self.title + (f" (values to {d} decimals)" if d < self.decimals
                                             else ""), style="bold cyan")
                    yield self._legend()
                    bands, widths = plan
                    for k, cols in enumerate(bands):
                        if k:
                            yield Text()
                        yield from self._band(lay, cols, widths, d)
                    return
        yield Text(f"The circuit is not drawn: it needs more than {width} columns; the "
                   "tables list every value.", style="italic")

    def _legend(self) -> Text:
        t = Text("On each wire: its ")
        t.append("value", style=VALUE)
        t.append(" above, its ")
        t.append("gradient", style=GRAD)
        t.append(" below.")
        return t

    # -- pieces

    def _num(self, name: str, field: str, d: int) -> str:
        v = self.values.get((f"node:{name}", field))
        return "" if v is None else Pen("ascii" if self.ascii else "unicode", d).num(v)

    def _box(self, name: str) -> str:
        """What sits at a node's place: a leaf's name, or a gate's operation in its box."""
        gate = _gate(self.circuit, name)
        if gate is None:
            return name
        lit = f"node:{name}" in self.lit
        if self.ascii:
            op = gate.op.translate(_ASCII_OPS)
            return ("#" if lit else "[") + op + ("#" if lit else "]")
        return ("╣" if lit else "┤") + gate.op + ("╠" if lit else "├")

    def _tag(self, name: str) -> str:
        """The name written on a gate's output wire, right after its box."""
        return "" if _gate(self.circuit, name) is None else f" {name} "

    def _widths(self, lay: Layout, d: int) -> list[tuple[int, int, int]]:
        """Per column: tracks, box and gap widths, in cells."""
        out = []
        for col in range(lay.columns):
            names = [n for n, c in lay.column.items() if c == col]
            tracks = len(lay.feeds[col]) + 1 if col else 0
            box = max(cell_len(self._box(n)) for n in names) + (1 if col == 0 else 0)
            gap = max(cell_len(self._tag(n)) + max(cell_len(self._num(n, "value", d)),
                                                    cell_len(self._num(n, "grad", d)), 1) + 2
                      for n in names)
            out.append((tracks, box, gap))
        return out

    def _plan(self, lay: Layout, d: int, width: int
              ) -> tuple[list[list[int]], list[tuple[int, int, int]]] | None:
        """The columns of each band at `d` decimals, bands `width` wide, and the columns'
        widths (measured, not drawn); None if one column alone does not fit."""
        widths = self._widths(lay, d)
        bands: list[list[int]] = [[]]
        used = 0
        for col, (t, b, g) in enumerate(widths):
            need = t + b + g
            carry = self._carry_width(lay, col, d) if bands[-1] == [] and col else 0
            if bands[-1] and used + need > width:
                bands.append([])
                carry = self._carry_width(lay, col, d)
                used = 0
            if carry + need > width:
                return None
            bands[-1].append(col)
            used += carry + need
        return bands, widths

    def _carried(self, lay: Layout, col: int) -> list[str]:
        """Nodes placed left of `col` whose wires reach it: a band starting there repeats
        them at its left edge."""
        return [n for n, c in lay.column.items() if c < col <= lay.reach[n]]

    def _carry_width(self, lay: Layout, col: int, d: int) -> int:
        names = self._carried(lay, col)
        if not names:
            return 0
        return max(cell_len(n) + 1 + max(cell_len(self._num(n, "value", d)),
                                         cell_len(self._num(n, "grad", d)), 1) + 2
                   for n in names)

    def _band(self, lay: Layout, cols: list[int], widths: list[tuple[int, int, int]],
              d: int) -> list[Text]:
        first = cols[0]
        carried = self._carried(lay, first) if first else []
        carry = self._carry_width(lay, first, d) if first else 0
        x0: dict[int, int] = {}  # column -> where its tracks start
        x = carry
        for col in cols:
            x0[col] = x
            x += sum(widths[col])
        total = x
        rows = lay.lanes * 4
        grid = [[_Cell() for _ in range(total)] for _ in range(rows)]

        def wire_row(n: str) -> int:
            return lay.lane[n] * 4 + 1

        def hline(r: int, a: int, b: int, lit: bool) -> None:
            for i in range(max(a, 0), min(b, total - 1) + 1):
                cell = grid[r][i]
                if i > a or a < 0:
                    cell.bits |= _L
                if i < b:
                    cell.bits |= _R
                cell.lit = cell.lit or lit

        def vline(col_x: int, r1: int, r2: int) -> None:
            lo, hi = min(r1, r2), max(r1, r2)
            for r in range(lo, hi + 1):
                cell = grid[r][col_x]
                if r > lo:
                    cell.bits |= _U
                if r < hi:
                    cell.bits |= _D

        def text(r: int, i: int, s: str, style: str = "") -> None:
            for k, ch in enumerate(s):
                if 0 <= i + k < total:
                    grid[r][i + k].char = ch
                    grid[r][i + k].style = style

        def box_x(n: str) -> int:
            return x0[lay.column[n]] + widths[lay.column[n]][0]

        def wire_start(n: str) -> int:
            col = lay.column[n]
            if col not in x0:  # carried in from the band before
                return cell_len(n) + 1
            if col == 0:  # the leaves' wires start together, after the longest name
                return box_x(n) + widths[0][1]
            return box_x(n) + cell_len(self._box(n)) + cell_len(self._tag(n))

        def wire_end(n: str) -> int:
            """The last cell of n's wire in this band."""
            if lay.reach[n] > cols[-1]:
                return total - 1
            ends = [x0[lay.column[f.gate]] + f.track for f in _feeds_of(lay, n)
                    if lay.column[f.gate] in x0]
            ends += [box_x(g) - 1 for g, o in lay.along.items() if o == n and
                     lay.column[g] in x0]
            # a wire nobody reads still runs past its labels
            short = wire_start(n) + 1 + max(cell_len(self._num(n, "value", d)),
                                            cell_len(self._num(n, "grad", d)), 1)
            return max(ends, default=short)

        shown = [n for n, c in lay.column.items() if c in x0] + carried
        for n in shown:
            lit = f"node:{n}" in self.lit
            r = wire_row(n)
            start, end = wire_start(n), wire_end(n)
            hline(r, start, end, lit)
            if lay.column[n] in x0:
                text(r, box_x(n), self._box(n), HIGHLIGHT if lit else "")
                text(r, box_x(n) + cell_len(self._box(n)), self._tag(n),
                     HIGHLIGHT if lit else "bold")
            else:
                text(r, 0, n, HIGHLIGHT if lit else "bold")
            text(r - 1, start + 1, self._num(n, "value", d), VALUE)
            text(r + 1, start + 1, self._num(n, "grad", d), GRAD)
        for col in cols:
            for f in lay.feeds[col]:
                tx = x0[col] + f.track
                src, dst = wire_row(f.source), wire_row(f.gate)
                vline(tx, src, dst)
                grid[src][tx].bits |= _L
                hline(dst, tx, box_x(f.gate) - 1, False)
                grid[dst][box_x(f.gate) - 1].bits |= _R
        for n in shown:  # the wires that go straight into a box end at it
            if n in lay.along and lay.column[n] in x0:
                grid[wire_row(n)][box_x(n) - 1].bits |= _R
        lines = []
        for row in grid:
            t = Text()
            run, style = "", ""
            for cell in row:  # runs of one style, so the escape codes come once per run
                ch = cell.char or (self._line(cell) if cell.bits else " ")
                st = cell.style if cell.char else ""
                if st != style and run:
                    t.append(run, style=style)
                    run = ""
                run, style = run + ch, st
            t.append(run, style=style)
            t.rstrip()
            lines.append(t)
        # drop the lanes this band leaves empty, and the blank rows at the ends
        keep = [t for t in lines]
        while keep and not keep[0].plain.strip():
            keep.pop(0)
        while keep and not keep[-1].plain.strip():
            keep.pop()
        out: list[Text] = []
        for t in keep:
            if t.plain.strip() or (out and out[-1].plain.strip()):
                out.append(t)
        return out

    def _line(self, cell: _Cell) -> str:
        straight = cell.bits in (_L | _R, _L, _R)
        if self.ascii:
            if straight:
                return "=" if cell.lit else "-"
            return "|" if cell.bits in (_U | _D, _U, _D) else "+"
        if straight and cell.lit:
            return "═"
        return _LINES[cell.bits]


def _gate(c: Circuit, name: str) -> Gate | None:
    for g in c.gates:
        if g.name == name:
            return g
    return None


def _feeds_of(lay: Layout, name: str) -> list[Feed]:
    return [f for col in lay.feeds for f in col if f.source == name]


def drawable(c: Circuit) -> str | None:
    """None if the circuit is drawn, else one line saying why not."""
    if len(c.gates) > MAX_GATES:
        return (f"Not drawn: the circuit has {len(c.gates)} gates, more than {MAX_GATES}; "
                "the tables list every value.")
    return None


# ----------------------------------------------------------------------------- SVG

# Placement in px. Text widths are estimated at CHAR px a character in the monospace face the
# page gives the circuit's text (0.6 em at 13 px is 7.8); the browser test measures every box.
CHAR = 8.0
LANE = 76  # a lane's height: value, wire, gradient and room between lanes
TRACK = 12
PAD = 10
PICTURE_DECIMALS = 4  # the picture is the overview: the steps beside it carry every decimal
BAND = 760  # px: a wider circuit wraps, so that printed on A4 its text stays 13 px
MAX_SVG_GATES = 100  # beyond, a picture is a maze: the page says so instead


def picture_pen(pen: Pen) -> Pen:
    """The pen of the SVG's numbers: Unicode (a true minus), at most PICTURE_DECIMALS."""
    return Pen("unicode", min(pen.decimals, PICTURE_DECIMALS), pen.profile, pen.keep_zeros)


def _px(text: str) -> float:
    return CHAR * len(text)


def svg(c: Circuit, values: Values, pen: Pen, lit: frozenset[str] = frozenset(),
        title: str = "", rounded: bool = False) -> str:
    """The circuit as SVG: each wire's value above it (class val) and its gradient below
    (class grad), each gate a box with its operation and its name under it. Every element
    carries ``data-el`` (``node:NAME``) and every number a ``data-slot`` (``node:NAME
    value|grad``), so the page's script can light a step's operands and fill in values.
    Where wires join or branch there is a dot; where they only cross, none. `rounded`: the
    numbers are shown to fewer decimals than the steps', and the picture says so.

    A circuit wider than BAND px wraps: its columns go into bands one under the other, and
    a wire that runs on into the next band starts there again at its name (its numbers
    stay where it begins, one element per slot)."""
    label = html.escape(title or f"The circuit of {c.output}")
    if len(c.gates) > MAX_SVG_GATES:  # the page still has its svg#net, for the script
        return (f'<svg id="net" class="circuit" viewBox="0 0 600 40" width="600" role="img" '
                f'aria-label="{label}"><text class="note" x="{PAD}" y="24">Not drawn: '
                f"{len(c.gates)} gates, more than {MAX_SVG_GATES}; the steps give every "
                "value.</text></svg>")
    lay = layout(c)
    gates = {g.name: g for g in c.gates}

    def num(n: str, f: str) -> str:
        v = values.get((f"node:{n}", f))
        return "" if v is None else pen.num(v)

    def box_w(n: str) -> float:
        return max(_px(gates[n].op) + 2 * PAD, _px(n) + PAD) if n in gates else _px(n)

    # room for every number the script may fill in, not only the ones shown now
    widest = _px("−0." + "0" * pen.decimals)
    cols = []
    for col in range(lay.columns):
        names = [n for n, k in lay.column.items() if k == col]
        tracks = (len(lay.feeds[col]) + 1) * TRACK if col else 0
        box = max(box_w(n) for n in names) + (PAD if col == 0 else 0)
        gap = max(max(_px(num(n, "value")), _px(num(n, "grad")), widest) for n in names) + \
            3 * PAD
        cols.append(tracks + box + gap)

    def carried(col: int) -> list[str]:
        return [n for n, k in lay.column.items() if k < col <= lay.reach[n]]

    def carry_w(col: int) -> float:
        names = carried(col) if col else []
        return max((_px(n) + 3 * PAD for n in names), default=0.0)

    bands: list[list[int]] = []
    used = 0.0
    for col, w in enumerate(cols):
        if bands and used + w <= BAND:
            bands[-1].append(col)
            used += w
        else:
            bands.append([col])
            used = carry_w(col) + w
    parts = []
    top = 2 * PAD if rounded else 0  # room for the note on decimals
    if rounded:
        parts.append(f'<text class="note" x="{PAD}" y="{PAD + 4}">values to '
                     f"{pen.decimals} decimals</text>")
    width = 0.0
    for band in bands:
        height = _band(parts, lay, gates, band, cols, carried(band[0]) if band[0] else [],
                       carry_w(band[0]), top, widest, num, box_w, lit)
        width = max(width, PAD + carry_w(band[0]) + sum(cols[k] for k in band) + PAD)
        top += height
    # drawn at its own size (1 px a px) where there is room: text stays 13 px
    return (f'<svg id="net" class="circuit" viewBox="0 0 {width:.0f} {top + PAD:.0f}" '
            f'width="{width:.0f}" role="img" aria-label="{label}">{"".join(parts)}</svg>')


def _band(parts: list[str], lay: Layout, gates: dict[str, Gate], band: list[int],
          cols: list[float], carried: list[str], carry: float, top: float, widest: float,
          num, box_w, lit: frozenset[str]) -> float:
    """Append one band's SVG elements to `parts`; its height."""
    e = html.escape
    x0: dict[int, float] = {}
    x = PAD + carry
    for col in band:
        x0[col] = x
        x += cols[col]
    right = x
    placed = [n for n, k in lay.column.items() if k in x0]
    shown = carried + placed
    rows = sorted({lay.lane[n] for n in shown})

    def wy(n: str) -> float:
        return top + rows.index(lay.lane[n]) * LANE + LANE / 2

    def tracks(col: int) -> float:
        return (len(lay.feeds[col]) + 1) * TRACK if col else 0

    def bx(n: str) -> float:
        return x0[lay.column[n]] + tracks(lay.column[n])

    def tx(f: Feed) -> float:
        return x0[lay.column[f.gate]] + (f.track + 0.5) * TRACK

    def start(n: str) -> float:
        if n not in placed:
            return PAD + carry - PAD
        if n in gates:
            return bx(n) + box_w(n)
        return bx(n) + max(box_w(m) for m in lay.column if lay.column[m] == 0) + PAD

    def end(n: str) -> float:
        if lay.reach[n] > band[-1]:
            return right - PAD if lay.reach[n] >= lay.columns else right
        ends = [tx(f) for f in _feeds_of(lay, n) if lay.column[f.gate] in x0]
        ends += [bx(g) for g, o in lay.along.items() if o == n and lay.column[g] in x0]
        return max(ends, default=start(n) + widest + PAD)

    for n in shown:
        y = wy(n)
        el = f"node:{e(n)}"
        d = [f"M{start(n):.1f} {y:.1f}H{end(n):.1f}"]
        dots = []
        for f in _feeds_of(lay, n):
            if lay.column[f.gate] not in x0:
                continue
            d.append(f"M{tx(f):.1f} {y:.1f}V{wy(f.gate):.1f}H{bx(f.gate):.1f}")
            if end(n) > tx(f) + 1:  # the wire goes on: it branches here
                dots.append((tx(f), y))
            if f.gate in lay.along or any(o.gate == f.gate and o.track < f.track
                                          for o in lay.feeds[lay.column[f.gate]]):
                dots.append((tx(f), wy(f.gate)))  # it joins another wire into the gate
        circles = "".join(f'<circle class="dot" cx="{dx:.1f}" cy="{dy:.1f}" r="3"/>'
                          for dx, dy in dots)
        if n in placed:  # its numbers, where its wire begins
            label_x = start(n) + PAD
            texts = (f'<text class="val" x="{label_x:.1f}" y="{y - 7:.1f}">'
                     f'<tspan data-slot="{el} value">{num(n, "value")}</tspan></text>'
                     f'<text class="grad" x="{label_x:.1f}" y="{y + 18:.1f}">'
                     f'<tspan data-slot="{el} grad">{num(n, "grad")}</tspan></text>')
        else:  # carried on from the band above: its name again
            texts = (f'<text class="name" x="{PAD:.1f}" y="{y + 4.5:.1f}">{e(n)}</text>')
            d[0] = f"M{PAD + _px(n) + PAD:.1f} {y:.1f}H{end(n):.1f}"
        parts.append(f'<g class="{"wire lit" if el in lit else "wire"}" data-el="{el}">'
                     f'<title>{e(n)}</title><path d="{"".join(d)}"/>{circles}{texts}</g>')
    for n in placed:
        y = wy(n)
        el = f"node:{e(n)}"
        lit_ = " lit" if el in lit else ""
        if n in gates:
            g = gates[n]
            what = f"{n} = {g.op}({', '.join(g.operands)})"
            cx = bx(n) + box_w(n) / 2
            parts.append(
                f'<g class="gate{lit_}" data-el="{el}"><title>{e(what)}</title>'
                f'<rect x="{bx(n):.1f}" y="{y - 12:.1f}" width="{box_w(n):.1f}" height="24" '
                f'rx="12"/><text class="op" x="{cx:.1f}" y="{y + 4.5:.1f}">{e(g.op)}</text>'
                f'<text class="name" x="{cx:.1f}" y="{y + 29:.1f}">{e(n)}</text></g>')
        else:
            parts.append(f'<g class="leaf{lit_}" data-el="{el}"><text class="name" '
                         f'x="{bx(n):.1f}" y="{y + 4.5:.1f}">{e(n)}</text></g>')
    return len(rows) * LANE


CSS = """
#net.circuit text{font:13px ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;
 paint-order:stroke;stroke:#fff;stroke-width:3px;text-anchor:start;font-weight:normal}
#net.circuit path{fill:none;stroke:#555;stroke-width:1.5}
#net.circuit .dot{fill:#555;stroke:none}#net.circuit .lit .dot{fill:var(--lit);stroke:none}
#net.circuit .val,#net.circuit .val tspan{fill:#0b6e4f}
#net.circuit .grad,#net.circuit .grad tspan{fill:#c92a2a}
#net.circuit .filled{font-weight:bold}
#net.circuit .name{font-weight:bold;fill:#1b1b1b}#net.circuit .note{fill:#666;font-style:italic}
#net.circuit .gate text{text-anchor:middle}
#net.circuit rect{fill:#eef3fb;stroke:#4a6fa5;stroke-width:1.5}
#net.circuit .lit path{stroke:var(--lit);stroke-width:3}
#net.circuit .lit rect{fill:var(--litbg);stroke:var(--lit);stroke-width:3}
#net.circuit .lit .name,#net.circuit .lit .op{fill:var(--lit)}
.circuit-page #walk{grid-template-columns:auto minmax(22em,1fr)}
.circuit-page #picture svg{width:auto;max-width:100%;max-height:none}
.circuit-page .facts th{white-space:nowrap}
@media print{.circuit-page #picture svg{max-width:100%}#net.circuit .lit path{stroke:#555;stroke-width:1.5}#net.circuit .lit .dot{fill:#555}
 #net.circuit .lit rect{fill:#eef3fb;stroke:#4a6fa5;stroke-width:1.5}
 #net.circuit .lit .name,#net.circuit .lit .op{fill:#1b1b1b}}
"""
