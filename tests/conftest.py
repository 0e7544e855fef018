"""Shared test helpers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or \
    shutil.which("google-chrome")


def run_cli(*args: str, input: str | None = None, env: dict | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real bpwalk program (python -m bpwalk) as a user would, capturing output."""
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "80", **(env or {})}
    return subprocess.run([sys.executable, "-m", "bpwalk", *args], check=False, capture_output=True,
                          text=True, input=input, env=full_env, cwd=cwd or ROOT, timeout=120)


@pytest.fixture
def mazur_path() -> Path:
    return SCENARIOS / "mazur.yaml"


def network_names() -> list[str]:
    """The bundled examples that are dense networks (layers:), not circuits (graph:) nor
    convolutional nor recurrent networks: for the tests of what only a dense network has
    (the matrix form, the tiny loop, the drawing, ...). tests/test_conv.py and
    tests/test_recurrent.py test the others."""
    from bpwalk.scenario import bundled_dir, bundled_names, load

    def dense(sc) -> bool:
        return getattr(sc, "graph", None) is None and not sc.shaped and not sc.sequence

    return [n for n in bundled_names() if dense(load(bundled_dir() / f"{n}.yaml"))]


@pytest.fixture(scope="module")
def browser():
    """The system's Chromium driven by playwright (never a downloaded browser), one per
    test module; the page, picture, circuit and class-report tests share it."""
    if CHROMIUM is None:
        pytest.fail("Chromium not found; install it (apt-get install chromium) as .ci/run does")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()
