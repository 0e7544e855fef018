"""`bpwalk check SCENARIO FILES... --format html`: the class report page, seen in headless
Chromium (playwright driving the system's Chromium, never a downloaded browser).

The class is made of answers the engine computes, some with a classic mistake injected; the
page's counts are compared with the judge's own verdicts (the JSON output of the same files).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bpwalk.engine import run
from bpwalk.judge import at_decimals, describe
from bpwalk.mistakes import Mistake
from bpwalk.scenario import load, resolve
from tests.conftest import run_cli
from tests.test_html import open_page

playwright_api = pytest.importorskip("playwright.sync_api")

# who made which mistake (None: all right); dnet:o1's is the most common
CLASS = {"amy": None, "ben": Mistake("sign", "grad:w6"), "cho": Mistake("dact_left_out", "dnet:o1"),
         "dev": Mistake("dact_left_out", "dnet:o1"), "eli": Mistake("lr_left_out", "new:w5")}
# (a file name holds no slash, so the script tag is left open: the browser runs it all the same)
HOSTILE = ("<script>alert(1)<script>.yaml", "<img src=x onerror=alert(2)>.yaml",
           "=cmd|' -C calc'!A0.yaml")


def values(sc, mistakes=()) -> dict[str, float]:
    trace = run(sc, iterations=1, show={1}, mistakes=tuple(mistakes))
    return {s.id: s.value for s in trace.iterations[0].steps}


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """The class's files (in the order given) and the report page written from them."""
    folder = tmp_path_factory.mktemp("class")
    sc = load(resolve("mazur")[0])
    names = []
    for name, mistake in CLASS.items():
        got = values(sc, [mistake] if mistake else [])
        (folder / f"{name}.yaml").write_text(
            "".join(f"{k}: {at_decimals(v, 5)}\n" for k, v in got.items()), encoding="utf-8")
        names.append(f"{name}.yaml")
    right = values(sc)
    (folder / "ivy.yaml").write_text(  # the forward pass only
        "".join(f"{k}: {at_decimals(v, 4)}\n" for k, v in list(right.items())[:8]),
        encoding="utf-8")
    (folder / "cat.yaml").write_text("net:h1:\n", encoding="utf-8")  # nothing filled in
    (folder / "bad.yaml").write_text("net:h1: [1\n", encoding="utf-8")  # not YAML
    for hostile in HOSTILE:
        (folder / hostile).write_text(f"net:h1: {at_decimals(right['net:h1'], 4)}\n",
                                      encoding="utf-8")
    names += ["ivy.yaml", "cat.yaml", "bad.yaml", *HOSTILE]
    page = folder / "report.html"
    made = run_cli("check", "mazur", *names, "--format", "html", "-o", str(page), cwd=folder)
    assert made.returncode == 2, made.stderr  # a blank and an unreadable file: exit 2
    assert made.stdout == ""
    verdicts = run_cli("check", "mazur", *names, "--format", "json", cwd=folder)
    return names, page, json.loads(verdicts.stdout)["files"], list(right)


@pytest.fixture
def page(browser, klass):
    _, path, _, _ = klass
    pg = open_page(browser, path)
    yield pg
    pg.close()


def test_self_contained_and_hostile_names_stay_text(klass, page):
    names, path, _, _ = klass
    text = path.read_text(encoding="utf-8")
    assert "<script" not in text and "<img" not in text  # no script at all; names escaped
    assert not re.search(r"<link|@import|url\(", text)
    assert page.errors == [] and page.requests == [path.as_uri()]
    shown = page.eval_on_selector_all("#students tbody a", "as => as.map(a => a.textContent)")
    assert shown == names  # every file given has its row, in the order given
    assert page.evaluate("document.title").startswith("Class report")


def test_per_step_counts_are_the_judges(klass, page):
    _, _, files, steps = klass
    rows = page.eval_on_selector_all(
        "#per-step tbody tr",
        "rs => rs.map(r => [r.querySelector('code').textContent,"
        " ...[...r.querySelectorAll('td.n')].map(td => td.textContent)])")
    assert [r[0] for r in rows] == steps
    readable = [f for f in files if "results" in f or f.get("answered") == 0]  # not bad.yaml
    for sid, share, right, wrong, blank in rows:
        marks = [r["correct"] for f in readable for r in f.get("results", []) if r["id"] == sid]
        assert (int(right), int(wrong)) == (sum(marks), len(marks) - sum(marks))
        assert int(blank) == len(readable) - len(marks)
        assert share == f"{100 * sum(marks) / len(readable):.0f}%"
    # the bars' green share is the right share
    width = page.eval_on_selector("#per-step tbody tr .track", "t => t.offsetWidth")
    green = page.eval_on_selector("#per-step tbody tr td.bar .right", "s => s.offsetWidth")
    first = rows[0]
    assert abs(green / width - int(first[2]) / len(readable)) < 0.02


def test_mistakes_are_named_with_counts_most_common_first(klass, page):
    sc = load(resolve("mazur")[0])
    rows = page.eval_on_selector_all(
        "#mistakes tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.textContent))")
    counts = [int(n) for _, _, n in rows]
    assert counts == sorted(counts, reverse=True)
    made = {(describe(m.kind, sc), m.target) for m in CLASS.values() if m}
    assert {(what, where) for what, where, _ in rows} == made
    assert rows[0][:3] == [describe("dact_left_out", sc), "dnet:o1", "2"]


def test_a_students_row_links_to_their_marked_walkthrough(klass, page):
    names, _, _, _ = klass
    page.click("#students a >> text=ben.yaml")
    assert page.evaluate("location.hash") == "#student-2"
    section = page.locator("#student-2")
    assert section.is_visible() and "ben.yaml" in section.locator("h2").inner_text()
    first = section.locator("tr.first")
    assert first.locator("code").inner_text() == "grad:w6"
    assert describe("sign", load(resolve("mazur")[0])) in first.inner_text()
    # the blank and the unreadable file say so in their own sections
    assert "nothing filled in" in page.locator(f"#student-{names.index('cat.yaml') + 1}"
                                                ).inner_text()
    assert "YAML syntax error" in page.locator(f"#student-{names.index('bad.yaml') + 1}"
                                               ).inner_text()
    partial = page.locator(f"#student-{names.index('ivy.yaml') + 1}").inner_text()
    assert f"8 of {len(klass[3])} answered" in partial


def test_screenshot_is_not_blank(page, tmp_path):
    shot = tmp_path / "report.png"
    page.set_viewport_size({"width": 1000, "height": 900})
    page.screenshot(path=str(shot))
    data = Path(shot).read_bytes()
    assert len(data) > 20_000  # a blank white page is a few kB
