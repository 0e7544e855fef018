"""The page typeset as a reader's textbook would print it (issue 26, part 2): the math
font shipped inside the page, words and symbols spaced, no page wider than its window, the
tables whole, the headers unbroken, and no print smaller than 6 pt. Seen in headless
Chromium (the system's, through playwright) and in the PDF read back with pypdf.
"""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bpwalk.engine import run
from bpwalk.formulas import render
from bpwalk.notation import PROFILES, forward_rule
from bpwalk.scenario import load, resolve
from bpwalk.views import html
from tests.conftest import ROOT, run_cli
from tests.test_html import open_page

FONTS = ROOT / "bpwalk" / "views" / "fonts"
BUNDLED = sorted(p.stem for p in Path(resolve("mazur")[0]).parent.glob("*.yaml"))


def page_of(name: str, notation: str | None = None, **kw) -> str:
    return html.render(run(load(resolve(name)[0])), notation=notation, **kw)


class _MathText(HTMLParser):
    """The characters written inside <math> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.depth, self.chars = 0, set()

    def handle_starttag(self, tag, attrs):
        self.depth += tag == "math"

    def handle_endtag(self, tag):
        self.depth -= tag == "math"

    def handle_data(self, data):
        if self.depth:
            self.chars.update(data)


def test_the_math_font_is_inlined_with_its_license_and_covers_every_character():
    from fontTools.ttLib import TTFont

    page = page_of("mazur_adam")
    assert '@font-face{font-family:"Bpwalk Math"' in page and "data:font/woff;base64," in page
    assert 'math{font-family:"Bpwalk Math"' in page
    assert not re.search(r"url\((?!data:)", page)  # nothing fetched
    licence = (FONTS / "OFL.txt").read_text(encoding="utf-8")
    assert "SIL OPEN FONT LICENSE Version 1.1" in licence and "STIX" in licence
    font = TTFont(FONTS / "math.woff")
    assert "MATH" in font  # the math table: script sizes, fraction rules, stretchy glyphs
    assert font["name"].getDebugName(1) == "Bpwalk Math"  # a modified version, renamed
    cmap = font.getBestCmap()
    seen = set()
    for name in BUNDLED:
        for notation in PROFILES:
            parser = _MathText()
            parser.feed(page_of(name, notation))
            seen |= parser.chars
    # (an invisible operator, U+2062 invisible times, is drawn as nothing: no glyph needed)
    missing = sorted(c for c in seen if ord(c) not in cmap and not c.isspace()
                     and unicodedata.category(c) != "Cf")
    assert missing == []


def test_the_package_ships_the_font_and_its_license():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"bpwalk.views" = ["fonts/math.woff", "fonts/OFL.txt"]' in pyproject


def test_words_and_formulas_are_spaced():
    page = page_of("mazur_adam")
    # ", then " between formulas: the space a MathML token would drop is kept ("thenout")
    assert "<mtext>, then\u00a0</mtext>" in render(forward_rule("sigmoid", True), "mathml")
    assert "<mtext>, then</mtext>" not in page
    assert re.search(r"</math>, then <math>", page)  # a caption's formulas: text between
    assert re.search(r"β₁ = 0\.9, β₂|<mn>0\.9</mn></math>, <math>", page)
    # β₁ᵗ: the power set beside the subscript
    assert "<msubsup><mi>β</mi><mn>1</mn><mi>t</mi></msubsup>" in page
    # the tables write a true minus (Summary's change column included)
    summary = page[page.index('<section id="summary">'):]
    assert "<td class=\"n\">-" not in summary and "<td class=\"n\">−" in summary


def _wider(page, width: int) -> list[str]:
    page.set_viewport_size({"width": width, "height": 900})
    return page.evaluate("""() => {
        const w = document.documentElement.clientWidth;
        if (document.documentElement.scrollWidth <= w) return [];
        return [...document.querySelectorAll('body *')].filter(e => {
            const r = e.getBoundingClientRect();
            return r.width > 0 && r.right > w + 1;
        }).slice(0, 5).map(e => e.tagName + ' ' + (e.className.baseVal ?? e.className));
    }""")


# Dense examples whose pages are laid out as another's (mazur's, xor's, mazur_adam's): their
# widths are checked with the slow tests only.
LIKE_ANOTHER = {"cs231n_neuron", "cs231n_sigmoid", "mazur_momentum", "mazur_rmsprop",
                "micrograd_tanh", "regression", "relu", "tanh", "xor_sgd"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in LIKE_ANOTHER
                                  else n for n in BUNDLED])
def test_no_page_is_wider_than_its_window(browser, tmp_path, name):
    from bpwalk.cli import SEQUENCE_NOTATIONS

    sequence = getattr(load(resolve(name)[0]), "sequence", False)
    # (a sequence's page in another notation is refused: bpwalk.cli.notation_of)
    for notation in SEQUENCE_NOTATIONS if sequence else PROFILES:
        out = tmp_path / f"{notation}.html"
        out.write_text(page_of(name, notation), encoding="utf-8")
        page = open_page(browser, out)
        page.click("#all")  # every step shown
        for width in (700, 1280):
            if (name, notation, width) in KNOWN_WIDER:  # still wider: the day it fits,
                assert _wider(page, width) != [], "it fits now: take it out of KNOWN_WIDER"
                continue
            assert _wider(page, width) == [], (notation, width)
        page.close()


# A known defect, kept in sight: under cs231n the batchnorm page's batch mean of dγ
# ((dbn1.gamma[1][#1] + ... + dbn1.gamma[1][#4]) / 4) is one fraction, which does not wrap,
# wider than the page's step column, at 700 px and at 1280 px.
KNOWN_WIDER = {("batchnorm", "cs231n", 700), ("batchnorm", "cs231n", 1280)}


def test_the_parameter_table_is_shown_whole_and_the_headers_unbroken(browser, tmp_path):
    out = tmp_path / "mazur.html"
    out.write_text(page_of("mazur"), encoding="utf-8")
    page = open_page(browser, out)
    for width in (700, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        cut = page.evaluate("""() => [...document.querySelectorAll('header table')].filter(
            t => { const p = t.parentElement; return p.scrollHeight > p.clientHeight + 1
                   || p.scrollWidth > p.clientWidth + 1; }).length""")
        assert cut == 0
        # each header label on as many lines as it has words: no word broken
        broken = page.evaluate("""() => [...document.querySelectorAll('th')].filter(th => {
            const r = document.createRange(); r.selectNodeContents(th);
            const lines = new Set([...r.getClientRects()].map(b => Math.round(b.top))).size;
            return lines > th.textContent.trim().split(/\\s+/).length;
        }).map(th => th.textContent)""")
        assert broken == [], width
    page.close()


def test_the_current_step_stays_in_view_at_700_px(browser, tmp_path):
    out = tmp_path / "mazur.html"
    out.write_text(page_of("mazur"), encoding="utf-8")
    page = open_page(browser, out, viewport={"width": 700, "height": 800})
    for _ in range(3):
        page.keyboard.press("ArrowRight")
        box = page.eval_on_selector(".step.current", """e => {
            const r = e.getBoundingClientRect(); return [r.top, r.bottom]; }""")
        assert 0 <= box[0] and box[1] <= 800 + 1, box  # (+1: a fraction of a pixel)
    page.close()


def _pdf_sizes(path: Path) -> list[tuple[str, float]]:
    from pypdf import PdfReader

    found: list[tuple[str, float]] = []

    def visit(text, cm, tm, font, size):
        if text.strip():
            scale = (tm[2] ** 2 + tm[3] ** 2) ** 0.5 * (cm[2] ** 2 + cm[3] ** 2) ** 0.5
            found.append((text, size * scale))
    for p in PdfReader(path).pages:
        p.extract_text(visitor_text=visit)
    return found


@pytest.mark.parametrize("name", ["mazur", "mazur_adam"])
def test_no_print_in_the_pdf_is_smaller_than_6_pt(tmp_path, name):
    out = tmp_path / f"{name}.pdf"
    assert run_cli("export", name, "-f", "pdf", "-o", str(out)).returncode == 0
    sizes = _pdf_sizes(out)
    assert sizes and min(s for _, s in sizes) >= 6.0, sorted(sizes, key=lambda t: t[1])[:5]
