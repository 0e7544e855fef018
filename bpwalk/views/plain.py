"""A plain-text summary of a trace (placeholder until the rich walkthrough lands)."""

from __future__ import annotations

import textwrap

from bpwalk.trace import Trace


def render(trace: Trace) -> str:
    sc = trace.scenario
    lines = [sc.title or sc.name, ""]
    if sc.init:  # values drawn by init: show them before they are used
        drawn = ", ".join(f"{n}={trace.params_first[n]:g}" for n in sc.init["drawn"])
        head = f"drawn by init ({sc.init['scheme']}, seed {sc.init['seed']}): {drawn}"
        lines += [*textwrap.wrap(head, width=78, subsequent_indent="  "), ""]
    for it in trace.iterations:
        lines.append(f"update {it.number} (samples {', '.join(map(str, it.samples))})")
        for s in it.steps:
            lines.append(f"  {s.id:<16} {s.value:.9f}")
    lines.append("")
    lines.append(f"loss before: {trace.loss_history[0]:.9f}")
    lines.append(f"loss after {trace.total_iterations} update(s): {trace.loss_history[-1]:.9f}")
    return "\n".join(lines) + "\n"
