"""Run every command the documentation shows and compare its output with the page.

The pages (docs/*.md and README.md) mark what is run with HTML comments, which Markdown does
not show:

    <!-- run: bpwalk check mazur answers.yaml -->
    ```text
    $ bpwalk check mazur answers.yaml
    ...the output, exactly as the command prints it at 80 columns, without colour...
    ```

    <!-- run each line -->      each line of the next block is a command that must exit 0
                                (or 1: `check` found a wrong answer), never 2 (an error)
    <!-- file: answers.yaml --> the next block is written to that file before the page's
                                commands run
    <!-- not run: why -->       the next block is shown, never run (installation commands)
    <!-- generated: NAME -->...<!-- end generated -->   text made by a generator below
    <!-- run (needs torch): python x.py -->  run only where the module `torch` is installed
                                (an optional dependency); elsewhere the block is left as
                                the page shows it, and the run is counted as skipped

A page's commands run in order in one folder of their own, which holds the page's `file:`
blocks, so a file written by one command is there for the next. Every ```sh or ```console
block, every block whose first line starts with `$ `, and every block without a language
that has a line starting with `bpwalk ` or `python` must carry one of these marks: a
command on a page is either checked or says why not.

    python tools/docs_examples.py            # check: exit 1 and a diff if a page is stale
    python tools/docs_examples.py --write    # rewrite the outputs and generated sections
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
WIDTH = 80  # the width every terminal output in the docs is made at

_MARK = re.compile(r"<!-- (run|run each line|file|not run|generated)(?: \(needs ([\w.]+)\))?"
                   r"(?:: (.*?))? -->\n")
_FENCE = re.compile(r"(```+)([\w-]*)\n(.*?)^\1\n", re.DOTALL | re.MULTILINE)
_END = "<!-- end generated -->"
SKIPPED: list[str] = []  # examples left as shown: a module they need is not installed


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


class Example(NamedTuple):
    kind: str  # run, run each line, file, generated
    arg: str  # the command, the file name or the generator's name
    start: int  # where the block's text (or the generated section's text) starts in the page
    end: int
    text: str  # what the page shows there
    needs: str = ""  # a module the example needs (an optional dependency), or ""


class Problem(Exception):
    pass


def examples(text: str, where: str) -> list[Example]:
    """The marked blocks of a page, in order; a Problem for a shown command without a mark."""
    found: list[Example] = []
    marked: set[int] = set()
    for m in _MARK.finditer(text):
        kind, needs, arg = m.group(1), m.group(2) or "", (m.group(3) or "").strip()
        if kind == "generated":
            end = text.find(_END, m.end())
            if end < 0:
                raise Problem(f"{where}: '<!-- generated: {arg} -->' has no '{_END}'")
            found.append(Example(kind, arg, m.end(), end, text[m.end():end]))
            continue
        fence = _FENCE.match(text, m.end())
        if fence is None:
            raise Problem(f"{where}:{_line(text, m.start())}: a fenced block must follow "
                          f"'{m.group(0).strip()}' on the next line")
        marked.add(fence.start())
        if kind != "not run":
            found.append(Example(kind, arg, fence.start(3), fence.end(3), fence.group(3),
                                 needs))
    for fence in _FENCE.finditer(text):
        lines = fence.group(3).splitlines() or [""]
        shown = (fence.group(2) in ("sh", "console", "bash", "shell")
                 or lines[0].startswith("$ ")
                 or fence.group(2) == "" and any(line.startswith(("bpwalk ", "python"))
                                                 for line in lines))
        if shown and fence.start() not in marked:
            raise Problem(f"{where}:{_line(text, fence.start())}: a command block with no "
                          "'<!-- run: ... -->', '<!-- run each line -->' or '<!-- not run: why -->'")
    return found


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "PYTHONPATH")}
    bin_dir = str(Path(sys.executable).parent)  # this environment's bpwalk comes first
    env.update(PATH=bin_dir + os.pathsep + env.get("PATH", ""), NO_COLOR="1",
               COLUMNS=str(WIDTH), LINES="24", TERM="dumb", PYTHONIOENCODING="utf-8")
    return env


def run(command: str, folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], cwd=folder, env=_environment(), text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                          timeout=300, check=False)


def _generators() -> dict[str, Callable[[], str]]:
    sys.path.insert(0, str(ROOT / "tools"))
    from scenario_reference import reference

    return {"scenario-reference": reference}


def render(text: str, where: str) -> tuple[str, int]:
    """The page with every marked block made again; and how many were run or generated."""
    out, done, count = [], 0, 0
    with tempfile.TemporaryDirectory(prefix="bpwalk-docs-") as tmp:
        folder = Path(tmp)
        found = examples(text, where)
        for ex in found:  # the page's files first: a command may come before the file it reads
            if ex.kind == "file":
                (folder / ex.arg).write_text(ex.text, encoding="utf-8")
        for ex in found:
            out.append(text[done:ex.start])
            new = ex.text
            if ex.needs and importlib.util.find_spec(ex.needs) is None:
                SKIPPED.append(f"{where}: {ex.arg or ex.kind} (needs {ex.needs})")
            elif ex.kind == "run each line":
                for line in ex.text.splitlines():
                    if line.strip() and not line.lstrip().startswith("#"):
                        result = run(line, folder)
                        # 0, or 1 for `check` finding a wrong answer; never 2 (an error)
                        if result.returncode not in (0, 1) or "Traceback" in result.stdout:
                            raise Problem(f"{where}: '{line}' exited {result.returncode}:\n"
                                          f"{result.stdout}")
                count += 1
            elif ex.kind == "run":
                # trailing spaces (rich pads its lines) are dropped: editors strip them
                output = "".join(f"{line.rstrip()}\n" for line in run(ex.arg, folder).stdout
                                 .splitlines())
                new = f"$ {ex.arg}\n{output}"
                count += 1
            elif ex.kind == "generated":
                new = "\n" + _generators()[ex.arg]().strip("\n") + "\n\n"
                count += 1
            out.append(new)
            done = ex.end
    out.append(text[done:])
    return "".join(out), count


def check_page(path: Path, write: bool = False) -> tuple[str, int]:
    """A diff of what the page shows against what its commands print now ('' if none)."""
    text = path.read_text(encoding="utf-8")
    where = str(path.relative_to(ROOT))
    new, count = render(text, where)
    if new == text:
        return "", count
    if write:
        path.write_text(new, encoding="utf-8")
        return "", count
    diff = difflib.unified_diff(text.splitlines(True), new.splitlines(True),
                                f"{where} (the page)", f"{where} (the commands now)")
    return "".join(diff), count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the pages' outputs")
    parser.add_argument("pages", nargs="*", type=Path, help="pages (default: all)")
    args = parser.parse_args()
    stale, total = 0, 0
    for page in [p.resolve() for p in args.pages] or pages():
        try:
            diff, count = check_page(page, args.write)
        except Problem as e:
            print(e, file=sys.stderr)
            return 2
        total += count
        if diff:
            stale += 1
            sys.stdout.write(diff)
    verb = "rewritten" if args.write else "checked"
    skipped = f" ({len(SKIPPED)} skipped: {'; '.join(SKIPPED)})" if SKIPPED else ""
    print(f"{total} examples {verb}{skipped}; {stale} pages out of date", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
