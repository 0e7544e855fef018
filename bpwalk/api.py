"""bpwalk from Python and notebooks.

    >>> import bpwalk
    >>> walk = bpwalk.load("mazur").run()          # a bundled name or a scenario file
    >>> walk.trace.iterations[0].step("out:o1").value
    0.7513650695523157
    >>> page = walk.to_html()                       # also to_markdown(), to_json(), to_pdf()

A PyTorch nn.Sequential becomes a scenario with ``bpwalk.from_torch(model, x, y)`` (a
Problem too, whose ``.to_yaml()`` is the file; bpwalk.fromtorch, torch optional).

In Jupyter or Colab a Walkthrough shows the stepping page inline (``_repr_html_``).
Bad input raises ``bpwalk.scenario.ScenarioError`` (a scenario file, or a path that cannot be
read) or ``ValueError`` (bpwalk.runopts.RunOptionError for a run option: the command line's
limits and messages).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bpwalk.scenario import Scenario
from bpwalk.trace import Trace

if TYPE_CHECKING:
    from bpwalk.notation import Profile

FORMATS = ("md", "json", "html", "pdf")


def load(path_or_name: str | Path) -> Problem:
    """A scenario from a YAML file, or a bundled example by name ("mazur")."""
    from bpwalk.scenario import load as load_file
    from bpwalk.scenario import resolve

    path, shown = resolve(str(path_or_name))
    scenario = load_file(path, display_name=shown)
    return Problem(scenario, path.read_text(encoding="utf-8"))


def document(trace: Trace, fmt: str, decimals: int = 9, blanks: bool = False,
             notation: Profile | str | None = None, keep_zeros: bool = False,
             key: bool = False, matrix: bool = False, paper: str = "a4") -> str | bytes:
    """The trace as a document: "md", "json", "html" (text) or "pdf" (bytes; needs a local
    Chromium or Chrome, else bpwalk.browser.BrowserError). `blanks`: the worksheet;
    `key`: its answer key (a page laid out as the worksheet, every result filled in; in
    Markdown the solution); `notation`: a profile or its name (None: mazur); `keep_zeros`:
    0.0310, not 0.031; `matrix`: the page opens in the matrix form (html, pdf); `paper`:
    the PDF's page size, "a4" or "letter"."""
    if matrix and getattr(trace.scenario, "shaped", False):
        raise ValueError(f"the matrix form does not write {trace.scenario.shaped_words} "
                         "yet; leave matrix out")
    if isinstance(notation, str):  # a name, resolved here once: the views take a Profile
        from bpwalk.notation import profile

        notation = profile(notation)
    if fmt == "json":
        from bpwalk.views import json as json_view

        return json_view.render(trace)
    if fmt == "md":
        from bpwalk.views import markdown

        return markdown.render(trace, decimals, blanks, notation, keep_zeros)
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not known; use one of {', '.join(FORMATS)}")
    from bpwalk.views import html as html_view

    if fmt == "html":
        return html_view.render(trace, decimals, blanks, notation, keep_zeros, key, matrix)
    page = html_view.render(trace, decimals, blanks, notation, keep_zeros, key, matrix, paper)
    from bpwalk.browser import to_pdf

    return to_pdf(page)


@dataclass(frozen=True)
class Problem:
    """A loaded, validated scenario, ready to run."""

    scenario: Scenario
    text: str | None = field(default=None, repr=False, compare=False)  # the scenario file

    def to_yaml(self) -> str:
        """The scenario file's text: as read by load, or as written by from_torch."""
        if self.text is None:
            raise ValueError("this problem was not read from a file; bpwalk.load or "
                             "bpwalk.from_torch give one with its text")
        return self.text

    def __repr__(self) -> str:
        return f"<Problem {self.scenario.name}: {self.scenario.shape}>"

    def run(self, iterations: int | None = None, show: str | Iterable[int] = "first",
            round_to: int | None = None, force: bool = False) -> Walkthrough:
        """Run the engine: `iterations` updates (default: the scenario's), explaining the
        updates in `show` ("first", "last", "all", "none", or update numbers) in full.

        The options are checked as the command line checks them, with its limits and its
        guard: explaining more than about 50 MB of steps needs `force=True` (--force). A
        bad option raises bpwalk.runopts.RunOptionError (a ValueError) with the command
        line's message."""
        from bpwalk.engine import run
        from bpwalk.runopts import checked

        n, shown, round_to = checked(self.scenario, iterations, show, round_to, force)
        return Walkthrough(run(self.scenario, iterations=n, show=shown, round_to=round_to))


@dataclass(frozen=True)
class Walkthrough:
    """A computed trace and its documents."""

    trace: Trace

    def to_markdown(self, decimals: int = 9) -> str:
        return document(self.trace, "md", decimals)  # type: ignore[return-value]

    def to_html(self, decimals: int = 9) -> str:
        return document(self.trace, "html", decimals)  # type: ignore[return-value]

    def to_json(self) -> str:
        return document(self.trace, "json")  # type: ignore[return-value]

    def to_pdf(self, decimals: int = 9) -> bytes:
        return document(self.trace, "pdf", decimals)  # type: ignore[return-value]

    def __repr__(self) -> str:
        """One line: what ran and what it did (the trace itself is thousands of numbers)."""
        t = self.trace
        steps = sum(len(it.steps) for it in t.iterations)
        n = t.total_iterations
        return (f"<Walkthrough {t.scenario.name}: {t.scenario.shape}, {n} update"
                f"{'s' * (n != 1)}, {steps} steps explained; loss {t.loss_history[0]:.6g} -> "
                f"{t.loss_history[-1]:.6g}>")

    def _repr_html_(self) -> str:
        import html  # a notebook's need only

        from bpwalk.views import html as html_view

        # In a frame of its own, so that the page's style, script and keys stay inside it;
        # compact: the picture beside the current step, the problem's tables folded away
        page = html_view.render(self.trace, compact=True)
        return (f'<iframe srcdoc="{html.escape(page, quote=True)}" title="bpwalk" '
                'style="width:100%;height:640px;border:1px solid #ddd"></iframe>')
