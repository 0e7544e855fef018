"""The pictures of a convolution (grids) and of a recurrent network (unrolled in time), as a
person meets them: the stepper's `d` in a real terminal, `run`'s output at 80 columns, the
page in the system's Chromium.

Expected numbers are read from the engine's trace, except d2l's published
cross-correlation (Dive into Deep Learning, section 7.2: X = [[0,1,2],[3,4,5],[6,7,8]] and
K = [[0,1],[2,3]] give [[19,25],[37,43]]).
"""

from __future__ import annotations

import re
import sys

import pytest
from rich.cells import cell_len
from rich.console import Console

from bpwalk.engine import run
from bpwalk.notation import Pen
from bpwalk.scenario import load, loads, resolve
from bpwalk.stepper import State, Walk, press, screen
from bpwalk.views import grids, unrolled
from tests.conftest import run_cli
from tests.test_html import open_page

D2L_OUT = {"conv1[1,1,1]": 19, "conv1[1,1,2]": 25, "conv1[1,2,1]": 37, "conv1[1,2,2]": 43}


def trace(name: str):
    return run(load(resolve(name)[0]))


def index_of(it, step_id: str) -> int:
    return next(i for i, s in enumerate(it.steps) if s.id == step_id)


def text_of(renderable, width: int = 80) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text().splitlines()


# ----------------------------------------------------------------------------- the terminal


def test_the_stepper_d_shows_the_receptive_field_in_a_real_terminal():
    pexpect = pytest.importorskip("pexpect")
    from tests.test_stepper import _CSI, _MOVE, _env

    child = pexpect.spawn(sys.executable, ["-m", "bpwalk", "run", "d2l_conv", "--step"],
                          dimensions=(40, 80), env=_env() | {"NO_COLOR": "1"},
                          encoding="utf-8", timeout=15)
    try:
        child.expect(r"step 1/\d+")
        for key in ("n", "n"):  # net:conv1[1,1,1], out:conv1[1,1,1], net:conv1[1,1,2]
            child.send(key)
            child.expect(r"step \d+/\d+")
        child.send("d")
        child.expect(r"step 3/\d+")
        raw = child.before
        child.send("x")  # any key returns to the step
        child.expect(r"step 3/\d+")
        child.send("q")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    screen_text = _CSI.sub("", _MOVE.sub("\n", raw.rsplit("\x1b[1;1H", 1)[-1]))
    assert "\x1b[" not in _CSI.sub("", raw.rsplit("\x1b[1;1H", 1)[-1]).replace("\x1b[1;1H", "")
    rows = [r.rstrip() for r in screen_text.splitlines()]
    assert any("at net:conv1[1,1,2]" in r for r in rows), rows
    # the receptive field of cell [1,1,2]: x[1,1,2..3] and x[1,2,2..3] (1 2 / 4 5), in
    # brackets without colour; the cell itself on the output, 19 already there (d2l)
    assert any(re.search(r"│ 0  \[1\] \[2\] │", r) for r in rows), rows
    assert any(re.search(r"│ 3  \[4\] \[5\] │", r) for r in rows), rows
    assert any(re.search(r"│ 19  \[25\] │", r) for r in rows), rows
    assert any("[ ] this step's cells" in r for r in rows)


def test_the_stepper_d_draws_the_lstm_s_forget_path_in_a_real_terminal():
    """At dnet:c@t1, ∂E/∂c_1 takes a term from c_2 through the forget gate f_2 (Gomez's
    forget path): c@t1's and c@t2's gradients, f@t2's value and the arrow c between them
    in brackets, each gate's box in both columns, no colour, 80 columns."""
    pexpect = pytest.importorskip("pexpect")
    from tests.test_stepper import _CSI, _MOVE, _env

    it = trace("lstm_gomez").iterations[0]
    k = index_of(it, "dnet:c@t1")
    child = pexpect.spawn(sys.executable, ["-m", "bpwalk", "run", "lstm_gomez", "--step"],
                          dimensions=(70, 80), env=_env() | {"NO_COLOR": "1"},
                          encoding="utf-8", timeout=15)
    try:
        child.expect(r"step 1/\d+")
        for n in range(k):
            child.send("n")
            child.expect(rf"step {n + 2}/\d+")
        child.send("d")
        child.expect(rf"step {k + 1}/\d+")
        raw = child.before
        child.send("x")  # any key returns to the step
        child.expect(rf"step {k + 1}/\d+")
        child.send("q")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    rows = [r.rstrip() for r in _CSI.sub("", _MOVE.sub("\n", raw.rsplit("\x1b[1;1H", 1)[-1]))
            .splitlines()]
    text = "\n".join(rows)
    assert "at dnet:c@t1" in text and all(cell_len(r) <= 80 for r in rows), text
    assert all(f"{q}@t{t}" in text for q in "ifgoch" for t in (1, 2))
    pen = Pen()
    dc1, dc2 = (pen.num(it.steps[index_of(it, f"dnet:c@t{t}")].value) for t in (1, 2))
    f2 = pen.num(it.steps[index_of(it, "out:f@t2")].value)
    assert re.search(rf"║\[∂E/∂c {re.escape(dc1)}\]\s*║.*║\[∂E/∂c {re.escape(dc2)}\]", text), text
    assert re.search(rf"║\[out {re.escape(f2)}\]", text), text
    assert re.search(r"╗ \[c\]\s+╔ c@t2", text), text  # the arrow c_1 -> c_2, lit


def test_run_draws_the_lstm_unrolled_at_80_columns_without_colour_and_in_ascii():
    it = trace("lstm_gomez").iterations[0]
    pen = Pen()
    for ascii in (False, True):
        done = run_cli("run", "lstm_gomez", *(["--ascii"] if ascii else []),
                       env={"NO_COLOR": "1", "COLUMNS": "80"})
        assert done.returncode == 0, done.stderr
        out = done.stdout
        assert all(cell_len(x) <= 80 for x in out.splitlines()) and "\x1b[" not in out
        assert "Not drawn" not in out and out.count("unrolled") == 2  # given, after
        if ascii:
            assert not any(ord(ch) > 127 for ch in out.split("The network unrolled")[-1]
                           .split("Summary")[0])
        after = out.split("The network unrolled, after update 1")[1].split("Summary")[0]
        # Gomez's forward values (his c = 0.78572, 1.5176; h = 0.53631, 0.77197), as the
        # engine computes them, and the backward ones where the rnn shows its
        for ref, label in (("net:c@t1", "c"), ("net:c@t2", "c"), ("out:h@t2", "out"),
                           ("out:i@t1", "out"), ("dnet:c@t1", "dE/dc" if ascii else "∂E/∂c"),
                           ("dout:h@t1", "dE/dout" if ascii else "∂E/∂out")):
            value = Pen("ascii" if ascii else "unicode").num(it.steps[index_of(it, ref)].value)
            assert f"{label} {value}" in after, (ref, after)
        assert ("c@t0    ---->" if ascii else "c@t0    ────▶") in after
        assert "W_h" in after and "W_x" in after
    assert pen.num(it.steps[index_of(it, "net:c@t1")].value).startswith("0.78572")


def test_a_max_pool_step_marks_its_window_and_its_winner():
    tr = trace("conv_pool")
    walk = Walk.of(tr)
    it = tr.iterations[0]
    k = index_of(it, "out:pool1[1,1,2]")
    step = it.steps[k]
    rows = screen(walk, press(State(index=k), "d", walk),
                  Console(width=80, height=40, color_system=None))
    text = "\n".join(rows)
    winner = step.note.split(" is the largest")[0]  # the engine names it (trace.py)
    value = Pen().num(it.steps[index_of(it, f"out:{winner}")].value)
    assert re.search(rf"\[\s*{re.escape(value)}\]\*", text), text  # lit, and the winner
    assert sum(line.count("]") for line in rows if "│" in line) == 4 + 1  # window, its cell
    assert all(cell_len(r) <= 80 for r in rows)


def test_backward_through_max_pool_marks_every_winner_and_the_routed_cell():
    tr = trace("conv_pool")
    walk = Walk.of(tr)
    it = tr.iterations[0]
    k = index_of(it, "dout:conv1[1,2,3]")
    rows = screen(walk, press(State(index=k), "d", walk),
                  Console(width=80, height=40, color_system=None))
    text = "\n".join(rows)
    assert "pool1, backward" in text
    assert text.count(grids.WIN) >= len(grids.winners(it))  # every winner marked
    value = Pen().num(it.steps[k].value)
    assert re.search(rf"\[\s*{re.escape(value)}\]\*", text), text  # the routed cell, a winner


def test_run_shows_the_grids_once_per_layer_at_80_columns():
    done = run_cli("run", "d2l_conv", env={"NO_COLOR": "1", "COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert all(cell_len(line) <= 80 for line in lines) and "\x1b[" not in done.stdout
    # before the walk, the given numbers: input and kernel, an empty output
    first = lines.index(next(x for x in lines if x.startswith("conv1: the kernel slides")))
    assert "│ ·   ·  │" in "\n".join(lines[first:first + 6])
    # after the update, every output cell (d2l's numbers), the first one's field in brackets
    after = "\n".join(lines[max(i for i, x in enumerate(lines)
                                if x.startswith("conv1: the kernel slides")):])
    assert re.search(r"│\[19\]\s+25\s+│", after) and re.search(r"│ 37\s+43\s+│", after)
    assert "[ ] the first output cell and its receptive field" in after
    assert "conv1, backward" in after  # and the gradients' grids


def test_grids_hold_the_trace_s_values():
    tr = trace("d2l_conv")
    it = tr.iterations[0]
    values = grids.values_at(tr, it, len(it.steps) - 1)
    assert {n: values[f"{n}|out"] for n in D2L_OUT} == D2L_OUT
    for s in it.steps:
        k = grids.key(s.id)
        if k is not None and s.sample is None:
            assert values[k] == next(t.value for t in reversed(it.steps)
                                     if grids.key(t.id) == k)


def test_the_rnn_unrolled_shows_bptt_on_the_stepper():
    tr = trace("rnn_two_steps")
    walk = Walk.of(tr)
    it = tr.iterations[0]
    k = index_of(it, "dout:h@t1")
    rows = screen(walk, press(State(index=k), "d", walk),
                  Console(width=80, height=40, color_system=None))
    text = "\n".join(rows)
    assert all(cell_len(r) <= 80 for r in rows)
    # the gradient at h@t1 gets a term from t = 2 through W_h: both boxes and the arrow
    # between them (its weight) are in brackets; the arrow into h@t1 from h@t0 is not
    assert re.search(r"║\[∂E/∂out −?[\d.]+\]\s*║.*║\[∂E/∂out", text), text
    w_h = Pen().num(tr.params_first["rnn1.W_h[1,1]"])
    arrows = [r for r in rows if f"[{w_h}]" in r or f" {w_h} " in r]
    assert len(arrows) == 1 and arrows[0].index(" " + w_h) < arrows[0].index(f"[{w_h}]")


def test_the_unrolled_layout_is_read_from_the_trace():
    """Three time steps, two hidden units, the output at the last step only: boxes where the
    trace has nodes, an arrow per weight matrix, and the picture fits 80 columns."""
    tr = run(loads(
        "name: r\ninputs: 1\nlayers:\n  - kind: rnn\n    hidden: 2\n    activation: tanh\n"
        "    W_x: [[0.5], [-0.3]]\n    W_h: [[0.1, 0.2], [0.0, -0.1]]\n    outputs: last\n"
        "  - neurons: [y]\n    activation: linear\n    weights: [[1.0, 2.0]]\n"
        "loss: half_squared_error\nlearning_rate: 0.1\n"
        "data:\n  - sequence: [[1], [2], [3]]\n    targets: [[1]]\n"))
    lay = unrolled.layout(tr)
    assert lay.steps == 3 and [len(r.names) for r in lay.rows] == [1, 2, 1]
    y = lay.rows[2].names[0]
    assert [f"{y}@t{t}" in lay.fields for t in (1, 2, 3)] == [False, False, True]
    assert {a.label for a in lay.across.values()} == {"W_h"}
    assert set(lay.down) == {(0, 1), (0, 2), (0, 3), (1, 3)}
    it = tr.iterations[0]
    for k in (0, len(it.steps) - 1):
        lines = text_of(unrolled.at_step(tr, it, k, 9))
        assert all(cell_len(x) <= 80 for x in lines)
        assert sum(f"{y}@t3" in x for x in lines) == 1


# ----------------------------------------------------------------------------- the page


OVERFLOW = """() => [...document.querySelectorAll('#picture, #grids table, #grids .unrolled')]
  .filter(e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right >
          document.documentElement.clientWidth).map(e => e.id || e.className)"""


def test_the_page_grids_follow_the_step(browser, tmp_path):
    out = tmp_path / "conv.html"
    assert run_cli("export", "conv_pool", "-f", "html", "-o", str(out)).returncode == 0
    tr = trace("conv_pool")
    it = tr.iterations[0]
    page = open_page(browser, out, viewport={"width": 1280, "height": 900})
    k = index_of(it, "out:pool1[1,1,2]")
    for _ in range(k):
        page.keyboard.press("ArrowRight")
    assert page.eval_on_selector(".step.current", "e => e.dataset.id") == "out:pool1[1,1,2]"
    shown = page.eval_on_selector_all("#grids .panel", "ps => ps.filter(p => "
                                      "getComputedStyle(p).display !== 'none')"
                                      ".map(p => p.dataset.panel)")
    assert shown == ["pool1 forward"]
    winner = it.steps[k].note.split(" is the largest")[0]
    panel = '#grids .panel[data-panel="pool1 forward"]'
    wins = page.eval_on_selector_all(f"{panel} td.win", "ts => ts.map(t => t.dataset.k)")
    assert wins == [f"{winner}|out"]
    lit = page.eval_on_selector_all(f"{panel} td.lit", "ts => ts.map(t => t.dataset.k)")
    assert sorted(lit) == sorted({grids.key(o.ref) for term in it.steps[k].terms
                                  for o in term} | {"pool1[1,1,2]|out"})
    cell = page.eval_on_selector(f'{panel} td[data-k="pool1[1,1,2]|out"]', "e => e.textContent")
    assert cell == Pen().num(it.steps[k].value)
    later = page.eval_on_selector(f'{panel} td[data-k="pool1[1,2,2]|out"]', "e => e.textContent")
    assert later == grids.EMPTY  # not reached yet
    assert page.evaluate(OVERFLOW) == [] and page.errors == [] and page.requests[1:] == []
    page.emulate_media(media="print")  # printed: every layer's grids
    assert page.eval_on_selector_all("#grids .panel", "ps => ps.filter(p => getComputedStyle(p)"
                                     ".display === 'none').length") == 0
    page.close()


def test_the_page_unrolls_the_rnn_and_lights_the_recurrent_arrow(browser, tmp_path):
    out = tmp_path / "rnn.html"
    assert run_cli("export", "rnn_two_steps", "-f", "html", "-o", str(out)).returncode == 0
    tr = trace("rnn_two_steps")
    it = tr.iterations[0]
    page = open_page(browser, out, viewport={"width": 1280, "height": 900})
    k = index_of(it, "dout:h@t1")
    for _ in range(k):
        page.keyboard.press("ArrowRight")
    assert page.eval_on_selector(".step.current", "e => e.dataset.id") == "dout:h@t1"
    lit = set(page.eval_on_selector_all("#grids .lit", "es => es.map(e => e.dataset.a || "
                                        "e.dataset.k)"))
    assert {"h@t1|dout", "h@t2|dout", "across/1/2"} <= lit and "across/1/1" not in lit
    value = page.eval_on_selector('[data-k="h@t1|dout"]', "e => e.textContent")
    assert value == Pen().num(it.steps[k].value)
    assert page.locator("#grids .unrolled .box").count() == 7  # h0 and 2 x (x, h, y)
    assert page.evaluate(OVERFLOW) == [] and page.errors == []
    page.close()


def test_the_page_unrolls_the_lstm_and_lights_the_forget_path(browser, tmp_path):
    out = tmp_path / "lstm.html"
    assert run_cli("export", "lstm_gomez", "-f", "html", "-o", str(out)).returncode == 0
    it = trace("lstm_gomez").iterations[0]
    page = open_page(browser, out, viewport={"width": 1280, "height": 900})
    assert "Not drawn" not in page.content()
    k = index_of(it, "dnet:c@t1")
    for _ in range(k):
        page.keyboard.press("ArrowRight")
    assert page.eval_on_selector(".step.current", "e => e.dataset.id") == "dnet:c@t1"
    lit = set(page.eval_on_selector_all("#grids .lit", "es => es.map(e => e.dataset.a || "
                                        "e.dataset.k)"))
    assert {"c@t1|dnet", "c@t2|dnet", "f@t2|out", "cell/1/2"} <= lit and "cell/1/1" not in lit
    value = page.eval_on_selector('[data-k="c@t1|dnet"]', "e => e.textContent")
    assert value == Pen().num(it.steps[k].value)
    # x1, x2 and the gates, c and h at each of 2 time steps; c0 and h0
    assert page.locator("#grids .unrolled .box").count() == 2 * (2 + 6) + 2
    assert page.evaluate(OVERFLOW) == [] and page.errors == []
    page.close()


@pytest.mark.parametrize("name", ["d2l_conv", "conv_pool", "rnn_two_steps",
                                  "lstm_gomez"])
def test_a_worksheet_s_picture_holds_the_given_numbers_only(tmp_path, name):
    out = tmp_path / "sheet.html"
    assert run_cli("worksheet", name, "-f", "html", "-o", str(out)).returncode == 0
    page = out.read_text(encoding="utf-8")
    assert 'id="grids"' in page and "data-kv=" not in page  # no results in the source
    tr = trace(name)
    picture = page[page.index('id="grids"'):page.index("</figure>")]
    for s in tr.iterations[0].steps:
        if s.kind in ("net", "out", "pool") and abs(s.value) > 1e-9:
            k = grids.key(s.id, not getattr(tr.scenario, "sequence", False))
            assert not re.search(rf'data-k="{re.escape(k)}"[^>]*>[^<·]', picture), k


TWO_CONVS = """name: two
inputs: {shape: [2, 4, 4]}
input_gradients: true
layers:
  - kind: conv2d
    kernels: [[[[0.5, -0.25], [0.25, 0.5]], [[0.1, 0.2], [0.3, -0.4]]],
              [[[0.2, 0.1], [0.0, 0.3]], [[-0.1, 0.2], [0.1, 0.1]]]]
    bias: [0.1, -0.1]
    padding: 1
    activation: relu
  - kind: avgpool
    size: 2
  - kind: conv2d
    kernels: [[[[0.5]], [[0.3]]]]
    activation: linear
  - kind: flatten
  - neurons: [o1]
    activation: sigmoid
    weights: [[0.4, -0.3, 0.2, 0.1]]
loss: half_squared_error
learning_rate: 0.5
data:
  - inputs: [[[1, 0, 2, 1], [0, 1, 3, 0], [2, 1, 0, 1], [1, 0, 1, 2]],
             [[0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0]]]
    targets: [1]
"""


def test_a_gradient_through_a_convolution_shows_its_kernel_and_fits():
    """Two channels, padding, a convolution after a pooling and the input's gradient: the
    gradient reaching a layer's cells through a convolution is drawn with that
    convolution's kernel and its cells' ∂E/∂net, each step's panel at 80 columns."""
    tr = run(loads(TWO_CONVS))
    it = tr.iterations[0]
    for step_id, panel in (("dout:pool1[1,1,1]", "conv2 backward"),
                           ("din:x[1,2,2]", "conv1 backward")):
        k = index_of(it, step_id)
        assert grids.panel_of(tr, it.steps[k]) == panel
        lines = text_of(grids.at_step(tr, it, k, 9))
        assert all(cell_len(x) <= 80 for x in lines)
        text = "\n".join(lines)
        assert "K[1,1]" in text and "∂E/∂" + ("pool1" if "pool1" in step_id else "x") in text
    for k in range(len(it.steps)):  # every step has a panel that fits
        assert all(cell_len(x) <= 80 for x in text_of(grids.at_step(tr, it, k, 9)))
