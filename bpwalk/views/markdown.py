"""The Markdown view: a worked solution (or, with blanks, a worksheet) with LaTeX math.

Same content and order as the terminal walkthrough: heading, the network, then per shown
update the forward pass, the loss, the backward pass (output layer first) and the update,
then a summary and, for longer runs, the loss over the updates. Every formula comes from
``bpwalk.notation.formula(step, "latex", decimals)``; every number from the Trace. Values also
sit in tables beside their JSON trace ids, so the file doubles as an answer key.

``blanks=True`` turns the same document into a worksheet: the formulas in symbols and the
given numbers (inputs, targets, parameters, learning rate) stay, every result is left blank.

Output is plain GitHub-flavoured Markdown: deterministic (no dates), no terminal codes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import groupby

from bpwalk.functions import ACTIVATIONS
from bpwalk.notation import (
    Formula,
    activation_formula,
    formula,
    loss_formula,
    number,
    optimizer_settings,
    shortcut,
    symbol,
    update_rule,
)
from bpwalk.trace import PHASE_TITLES, Iteration, Step, Trace

BLANK_MATH = r"\underline{\qquad\qquad}"  # where a worksheet's result goes
NET_RULE = r"net = \sum w \cdot input + b \cdot 1"  # as the terminal's layer headings say
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|$#])")
_URL = re.compile(r"^(https?://[^\s<>]+?)([.,;:)]*)$")



def render(trace: Trace, decimals: int = 9, blanks: bool = False) -> str:
    """The whole document as Markdown text (ends with one newline)."""
    doc = _Doc(trace, decimals, blanks)
    doc.heading()
    doc.network()
    for it in trace.iterations:
        doc.iteration(it)
    doc.summary()
    doc.loss_table()
    return "\n".join(doc.lines).rstrip("\n") + "\n"


# ----------------------------------------------------------------------------- text helpers


def text(s: str) -> str:
    """User text (title, source, description) made literal in Markdown; a web address becomes
    an autolink, inside which Markdown reads nothing (so its _ need no escaping)."""
    words = []
    for word in s.split():
        m = _URL.match(word)
        words.append(f"<{m.group(1)}>{m.group(2)}" if m else _MD_SPECIAL.sub(r"\\\1", word))
    return " ".join(words)


def code(s: str) -> str:
    """An id or a name as a code span (names never hold a backtick)."""
    return f"`{s}`"


def math(s: str) -> str:
    return f"${s}$"


def table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out + [""]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


# ----------------------------------------------------------------------------- the document


@dataclass
class _Doc:
    trace: Trace
    decimals: int
    blanks: bool

    def __post_init__(self) -> None:
        self.lines: list[str] = []
        self.sc = self.trace.scenario
        # Drift columns only in a solution of a rounded trace; a worksheet has no values.
        self.rounded = self.trace.round_to is not None and not self.blanks
        self.batch = False  # the current update has several samples

    # -- small pieces

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def num(self, value: float) -> str:
        return number(value, self.decimals)

    def result_num(self, value: float) -> str:
        """A computed number outside the steps (loss history, final loss): in a rounded
        trace it is shown to the same D decimals as the steps, so nothing reads finer."""
        d = self.decimals if self.trace.round_to is None else min(self.decimals, self.trace.round_to)
        return number(value, d)

    # -- heading

    def heading(self) -> None:
        sc = self.sc
        title = sc.title or sc.name
        self.add(f"# {'Worksheet: ' if self.blanks else ''}{text(title)}", "")
        if sc.description:
            self.add(text(sc.description), "")
        rows = []
        if sc.source:
            rows.append(["Source", text(sc.source)])
        rows.append(["Network", self._shape()])
        rows.append(["Activations", "; ".join(
            f"layer {i + 1}: {lay.activation}"
            + (f" ({ACTIVATIONS[lay.activation].parameter} {self.num(lay.slope)})"
               if ACTIVATIONS[lay.activation].parameter else "")
            for i, lay in enumerate(sc.layers))])
        rows.append(["Loss", f"{code(sc.loss)}: {math(loss_formula(sc.loss, 'latex'))}"])
        if len(sc.x) > 1:
            how = "full batch" if sc.batch is None else f"batches of {sc.batch}"
            rows.append(["Batch", (f"{_plural(len(sc.x), 'sample')}, {how}; the batch's loss "
                                   f"is the {sc.reduction} of its samples' losses")])
        rows.append(["Learning rate", math(f"\\eta = {self.num(sc.learning_rate)}")])
        if not sc.optimizer.plain:
            rows.append(["Optimizer", (f"{code(sc.optimizer.name)}: "
                         f"{math(optimizer_settings(sc.optimizer, 'latex', self.decimals))}")])
        rows.append(["Biases", "updated" if sc.update_biases else
                     "not updated (`update_biases: false`)"])
        shown = ", ".join(str(it.number) for it in self.trace.iterations)
        rows.append(["Updates", f"{self.trace.total_iterations} (worked out below: {shown})"])
        self.add(*table(["Scenario", ""], rows))
        if self.trace.round_to is not None and not self.blanks:
            d = self.trace.round_to
            self.add(f"> **Rounded to {d} decimals.** Every result below was rounded to {d} "
                     "decimals (half up) as soon as it was computed, and the rounded value was "
                     "used in every later step, as in a hand calculation. The *full precision* "
                     "column gives the value without any rounding; *drift* is rounded minus "
                     "full precision, the error that rounding has carried forward.", "")
        if self.blanks:
            self.add("> Fill in every blank. The given numbers (inputs, targets, parameters, "
                     "learning rate) are in the tables; each result has its id, the key to "
                     "use in an answers file for `bpwalk check`.", "")

    def _shape(self) -> str:
        sc = self.sc
        parts = [f"inputs {_names(sc.inputs)}"]
        parts += [f"layer {i + 1} {_names(lay.neurons)}" for i, lay in enumerate(sc.layers)]
        return sc.shape + ": " + "; ".join(parts)

    # -- the network: parameters and data (the given numbers, shown in a worksheet too)

    def network(self) -> None:
        sc = self.sc
        self.add("## The network", "", "### Parameters", "")
        rows = []
        for c in sc.connections:
            rows.append([code(f"param:{c.param}"), math(symbol(f"param:{c.param}", "latex")),
                         "1 (bias)" if c.source is None else code(c.source),
                         ", ".join(code(n) for n in c.targets),
                         self.num(self.trace.params_first[c.param])])
        self.add(*table(["Id", "Parameter", "From", "To", "Value"], rows))
        self.add("### Data", "")
        many = len(sc.x) > 1
        rows = []
        for s, (x, t) in enumerate(zip(sc.x.tolist(), sc.targets.tolist()), start=1):
            sfx = f"@{s}" if many else ""
            rows += [[code(f"in:{n}{sfx}"), math(symbol(f"in:{n}{sfx}", "latex")), self.num(v)]
                     for n, v in zip(sc.inputs, x)]
            rows += [[code(f"target:{n}{sfx}"), math(symbol(f"target:{n}{sfx}", "latex")),
                      self.num(v)] for n, v in zip(sc.outputs, t)]
        self.add(*table(["Id", "Quantity", "Value"], rows))

    # -- one update

    def iteration(self, it: Iteration) -> None:
        self.batch = len(it.samples) > 1
        samples = ", ".join(map(str, it.samples))
        self.add(f"## Update {it.number}", "",
                 f"Sample{'s' * (len(it.samples) != 1)} {samples} of the data.", "")
        for phase, steps in groupby(it.steps, key=lambda s: s.phase):
            self.add(f"### {PHASE_TITLES[phase]}", "")
            if phase == "backward":
                self.add(*self._backward_note(it))
            elif phase == "loss":
                self.add(math(loss_formula(self.sc.loss, "latex")), "")
            elif phase == "update" and not self.sc.optimizer.plain:
                self.add(f"The optimizer is {self.sc.optimizer.name} (as torch.optim computes "
                         f"it): {math(update_rule(self.sc.optimizer, 'latex'))}, with t = "
                         f"{it.number}, the number of this update. Its state carried in from "
                         "the last update comes first.", "")
            elif phase == "update":
                self.add("Every parameter takes a step against its gradient, scaled by the "
                         f"learning rate {math(symbol('lr', 'latex'))}: new value = old value "
                         f"- {math(symbol('lr', 'latex'))} times the gradient.", "")
            for key, group in groupby(steps, key=_group_key):
                self.group(key, list(group))
            if phase == "update" and not self.sc.update_biases:
                fixed = [math(symbol("param:" + b, "latex"))
                         for lay in self.sc.layers for b in lay.bias_names]
                if fixed:
                    self.add(f"{', '.join(fixed)} {'is' if len(fixed) == 1 else 'are'} not "
                             "updated (`update_biases: false`).", "")

    def group(self, key: tuple, steps: list[Step]) -> None:
        title = self._group_title(key)
        if title:
            self.add(f"#### {title}", "")
        phase, _, layer = key
        if phase == "forward" and layer is not None:
            act = self.sc.layers[layer - 1].activation
            self.add(f"{math(NET_RULE)}, then {math(activation_formula(act, 'latex'))}", "")
        for s in steps:
            self.add(self._display(formula(s, "latex", self.decimals)), "")
            short = shortcut(s, "latex", self.decimals)
            if short is not None:  # softmax with cross-entropy: delta = out - target
                self.add(self._display(short), "")
            if s.note:
                self.add(f"*Note: {text(s.note)}.*", "")
        header = ["Id", "Quantity", "Your answer" if self.blanks else "Value"]
        if self.rounded:
            header += ["Full precision", "Drift"]
        self.add(*table(header, (self._row(s) for s in steps)))

    def _display(self, f: Formula) -> str:
        parts = [f.lhs, f.symbolic] + ([BLANK_MATH] if self.blanks else [f.numeric, f.result])
        # "= 1 = 1" or a one-term sum's "= 0.4482 = 0.4482" says nothing twice
        kept = [p for i, p in enumerate(parts) if i == 0 or p != parts[i - 1]]
        return "$$" + " = ".join(kept) + "$$"

    def _row(self, s: Step) -> list[str]:
        row = [code(s.id), math(symbol(s.id, "latex")), "" if self.blanks else self.num(s.value)]
        if self.rounded:
            exact = "" if s.exact is None else self.num(s.exact)
            drift = "" if s.drift is None else number(s.drift, self.decimals, fixed=True)
            row += [exact, drift]
        return row

    def _group_title(self, key: tuple) -> str:
        phase, sample, layer = key
        sc = self.sc
        where = ""
        if layer == 0:  # dE/d(input) steps (input_gradients)
            where = f"Inputs {_names(sc.inputs)}: the gradient of the loss with respect to them"
        elif layer is not None:
            lay = sc.layers[layer - 1]
            role = "output layer" if layer == len(sc.layers) else "hidden layer"
            where = f"Layer {layer} ({role}): {_names(lay.neurons)}"
        if phase == "loss":
            where = "Outputs " + _names(sc.outputs)
        if sample is not None:
            return f"Sample {sample}: {where}" if where else f"Sample {sample}"
        if self.batch and phase in ("loss", "backward"):
            return f"The batch: {where}" if phase == "backward" else "The batch"
        return where

    def _backward_note(self, it: Iteration) -> tuple[str, ...]:
        first = "Output layer first, as the chain rule needs it."
        hidden = next((s for s in it.steps if s.kind == "dout" and s.fn == "sum"), None)
        if hidden is None:
            return (first, "")
        example = math(symbol(hidden.id, "latex"))
        note = (f"{first} The hidden neurons' sums, such as {example}, use the weights from "
                "before the update: every gradient of the update is found before any weight "
                "changes.")
        return (note, "")

    # -- summary and loss history

    def summary(self) -> None:
        tr = self.trace
        self.add("## Summary", "")
        if tr.round_to is not None and not self.blanks:
            self.add(f"Values as carried by the rounded calculation ({tr.round_to} decimals).", "")
        n = tr.total_iterations
        after = f"After {_plural(n, 'update')}"
        rows = [[code(f"param:{p}"), math(symbol(f"param:{p}", "latex")), self.num(v),
                 "" if self.blanks else self.num(tr.params_final[p]),
                 "" if self.blanks else self.num(tr.param_change[p])]
                for p, v in tr.params_first.items()]
        self.add(*table(["Id", "Parameter", "Before", after, "Change"], rows))
        if self.blanks:  # the worksheet asks for the loss its update computes, no more
            loss_rows = [["Before the first update", ""]]
        else:
            loss_rows = [["Before the first update", self.result_num(tr.loss_history[0])],
                         [after, self.result_num(tr.loss_history[-1])]]
        self.add(*table(["Loss on the data", math("E_{total}")], loss_rows))

    def loss_table(self) -> None:
        tr = self.trace
        if self.blanks or tr.total_iterations < 2:
            return
        shown = {it.number for it in tr.iterations}
        self.add(f"## Loss over the {tr.total_iterations} updates", "")
        rows = []
        for n in _history_rows(tr.total_iterations, shown):
            label = f"before update {n}" if n <= tr.total_iterations else \
                f"after update {tr.total_iterations}"
            mark = " (worked out above)" if n in shown else ""
            rows.append([label + mark, self.result_num(tr.loss_history[n - 1])])
        self.add(*table(["When", math("E_{total}")], rows))


def _names(names: Iterable[str]) -> str:
    return ", ".join(code(n) for n in names)


def _group_key(s: Step) -> tuple:
    """Steps that share a heading: by sample and layer (the loss: by sample)."""
    if s.phase == "loss":
        return (s.phase, s.sample, None)
    return (s.phase, s.sample, s.layer)


def _history_rows(total: int, shown: set[int]) -> list[int]:
    """Which rows of the loss history to print (1-based; total + 1 is 'after the last').

    Every update for short runs; for long ones the first few, round numbers (1, 2, 5 x 10^k),
    the shown ones and the end, so the table stays readable at 10,000 updates.
    """
    if total <= 20:
        return list(range(1, total + 2))
    picks = set(range(1, 6)) | shown | {total, total + 1}
    k = 10
    while k <= total:
        picks |= {k, 2 * k, 5 * k}
        k *= 10
    return sorted(p for p in picks if p <= total + 1)
