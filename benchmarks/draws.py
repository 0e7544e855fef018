"""How many draws the hand-work rules (bpwalk.handwork) cost `bpwalk new` and `bpwalk lms`.

    python benchmarks/draws.py               # 50 problems per shape
    python benchmarks/draws.py --problems 200

For each shape, draws `--problems` practice problems as `bpwalk new` does (seeds 1, 2, ...)
and prints the draws each took (mean and most) and the CPU seconds per problem; then times
the 30 Moodle variants of mazur (`bpwalk lms mazur --format moodle --variants 30`) as its own
process. Nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bpwalk import handwork
from bpwalk.practice import generator, problem
from bpwalk.scenario import loads
from bpwalk.template import activations_for, render

SHAPES = [([2, 2, 1], "sigmoid", "half_squared_error"), ([2, 2, 2], "sigmoid", "half_squared_error"),
          ([2, 3, 2], "tanh", "mean_squared_error"), ([3, 4, 3], "relu", "cross_entropy")]


def draws_for(sizes: list[int], activation: str, loss: str, seed: int) -> int:
    """The draws `bpwalk new --seed seed` makes before one meets every rule."""
    acts = activations_for(activation, loss, len(sizes) - 1)
    rng = generator(seed)
    for n in range(1, handwork.MAX_DRAWS + 1):
        numbers = problem(rng, sizes, acts, loss, 2)
        sc = loads(render(numbers, sizes, acts, loss, seed, 2, [], "p.yaml"), "p.yaml")
        if not handwork.broken(handwork.Draw(sc)):
            return n
    return handwork.MAX_DRAWS


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", type=int, default=50)
    args = parser.parse_args()
    print(f"{'shape':<22}{'draws: mean':>12}{'most':>6}{'CPU s/problem':>15}")
    for sizes, activation, loss in SHAPES:
        start = time.process_time()
        counts = [draws_for(sizes, activation, loss, s) for s in range(1, args.problems + 1)]
        cpu = (time.process_time() - start) / args.problems
        name = f"{'-'.join(map(str, sizes))} {activation}"
        print(f"{name:<22}{sum(counts) / len(counts):>12.2f}{max(counts):>6}{cpu:>15.3f}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "quiz.xml"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bpwalk", "lms", "mazur", "--format", "moodle",
                        "--variants", "30", "-o", str(out)], check=True, capture_output=True)
        wall = time.perf_counter() - start
        print(f"lms mazur --format moodle --variants 30: {wall:.1f} s wall, "
              f"{out.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
