"""`bpwalk worksheet`: the export's layout with blanks for the results, and the answers
template for `bpwalk check`."""

from __future__ import annotations

import re

import pytest
import yaml

from bpwalk.engine import run
from bpwalk.notation import formula, number
from bpwalk.scenario import load, loads
from bpwalk.views import answers, markdown
from tests import latex_check
from tests.scenarios_md import ALL
from tests.test_markdown import MAZUR, bpwalk, rows


@pytest.fixture(scope="module")
def mazur_trace():
    return run(load(MAZUR))


@pytest.fixture(scope="module")
def sheet(mazur_trace):
    return markdown.render(mazur_trace, blanks=True)


def test_results_are_blank(mazur_trace, sheet):
    sc = mazur_trace.scenario
    given = {number(v) for v in [*sc.x.ravel(), *sc.targets.ravel(), sc.learning_rate]}
    given |= {number(v) for v in mazur_trace.params_first.values()}
    tokens = set(re.findall(r"-?\d+(?:\.\d+)?", sheet))
    for s in mazur_trace.iterations[0].steps:
        if number(s.value) not in given:
            assert number(s.value) not in tokens, s.id
    table = rows(sheet)
    for s in mazur_trace.iterations[0].steps:
        assert table[s.id][-1] == "", s.id


def test_given_numbers_and_symbolic_formulas_are_shown(mazur_trace, sheet):
    table = rows(sheet)
    assert table["param:w5"][-1] == "0.4" and table["in:i1"][-1] == "0.05"
    assert table["target:o1"][-1] == "0.01" and "$\\eta = 0.5$" in sheet
    for s in mazur_trace.iterations[0].steps:
        f = formula(s, "latex")
        assert f"$${f.lhs} = {f.symbolic} = {markdown.BLANK_MATH}$$" in sheet, s.id


def test_same_layout_as_the_export(mazur_trace, sheet):
    """The worksheet is the export with blanks: the same headings in the same order."""
    def headings(md: str) -> list[str]:
        return [h for h in md.splitlines() if h.startswith("#")]

    solution = markdown.render(mazur_trace)
    assert headings(sheet)[1:] == headings(solution)[1:]
    assert headings(sheet)[0] == "# Worksheet: A Step by Step Backpropagation Example"


def test_worksheet_math_parses():
    docs = {"mazur": markdown.render(run(load(MAZUR)), blanks=True)}
    for name, text in ALL.items():
        docs[name] = markdown.render(run(loads(text, name)), blanks=True)
    assert latex_check.check_documents(docs) == []


def test_answers_template_lists_every_id_in_order(mazur_trace):
    text = answers.render(mazur_trace)
    data = yaml.safe_load(text)
    ids = [s.id for s in mazur_trace.iterations[0].steps]
    assert list(data) == ids
    assert all(v is None for v in data.values())
    assert "grad:w5: # dE/dw5" in text
    assert "bpwalk check" in text


@pytest.mark.parametrize("name", sorted(ALL))
def test_answers_template_is_valid_yaml_for_every_scenario(name):
    trace = run(loads(ALL[name], name))
    data = yaml.safe_load(answers.render(trace))
    assert list(data) == [s.id for s in trace.iterations[0].steps]


def test_cli_writes_both_files(tmp_path):
    sheet_file, template = tmp_path / "sheet.md", tmp_path / "answers.yaml"
    r = bpwalk("worksheet", "mazur", "-o", str(sheet_file), "--answers-template", str(template))
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    trace = run(load(MAZUR))
    assert sheet_file.read_text() == markdown.render(trace, blanks=True)
    assert template.read_text() == answers.render(trace).replace(str(MAZUR), "mazur")
    assert "\x1b" not in sheet_file.read_text()


def test_cli_to_stdout_is_deterministic():
    a, b = bpwalk("worksheet", "mazur"), bpwalk("worksheet", "mazur")
    assert a.returncode == 0 and a.stdout == b.stdout
    assert a.stdout.startswith("# Worksheet: ")


def test_cli_refuses_one_file_for_both(tmp_path):
    same = tmp_path / "x.md"
    r = bpwalk("worksheet", "mazur", "-o", str(same), "--answers-template", str(same))
    assert r.returncode == 2 and "both" in r.stderr
    assert not same.exists()


def test_cli_template_in_a_missing_folder(tmp_path):
    r = bpwalk("worksheet", "mazur", "--answers-template", str(tmp_path / "no" / "a.yaml"))
    assert r.returncode == 2
    assert "does not exist" in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_filled_template_is_marked_by_check(tmp_path):
    """The template's ids are check's ids: filled in at 4 decimals, every answer is right."""
    template = tmp_path / "answers.yaml"
    assert bpwalk("worksheet", "mazur", "--answers-template", str(template)).returncode == 0
    blank = bpwalk("check", "mazur", str(template))  # nothing answered is not "0 of 0 right"
    assert blank.returncode == 2 and "no answer is filled in (39 blank ids)" in blank.stderr
    values = run(load(MAZUR)).iterations[0].values  # the engine's numbers
    filled = []
    for line in template.read_text().splitlines():
        m = re.match(r"^(\S+):(\s+#.*)$", line)
        filled.append(f"{m.group(1)}: {values[m.group(1)]:.4f}{m.group(2)}" if m else line)
    template.write_text("\n".join(filled) + "\n")
    r = bpwalk("check", "mazur", str(template))
    assert r.returncode == 0, r.stdout
    assert f"{len(values)} of {len(values)} right" in r.stdout
