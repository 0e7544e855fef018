"""The engine: forward pass, loss, backward pass and update, in float64. The only place
that does arithmetic.

    train.py     run(): updates, loss history, divergence; chooses each update's path
    explain.py   the explained path: one update quantity by quantity, written out as Steps
    fast.py      the vectorised loop, for the updates nobody reads
    tiny.py      the tiny loop: plain floats in code written for a tiny network
    evaluate.py  a step's formula again on other numbers (evaluate, bounds): the judge's
    params.py    parameters, their flat layout, the batches; checks.py: EngineError

`run` is the one entry point; every path shares the formulas of bpwalk.functions and the
rules of bpwalk.optimizers.
"""

from bpwalk.engine.checks import DIVERGED, EngineError
from bpwalk.engine.evaluate import bounds, evaluate
from bpwalk.engine.explain import Record
from bpwalk.engine.params import Params, Plan, batches
from bpwalk.engine.tiny import tiny_source
from bpwalk.engine.train import MAX_HISTORY, Watch, run
from bpwalk.mistakes import Mistake

__all__ = ["DIVERGED", "MAX_HISTORY", "EngineError", "Mistake", "Params", "Plan", "Record",
           "Watch", "batches", "bounds", "evaluate", "run", "tiny_source"]
