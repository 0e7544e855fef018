"""The matrix form of a trace (``--form matrix``): terminal, Markdown and JSON.

Lays out the equations of bpwalk.matrix: the formula in symbols, then the same equation with
bracketed numeric matrices (or, with ``ids``, each entry's trace id), each operand's shape
written under it (2×1 · 1×2 = 2×2). Nothing here computes a number: every entry is the
trace's, every symbol comes from bpwalk.matrix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import groupby

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from bpwalk import __version__
from bpwalk.formulas import quantity, render
from bpwalk.matrix import (
    Apply,
    Equation,
    Matrix,
    MatrixForm,
    Op,
    Scalar,
    apply_head,
    equation_node,
    fn_node,
    matrix_forms,
    op_symbol,
    role_node,
    scalar_node,
    scalar_value_node,
    symbol,
)
from bpwalk.notation import Pen, Profile, number, profile
from bpwalk.trace import PHASE_TITLES, Trace

# ----------------------------------------------------------------------------- captions


def _captions(trace: Trace, form: MatrixForm, style: str, p: Profile) -> list[str]:
    """What a reader must know to read the matrices of one update: columns, 1/m, biases."""
    sc = trace.scenario
    out = []
    if form.m > 1:
        cols = ", ".join(str(s) for s in form.samples)
        line = f"A batch of m = {form.m} samples as columns (samples {cols})"
        if sc.reduction == "mean":
            line += "; E is their mean, so 1/m is applied once, at the gradients."
        else:
            line += "; E is their sum: no 1/m."
        out.append(line)
    for n, lay in enumerate(sc.layers, 1):
        b = render(role_node("b", n, p), style)
        if lay.bias == "shared":
            out.append(f"{b} is one bias shared by layer {n}: a 1{_times(style)}1 matrix added "
                       "to every entry"
                       + (f"; its gradient sums every entry of {render(role_node('delta', n, p), style)}."
                          if sc.update_biases else "."))
        elif lay.bias == "none":
            out.append(f"Layer {n} has no bias: no {b} term.")
    if not sc.update_biases and any(lay.bias != "none" for lay in sc.layers):
        out.append("The biases stay fixed (update_biases: false): no bias gradients, "
                   "no bias update.")
    return out


def equation_text(eq: Equation, style: str, p: Profile | str | None = None) -> str:
    """The equation in symbols (Z² = W²·A¹ + b²), from the matrix module's formula tree."""
    return render(equation_node(eq, profile(p)), style)


# ----------------------------------------------------------------------------- blocks


@dataclass(frozen=True)
class Block:
    """A piece of a laid-out equation: its lines (equal width), and what goes under it."""

    lines: tuple[str, ...]
    under: str = ""  # the shape of a matrix, or the operator repeated in the shape row
    source: Matrix | None = None  # the matrix drawn (to cut into column slices)
    first_col: int = 0  # a column slice's first column (0-based)

    @property
    def width(self) -> int:
        return max(len(line) for line in self.lines)


_BRACKETS = {  # (left, right) for: one row; top, middle, bottom of several rows
    "unicode": (("[", "]"), ("⎡", "⎤"), ("⎢", "⎥"), ("⎣", "⎦")),
    "ascii": (("[", "]"), ("[", "]"), ("[", "]"), ("[", "]")),
}


def _times(style: str) -> str:
    return "x" if style == "ascii" else "×"


def matrix_block(mat: Matrix, pen: Pen, ids: bool = False, cols: range | None = None) -> Block:
    """A matrix with brackets that line up; its entries right-aligned per column."""
    style = pen.style
    r, c = mat.shape
    cols = cols if cols is not None else range(c)
    grid = [[mat.ids[i][j] if ids else pen.num(mat.values[i][j]) for j in cols]
            for i in range(r)]
    widths = [max(len(grid[i][k]) for i in range(r)) for k in range(len(cols))]
    one, top, mid, bot = _BRACKETS[style]
    lines = []
    for i, row in enumerate(grid):
        left, right = one if r == 1 else top if i == 0 else bot if i == r - 1 else mid
        body = "  ".join(e.rjust(w) for e, w in zip(row, widths))
        lines.append(f"{left} {body} {right}")
    part = "" if len(cols) == c else f" (cols {cols.start + 1}-{cols.stop})"
    return Block(tuple(lines), f"{r}{_times(style)}{c}{part}", mat, cols.start)


def _text_block(text: str, under: str = "") -> Block:
    return Block((text,), under)


def _blocks(eq: Equation, pen: Pen, ids: bool) -> list[Block]:
    """The equation `result = rhs` as blocks: matrices, operators, scalars, function names."""
    style = pen.style

    def mat(m: Matrix) -> Block:
        return matrix_block(m, pen, ids)

    out = [mat(eq.result), _text_block(" = ", " = ")]
    for i, item in enumerate(eq.rhs):
        if isinstance(item, Matrix):
            out.append(mat(item))
        elif isinstance(item, Op):
            text = op_symbol(item, style)
            out.append(_text_block(text, text))
        elif isinstance(item, Scalar):
            text = (item.role if ids and item.fraction is None
                    else pen.write(scalar_value_node(item)))
            dot = op_symbol(Op("matmul"), style)
            out += [_text_block(text), _text_block(dot, dot)]
        else:
            out += _apply_blocks(item, pen, mat)
    return out


def _apply_blocks(ap: Apply, pen: Pen, mat) -> list[Block]:
    head = pen.write(apply_head(ap, pen.profile))
    if ap.kind == "softmax_delta":  # one Jacobian per column: its numbers are in the
        return [_text_block(head + " "), mat(ap.args[0]),  # scalar steps (jac:)
                _text_block(" (column by column)")]
    out = [_text_block(head + "(")]
    for k, a in enumerate(ap.args):
        out += ([_text_block(", ")] if k else []) + [mat(a)]
    return out + [_text_block(")")]


def _stack(blocks: list[Block]) -> list[str]:
    """Blocks side by side, middle rows aligned, and the shape row under them."""
    mids = [len(b.lines) // 2 for b in blocks]
    top = max(mids)
    height = max(top - m + len(b.lines) for b, m in zip(blocks, mids))
    rows = [""] * height
    under = ""
    for b, m in zip(blocks, mids):
        w = max(b.width, len(b.under))
        start = top - m
        for i in range(height):
            k = i - start
            cell = b.lines[k] if 0 <= k < len(b.lines) else ""
            rows[i] += cell.center(w) if len(b.lines) == 1 else cell.ljust(w)
        under += b.under.center(w)
    return [r.rstrip() for r in rows] + [under.rstrip()]


def _split_wide(blocks: list[Block], pen: Pen, ids: bool, width: int) -> list[Block]:
    """Matrices wider than `width` replaced by column slices that fit."""
    out = []
    for b in blocks:
        m = b.source
        if m is None or b.width <= width:
            out.append(b)
            continue
        c = m.shape[1]
        per = c
        room = width - 4  # an operator may stand before a slice
        while per > 1 and matrix_block(m, pen, ids, range(per)).width > room:
            per -= 1
        out += [matrix_block(m, pen, ids, range(s, min(s + per, c)))
                for s in range(0, c, per)]
    return out


def layout(eq: Equation, pen: Pen, width: int, ids: bool = False) -> tuple[list[str], bool]:
    """The numeric lines of `eq` within `width` columns, and whether it had to be split."""
    blocks = _blocks(eq, pen, ids)
    lines = _stack(blocks)
    if max(len(x) for x in lines) <= width:
        return lines, False
    blocks = _split_wide(blocks, pen, ids, width)
    # pieces that stay together: an operator and what follows it up to the next operator
    pieces: list[list[Block]] = [[]]
    for b in blocks:
        if pieces[-1] and (len(b.lines) == 1 and b.under == b.lines[0] or b.first_col):
            pieces.append([])  # an operator, or the next slice of a wide matrix
        pieces[-1].append(b)
    parts: list[list[Block]] = [[]]
    for piece in pieces:
        if parts[-1] and max(len(x) for x in _stack(parts[-1] + piece)) > width:
            parts.append([])
        parts[-1] += piece
    out: list[str] = []
    for k, part in enumerate(parts):
        out += ([""] if k else []) + _stack(part)
    return out, True


# ----------------------------------------------------------------------------- terminal


@dataclass(frozen=True)
class MatrixWalkthrough:
    """The explained updates of a trace in matrix form, as one rich renderable."""

    trace: Trace
    style: str = "unicode"
    decimals: int = 9
    phase: str | None = None
    ids: bool = False
    notation: Profile | str | None = None  # a notation profile, or its name (None: mazur)
    keep_zeros: bool = False  # --decimals D given: 0.0310, as a hand calculation writes it

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from bpwalk.views import outline
        from bpwalk.views.terminal import HEADING, NOTE, SUBHEADING, _rule, heading

        p = profile(self.notation)
        pen = Pen(self.style, self.decimals, p, self.keep_zeros)
        yield from heading(outline.heading(self.trace, pen.profile, own_numbers=False), pen)
        width = options.max_width
        for form in matrix_forms(self.trace):
            yield Text()
            yield _rule(f"Update {form.number}, matrix form", self.style)
            for line in _captions(self.trace, form, self.style, p):
                yield Text(line, style=NOTE)
            eqs = [e for e in form.equations if self.phase in (None, e.phase)]
            for phase, group in groupby(eqs, key=lambda e: e.phase):
                yield Text()
                yield Text(PHASE_TITLES[phase], style=HEADING)
                for eq in group:
                    yield Text()
                    yield Text(equation_text(eq, self.style, p), style=SUBHEADING)
                    lines, split = layout(eq, pen, width, self.ids)
                    if split:
                        yield Text("(wider than the terminal: shown in parts)", style=NOTE)
                    for line in lines:
                        yield Text(line, no_wrap=True, overflow="crop")


# ----------------------------------------------------------------------------- Markdown

_BLANK = r"\underline{\qquad}"


def _latex_matrix(mat: Matrix, pen: Pen, ids: bool) -> str:
    def entry(ref: str, value: float) -> str:
        if ids:
            return r"\texttt{" + ref.replace("_", r"\_") + "}"
        return pen.num(value)

    rows = [" & ".join(entry(i, v) for i, v in zip(ir, vr))
            for ir, vr in zip(mat.ids, mat.values)]
    return r"\begin{bmatrix}" + r" \\ ".join(rows) + r"\end{bmatrix}"


def _latex_numeric(eq: Equation, pen: Pen, ids: bool, blanks=None) -> str:
    p = pen.profile
    def mat(m: Matrix) -> str:
        shape = f"{m.shape[0]}" + r"\times " + f"{m.shape[1]}"
        if blanks is not None and blanks(m) == "blank":
            body = r"\begin{bmatrix}" + r" \\ ".join(
                " & ".join([_BLANK] * m.shape[1]) for _ in range(m.shape[0])) + r"\end{bmatrix}"
        elif blanks is not None and blanks(m):
            body = symbol(m, "latex", p)
        else:
            body = _latex_matrix(m, pen, ids)
        return r"\underbrace{" + body + "}_{" + shape + "}"

    out = [mat(eq.result), " = "]
    for item in eq.rhs:
        if isinstance(item, Matrix):
            out.append(mat(item))
        elif isinstance(item, Op):
            out.append(op_symbol(item, "latex"))
        elif isinstance(item, Scalar):
            out.append(pen.write(scalar_value_node(item)) + r" \, ")
        elif item.kind == "softmax_delta":
            out.append(render(apply_head(item, p), "latex") + " " + mat(item.args[0])
                       + r"\ \text{(column by column)}")
        else:
            out.append(render(apply_head(item, p), "latex") + r"\left("
                       + ", ".join(mat(a) for a in item.args) + r"\right)")
    return "".join(out)


def markdown(trace: Trace, decimals: int = 9, ids: bool = False, blanks: bool = False,
             notation: Profile | str | None = None, keep_zeros: bool = False) -> str:
    """The matrix form as Markdown with LaTeX (bmatrix, shapes under braces)."""
    from bpwalk.views.markdown import text

    sc = trace.scenario
    p = profile(notation)
    pen = Pen("latex", decimals, p, keep_zeros)
    lines = [f"# {'Worksheet: ' if blanks else ''}{text(sc.title or sc.name)}: matrix form", ""]
    if sc.description:
        lines += [text(sc.description), ""]
    lines += [f"Network {sc.shape}; activations "
              + ", ".join(f"layer {n}: ${render(fn_node(lay.activation), 'latex')}$"
                          for n, lay in enumerate(sc.layers, 1))
              + f"; loss `{sc.loss}`; learning rate "
              f"${render(scalar_node(Scalar('lr', sc.learning_rate), p), 'latex')} = "
              f"{number(sc.learning_rate)}$.", ""]
    given = {"W", "b", "Y", "ones"}
    for form in matrix_forms(trace):
        lines += [f"## Update {form.number}", ""]
        lines += [f"- {text(c)}" for c in _captions(trace, form, "unicode", p)]
        lines.append("")

        def blank(m: Matrix, eq_result: Matrix | None = None) -> str:
            if m.role in given or (m.role == "A" and m.layer == 0) or m.role == "ones":
                return ""
            return "blank" if m is eq_result else "symbol"

        for phase, group in groupby(form.equations, key=lambda e: e.phase):
            lines += [f"### {PHASE_TITLES[phase]}", ""]
            for eq in group:
                lines += [f"$${equation_text(eq, 'latex', p)}$$", ""]
                fill = (lambda m, eq=eq: blank(m, eq.result)) if blanks else None
                lines += [f"$${_latex_numeric(eq, pen, ids, fill)}$$", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


# ----------------------------------------------------------------------------- answers


def answers_template(trace: Trace, notation: Profile | str | None = None) -> str:
    """An answers file with every computed matrix of the first update, its entries blank."""
    sc, p = trace.scenario, profile(notation)
    form = matrix_forms(trace)[0]
    lines = [
        f"# Answers for {sc.path}, update {form.number}, as matrices. Replace each ~ with a",
        "# number (every entry of a matrix, or none), then run:",
        f"#   bpwalk check {sc.path} THIS_FILE",
    ]
    for phase, group in groupby(form.equations, key=lambda e: e.phase):
        lines += ["", f"# {phase}"]
        for eq in group:
            m = eq.result
            rows = ", ".join("[" + ", ".join(["~"] * m.shape[1]) + "]"
                             for _ in range(m.shape[0]))
            lines.append(f"# {equation_text(eq, 'ascii', p)}  ({m.shape[0]}x{m.shape[1]})")
            lines.append(f"{m.key}: [{rows}]")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- JSON


def _item(item) -> dict:
    if isinstance(item, Matrix):
        return {"matrix": item.key.removesuffix("T"), "transposed": item.transposed}
    if isinstance(item, Op):
        return {"op": item.kind}
    if isinstance(item, Scalar):
        return {"scalar": item.role, "value": item.value}
    return {"apply": item.fn, "kind": item.kind, "args": [_item(a) for a in item.args]}


def render_json(trace: Trace) -> str:
    """Every update's matrices (shape, ids, values: one matrix a line) and equations."""
    dump = json.JSONEncoder(allow_nan=False, ensure_ascii=False).encode
    forms = []
    for form in matrix_forms(trace):
        mats = ",\n    ".join(
            f"{dump(k)}: " + dump({"shape": list(m.shape), "ids": m.ids, "values": m.values})
            for k, m in form.matrices().items())
        eqs = ",\n    ".join(dump({"kind": e.kind, "phase": e.phase, "layer": e.layer,
                                    "result": e.result.key, "rhs": [_item(i) for i in e.rhs]})
                              for e in form.equations)
        forms.append(f'{{"iteration": {form.number}, "samples": {dump(list(form.samples))},\n'
                     f'   "matrices": {{\n    {mats}}},\n'
                     f'   "equations": [\n    {eqs}]}}')
    body = ",\n  ".join(forms)
    return (f'{{"bpwalk": {dump(__version__)}, "form": "matrix", '
            f'"scenario": {dump(trace.scenario.name)},\n'
            f' "iterations": [\n  {body}]}}\n')


# ----------------------------------------------------------------------------- HTML


_MATHML_OPS = {"matmul": "·", "hadamard": "⊙", "add": "+", "sub": "−"}


def _mathml_matrix(mat: Matrix, pen: Pen) -> str:
    """A bracketed matrix of the trace's values, its shape under it; each entry names its
    scalar step (title and data-id: shown on hover)."""
    rows = "".join(
        "<mtr>" + "".join(f'<mtd data-id="{i}" title="{i}">'
                          f"{render(quantity(v), 'mathml', pen.decimals, keep_zeros=pen.keep_zeros)}"
                          "</mtd>" for i, v in zip(ir, vr)) + "</mtr>"
        for ir, vr in zip(mat.ids, mat.values))
    r, c = mat.shape
    return (f"<munder><mrow><mo>[</mo><mtable>{rows}</mtable><mo>]</mo></mrow>"
            f'<mrow class="shape"><mn>{r}</mn><mo>×</mo><mn>{c}</mn></mrow></munder>')


def _mathml_numeric(eq: Equation, pen: Pen) -> str:
    """result = rhs with every matrix written out (the MathML of _latex_numeric)."""
    p = pen.profile
    out = [_mathml_matrix(eq.result, pen), "<mo>=</mo>"]
    for item in eq.rhs:
        if isinstance(item, Matrix):
            out.append(_mathml_matrix(item, pen))
        elif isinstance(item, Op):
            out.append(f"<mo>{_MATHML_OPS[item.kind]}</mo>")
        elif isinstance(item, Scalar):
            out.append(pen.write(scalar_value_node(item)) + "<mo>·</mo>")
        elif item.kind == "softmax_delta":
            out.append(render(apply_head(item, p), "mathml") + _mathml_matrix(item.args[0], pen)
                       + "<mtext>\u00a0(column by column)</mtext>")
        else:
            args = "<mo>,</mo>".join(_mathml_matrix(a, pen) for a in item.args)
            out.append(f"{render(apply_head(item, p), 'mathml')}<mrow><mo>(</mo>{args}"
                       "<mo>)</mo></mrow>")
    return "".join(out)


def html_section(trace: Trace, pen: Pen) -> str:
    """The matrix form of the page's updates: per update its captions, then per phase each
    equation in symbols and with its matrices (shapes under the operands)."""
    from html import escape

    notation = pen.profile
    parts = ['<section id="matrix"><h2>Matrix form</h2>']
    for form in matrix_forms(trace):
        parts.append(f'<article class="mform"><h2>Update {form.number}</h2><ul>')
        parts += [f"<li>{escape(c)}</li>" for c in _captions(trace, form, "unicode",
                                                             notation)]
        parts.append("</ul>")
        for phase, group in groupby(form.equations, key=lambda e: e.phase):
            parts.append(f"<h3>{PHASE_TITLES[phase]}</h3>")
            for eq in group:
                symbols = render(equation_node(eq, notation), "mathml")
                parts.append(f'<div class="meq" data-key="{escape(eq.result.key)}">'
                             f'<math>{symbols}</math><div class="scroll"><math>'
                             f"{_mathml_numeric(eq, pen)}</math></div></div>")
        parts.append("</article>")
    parts.append("</section>")
    return "\n".join(parts)
