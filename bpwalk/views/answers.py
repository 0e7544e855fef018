"""An answers template: every step id of one update, in computation order, with no value.

The file is YAML for ``bpwalk check``: one ``id:`` line per step, each followed by a comment
that names the quantity (``# dE/dw5``), so a student fills in numbers beside the ids.
"""

from __future__ import annotations

from bpwalk.notation import symbol
from bpwalk.trace import Trace


def render(trace: Trace) -> str:
    """The template for the first update the trace explains."""
    sc = trace.scenario
    it = trace.iterations[0]
    lines = [
        f"# Answers for {sc.path}, update {it.number}. Write each number after its id's",
        "# colon, with as many decimals as you worked with. Then run:",
        f"#   bpwalk check {sc.path} THIS_FILE",
    ]
    width = max(len(s.id) for s in it.steps) + 2
    phase = ""
    for s in it.steps:
        if s.phase != phase:
            phase = s.phase
            lines += ["", f"# {phase}"]
        lines.append(f"{s.id + ':':<{width}}# {symbol(s.id, 'ascii')}")
    return "\n".join(lines) + "\n"
