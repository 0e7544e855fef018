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

from bpwalk.notation import Formula, Pen, Profile, lookup, number, profile
from bpwalk.trace import Step, Trace
from bpwalk.views import outline
from bpwalk.views.outline import Group, Update

BLANK_MATH = r"\underline{\qquad\qquad}"  # where a worksheet's result goes
WORK = "Working: " + "_" * 62  # room to work under each blank (literal: no emphasis, no rule)
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|$#])")
_URL = re.compile(r"^(https?://[^\s<>]+?)([.,;:)]*)$")



def render(trace: Trace, decimals: int = 9, blanks: bool = False,
           notation: Profile | str | None = None, keep_zeros: bool = False) -> str:
    """The whole document as Markdown text (ends with one newline), in the notation of the
    profile `notation` or of its name (None: mazur)."""
    if getattr(trace.scenario, "graph", None) is not None and blanks:  # a circuit's sheet
        from bpwalk.views import circuit_sheet

        return circuit_sheet.markdown(trace, decimals, notation, keep_zeros)
    if getattr(trace.scenario, "graph", None) is not None:  # a circuit
        from bpwalk.views import circuit

        return circuit.markdown(trace, decimals, notation, keep_zeros)
    doc = _Doc(trace, decimals, blanks, Pen("latex", decimals, profile(notation, trace.scenario),
                                            keep_zeros, lookup(trace)))
    content = outline.document(trace, doc.pen.profile)
    doc.heading(content.heading)
    doc.network(content)
    for up in content.updates:
        doc.iteration(up)
    doc.summary(content.params)
    doc.loss_table()
    return "\n".join(doc.lines).rstrip("\n") + "\n"


# ----------------------------------------------------------------------------- text helpers


def text(s: str) -> str:
    """User text (title, source, description) made literal in Markdown; a web address becomes
    an autolink, inside which Markdown reads nothing (so its _ need no escaping)."""
    words = []
    for word in s.split():
        m = _URL.match(word)
        # a | would end a table cell even inside the link; %7C is the same address
        words.append(f"<{m.group(1).replace('|', '%7C')}>{m.group(2)}" if m else _escape(word))
    return " ".join(words)


def _escape(s: str) -> str:
    """Characters Markdown would read, made literal; spaces kept as they are."""
    return _MD_SPECIAL.sub(r"\\\1", s)


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
    pen: Pen

    def __post_init__(self) -> None:
        self.lines: list[str] = []
        # Drift columns only in a solution of a rounded trace; a worksheet has no values.
        self.rounded = self.trace.round_to is not None and not self.blanks
        self.batch = False  # the current update has several samples

    # -- small pieces

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def num(self, value: float) -> str:
        return self.pen.num(value)

    def sym(self, ref: str) -> str:
        return math(self.pen.sym(ref))

    def result_num(self, value: float) -> str:
        """A computed number outside the steps (loss history, final loss): in a rounded
        trace it is shown to the same D decimals as the steps, so nothing reads finer."""
        d = self.decimals if self.trace.round_to is None else min(self.decimals, self.trace.round_to)
        return number(value, d)

    # -- heading

    def heading(self, h: outline.Heading) -> None:
        self.head = h  # the outline's heading: names for the group titles
        self.optimizer = h.optimizer  # "" for plain SGD
        if self.blanks:
            self.add(f"# Worksheet: {text(outline.handout_title(h.title))}", "",
                     "Name: " + "_" * 40, "")
        else:
            self.add(f"# {text(h.title)}", "")
        if h.description:
            self.add(text(h.description), "")
        rows = []
        if h.source:
            rows.append(["Source", text(h.source)])
        rows.append(["Network", _shape(h)])
        rows.append(["Activations", "; ".join(
            f"layer {lay.number}: {lay.activation}"
            + (f" ({lay.parameter} {self.num(lay.slope)})" if lay.parameter else "")
            for lay in h.layers if lay.activated)])
        rows.append(["Loss", f"{code(h.loss)}: {math(self.pen.write(h.loss_rule))}"])
        if h.samples > 1:
            how = "full batch" if h.batch is None else f"batches of {h.batch}"
            rows.append(["Batch", (f"{_plural(h.samples, 'sample')}, {how}; the batch's loss "
                                   f"is the {h.reduction} of its samples' losses")])
        rows.append(["Learning rate", math(f"{self.pen.sym('lr')} = {self.num(h.learning_rate)}")])
        if h.optimizer_settings is not None:
            settings = self.pen.write(h.optimizer_settings)
            rows.append(["Optimizer", f"{code(h.optimizer)}: {math(settings)}"])
        rows.append(["Biases", {"fixed": "not updated (`update_biases: false`)"}.get(h.biases,
                                                                                     h.biases)])
        if self.pen.profile.name != "mazur":
            p = self.pen.profile
            rows.append(["Notation", f"{code(p.name)}: {text(p.source)}"])
        shown = ", ".join(map(str, h.shown))
        rows.append(["Updates", f"{h.updates} (worked out below: {shown})"])
        self.add(*table(["Scenario", ""], rows))
        if h.round_to is not None and not self.blanks:
            d = h.round_to
            self.add(f"> **Rounded to {d} decimals.** Every result below was rounded to {d} "
                     "decimals (half up) as soon as it was computed, and the rounded value was "
                     "used in every later step, as in a hand calculation. The *full precision* "
                     "column gives the value without any rounding; *drift* is rounded minus "
                     "full precision, the error that rounding has carried forward.", "")
        if self.blanks:
            self.add("> Work out every result on the line below its formula and write it in "
                     "the blank. The given numbers (inputs, targets, parameters, learning rate) "
                     "are in the tables.", "")

    # -- the network: parameters and data (the given numbers, shown in a worksheet too)

    def network(self, content: outline.Document) -> None:
        self.add("## The network", "", "### Parameters", "")
        rows = []
        for c in content.params:
            rows.append([*self.ids(f"param:{c.name}"), self.sym(f"param:{c.name}"),
                         "1 (bias)" if c.source is None else code(c.source),
                         ", ".join(code(n) for n in c.targets), self.num(c.before)])
        self.add(*table([*self.ids("Id"), "Parameter", "From", "To", "Value"], rows))
        self.add("### Data", "")
        many = len(content.samples) > 1
        rows = []
        for sample in content.samples:
            sfx = f"@{sample.number}" if many else ""
            rows += [[*self.ids(f"in:{n}{sfx}"), self.sym(f"in:{n}{sfx}"), self.num(v)]
                     for n, v in sample.inputs]
            rows += [[*self.ids(f"target:{n}{sfx}"), self.sym(f"target:{n}{sfx}"), self.num(v)]
                     for n, v in sample.targets]
        self.add(*table([*self.ids("Id"), "Quantity", "Value"], rows))

    def ids(self, ref: str) -> list[str]:
        """The id column's cell: none in a worksheet, a printed exercise (the answers
        template, --answers-template, holds the ids for `bpwalk check`)."""
        return [] if self.blanks else [ref if ref == "Id" else code(ref)]

    # -- one update

    def iteration(self, up: Update) -> None:
        self.batch = len(up.samples) > 1
        samples = ", ".join(map(str, up.samples))
        self.add(f"## Update {up.number}", "",
                 f"Sample{'s' * (len(up.samples) != 1)} {samples} of the data.", "")
        if up.params is not None:  # the weights this update starts from are not the table's
            self.add(f"Parameters at the start of update {up.number}:", "")
            self.add(*table([*self.ids("Id"), "Parameter", "Value"],
                            ([*self.ids(f"param:{p}"), self.sym(f"param:{p}"),
                              "" if self.blanks else self.num(v)]
                             for p, v in up.params.items())))
        for phase in up.phases:
            self.add(f"### {phase.title}", "")
            if phase.name == "update" and not self.optimizer:
                self.add("Every parameter takes a step against its gradient, scaled by the "
                         f"learning rate {self.sym('lr')}: {self.write(phase.rule)}.", "")
            elif phase.rule:
                self.add(self.write(phase.rule) + ("." if phase.name == "backward" else ""), "")
            for g in phase.groups:
                self.group(phase.name, g)
            for note in phase.after:
                self.add(self.write(note), "")

    def write(self, parts) -> str:
        """A caption or note of the outline: words escaped, formulas as inline math."""
        return "".join(_escape(p) if isinstance(p, str) else math(self.pen.write(p))
                       for p in parts)

    def group(self, phase: str, g: Group) -> None:
        title = outline.group_title(self.head, phase, g, self.batch, _names)
        if title:
            self.add(f"#### {title}", "")
        for caption in ([g.rule] if g.rule else []) + list(g.notes):
            self.add(self.write(caption), "")
        if g.grids and not self.blanks:  # an attention head's matrices (not a worksheet's:
            from bpwalk.views import attention  # they hold the answers)

            for grid in g.grids:
                self.add(*attention.markdown(grid, self.pen, self.write))
        for s in g.steps:
            self.add(self._display(self.pen.formula(s)), "")
            short = self.pen.shortcut(s)
            if short is not None:  # softmax with cross-entropy: delta = out - target
                self.add(self._display(short), "")
            if s.note:
                self.add(f"*Note: {text(s.note)}.*", "")
            if self.blanks:
                self.add(WORK, "")
        if self.blanks:  # each result is the blank of its formula: no table to fill twice
            return
        header = ["Id", "Quantity", "Value"]
        if self.rounded:
            header += ["Full precision", "Drift"]
        self.add(*table(header, (self._row(s) for s in g.steps)))

    def _display(self, f: Formula) -> str:
        parts = [f.lhs, f.symbolic] + ([BLANK_MATH] if self.blanks else [f.numeric, f.result])
        # "= 1 = 1" or a one-term sum's "= 0.4482 = 0.4482" says nothing twice
        kept = [p for i, p in enumerate(parts) if i == 0 or p != parts[i - 1]]
        tag = f" \\tag{{{f.label}}}" if f.label else ""  # Nielsen's BP1..BP4
        return "$$" + " = ".join(kept) + tag + "$$"

    def _row(self, s: Step) -> list[str]:
        row = [code(s.id), self.sym(s.id), self.num(self.pen.value(s))]
        if self.rounded:
            exact = "" if s.exact is None else self.num(s.exact)
            drift = "" if s.drift is None else _minus(number(s.drift, self.decimals, fixed=True))
            row += [exact, drift]
        return row

    # -- summary and loss history

    def summary(self, params: Iterable[outline.Param]) -> None:
        tr = self.trace
        self.add("## Summary", "")
        if tr.round_to is not None and not self.blanks:
            self.add(f"Values as carried by the rounded calculation ({tr.round_to} decimals).", "")
        n = tr.total_iterations
        after = f"After {_plural(n, 'update')}"
        rows = [[*self.ids(f"param:{c.name}"), self.sym(f"param:{c.name}"), self.num(c.before),
                 "" if self.blanks else self.num(c.after),
                 "" if self.blanks else self.num(c.change)]
                for c in params]
        self.add(*table([*self.ids("Id"), "Parameter", "Before", after, "Change"], rows))
        if self.blanks:  # the worksheet asks for the loss its update computes, no more
            loss_rows = [["Before the first update", ""]]
        else:
            loss_rows = [["Before the first update", self.result_num(tr.loss_history[0])],
                         [after, self.result_num(tr.loss_history[-1])]]
        self.add(*table(["Loss on the data", self.sym("loss")], loss_rows))

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
            loss = tr.loss_after(n - 1)
            if loss is not None:  # a run past engine.MAX_HISTORY keeps some losses only
                rows.append([label + mark, self.result_num(loss)])
        self.add(*table(["When", self.sym("loss")], rows))


def _shape(h: outline.Heading) -> str:
    parts = [f"inputs {_names(h.inputs)}"]
    parts += [f"layer {lay.number} {_names(lay.neurons)}" for lay in h.layers]
    return h.shape + ": " + "; ".join(parts)


def _names(names: Iterable[str]) -> str:
    return ", ".join(code(n) for n in names)


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


def _minus(text: str) -> str:
    """A number in a table's text cell (not math) with a true minus sign, as printed."""
    return "−" + text[1:] if text.startswith("-") else text
