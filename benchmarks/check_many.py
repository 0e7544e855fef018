"""How `bpwalk check` scales with the number of answers (and of wrong ones).

    python benchmarks/check_many.py              # 8-16-4 net, 5 samples: 2,101 answers
    python benchmarks/check_many.py --samples 4  # the hostile-input report's 1,693 answers

Writes an 8-16-4 sigmoid scenario (nets.wide) and answers files covering every step of its
first update, then times `bpwalk check` on each as its own process (start-up included) and
prints wall time, CPU time and peak memory. The target (issue: hostile input, defect 7) is
2,000 answers in under 5 s and 300 MB, whatever the share of wrong answers. Cases:

- right: every answer right at 4 decimals;
- carried: one sign mistake early in the backward pass, every later step computed from it;
- random: every answer wrong with no pattern (the right value × 1.37 + 0.01): the worst
  case for the mistake search;
- mistakes: a classic mistake made in every tenth step, carried forward;
- lone: only the gradients and new parameters answered, all wrong with no pattern: no
  earlier answer to blame, so each is searched in its own formula and the steps before it;
- class: all the files above in one `check` (a class's gradebook run).

Nothing is written into the repository: everything lives in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import nets  # the networks the benchmarks share

from bpwalk.engine import run
from bpwalk.judge import at_decimals
from bpwalk.mistakes import MISTAKES, Mistake
from bpwalk.scenario import loads


def values(sc, mistakes=()) -> dict[str, float]:
    return {s.id: s.value for s in run(sc, iterations=1, show={1}, mistakes=mistakes)
            .iterations[0].steps}


def cases(sc) -> dict[str, dict[str, str]]:
    right = values(sc)
    steps = {s.id: s for s in run(sc, iterations=1, show={1}).iterations[0].steps}
    first_dout = next(k for k in right if k.startswith("dout:"))
    carried = values(sc, (Mistake("sign", first_dout),))
    every_tenth = tuple(Mistake(next(k for k, (_, on) in MISTAKES.items() if s.kind in on), sid)
                        for i, (sid, s) in enumerate(steps.items()) if i % 10 == 5)
    mistaken = values(sc, every_tenth)
    return {
        "right": {k: at_decimals(v, 4) for k, v in right.items()},
        "carried": {k: at_decimals(v, 6) for k, v in carried.items()},
        "random": {k: at_decimals(v * 1.37 + 0.01, 6) for k, v in right.items()},
        "mistakes": {k: at_decimals(v, 6) for k, v in mistaken.items()},
        "lone": {k: at_decimals(v * 1.37 + 0.01, 6) for k, v in right.items()
                 if k.startswith(("grad:", "new:"))},
    }


def timed(argv: list[str]) -> tuple[float, float, float, int]:
    """(wall s, cpu s, peak MB, exit code) of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak = usage.ru_maxrss / 1024  # kilobytes on Linux
    return wall, usage.ru_utime + usage.ru_stime, peak, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()
    net = nets.wide((8, 16, 4), samples=args.samples)
    text = nets.to_yaml(net, "wide")
    sc = loads(text)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "wide.yaml").write_text(text, encoding="utf-8")
        print(f"bpwalk check on an 8-16-4 net, {args.samples} samples "
              "(wall and CPU seconds, peak MB, exit code)")
        print(f"{'case':<10}{'answers':>9}{'wrong':>7}{'wall s':>9}{'cpu s':>8}{'peak MB':>9}"
              f"{'exit':>6}")
        worst = 0.0, 0.0
        for name, answers in cases(sc).items():
            path = work / f"{name}.yaml"
            path.write_text("".join(f"{k}: {v}\n" for k, v in answers.items()), encoding="utf-8")
            wall, cpu, peak, code = timed([sys.executable, "-m", "bpwalk", "check",
                                           str(work / "wide.yaml"), str(path), "-f", "json"])
            wrong = "?"
            if code in (0, 1):
                import json
                out = subprocess.run([sys.executable, "-m", "bpwalk", "check",
                                      str(work / "wide.yaml"), str(path), "-f", "json"],
                                     capture_output=True, text=True, check=False).stdout
                wrong = str(sum(not r["correct"] for r in json.loads(out)["results"]))
            print(f"{name:<10}{len(answers):>9}{wrong:>7}{wall:>9.2f}{cpu:>8.2f}{peak:>9.0f}"
                  f"{code:>6}")
            worst = max(worst[0], wall), max(worst[1], peak)
        # a class: every file above at once, in one process (engine runs shared by file)
        files = [str(work / f"{name}.yaml") for name in cases(sc)]
        wall, cpu, peak, code = timed([sys.executable, "-m", "bpwalk", "check",
                                       str(work / "wide.yaml"), *files, "-f", "csv"])
        total = sum(len((work / f"{name}.yaml").read_text().splitlines()) for name in cases(sc))
        print(f"{'class':<10}{total:>9}{'':>7}{wall:>9.2f}{cpu:>8.2f}{peak:>9.0f}{code:>6}")
        print(f"worst: {worst[0]:.2f} s, {worst[1]:.0f} MB (target: under 5 s and 300 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
