"""Recurrent networks (kind: rnn, lstm) and attention (kind: attention): how long the
explained examples and a long training take.

    python benchmarks/recurrent.py              # 5 rounds each, medians printed
    python benchmarks/recurrent.py --repeat 9

The figures (issue 24's targets in brackets):

- `bpwalk run rnn_two_steps` and `bpwalk run lstm_gomez` as whole processes, start-up and
  imports included, at 80 columns without colour (under 0.5 s each);
- a length-20 sequence into 8 tanh hidden units and one linear output, 1,000 updates of
  plain SGD in one process (`bpwalk run FILE -n 1000 --show none -q`, whole process; and
  engine.run alone, in-process, start-up excluded) (under 3 s);
- `bpwalk run self_attention` (the three-token attention head) as a whole process, and
  `bpwalk run mazur` beside it for scale (under 0.5 s).

Wall and CPU (user + system) times are medians; on a busy machine the CPU times wander
less. Nothing is written into the repository: the long scenario lives in a temporary
folder.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent


def long_sequence() -> dict:
    """A length-20 sequence of 2 features, 8 hidden units, one output per step."""
    g = np.random.default_rng(20)
    return {"name": "rnn_long", "inputs": 2, "layers": [
        {"kind": "rnn", "hidden": 8, "activation": "tanh",
         "W_x": g.uniform(-0.5, 0.5, (8, 2)).round(3).tolist(),
         "W_h": g.uniform(-0.3, 0.3, (8, 8)).round(3).tolist(),
         "bias": g.uniform(-0.1, 0.1, 8).round(3).tolist()},
        {"neurons": 1, "activation": "linear",
         "weights": g.uniform(-0.5, 0.5, (1, 8)).round(3).tolist(), "bias": [0.0]}],
        "data": [{"sequence": g.uniform(-1, 1, (20, 2)).round(3).tolist(),
                  "targets": g.uniform(-1, 1, (20, 1)).round(3).tolist()}],
        "loss": "half_squared_error", "learning_rate": 0.01}


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one process."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "80"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=cwd, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def medians(cmd: list[str], cwd: Path, repeat: int) -> tuple[float, float]:
    timed(cmd, cwd)  # once untimed: the bytecode cache, the file system
    runs = [timed(cmd, cwd) for _ in range(repeat)]
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    bpwalk = [sys.executable, "-m", "bpwalk"]
    with tempfile.TemporaryDirectory(prefix="bpwalk-rnn-") as folder:
        here = Path(folder)
        (here / "rnn_long.yaml").write_text(yaml.safe_dump(long_sequence()), encoding="utf-8")
        wall, cpu = medians([*bpwalk, "run", "rnn_two_steps"], here, args.repeat)
        print(f"bpwalk run rnn_two_steps (whole process)      {wall:6.3f} s wall "
              f"{cpu:6.3f} s CPU   [target < 0.5 s]")
        for name in ("lstm_gomez", "self_attention", "mazur"):
            wall, cpu = medians([*bpwalk, "run", name], here, args.repeat)
            print(f"bpwalk run {name + ' (whole process)':34} {wall:6.3f} s wall "
                  f"{cpu:6.3f} s CPU   [target < 0.5 s]")
        wall, cpu = medians([*bpwalk, "run", "rnn_long.yaml", "-n", "1000", "--show", "none",
                             "-q"], here, args.repeat)
        print(f"length 20, hidden 8, 1,000 updates (process) {wall:6.3f} s wall "
              f"{cpu:6.3f} s CPU   [target < 3 s]")
        sys.path.insert(0, str(ROOT))
        from bpwalk.engine import run
        from bpwalk.scenario import load

        sc = load(here / "rnn_long.yaml")
        walls, cpus = [], []
        for _ in range(args.repeat):
            start, cpu_start = time.perf_counter(), time.process_time()
            trace = run(sc, iterations=1000, show=set())
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu_start)
        print(f"length 20, hidden 8, 1,000 updates (engine)  {statistics.median(walls):6.3f} s "
              f"wall {statistics.median(cpus):6.3f} s CPU   loss {trace.loss_history[0]:.6g} "
              f"-> {trace.loss_history[-1]:.6g}")
        print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: on a busy "
              "machine the CPU times are the figures to read)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
