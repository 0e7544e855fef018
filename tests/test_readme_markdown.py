"""The manual's Markdown examples are lines the export writes today (issue 26): each one is
regenerated from `bpwalk export mazur --format md` (and `--round 4` for the drift table), so
they cannot drift from the program again. They were the README's; the README is short now
and they live on the exports page (tools/docs_examples.py checks that page's commands too).

BPWALK_WRITE_README=1 python -m pytest tests/test_readme_markdown.py rewrites them in place.
"""

from __future__ import annotations

import os
import re

from tests.conftest import ROOT, run_cli

README = ROOT / "docs" / "exports.md"
# an example line: a display formula, or a row of a values table ("| `grad:w5` | ...")
EXAMPLE = re.compile(r"^(\$\$\\frac.*\$\$|\| `[a-z]+:\w+` \|.*\|)$", re.MULTILINE)


def _export(*args: str) -> list[str]:
    r = run_cli("export", "mazur", "--format", "md", *args)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def _key(line: str) -> str:
    """What names an example line: a table row's id (and whether it has the drift columns),
    a formula's result (its symbols are what may have drifted)."""
    if line.startswith("| `"):
        return line.split("|")[1].strip() + f" {line.count('|')}"
    return "= " + line.rsplit(" = ", 1)[1]


def _real() -> dict[str, str]:
    lines = _export() + _export("--round", "4")
    real: dict[str, str] = {}
    for line in lines:
        if EXAMPLE.fullmatch(line):
            real.setdefault(_key(line), line)  # the first: update 1's
    return real


def test_the_readme_markdown_examples_are_what_the_export_writes():
    text = README.read_text(encoding="utf-8")
    shown = EXAMPLE.findall(text)
    assert len(shown) >= 4  # the ∂E/∂w5 formula and the drift table's rows
    real = _real()
    if os.environ.get("BPWALK_WRITE_README"):
        text = EXAMPLE.sub(lambda m: real.get(_key(m.group(0)), m.group(0)), text)
        README.write_text(text, encoding="utf-8")
        shown = EXAMPLE.findall(text)
    assert [line for line in shown if real.get(_key(line)) != line] == []
