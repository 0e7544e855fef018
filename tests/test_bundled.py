"""Bundled examples by name: `bpwalk examples`, and every command taking a name for a path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bpwalk.cli import app
from bpwalk.scenario import ScenarioError, bundled_dir, bundled_names, load, resolve

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
NAMES = sorted(p.stem for p in SCENARIOS.glob("*.yaml"))
runner = CliRunner()


def test_examples_lists_every_file_with_its_description():
    out = runner.invoke(app, ["examples"])
    assert out.exit_code == 0
    for name in NAMES:
        line = next(li for li in out.stdout.splitlines() if li.startswith(name + " "))
        assert load(SCENARIOS / f"{name}.yaml").description in line
    assert all(len(li) <= 80 for li in out.stdout.splitlines())


@pytest.mark.parametrize("name", NAMES)
def test_every_command_takes_a_bundled_name(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # away from the checkout: names come from the package
    assert runner.invoke(app, ["validate", name]).exit_code == 0
    assert runner.invoke(app, ["run", name]).exit_code == 0
    out = runner.invoke(app, ["export", name, "--format", "json"])
    assert out.exit_code == 0 and json.loads(out.stdout)


def test_bundled_dir_is_inside_the_package():
    assert (bundled_dir() / "__init__.py").exists()
    assert bundled_names() == NAMES


def test_a_file_in_the_folder_wins_over_a_bundled_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mazur").write_text("not yaml: [")
    assert resolve("mazur") == (Path("mazur"), "mazur")


def test_unknown_name_suggests_the_closest():
    with pytest.raises(ScenarioError, match="did you mean 'mazur'"):
        resolve("mazurr")
