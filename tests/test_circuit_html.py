"""A circuit's HTML page, seen in headless Chromium (playwright driving the system's Chromium,
never a downloaded browser): the SVG circuit has no two text boxes that intersect, at the
first step and with every value filled in; stepping lights the operands and fills the wires;
the worksheet and its key lay the circuit out too.

Expected numbers are the engine's; the typed ones are CS231n's published values for
f = (x + y)·z with x = −2, y = 5, z = −4 (Backpropagation, Intuitions): q = 3, ∂f/∂x = −4.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import pytest

from bpwalk.api import document
from bpwalk.engine import run
from bpwalk.notation import Pen
from bpwalk.scenario import bundled_names, load, loads, resolve
from bpwalk.template import CIRCUITS, graph_practice_text
from bpwalk.views.circuit_sheet import given
from tests.test_html import open_page

playwright_api = pytest.importorskip("playwright.sync_api")

CIRCUIT_NAMES = [n for n in bundled_names() if "graph:" in resolve(n)[0].read_text()]
# the practice circuits: one seed for each of `bpwalk new --graph`'s shapes
PRACTICE_SEEDS = sorted({next(s for s in range(200) if graph_practice_text(s).count(
    CIRCUITS[k][2][-1][1])) for k in range(len(CIRCUITS))})


def traces():
    for name in CIRCUIT_NAMES:
        yield name, run(load(resolve(name)[0]))
    for seed in PRACTICE_SEEDS:
        yield f"practice seed {seed}", run(loads(graph_practice_text(seed)))


BOXES = """svg => [...svg.querySelectorAll('text')].map(t => {
  const b = t.getBBox(); return [t.textContent, b.x, b.y, b.width, b.height];
}).filter(b => b[3] > 0)"""


def overlaps(boxes) -> list[tuple[str, str]]:
    out = []
    for (s, x, y, w, h), (s2, x2, y2, w2, h2) in combinations(boxes, 2):
        if x < x2 + w2 and x2 < x + w and y < y2 + h2 and y2 < y + h:
            out.append((s, s2))
    return out


def test_bundled_circuits_are_found():
    assert {"cs231n_circuit", "cs231n_sigmoid", "micrograd_tanh"} <= set(CIRCUIT_NAMES)
    assert len(PRACTICE_SEEDS) == len(CIRCUITS)


@pytest.mark.parametrize("blanks", [False, True])
def test_no_two_text_boxes_of_the_circuit_intersect(browser, tmp_path, blanks):
    for name, trace in traces():
        path = tmp_path / "page.html"
        path.write_text(document(trace, "html", blanks=blanks))
        page = open_page(browser, path)
        states = ["first step", "last step"] if not blanks else ["worksheet"]
        for state in states:
            if state == "last step":
                page.keyboard.press("End")
            boxes = page.eval_on_selector("#net", BOXES)
            assert len(boxes) >= len(trace.scenario.graph.nodes), name
            assert overlaps(boxes) == [], (name, state)
        assert page.errors == [], name
        page.close()


def test_stepping_fills_the_wires_and_lights_the_operands(browser, tmp_path):
    trace = run(load(resolve("cs231n_circuit")[0]))
    path = tmp_path / "cs231n.html"
    path.write_text(document(trace, "html"))
    page = open_page(browser, path)

    def slot(name: str, field: str) -> str:
        return page.eval_on_selector(f'[data-slot="node:{name} {field}"]', "e => e.textContent")

    def lit() -> set[str]:
        return set(page.eval_on_selector_all("#net .lit", "es => es.map(e => e.dataset.el)"))

    assert page.eval_on_selector(".step.current", "e => e.dataset.id") == "val:q"
    assert slot("q", "value") == "3" and slot("x", "value") == "−2"  # CS231n: q = 3
    assert slot("x", "grad") == ""  # the backward pass has not come yet
    assert lit() == {"node:q", "node:x", "node:y"}
    while page.eval_on_selector(".step.current", "e => e.dataset.id") != "grad:x":
        page.keyboard.press("ArrowRight")
    assert slot("x", "grad") == "−4"  # CS231n: ∂f/∂x = −4
    assert lit() == {"node:x", "node:q"}
    assert page.errors == []
    page.screenshot(path=str(tmp_path / "shot.png"))
    page.close()


def test_worksheet_and_key_of_a_circuit(browser, tmp_path):
    trace = run(load(resolve("cs231n_sigmoid")[0]))
    sheet = tmp_path / "sheet.html"
    sheet.write_text(document(trace, "html", blanks=True))
    key = tmp_path / "key.html"
    key.write_text(document(trace, "html", key=True))
    page = open_page(browser, sheet)
    blanks = page.eval_on_selector_all(".blank", "es => es.length")
    pen = Pen("unicode", 9)
    asked = [s for s in trace.iterations[0].steps if s.terms and not given(pen.formula(s))]
    assert blanks == len(asked) and 0 < len(asked) < len(trace.iterations[0].steps)
    grads = page.eval_on_selector_all('#net [data-slot$=" grad"]', "es => es.map(e => e.textContent)")
    assert set(grads) == {""}  # the worksheet's picture gives the inputs only
    page.close()
    page = open_page(browser, key)
    grads = page.eval_on_selector_all('#net [data-slot$=" grad"]', "es => es.map(e => e.textContent)")
    assert "" not in grads
    assert page.errors == []
    page.close()


def test_save_screenshots_for_a_look(browser, tmp_path):
    """Screenshots of each circuit's page at its last step, where SHOTS says (not asserted:
    for a person to look at)."""
    import os

    where = os.environ.get("SHOTS")
    if not where:
        pytest.skip("set SHOTS=DIR to save screenshots")
    for name, trace in traces():
        path = tmp_path / "page.html"
        path.write_text(document(trace, "html"))
        page = open_page(browser, path, viewport={"width": 1280, "height": 900})
        page.keyboard.press("End")
        page.locator("#picture").screenshot(path=str(Path(where) / f"circuit-{name.replace(' ', '_')}.png"))
        page.close()
