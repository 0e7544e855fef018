"""The engine: forward pass, loss, backward pass and update, in float64. The only place
that does arithmetic, as one graph core plus accelerators.

A scenario compiles into a graph whose operations are each defined once in bpwalk.graph:
`layers:` into a chain of layer operations (graph/network.py, graph/layers.py: Dense,
Loss), `graph:` into scalar operations (graph/compile.py, graph/ops.py). The engine sweeps
the graph forward in topological order and back in reverse, writing Steps:

    explain.py   a network's graph, one update quantity by quantity (arrays: a batch at once)
    circuit.py   a circuit's graph, one scalar operation at a time
    train.py     run(): updates, loss history, divergence; chooses each update's path
                 (`_unread`: the accelerators below, else the sweeps)
    fast.py      accelerator: the vectorised loop of a dense chain, for updates nobody reads
    tiny.py      accelerator: plain floats in code written for a tiny dense chain
    evaluate.py  a step's formula again on other numbers (evaluate, bounds): the judge's,
                 from the operation that wrote the step
    params.py    parameters, their flat layout, the batches; checks.py: EngineError

`run` is the one entry point; every path shares the formulas of bpwalk.functions and the
rules of bpwalk.optimizers, and the accelerators are checked against the sweeps on random
networks (tests/test_fast.py, tests/test_tiny.py).
"""

from bpwalk.engine.checks import DIVERGED, EngineError
from bpwalk.engine.evaluate import bounds, evaluate
from bpwalk.engine.explain import Record
from bpwalk.engine.params import Params, Plan, batches
from bpwalk.engine.tiny import tiny_source
from bpwalk.engine.train import MAX_HISTORY, Watch, collector_paused, run
from bpwalk.mistakes import Mistake

__all__ = ["DIVERGED", "MAX_HISTORY", "EngineError", "Mistake", "Params", "Plan", "Record",
           "Watch", "batches", "bounds", "collector_paused", "evaluate", "run", "tiny_source"]
