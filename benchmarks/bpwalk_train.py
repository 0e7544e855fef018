"""bpwalk's engine training a scenario with no update explained, as a whole process.

    python benchmarks/bpwalk_train.py SCENARIO.yaml ITERATIONS

The command line explains the first update unless told `--show none`; for a network with
many samples that explanation, not the training, is most of the work. This program calls
the same public API the command line calls, with nothing to explain and no command line
(run.py times it beside `bpwalk export --show none`), so the engine's training alone can be
set against the other tools. Prints loss_history[-1].
"""

import sys

from bpwalk.engine import run
from bpwalk.scenario import load


def main() -> None:
    trace = run(load(sys.argv[1]), iterations=int(sys.argv[2]), show=set())
    print(repr(trace.loss_history[-1]))


if __name__ == "__main__":
    main()
