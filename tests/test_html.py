"""The HTML page, the PDF and the printable worksheet, seen the way a person sees them: opened
in headless Chromium (playwright driving the system's Chromium, never a downloaded browser),
printed to PDF and read back with pypdf.

Expected numbers come from the engine's trace; the one typed number is Mazur's published
out_o1 = 0.75136507 (A Step by Step Backpropagation Example, 2015).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bpwalk.engine import run
from bpwalk.notation import number
from bpwalk.scenario import load, resolve
from tests.conftest import run_cli

playwright_api = pytest.importorskip("playwright.sync_api")

A4_CSS_PX = 794  # 210 mm at 96 px per inch
MARGIN_PX = 38  # Chromium's default print margin, about 1 cm each side
MAZUR_OUT_O1 = "0.75136507"  # Mazur (2015): out_o1


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("html") / "mazur.html"
    r = run_cli("export", "mazur", "--format", "html", "-n", "5", "-o", str(out))
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def mazur_trace():
    return run(load(resolve("mazur")[0]), iterations=5, show={1})


def open_page(browser, path: Path, **context):
    """The page with every console error and every request it makes recorded."""
    page = browser.new_page(**context)
    page.errors, page.requests = [], []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("request", lambda r: page.requests.append(r.url))
    page.goto(path.as_uri())
    return page


def current_id(page) -> str:
    return page.eval_on_selector(".step.current", "e => e.dataset.id")


def test_self_contained_no_console_errors_no_requests(browser, exported):
    text = exported.read_text()
    # the one url( is the math font's, inlined as a data: URL
    assert not re.search(r"<link|<script[^>]+src|@import|url\((?!data:)|fetch\(|XMLHttpRequest",
                         text)
    page = open_page(browser, exported)
    page.keyboard.press("End")
    assert page.errors == []
    # the file itself and nothing else (the inlined font: a data: URL, read from the page)
    assert [r for r in page.requests if not r.startswith("data:")] == [exported.as_uri()]
    page.close()


def test_mathml_is_there_and_has_a_size(browser, exported):
    page = open_page(browser, exported)
    page.check("#all")  # show all: every step's math laid out
    sizes = page.eval_on_selector_all(
        "#steps math", "ms => ms.map(m => {const r = m.getBoundingClientRect();"
                       " return [r.width, r.height]})")
    assert len(sizes) > 100
    assert all(w > 0 and h > 0 for w, h in sizes)
    # the browser parsed it as MathML, not as unknown HTML elements
    assert page.eval_on_selector("#steps math", "m => m.namespaceURI") == \
        "http://www.w3.org/1998/Math/MathML"
    page.close()


def test_right_arrow_steps_and_the_picture_shows_the_value(browser, exported, mazur_trace):
    page = open_page(browser, exported)
    steps = mazur_trace.iterations[0].steps
    assert current_id(page) == steps[0].id
    o1 = '#net [data-el="node:o1"]'
    for k, s in enumerate(steps[1:], start=1):
        page.keyboard.press("ArrowRight")
        assert current_id(page) == s.id
        assert page.inner_text("#counter") == f"step {k + 1} of {len(steps)}"
        if s.id == "net:o1":
            assert MAZUR_OUT_O1 not in page.text_content(o1)  # not computed yet
        if s.id == "out:o1":
            assert MAZUR_OUT_O1 in page.text_content(o1)
            assert "lit" in page.get_attribute(o1, "class")
            assert page.is_visible('.step.current math')
            break
    page.close()


def test_keys_move_by_step_and_pass(browser, exported, mazur_trace):
    steps = mazur_trace.iterations[0].steps
    first_of = {}
    for s in steps:
        first_of.setdefault(s.phase, s.id)
    page = open_page(browser, exported)
    page.keyboard.press("]")
    assert current_id(page) == first_of["loss"]
    page.keyboard.press("]")
    assert current_id(page) == first_of["backward"]
    page.keyboard.press("n")
    page.keyboard.press("b")
    assert current_id(page) == first_of["backward"]
    page.keyboard.press("[")
    assert current_id(page) == first_of["loss"]
    page.keyboard.press("End")
    assert current_id(page) == steps[-1].id
    page.keyboard.press("Home")
    assert current_id(page) == steps[0].id
    assert page.locator(".step:visible").count() == 1  # stepping shows one step
    page.check("#all")
    assert page.locator(".step:visible").count() == len(steps)
    page.close()


def test_loss_chart_with_axis_labels_and_values_on_hover(browser, exported, mazur_trace):
    page = open_page(browser, exported)
    labels = page.eval_on_selector_all("#loss text", "ts => ts.map(t => t.textContent)")
    assert "update" in labels and "loss on the data" in labels
    tips = page.eval_on_selector_all("#loss circle title", "ts => ts.map(t => t.textContent)")
    assert f"before update 1: E = {number(mazur_trace.loss_history[0])}" in tips
    assert f"after update 5: E = {number(mazur_trace.loss_history[5])}" in tips
    page.close()


def wide_scenario(tmp: Path) -> Path:
    """A practice problem whose net_o1 sums 6 products of 9-decimal numbers: too long for a line."""
    path = tmp / "wide.yaml"
    r = run_cli("new", str(path), "--shape", "6-6-1", "--seed", "3")
    assert r.returncode == 0, r.stderr
    return path


@pytest.mark.parametrize("which", ["mazur", "wide"])
def test_nothing_is_wider_than_an_a4_page(browser, tmp_path, which):
    name = str(wide_scenario(tmp_path)) if which == "wide" else "mazur"
    out = tmp_path / "page.html"
    assert run_cli("export", name, "-f", "html", "-o", str(out)).returncode == 0
    page = open_page(browser, out, viewport={"width": A4_CSS_PX - 2 * MARGIN_PX, "height": 1100})
    page.emulate_media(media="print")
    too_wide = page.evaluate("""() => {
        const w = document.documentElement.clientWidth;
        return [...document.querySelectorAll('body *')].filter(e => {
            const r = e.getBoundingClientRect();
            return r.width > 0 && r.right > w + 1;
        }).map(e => e.tagName + ' ' + (e.className.baseVal ?? e.className));
    }""")
    assert too_wide == []
    if which == "wide":  # the long sum really did break over several lines
        tops = page.eval_on_selector_all(
            '.step[data-id="net:o1"] .side', "ss => ss.map(s => new Set([...s.children].map("
            "c => Math.round(c.getBoundingClientRect().top))).size)")
        assert max(tops) > 1
    page.close()


def pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    return "\n".join(p.extract_text() for p in PdfReader(path).pages)


def test_pdf_holds_every_result_of_the_mazur_walkthrough(tmp_path):
    out = tmp_path / "mazur.pdf"
    r = run_cli("export", "mazur", "--format", "pdf", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_bytes().startswith(b"%PDF")
    # MathML writes a negative number with the minus sign U+2212, as print does
    text = re.sub(r"\s+", "", pdf_text(out)).replace("\u2212", "-")
    trace = run(load(resolve("mazur")[0]))
    missing = [s.id for s in trace.iterations[0].steps if number(s.value) not in text]
    assert missing == []


def test_pdf_without_a_browser_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "x.pdf"
    empty = tmp_path / "bin"
    empty.mkdir()
    r = run_cli("export", "mazur", "--format", "pdf", "-o", str(out),
                env={"PATH": str(empty), "BPWALK_BROWSER": ""})
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "apt-get install chromium" in r.stderr
    assert "--format html" in r.stderr
    assert not out.exists()


def test_worksheet_html_and_its_key(browser, tmp_path, mazur_trace):
    sheet, key = tmp_path / "sheet.html", tmp_path / "key.html"
    practice = wide_scenario(tmp_path)
    r = run_cli("worksheet", str(practice), "--format", "html", "-o", str(sheet),
                "--key", str(key))
    assert r.returncode == 0, r.stderr
    page = open_page(browser, sheet)
    shown = page.inner_text("body")
    assert shown.startswith("Worksheet: Practice problem")
    assert "seed" not in page.inner_text("h1") and "seed" not in page.title()
    assert "Name:" in shown
    assert not re.search(r"\b(net|out|grad|dnet|new):", shown)  # no ids column
    trace = run(load(practice))
    results = {number(s.value) for s in trace.iterations[0].steps}
    given = set(re.findall(r"-?\d+\.\d+", shown))
    assert not (results - {number(v) for v in trace.params_first.values()}) & given
    assert page.locator(".work").count() == len(trace.iterations[0].steps)
    assert page.locator("#net").count() == 1  # the drawing
    page.close()
    # the key is a handout like the sheet: no stepping controls, no script, every step shown
    assert "<script></script>" in key.read_text(encoding="utf-8")
    page = open_page(browser, key)
    assert page.title().startswith("Answer key: Practice problem") and "seed" not in page.title()
    assert page.locator("#controls").count() == 0 and page.locator(".work").count() == 0
    key_text = re.sub(r"\s+", "", page.inner_text("#steps")).replace("\u2212", "-")
    assert [s.id for s in trace.iterations[0].steps if number(s.value) not in key_text] == []
    assert page.locator(".step:visible").count() == len(trace.iterations[0].steps)
    page.close()


def test_worksheet_pdf(tmp_path):
    out, key = tmp_path / "sheet.pdf", tmp_path / "key.pdf"
    r = run_cli("worksheet", "mazur", "--format", "pdf", "-o", str(out), "--key", str(key))
    assert r.returncode == 0, r.stderr
    assert "Name:" in pdf_text(out)
    assert MAZUR_OUT_O1 in re.sub(r"\s+", "", pdf_text(key))


def test_screenshot_is_not_blank(browser, exported, tmp_path):
    """The page as seen: the picture and the math are painted (not an empty white page)."""
    page = open_page(browser, exported, viewport={"width": 1200, "height": 900})
    shot = page.locator("#picture").screenshot()
    assert len(shot) > 5000
    page.close()


@pytest.mark.skipif(os.environ.get("BPWALK_KEEP_SHOTS") is None,
                    reason="set BPWALK_KEEP_SHOTS=DIR to save screenshots for a look")
def test_save_screenshots_for_a_look(browser, exported):
    folder = Path(os.environ["BPWALK_KEEP_SHOTS"])
    page = open_page(browser, exported, viewport={"width": 1200, "height": 900})
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    page.screenshot(path=str(folder / "page.png"), full_page=True)
    page.close()
