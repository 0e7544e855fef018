"""The JSON trace: a contract for programs (see README, 'The JSON trace')."""

from __future__ import annotations

import json
from typing import Any

from bpwalk import __version__
from bpwalk.trace import Trace


def to_data(trace: Trace) -> dict[str, Any]:
    data: dict[str, Any] = {
        "bpwalk": __version__,
        "scenario": trace.scenario.to_dict(),
    }
    if trace.round_to is not None:
        data["round"] = trace.round_to
    data["iterations"] = [
        {
            "iteration": it.number,
            "samples": it.samples,
            "values": it.values,
            "steps": [s.to_dict() for s in it.steps],
        }
        for it in trace.iterations
    ]
    data["loss_history"] = trace.loss_history
    data["final"] = {"params": trace.params_final, "loss": trace.loss_history[-1]}
    return data


def render(trace: Trace) -> str:
    # allow_nan=False: the engine never lets a non-finite number through; if one slipped,
    # failing loudly beats writing invalid JSON.
    return json.dumps(to_data(trace), indent=1, allow_nan=False) + "\n"
