"""The circuit drawn as CS231n draws it: in the terminal (80 columns, with and without colour)
and as SVG, where no two text boxes may touch (measured in headless Chromium).

Circuits here are structure only; where a value is drawn it is a placeholder that says which
wire it belongs to, as test_drawing's square networks are: the numbers of the bundled circuits
are tested where the engine computes them.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console

from bpwalk.notation import Pen
from bpwalk.views import circuit_drawing as C

ADD_MUL = C.Circuit(("x", "y", "z"), (C.Gate("q", "+", ("x", "y")), C.Gate("f", "·", ("q", "z"))),
                    "f")
TWICE = C.Circuit(("a", "b"), (C.Gate("c", "+", ("a", "a")), C.Gate("d", "·", ("a", "b")),
                               C.Gate("f", "·", ("c", "d"))), "f")


def chain(n: int) -> C.Circuit:
    """x → n one-operand gates in a row → the output."""
    gates, last = [], "x"
    for k in range(n):
        gates.append(C.Gate(f"g{k}", "exp", (last,)))
        last = f"g{k}"
    return C.Circuit(("x",), tuple(gates), last)


def placeholders(c: C.Circuit, value: float = -0.123456789, grad: float = 0.987654321):
    """Every wire a value and a gradient, as wide as 9 decimals make them."""
    names = (*c.leaves, *(g.name for g in c.gates))
    out = {(f"node:{n}", "value"): value for n in names}
    out.update({(f"node:{n}", "grad"): grad for n in names})
    return out


def lines(renderable, width: int = 80) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return [t.rstrip() for t in console.export_text().splitlines()]


# ----------------------------------------------------------------------------- layout


def test_a_gate_sits_on_the_lane_of_the_operand_only_it_reads():
    lay = C.layout(ADD_MUL)
    assert lay.lane["q"] == lay.lane["x"] and lay.lane["f"] == lay.lane["q"]
    assert lay.column == {"x": 0, "y": 0, "z": 0, "q": 1, "f": 2}
    assert [(f.source, f.gate) for col in lay.feeds for f in col] == [("y", "q"), ("z", "f")]


def test_a_wire_read_twice_by_one_gate_comes_in_twice():
    lay = C.layout(TWICE)
    turns = [(f.source, f.gate) for col in lay.feeds for f in col]
    assert turns.count(("a", "c")) == 2  # a + a: both uses drawn, so the sum shows
    assert "c" not in lay.along  # a is read by three uses: no gate continues its lane


def test_elements_of_a_step_are_the_circuit_names_in_its_refs():
    names = ("x", "y", "q", "f.1")
    got = C.elements(names, ["grad:x", "local:q/x", "val:f.1@2", "lr", "grad:nothere"])
    assert got == {"node:x", "node:q", "node:f.1"}


# ----------------------------------------------------------------------------- terminal


def test_value_above_each_wire_and_gradient_below_without_colour():
    text = lines(C.Drawing(ADD_MUL, placeholders(ADD_MUL, 1.5, -2.5)))
    assert text[1] == "On each wire: its value above, its gradient below."
    for name in ("x", "y", "z"):
        row = next(i for i, t in enumerate(text) if t.startswith(name + " "))
        assert "1.5" in text[row - 1] and "−2.5" in text[row + 1]
    row = next(i for i, t in enumerate(text) if "┤+├ q" in t)
    assert "┤·├ f" in text[row]  # the chain reads along one line


def test_colours_value_green_gradient_red():
    console = Console(width=80, record=True, color_system="standard", force_terminal=True)
    console.print(C.Drawing(ADD_MUL, placeholders(ADD_MUL, 1.5, -2.5)))
    styled = console.export_text(styles=True)
    assert "\x1b[32m1.5" in styled and "\x1b[31m−2.5" in styled


def test_the_operands_of_a_step_are_drawn_double():
    lit = frozenset({"node:x", "node:q"})
    text = "\n".join(lines(C.Drawing(ADD_MUL, placeholders(ADD_MUL), lit)))
    assert "x ═" in text and "╣+╠ q ═" in text and "y ─" in text and "┤·├" in text
    ascii_text = "\n".join(lines(C.Drawing(ADD_MUL, placeholders(ADD_MUL), lit, ascii=True)))
    assert "x =" in ascii_text and "#+# q =" in ascii_text and "[*]" in ascii_text
    assert ascii_text.isascii()


def test_a_long_chain_wraps_into_bands_and_every_gate_is_drawn():
    c = chain(C.MAX_GATES)
    text = lines(C.Drawing(c, placeholders(c)))
    assert max(cell_len(t) for t in text) <= 80
    for g in c.gates:
        assert any(f" {g.name} " in t for t in text), g.name
    assert any(t.startswith("g") and "═" not in t and "─" in t for t in text)  # a carried wire


def test_more_than_max_gates_is_one_line_saying_why():
    text = lines(C.Drawing(chain(C.MAX_GATES + 1), {}))
    assert len(text) == 1 and text[0].startswith("Not drawn: the circuit has 13 gates")


@st.composite
def circuits(draw):
    leaves = tuple(f"x{k}" for k in range(draw(st.integers(1, 5))))
    gates: list[C.Gate] = []
    for k in range(draw(st.integers(1, C.MAX_GATES))):
        names = [*leaves, *(g.name for g in gates)]
        arity = draw(st.integers(1, 2))
        ops = tuple(draw(st.sampled_from(names)) for _ in range(arity))
        gates.append(C.Gate(f"n{k}", draw(st.sampled_from(["+", "·", "exp", "max", "1/x"])), ops))
    return C.Circuit(leaves, tuple(gates), gates[-1].name)


@settings(max_examples=60, deadline=None)
@given(circuits())
def test_any_circuit_up_to_max_gates_fits_80_columns(c):
    text = lines(C.Drawing(c, placeholders(c)))
    assert max(cell_len(t) for t in text) <= 80
    assert not text[0].startswith("The circuit is not drawn")
    body = "\n".join(text)
    for g in c.gates:
        assert f"┤{g.op}├ {g.name} " in body, g.name
    svg = C.svg(c, placeholders(c), Pen("unicode", 9))
    assert svg.count('class="gate"') == len(c.gates)


def test_a_long_chain_is_laid_out_without_recursion():
    lay = C.layout(chain(5000))  # deeper than Python's recursion limit
    assert lay.lanes == 1 and lay.columns == 5001


def test_the_svg_of_a_huge_circuit_says_why_it_is_not_drawn():
    c = chain(C.MAX_SVG_GATES + 1)
    svg = C.svg(c, {}, Pen("unicode", 4))
    assert svg.startswith('<svg id="net"') and "Not drawn: 101 gates" in svg
    assert 'class="gate"' in C.svg(chain(C.MAX_SVG_GATES), {}, Pen("unicode", 4))
