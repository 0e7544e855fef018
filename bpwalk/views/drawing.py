"""The network as a picture: which value sits where, and the drawing for the terminal.

Two parts, shared by the terminal and the HTML page so that both draw the same thing:

- the *picture model*: what a step fills in (``slot``: a node's net, out or δ, a parameter's
  new value) and which elements it reads (``operands``), and the values on the picture up to
  a step (``values_at``). Elements are named ``node:h1`` (inputs and neurons) and
  ``param:w5`` (weights and biases).
- ``Drawing``: a rich renderable of the network in text, layers as columns, neurons as boxes
  with their values, each weight named beside the connection it labels, each neuron's bias in
  its box's title, and the given and updated parameter values in a legend underneath.
  The operands of the step on screen get a double border (and colour where there is colour),
  so the highlight survives NO_COLOR and a pipe.

Placement arithmetic only (columns, widths): every value comes from the trace.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.text import Text

from bpwalk.formulas import render
from bpwalk.notation import Pen, Profile, profile
from bpwalk.scenario.model import is_graph
from bpwalk.trace import Iteration, Step, Trace

MAX_COLUMNS = 4  # inputs + layers drawn: 4 layers (counting the inputs) of ...
MAX_NEURONS = 4  # ... at most 4 neurons each fit 80 columns
MIN_DECIMALS = 2  # the drawing shows fewer decimals before it gives up and says why
NODE_FIELDS = ("net", "out", "δ")  # what a neuron's box shows, once the walk reaches it
HIGHLIGHT = "bold reverse"
NEW_MARK = "*"  # after a parameter's value: the update's new value

# ----------------------------------------------------------------------------- picture model

_NODE_KINDS = {"in", "out", "net", "dnet", "dout", "dact", "target", "loss"}
_PARAM_KINDS = {"param", "grad", "new"}
_SLOTS = {"net": "net", "out": "out", "dnet": "δ", "new": "new"}


def _element(ref: str) -> list[str]:
    """The picture elements an operand ref or step id stands for."""
    kind, _, name = ref.partition("@")[0].partition(":")
    if kind in _NODE_KINDS and name:
        return [f"node:{name}"]
    if kind in _PARAM_KINDS:
        return [f"param:{name}"]
    if kind == "wrt":  # d net_o1 / d w5: the weight w5 (its value is the input it carries)
        return [f"param:{name.split('/')[1]}"]
    if kind == "jac":  # d out_oj / d net_ok
        return [f"node:{n}" for n in name.split("/")]
    return []  # lr, 1, K, slope: not on the picture


def slot(step: Step) -> tuple[str, str] | None:
    """(element, field) that `step`'s value fills on the picture, or None."""
    field_ = _SLOTS.get(step.kind)
    if field_ is None or not step.subject:
        return None
    return (f"param:{step.subject}" if step.kind == "new" else f"node:{step.subject}"), field_


def operands(step: Step) -> set[str]:
    """The elements `step` reads, and the one it is about: what the picture highlights."""
    out = set(_element(step.id))
    for term in step.terms:
        for op in term:
            out.update(_element(op.ref))
            if op.ref.startswith("wrt:"):  # d net_o1 / d w5 is the value w5 carries: out_h1
                out.update(_element(next((a.ref for a in step.aux if a.ref.startswith(
                    ("out:", "in:"))), "")))
    return out


def given(trace: Trace, it: Iteration | None, sample: int | None = None) -> dict[tuple[str, str],
                                                                                   float]:
    """The numbers on the picture before any step: inputs of `sample` (default: the update's
    first sample) and the parameters as the update starts."""
    params = it.params_before if it is not None else trace.params_first
    if sample is None:
        sample = it.samples[0] if it is not None else 1
    values = _inputs(trace, sample)
    values.update({(f"param:{p}", "value"): v for p, v in params.items()})
    return values


def _inputs(trace: Trace, sample: int) -> dict[tuple[str, str], float]:
    """The input nodes of the picture at `sample`'s inputs."""
    sc = trace.scenario
    if getattr(sc, "sequence", False):  # a sequence: bpwalk.views.unrolled's picture
        return {}
    return {(f"node:{n}", "in"): v for n, v in zip(sc.inputs, sc.x[sample - 1].tolist())}


def values_at(trace: Trace, it: Iteration, upto: int) -> dict[tuple[str, str], float]:
    """What the picture shows once steps 0..upto of `it` are done (upto = -1: none yet).

    In a batch the picture is one sample's: the sample of step `upto` (its inputs, and the
    values of its own steps), so a formula's numbers are the ones on the picture. A step of
    the whole batch (its loss, a summed gradient) shows no node values: they differ per
    sample. Parameters (and their new values) are the same for every sample."""
    if upto < 0:
        return given(trace, it)
    sample = it.steps[upto].sample
    values = values_at_start(trace, it, sample)
    for s in it.steps[: upto + 1]:
        where = slot(s)
        if where is not None and (s.sample is None or s.sample == sample):
            values[where] = s.value
    return values


def values_at_start(trace: Trace, it: Iteration, sample: int | None
                    ) -> dict[tuple[str, str], float]:
    """The picture before any step of `sample` (None: a step of the whole batch, or of a
    one-sample update): that sample's inputs and the parameters as the update starts."""
    if sample is None and len(it.samples) > 1:
        return {k: v for k, v in given(trace, it).items() if k[0].startswith("param:")}
    return given(trace, it, sample)


def sample_label(it: Iteration, step: Step) -> str:
    """Whose values the picture shows at `step`, when the update has several samples:
    "sample 2 of 4", "the batch of samples 1, 2, 3, 4"; "" for a one-sample update."""
    if len(it.samples) == 1:
        return ""
    if step.sample is not None:
        return f"sample {step.sample} of {len(it.samples)}"
    return "the batch of samples " + ", ".join(map(str, it.samples))


def field_label(f: str, p: Profile, style: str = "unicode") -> str:
    """What a neuron's field is called in profile `p`: net, out, δ (Mazur); z, a, δ
    (Nielsen); I, O, Err (Han & Kamber); "" for an input's value."""
    if f == "in":
        return ""
    if f == "δ":
        return render(p.sym("delta"), style) if p.delta else ("d" if style == "ascii" else "δ")
    return render(p.sym(f), style)


def shown_value(field_: str, value: float, p: Profile) -> float:
    """A value as the profile writes it: Han & Kamber's Err is −δ."""
    return value * p.sign if field_ == "δ" and p.delta else value


# ----------------------------------------------------------------------------- terminal drawing

# A cell of the connections' lines by the directions it joins: up 1, down 2, left 4, right 8
_JOINS = {0: " ", 1: "│", 2: "│", 3: "│", 4: "─", 8: "─", 12: "─", 10: "┌", 6: "┐", 9: "└",
          5: "┘", 11: "├", 7: "┤", 14: "┬", 13: "┴", 15: "┼"}
_ASCII_JOINS = {k: " " if k == 0 else "-" if k in (4, 8, 12) else "|" if k in (1, 2, 3)
                else "+" for k in _JOINS}


def drawable(trace: Trace) -> str | None:
    """None if the network can be drawn, else one line saying why not."""
    sc = trace.scenario  # (a convolution's grids and a sequence: bpwalk.views.grids, unrolled)
    if getattr(sc, "shaped", False) and not gridded(trace):
        return f"Not drawn: {sc.shaped_words.replace(' or ', ' and ')} are not drawn yet."
    columns = [sc.inputs, *(lay.neurons for lay in sc.layers)]
    if len(columns) > MAX_COLUMNS or max(len(c) for c in columns) > MAX_NEURONS:
        return (f"Not drawn: {sc.shape} is more than {MAX_COLUMNS} layers (inputs counted) "
                f"of {MAX_NEURONS} neurons.")
    return None


class Drawing:
    """The network in text at the values given (see ``values_at``), `lit` highlighted.

    (A plain class, not a dataclass: defining one costs `bpwalk run` a millisecond.)
    """

    __slots__ = ("ascii", "decimals", "lit", "profile", "title", "trace", "values")

    def __init__(self, trace: Trace, values: dict[tuple[str, str], float],
                 lit: frozenset[str] = frozenset(), decimals: int = 9,
                 title: str = "The network", ascii: bool = False,
                 notation: Profile | str | None = None) -> None:
        self.profile = profile(notation, trace.scenario)
        self.trace = trace
        self.values = values
        self.lit = lit
        self.decimals = decimals
        self.title = title
        self.ascii = ascii

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        why = drawable(self.trace)
        if why is not None:
            yield Text(why, style="italic")
            return
        # the connections drawn as lines where they fit, else their labels alone; then
        # fewer decimals before giving up
        for d, wires in [(d, w) for d in range(min(self.decimals, 9), MIN_DECIMALS - 1, -1)
                         for w in (True, False)]:
            lines = self._lines(d, wires)
            if lines is not None and max(cell_len(t.plain) for t in lines) <= options.max_width:
                yield Text(self.title + (f" (values to {d} decimals)" if d < self.decimals
                                         else ""), style="bold cyan")
                yield from lines
                yield from self._legend(d, options.max_width)
                return
        yield Text(f"The network is not drawn: it needs more than {options.max_width} "
                   "columns; the tables list every parameter.", style="italic")

    # -- pieces

    def _num(self, value: float, decimals: int) -> str:
        """A value as the walkthrough writes it (a true minus sign in Unicode)."""
        return Pen("ascii" if self.ascii else "unicode", decimals).num(value)

    def _sym(self, param: str) -> str:
        """A parameter as the profile writes it: its own name (w5), or the layer-indexed
        symbol of a profile that numbers layers (w³₁₂ under Nielsen)."""
        if param not in self.profile.places:
            return param
        return render(self.profile.param(param), "ascii" if self.ascii else "unicode")

    def _chars(self, lit: bool) -> str:
        """Box corners and sides: ┌┐└┘─│, doubled when highlighted."""
        if self.ascii:
            return "####=#" if lit else "++++-|"
        return "╔╗╚╝═║" if lit else "┌┐└┘─│"

    def _node(self, name: str, rows: list[str], bias: str, width: int) -> list[Text]:
        lit = f"node:{name}" in self.lit
        tl, tr, bl, br, h, v = self._chars(lit)[:6]
        style = HIGHLIGHT if lit else ""
        head = f" {name}{' +' + self._sym(bias) if bias else ''} "
        out = [Text(tl + head + h * (width - 2 - cell_len(head)) + tr, style=style)]
        for r in rows:
            out.append(Text(v + r.ljust(width - 2) + v, style=style))
        out.append(Text(bl + h * (width - 2) + br, style=style))
        return out

    def _lines(self, d: int, wires: bool = False) -> list[Text] | None:
        """The drawing's rows at `d` decimals, with the connections' lines (`wires`), or
        None when the lines cannot be drawn without two of them running together."""
        sc = self.trace.scenario
        columns: list[list[tuple[str, list[str], str]]] = []
        inputs = []
        for n in sc.inputs:
            v = self.values.get((f"node:{n}", "in"))
            inputs.append((n, ["" if v is None else self._num(v, d), "", ""], ""))
        columns.append(inputs)
        for lay in sc.layers:
            col = []
            for j, n in enumerate(lay.neurons):
                rows = []
                for f in NODE_FIELDS:
                    v = self.values.get((f"node:{n}", f))
                    label = field_label(f, self.profile, "ascii" if self.ascii else "unicode")
                    text = "" if v is None else self._num(shown_value(f, v, self.profile), d)
                    rows.append(f"{label} {text}".rstrip())
                bias = (lay.bias_names[0] if lay.bias == "shared" else
                        lay.bias_names[j] if lay.bias == "per_neuron" else "")
                col.append((n, rows, bias))
            columns.append(col)
        # connectors: beside each source box, the weights it feeds, one per row: "w5→o1"
        arrow = "->" if self.ascii else "→"
        links: list[dict[str, list[tuple[str, str]]]] = []
        for li, lay in enumerate(sc.layers):
            feeds = sc.layer_inputs(li)
            per_source: dict[str, list[tuple[str, str]]] = {s: [] for s in feeds}
            for j, row in enumerate(lay.weight_names):
                for i, w in enumerate(row):
                    per_source[feeds[i]].append((w, f"{self._sym(w)}{arrow}{lay.neurons[j]}"))
            links.append(per_source)
        box_w = [max(max(cell_len(n) + 6 + cell_len(b), *(cell_len(r) + 2 for r in rows))
                     for n, rows, b in col) for col in columns]
        link_w = [max(cell_len(label) for labels in per.values() for _, label in labels) + 4
                  for per in links]
        height = 5  # a box: border, net, out, δ, border
        n_rows = max(len(c) for c in columns) * height
        grid = [Text() for _ in range(n_rows)]
        for ci, col in enumerate(columns):
            # centre a shorter column against the tallest one
            top = (n_rows - len(col) * height) // 2
            block: list[Text] = [Text(" " * box_w[ci]) for _ in range(n_rows)]
            conn: list[Text] = [Text(" " * link_w[ci]) for _ in range(n_rows)] \
                if ci < len(links) else []
            ends: list[tuple[int, int]] = []  # (row of a label, index of its target)
            for k, (name, rows, bias) in enumerate(col):
                # inputs have one value row; pad so every box has the same height
                lines = self._node(name, rows, bias, box_w[ci])
                for r, t in enumerate(lines):
                    block[top + k * height + r] = t
                if conn:
                    for r, (w, label) in enumerate(links[ci][name][: height - 1]):
                        style = HIGHLIGHT if f"param:{w}" in self.lit else ""
                        t = Text(" ─ " if not self.ascii else " - ")
                        t.append(label, style=style)
                        dash = "-" if self.ascii else "─"
                        t.append((" " + dash * link_w[ci])[: link_w[ci] - cell_len(t.plain)]
                                 if wires else " " * (link_w[ci] - cell_len(t.plain)))
                        conn[top + k * height + r + 1] = t
                        target = label.rsplit("->" if self.ascii else "→", 1)[1]
                        ends.append((top + k * height + r + 1,
                                     sc.layers[ci].neurons.index(target)))
            if conn and wires:
                nxt = columns[ci + 1]
                mids = [(n_rows - len(nxt) * height) // 2 + j * height + 2
                        for j in range(len(nxt))]
                drawn = self._wires(ends, mids, n_rows)
                if drawn is None:
                    return None
                for r, t in enumerate(drawn):
                    conn[r].append(t)
            for r in range(n_rows):
                grid[r].append_text(block[r])
                if conn:
                    grid[r].append_text(conn[r])
        return [t for t in grid if t.plain.strip()] if n_rows else []

    def _wires(self, ends: list[tuple[int, int]], mids: list[int], n_rows: int
               ) -> list[str] | None:
        """The lines from each weight's label (row, target) into its target box: along the
        row to the target's lane, down or up the lane, then into the box at one of its
        value rows. Each cell collects the directions it joins (up, down, left, right) and
        is drawn as the box-drawing character that joins them. None when some target has
        no row to enter by without running into another label's line."""
        up, down, left, right = 1, 2, 4, 8
        n = len(mids)
        lanes = [2 * (n - 1 - j) + 1 for j in range(n)]  # the last target's lane first
        width = 2 * n + 1
        entries = []
        for j, m in enumerate(mids):  # a row whose labels stop before this lane
            clear = [r for r in (m, m - 1, m + 1)
                     if all(t == j or lanes[t] < lanes[j] for row, t in ends if row == r)]
            if not clear:
                return None
            entries.append(clear[0])
        cells = [[0] * width for _ in range(n_rows)]
        for row, j in ends:
            lane, mid = lanes[j], entries[j]
            for x in range(lane):
                cells[row][x] |= left | right
            cells[row][lane] |= left | (down if mid > row else up if mid < row else right)
            for r in range(min(row, mid) + 1, max(row, mid)):
                cells[r][lane] |= up | down
            if mid != row:
                cells[mid][lane] |= (up if mid > row else down) | right
            for x in range(lane + 1, width):
                cells[mid][x] |= left | right
        chars = _ASCII_JOINS if self.ascii else _JOINS
        return ["".join(chars[c] for c in line) for line in cells]

    def _legend(self, d: int, width: int) -> Iterable[Text]:
        """Every parameter's value: the given one, or the new one once the update set it."""
        words = [Text("parameters (* updated):" if any(k[1] == "new" for k in self.values)
                      else "parameters:")]
        for p in self.trace.scenario.param_names:
            new = self.values.get((f"param:{p}", "new"))
            old = self.values.get((f"param:{p}", "value"))
            shown = new if new is not None else old
            t = Text(f"{self._sym(p)} {'' if shown is None else self._num(shown, d)}"
                     + (NEW_MARK if new is not None else ""),
                     style=HIGHLIGHT if f"param:{p}" in self.lit else "")
            words.append(t)
        line = Text()
        for t in words:
            if line.plain and cell_len(line.plain) + 2 + cell_len(t.plain) > width:
                yield line
                line = Text()
            if line.plain:
                line.append("  ")
            line.append_text(t)
        if line.plain:
            yield line


def at_step(trace: Trace, it: Iteration, index: int, decimals: int, ascii: bool = False,
            notation: Profile | str | None = None) -> RenderableType:
    """The drawing at step `index` of `it`: values so far, the step's operands highlighted."""
    if is_graph(trace.scenario):
        from bpwalk.views import circuit_drawing as circuit

        return circuit.at_step(trace, it, index, decimals, ascii)
    if gridded(trace):
        from bpwalk.views import grids

        return grids.at_step(trace, it, index, decimals, ascii, notation)
    if attention(trace):  # (the stepper draws its weights: stepper._weights)
        return Text(ATTENTION_PICTURE)
    if getattr(trace.scenario, "sequence", False):
        from bpwalk.views import unrolled

        return unrolled.at_step(trace, it, index, decimals, ascii, notation)
    step = it.steps[index]
    which = sample_label(it, step)
    return Drawing(trace, values_at(trace, it, index), frozenset(operands(step)), decimals,
                   title=f"The network at {step.id}" + (f" ({which})" if which else ""),
                   ascii=ascii, notation=notation)


# an attention head's picture is its attention weights, once they are worked out
ATTENTION_PICTURE = ("(An attention head's picture is its attention weights P, a heat grid "
                     "with the numbers: after each update's forward pass, and at the end of "
                     "it.)")


def gridded(trace: Trace) -> bool:
    """Is the trace's network drawn as grids (it has a convolution or a pooling layer)?"""
    from bpwalk.views.grids import GRID_KINDS

    sc = trace.scenario
    return getattr(sc, "shaped", False) and any(lay.kind in GRID_KINDS for lay in sc.layers)


def drawn_unrolled(trace: Trace) -> bool:
    """Is the trace's network drawn unrolled in time (an rnn or lstm layer first)?"""
    sc = trace.scenario
    return getattr(sc, "sequence", False) and sc.layers[0].kind in ("rnn", "lstm")


def attention(trace: Trace) -> bool:
    """Is the trace's network an attention head (its picture: the weights' heat grid)?"""
    sc = trace.scenario
    return getattr(sc, "sequence", False) and sc.layers[0].kind == "attention"


def _spaced(items: list) -> list:
    """Renderables with an empty line between them."""
    return [x for k, item in enumerate(items) for x in ((Text(), item) if k else (item,))]


def opening(trace: Trace, decimals: int, ascii: bool = False,
            notation: Profile | str | None = None) -> RenderableType:
    """The drawing with the given numbers only (inputs, starting parameters)."""
    if is_graph(trace.scenario):
        from bpwalk.views import circuit_drawing as circuit

        return circuit.opening(trace, decimals, ascii)
    if attention(trace):
        return Text(ATTENTION_PICTURE)
    it = trace.iterations[0] if trace.iterations else None
    if gridded(trace):  # the given grids: input, kernels
        from bpwalk.views import grids

        return Group(*_spaced(grids.once(trace, None, decimals, ascii, ("forward",), notation)))
    if getattr(trace.scenario, "sequence", False):
        from bpwalk.views import unrolled

        return unrolled.once(trace, it, decimals, ascii, given_only=True, notation=notation)
    return Drawing(trace, given(trace, it), decimals=decimals, ascii=ascii, notation=notation)


def after(trace: Trace, it: Iteration, decimals: int, ascii: bool = False,
          notation: Profile | str | None = None) -> RenderableType:
    """The drawing once update `it` is done: out, δ and the new parameters filled in (in a
    batch, the new parameters only: the nodes' values differ per sample)."""
    if is_graph(trace.scenario):
        from bpwalk.views import circuit_drawing as circuit

        return circuit.after(trace, it, decimals, ascii)
    if attention(trace):  # the head's picture: its attention weights, per sample
        from bpwalk.notation import Pen, profile
        from bpwalk.views import attention as heat

        pen = Pen("ascii" if ascii else "unicode", decimals,
                  profile(notation, trace.scenario))
        samples = it.samples if len(it.samples) > 1 else [None]
        return Group(*(heat.picture(trace, it, s, pen) for s in samples))
    if gridded(trace):  # each grid layer's panels, once
        from bpwalk.views import grids

        return Group(*_spaced(grids.once(trace, it, decimals, ascii, notation=notation)))
    if getattr(trace.scenario, "sequence", False):
        from bpwalk.views import unrolled

        return unrolled.once(trace, it, decimals, ascii, notation=notation)
    batch = " (new parameters; node values differ per sample)" if len(it.samples) > 1 else ""
    return Drawing(trace, values_at(trace, it, len(it.steps) - 1), decimals=decimals,
                   title=f"The network after update {it.number}{batch}", ascii=ascii,
                   notation=notation)
