"""The HTML view: one self-contained page that steps like the terminal and prints as a handout.

Everything is inline (CSS, JavaScript, SVG, MathML, the math font as a data: URL): the file
works offline, with no fetch and no CDN, and typesets alike everywhere. Math is MathML written at export time by the notation's MathML printer
(``bpwalk.formulas``), one <math> element per piece of a formula; the network is an SVG
whose nodes and connections carry the values of the step shown and highlight its operands (the
picture model of ``bpwalk.views.drawing``); when several updates ran, the loss is an SVG chart.

Content and order are the outline's (``bpwalk.views.outline``), as in the terminal and the
Markdown: heading, the given numbers, then per shown update the forward pass, the loss, the
backward pass and the update with their captions and notes, then a summary.
Every number is formatted here from the Trace; the script only shows and hides what the page
already holds and copies the preformatted values of the steps onto the picture.

``blanks=True`` makes the printable worksheet: a line for the student's name, the given
numbers, the drawing, every formula in symbols and a box to work in where each result goes.
"""

from __future__ import annotations

import html
import json
import re

from bpwalk.formulas import Node, Seq
from bpwalk.notation import (
    Formula,
    Pen,
    Profile,
    lookup,
    loss_rule,
    number,
    optimizer_settings,
    profile,
)
from bpwalk.scenario.model import is_graph
from bpwalk.trace import PHASE_TITLES, Iteration, Step, Trace
from bpwalk.views import drawing, outline
from bpwalk.views.outline import Update


def render(trace: Trace, decimals: int = 9, blanks: bool = False,
           notation: Profile | str | None = None,
           keep_zeros: bool = False, key: bool = False, matrix: bool = False,
           paper: str | None = None, compact: bool = False) -> str:
    """The whole page as one HTML document, in the notation of the profile `notation`.

    `key`: the worksheet's answer key, a handout laid out like the worksheet (no stepping,
    no script) with every side of every step and its result filled in. `matrix`: the page
    also holds the matrix form and opens in it (a toggle switches). `paper`: the printed
    page's size ("a4", "letter"; None: the browser's choice), for the PDF. `compact`: a
    notebook's view, the picture beside the current step and the problem's tables folded."""
    pen = Pen("mathml", decimals, profile(notation, trace.scenario), keep_zeros, lookup(trace))
    sheet = blanks or key
    graph = is_graph(trace.scenario)
    if graph:
        from bpwalk.views import circuit_drawing

        parts = [_circuit_heading(trace, pen, blanks, key), '<div id="walk">',
                 (f'<figure id="picture">{_circuit_svg(trace, pen, blanks)}'
                  '<figcaption id="where"></figcaption></figure>'),
                 '<div id="steps">']
        parts += [_circuit_update(trace, it, pen, blanks) for it in trace.iterations]
    else:
        parts = [_heading(trace, pen, blanks, key, matrix),
                 '<div id="walk">',
                 (f'<figure id="picture">{_svg(trace, pen, blanks)}'
                  f'<figcaption><span id="where"></span><span class="printed">'
                  f'{_e(_printed_caption(trace, blanks))}</span></figcaption></figure>'),
                 '<div id="steps">']
        h = outline.heading(trace, pen.profile)
        parts += [_update(trace, h, it, up, pen, blanks)
                  for it, up in zip(trace.iterations, outline.updates(trace, pen.profile))]
    parts.append("</div></div>")
    if matrix and not sheet and not graph:
        from bpwalk.views import matrix as matrix_view

        parts.append(matrix_view.html_section(trace, pen))
    if not sheet and graph:
        g = trace.scenario.graph
        what = "loss" if g.loss else f"output {g.result}"
        parts += [_circuit_summary(trace, pen),
                  _loss_chart(trace, f"{what.capitalize()} over the", what)]
    elif not sheet:
        parts += [_summary(trace, pen), _loss_chart(trace)]
    body = "\n".join(parts)
    mode = "sheet" if sheet else "stepping matrix" if matrix else "stepping"
    mode += " circuit-page" if graph else ""
    mode += " compact" if compact else ""
    size = f"@page{{size:{_PAPER[paper]}}}" if paper else ""
    css = CSS + circuit_drawing.CSS if graph else CSS
    if drawing.attention(trace):  # its matrices' tables and the weights' heat grid
        css += ATTENTION_CSS
    picture = _grid_view(trace)
    script = SCRIPT
    if picture is not None:  # a convolution's grids, a sequence unrolled: their own script
        from bpwalk.views import grids, unrolled

        css += grids.CSS + unrolled.CSS
        script += "</script><script>" + grids.SCRIPT
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(_title(trace, blanks, key))}</title>"
            f"<style>{math_font_css()}{css}{size}</style></head>\n<body class=\"{mode}\">\n"
            f"{body}\n"
            f"<script>{'' if sheet else script}</script></body></html>\n")


def _grid_view(trace: Trace):
    """The module drawing this network's picture instead of the network's SVG: the grids
    of a convolution (bpwalk.views.grids), a sequence unrolled (bpwalk.views.unrolled);
    None for a dense network (and a circuit) and an attention head (its heat grid)."""
    if drawing.attention(trace):
        return None
    if drawing.gridded(trace):
        from bpwalk.views import grids

        return grids
    if drawing.drawn_unrolled(trace):
        from bpwalk.views import unrolled

        return unrolled
    return None


def _printed_caption(trace: Trace, blanks: bool) -> str:
    """What the picture shows where no script steps it (a handout, a printed page)."""
    it = trace.iterations[0] if trace.iterations else None
    if blanks or it is None:
        return "The given numbers: the inputs and the starting parameters."
    if drawing.attention(trace):
        return (f"The attention weights of update {it.number}: each row sums to 1, a darker "
                "cell is a larger weight.")
    if drawing.gridded(trace):
        return (f"Each layer's grids after update {it.number}: highlighted, a convolution's "
                "first output cell and its receptive field, its first kernel entry's "
                "gradient and the cells it sums; * marks each max-pool window's winner.")
    if drawing.drawn_unrolled(trace):
        return f"The network unrolled in time after update {it.number}: each value of it."
    batch = ("; the neurons' values differ per sample, so only the parameters are shown"
             if len(it.samples) > 1 else "")
    return (f"The network after update {it.number}: each value of the update, "
            f"{drawing.NEW_MARK} marking a parameter's new value{batch}.")


_PAPER = {"a4": "A4", "letter": "letter"}  # --paper: the CSS page size


def math_font_css() -> str:
    """The @font-face of the page's math font, inlined: every page and PDF typesets its
    formulas alike, wherever it is opened, with no fetch. The font is a subset of STIX Math
    (SIL Open Font License 1.1; fonts/OFL.txt beside it, tools/subset_math_font.py)."""
    global _FONT_CSS
    if _FONT_CSS is None:
        import base64
        from importlib.resources import files

        data = (files("bpwalk.views") / "fonts" / "math.woff").read_bytes()
        _FONT_CSS = ('@font-face{font-family:"Bpwalk Math";font-display:block;src:url('
                     f'data:font/woff;base64,{base64.b64encode(data).decode("ascii")}) '
                     'format("woff")}')
    return _FONT_CSS


_FONT_CSS: str | None = None


def _title(trace: Trace, blanks: bool, key: bool) -> str:
    """The page's title; a handout's names the problem, not the random seed that drew it."""
    title = trace.scenario.title or trace.scenario.name
    if blanks or key:
        return f"{'Answer key' if key else 'Worksheet'}: {outline.handout_title(title)}"
    return title


# ----------------------------------------------------------------------------- math


def mathml(inner: str, cls: str = "") -> str:
    """One formula as a <math> element: the single place the page makes one. The inside is
    printed by ``bpwalk.formulas`` (the notation's MathML printer); HTML5 needs no namespace."""
    return f'<math class="{cls}">{inner}</math>' if cls else f"<math>{inner}</math>"


def _terms(inner: str, width: int = 200) -> list[str]:
    """A printed sum split at its top-level + and −, each piece but the last keeping its
    sign, so that a long sum wraps between terms; anything else is one piece. The printer
    writes a sum as a row of its terms (no <mrow> around it), so these are the operators
    outside every element. A side shorter than a line is not looked at."""
    if _width(inner) <= width:
        return [inner]
    pieces = _split(inner)
    if len(pieces) == 1 and any(o in inner for o in _OPEN):  # a product of a long sum (BP2):
        inside = _split(_unwrapped(inner))  # break inside its parentheses
        return inside if len(inside) > 1 else pieces
    return pieces


# MathMLPrinter.paren's parentheses: one-line, and tall ones (around fractions)
_OPEN = ('<mrow><mo stretchy="false">(</mo>', "<mrow><mo>(</mo>")


def _unwrapped(inner: str) -> str:
    """`inner` with the <mrow> around each parenthesised sum of its top level taken away
    (the parentheses stay), so that the sum's terms are on the top level too."""
    out, depth, opened, start = [], 0, [], 0
    for m in _TAG.finditer(inner):
        if m.group(1) and opened and opened[-1] == depth:  # the close of an unwrapped row
            opened.pop()
            out.append(inner[start:m.start()])
            start = m.end()
        elif m.group(1):
            depth -= 1
        elif not m.group(0).endswith("/>"):
            if depth == 0 and inner.startswith(_OPEN, m.start()):  # (a tuple: either)
                out.append(inner[start:m.start()])
                start = m.end()
                opened.append(depth)
                continue  # the row's own depth is not counted: its inside is top level
            depth += 1
    return "".join(out) + inner[start:]


def _split(inner: str) -> list[str]:
    pieces, depth, start = [], 0, 0
    for m in _TAG.finditer(inner):
        if m.group(1):
            depth -= 1
        elif not m.group(0).endswith("/>"):
            depth += 1
            if depth == 1 and m.group(0) == "<mo>" and inner.startswith(("+</mo>", "−</mo>"),
                                                                          m.end()):
                end = m.end() + len("+</mo>")
                pieces.append(inner[start:end])
                start = end
    return [p for p in [*pieces, inner[start:]] if p]


_TAG = re.compile(r"<(/?)[a-z]+[^>]*>")
# a name written whole, as a convolution's cells and parameters are (conv1.K[1,1,2,1],
# x[1,2,3]) or an index of several numbers (1,2,2): its text is most of its width
_WHOLE_NAME = re.compile(r"<mi>([^<]*(?:\w\[|,)[^<]*)</mi>")


def _width(mathml_text: str) -> int:
    """How wide a piece of MathML prints, in characters of MathML: its length, with a
    name written whole counted 4 times (its markup is short for the width it takes)."""
    return len(mathml_text) + 3 * sum(len(n) for n in _WHOLE_NAME.findall(mathml_text))


def _lines(terms: list[str], width: int = 200) -> list[str]:
    """Terms joined into pieces of about `width` characters of MathML: where a line may
    break (a product of two 9-decimal numbers prints to about 60)."""
    out = [terms[0]]
    for t in terms[1:]:
        if _width(out[-1]) + _width(t) > width:
            out.append(t)
        else:
            out[-1] += t
    return out


def _side(inner: str, cls: str) -> str:
    """= and one side of an equation: one <math>, or a span of pieces when it is long."""
    pieces = _lines(_terms(inner))
    if len(pieces) == 1:  # no class for a plain side: 100,000 steps have 200,000 of them
        return mathml("<mo>=</mo>" + pieces[0], "" if cls == "side" else cls)
    maths = "".join(mathml(("<mo>=</mo>" if j == 0 else "") + piece)
                    for j, piece in enumerate(pieces))
    return f'<span class="{cls}">{maths}</span>'


def _equation(f: Formula, blanks: bool) -> str:
    """lhs = symbols = numbers = result, each side as MathML pieces that wrap between terms."""
    sides = [f.symbolic] if blanks else [f.symbolic, f.numeric, f.result]
    sides = [x for i, x in enumerate(sides) if i == 0 or x != sides[i - 1]]
    sides = [x for x in sides if x != f.lhs]
    out = [mathml(f.lhs)]
    out += [_side(x, "result" if not blanks and k == len(sides) - 1 else "side")
            for k, x in enumerate(sides)]
    if blanks:
        out.append(f'<span class="side">{mathml("<mo>=</mo>")}</span>'
                   '<span class="blank" aria-label="your answer"></span>')
    label = f'<span class="label">({_e(f.label)})</span>' if f.label else ""
    return '<div class="eq">' + "".join(out) + label + "</div>"


def _write(parts: tuple[str | Node, ...], pen: Pen) -> str:
    """A caption or note of the outline: words escaped, formulas as MathML; a sequence of
    formulas (an optimizer's rule: m = ...; v = ...; ...) one <math> each, so that the line
    wraps between them."""
    out = []
    for p in parts:
        if isinstance(p, str):
            out.append(_e(p))
        elif isinstance(p, Seq):
            out.append(f"{_e(p.sep)}".join(mathml(pen.write(q)) for q in p.parts))
        else:
            out.append(mathml(pen.write(p)))
    return "".join(out)


# ----------------------------------------------------------------------------- page parts


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _link(text: str) -> str:
    """User text, escaped, with web addresses as links."""
    return re.sub(r"(https?://[^\s<>&]+[^\s<>&.,;:)])",
                  lambda m: f'<a href="{m.group(1)}">{m.group(1)}</a>', _e(text))


def _heading(trace: Trace, pen: Pen, blanks: bool, key: bool, matrix: bool = False) -> str:
    sc = trace.scenario
    text = _picture_pen(pen)  # symbols and numbers in table cells
    rows = []
    if sc.source:
        rows.append(("Source", _link(sc.source)))
    acts = "; ".join(f"layer {lay.number}: {lay.activation}"
                     for lay in outline.heading(trace, pen.profile).layers
                     if lay.activated)
    rows += [("Network", f"{sc.shape} ({_e(acts)})" if acts else sc.shape),
             ("Loss", f"{_e(sc.loss)}: {mathml(pen.write(loss_rule(sc.loss, pen.profile)))}"),
             ("Learning rate", f"{_e(text.sym('lr'))} = {text.num(sc.learning_rate)}"),
             *([("Optimizer", (f"{_e(sc.optimizer.name)}: "
                  f"{_write((optimizer_settings(sc.optimizer, pen.profile),), pen)}"))]
               if not sc.optimizer.plain else []),
             ("Biases", "updated" if sc.update_biases else "not updated")]
    if len(sc.x) > 1:
        how = "full batch" if sc.batch is None else f"batches of {sc.batch}"
        rows.append(("Batch", (f"{len(sc.x)} samples, {how}; the batch's loss is the "
                               f"{sc.reduction} of its samples' losses")))
    facts = _facts(trace, rows, blanks or key)
    params = "".join(
        f"<tr><td>{_e(text.sym('param:' + c.param))}</td>"
        f"<td>{'bias' if c.source is None else _e(c.source)} → {_e(', '.join(c.targets))}</td>"
        f"<td class=\"n\">{text.num(trace.params_first[c.param])}</td></tr>"
        for c in sc.connections)
    many = len(sc.x) > 1
    data = []
    for k, (x, t) in enumerate(_data(sc), start=1):
        cells = [f"{_e(text.sym('in:' + n))} = {text.num(v)}" for n, v in x]
        cells += [f"{_e(text.sym('target:' + n))} = {text.num(v)}" for n, v in t]
        data.append(f"<tr>{f'<td>{k}</td>' if many else ''}<td>{', '.join(cells)}</td></tr>")
    name = ('<p class="name">Name: <span class="line"></span></p>' if blanks else "")
    head = _title(trace, blanks, key)
    desc = f"<p>{_link(sc.description)}</p>" if sc.description else ""
    return (f"<header><h1>{_e(head)}</h1>{name}{desc}<div class=\"given\">"
            f"<table class=\"facts\">{facts}</table>"
            f"<div class=\"scroll\"><table><caption>Parameters</caption><tr><th>Parameter</th>"
            f"<th>From → to</th><th>Value</th></tr>{params}</table></div>"
            f"<table><caption>Data</caption>{''.join(data)}</table></div>"
            f"{_intro(blanks, key, matrix)}</header>")


def _data(sc) -> list[tuple[tuple, tuple]]:
    """Each sample's (name, value) pairs of inputs and of targets (a sequence's at each
    time step, named x1@t2)."""
    if getattr(sc, "sequence", False):
        return [(smp.inputs, smp.targets) for smp in outline._sequences(sc)]
    return [(tuple(zip(sc.inputs, x)), tuple(zip(sc.outputs, t)))
            for x, t in zip(sc.x.tolist(), sc.targets.tolist())]


def _facts(trace: Trace, rows: list[tuple[str, str]], handout: bool) -> str:
    """The heading's table of facts (cells already HTML); a page that steps also says how
    many updates ran and which are worked out."""
    if not handout:
        shown = ", ".join(str(it.number) for it in trace.iterations) or "none"
        rows = [*rows, ("Updates", f"{trace.total_iterations} (worked out: {shown})")]
    return "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)


def _intro(blanks: bool, key: bool, matrix: bool = False) -> str:
    """What the page asks of its reader: the worksheet's hint, the key's, or the stepping
    controls (with the form's toggle when the page holds the matrix form)."""
    return ('<p class="hint">Work out every result in the box below its formula. The '
             "given numbers are in the tables and on the picture.</p>" if blanks else
             '<p class="hint">The worked solution of the worksheet: each formula with its '
             "numbers and, in bold, its result; the picture holds the update's values.</p>"
             if key else
             '<nav id="controls" aria-label="stepping"><button data-key="Home" title="first '
             'step (Home)">⇤</button><button data-key="[" title="previous pass ([)">«</button>'
             '<button data-key="ArrowLeft" title="previous step (← or b)">‹ back</button>'
             '<span id="counter"></span><button data-key="ArrowRight" title="next step (→ or '
             'n)">next ›</button><button data-key="]" title="next pass (])">»</button>'
             '<button data-key="End" title="last step (End)">⇥</button><label><input '
             'type="checkbox" id="all"> show all</label>'
             + ('<label><input type="checkbox" id="form" checked> matrix form (m)</label>'
                if matrix else "") + '</nav>')


def _update(trace: Trace, h: outline.Heading, it, up: Update, pen: Pen, blanks: bool) -> str:
    # the picture's numbers before any step, per sample a step may be about ("": a step of
    # the whole batch, or of the update's only sample); the script fills in the rest
    num = _picture_pen(pen).num
    given = {("" if k is None else str(k)): {f"{el} {f}": num(v) for (el, f), v in
                                              drawing.values_at_start(trace, it, k).items()}
             for k in (None, *(it.samples if len(it.samples) > 1 else ()))}
    view = _grid_view(trace)
    cells = "" if view is None else grids_given(trace, it, pen)
    # what the grids' script needs of each step (a worksheet's steps carry no results)
    extra = {} if view is None or blanks else \
        dict(zip(map(id, it.steps), view.steps_attrs(trace, it, _picture_pen(pen))))

    def attrs(s: Step) -> str:
        return extra.get(id(s), "")

    out = [(f'<article class="update" data-given="{_e(json.dumps(given))}" '
            f'data-samples="{len(it.samples)}"{cells}>'
            f"<h2>Update {up.number}</h2>"
            f"<p>Sample{'s' * (len(up.samples) != 1)} {', '.join(map(str, up.samples))} "
            "of the data.</p>")]
    for phase in up.phases:
        rule = f"<p>{_write(phase.rule, pen)}</p>" if phase.rule else ""
        out.append(f'<section class="pass"><h3>{phase.title} '
                   f'<small>update {up.number}</small></h3>{rule}')
        for g in phase.groups:
            title = outline.group_title(h, phase.name, g, len(up.samples) > 1)
            out.append(f'<div class="group">{f"<h4>{_e(title)}</h4>" if title else ""}')
            out += [f"<p>{_write(c, pen)}</p>" for c in ([g.rule] if g.rule else []) + list(g.notes)]
            grids = _grids(g.grids, pen) if g.grids and not blanks else []
            out += grids if phase.name == "forward" else []
            out += [_step(s, pen, blanks, extra=attrs(s)) for s in g.steps]
            out += grids if phase.name != "forward" else []
            out.append("</div>")
        out += [f"<p>{_write(note, pen)}</p>" for note in phase.after]
        out.append("</section>")
    out.append("</article>")
    return "\n".join(out)


def _grids(grids, pen: Pen) -> list[str]:
    """An attention head's matrices as tables (the weights P shaded: a heat grid)."""
    from bpwalk.views import attention

    text = _picture_pen(pen)
    return [attention.html(g, text, f"{_write((g.symbol,), pen)}: {_write(g.words, pen)}")
            for g in grids]


def _attention_picture(trace: Trace, pen: Pen, blanks: bool) -> str:
    """An attention head's picture: its attention weights P in the first update, per
    sample, as heat grids with the numbers (a worksheet's: a line, the weights being
    what the student works out)."""
    from bpwalk.views import attention

    hidden = '<svg id="net" style="display:none" aria-hidden="true"></svg>'  # (the script's)
    if blanks or not trace.iterations:
        return f'{hidden}<p class="undrawn">{_e(drawing.ATTENTION_PICTURE)}</p>'
    it = trace.iterations[0]
    text = _picture_pen(pen)
    out = [hidden]
    for smp in (it.samples if len(it.samples) > 1 else [None]):
        g = attention.weights(trace, it, smp, text)
        out.append(attention.html(g, text, f"{_write((g.symbol,), pen)}: {_write(g.words, pen)}"))
    return "".join(out)


def grids_given(trace: Trace, it: Iteration, pen: Pen) -> str:
    from bpwalk.views import grids

    return grids.given_attr(trace, it, _picture_pen(pen))


def _step(s: Step, pen: Pen, blanks: bool, where: tuple[str, str] | None = None,
          ops: frozenset[str] | None = None, picture: Pen | None = None, extra: str = "") -> str:
    """One step; `where` and `ops` (its slot and operands on the picture) default to the
    network picture's, and `picture` (the pen of the picture's numbers) to the tables'."""
    if ops is None:
        where, ops = drawing.slot(s), frozenset(drawing.operands(s))
    picture = _picture_pen(pen) if picture is None else picture
    attrs = f' data-id="{_e(s.id)}" data-ops="{_e(" ".join(sorted(ops)))}"'
    if s.sample is not None:
        attrs += f' data-sample="{s.sample}"'
    attrs += extra
    if where is not None and not blanks:
        el, f = where
        mark = drawing.NEW_MARK if f == "new" else ""  # a new value, marked as in the terminal
        shown = picture.num(drawing.shown_value(f, s.value, pen.profile))
        attrs += (f' data-slot="{_e(el)} {"value" if f == "new" else f}"'
                  f' data-v="{shown}{mark}"')
    short = pen.shortcut(s)
    extra = _equation(short, False) if short is not None and not blanks else ""
    note = f'<p class="note">Note: {_e(s.note)}.</p>' if s.note else ""
    work = '<div class="work"></div>' if blanks else ""
    return (f'<div class="step"{attrs}>{_equation(pen.formula(s), blanks)}{extra}{note}{work}'
            "</div>")


def _picture_pen(pen: Pen) -> Pen:
    """The pen of the picture's and the tables' numbers: plain text, with a true minus."""
    return Pen("unicode", pen.decimals, pen.profile, pen.keep_zeros)


def _summary(trace: Trace, pen: Pen) -> str:
    text = _picture_pen(pen)
    rows = "".join(
        f"<tr><td>{_e(text.sym('param:' + p))}</td><td class=\"n\">{text.num(v)}</td>"
        f"<td class=\"n\">{text.num(trace.params_final[p])}</td>"
        f"<td class=\"n\">{text.num(trace.param_change[p])}</td></tr>"
        for p, v in trace.params_first.items())
    n = trace.total_iterations
    return (f'<section id="summary"><h2>Summary</h2><table><tr><th>Parameter</th><th>Before'
            f"</th><th>After {n} update{'s' * (n != 1)}</th><th>Change</th></tr>{rows}</table>"
            f"<p>Loss on the data: {text.num(trace.loss_history[0])} before the first "
            f"update, {text.num(trace.loss_history[-1])} after the last.</p></section>")


# ----------------------------------------------------------------------------- circuits


def _circuit_heading(trace: Trace, pen: Pen, blanks: bool, key: bool) -> str:
    """A circuit's heading: its facts, the given values and each node as written with the
    gates it is broken into."""
    sc = trace.scenario
    g = sc.graph
    text = Pen("unicode", pen.decimals, pen.profile, pen.keep_zeros)
    rows = [("Source", _link(sc.source))] if sc.source else []
    ops = len(g.nodes) - (1 if g.loss else 0)
    rows.append(("Circuit", (f"{ops} operation{'s' * (ops != 1)}; output "
                             f"{_e(text.sym('val:' + g.result))}")))
    if g.loss:
        rows.append(("Loss", f"{_e(g.loss)}, target {pen.num(g.target)}"))
    if sc.learning_rate is not None:
        way = "up their gradients (ascent)" if sc.ascent else "down their gradients"
        rows.append(("Learning rate", (f"{_e(text.sym('lr'))} = "
                                       f"{pen.num(sc.learning_rate)}; the params step {way}")))
    facts = _facts(trace, rows, blanks or key)
    first = trace.iterations[0] if trace.iterations else None
    params = first.params_before if first is not None else trace.params_first
    given = "".join(
        f"<tr><td>{_e(text.sym('val:' + leaf.name))}</td><td>{_e(leaf.kind)}</td>"
        f"<td class=\"n\">{pen.num(params.get(leaf.name, leaf.value))}</td></tr>"
        for leaf in g.leaves)
    gates: dict[str, list[str]] = {}
    for n in g.nodes:
        s = first.step(f"val:{n.name}") if first is not None else None
        if s is not None:
            f = pen.formula(s)
            gates.setdefault(n.owner, []).append(mathml(f"{f.lhs}<mo>=</mo>{f.symbolic}"))
    nodes = "".join(
        f"<tr><td>{_e(owner)}</td><td><code>{_e(g.written.get(owner, g.loss or ''))}</code>"
        f"</td><td>{'<br>'.join(lines)}</td></tr>" for owner, lines in gates.items())
    name = ('<p class="name">Name: <span class="line"></span></p>' if blanks else "")
    desc = f"<p>{_link(sc.description)}</p>" if sc.description else ""
    return (f"<header><h1>{_e(_title(trace, blanks, key))}</h1>{name}{desc}"
            f"<div class=\"given\"><table class=\"facts\">{facts}</table>"
            f"<table><caption>Given</caption><tr><th>Name</th><th>Is</th><th>Value</th></tr>"
            f"{given}</table>"
            f"<table><caption>The circuit</caption><tr><th>Node</th><th>Written as</th>"
            f"<th>Its gates</th></tr>{nodes}</table></div>{_intro(blanks, key)}</header>")


def _circuit_update(trace: Trace, it: Iteration, pen: Pen, blanks: bool) -> str:
    """One update of a circuit, in the page's structure (update, passes, groups, steps):
    the forward pass gate by gate, the loss, the backward pass gate by gate from the
    output back, the update. The given values are in the heading and on the picture."""
    from bpwalk.views import circuit as walkthrough
    from bpwalk.views import circuit_drawing as cd
    from bpwalk.views import circuit_sheet

    c = cd.of_graph(trace.scenario.graph)
    known = cd.names(c)
    picture = cd.picture_pen(pen)
    given = {f"{el} {f}": picture.num(v) for (el, f), v in cd.given(trace, it).items()}

    def steps(group: list[Step] | tuple[Step, ...]) -> list[str]:
        # a step whose formula is its number (df/df = 1) is stated on a worksheet, not asked
        return [_step(s, pen, blanks and not circuit_sheet.given(pen.formula(s)), cd.slot(s),
                      cd.operands(known, s), picture) for s in group]

    # one sample: its given numbers under "" (the page's script reads a sample's by key)
    out = [(f'<article class="update" data-given="{_e(json.dumps({"": given}))}" '
            f'data-samples="1"><h2>Update {it.number}</h2>')]
    for phase, group in walkthrough.phases(it).items():
        group = [s for s in group if s.terms]  # the given values are not worked out
        if not group:
            continue
        out.append(f'<section class="pass"><h3>{PHASE_TITLES[phase]} '
                   f"<small>update {it.number}</small></h3>")
        if phase != "backward":
            out += ['<div class="group">', *steps(group), "</div>"]
        for gate in walkthrough.gates(it) if phase == "backward" else ():
            title = f"Gate {gate.node}" if gate.node else "The inputs and params"
            out += [f'<div class="group"><h4>{_e(title)}</h4>', *steps(gate.steps), "</div>"]
        out.append("</section>")
    out.append("</article>")
    return "\n".join(out)


def _circuit_svg(trace: Trace, pen: Pen, blanks: bool) -> str:
    """The circuit; without a script (or printed) it shows the given numbers, and in a
    solution every value and gradient of the first update."""
    from bpwalk.views import circuit_drawing as cd

    it = trace.iterations[0] if trace.iterations else None
    values = cd.given(trace, it) if blanks or it is None else \
        cd.values_at(trace, it, len(it.steps) - 1)
    picture, full = cd.picture_pen(pen), Pen("unicode", pen.decimals)
    steps = [s for it in trace.iterations for s in it.steps]
    rounded = not blanks and any(picture.num(s.value) != full.num(s.value) for s in steps)
    return cd.svg(cd.of_graph(trace.scenario.graph), values, picture,
                  title=f"The circuit of {trace.scenario.title or trace.scenario.name}",
                  rounded=rounded)


def _circuit_summary(trace: Trace, pen: Pen) -> str:
    sc = trace.scenario
    g = sc.graph
    text = Pen("unicode", pen.decimals, pen.profile, pen.keep_zeros)
    out = ['<section id="summary"><h2>Summary</h2>']
    if trace.iterations:
        it = trace.iterations[0]
        rows = "".join(
            f"<tr><td>{_e(text.sym('val:' + leaf.name))}</td><td>{_e(leaf.kind)}</td>"
            f"<td class=\"n\">{pen.num(it.step('grad:' + leaf.name).value)}</td></tr>"
            for leaf in g.leaves)
        out.append(f"<table><caption>Gradients at update {it.number}</caption><tr><th>Name"
                   f"</th><th>Is</th><th>Gradient</th></tr>{rows}</table>")
    n = trace.total_iterations
    if sc.learning_rate is not None and sc.param_names:
        rows = "".join(
            f"<tr><td>{_e(text.sym('val:' + p))}</td><td class=\"n\">"
            f"{pen.num(trace.params_first[p])}</td><td class=\"n\">"
            f"{pen.num(trace.params_final[p])}</td><td class=\"n\">"
            f"{pen.num(trace.param_change[p])}</td></tr>" for p in sc.param_names)
        out.append(f"<table><tr><th>Param</th><th>Before</th><th>After {n} update"
                   f"{'s' * (n != 1)}</th><th>Change</th></tr>{rows}</table>")
    what = "The loss" if g.loss else f"The output {_e(g.result)}"
    if sc.learning_rate is None:
        out.append(f"<p>{what}: {pen.num(trace.loss_history[0])}.</p>")
    else:
        out.append(f"<p>{what}: {pen.num(trace.loss_history[0])} before the first update, "
                   f"{pen.num(trace.loss_history[-1])} after the last.</p>")
    out.append("</section>")
    return "".join(out)


# ----------------------------------------------------------------------------- pictures


# Placement of the picture's labels: each text's box is estimated (a character at most 0.7
# em wide: DejaVu Sans Bold's digits, the widest of the fonts a page falls back to), and a
# weight's label goes to the first spot along its connection where it overlaps nothing.
_EM = 0.7
_LINE = 16  # between a neuron's value lines, at 12 px: more than a line's box (1.17 em)
_ALONG = (0.36, 0.28, 0.44, 0.22, 0.52, 0.6, 0.68, 0.16, 0.76, 0.84)

Box = tuple[float, float, float, float]


def _text_box(x: float, y: float, chars: int, size: int = 12) -> Box:
    """The box of a centred text of `chars` characters whose baseline is at y."""
    w = chars * size * _EM
    return (x - w / 2 - 2, y - size - 1, x + w / 2 + 2, y + size * 0.3 + 1)


def _overlaps(a: Box, boxes: list[Box]) -> bool:
    return any(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3] for b in boxes)


def _svg(trace: Trace, pen: Pen, blanks: bool, key: bool = False) -> str:
    """The network; without a script (or printed) it shows the given numbers, and in a
    solution the values of the whole first update (new parameter values marked *). The
    neurons' fields and the parameters are written in the notation of `pen`. A convolution
    or a sequence: its grids or its unrolled columns instead (the SVG empty, for the
    page's script)."""
    if drawing.attention(trace):
        return _attention_picture(trace, pen, blanks)
    sc = trace.scenario
    view = _grid_view(trace)
    if view is not None:
        return ('<svg id="net" style="display:none" aria-hidden="true"></svg>'
                + view.page_picture(trace, _picture_pen(pen), blanks))
    if getattr(sc, "shaped", False) or getattr(sc, "sequence", False):  # dropout,
        # normalisation, an LSTM: not drawn yet, said in one line
        return ('<svg id="net" style="display:none" aria-hidden="true"></svg>'  # (the script's)
                f'<p class="undrawn">{_e(drawing.drawable(trace) or "")}</p>')
    it = trace.iterations[0] if trace.iterations else None
    values = drawing.given(trace, it) if blanks or it is None else \
        drawing.values_at(trace, it, len(it.steps) - 1)
    text = _picture_pen(pen)

    def shown(el: str, f: str) -> str:
        if f == "value" and (el, "new") in values:
            return text.num(values[(el, "new")]) + drawing.NEW_MARK
        v = values.get((el, f))
        return "" if v is None else text.num(drawing.shown_value(f, v, pen.profile))

    small = drawing.drawable(trace) is None
    # the widest number the picture may show: sign, integer digits, point, decimals, mark
    biggest = max([abs(v) for v in trace.params_first.values()] +
                  [abs(s.value) for i in trace.iterations for s in i.steps] + [1.0])
    digits = 4 + pen.decimals + len(str(int(min(biggest, 1e15)))) if small else 0
    spreads = (1.0, 1.2, 1.45, 1.75, 2.1)
    placed = next(p for k, spread in enumerate(spreads)
                  if (p := _place(trace, pen, small, spread, digits, k == len(spreads) - 1)))
    width, height, pos, biases, labels = placed
    edges, nodes = [], []
    for c in sc.connections:
        src = pos[c.source] if c.source is not None else biases[c.param]
        if c.source is None:
            x, y = src
            nodes.append(f'<g class="bias" data-el="param:{_e(c.param)}"><rect x="{x - 9}" '
                         f'y="{y - 9}" width="18" height="18"/><text x="{x}" y="{y + 4}">'
                         f"{_e(text.sym('param:' + c.param))}</text></g>")
        for t in c.targets:
            (x1, y1), (x2, y2) = src, pos[t]
            label = ""
            if (c.param, t) in labels:
                lx, ly = labels[(c.param, t)]
                value = _e(f"param:{c.param} value")
                label = (f'<text x="{lx:.0f}" y="{ly:.0f}">{_e(text.sym("param:" + c.param))} '
                         f'<tspan data-slot="{value}">{shown("param:" + c.param, "value")}'
                         "</tspan></text>")
            edges.append(f'<g class="edge" data-el="param:{_e(c.param)}"><title>{_e(c.param)}: '
                         f'{_e(c.source or "bias")} → {_e(t)}</title><line x1="{x1:.0f}" '
                         f'y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}"/>{label}</g>')
    columns = [list(sc.inputs), *(list(lay.neurons) for lay in sc.layers)]
    for ci, col in enumerate(columns):
        for name in col:
            x, y = pos[name]
            fields = ("in",) if ci == 0 else drawing.NODE_FIELDS
            texts = ""
            if small:
                texts = "".join(
                    f'<text class="v" x="{x}" y="{y + 36 + _LINE * k}">'
                    f"{_e(drawing.field_label(f, pen.profile))} "
                    f'<tspan data-slot="node:{_e(name)} {f}">{shown("node:" + name, f)}</tspan>'
                    "</text>"
                    for k, f in enumerate(fields))
            nodes.append(f'<g class="node" data-el="node:{_e(name)}"><title>{_e(name)}</title>'
                         f'<circle cx="{x}" cy="{y}" r="{20 if small else 9}"/>'
                         f'<text x="{x}" y="{y + 5}">{_e(name) if small else ""}</text>{texts}'
                         "</g>")
    return (f'<svg id="net" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
            f'aria-label="The {sc.shape} network">{"".join(edges)}{"".join(nodes)}</svg>')


def _place(trace: Trace, pen: Pen, small: bool, spread: float, digits: int,
           force: bool = False):
    """Where the nodes, the bias squares and the weights' labels go, `spread` times the
    plain gaps apart: (width, height, node positions, bias positions, label positions),
    or None when a label finds no free spot (unless `force`: then at its first spot)."""
    sc = trace.scenario
    columns = [list(sc.inputs), *(list(lay.neurons) for lay in sc.layers)]
    col_gap, row_gap = (round(300 * spread), round(120 * spread)) if small else (120, 26)
    tallest = max(len(c) for c in columns) + 1  # + a row for the biases
    width = 90 + (len(columns) - 1) * col_gap + (150 if small else 40)
    height = 40 + tallest * row_gap + (30 if small else 0)
    pos: dict[str, tuple[float, float]] = {}
    for ci, col in enumerate(columns):
        top = 30 + (tallest - 1 - len(col)) * row_gap / 2
        for k, name in enumerate(col):
            pos[name] = (60 + ci * col_gap, top + k * row_gap + row_gap / 2)
    biases: dict[str, tuple[float, float]] = {}
    for c in sc.connections:
        if c.source is None:  # a bias: a small square below the column that feeds the layer
            k = sc.layers[c.layer].bias_names.index(c.param)
            biases[c.param] = (60 + c.layer * col_gap + (40 + 34 * k if small else 20 + 6 * k),
                               height - (34 if small else 16))
    labels: dict[tuple[str, str], tuple[float, float]] = {}
    if not small:
        return width, height, pos, biases, labels
    # what is already there: the circles, the neurons' value lines, the bias squares
    taken: list[Box] = [(x - 22, y - 22, x + 22, y + 22) for x, y in pos.values()]
    taken += [(x - 11, y - 11, x + 11, y + 11) for x, y in biases.values()]
    for ci, col in enumerate(columns):
        fields = ("in",) if ci == 0 else drawing.NODE_FIELDS
        for name in col:
            x, y = pos[name]
            taken += [_text_box(x, y + 36 + _LINE * k,
                                len(drawing.field_label(f, pen.profile)) + 1 + digits)
                      for k, f in enumerate(fields)]
    for c in sc.connections:
        src = pos[c.source] if c.source is not None else biases[c.param]
        chars = len(pen.profile.param(c.param).base) + 4 + digits  # w³₁₂ and its value
        for t in c.targets if c.source is not None else c.targets[:1]:
            (x1, y1), (x2, y2) = src, pos[t]
            spots = [(x1 + (x2 - x1) * k, y1 + (y2 - y1) * k + dy)
                     for k in (_ALONG if c.source is not None else (0.5, *_ALONG))
                     for dy in (-3, 14)]
            free = next((s for s in spots if not _overlaps(_text_box(*s, chars), taken)), None)
            if free is None:
                if not force:
                    return None
                free = spots[0]
            labels[(c.param, t)] = free
            taken.append(_text_box(*free, chars))
    return width, height, pos, biases, labels


def _loss_chart(trace: Trace, title: str = "Loss over the", what: str = "loss on the data"
                ) -> str:
    """The loss on the data before each update and after the last, when several ran (a
    circuit's: its output, or the loss after it)."""
    history = trace.loss_history
    if trace.total_iterations < 2:
        return ""
    short = "loss" if what == "loss on the data" else what
    w, h, left, bottom = 640, 260, 70, 40
    lo, hi = min(history), max(history)
    span = (hi - lo) or 1.0
    n = len(history) - 1  # updates
    # at most ~400 points on the line and 40 hover marks: placement, not new numbers
    step = max(1, len(history) // 400)
    idx = sorted(set(range(0, len(history), step)) | {len(history) - 1})

    def xy(i: int) -> tuple[float, float]:
        return (left + (w - left - 10) * i / n,
                10 + (h - bottom - 10) * (1 - (history[i] - lo) / span))
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in map(xy, idx))
    mark_step = max(1, len(history) // 40)
    marks = "".join(
        f'<circle cx="{xy(i)[0]:.1f}" cy="{xy(i)[1]:.1f}" r="4"><title>'
        f"{'before update ' + str(i + 1) if i < n else 'after update ' + str(n)}: "
        f"{'E' if what == 'loss on the data' else _e(what)} = {number(history[i])}</title>"
        "</circle>"
        for i in sorted(set(range(0, len(history), mark_step)) | {len(history) - 1}))
    return (f'<section id="loss"><h2>{_e(title)} {n} updates</h2>'
            f'<svg viewBox="0 0 {w} {h}" role="img" aria-label="{_e(short)} curve">'
            f'<line class="axis" x1="{left}" y1="{h - bottom}" x2="{w - 10}" y2="{h - bottom}"/>'
            f'<line class="axis" x1="{left}" y1="10" x2="{left}" y2="{h - bottom}"/>'
            f'<text x="{left - 6}" y="16" text-anchor="end">{number(hi, 4)}</text>'
            f'<text x="{left - 6}" y="{h - bottom}" text-anchor="end">{number(lo, 4)}</text>'
            f'<text x="{left}" y="{h - bottom + 16}">0</text>'
            f'<text x="{w - 10}" y="{h - bottom + 16}" text-anchor="end">{n}</text>'
            f'<text x="{(w + left) / 2}" y="{h - 6}" text-anchor="middle">update</text>'
            f'<text transform="translate(14 {(h - bottom) / 2}) rotate(-90)" '
            f'text-anchor="middle">{_e(what)}</text>'
            f'<polyline points="{line}"/>{marks}</svg></section>')


# ----------------------------------------------------------------------------- style, script

ATTENTION_CSS = """
.grids{overflow-x:auto;max-width:100%}table.heat,table.grid{font-size:.9em}
.step .eq{overflow-x:auto}
@media (max-width:900px){#walk{grid-template-columns:minmax(0,1fr)}#picture{position:static}}
table.heat td,table.grid td{text-align:right;font-variant-numeric:tabular-nums;
 white-space:nowrap}
table.heat td{print-color-adjust:exact;-webkit-print-color-adjust:exact}
table.heat th,table.grid th{font-weight:normal;color:var(--soft)}
"""

CSS = """
:root{--ink:#1b1b1b;--soft:#666;--lit:#d9480f;--litbg:#fff0e0;--line:#bbb}
*{box-sizing:border-box}
body{font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);
 margin:0 auto;padding:1em;max-width:1200px}
h1{font-size:1.5em;margin:.2em 0}h2{margin:1em 0 .3em}h3{margin:.8em 0 .3em}
h3 small{font-weight:normal;color:var(--soft)}h4{margin:.6em 0 .2em}
table{border-collapse:collapse;margin:.4em 0;max-width:100%}
th,td{text-align:left;padding:.1em .5em;border-bottom:1px solid #e5e5e5;
 overflow-wrap:anywhere;vertical-align:top}
th{overflow-wrap:normal;hyphens:none}
td.n{text-align:right;font-variant-numeric:tabular-nums}
caption{text-align:left;font-weight:bold}
.given{display:flex;flex-wrap:wrap;gap:0 2em;align-items:flex-start;font-size:.9em}
header>table.facts{font-size:.95em}
nav{position:sticky;top:0;background:#fff;padding:.4em 0;z-index:2;display:flex;
 flex-wrap:wrap;gap:.4em;align-items:center;border-bottom:1px solid #ddd}
nav button{font:inherit;padding:.1em .6em}
#counter{min-width:10em;text-align:center;color:var(--soft)}
#walk{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:1.5em;
 align-items:start}
#picture{position:sticky;top:3em;margin:0}
#picture svg{width:100%;height:auto;max-height:80vh}
figcaption{color:var(--soft);font-size:.9em}
#net text{font-size:13px;text-anchor:middle;paint-order:stroke;stroke:#fff;stroke-width:3px}
#net line{stroke:var(--line);stroke-width:1.5}
.node circle{fill:#eef3fb;stroke:#4a6fa5;stroke-width:1.5}
.bias rect{fill:#f4f4f4;stroke:#888}
.edge text{fill:#444;font-size:12px}
.node .v{font-size:12px}
.lit circle,.lit rect{fill:var(--litbg);stroke:var(--lit);stroke-width:3}
.lit line{stroke:var(--lit);stroke-width:3}.lit text{fill:var(--lit);font-weight:bold}
.filled{fill:#0b6e4f;font-weight:bold}
#loss svg{width:100%;max-width:640px;height:auto}
#loss polyline{fill:none;stroke:#4a6fa5;stroke-width:2}
#loss circle{fill:#4a6fa5;opacity:.25}#loss circle:hover{opacity:1}
#loss text{font-size:12px}
.axis{stroke:#333}
.eq{display:flex;flex-wrap:wrap;align-items:baseline;gap:.3em .5em;margin:.3em 0;
 max-width:100%}
.eq>span{display:inline-flex;flex-wrap:wrap;gap:.3em;align-items:baseline}
.result{font-weight:bold}
math{font-family:"Bpwalk Math",math;font-size:1.15em;math-style:normal}
.step{padding:.3em .6em;border-left:3px solid transparent;break-inside:avoid}
.step.current{border-left-color:var(--lit);background:var(--litbg)}
.note{color:#8a6d00;font-style:italic;margin:.1em 0}
.stepping:not(.all) .step:not(.current),.stepping:not(.all) .group:not(:has(.current)),
.stepping:not(.all) .pass:not(:has(.current)),
.stepping:not(.all) .update:not(:has(.current)){display:none}
.name .line{display:inline-block;width:18em;border-bottom:1px solid #000}
.blank{display:inline-block;width:9em;border-bottom:1px solid #000;height:1.2em}
.work{height:4.5em;border:1px dashed #bbb;margin:.3em 0 .8em}
.sheet #walk{display:block}.sheet #picture{position:static}
body.matrix #walk,body:not(.matrix) #matrix,body.matrix #counter,
body.matrix nav button{display:none}
.meq{margin:.6em 0 1em}.meq .scroll{overflow-x:auto;max-width:100%}
.meq mtd{padding:.15em .4em}.meq mtd:hover{background:var(--litbg)}
.shape{color:var(--soft);font-size:.8em}
.stepping .printed{display:none}
@media (max-width:900px){#walk{display:block}#picture{position:static}}
.compact{padding:.3em .6em;font-size:14px}.compact h1{font-size:1.1em;margin:0}
.compact header>p,.compact .given{display:none}
.compact #walk{display:grid;grid-template-columns:minmax(0,2fr) minmax(0,3fr);gap:.8em}
.compact #picture{position:sticky;top:2.6em}.compact #picture svg{max-height:70vh}
.compact nav{padding:.2em 0}
@media print{
 body{max-width:none;padding:0;font-size:11pt}
 nav,#counter,#where{display:none}.stepping .printed{display:inline}
 #walk{display:block}#picture{position:static;break-after:auto}
 #picture svg{max-height:none;max-width:16cm}
 .stepping .step,.stepping .group,.stepping .pass,.stepping .update{display:block!important}
 .step.current{background:none;border-left-color:transparent}
 .lit circle,.lit rect{fill:#eef3fb;stroke:#4a6fa5;stroke-width:1.5}
 .lit line{stroke:var(--line);stroke-width:1.5}.lit text{fill:inherit;font-weight:normal}
 .pass{break-inside:avoid-page}
 header table,#summary table{break-inside:avoid}
 tr{break-inside:avoid}
 h2,h3,h4,.update>p{break-after:avoid-page}
 a{color:inherit;text-decoration:none}
}
"""

SCRIPT = r"""
(function(){
const body=document.body, steps=[...document.querySelectorAll('.step')];
if(!steps.length) return;
const counter=document.getElementById('counter'), where=document.getElementById('where');
const all=document.getElementById('all'), svg=document.getElementById('net');
const slots=new Map([...svg.querySelectorAll('[data-slot]')].map(e=>[e.dataset.slot,e]));
const els=[...svg.querySelectorAll('[data-el]')];
const passes=steps.map(s=>s.closest('.pass'));
let i=0;
function paint(s,lit){
  // the picture as it is once step s is done, for the sample s is about (in a batch, one
  // sample's numbers; a step of the whole batch: the parameters only): the given numbers,
  // then the steps so far of that sample and of the whole update
  const upd=s.closest('.update'), k=s.dataset.sample||'';
  const given=JSON.parse(upd.dataset.given)[k];
  for(const [key,e] of slots){e.textContent=given[key]||'';e.classList.remove('filled');}
  for(const t of upd.querySelectorAll('.step')){
    const e=t.dataset.slot&&slots.get(t.dataset.slot);
    if(e&&(!t.dataset.sample||t.dataset.sample===k)){e.textContent=t.dataset.v;e.classList.add('filled');}
    if(t===s) break;
  }
  const ops=new Set(lit?s.dataset.ops.split(' '):[]);
  els.forEach(e=>e.classList.toggle('lit',ops.has(e.dataset.el)));
}
function inView(e){const r=e.getBoundingClientRect();return r.top>=0&&r.bottom<=innerHeight;}
function show(k,moved=true){
  i=Math.max(0,Math.min(steps.length-1,k));
  const s=steps[i], upd=s.closest('.update');
  steps.forEach(t=>t.classList.toggle('current',t===s));
  paint(s,true);
  counter.textContent='step '+(i+1)+' of '+steps.length;
  const n=+upd.dataset.samples;
  where.textContent=upd.querySelector('h2').textContent+' · '+
    passes[i].querySelector('h3').firstChild.textContent.trim()+' · '+s.dataset.id+
    (n<2?'':s.dataset.sample?' · the picture shows sample '+s.dataset.sample+' of '+n:
     ' · the picture shows the parameters (node values differ per sample)');
  // a step moved to stays on screen (on a narrow window the picture sits above the steps)
  if(moved&&!inView(s)) s.scrollIntoView({block:'center'});
}
function pass(dir){
  const p=passes[i]; let k=i;
  if(dir>0){while(k<steps.length&&passes[k]===p)k++; if(k<steps.length)show(k);}
  else{while(k>0&&passes[k-1]===p)k--; if(k===i&&k>0){k--;const q=passes[k];
    while(k>0&&passes[k-1]===q)k--;} show(k);}
}
const keys={ArrowRight:()=>show(i+1),n:()=>show(i+1),ArrowLeft:()=>show(i-1),b:()=>show(i-1),
  ']':()=>pass(1),'[':()=>pass(-1),Home:()=>show(0),End:()=>show(steps.length-1)};
document.addEventListener('keydown',ev=>{
  if(ev.altKey||ev.ctrlKey||ev.metaKey||ev.target.tagName==='INPUT'&&ev.key===' ')return;
  const f=keys[ev.key]; if(f){ev.preventDefault();f();}
});
document.querySelectorAll('nav button').forEach(b=>b.addEventListener('click',()=>keys[b.dataset.key]()));
all.addEventListener('change',()=>{body.classList.toggle('all',all.checked);show(i);});
const form=document.getElementById('form');
if(form){form.addEventListener('change',()=>body.classList.toggle('matrix',form.checked));
  keys.m=()=>{form.checked=!form.checked;body.classList.toggle('matrix',form.checked);};}
steps.forEach((s,k)=>s.addEventListener('click',()=>show(k)));
// printed, the picture shows the whole first update; on screen again, the step shown
addEventListener('beforeprint',()=>{const u=document.querySelector('.update .step').closest('.update');
  paint([...u.querySelectorAll('.step')].pop(),false);});
addEventListener('afterprint',()=>show(i,false));
show(0,false);
})();
"""
