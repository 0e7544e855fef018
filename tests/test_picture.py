"""The picture of the network on the page and in the terminal (issue 26, part 1): it shows
the sample being stepped and says which, its labels never overlap, it speaks the notation,
and a handout marks the updated values. Seen in headless Chromium (the system's, through
playwright) where it is about what is drawn.

Every expected number is read from the engine's trace.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from bpwalk.engine import run
from bpwalk.notation import Pen
from bpwalk.scenario import load, resolve
from bpwalk.stepper import State, Walk, press, screen
from bpwalk.views import drawing
from tests.conftest import run_cli
from tests.test_html import open_page

BUNDLED = sorted(p.stem for p in Path(resolve("mazur")[0]).parent.glob("*.yaml"))


def xor():
    return run(load(resolve("xor")[0]))


def step_index(it, step_id: str) -> int:
    return next(i for i, s in enumerate(it.steps) if s.id == step_id)


# ----------------------------------------------------------------------------- the sample


def test_a_batch_picture_holds_the_stepped_samples_values_only():
    tr = xor()
    it = tr.iterations[0]
    k = step_index(it, "net:h1@2")
    values = drawing.values_at(tr, it, k)
    # sample 2's inputs, as the formula substitutes them
    assert values[("node:x2", "in")] == tr.scenario.x[1][1]
    own = {drawing.slot(s): s.value for s in it.steps[: k + 1] if s.sample in (2, None)
           and drawing.slot(s)}
    nodes = {key: v for key, v in values.items() if key[0].startswith("node:") and key[1] != "in"}
    assert nodes == {key: v for key, v in own.items() if key[0].startswith("node:")}
    assert ("node:h2", "net") not in values  # sample 1's net_h2 is not shown beside sample 2's


def test_the_stepper_drawing_of_a_batch_step_names_its_sample():
    walk = Walk.of(xor())
    at = next(i for i, e in enumerate(walk.entries) if e.step.id == "net:h1@2")
    state = press(State(index=at), "d", walk)
    rows = "\n".join(screen(walk, state, Console(width=80, height=40, color_system=None)))
    assert "The network at net:h1@2 (sample 2 of 4)" in rows


def test_the_page_steps_the_samples_values_and_says_which(browser, tmp_path):
    out = tmp_path / "xor.html"
    assert run_cli("export", "xor", "-f", "html", "-o", str(out)).returncode == 0
    tr = xor()
    it = tr.iterations[0]
    page = open_page(browser, out)
    for _ in range(step_index(it, "net:h1@2")):
        page.keyboard.press("ArrowRight")
    assert page.eval_on_selector(".step.current", "e => e.dataset.id") == "net:h1@2"
    slot = page.eval_on_selector('[data-slot="node:x2 in"]', "e => e.textContent")
    assert slot == Pen("mathml").num(tr.scenario.x[1][1])
    assert page.eval_on_selector('[data-slot="node:h2 net"]', "e => e.textContent") == ""
    assert "sample 2 of 4" in page.inner_text("#where")
    page.close()


# ----------------------------------------------------------------------------- labels


BOXES = """() => {
  // every slot at the widest value it takes on this page: the worst case for overlaps
  const widest = {};
  for (const s of document.querySelectorAll('.step[data-slot]'))
    if ((widest[s.dataset.slot] || '').length < s.dataset.v.length) widest[s.dataset.slot] = s.dataset.v;
  for (const e of document.querySelectorAll('#net [data-slot]'))
    if (widest[e.dataset.slot]) { e.textContent = widest[e.dataset.slot]; e.classList.add('filled'); }
  const boxes = [...document.querySelectorAll('#net text')].filter(t => t.textContent.trim())
    .map(t => { const b = t.getBBox(); return [t.textContent, b.x, b.y, b.x + b.width, b.y + b.height]; });
  const hits = [];
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const [a, b] = [boxes[i], boxes[j]];
    if (a[1] < b[3] && b[1] < a[3] && a[2] < b[4] && b[2] < a[4]) hits.push(a[0] + ' | ' + b[0]);
  }
  return hits;
}"""


@pytest.mark.parametrize("name", BUNDLED)
def test_no_two_labels_of_the_picture_overlap(browser, tmp_path, name):
    out = tmp_path / "page.html"
    assert run_cli("export", name, "-f", "html", "-o", str(out)).returncode == 0
    page = open_page(browser, out)
    assert page.evaluate(BOXES) == []
    page.emulate_media(media="print")
    assert page.evaluate(BOXES) == []
    page.close()


# ----------------------------------------------------------------------------- notation, marks


def test_the_terminal_picture_speaks_the_notation():
    tr = run(load(resolve("mazur")[0]))
    it = tr.iterations[0]
    for name, fields, weight in (("nielsen", ("z ", "a ", "δ "), "w³₁₁→o1"),
                                 # Han & Kamber number the units: w5 joins h1 (unit 3) to o1 (5)
                                 ("han-kamber", ("I ", "O ", "Err "), "w₃₅→o1")):
        console = Console(width=80, record=True, color_system=None)
        console.print(drawing.after(tr, it, 9, notation=name))
        text = console.export_text()
        assert weight in text
        assert all(f"│{f}" in text for f in fields), text
    # Han & Kamber's Err is −∂E/∂I: the picture shows the value with that sign
    console = Console(width=80, record=True, color_system=None)
    console.print(drawing.after(tr, it, 9, notation="han-kamber"))
    d_o2 = next(s.value for s in it.steps if s.id == "dnet:o2")
    assert f"Err {Pen().num(-d_o2)}" in console.export_text()


def test_the_page_picture_and_tables_speak_the_notation(browser, tmp_path):
    tr = run(load(resolve("mazur")[0]))
    d_o2 = next(s.value for s in tr.iterations[0].steps if s.id == "dnet:o2")
    for name, fields, weight in (("nielsen", ("z", "a", "δ"), "w³₁₁"),
                                 ("han-kamber", ("I", "O", "Err"), "w₃₅")):
        out = tmp_path / f"{name}.html"
        assert run_cli("export", "mazur", "-f", "html", "--notation", name,
                       "-o", str(out)).returncode == 0
        page = open_page(browser, out)
        page.keyboard.press("End")  # the picture of the whole update
        labels = page.eval_on_selector_all(
            '#net [data-el="node:o2"] text.v', "ts => ts.map(t => t.firstChild.textContent)")
        assert [t.strip() for t in labels] == list(fields)
        assert weight in page.text_content("#net") and weight in page.inner_text("header")
        if name == "han-kamber":
            shown = page.eval_on_selector('[data-slot="node:o2 δ"]', "e => e.textContent")
            assert shown == Pen().num(-d_o2)
        page.close()


def test_the_answer_key_marks_new_values_and_says_what_the_picture_shows(
        browser, tmp_path):
    sheet, key = tmp_path / "sheet.html", tmp_path / "key.html"
    assert run_cli("worksheet", "mazur", "-f", "html", "-o", str(sheet),
                   "--key", str(key)).returncode == 0
    tr = run(load(resolve("mazur")[0]))
    page = open_page(browser, key)
    w5 = page.eval_on_selector('[data-slot="param:w5 value"]', "e => e.textContent")
    assert w5 == Pen().num(tr.params_final["w5"]) + drawing.NEW_MARK
    caption = page.inner_text("figcaption")
    assert "after update 1" in caption and "new value" in caption
    page.close()
    page = open_page(browser, tmp_path / "sheet.html")
    assert "given numbers" in page.inner_text("figcaption")
    page.close()
    # printed, a stepping page's picture says what it shows, not the step on screen
    out = tmp_path / "mazur.html"
    assert run_cli("export", "mazur", "-f", "html", "-o", str(out)).returncode == 0
    page = open_page(browser, out)
    page.emulate_media(media="print")
    caption = page.inner_text("figcaption")
    assert "after update 1" in caption and "net:h1" not in caption
    page.close()


def test_checks_footer_names_the_first_wrong_step_in_the_notation(tmp_path):
    answers = tmp_path / "answers.txt"
    answers.write_text("net:h1: 0.3775\nErr:o1: 0.5\n", encoding="utf-8")
    r = run_cli("check", "mazur", str(answers), "--notation", "han-kamber")
    footer = r.stdout[r.stdout.index("First wrong step"):]
    assert "Err₅" in footer and "∂E/∂net" not in footer  # o1 is Han & Kamber's unit 5


def test_g_w5_then_d_lights_the_value_w5_carries():
    walk = Walk.of(run(load(resolve("mazur")[0])))
    state = press(State(), "g", walk)
    for k in ("w", "5", "enter"):
        state = press(state, k, walk)
    assert walk.entries[state.index].step.id == "grad:w5"
    state = press(state, "d", walk)
    rows = "\n".join(screen(walk, state, Console(width=80, height=40, color_system=None)))
    # ∂net_o1/∂w5 = out_h1: h1 is an operand, drawn with a double border like o1 and w5
    assert "╔ h1" in rows and "╔ o1" in rows


def test_the_terminal_drawing_draws_its_connections_where_they_fit():
    tr = run(load(resolve("mazur")[0]))
    console = Console(width=80, record=True, color_system=None)
    console.print(drawing.opening(tr, 9))
    rows = console.export_text().splitlines()
    # every weight's label runs on as a line ...
    for w, target in (("w1", "h1"), ("w3", "h2"), ("w5", "o1"), ("w8", "o2")):
        row = next(r for r in rows if f"{w}→{target}" in r)
        after = row.split(f"{w}→{target}", 1)[1]
        assert after.startswith(" ─") and after.lstrip(" ─")[:1] in "┐┘┤┼┴├┬│", row
    # ... and each neuron of layers 1 and 2 is entered by a line: "─│" beside its box
    text = "\n".join(rows)
    assert sum(text.count(f"─│{f}") for f in ("net", "out", "δ")) == 2 * 2
    assert max(len(r) for r in rows) <= 80
    # where the lines do not fit, the labels alone (as before), at every decimal
    narrow = Console(width=66, record=True, color_system=None)
    narrow.print(drawing.after(tr, tr.iterations[0], 9))
    text = narrow.export_text()
    assert "w1→h1 │" in text and "┴" not in text and "0.593269992" in text
