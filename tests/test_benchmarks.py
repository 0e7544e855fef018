"""The benchmark's comparison programs do bpwalk's work: same network, same numbers.

benchmarks/run.py times bpwalk against hand-written loops and libraries; a timing of
different work would be worthless, so each program runs here for a few updates and its
final loss must equal the loss_history[-1] of bpwalk's engine. micrograd and torch are
optional (the 'bench' extra): their checks are skipped when they are not installed.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from bpwalk.engine import run
from bpwalk.scenario import load, loads

from .conftest import ROOT, SCENARIOS

BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))

import nets  # benchmarks/ is not a package: found through sys.path

RTOL = 1e-9  # the programs differ from bpwalk only in summation order, if at all


def needs(module: str):
    return pytest.mark.skipif(importlib.util.find_spec(module) is None,
                              reason=f"{module} not installed (pip install -e '.[bench]')")


PROGRAMS = [
    pytest.param("numpy_loop.py", id="numpy"),
    pytest.param("python_loop.py", id="python"),
    pytest.param("micrograd_loop.py", id="micrograd", marks=needs("micrograd")),
    pytest.param("torch_loop.py", id="torch", marks=needs("torch")),
]


def program_loss(script: str, network: str, updates: int) -> float:
    out = subprocess.run([sys.executable, str(BENCH / script), network, str(updates)],
                         capture_output=True, text=True, check=True, cwd=ROOT, timeout=300)
    return float(out.stdout.split()[-1])


def bpwalk_loss(network: str, updates: int) -> float:
    scenario = (load(SCENARIOS / "mazur.yaml") if network == "mazur"
                else loads(nets.to_yaml(nets.network(network), network)))
    return run(scenario, iterations=updates).loss_history[-1]


@pytest.mark.parametrize("script", PROGRAMS)
def test_programs_match_bpwalk_on_mazur(script):
    assert program_loss(script, "mazur", 20) == pytest.approx(bpwalk_loss("mazur", 20), rel=RTOL)


@pytest.mark.parametrize("script", [p for p in PROGRAMS if p.id != "micrograd"])
def test_programs_match_bpwalk_on_the_wide_network(script):
    # The wide network updates its biases, so this also checks the bias gradients.
    assert program_loss(script, "wide", 3) == pytest.approx(bpwalk_loss("wide", 3), rel=RTOL)


def test_the_comparison_can_fail():
    # One update more is different work, and the tolerance tells them apart.
    assert program_loss("numpy_loop.py", "mazur", 21) != pytest.approx(bpwalk_loss("mazur", 20),
                                                                       rel=RTOL)


def test_bpwalk_train_prints_the_engines_loss(tmp_path):
    scenario = tmp_path / "wide.yaml"
    scenario.write_text(nets.to_yaml(nets.wide(), "wide"))
    out = subprocess.run([sys.executable, str(BENCH / "bpwalk_train.py"), str(scenario), "3"],
                         capture_output=True, text=True, check=True, cwd=ROOT, timeout=120)
    assert float(out.stdout) == bpwalk_loss("wide", 3)


def test_json_loss_reads_the_final_loss_of_a_trace(tmp_path):
    import run as bench  # benchmarks/run.py

    trace = tmp_path / "trace.json"
    subprocess.run([sys.executable, "-m", "bpwalk", "export", str(SCENARIOS / "mazur.yaml"),
                    "--format", "json", "--iterations", "5", "-o", str(trace)],
                   check=True, cwd=ROOT, timeout=120)
    assert bench.json_loss(trace) == json.loads(trace.read_text())["loss_history"][-1]


def test_run_py_reports_and_writes_only_where_asked(tmp_path):
    before = sorted(p.name for p in ROOT.iterdir())
    report = tmp_path / "report.json"
    out = subprocess.run([sys.executable, str(BENCH / "run.py"), "--only", "startup",
                          "--repeat", "1", "--output", str(report)],
                         check=False, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "bpwalk run mazur / import floor" in out.stdout
    data = json.loads(report.read_text())
    assert {r["program"] for r in data["cases"]["startup"]} >= {"bpwalk --version"}
    assert sorted(p.name for p in ROOT.iterdir()) == before


def test_json_export_imports_neither_rich_nor_pydantic(tmp_path):
    # Start-up is most of a small export's time (benchmarks/run.py): the JSON path needs no
    # terminal rendering, and typer 0.29+ would import pydantic to parse the options.
    code = ("import sys\nfrom bpwalk.cli import app\n"
            f"sys.argv = ['bpwalk', 'export', {str(SCENARIOS / 'mazur.yaml')!r}, '--format', "
            "'json', '-o', sys.argv[1]]\n"
            "try:\n    app()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('rich', 'pydantic') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "trace.json")], check=True,
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "trace.json").exists()
