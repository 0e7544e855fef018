"""The network drawn in the terminal: what a person sees at 80 columns, with and without colour.

Values are read from the engine's trace; the few typed numbers are Mazur's published values
(A Step by Step Backpropagation Example, 2015): out_o1 = 0.75136507, w5 after the update
0.35891648.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console

from bpwalk.engine import run
from bpwalk.scenario import load, loads, resolve
from bpwalk.stepper import State, Walk, press, screen
from bpwalk.views import drawing
from bpwalk.views.terminal import Walkthrough


def mazur():
    return run(load(resolve("mazur")[0]))


def square(n_layers: int, width: int):
    """An n-n-...-n network (inputs included) of sigmoid layers; numbers irrelevant."""
    row = "[" + ", ".join(["0.1"] * width) + "]"
    layers = "".join(
        f"  - neurons: [{', '.join(f'n{k}_{j}' for j in range(width))}]\n"
        f"    activation: sigmoid\n    weights: [{', '.join([row] * width)}]\n    bias: 0.1\n"
        for k in range(n_layers - 1))
    text = (f"name: sq\ninputs: [{', '.join(f'x{j}' for j in range(width))}]\nlayers:\n{layers}"
            f"loss: half_squared_error\nlearning_rate: 0.5\n"
            f"data:\n  - inputs: {row}\n    targets: {row}\n")
    return run(loads(text))


def lines(renderable, width: int = 80) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return [t.rstrip() for t in console.export_text().splitlines()]


def test_run_opens_with_the_network_and_ends_each_update_with_its_values():
    out = lines(Walkthrough(mazur()))
    start = out.index("The network")
    # the drawing comes before the parameter table, which is not called "Network" too
    assert start < out.index("Parameters") and "Network" not in out
    opening = "\n".join(out[start:start + 12])
    assert "w5→o1" in opening and "+b2" in opening and "0.05" in opening
    assert "0.75136507" not in opening  # nothing computed yet
    after = "\n".join(out[out.index("The network after update 1"):])
    assert "out 0.75136507" in after and "w5 0.35891648*" in after


def test_up_to_4_layers_of_4_fit_80_columns():
    tr = square(4, 4)
    text = lines(drawing.after(tr, tr.iterations[0], 9))
    assert not text[0].startswith("The 4-4-4-4 network is not drawn")
    assert max(cell_len(t) for t in text) <= 80
    # every neuron of every layer is drawn
    for lay in tr.scenario.layers:
        for n in lay.neurons:
            assert any(f" {n} +" in t for t in text), n


def test_a_bigger_network_gets_one_line_saying_why():
    for tr in (square(5, 2), square(2, 5)):
        text = lines(drawing.opening(tr, 9))
        assert len(text) == 1 and text[0].startswith("Not drawn: "), text


def test_d_in_the_stepper_draws_the_step_with_its_operands_highlighted():
    walk = Walk.of(mazur())
    at = next(i for i, e in enumerate(walk.entries) if e.step.id == "out:o1")
    state = press(State(index=at), "d", walk)
    assert state.mode == "drawing"
    console = Console(width=80, height=40, color_system=None)
    rows = "\n".join(screen(walk, state, console))
    assert "The network at out:o1" in rows
    assert "╔ o1 +b2" in rows  # the operand and result o1: a double border, visible in NO_COLOR
    assert "╔ h1" not in rows  # out_o1 reads net_o1 only, not h1
    assert "out 0.75136507" in rows
    assert press(state, "x", walk) == State(index=at)  # any key returns to the step


def test_a_weight_operand_is_marked_in_the_legend():
    tr = mazur()
    it = tr.iterations[0]
    k = next(i for i, s in enumerate(it.steps) if s.id == "net:o1")
    d = drawing.at_step(tr, it, k, 9)
    assert {"param:w5", "param:w6", "param:b2", "node:h1", "node:h2", "node:o1"} <= d.lit
    console = Console(width=80, record=True, color_system="standard", force_terminal=True)
    console.print(d)
    assert "\x1b[1;7mw5→o1" in console.export_text(styles=True)


def test_negative_values_get_a_true_minus_sign_as_in_the_walkthrough():
    # Mazur's delta of o2 is -0.038098237 (the post prints -0.0380982366); the drawing after
    # the update writes it like every formula does: with U+2212 in Unicode, '-' in ASCII.
    text = "\n".join(lines(Walkthrough(mazur())))
    assert "δ −0.038098237" in text and "δ -0.038098237" not in text
    ascii_text = "\n".join(lines(Walkthrough(mazur(), style="ascii")))
    assert "-0.038098237" in ascii_text and "−" not in ascii_text
