"""The page's other forms (issue 26, part 2): the PDF's paper and its tables kept whole, the
matrix form on the page with a toggle, the notebook's compact view and a one-line repr.

Expected numbers are read from the engine's trace; page sizes are ISO 216's A4 (595 × 842
pt) and US Letter (612 × 792 pt).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import bpwalk
from bpwalk.engine import run
from bpwalk.formulas import quantity, render
from bpwalk.matrix import matrix_forms
from bpwalk.scenario import load, resolve
from tests.conftest import run_cli
from tests.test_html import open_page

A4_PT, LETTER_PT = (595, 842), (612, 792)


def _pdf(tmp_path: Path, *args: str):
    from pypdf import PdfReader

    out = tmp_path / "x.pdf"
    r = run_cli("export", "mazur", "-f", "pdf", "-o", str(out), *args)
    assert r.returncode == 0, r.stderr
    return PdfReader(out)


@pytest.mark.parametrize(("args", "size"), [((), A4_PT), (("--paper", "letter"), LETTER_PT),
                                            (("--paper", "a4"), A4_PT)])
def test_the_pdf_paper_is_a4_unless_letter_is_asked_for(tmp_path, args, size):
    box = _pdf(tmp_path, *args).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == size


def test_a_wrong_paper_is_one_line_and_exit_2(tmp_path):
    r = run_cli("export", "mazur", "-f", "pdf", "-o", str(tmp_path / "x.pdf"), "--paper", "a5")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "a4 or letter" in r.stderr
    r = run_cli("export", "mazur", "-f", "md", "--paper", "letter")
    assert r.returncode == 2 and "--format pdf" in r.stderr


def test_no_table_of_the_pdf_is_split_leaving_a_few_rows(tmp_path):
    """Mazur's Summary (10 rows) and Parameters table (10 rows) each sit on one page."""
    pages = [p.extract_text() for p in _pdf(tmp_path).pages]
    for header, last in (("After 1 update", "0.6"), ("From → to", "bias → o1, o2")):
        where = [k for k, t in enumerate(pages) if header in t]
        assert len(where) == 1
        rows = pages[where[0]].split(header, 1)[1]
        assert "b₂" in rows and last in rows, pages[where[0]]


def test_the_page_holds_the_matrix_form_and_a_toggle(browser, tmp_path):
    out = tmp_path / "m.html"
    r = run_cli("export", "mazur", "--form", "matrix", "-f", "html", "-o", str(out))
    assert r.returncode == 0, r.stderr
    page = open_page(browser, out)
    assert page.is_visible("#matrix") and not page.is_visible("#walk")
    form = matrix_forms(run(load(resolve("mazur")[0])))[0]
    eq = next(e for e in form.equations if e.result.key == "Z2")
    cells = page.eval_on_selector_all(
        '.meq[data-key="Z2"] mtd', "ts => ts.map(t => [t.dataset.id, t.textContent])")
    first = [(i, render(quantity(v), "unicode")) for _, _, i, v in eq.result.entries()]
    assert [tuple(c) for c in cells[:len(first)]] == first  # the result's entries, by id
    shapes = page.eval_on_selector_all('.meq[data-key="Z2"] .shape',
                                       "ss => ss.map(s => s.textContent)")
    assert shapes[:3] == ["2×1", "2×2", "2×1"]  # Z² = W²·A¹ + b²: under each operand
    page.keyboard.press("m")  # the toggle: back to the steps
    assert page.is_visible("#walk") and not page.is_visible("#matrix")
    page.click("#form")
    assert page.is_visible("#matrix")
    assert page.errors == []
    page.close()


def test_repr_is_one_line():
    walk = bpwalk.load("mazur").run()
    text = repr(walk)
    assert "\n" not in text and len(text) < 120 and "mazur" in text
    assert "\n" not in repr(bpwalk.load("mazur")) and len(repr(bpwalk.load("mazur"))) < 80


def test_the_notebook_view_shows_the_picture_beside_the_current_step(browser, tmp_path):
    walk = bpwalk.load("mazur").run()
    out = tmp_path / "nb.html"
    out.write_text(f"<!DOCTYPE html><body style='margin:0'>{walk._repr_html_()}</body>",
                   encoding="utf-8")
    page = open_page(browser, out, viewport={"width": 800, "height": 700})
    frame = page.frames[1]
    frame.wait_for_selector(".step.current")
    pic = frame.eval_on_selector("#picture svg", "e => e.getBoundingClientRect().toJSON()")
    step = frame.eval_on_selector(".step.current", "e => e.getBoundingClientRect().toJSON()")
    assert pic["right"] <= step["left"]  # side by side
    assert step["bottom"] <= 640 and pic["bottom"] <= 640  # inside the 640 px frame
    page.click("iframe")
    page.keyboard.press("ArrowRight")
    assert frame.eval_on_selector(".step.current", "e => e.dataset.id") == \
        walk.trace.iterations[0].steps[1].id
    page.close()
