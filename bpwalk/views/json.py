"""The JSON trace: a contract for programs (see docs/exports.md, 'The JSON trace').

The document is written one step per line: it stays diffable and greppable, and each line is
encoded by json's C encoder (``indent=`` would switch to the pure-Python encoder, about ten
times slower on a 100,000-parameter trace).
"""

from __future__ import annotations

import json

from bpwalk import __version__
from bpwalk.trace import Iteration, Trace

_dump = json.JSONEncoder(allow_nan=False, ensure_ascii=False).encode
# allow_nan=False: the engine never lets a non-finite number through; if one slipped,
# failing loudly beats writing invalid JSON.


def _iteration(it: Iteration) -> str:
    steps = ",\n    ".join(_dump(s.to_dict()) for s in it.steps)
    return (f'{{"iteration": {it.number}, "samples": {_dump(it.samples)},\n'
            f'   "values": {_dump(it.values)},\n'
            f'   "steps": [\n    {steps}]}}')


def render(trace: Trace) -> str:
    head = [f'"bpwalk": {_dump(__version__)}', f'"scenario": {_dump(trace.scenario.to_dict())}']
    if trace.round_to is not None:
        head.append(f'"round": {trace.round_to}')
    # A run longer than engine.MAX_HISTORY keeps some losses only; this says which ones
    # (updates made before each entry of loss_history). Absent: entry i, i updates.
    kept = "" if trace.loss_updates is None else \
        f' "loss_history_updates": {_dump(trace.loss_updates)},\n'

    iterations = ",\n  ".join(_iteration(it) for it in trace.iterations)
    iterations = f"[\n  {iterations}]" if iterations else "[]"
    final = {"params": trace.params_final, "loss": trace.loss_history[-1]}
    if trace.state_final:  # the optimizer's state (m, v, velocity...) after the last update
        final["state"] = trace.state_final
    return (
        "{" + ",\n ".join(head) + ",\n"
        f' "iterations": {iterations},\n'
        f' "loss_history": {_dump(trace.loss_history)},\n'
        f'{kept}'
        f' "final": {_dump(final)}}}\n'
    )
