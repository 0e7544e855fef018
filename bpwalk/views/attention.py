"""An attention head's matrices as tables, and its attention weights P as a heat grid: in
the terminal (rich), in Markdown and in the HTML page.

The numbers are the steps' values (outline.Grid holds them); the shade of a weight is its
value placed on a scale of five levels, for the eye only. Under NO_COLOR (or --ascii) the
shade is a character before the number ( ░▒▓█, or  .:*#), so the grid still reads.
"""

from __future__ import annotations

from collections.abc import Iterator

from rich import box
from rich.color import Color
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.style import Style
from rich.table import Table
from rich.text import Text

from bpwalk.notation import Pen
from bpwalk.trace import Iteration, Trace
from bpwalk.views.outline import Grid, attention_grids

SHADES = {"unicode": " ░▒▓█", "ascii": " .:*#"}
LOW, HIGH = (255, 255, 255), (33, 102, 172)  # the weight 0 and the weight 1 (a blue)


def level(value: float) -> int:
    """The shade of an attention weight (0 to 1): one of five levels, 0 to 4."""
    return min(4, max(0, int(value * 4 + 0.5)))


def _rgb(value: float) -> tuple[int, int, int]:
    v = min(1.0, max(0.0, value))
    return tuple(round(lo + (hi - lo) * v) for lo, hi in zip(LOW, HIGH))  # type: ignore[return-value]


def _title(g: Grid, pen: Pen) -> str:
    words = "".join(p if isinstance(p, str) else pen.write(p) for p in g.words)
    return f"{pen.write(g.symbol)}: {words}"


def _cell(g: Grid, value: float | None, pen: Pen) -> str:
    """An entry's number; an entry with no step: minus infinity (a masked score) or 0."""
    if value is not None:
        return pen.num(value)
    return ("-inf" if pen.style == "ascii" else "−∞") if g.masked == "inf" else g.masked


class GridTable:
    """One matrix as a rich table under its title; a heat grid (P) shaded by colour, or by
    a character where the console has no colour."""

    __slots__ = ("grid", "pen")

    def __init__(self, grid: Grid, pen: Pen) -> None:
        self.grid, self.pen = grid, pen

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        g, pen = self.grid, self.pen
        colour = g.heat and not console.no_color and console.color_system is not None
        chars = SHADES["ascii" if pen.style == "ascii" else "unicode"] if g.heat and not colour \
            else ""
        yield Text(_title(g, pen), style="bold")
        table = Table(box=box.ASCII if pen.style == "ascii" else box.SIMPLE_HEAD,
                      padding=(0, 1), pad_edge=False)
        table.add_column("", no_wrap=True)
        for c in g.cols:
            table.add_column(c, justify="right", no_wrap=True)
        for label, row in zip(g.rows, g.values):
            cells: list[Text | str] = [label]
            for v in row:
                text = _cell(g, v, pen)
                if chars and v is not None:
                    text = f"{chars[level(v)]} {text}"
                if colour and v is not None:
                    r, gr, b = _rgb(v)
                    fg = "#000000" if v < 0.55 else "#ffffff"
                    cells.append(Text(f" {text} ", style=Style(color=fg,
                                                             bgcolor=Color.from_rgb(r, gr, b))))
                else:
                    cells.append(text)
            table.add_row(*cells)
        # its natural width (a shaded cell is two words: its minimum would split them)
        if Measurement.get(console, options.update_width(10**6), table).maximum \
                <= options.max_width:
            yield table
            return
        for label, row in zip(g.rows, _rows(table)):  # too narrow: one line a row,
            yield Text.assemble(f"{label}: ", *row)  # wrapping between the numbers


def _rows(table: Table) -> list[list[Text | str]]:
    """A table's rows of cells (after the label), each followed by two spaces."""
    cells = [list(c.cells) for c in table.columns[1:]]
    return [[part for col in cells for part in (col[r], "  ")] for r in range(table.row_count)]


def terminal(grids: tuple[Grid, ...], pen: Pen) -> Iterator[RenderableType]:
    for g in grids:
        yield GridTable(g, pen)


def weights(trace: Trace, it: Iteration, sample: int | None, pen: Pen,
            shown: set[str] | None = None) -> Grid:
    """The attention weights P of one sample in update `it` (the head's picture);
    `shown`: the step ids whose values are known yet (the stepper's), else all."""
    lay = trace.scenario.layers[0]
    grids = attention_grids(lay, trace.scenario.inputs, it, "forward", sample, False, pen.profile)
    p = next(g for g in grids if g.heat)
    if shown is not None:
        p = p._replace(values=tuple(tuple(v if i in shown else None for i, v in zip(ids, row))
                                    for ids, row in zip(p.ids, p.values)), masked="")
    which = f", sample {sample}" if sample is not None else ""
    words = f"the attention weights of update {it.number}{which}, each row summing to 1 " \
            "(darker: larger)"
    return p._replace(words=(words,))


def picture(trace: Trace, it: Iteration, sample: int | None, pen: Pen,
            shown: set[str] | None = None) -> RenderableType:
    """The attention weights as a heat grid in the terminal."""
    return GridTable(weights(trace, it, sample, pen, shown), pen)


def markdown(g: Grid, pen: Pen, write) -> list[str]:
    """A matrix as a Markdown table under its title (a heat grid's shade as a character)."""
    head = f"**{write((g.symbol,))}**: {write(g.words)}"
    lines = [head, "", "| | " + " | ".join(g.cols) + " |",
             "|---|" + "---:|" * len(g.cols)]
    for label, row in zip(g.rows, g.values):
        cells = [(f"{SHADES['unicode'][level(v)]} " if g.heat and v is not None else "")
                 + _cell(g, v, pen) for v in row]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def html(g: Grid, pen: Pen, title: str) -> str:
    """A matrix as an HTML table; a heat grid's cells shaded by their weight (inline
    styles: the page works offline and prints)."""
    from html import escape

    rows = []
    for label, row in zip(g.rows, g.values):
        cells = []
        for v in row:
            style = ""
            if g.heat and v is not None:
                r, gr, b = _rgb(v)
                fg = "#000" if v < 0.55 else "#fff"
                style = f' style="background:rgb({r},{gr},{b});color:{fg}"'
            cells.append(f'<td class="n"{style}>{escape(_cell(g, v, pen))}</td>')
        rows.append(f"<tr><th>{escape(label)}</th>{''.join(cells)}</tr>")
    head = "".join(f"<th>{escape(c)}</th>" for c in g.cols)
    kind = ' class="heat"' if g.heat else ' class="grid"'
    return (f'<div class="grids"><table{kind}><caption>{title}</caption><tr><th></th>'
            f'{head}</tr>{"".join(rows)}</table></div>')
