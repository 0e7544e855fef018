"""Convolution and pooling as grids of numbers: the input, the kernel, the output.

The picture of a network with shaped inputs (docs/convolution.md), for the terminal (a rich
renderable) and the page (HTML tables). Three parts:

- the *cell model*, shared with the unrolled recurrent picture (``bpwalk.views.unrolled``):
  a cell is keyed ``NAME|FIELD`` (``x[1,2,2]|in``, ``conv1[1,1,2]|out``, ``conv1.K[1,1,1,2]|value``,
  ``h@t2|dnet``); ``key`` names the cell a step's id or an operand's ref stands for,
  ``values_at`` what the cells hold once some steps are done, ``lit`` the cells a step reads
  and fills (what the picture highlights).
- the *panels*: which grids a layer shows in each pass (``panels``) and which panel a step is
  shown on (``panel_of``): a convolution's forward pass is input, kernels, bias and output;
  its backward pass the input and the gradients at its cells' out and net and at its
  kernel (its cells summed against the input); a pooling's forward pass its input and
  output with the winners marked, its backward pass the gradient routed from its cells
  back to its inputs. The gradients are named in the notation (``Names``: dE/dK, or
  Nielsen's dC/dK, printed by ``bpwalk.formulas``).
- ``Grids``, the terminal's drawing of a panel, and ``html_panel``, the page's.

A highlighted cell is in brackets (and bold, reversed where there is colour) and a max-pool
window's winner carries a ``*``, so both survive NO_COLOR and a pipe. Every value comes from
the trace; placement only here.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from bpwalk.formulas import Partial, Sym, render
from bpwalk.notation import Pen, Profile, profile
from bpwalk.trace import Iteration, Step, Trace

HIGHLIGHT = "bold reverse"
WIN = "*"  # after a max-pool window's winner
EMPTY = "·"  # a cell the walk has not reached
MIN_DECIMALS = 2

# ----------------------------------------------------------------------------- cell model

# the field of a cell by the kind of the ref or step id that names it; `net` shares the cell
# of `out` where a cell shows one number (a convolution's output: net until it is activated)
_FIELDS = {"in": "in", "net": "net", "out": "out", "pool": "out", "dout": "dout",
           "din": "dout", "dnet": "dnet", "param": "value", "grad": "grad", "new": "new"}


def key(ref: str, one_number: bool = True) -> str | None:
    """The cell a step id or operand ref stands for (``dnet:h@t2@3`` -> ``h@t2|dnet``: the
    time step kept, the sample left out), or None when it is on no picture (lr, wrt, dact)."""
    kind, _, rest = ref.partition(":")
    field = _FIELDS.get(kind)
    if field is None or not rest:
        return None
    if one_number and field == "net":
        field = "out"
    name, *marks = rest.split("@")
    time = next((m for m in marks if m.startswith("t")), None)
    return f"{name}@{time}|{field}" if time else f"{name}|{field}"


def given(trace: Trace, it: Iteration | None, sample: int | None) -> dict[str, float]:
    """The cells before any step: `sample`'s inputs (none for a step of a whole batch of
    several samples) and the parameters as the update starts."""
    sc = trace.scenario
    values = {f"{p}|value": v for p, v in
              (it.params_before if it is not None else trace.params_first).items()}
    if sample is None:
        if it is not None and len(it.samples) > 1:
            return values
        sample = it.samples[0] if it is not None else 1
    x = sc.x[sample - 1]
    if getattr(sc, "sequence", False):  # x[t][i]: input i at time step t
        for t, row in enumerate(x.tolist(), 1):
            values.update({f"{n}@t{t}|in": v for n, v in zip(sc.inputs, row)})
        lay = sc.layers[0]  # h0: given, an operand of the first step only
        values.update({f"{n}@t0|out": v for n, v in zip(lay.neurons, lay.h0)})
        if lay.kind == "lstm":  # c0 too (net:c@t0: the cell state's value is its net)
            values.update({f"{n}@t0|net": v for n, v in zip(lay.cells, lay.c0)})
    else:
        values.update({f"{n}|in": v for n, v in zip(sc.inputs, x.tolist())})
    return values


def values_at(trace: Trace, it: Iteration, upto: int, one_number: bool = True
              ) -> dict[str, float]:
    """The cells once steps 0..upto of `it` are done (upto = len - 1: the whole update): the
    given numbers, then every step of the sample of step `upto` and of the whole batch."""
    sample = it.steps[upto].sample if upto >= 0 else None
    values = given(trace, it, sample)
    for s in it.steps[: upto + 1]:
        k = key(s.id, one_number)
        if k is not None and (s.sample is None or s.sample == sample):
            values[k] = s.value
    return values


def lit(it: Iteration, index: int, one_number: bool = True,
        ids: dict[str, Step] | None = None) -> set[str]:
    """The cells step `index` reads and the cell it fills; an activation's step (a cell's
    out) also lights what its net was made of: the receptive field stays in view. (`ids`:
    the update's steps by id, when the caller has them.)"""
    s = it.steps[index]
    out = _reads(s, one_number)
    if s.kind == "out" and ":" in s.id:
        net = f"net:{s.id.partition(':')[2]}"
        found = ids.get(net) if ids is not None else \
            next((t for t in it.steps[:index] if t.id == net), None)
        out |= _reads(found, one_number) if found is not None else set()
    return out


def _reads(s: Step, one_number: bool) -> set[str]:
    out = {k for k in [key(s.id, one_number)] if k}
    for term in s.terms:
        out.update(k for op in term if (k := key(op.ref, one_number)))
    for op in s.aux:  # the value a gradient's weight carries (out:h@t1, in:x1@t2)
        if op.ref.startswith(("in:", "out:")) and (k := key(op.ref, one_number)):
            out.add(k)
    return out


def winners(it: Iteration, sample: int | None = None) -> dict[str, str]:
    """Each max-pool window's winner: pool cell -> the input cell whose value it took (the
    forward step's note names it, trace.py)."""
    found = {}
    for s in it.steps:
        if s.kind == "pool" and s.fn == "max" and s.sample in (None, sample) \
                and s.note.endswith("it won"):
            found[s.subject] = s.note.split(" is the largest", 1)[0]
    return found


# ----------------------------------------------------------------------------- names


class Names:
    """What the pictures call a gradient and a field, in a notation and a style: the
    derivative of the loss with respect to out, net, K, x (Mazur's E and net, Nielsen's C
    and z ...), written by the formula printers."""

    __slots__ = ("profile", "style")

    def __init__(self, notation: Profile | str | None, scenario, style: str = "unicode"
                 ) -> None:
        self.profile = profile(notation, scenario)
        self.style = style

    def d(self, bottom: str) -> str:
        """The loss's derivative with respect to a field (out, net) or a name (K, x)."""
        p = self.profile
        sym = p.sym(bottom) if bottom in ("out", "net") else Sym(bottom)
        return render(Partial(p.sym("loss"), sym), self.style)

    def field(self, name: str) -> str:
        """A field's own symbol: net, out (z, a under Nielsen)."""
        return render(self.profile.sym(name), self.style)


# ----------------------------------------------------------------------------- panels


class Grid(NamedTuple):
    title: str
    cells: tuple[tuple[str, ...], ...]  # the key of each cell, rows x columns


class Panel(NamedTuple):
    key: str  # "conv1 forward": the page's id of the panel
    title: str
    grids: tuple[Grid, ...]


def _cube(names: Sequence[str], shape: Sequence[int], field: str) -> list[Grid]:
    """Channel-major cell names as one grid per channel (C x H x W)."""
    c, h, w = shape
    return [Grid("", tuple(tuple(f"{names[(k * h + i) * w + j]}|{field}" for j in range(w))
                           for i in range(h))) for k in range(c)]


def _titled(grids: list[Grid], title: str) -> list[Grid]:
    """Each grid titled, with its channel when there are several."""
    return [g._replace(title=title + (f", channel {k}" if len(grids) > 1 else ""))
            for k, g in enumerate(grids, 1)]


def _input_grids(sc, li: int, field: str, title: str) -> list[Grid]:
    lay = sc.layers[li]
    feeds = sc.layer_inputs(li)
    own = field if li else ("in" if field == "out" else field)
    return _titled(_cube(feeds, lay.in_shape, own), title)


def _source(sc, li: int) -> str:
    """What feeds layer li (0-based): the input x or a layer's name."""
    return "x" if li == 0 else sc.layers[li - 1].name if sc.layers[li - 1].kind != "flatten" \
        else sc.layers[li - 2].name


def _kernels(lay, field: str, title: str) -> list[Grid]:
    o, c, kh, kw = lay.weights.shape
    return [Grid(f"{title}[{a},{b}]" if (o, c) != (1, 1) else title,
                 tuple(tuple(f"{lay.name}.K[{a},{b},{y},{x}]|{field}" for x in range(1, kw + 1))
                       for y in range(1, kh + 1)))
            for a in range(1, o + 1) for b in range(1, c + 1)]


def _bias(lay, field: str, title: str) -> list[Grid]:
    if lay.bias == "none":
        return []
    return [Grid(title, (tuple(f"{b}|{field}" for b in lay.bias_names),))]


GRID_KINDS = ("conv2d", "maxpool", "avgpool")  # the layers drawn as grids


def panels(trace: Trace, n: Names | None = None) -> list[Panel]:
    """Every panel of the network, in layer order: per convolution its forward, backward and
    update panels, per pooling its forward and backward panels; named by `n` (default:
    the scenario's notation, in Unicode)."""
    sc = trace.scenario
    n = n or Names(None, sc)
    has = {key(s.id) for it in trace.iterations for s in it.steps}
    out: list[Panel] = []
    for li, lay in enumerate(sc.layers):
        if lay.kind == "conv2d":
            out += _conv_panels(sc, li, f"{sc.layer_inputs(li)[0]}|dout" in has, n)
        elif lay.kind in GRID_KINDS:
            out += _pool_panels(sc, li, n)
    return out


def _conv_panels(sc, li: int, onward: bool, n: Names) -> list[Panel]:
    """A convolution's panels; `onward`: the gradient goes on to its input's cells."""
    lay, src = sc.layers[li], _source(sc, li)
    forward = Panel(f"{lay.name} forward", (
        f"{lay.name}: the kernel slides over {src}; each cell of the output is the sum of "
        "products over its receptive field"),
        (*_input_grids(sc, li, "out", src), *_kernels(lay, "value", "K"),
         *_bias(lay, "value", "b"),
         *_titled(_cube(lay.neurons, lay.out_shape, "out"), f"{lay.name} out")))
    back = [*_input_grids(sc, li, "out", src),
            *_titled(_cube(lay.neurons, lay.out_shape, "dout"), n.d("out")),
            *_titled(_cube(lay.neurons, lay.out_shape, "dnet"), n.d("net")),
            *_kernels(lay, "grad", n.d("K")), *_bias(lay, "grad", n.d("b"))]
    title = (f"{lay.name}, backward: {n.d('K')} sums, over the output cells, each cell's "
             f"{n.d('net')} times the {src} cell its kernel entry met")
    if onward:  # its cells' gradient at net back through the kernel (the full correlation)
        back += [*_kernels(lay, "value", "K"), *_input_grids(sc, li, "dout", n.d(src))]
        title += (f"; {n.d(src)} sums each cell's {n.d('net')} times the kernel entry that "
                  "met it")
    update = Panel(f"{lay.name} update", f"{lay.name}: the kernel updated",
                   (*_kernels(lay, "value", "K"), *_kernels(lay, "grad", n.d("K")),
                    *_kernels(lay, "new", "K new"), *_bias(lay, "value", "b"),
                    *_bias(lay, "grad", n.d("b")), *_bias(lay, "new", "b new")))
    return [forward, Panel(f"{lay.name} backward", title, tuple(back)), update]


def _pool_panels(sc, li: int, n: Names) -> list[Panel]:
    lay, src = sc.layers[li], _source(sc, li)
    how = ("the largest value of its window (* its winner)" if lay.mode == "max"
           else "the mean of its window")
    to = ("to its window's winner only (*)" if lay.mode == "max"
          else "1/size to each cell of its window")
    return [Panel(f"{lay.name} forward", f"{lay.name}: each cell is {how}",
                  (*_input_grids(sc, li, "out", src),
                   *_titled(_cube(lay.neurons, lay.out_shape, "out"), f"{lay.name} out"))),
            Panel(f"{lay.name} backward", f"{lay.name}, backward: each cell's gradient goes {to}",
                  (*_titled(_cube(lay.neurons, lay.out_shape, "dout"),
                            f"{n.d('out')} {lay.name}"),
                   *_input_grids(sc, li, "dout", f"{n.d('out')} {src}")))]


def panel_of(trace: Trace, step: Step) -> str:
    """The key of the panel step `step` is shown on: its own layer's panel for its pass; a
    gradient reaching a layer's cells, the panel of the layer it came back through; a step
    of a dense layer or of the loss, the last grid layer's panel for its pass."""
    sc = trace.scenario
    grid_layers = [i for i, lay in enumerate(sc.layers) if lay.kind in GRID_KINDS]
    phase = {"loss": "forward"}.get(step.phase, step.phase)
    li = (step.layer or 0) - 1
    if step.kind in ("dout", "din") and li + 1 < len(sc.layers):
        nxt = next((i for i in range(li + 1, len(sc.layers))
                    if sc.layers[i].kind != "flatten"), None)
        if nxt is not None and nxt in grid_layers:
            return f"{sc.layers[nxt].name} backward"
    if li not in grid_layers:  # a dense layer's step, the loss's: what fed them
        li = grid_layers[-1]
        phase = "backward" if phase == "backward" else "forward"
    if sc.layers[li].kind != "conv2d" and phase == "update":
        phase = "forward"
    return f"{sc.layers[li].name} {phase}"


def _layer(trace: Trace, panel_key: str):
    name = panel_key.rpartition(" ")[0]
    return next(lay for lay in trace.scenario.layers if lay.name == name)


def shown_once(it: Iteration) -> tuple[int, str]:
    """The step up to which a picture shown once (run, a printed page) holds the values,
    and whose they are: the whole update; in a batch, its first sample (each sample's
    cells differ) up to that sample's last step."""
    if len(it.samples) == 1:
        return len(it.steps) - 1, ""
    first = it.samples[0]
    last = max(i for i, s in enumerate(it.steps) if s.sample == first)
    return last, f" (sample {first} of {len(it.samples)})"


def static_marks(trace: Trace, it: Iteration | None, p: Panel) -> tuple[set[str], set[str]]:
    """What a panel shown once (run, a printed page) highlights: on a convolution's panels
    its first output cell's step (the receptive field: how the kernel lines up), its first
    kernel entry's gradient (the cells it sums) or update; on a max-pooling's, every
    window's winner."""
    if it is None:
        return set(), set()
    sample = it.steps[shown_once(it)[0]].sample
    phase = p.key.rpartition(" ")[2]
    lay = _layer(trace, p.key)
    if lay.kind == "conv2d":
        kind, subject = {"forward": ("net", lay.neurons[0]),
                         "backward": ("grad", lay.weight_names[0][0]),
                         "update": ("new", lay.weight_names[0][0])}[phase]
        k = next((i for i, s in enumerate(it.steps) if s.kind == kind
                  and s.subject == subject and s.sample in (sample, None)), None)
        return (lit(it, k) if k is not None else set()), set()
    field = "out" if phase == "forward" else "dout"
    return set(), {f"{w}|{field}" for w in winners(it, sample).values()}


# ----------------------------------------------------------------------------- terminal


class Grids:
    """A panel in text: its grids side by side where they fit, else on the next rows; lit
    cells in brackets, winners with a *; values to fewer decimals before they overflow."""

    __slots__ = ("ascii", "decimals", "lit", "marks", "panel", "said", "sizing", "title",
                 "values")

    def __init__(self, panel: Panel, values: dict[str, float], lit: Iterable[str] = (),
                 marks: Iterable[str] = (), decimals: int = 9, ascii: bool = False,
                 title: str = "", said: str = "this step's cells",
                 sizing: dict[str, float] | None = None) -> None:
        self.panel = panel
        self.values = values
        self.lit = set(lit)
        self.marks = set(marks)
        self.decimals = decimals
        self.ascii = ascii
        self.title = title
        self.said = said  # what the brackets mark
        self.sizing = sizing  # the values the grids are sized by (default: their own)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        for d in range(min(self.decimals, 9), MIN_DECIMALS - 1, -1):
            blocks = [self._grid(g, d) for g in self.panel.grids]
            if all(cell_len(b[0].plain) <= width for b in blocks) or d == MIN_DECIMALS:
                break
        title = self.title or self.panel.title
        yield Text(title + (f" (values to {d} decimals)" if d < self.decimals else ""),
                   style="bold cyan")
        yield from _flow(blocks, width)
        drawn = {k for g in self.panel.grids for row in g.cells for k in row}
        legend = f"[ ] {self.said}" if self.lit & drawn else ""
        if self.marks:
            legend += ("; " if legend else "") + f"{WIN} a window's winner"
        if legend:
            yield Text(legend, style="dim")

    def _grid(self, g: Grid, d: int) -> list[Text]:
        pen = Pen("ascii" if self.ascii else "unicode", d)
        empty = "." if self.ascii else EMPTY
        shown = [[pen.num(self.values[k]) if k in self.values else empty for k in row]
                 for row in g.cells]
        sizing = self.sizing or self.values
        w = max(cell_len(pen.num(sizing[k]) if k in sizing else empty)
                for row in g.cells for k in row)
        w = max(w, *(cell_len(s) for row in shown for s in row))
        side = "|" if self.ascii else "│"
        lines = []
        for row, texts in zip(g.cells, shown):
            t = Text(side)
            for k, s in zip(row, texts):
                on = k in self.lit
                t.append("[" if on else " ")
                t.append(s.rjust(w), style=HIGHLIGHT if on else "")
                t.append("]" if on else " ")
                t.append(WIN if k in self.marks else " ")
            t.append(side)
            lines.append(t)
        return [Text(g.title, style="bold"), *lines]


def _flow(blocks: list[list[Text]], width: int, gap: int = 3) -> Iterable[Text]:
    """Blocks of lines left to right, wrapping to a new band where the next does not fit."""
    band: list[list[Text]] = []
    used = 0
    for b in [*blocks, None]:
        w = 0 if b is None else max(cell_len(t.plain) for t in b)
        if band and (b is None or used + gap + w > width):
            widths = [max(cell_len(t.plain) for t in x) for x in band]
            for r in range(max(len(x) for x in band)):
                line = Text()
                for x, bw in zip(band, widths):
                    t = x[r] if r < len(x) else Text("")
                    if line.plain:
                        line.append(" " * gap)
                    line.append_text(t)
                    line.append(" " * (bw - cell_len(t.plain)))
                line.rstrip()
                yield line
            band, used = [], 0
        if b is not None:
            used += (gap if band else 0) + w
            band.append(b)


def _marks(trace: Trace, step: Step, pkey: str, wins: dict[str, str]) -> set[str]:
    """The winners a step's panel marks: its window's at a max-pool step, every window's
    on a max-pool's backward panel (where the gradient goes)."""
    if step.kind == "pool":
        return {f"{wins[step.subject]}|out"} if step.subject in wins else set()
    if pkey.endswith("backward") and _layer(trace, pkey).kind == "maxpool":
        return {f"{w}|dout" for w in wins.values()}
    return set()


def at_step(trace: Trace, it: Iteration, index: int, decimals: int, ascii: bool = False,
            notation: Profile | str | None = None) -> Grids:
    """The panel of step `index`: the values so far, the step's cells in brackets, and the
    winner of a max-pool window (at its forward step) or of every window (routing back)."""
    step = it.steps[index]
    pkey = panel_of(trace, step)
    names = Names(notation, trace.scenario, "ascii" if ascii else "unicode")
    panel = next(p for p in panels(trace, names) if p.key == pkey)
    on = lit(it, index)
    marks = _marks(trace, step, pkey, winners(it, step.sample))
    who = f" (sample {step.sample})" if step.sample is not None else ""
    return Grids(panel, values_at(trace, it, index), on, marks, decimals, ascii,
                 f"{panel.title}: at {step.id}{who}",
                 sizing=values_at(trace, it, len(it.steps) - 1))


def once(trace: Trace, it: Iteration | None, decimals: int, ascii: bool = False,
         passes: tuple[str, ...] = ("forward", "backward"),
         notation: Profile | str | None = None) -> list[Grids]:
    """Each grid layer's panels for `passes`, shown once: the values of the whole update
    (`it`; None: the given numbers only), with ``static_marks``."""
    out = []
    upto, whose = shown_once(it) if it is not None else (-1, "")
    values = given(trace, it, None) if it is None else values_at(trace, it, upto)
    for p in panels(trace, Names(notation, trace.scenario, "ascii" if ascii else "unicode")):
        if p.key.rpartition(" ")[2] not in passes:
            continue
        if it is None and not any(k in values for g in p.grids for r in g.cells for k in r):
            continue  # nothing given on it
        on, marks = static_marks(trace, it, p)
        out.append(Grids(p, values, on, marks, decimals, ascii, p.title + whose,
                         said=STATIC[p.key.rpartition(" ")[2]]))
    return out


# what a panel shown once highlights (static_marks), said under it
STATIC = {"forward": "the first output cell and its receptive field",
          "backward": "the first kernel entry's gradient and the cells it sums",
          "update": "the first kernel entry's update"}


# ----------------------------------------------------------------------------- the page


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def html_panel(p: Panel, values: dict[str, float], pen: Pen, on: set[str], marks: set[str]
               ) -> str:
    """A panel as HTML: each grid a table whose cells carry their key (data-k) for the
    page's script; the values, highlights and marks of the static view filled in."""
    tables = []
    for g in p.grids:
        rows = "".join(
            "<tr>" + "".join(
                f'<td data-k="{_e(k)}"{_cls(k, on, marks)}>'
                f'{pen.num(values[k]) if k in values else EMPTY}</td>' for k in row) + "</tr>"
            for row in g.cells)
        tables.append(f'<table class="grid"><caption>{_e(g.title)}</caption>{rows}</table>')
    return (f'<div class="panel" data-panel="{_e(p.key)}"><p class="ptitle">{_e(p.title)}</p>'
            f'<div class="grids">{"".join(tables)}</div></div>')


def _cls(k: str, on: set[str], marks: set[str]) -> str:
    c = " ".join(n for n, yes in (("lit", k in on), ("win", k in marks)) if yes)
    return f' class="{c}"' if c else ""


def page_picture(trace: Trace, pen: Pen, blanks: bool) -> str:
    """Every panel, each as it is shown once (the static view: a handout, a printed page);
    on screen the script shows the panel of the current step."""
    it = trace.iterations[0] if trace.iterations else None
    values = given(trace, it, None) if blanks or it is None else \
        values_at(trace, it, shown_once(it)[0])
    out = []
    for p in panels(trace, Names(pen.profile, trace.scenario)):
        on, marks = static_marks(trace, None if blanks else it, p)
        out.append(html_panel(p, values, pen, on, marks))
    return f'<div id="grids">{"".join(out)}</div>'


def steps_attrs(trace: Trace, it: Iteration, pen: Pen) -> list[str]:
    """What the page's script needs of each step of `it`: its panel, the cell it fills and
    its value there, the cells it lights and the winners it marks."""
    ids = {s.id: s for s in it.steps}
    wins = {k: winners(it, k) for k in {s.sample for s in it.steps}}
    out = []
    for index, s in enumerate(it.steps):
        pkey = panel_of(trace, s)
        on = " ".join(sorted(lit(it, index, ids=ids)))
        attrs = f' data-panel="{_e(pkey)}" data-lit="{_e(on)}"'
        k = key(s.id)
        if k is not None:
            attrs += f' data-k="{_e(k)}" data-kv="{pen.num(s.value)}"'
        marks = _marks(trace, s, pkey, wins[s.sample])
        if marks:
            attrs += f' data-win="{_e(" ".join(sorted(marks)))}"'
        out.append(attrs)
    return out


def given_attr(trace: Trace, it: Iteration, pen: Pen) -> str:
    """The given cells per sample a step may be about, for the page's script."""
    import json

    per = {("" if k is None else str(k)): {c: pen.num(v) for c, v in given(trace, it, k).items()}
           for k in (None, *(it.samples if len(it.samples) > 1 else ()))}
    return f' data-cells="{_e(json.dumps(per))}"'


CSS = """
#grids .panel{margin:.2em 0 1em;max-width:100%;overflow-x:auto}#grids .ptitle{margin:.2em 0;font-weight:bold;color:#333}
#grids .grids{display:flex;flex-wrap:wrap;gap:.6em 1.2em;align-items:flex-start}
table.grid{border-collapse:collapse;margin:0;font-variant-numeric:tabular-nums;break-inside:avoid}
table.grid caption{font-weight:normal;color:var(--soft);font-size:.85em;text-align:left;
 white-space:nowrap}
table.grid td{border:1px solid #999;padding:.1em .35em;text-align:right;font-size:.95em;
 min-width:2.2em;overflow-wrap:normal;white-space:nowrap}
table.grid td.lit{background:var(--litbg);outline:2px solid var(--lit);outline-offset:-2px;
 font-weight:bold}
table.grid td.win::after{content:"*";color:var(--lit);font-weight:bold}
.stepping.live #grids .panel:not(.shown){display:none}
@media print{.stepping.live #grids .panel{display:block!important}}
"""

# The page's script for the grids (and the unrolled picture): it follows the step the main
# script marks current (class "current"), and fills the cells from the steps' data-k/data-kv
# up to it, lights its data-lit cells and marks its data-win cells; the panel of the step
# (data-panel) is the one shown. Printed, the static view the page was written with.
SCRIPT = r"""
(function(){
const body=document.body, box=document.getElementById('grids');
const steps=[...document.querySelectorAll('.step')];
if(!box||!steps.length) return;
const original=box.innerHTML;
const cells=()=>[...box.querySelectorAll('[data-k]')];
function paint(s){
  const upd=s.closest('.update'), k=s.dataset.sample||'';
  const given=JSON.parse(upd.dataset.cells)[k]||{};
  const v=Object.assign({},given);
  for(const t of upd.querySelectorAll('.step')){
    if(t.dataset.k&&(!t.dataset.sample||t.dataset.sample===k)) v[t.dataset.k]=t.dataset.kv;
    if(t===s) break;
  }
  const on=new Set((s.dataset.lit||'').split(' ')), win=new Set((s.dataset.win||'').split(' '));
  for(const c of cells()){
    c.textContent=c.dataset.k in v?v[c.dataset.k]:'\u00b7';
    c.classList.toggle('lit',on.has(c.dataset.a||c.dataset.k)); c.classList.toggle('win',win.has(c.dataset.k));
  }
  for(const p of box.querySelectorAll('.panel')) p.classList.toggle('shown',!s.dataset.panel||p.dataset.panel===s.dataset.panel);
}
function current(){const s=document.querySelector('.step.current'); if(s) paint(s);}
body.classList.add('live');
new MutationObserver(current).observe(document.getElementById('steps'),
  {attributes:true,subtree:true,attributeFilter:['class']});
addEventListener('beforeprint',()=>{box.innerHTML=original;});
addEventListener('afterprint',current);
current();
})();
"""
