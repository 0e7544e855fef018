"""A circuit's worksheet in Markdown: the given values, the circuit drawn with them, and every
step to work out as its formula in symbols with a blank for the result (``bpwalk worksheet``
on a ``graph:`` scenario; its key is the worked solution, ``views.circuit.markdown``).

Laid out like a network's worksheet (``views.markdown`` with blanks): a line for the name,
then per pass the formulas, each with room to work under it. Only formatting: the formulas
come from ``bpwalk.notation``, the given numbers from the trace.
"""

from __future__ import annotations

from rich.console import Console

from bpwalk.notation import Formula, Pen, Profile, profile
from bpwalk.trace import PHASE_TITLES, Trace
from bpwalk.views import circuit_drawing as cd
from bpwalk.views import outline
from bpwalk.views.circuit import gates, phases
from bpwalk.views.markdown import BLANK_MATH, WORK, code, math, table, text


def markdown(trace: Trace, decimals: int = 9, notation: Profile | None = None,
             keep_zeros: bool = False) -> str:
    """The worksheet of the first update the trace explains (ends with one newline)."""
    sc = trace.scenario
    g = sc.graph
    pen = Pen("latex", decimals, profile(notation, sc), keep_zeros)
    it = trace.iterations[0]
    lines = [f"# Worksheet: {text(outline.handout_title(sc.title or sc.name))}", "",
             "Name: " + "_" * 40, ""]
    if sc.description:
        lines += [text(sc.description), ""]
    lines += [("Work out every result on the blank after its formula, from the inputs to the "
              "output, then every gradient from the output back."), ""]
    lines += table(["Given", "Is", "Value"],
                   ([math(pen.sym(f"val:{leaf.name}")), leaf.kind,
                     pen.num(it.params_before.get(leaf.name, leaf.value))]
                    for leaf in g.leaves))
    if sc.learning_rate is not None and sc.param_names:
        way = "up (ascent)" if sc.ascent else "down"
        lines += [(f"Learning rate {math(pen.sym('lr'))} = {pen.num(sc.learning_rate)}: the "
                  f"params step {way} their gradients."), ""]
    rows = []
    for n in g.nodes:
        s = it.step(f"val:{n.name}")
        f = pen.formula(s)
        written = g.written.get(n.owner, "")
        rows.append([code(n.owner), code(written) if written else "", math(f"{f.lhs} = "
                                                                            f"{f.symbolic}")])
    lines += ["## The circuit", ""]
    lines += table(["Node", "Written as", "Its gates"], rows)
    drawn = _drawing(trace, decimals)
    if drawn:  # value above each wire, gradient below: write yours in as you go
        lines += ["```text", *drawn, "```", ""]

    def block(steps) -> None:
        for s in steps:
            if not s.terms:  # a given value: in the table above
                continue
            f = pen.formula(s)
            if given(f):  # df/df = 1, dq/dx = 1: stated, not asked
                lines.extend([f"$${f.lhs} = {f.symbolic}$$", ""])
                continue
            lines.extend([f"$${f.lhs} = {f.symbolic} = {BLANK_MATH}$$", "", WORK, ""])

    for phase, steps in phases(it).items():
        if not [s for s in steps if s.terms]:
            continue
        lines += [f"## {PHASE_TITLES[phase]}", ""]
        if phase != "backward":
            block(steps)
            continue
        for gate in gates(it):
            title = f"Gate {code(gate.node)}" if gate.node else "The inputs and params"
            lines += [f"### {title}", ""]
            block(gate.steps)
    return "\n".join(lines).rstrip("\n") + "\n"


def given(f: Formula) -> bool:
    """A step whose formula is already its number (the seed df/df = 1, the + gate's local
    gradient 1): a worksheet states it rather than leave a blank."""
    return f.symbolic == f.result


def _drawing(trace: Trace, decimals: int) -> list[str]:
    """The circuit with the given values, as text 80 columns wide ([] when not drawn)."""
    c = cd.of_graph(trace.scenario.graph)
    if cd.drawable(c) is not None:
        return []
    console = Console(width=80, record=True, color_system=None, file=_Null())
    console.print(cd.opening(trace, decimals))
    return [t.rstrip() for t in console.export_text().splitlines()]


class _Null:
    """A file that keeps nothing: the console records what it prints."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass
