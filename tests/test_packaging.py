"""The project's promises about itself: CI runs the README's test command, --version, --help."""

from __future__ import annotations

import re
import subprocess
import sys

from bpwalk import __version__

from .conftest import ROOT, run_cli


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(.+?)\n```", text)


def test_readme_quick_start_has_the_two_commands():
    commands = _readme_commands()
    assert any("bpwalk run scenarios/mazur.yaml" in c for c in commands)
    assert any("pytest" in c for c in commands)


def test_ci_runs_the_readme_test_command():
    test_command = next(c for c in _readme_commands() if "pytest" in c)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command.replace("pip install", "pip install -q") in ci or test_command in ci


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"bpwalk {__version__}"


COMMANDS = ("run", "export", "worksheet", "validate", "check", "examples", "new", "schema", "lms")


def test_help_lists_every_command_with_one_line():
    result = run_cli("--help")  # at COLUMNS=80
    assert result.returncode == 0
    for command in COMMANDS:
        assert re.search(rf"^\W*{command}\s+\S", result.stdout, re.MULTILINE), command
    box = result.stdout.split("Commands")[1].split("╰")[0].splitlines()[1:]  # the rows
    assert len(box) == len(COMMANDS), "each command's help fits one line at 80 columns"


def test_help_and_version_do_not_import_numpy_or_the_engine():
    code = ("import sys\nfrom bpwalk.cli import app\n"
            "for args in (['--version'], ['--help'], ['run', '--help']):\n"
            "    try:\n        app(args)\n    except SystemExit:\n        pass\n"
            "print('numpy' in sys.modules, 'bpwalk.engine' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True,
                         text=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "False False"
