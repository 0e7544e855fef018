"""How `bpwalk check` scales with the number of answers (and of wrong ones).

    python benchmarks/check_many.py              # 8-16-4 net, 5 samples: 2,101 answers
    python benchmarks/check_many.py --samples 4  # the hostile-input report's 1,693 answers
    python benchmarks/check_many.py --wide       # issue 28's wide networks and unknown keys

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

With --wide, the cases of issue 28 (items 7 and 10) instead, each timed as its own process
(a case still running after --limit seconds of CPU time is stopped, shown as ">LIMIT"):

- 2-5000-2, 1,000 and 5,000 wrong answers (every k-th step, right value × 1.37 + 0.01);
- 2-5000-2, the blank answers template of its worksheet (every step id, no value);
- 10-5000-1, its dW1 written as a 5000×10 matrix (50,000 entries), all right; all wrong;
- `validate` of a scenario with 100,000 unknown keys, and with 963,000 (10 MiB).

Targets: each check under 10 s and 500 MB, the blank template under 2 s; 100,000 unknown keys
under 2 s. To compare with another checkout, run this file with that checkout's Python
(its own venv): the processes run `python -m bpwalk` from a temporary folder, so the
bpwalk that Python imports is the one measured.

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


def timed(argv: list[str], cwd: Path | None = None, limit: int | None = None
          ) -> tuple[float, float, float, int]:
    """(wall s, cpu s, peak MB, exit code) of one process; past `limit` seconds of CPU
    time (not wall time: a busy machine would stop it early) it is stopped by SIGXCPU."""
    import resource

    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
    if limit:  # set from here at once (a preexec_fn is unsafe beside threads)
        resource.prlimit(proc.pid, resource.RLIMIT_CPU, (limit, limit + 5))
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak = usage.ru_maxrss / 1024  # kilobytes on Linux
    return wall, usage.ru_utime + usage.ru_stime, peak, proc.returncode


def _wide_yaml(sizes: tuple[int, int, int]) -> str:
    """A one-hidden-layer network drawn by the scenario's own init (seed 1), one sample."""
    n_in, hidden, n_out = sizes
    return (f"inputs: {n_in}\nlayers:\n  - neurons: {hidden}\n    activation: sigmoid\n"
            f"  - neurons: {n_out}\n    activation: sigmoid\nloss: half_squared_error\n"
            "learning_rate: 0.1\ninit: {seed: 1}\ndata:\n"
            f"  - inputs: [{', '.join(str(round(0.1 * (i + 1), 1)) for i in range(n_in))}]\n"
            f"    targets: [{', '.join(['0.5'] * n_out)}]\n")


def _matrix(rows: list[list[float]]) -> str:
    return "[" + ", ".join("[" + ", ".join(map(repr, row)) + "]" for row in rows) + "]"


def wide_cases(work: Path) -> list[tuple[str, list[str]]]:
    """Issue 28's cases: (label, the bpwalk command's arguments), their files in `work`."""

    from bpwalk.matrix import matrix_form
    from bpwalk.views import answers as answers_view

    out = []
    two = work / "2-5000-2.yaml"
    two.write_text(_wide_yaml((2, 5000, 2)))
    steps = run(loads(two.read_text()), iterations=1, show={1}).iterations[0].steps
    for wrong in (1000, 5000):
        every = len(steps) // wrong
        path = work / f"wrong{wrong}.yaml"
        path.write_text("".join(f"{s.id}: {at_decimals(s.value * 1.37 + 0.01, 6)}\n"
                                for s in steps[::every][:wrong]))
        out.append((f"2-5000-2, {wrong:,} wrong", ["check", str(two), str(path), "-f", "json"]))
    blank = work / "blank.yaml"
    trace = run(loads(two.read_text()), iterations=1, show={1})
    blank.write_text(answers_view.render(trace))
    ids = sum(1 for line in blank.read_text().splitlines() if line and line[0] != "#")
    out.append((f"2-5000-2, blank {ids // 1000}k ids", ["check", str(two), str(blank)]))
    ten = work / "10-5000-1.yaml"
    ten.write_text(_wide_yaml((10, 5000, 1)))
    trace = run(loads(ten.read_text()), iterations=1, show={1})
    form = matrix_form(trace, trace.iterations[0])
    dw1 = next(e.result for e in form.equations if e.result.key.lower() == "dw1")
    right = dw1.array()
    for name, values in (("right", right), ("wrong", right * 1.37 + 0.01)):
        path = work / f"dw1_{name}.yaml"
        path.write_text(f"dW1: {_matrix(values.tolist())}\n")
        out.append((f"10-5000-1, dW1 all {name}", ["check", str(ten), str(path), "-f", "json"]))
    for keys in (100_000, 963_000):
        path = work / f"keys{keys}.yaml"
        path.write_text(two.read_text() + "".join(f"k{i}: 1\n" for i in range(keys)))
        size = path.stat().st_size / 2**20
        out.append((f"{keys:,} unknown keys ({size:.1f} MiB)", ["validate", str(path)]))
    return out


def wide_main(limit: int) -> int:
    import json
    import signal

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # The files are written by a process of their own: Linux counts the memory of the
        # process that starts a measured one in that one's peak (ru_maxrss survives exec),
        # and making them takes this one's to 370 MB.
        made = subprocess.run([sys.executable, __file__, "--wide-files", tmp], check=True,
                              capture_output=True, text=True, cwd=work).stdout
        print("issue 28's cases (wall and CPU seconds, peak MB, exit code; a case stopped "
              f"after {limit} s of CPU shows >{limit})")
        print(f"{'case':<36}{'wall s':>9}{'cpu s':>8}{'peak MB':>9}{'exit':>6}")
        for label, args in json.loads(made):
            wall, cpu, peak, code = timed([sys.executable, "-m", "bpwalk", *args], cwd=work,
                                          limit=limit)
            stopped = code in (-signal.SIGXCPU, -signal.SIGKILL)
            shown = f">{limit}" if stopped else f"{cpu:.2f}"
            print(f"{label:<36}{wall:>9.2f}{shown:>8}{peak:>9.0f}{code:>6}", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--wide", action="store_true", help="issue 28's cases instead")
    parser.add_argument("--limit", type=int, default=300,
                        help="CPU seconds a --wide case may take")
    parser.add_argument("--wide-files", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.wide_files:  # (wide_main's helper: write the files, print the cases)
        import json

        print(json.dumps(wide_cases(Path(args.wide_files))))
        return 0
    if args.wide:
        return wide_main(args.limit)
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
