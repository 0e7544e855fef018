"""Write what bpwalk prints for every bundled example into a folder, to compare two versions.

A change that should not alter any output is checked by running this before and after it
and comparing the two folders byte for byte (CONTRIBUTING.md, "Is the output the same?"):

    python tools/outputs.py /tmp/after
    diff -r /tmp/before /tmp/after && echo "byte for byte the same"

Each file holds one command's standard output, then its standard error and exit code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The views of each example: every format, both notations' extremes, the matrix form.
VIEWS = {
    "run": ["run"],
    "run-ascii-nielsen": ["run", "--ascii", "--notation", "nielsen"],
    "run-round3": ["run", "--round", "3", "--iterations", "3", "--show", "all"],
    "matrix": ["run", "--form", "matrix"],
    "md": ["export", "--format", "md"],
    "json": ["export", "--format", "json"],
    "html": ["export", "--format", "html"],
    "worksheet": ["worksheet"],
    "answers-template": ["worksheet", "-o", os.devnull, "--answers-template", "/dev/stdout"],
}


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "80"}
    names = sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))
    checks = {"check-answers": ["check", "mazur", str(ROOT / "scenarios/answers/mazur.yaml")]}
    jobs = {f"{name}.{view}": [args[0], name, *args[1:]]
            for name in names for view, args in VIEWS.items()}
    for label, args in {**jobs, **checks}.items():
        result = subprocess.run([sys.executable, "-m", "bpwalk", *args], capture_output=True,
                                env=env, check=False)
        (out / f"{label}.txt").write_bytes(result.stdout + b"\n--- stderr\n" + result.stderr
                                           + f"\n--- exit {result.returncode}\n".encode())
    print(f"{len(jobs) + len(checks)} outputs written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
