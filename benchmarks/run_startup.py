"""Whole-process time of `bpwalk run scenarios/mazur.yaml` against importing its dependencies.

Issue 3's target: the walkthrough takes at most 1.5 times
`python -c "import numpy, rich, typer, yaml"`. Both are run as fresh processes with output to
a pipe, COLUMNS=80, several times each, alternating; the medians are compared, of wall time
and of CPU time (user + system of the child, which a busy machine disturbs less).

    python benchmarks/run_startup.py [--runs 21]

Run it with the interpreter of the environment bpwalk is installed in.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The console script installed next to this interpreter, as a user runs it.
_SCRIPT = Path(sys.executable).with_name("bpwalk")
BPWALK = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "bpwalk"]
COMMANDS = {
    "imports": [sys.executable, "-c", "import numpy, rich, typer, yaml"],
    "bpwalk run": [*BPWALK, "run", str(ROOT / "scenarios" / "mazur.yaml")],
    "bpwalk --version": [*BPWALK, "--version"],
    "bpwalk --help": [*BPWALK, "--help"],
}


def once(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, cpu) seconds of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, capture_output=True, env=env, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    runs = parser.parse_args().runs
    # An installed package has bytecode; without it every run would recompile bpwalk's
    # modules (tens of ms), so let the warm-up run write __pycache__ as an install does.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["COLUMNS"] = "80"
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
    for cmd in COMMANDS.values():  # warm the file cache
        once(cmd, env)
    for _ in range(runs):
        for name, cmd in COMMANDS.items():
            times[name].append(once(cmd, env))
    base_wall = statistics.median(w for w, _ in times["imports"])
    base_cpu = statistics.median(c for _, c in times["imports"])
    print(f"{runs} runs each; medians")
    for name, t in times.items():
        wall = statistics.median(w for w, _ in t)
        cpu = statistics.median(c for _, c in t)
        print(f"{name:18} wall {wall * 1000:6.1f} ms ({wall / base_wall:4.2f}x)   "
              f"cpu {cpu * 1000:6.1f} ms ({cpu / base_cpu:4.2f}x)")


if __name__ == "__main__":
    main()
