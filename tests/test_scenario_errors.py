"""Every kind of bad scenario input has a failing fixture: line, column and message.

Each file in tests/fixtures/bad/ starts with ``# expect: LINE:COL: text`` (or ``LINE:`` when
only the line is fixed); loading it must fail with exactly that location and message, and the
real program must print it on stderr with exit code 2 and no traceback.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bpwalk.scenario import ScenarioError, load, loads

from .conftest import run_cli

BAD = Path(__file__).parent / "fixtures" / "bad"
FIXTURES = sorted(BAD.glob("*.yaml"))


def _expected(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), path
    return first[len("# expect: "):]


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_bad_fixture_is_reported_where_it_is(path: Path):
    with pytest.raises(ScenarioError) as err:
        load(path)
    lines = str(err.value).splitlines()
    assert f"{path}:{_expected(path)}" in lines[0] or any(
        line.startswith(f"{path}:{_expected(path)}") for line in lines), str(err.value)
    for line in lines:
        assert "; " in line, f"every message says how to fix it: {line}"


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_cli_exit_2_without_traceback(path: Path, tmp_path: Path):
    result = run_cli("validate", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert f"{path}:{_expected(path)}" in result.stderr
    assert not (tmp_path / "pwned.txt").exists()  # nothing ran from a YAML tag


def test_missing_file():
    result = run_cli("run", "no/such/scenario.yaml")
    assert result.returncode == 2
    assert result.stderr.startswith("no/such/scenario.yaml: no such file; ")
    assert "Traceback" not in result.stderr


def test_unknown_bundled_name_suggests():
    result = run_cli("run", "mazr")
    assert result.returncode == 2
    assert "did you mean 'mazur'" in result.stderr


def test_alias_bomb_is_refused_quickly():
    start = time.perf_counter()
    with pytest.raises(ScenarioError):
        load(BAD / "alias_bomb.yaml")
    assert time.perf_counter() - start < 5  # generous: the point is it does not expand 9^9


def test_validate_reports_every_problem():
    text = (BAD / "unknown_loss.yaml").read_text().replace("learning_rate: 0.5", "learning_rate: x")
    with pytest.raises(ScenarioError) as err:
        loads(text, "two.yaml")
    messages = [str(p) for p in err.value.problems]
    assert any("unknown loss" in m for m in messages)
    assert any("learning_rate must be a number" in m for m in messages)


def test_validate_accepts_good_files(mazur_path):
    result = run_cli("validate", str(mazur_path))
    assert result.returncode == 0
    assert "ok (2-2-2 network, 10 parameters, 1 sample)" in result.stdout


def test_a_name_ending_in_a_line_break_stops_every_command(tmp_path: Path):
    """re.match with $ accepts "i1\\n": the name reached the tiny loop's generated code,
    and `run` died with a SyntaxError traceback. Now it is refused where it is written."""
    result = run_cli("run", str(BAD / "name_newline.yaml"), "-n", "5", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"{BAD / 'name_newline.yaml'}:2:10: inputs: 'i1\\n' is not")
