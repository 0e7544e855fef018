"""The Markdown export: Mazur's numbers in tables and LaTeX, math that KaTeX parses, --round
with its drift column, determinism, and the -o file handling of `bpwalk export`."""

from __future__ import annotations

import errno
import functools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bpwalk import files
from bpwalk.engine import run
from bpwalk.notation import formula, number, symbol
from bpwalk.scenario import bundled_names, load, loads, resolve
from bpwalk.views import markdown
from tests import latex_check
from tests.scenarios_md import ALL

ROOT = Path(__file__).resolve().parent.parent
MAZUR = ROOT / "scenarios" / "mazur.yaml"


def bpwalk(*args: str, cwd: Path | None = None, env: dict | None = None
           ) -> subprocess.CompletedProcess:
    """The real program, as a user runs it."""
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "80", **(env or {})}
    return subprocess.run([sys.executable, "-m", "bpwalk", *args], capture_output=True,
                          text=True, env=full_env, cwd=cwd or ROOT, timeout=120, check=False)


@functools.cache
def mazur_md(*args: str) -> str:
    r = bpwalk("export", str(MAZUR), "--format", "md", *args)
    assert r.returncode == 0, r.stderr
    return r.stdout


def rows(md: str) -> dict[str, list[str]]:
    """Table rows keyed by their first cell's id (`net:h1` -> the other cells)."""
    out = {}
    for line in md.splitlines():
        m = re.match(r"^\| `([^`]+)` \| (.*) \|$", line)
        if m:
            out.setdefault(m.group(1), [c.strip() for c in m.group(2).split(" | ")])
    return out


# ----------------------------------------------------------------------------- Mazur's numbers

# Values printed in Matt Mazur's "A Step by Step Backpropagation Example" (2015).
MAZUR_POST = {
    "out:h1": "0.593269992",
    "loss": "0.298371109",
    "grad:w5": "0.082167041",
    "new:w5": "0.35891648",
    "out:o1": "0.75136507",
    "new:w1": "0.149780716",
}


def test_mazur_numbers_in_tables():
    table = rows(mazur_md())
    for step_id, value in MAZUR_POST.items():
        assert table[step_id][-1] == value, step_id


def test_mazur_numbers_in_latex():
    md = mazur_md()
    # The post's chain rule for w5: 0.74136507 * 0.186815602 * 0.593269992 = 0.082167041
    # E as in the terminal (one symbol for the loss everywhere), net and out upright (issue 13)
    assert ("$$\\frac{\\partial E}{\\partial w_{5}} = \\frac{\\partial E}"
            "{\\partial \\mathrm{out}_{o1}} \\cdot \\frac{\\partial \\mathrm{out}_{o1}}"
            "{\\partial \\mathrm{net}_{o1}} \\cdot "
            "\\frac{\\partial \\mathrm{net}_{o1}}{\\partial w_{5}} = 0.74136507 \\cdot 0.186815602 \\cdot "
            "0.593269992 = 0.082167041$$") in md
    assert "= 0.274811083 + 0.023560026 = 0.298371109$$" in md  # the post's E_total
    assert "$$w_{5}^{+} = w_{5} - \\eta \\cdot \\frac{\\partial E}{\\partial w_{5}} = " \
           "0.4 - 0.5 \\cdot 0.082167041 = 0.35891648$$" in md


def test_every_step_has_a_formula_and_a_table_row_in_order():
    trace = run(load(MAZUR))
    md = markdown.render(trace)
    table = rows(md)
    positions = []
    for s in trace.iterations[0].steps:
        f = formula(s, "latex", 9)
        line = f"$${f.lhs} = {f.symbolic} = "
        assert line in md, s.id
        positions.append(md.index(line))
        assert table[s.id][-1] == number(s.value, 9)
    assert positions == sorted(positions)  # the walkthrough's order: forward .. update


def test_heading_network_and_summary():
    md = mazur_md()
    assert md.startswith("# A Step by Step Backpropagation Example\n")
    for text in ("mattmazur.com", "2-2-2", "sigmoid", "half_squared_error",
                 "$\\eta = 0.5$", "not updated", "weights from before the update"):
        assert text in md, text
    table = rows(md)
    assert table["param:w5"] == ["$w_{5}$", "`h1`", "`o1`", "0.4"]
    assert table["param:b1"] == ["$b_{1}$", "1 (bias)", "`h1`, `h2`", "0.35"]
    assert table["in:i2"][-1] == "0.1" and table["target:o2"][-1] == "0.99"
    assert "| Before the first update | 0.298371109 |" in md
    trace = run(load(MAZUR))
    assert f"| After 1 update | {number(trace.loss_history[-1], 9)} |" in md


def test_decimals_option():
    table = rows(mazur_md("--decimals", "4"))
    assert table["out:h1"][-1] == "0.5933"
    assert table["grad:w5"][-1] == "0.0822"


def test_loss_table_for_a_long_run():
    trace = run(load(MAZUR), iterations=1000, show={1})
    md = markdown.render(trace)
    assert "## Loss over the 1000 updates" in md
    for n in (1, 2, 5, 10, 100, 500, 1000):
        assert f"| before update {n}" in md
    assert f"| after update 1000 | {number(trace.loss_history[1000], 9)} |" in md
    assert "| before update 1 (worked out above) |" in md
    assert "before update 7 " not in md  # a long table keeps to round numbers


def test_short_run_lists_every_update():
    trace = run(load(MAZUR), iterations=3, show={1, 3})
    md = markdown.render(trace)
    assert "## Update 1" in md and "## Update 3" in md and "## Update 2" not in md
    for n in (1, 2, 3):
        assert f"| before update {n}" in md


# ----------------------------------------------------------------------------- LaTeX parses


@functools.cache
def exports() -> dict[str, str]:
    """Every export the LaTeX check covers, made once (the check runs them all together)."""
    docs = {"mazur": mazur_md(), "mazur --round 4": mazur_md("--round", "4")}
    for name, text in ALL.items():
        sc = loads(text, name)
        docs[name] = markdown.render(run(sc, show={1, 2, 3}))
    for name in bundled_names():  # every bundled example, explained in full for 2 updates
        docs[f"bundled {name}"] = markdown.render(run(load(resolve(name)[0]), iterations=2,
                                                      show={1, 2}))
    return docs


def test_every_math_expression_parses():
    for name, md in exports().items():
        display, inline = latex_check.extract(md)
        assert len(display) > 10 and len(inline) > 10, name
    readme = (ROOT / "README.md").read_text(encoding="utf-8")  # its examples must render too
    assert latex_check.check_documents({**exports(), "README.md": readme}) == []


def test_the_latex_check_can_fail():
    bad = ("$$\\frac{1}{2$$\n\n| $\\undefinedmacro{x}$ | $a}{b$ |\n\nprice $5\n"
           "```sh\n$ echo $HOME\n```\n")  # the fenced $ is not math
    problems = latex_check.check_document(bad)
    assert len(problems) == 4, problems
    assert any("undefinedmacro" in p and "Undefined control sequence" in p for p in problems)


def test_user_names_come_out_as_latex():
    md = exports()["named"]
    for piece in ("\\mathrm{w\\_a1}", "\\theta_{4}", "\\alpha", "\\beta_{2}", "c_{0}",
                  "\\mathrm{net}_{out\\_1}", "\\mathrm{x\\_1}"):
        assert piece in md, piece
    assert "# Names with underscores\\_and digits" in md  # title text escaped for Markdown


def test_batch_ids_and_headings():
    md = exports()["batch"]
    table = rows(md)
    for step_id in ("net:h1@1", "out:o2@3", "loss@2", "loss", "grad:w5@2", "grad:w5", "new:b3"):
        assert step_id in table, step_id
    assert "#### Sample 2: Layer 1 (hidden layer)" in md and "#### The batch" in md


# ----------------------------------------------------------------------------- plain and stable


def test_deterministic_across_processes():
    a = bpwalk("export", "mazur", "-f", "md", "-n", "50", "--show", "1,50",
               env={"PYTHONHASHSEED": "1"})
    b = bpwalk("export", "mazur", "-f", "md", "-n", "50", "--show", "1,50",
               env={"PYTHONHASHSEED": "2"})
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout


def test_no_escape_codes_even_when_colour_is_forced():
    r = bpwalk("export", "mazur", "-f", "md", "--round", "3",
               env={"NO_COLOR": "", "FORCE_COLOR": "1", "TERM": "xterm-256color"})
    assert r.returncode == 0
    assert "\x1b" not in r.stdout
    assert "[bold" not in r.stdout and "[/" not in r.stdout
    for name, md in exports().items():
        assert "\x1b" not in md, name


# ----------------------------------------------------------------------------- --round


def test_round_4_reports_at_most_4_decimals():
    md = mazur_md("--round", "4")
    assert "Rounded to 4 decimals" in md.split("## The network")[0]
    table = rows(md)
    # Mazur's published values rounded to 4 decimals
    assert table["out:h1"][1] == "0.5933"
    assert table["out:o1"][1] == "0.7514"
    assert table["loss"][1] == "0.2984"
    # the full-precision column holds the post's values, the drift their difference
    assert table["out:h1"][2] == "0.593269992"
    assert table["out:h1"][3] == "0.000030008"  # 0.5933 - 0.593269992
    assert table["loss"][2] == "0.298371109"

    def decimals(text: str) -> int:
        return len(text.split(".")[1]) if "." in text else 0

    reported = [cells[1] for key, cells in table.items()
                if not key.startswith("param:") and cells[1]]
    reported += [cells[-1] for key, cells in table.items() if key.startswith(("in:", "target:"))]
    reported += re.findall(r"^\| (?:Before|After)[^|]*\| ([-0-9.]+) \|$", md, re.MULTILINE)
    for line in md.splitlines():  # and every number inside the worked formulas
        if line.startswith("$$"):
            reported += re.findall(r"-?\d+\.\d+", line)
    assert len(reported) > 100
    assert all(decimals(v) <= 4 for v in reported), [v for v in reported if decimals(v) > 4]


def test_round_drift_comes_from_the_engine():
    trace = run(load(MAZUR), round_to=3)
    table = rows(markdown.render(trace))
    for s in trace.iterations[0].steps:
        assert s.drift is not None and s.exact is not None
        # the drift, a text cell, with a true minus (issue 26)
        drift = number(s.drift, 9, fixed=True).replace("-", "\u2212")
        assert table[s.id][1:] == [number(s.value, 9), number(s.exact, 9), drift]


def test_unrounded_export_has_no_drift_column():
    assert "Full precision" not in exports()["mazur"]
    assert "Drift" not in exports()["mazur"]


# ----------------------------------------------------------------------------- -o FILE


def test_output_file_matches_stdout(tmp_path):
    out = tmp_path / "mazur.md"
    r = bpwalk("export", "mazur", "-f", "md", "-o", str(out))
    assert r.returncode == 0 and r.stdout == ""
    assert out.read_text(encoding="utf-8") == mazur_md()
    json_out = tmp_path / "mazur.json"
    assert bpwalk("export", "mazur", "-f", "json", "-o", str(json_out)).returncode == 0
    assert json_out.read_text().startswith("{")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mazur.json", "mazur.md"]


def test_output_overwrites_an_existing_file(tmp_path):
    out = tmp_path / "mazur.md"
    out.write_text("old\n")
    assert bpwalk("export", "mazur", "-f", "md", "-o", str(out)).returncode == 0
    assert out.read_text().startswith("# A Step by Step")


@pytest.mark.parametrize("case", ["missing folder", "folder given", "parent is a file",
                                  "read-only file"])
def test_output_errors_exit_2_and_leave_files_alone(tmp_path, case):
    existing = tmp_path / "old.md"
    existing.write_text("old\n")
    target = {
        "missing folder": tmp_path / "nope" / "out.md",
        "folder given": tmp_path,
        "parent is a file": existing / "out.md",
        "read-only file": existing,
    }[case]
    if case == "read-only file":
        existing.chmod(0o444)
    r = bpwalk("export", "mazur", "-f", "md", "-o", str(target))
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith(str(target) + ": ")
    expected = {"missing folder": "does not exist", "folder given": "is a folder",
                "parent is a file": "not a folder", "read-only file": "read-only"}[case]
    assert expected in r.stderr
    assert existing.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.md"]


@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"),
                                     KeyboardInterrupt()])
def test_a_failed_write_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch, failure):
    out = tmp_path / "trace.md"
    out.write_text("old\n")

    def broken_fsync(fd):
        raise failure

    monkeypatch.setattr(files.os, "fsync", broken_fsync)
    with pytest.raises(files.OutputError if isinstance(failure, OSError) else KeyboardInterrupt):
        files.write_atomic(out, "new text\n")
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["trace.md"]


def test_cli_reports_a_failed_write(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from bpwalk.cli import app

    out = tmp_path / "trace.md"
    out.write_text("old\n")

    def broken_replace(src, dst):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    result = CliRunner().invoke(app, ["export", str(MAZUR), "-f", "md", "-o", str(out)])
    assert result.exit_code == 2
    assert "cannot be written (Input/output error)" in result.output
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["trace.md"]


def test_unknown_format():
    r = bpwalk("export", "mazur", "-f", "docx")
    assert r.returncode == 2 and "use md, json, html, pdf" in r.stderr


def test_bundled_name_and_path_give_the_same_document():
    path, _ = resolve("mazur")
    assert markdown.render(run(load(path))) == markdown.render(run(load(MAZUR)))


def test_tricky_names():
    md = exports()["tricky"]
    for piece in ("\\pi_{2}", "\\mathrm{Delta}", "\\mathrm{b\\_1\\_2}", "\\lambda_{3}",
                  "\\mathrm{theta\\_1}", "\\mathrm{net}_{a\\_b\\_c}"):
        assert piece in md, piece
    # a weight named eta must not read as the learning rate, in LaTeX nor in the terminal
    assert "$$\\mathrm{eta}^{+} = \\mathrm{eta} - \\eta \\cdot " in md
    assert symbol("param:eta", "unicode") == "eta" and symbol("lr", "unicode") == "η"


def test_user_text_is_literal_markdown():
    assert markdown.text("a *b* [c] <d> e|f $5 #g h_i") == \
        "a \\*b\\* \\[c\\] \\<d\\> e\\|f \\$5 \\#g h\\_i"
    # a web address becomes an autolink, its underscores untouched; the full stop stays out
    assert markdown.text("see https://x.org/a_b.") == "see <https://x.org/a_b>."
    assert "| Source | Matt Mazur, 2015, <https://mattmazur.com/2015/03/17/" in mazur_md()
