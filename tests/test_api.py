"""The Python API and a notebook: what a person types in Python or Jupyter.

The one typed number is Mazur's published out_o1 = 0.75136507 (A Step by Step
Backpropagation Example, 2015).
"""

from __future__ import annotations

import html
import json
import subprocess
import sys

import pytest

import bpwalk
from bpwalk.engine import run
from bpwalk.scenario import ScenarioError, load, resolve
from bpwalk.views import markdown
from tests.conftest import ROOT

MAZUR_OUT_O1 = "0.75136507"


def test_load_run_and_the_three_documents(mazur_path):
    walk = bpwalk.load("mazur").run()
    assert walk.to_markdown() == markdown.render(run(load(resolve("mazur")[0])))
    assert bpwalk.load(mazur_path).run().to_json() == walk.to_json()  # a path works too
    doc = json.loads(walk.to_json())
    assert doc["iterations"][0]["values"]["out:o1"] == walk.trace.iterations[0].values["out:o1"]
    page = walk.to_html()
    assert page.startswith("<!DOCTYPE html>") and MAZUR_OUT_O1 in page


def test_run_options():
    walk = bpwalk.load("mazur").run(iterations=3, show="all", round_to=4)
    assert [it.number for it in walk.trace.iterations] == [1, 2, 3]
    assert walk.trace.round_to == 4
    assert [it.number for it in bpwalk.load("mazur").run(3, show=[2]).trace.iterations] == [2]
    with pytest.raises(ValueError, match="--show '4': there are 3 updates; choose numbers "
                                         "from 1 to 3"):  # the command line's message (#28)
        bpwalk.load("mazur").run(3, show=[4])
    with pytest.raises(ValueError, match="use first, last, all, none"):
        bpwalk.load("mazur").run(show="sometimes")


def test_bad_input_raises_the_scenario_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    with pytest.raises(ScenarioError):
        bpwalk.load(bad)


def test_repr_html_is_the_page_in_a_frame():
    shown = bpwalk.load("mazur").run()._repr_html_()
    assert shown.startswith("<iframe srcdoc=")
    page = html.unescape(shown.split('srcdoc="', 1)[1].split('" title=', 1)[0])
    # the page in its compact form (issue 26): the same page but for the body's class
    assert page == bpwalk.load("mazur").run().to_html().replace(
        '<body class="stepping">', '<body class="stepping compact">')


def test_import_bpwalk_stays_light():
    """`import bpwalk` (and so `bpwalk --help`) loads no engine until load() is used."""
    code = ("import sys, bpwalk; print('bpwalk.engine' in sys.modules, 'numpy' in sys.modules);"
            "bpwalk.load; print('bpwalk.api' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.split()
    assert out == ["False", "False", "True"]


def test_a_notebook_shows_the_page(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import bpwalk\nbpwalk.load('mazur').run()")]
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[0].outputs
    shown = outputs[0]["data"]["text/html"]
    assert "<iframe srcdoc=" in shown
    assert MAZUR_OUT_O1 in html.unescape(shown)
    assert "A Step by Step Backpropagation Example" in html.unescape(shown)
