"""The bpwalk command line: parses options and calls the pieces; no math, no formatting.

Heavy modules (numpy, the engine, the views) are imported inside the commands, so that
``bpwalk --help`` and ``bpwalk --version`` answer at once.
"""

from __future__ import annotations

import errno
import gc
import io
import os
import signal
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperGroup
from typer.main import get_command_from_info, get_command_name

from bpwalk import __version__
from bpwalk.runopts import MAX_DECIMALS
from bpwalk.scenario.format import MAX_DRAWN_DECIMALS, MAX_ITERATIONS

try:  # typer 0.2x carries its own copy of click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer, with click installed beside it
    from click.exceptions import ClickException  # type: ignore[no-redef]

if TYPE_CHECKING:
    import click
    from typer.models import CommandInfo

    from bpwalk.judge import Report
    from bpwalk.notation import Profile
    from bpwalk.scenario import Scenario
    from bpwalk.trace import Trace


class _Commands(Mapping):
    """bpwalk's commands by name, each made into a click command when first asked for.

    Making one costs typer the function's signature and type hints, a few milliseconds a
    command; `bpwalk run` needs one of eight. The names alone serve did-you-mean.
    """

    def __init__(self, registry: typer.Typer) -> None:
        self.registry = registry
        self.made: dict[str, click.Command] = {}

    def _infos(self) -> dict[str, CommandInfo]:
        return {info.name or get_command_name(info.callback.__name__): info
                for info in self.registry.registered_commands}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self.made:
            self.made[name] = get_command_from_info(
                self._infos()[name], pretty_exceptions_short=app.pretty_exceptions_short,
                rich_markup_mode=app.rich_markup_mode)
        return self.made[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._infos())

    def __len__(self) -> int:
        return len(self.registry.registered_commands)


class _Group(TyperGroup):
    """The `bpwalk` group: its commands are those of `commands`, made on first use."""

    def __init__(self, **attrs) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # the names, in the order of this file


commands = typer.Typer()  # where the commands below are registered; _Group makes them

app = typer.Typer(
    cls=_Group,
    name="bpwalk",
    help="Backpropagation worked out step by step, with your numbers.\n\n"
    "A YAML scenario describes a tiny network (inputs, weights, biases, targets, activations, "
    "loss, learning rate); bpwalk computes every forward value, chain-rule derivative and "
    "updated weight, and shows how each was found.\n\n"
    "Start with:  bpwalk run mazur   ('bpwalk examples' lists the other examples)",
    no_args_is_help=True,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)

# ----------------------------------------------------------------------------- shared options

ScenarioArg = Annotated[
    str, typer.Argument(metavar="SCENARIO", help="A scenario YAML file (or a bundled example's name).")
]
IterationsOpt = Annotated[
    int | None,
    typer.Option("--iterations", "-n", min=1, max=MAX_ITERATIONS, metavar="N",
                 help="Number of updates to run (default: the scenario's 'iterations', else 1)."),
]
ShowOpt = Annotated[
    str,
    typer.Option("--show", metavar="WHICH",
                 help="Updates to explain in full: first, last, all, none, or numbers like 1,5,10."),
]
RoundOpt = Annotated[
    int | None,
    typer.Option("--round", min=0, max=MAX_DECIMALS, metavar="D",
                 help="Round every result to D decimals as soon as it is computed and carry the "
                      "rounded value forward, as a hand calculation does."),
]

DecimalsOpt = Annotated[  # run, export and worksheet
    int | None,
    typer.Option("--decimals", min=0, max=MAX_DECIMALS, metavar="D",
                 help="Show numbers with D decimals, trailing zeros kept as a hand calculation "
                      "writes them (0.0310); default: up to 9, trailing zeros trimmed."),
]
InputGradOpt = Annotated[
    bool, typer.Option("--input-gradients",
                       help="Also work out dE/d(input), din:i1, after the backward pass (as "
                            "'input_gradients: true' in the scenario)."),
]
FormOpt = Annotated[
    str,
    typer.Option("--form", metavar="FORM",
                 help="scalar: one neuron and one weight at a time; matrix: each layer as "
                      "matrix equations (Z = W·A + b, δ = ∂E/∂A ⊙ f′(Z), ∂E/∂W = δ·Aᵀ) with "
                      "the numbers in the matrices and their shapes."),
]
IdsOpt = Annotated[
    bool, typer.Option("--ids", help="With --form matrix: write each matrix entry as the step "
                                     "id it equals (grad:w5) instead of its number."),
]
FORMS = ("scalar", "matrix")


def check_form(form: str, ids: bool) -> None:
    if form not in FORMS:
        raise fail(f"--form {form!r}: use scalar or matrix")
    if ids and form != "matrix":
        raise fail("--ids labels the entries of matrices; add --form matrix")


def matrix_form_of(sc: Scenario) -> None:
    """The matrix form writes plain gradient descent and no input gradients: refuse the
    rest rather than show an update the engine did not make."""
    if getattr(sc, "graph", None) is not None:
        raise fail(f"--form matrix writes a network's layers as matrices, and {sc.name} is a "
                   "circuit (graph:), which has none; use --form scalar")
    if getattr(sc, "shaped", False):
        raise fail(f"--form matrix writes dense layers as matrices, and {sc.name} has "
                   f"{sc.shaped_words}, not written as matrices yet; use --form "
                   "scalar")
    if getattr(sc, "sequence", False) and sc.layers[0].kind == "attention":
        raise fail(f"{sc.name} is an attention head, whose matrices the scalar form already "
                   "shows (Q, K, V, S, P and their gradients, with each entry's step); use "
                   "--form scalar")
    if getattr(sc, "sequence", False):
        raise fail(f"--form matrix does not write a recurrent network's steps yet, and "
                   f"{sc.name} has an {sc.layers[0].kind} layer; use --form scalar")
    if not sc.optimizer.plain:
        raise fail(f"--form matrix writes plain gradient descent, and {sc.name} uses "
                   f"optimizer {sc.optimizer.name}; use --form scalar for its steps")
    if sc.input_gradients:
        raise fail("--form matrix does not write input gradients; use --form scalar, or "
                   "leave out --input-gradients")


PAPERS = ("a4", "letter")
PaperOpt = Annotated[
    str, typer.Option("--paper", metavar="SIZE",
                      help="With --format pdf: the page size, a4 (the default) or letter.")
]


def check_paper(paper: str, format: str) -> None:
    if paper not in PAPERS:
        raise fail(f"--paper {paper!r}: use a4 or letter")
    if paper != "a4" and format != "pdf":
        raise fail(f"--paper sets the size of a PDF's pages; add --format pdf (not {format})")


NotationOpt = Annotated[
    str | None,
    typer.Option("--notation", metavar="NAME",
                 help="Whose symbols to write the steps in: mazur (default), nielsen, ng, "
                      "han-kamber, mitchell or cs231n (wins over the scenario's 'notation:'). "
                      "Values never change, only how they are written."),
]


def notation_of(option: str | None, sc) -> Profile | None:
    """The profile to use, resolved here once for every view: the option's, else the
    scenario's, else None (mazur); a wrong name is a usage error with a did-you-mean."""
    name = option or sc.notation
    if name is None:  # the default: a JSON export need not load the notations
        return None
    from bpwalk.notation import UnknownProfile, profile

    try:
        chosen = profile(name)
    except UnknownProfile as e:
        raise fail(f"--notation: {e}") from None
    if getattr(sc, "sequence", False) and chosen.name not in SEQUENCE_NOTATIONS:
        what = "an attention head" if _first_kind(sc) == "attention" else \
            "a recurrent network"
        raise fail(f"--notation {chosen.name}: {what} is written in "
                   f"{', '.join(SEQUENCE_NOTATIONS)} only yet; choose one of them")
    return chosen


# the notations a recurrent network's or an attention head's steps are written in (checked:
# tests/test_recurrent.py, tests/test_attention.py)
SEQUENCE_NOTATIONS = ("mazur", "cs231n", "ng")


def _first_kind(sc) -> str:
    """A sequence's first layer's kind: rnn or attention."""
    return sc.layers[0].kind


def _shown(decimals: int | None) -> tuple[int, bool]:
    """(decimals, keep trailing zeros): a D given keeps them, the default trims."""
    return (9, False) if decimals is None else (decimals, True)


def _output_path(value: str) -> Path:
    if value.endswith(("/", os.sep)):  # Path() would drop the slash and write a file "dir"
        raise typer.BadParameter(f"{value!r} names a folder; give a file name, like "
                                 f"{value}trace.md")
    return Path(value)


OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", metavar="FILE", parser=_output_path,
                              help="Write to FILE (atomically) instead of stdout."),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress bar on stderr while a long run trains "
                                             "(there is none in a pipe either).")
]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Explain even when the output would pass 50 MB.")
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bpwalk {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True,
                           help="Print bpwalk's version and exit.")
    ] = False,
) -> None:
    """Backpropagation worked out step by step, with your numbers."""


# ----------------------------------------------------------------------------- helpers


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line error on stderr; the caller raises the returned Exit. Control
    characters (from a file name, say) are escaped: they must not drive the terminal."""
    say(message)
    return typer.Exit(code)


def say(message: str, err: bool = True) -> None:
    """A line for the user (stderr unless `err` is False), control characters escaped like
    fail()'s: a file name in it must not drive the terminal."""
    from bpwalk.scenario.errors import printable

    typer.echo(printable(message), err=err)


def load_scenario(name: str, writes: tuple[Path | None, ...] = (),
                  input_gradients: bool = False) -> Scenario:
    """The scenario `name` names; refuses when one of `writes` (the outputs) is that file;
    --input-gradients turns the scenario's input_gradients on."""
    from bpwalk.scenario import ScenarioError, load, resolve
    from bpwalk.scenario.examples import shadows

    try:
        path, shown = resolve(name)
    except ScenarioError as e:
        raise fail(str(e)) from None
    outputs = [output for output in writes if output is not None]
    if outputs:  # (bpwalk.files, the atomic writes, is loaded when there is a file to write)
        from bpwalk.files import same_file
    for output in outputs:
        if same_file(output, path):
            raise fail(f"{output}: is the scenario this command reads; write to another file")
    if shadows(name, path):
        say(f"note: {name} is the file in this folder, not the bundled example of that "
            "name; rename the file to run the bundled one")
    try:
        sc = load(path, display_name=shown)
    except ScenarioError as e:
        raise fail(str(e)) from None
    if input_gradients and getattr(sc, "sequence", False):
        raise fail(f"--input-gradients: dE/d(input) is not worked out through an "
                   f"{_first_kind(sc)} layer yet, and {sc.name} has one; leave the option out")
    if input_gradients and not sc.input_gradients:
        from dataclasses import replace

        from bpwalk.scenario.shaped import INPUT_GRADIENT_KINDS, NO_INPUT_GRADIENTS

        if getattr(sc, "shaped", False) and sc.layers[0].kind not in INPUT_GRADIENT_KINDS:

            raise fail("--input-gradients: " + NO_INPUT_GRADIENTS.replace(
                "remove input_gradients", "leave it out"))
        sc = replace(sc, input_gradients=True)
    return sc


def compute(scenario: Scenario, iterations: int | None, show: str, round_to: int | None,
            force: bool = False, quiet: bool = True, notation: Profile | None = None,
            fmt: str = "") -> tuple[Trace, str]:
    """The trace, and "" or, when Ctrl-C stopped training early, what to say on leaving.

    The options are checked as the Python API checks them (bpwalk.runopts); `fmt` is the
    output's format, for the size guard's estimate. A run longer than a second shows a
    progress bar on stderr (a terminal's, unless quiet); a run that diverged, its loss
    table, written in `notation` (notation_of's).
    """
    from bpwalk.engine import EngineError, run
    from bpwalk.runopts import RunOptionError, checked
    from bpwalk.views.progress import Watch

    try:
        n, shown, round_to = checked(scenario, iterations, show, round_to, force, fmt)
    except RunOptionError as e:
        raise fail(str(e)) from None
    try:
        watch = Watch(n, bar=not quiet)
        with watch:
            trace = run(scenario, iterations=n, show=shown, round_to=round_to, watch=watch)
    except EngineError as e:
        if len(e.history) > 1:  # training diverged: show how, on stderr (stdout may be data)
            from bpwalk.notation import Pen, profile
            from bpwalk.views.terminal import console, loss_history

            err = console(stderr=True)
            pen = Pen("unicode", 6, profile(notation))
            err.print(*loss_history(e.history, err.width, pen, e.updates,
                                    "Loss until training stopped"))
        raise fail(f"{scenario.path}: {e}") from None
    made = trace.total_iterations
    return trace, (f"interrupted after {made:,} of {n:,} updates" if watch.stopped else "")


def emit(text: str | bytes, output: Path | None) -> None:
    """Write to stdout, or atomically to a file (a failed write leaves the old file intact)."""
    if output is None:
        if isinstance(text, bytes):  # a PDF
            sys.stdout.flush()
            sys.stdout.buffer.write(text)
        else:
            sys.stdout.write(text)
        return
    from bpwalk.files import OutputError, write_atomic

    try:
        write_atomic(output, text)
    except OutputError as e:
        raise fail(str(e)) from None


# ----------------------------------------------------------------------------- commands


PHASE_CHOICES = ("forward", "loss", "backward", "update")


@commands.command()
def run(
    scenario: ScenarioArg,
    iterations: IterationsOpt = None,
    show: ShowOpt = "first",
    round_to: RoundOpt = None,
    input_gradients: InputGradOpt = False,
    decimals: DecimalsOpt = None,
    notation: NotationOpt = None,
    ascii: Annotated[
        bool, typer.Option("--ascii", help="Plain ASCII notation (dE/dw5, eta) instead of Unicode.")
    ] = False,
    phase: Annotated[
        str | None, typer.Option("--phase", metavar="PHASE",
                                    help="Show only one part of each update: forward, loss, "
                                         "backward or update.")
    ] = None,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="No colour or bold, even on a terminal "
                                              "(NO_COLOR does the same).")
    ] = False,
    step: Annotated[
        bool, typer.Option("--step", help="Step through the solution one key press at a time "
                                          "(n next, b back, ] [ pass, g go to, ? keys, q quit).")
    ] = False,
    quiz: Annotated[
        bool, typer.Option("--quiz", help="With --step: type each value before it is revealed; "
                                          "bpwalk check's judge marks it and names the mistake.")
    ] = False,
    force: ForceOpt = False,
    form: FormOpt = "scalar",
    ids: IdsOpt = False,
    quiet: QuietOpt = False,
    entries: Annotated[
        bool, typer.Option("--entries", help="An attention head: each entry's step, with its "
                                             "formula and numbers, after its matrices (shown "
                                             "alone by default).")
    ] = False,
) -> None:
    """The worked solution in the terminal, step by step.

    Each quantity is written as its formula, the numbers substituted, and the result.
    """
    if phase is not None and phase not in PHASE_CHOICES:
        raise fail(f"--phase {phase!r}: use one of {', '.join(PHASE_CHOICES)}")
    if quiz and not step:
        raise fail("--quiz works while stepping; use: bpwalk run SCENARIO --step --quiz")
    check_form(form, ids)
    if phase == "loss" and form == "matrix":
        raise fail("--phase loss: the loss is one number per sample, with no matrix equation; "
                   "use --form scalar, or --phase forward, backward or update")
    if step and form == "matrix":
        raise fail("--step walks through the scalar steps; run --form matrix without --step")
    if step:
        from bpwalk.stepper import not_a_terminal

        not_tty = not_a_terminal()
        if not_tty:
            raise fail(f"--step needs a terminal, and {not_tty}; "
                       "run without --step to print the whole solution")
        if show.strip().lower() == "none":
            raise fail("--step walks through explained updates, and --show none explains none; "
                       "use --show first, last, all or update numbers")
    sc = load_scenario(scenario, input_gradients=input_gradients)
    attention = getattr(sc, "sequence", False) and sc.layers[0].kind == "attention"
    if entries and not attention:
        raise fail(f"--entries shows an attention head's entries one by one, and {sc.name} "
                   "has none; leave it out")
    if form == "matrix" and attention:
        form = "scalar"  # the head's matrices are its run's default form already
    elif form == "matrix":
        matrix_form_of(sc)
    notation = notation_of(notation, sc)
    trace, stopped = compute(sc, iterations, show, round_to, force, quiet, notation)
    if stopped and step:
        raise fail(stopped, 130)
    decimals, keep_zeros = _shown(decimals)
    if step:
        from bpwalk import stepper

        style = "ascii" if ascii else "unicode"
        if quiz:
            from bpwalk import quiz as quiz_mode

            code = quiz_mode.run(trace, sc, round_to, style, decimals, phase, no_color, notation,
                                 keep_zeros)
        else:
            code = stepper.run(trace, style, decimals, phase, no_color, notation, keep_zeros)
        if code == 130:
            raise fail("interrupted", 130)
        raise typer.Exit(code)
    from bpwalk.views import terminal

    console = terminal.console(no_color=no_color)
    if form == "matrix":
        from bpwalk.views.matrix import MatrixWalkthrough

        console.print(MatrixWalkthrough(trace, style="ascii" if ascii else "unicode",
                                        decimals=decimals, phase=phase, ids=ids,
                                        notation=notation, keep_zeros=keep_zeros))
    else:
        console.print(terminal.Walkthrough(trace, style="ascii" if ascii else "unicode",
                                           decimals=decimals, phase=phase, notation=notation,
                                           keep_zeros=keep_zeros,
                                           entries=entries or not attention))
    if stopped:  # Ctrl-C: the updates made so far were printed; exit as interrupted
        raise fail(stopped, 130)


@commands.command()
def export(
    scenario: ScenarioArg,
    format: Annotated[
        str, typer.Option("--format", "-f", metavar="FORMAT",
                          help="md: Markdown with LaTeX math; html: one self-contained page "
                               "that steps and prints; pdf: that page printed (needs Chromium "
                               "or Chrome); json: the trace, for programs.")
    ] = "json",
    output: OutputOpt = None,
    iterations: IterationsOpt = None,
    show: ShowOpt = "first",
    round_to: RoundOpt = None,
    decimals: DecimalsOpt = None,
    input_gradients: InputGradOpt = False,
    notation: NotationOpt = None,
    force: ForceOpt = False,
    form: FormOpt = "scalar",
    ids: IdsOpt = False,
    quiet: QuietOpt = False,
    paper: PaperOpt = "a4",
) -> None:
    """Export the solution: Markdown, an HTML page, PDF or JSON.

    The JSON trace keeps every number at full precision; --decimals applies to the others.
    --form matrix with html or pdf: the page holds both forms and opens in the matrix form.
    """
    _check_format(format, output)
    check_form(form, ids)
    check_paper(paper, format)
    sc = load_scenario(scenario, writes=(output,), input_gradients=input_gradients)
    if form == "matrix":
        matrix_form_of(sc)
    notation = notation_of(notation, sc)
    trace, stopped = compute(sc, iterations, show, round_to, force, quiet, notation,
                             "md" if form == "matrix" else format)
    if stopped:  # a partial trace is not what was asked for: nothing is written
        raise fail(f"{stopped}; nothing written", 130)
    if form == "matrix" and format in ("md", "json"):
        from bpwalk.views import matrix as matrix_view

        digits, keep_zeros = _shown(decimals)
        emit(matrix_view.markdown(trace, digits, ids, notation=notation, keep_zeros=keep_zeros)
             if format == "md" else matrix_view.render_json(trace), output)
        return
    emit(_document(trace, format, decimals, notation, matrix=form == "matrix", paper=paper),
         output)


def _check_format(format: str, *outputs: Path | None) -> None:
    from bpwalk.api import FORMATS

    if format not in FORMATS:
        raise fail(f"--format {format!r} is not known; use {', '.join(FORMATS)}")
    if format == "pdf" and None in outputs and sys.stdout.isatty():
        raise fail("--format pdf writes a binary file; give it a name with -o FILE.pdf")


def _document(trace: Trace, format: str, decimals: int | None, notation: Profile | None,
              blanks: bool = False, key: bool = False, matrix: bool = False,
              paper: str = "a4") -> str | bytes:
    from bpwalk.api import document
    from bpwalk.browser import BrowserError

    decimals, keep_zeros = _shown(decimals)
    try:
        return document(trace, format, decimals, blanks, notation, keep_zeros, key, matrix,
                        paper)
    except BrowserError as e:
        raise fail(str(e)) from None


@commands.command()
def worksheet(
    scenario: ScenarioArg,
    output: OutputOpt = None,
    format: Annotated[
        str, typer.Option("--format", "-f", metavar="FORMAT",
                          help="md, html (a printable page) or pdf (needs Chromium or Chrome).")
    ] = "md",
    key: Annotated[
        Path | None, typer.Option("--key", metavar="FILE",
                                  help="Also write the answer key: the worked solution, in the "
                                       "same format (html, pdf: a handout laid out like the "
                                       "worksheet, every result filled in).")
    ] = None,
    answers_template: Annotated[
        Path | None, typer.Option("--answers-template", metavar="FILE",
                                     help="Also write a YAML answers file with every step id "
                                          "and no values, ready for 'bpwalk check'.")
    ] = None,
    decimals: DecimalsOpt = None,
    notation: NotationOpt = None,
    force: ForceOpt = False,
    form: FormOpt = "scalar",
    paper: PaperOpt = "a4",
) -> None:
    """Write a printable worksheet with blanks where the results go.

    The first update's formulas, the given numbers, the network and a space for each result;
    --key writes the matching answer key; --answers-template the answers file for 'bpwalk
    check'.
    """
    named = [p.resolve() for p in (output, key, answers_template) if p is not None]
    if len(set(named)) < len(named):
        raise fail("one file given for both of -o, --key and --answers-template; "
                   "use a different name for each")
    if format not in ("md", "html", "pdf"):
        raise fail(f"--format {format!r} is not known for a worksheet; use md, html or pdf")
    _check_format(format, output)
    check_form(form, False)
    check_paper(paper, format)
    if form == "matrix" and format != "md":
        raise fail(f"--form matrix worksheets are Markdown, not {format}; use --format md")
    sc = load_scenario(scenario, writes=(output, key, answers_template))
    if form == "matrix":
        matrix_form_of(sc)
    notation = notation_of(notation, sc)
    trace, _ = compute(sc, 1, "first", None, force, notation=notation, fmt=format)
    from bpwalk.files import OutputError, write_together
    from bpwalk.views import answers

    if form == "matrix":
        from bpwalk.views import matrix as matrix_view

        digits, keep_zeros = _shown(decimals)
        sheet = matrix_view.markdown(trace, digits, blanks=True, notation=notation,
                                     keep_zeros=keep_zeros)
        solution = matrix_view.markdown(trace, digits, notation=notation, keep_zeros=keep_zeros)
        template = matrix_view.answers_template(trace, notation)
    else:
        sheet = _document(trace, format, decimals, notation, blanks=True, paper=paper)
        solution = (_document(trace, format, decimals, notation, key=True, paper=paper)
                    if key is not None else "")
        template = answers.render(trace)
    others = [(path, text) for path, text in ((key, solution), (answers_template, template))
              if path is not None]
    if not others:
        emit(sheet, output)
        return
    # All the files or none: a worksheet whose -o fails must not leave a key or template alone.
    try:
        write_together(others + ([(output, sheet)] if output is not None else []))
    except OutputError as e:
        raise fail(str(e)) from None
    if output is None:
        emit(sheet, None)


@commands.command()
def validate(
    scenarios: Annotated[
        list[str], typer.Argument(metavar="SCENARIO...", help="Scenario files to check.")
    ],
) -> None:
    """Check scenario files; report every problem found (exit 2 if any)."""
    from bpwalk.scenario import ScenarioError, load, resolve

    bad = 0
    for name in scenarios:
        try:
            path, shown = resolve(name)
            sc = load(path, display_name=shown)
        except ScenarioError as e:
            typer.echo(str(e), err=True)
            bad += 1
            continue
        if getattr(sc, "graph", None) is not None:  # a circuit
            say(f"{shown}: ok ({sc.shape}, {len(sc.param_names)} "
                f"param{'s' * (len(sc.param_names) != 1)})", err=False)
            continue
        say(f"{shown}: ok ({sc.shape} network, {len(sc.param_names)} parameters, {len(sc.x)} "
            f"sample{'s' * (len(sc.x) != 1)})", err=False)
    if bad:
        raise typer.Exit(2)


MAX_UPDATE = 10**6  # check --update K runs K updates: keep it to seconds


@commands.command()
def check(
    scenario: ScenarioArg,
    answers: Annotated[
        list[Path], typer.Argument(metavar="ANSWERS...",
                                   help="YAML files of 'step-id: number' lines (e.g. "
                                        "'grad:w5: 0.0822'), one per student; with --from, "
                                        "one CSV.")
    ],
    format: Annotated[
        str, typer.Option("--format", "-f", metavar="FORMAT",
                          help="Output format: text, json, csv (one row per file, for a "
                               "gradebook) or html (a class report page).")
    ] = "text",
    output: OutputOpt = None,
    update: Annotated[
        int, typer.Option("--update", min=1, max=MAX_UPDATE, metavar="K",
                          help="Mark the answers for update K (after K - 1 updates).")
    ] = 1,
    round_to: Annotated[
        int | None,
        typer.Option("--round", min=0, max=MAX_DECIMALS, metavar="D",
                     help="Also accept the values of a calculation rounded to D decimals at "
                          "every step (rounding drift). Answers are always compared with that "
                          "rounding at their own decimals too."),
    ] = None,
    notation: NotationOpt = None,
    source: Annotated[
        str | None, typer.Option("--from", metavar="LMS",
                                 help="ANSWERS is one CSV from a course platform: moodle (the "
                                      "quiz's Responses report, with Question text shown) or "
                                      "canvas (a classic quiz's Student Analysis); one row "
                                      "per student.")
    ] = None,
    ask: Annotated[
        str | None, typer.Option("--ask", metavar="WHAT",
                                 help="With --from moodle: the --ask given to 'bpwalk lms' "
                                      "(its blanks, in order).")
    ] = None,
) -> None:
    """Mark students' answers and name the first mistake in each file.

    One file: every answer and its verdict. Several files: one row each.

    Answers may use the notation's names (Err:o1 under han-kamber,
    dz_o1 under ng) and its sign convention (Han & Kamber's Err = -dE/dI).

    A 'seed: N' line in an answers file: marked against 'bpwalk new --seed N'
    with SCENARIO's other options (SCENARIO made by 'bpwalk new').

    Exit 0: all right; 1: a wrong answer; 2: bad input, a file with nothing
    filled in too (the other files are still marked).
    """
    if format not in CHECK_FORMATS:
        raise fail(f"--format {format!r} is not known; use text, json, csv or html")
    _refuse_swapped(scenario, answers)
    sc = load_scenario(scenario, (output,))
    notation = notation_of(notation, sc)
    from bpwalk.engine import collector_paused
    from bpwalk.views import check as check_view

    judges: dict = {}  # by seed: one Judge per problem
    # The judges keep what they make (traces, verdicts, their formulas) until the reports
    # are shown: the collector's passes over it, while it grows, find nothing to free (they
    # took a third of the marking of 50,000 answers). One pass at the end, after the traces.
    with collector_paused():
        if source is not None:
            files = _from_lms(source, answers, sc, judges, ask)
        else:
            files = [_file_mark(path, sc, judges, round_to, update, notation)
                     for path in answers]
        # the class page's step order; then the engine's traces are freed, the reports
        # shown without them (a wide network's is 150 MB, on top of the text of 50,000
        # results)
        steps = list(next(iter(judges.values())).order) if judges and format == "html" else []
        judges.clear()
    gc.collect()
    bad = sum(f.report is None for f in files)
    if len(files) == 1 and bad and format == "text" and source is None:
        raise typer.Exit(2)
    if format == "json":
        emit(check_view.render_json(files, many=len(files) > 1 or source is not None), output)
    elif format == "csv":
        emit(check_view.render_csv(files), output)
    elif format == "html":
        from bpwalk.views import class_report

        emit(class_report.render(sc, files, steps, update, "student" if source else "file"),
             output)
    else:
        from bpwalk.views import terminal

        marked = files[0].report
        shown = (check_view.render(marked, files[0].name) if len(files) == 1 and marked
                 else check_view.render_class(files, "student" if source else "file"))
        if output is None:
            terminal.console().print(shown)
        else:  # the table as plain text, 80 columns
            out = terminal.console(no_color=True, file=io.StringIO(), width=80)
            out.print(shown)
            emit(out.file.getvalue(), output)
    raise typer.Exit(2 if bad else 0 if all(f.report.all_correct for f in files) else 1)


CHECK_FORMATS = ("text", "json", "csv", "html")


def _from_lms(source: str, answers: list[Path], sc: Scenario, judges: dict,
              ask: str | None) -> list:
    """One row per student of a course platform's export, marked by the judge."""
    from bpwalk.judge import Judge
    from bpwalk.lms import LmsError, asked_steps
    from bpwalk.lms import responses as lms_responses
    from bpwalk.scenario import ScenarioError
    from bpwalk.views.check import FileMark

    if source not in lms_responses.SOURCES:
        raise fail(f"--from {source!r} is not known; use moodle or canvas")
    if len(answers) != 1:
        raise fail(f"--from {source} reads one CSV file; {len(answers)} were given")
    path = answers[0]
    judges[None] = Judge(sc)
    try:
        asked = asked_steps(judges[None], ask)
        subs = (lms_responses.read_moodle(path, asked) if source == "moodle"
                else lms_responses.read_canvas(path))
    except LmsError as e:
        raise fail(str(e)) from None
    except ScenarioError as e:
        raise fail(str(e)) from None
    if source == "canvas":
        asked = list(dict.fromkeys(step for sub in subs for _, step, _ in sub.answers))
    files = []
    for sub in subs:
        if not sub.answers:
            files.append(FileMark(sub.name, None, len(asked), "nothing filled in"))
            continue
        try:
            files.append(FileMark(sub.name, lms_responses.mark(sc, sub, judges, len(asked),
                                                               str(path))))
        except ScenarioError as e:
            typer.echo(str(e), err=True)
            files.append(FileMark(sub.name, None, problem=e.problems[0].message,
                                  readable=False))
    if not files:
        raise fail(f"{path}: no student's row in it")
    return files


class _NothingFilled(Exception):
    """An answers file read well but with no answer filled in (`check` reports it as blank)."""

    def __init__(self, message: str, asked: int):
        super().__init__(message)
        self.asked = asked


def _file_mark(path: Path, sc: Scenario, judges: dict, round_to: int | None, update: int,
               notation: str | None):
    """One file's row: marked, blank, or unreadable (said on stderr as it is found)."""
    from bpwalk.engine import EngineError
    from bpwalk.scenario import ScenarioError
    from bpwalk.scenario.errors import printable
    from bpwalk.views.check import FileMark

    try:
        return FileMark(str(path), _marked(path, sc, judges, round_to, update, notation))
    except _NothingFilled as e:
        typer.echo(printable(str(e)), err=True)
        return FileMark(str(path), None, e.asked, "nothing filled in")
    except ScenarioError as e:
        typer.echo(str(e), err=True)
        more = len(e.problems) - 1
        why = e.problems[0].message + (f" (and {more} more problem{'s' * (more != 1)})"
                                       if more else "")
        return FileMark(str(path), None, problem=printable(why), readable=False)
    except EngineError as e:
        typer.echo(printable(f"{sc.path}: {e}"), err=True)
        return FileMark(str(path), None, problem=printable(str(e)), readable=False)


def _refuse_swapped(scenario: str, answers: list[Path]) -> None:
    """`bpwalk check answers.yaml mazur`: say in one line that the scenario comes first,
    rather than list every step id of the answers file as an unknown scenario key."""
    from bpwalk.scenario import ScenarioError, read_answers

    if not Path(scenario).is_file() or not answers:
        return
    try:
        given, _ = read_answers(scenario)
    except (ScenarioError, OSError, UnicodeError):
        return
    keys = [a.key for a in given]
    # step ids (net:h1) hold a colon, which no scenario key does
    if 2 * sum(":" in k for k in keys) > len(keys):
        rest = " ..." if len(answers) > 1 else ""
        raise fail(f"{scenario}: is an answers file, not a scenario; the scenario comes first: "
                   f"bpwalk check {answers[-1]} {scenario}{rest}")


def _marked(path: Path, sc: Scenario, judges: dict, round_to: int | None, update: int,
            notation: Profile | None) -> Report:
    """One answers file marked. Its problems (bad lines, a bad seed, unknown ids) come in
    one ScenarioError; so does a file with nothing filled in. `judges` are kept by seed,
    for the other files of a class."""
    from bpwalk import judge_matrix
    from bpwalk.judge import Judge
    from bpwalk.scenario import ScenarioError, read_answers

    answers_list, problems = read_answers(path)
    answers_list, seed, seed_problems = _split_seed(answers_list, str(path))
    problems += seed_problems
    blank = not any(a.value is not None or a.rows for a in answers_list)
    if (blank and answers_list and not problems and seed not in judges
            and sc.steps_per_update() > BLANK_BEFORE_ENGINE):
        # a wide network's blank file is said before the engine runs (a 75k-id template took
        # 48 s; its ids are not checked then), the ids it lists counted as the steps asked
        raise _nothing_filled_in(path, len(answers_list), len(answers_list))
    if seed not in judges:
        judges[seed] = Judge(_seeded(sc, seed, str(path)), round_to, update, notation=notation)
    judge = judges[seed]
    try:  # unknown step ids, reported in the same round as the file's other problems
        # (answers written as matrices are checked as their entries' step ids)
        judge.resolve(judge_matrix.split(judge, answers_list, str(path), keep=True)[0],
                      str(path))
    except ScenarioError as e:
        problems += e.problems
    if problems:
        raise ScenarioError(sorted(problems, key=lambda p: (p.line or 0, p.column or 0)))
    if blank:  # (no id at all: every step of the update was asked)
        raise _nothing_filled_in(path, len(answers_list), len(judge.by_id))
    return judge.check(answers_list, str(path))


BLANK_BEFORE_ENGINE = 5_000  # steps an update explains: past this, a blank file is not run


def _nothing_filled_in(path: Path, blank: int, asked: int) -> _NothingFilled:
    from bpwalk.scenario import Problem

    return _NothingFilled(str(Problem(str(path), None, None,
                                      f"no answer is filled in ({blank} blank id"
                                      f"{'s' * (blank != 1)}); write the numbers you worked "
                                      "out after their ids, like 'net:h1: 0.3775'")), asked)


def _split_seed(answers: list, filename: str) -> tuple[list, int | None, list]:
    """An answers file's other lines, its 'seed: N' (the student's own problem), and the
    problem of a seed that is not one."""
    from bpwalk.scenario import Problem

    seeds = [a for a in answers if a.key == "seed"]
    if not seeds:
        return answers, None, []
    a, rest = seeds[0], [x for x in answers if x.key != "seed"]
    if a.text is None or not a.text.isdigit() or int(a.text) > 2**32 - 1:
        return rest, None, [Problem(filename, a.line, a.col,
                                    f"seed must be a whole number from 0 to {2**32 - 1} (the "
                                    f"--seed of 'bpwalk new'), not {a.text!r}")]
    return rest, int(a.text), []


def _seeded(sc: Scenario, seed: int | None, filename: str) -> Scenario:
    """The scenario the answers are about: SCENARIO, or its problem redrawn with `seed`."""
    if seed is None:
        return sc
    from bpwalk.scenario import Problem, ScenarioError, loads
    from bpwalk.template import PracticeError, redraw

    try:
        text = redraw(sc.source or "", seed)
    except PracticeError as e:
        raise ScenarioError([Problem(filename, None, None,
                                     f"has a seed, and {sc.path}'s source line cannot redraw "
                                     f"the problem: {e}; give the student's own scenario "
                                     "instead")]) from None
    if text is None:
        raise ScenarioError([Problem(filename, None, None,
                                     f"has a seed, but {sc.path} was not made by 'bpwalk new' "
                                     "(its source line does not say how); give the student's "
                                     "own scenario instead")])
    return loads(text, f"{sc.path} with seed {seed}")


@commands.command()
def lms(
    scenario: ScenarioArg,
    format: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT",
                                        help="moodle (Moodle XML, Cloze questions), qti (a QTI "
                                             "1.2 zip for Canvas) or prairielearn (a question "
                                             "folder).")],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FILE_OR_DIR",
                                         help="The file to write (a folder for prairielearn).")],
    variants: Annotated[int, typer.Option("--variants", min=1, max=500, metavar="N",
                                          help="How many variants (new numbers each); 1 "
                                               "without --seed: the scenario's own.")] = 1,
    seed: Annotated[int | None, typer.Option("--seed", min=0, max=2**32 - 1, metavar="S",
                                             help="The first variant's seed (default 1).")
                    ] = None,
    ask: Annotated[str | None, typer.Option("--ask", metavar="WHAT",
                                            help="What to ask: forward, loss, backward, update "
                                                 "or step ids, comma-separated (default: "
                                                 "every step).")] = None,
    decimals: Annotated[int | None, typer.Option("--decimals", min=1, max=9, metavar="D",
                                                 help="The decimals students give (default "
                                                      "6: at 4, a hidden layer's small deltas "
                                                      "hide most mistakes).")] = None,
    notation: NotationOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the output.")] = False,
) -> None:
    """Per-student problems for Moodle, Canvas or PrairieLearn.

    Each variant keeps SCENARIO's network and draws new numbers by the
    rules of 'bpwalk new --explain-rules', and records its seed. A named
    mistake's value is a wrong answer whose feedback names the mistake
    (Moodle, PrairieLearn). Marks come back with 'bpwalk check --from'.
    """
    from bpwalk.handwork import ASK_DECIMALS
    from bpwalk.lms import FORMATS, LmsError
    from bpwalk.lms import variants as draw

    if format not in FORMATS:
        raise fail(f"--format {format!r} is not known; use moodle, qti or prairielearn")
    if output.exists() and not force:
        raise fail(f"{output}: already exists; choose another name, or add --force")
    sc = load_scenario(scenario, (output,))
    if getattr(sc, "shaped", False):
        raise fail(f"bpwalk lms draws new numbers for dense networks, and {sc.name} has "
                   f"{sc.shaped_words}, which it does not draw yet")
    if getattr(sc, "sequence", False):
        raise fail(f"bpwalk lms does not draw variants of a recurrent network or an attention "
                   f"head yet, and {sc.name} has an {_first_kind(sc)} layer; export it with "
                   "'bpwalk worksheet' instead")
    notation = notation_of(notation, sc)
    if notation is not None:
        from bpwalk.notation import in_trace_sign, profile

        if any(in_trace_sign("1", kind, profile(notation, sc)) != "1" for kind in
               ("dout", "dact", "dnet", "grad")):
            raise fail(f"--notation {notation} writes some steps with the other sign; 'bpwalk "
                       "lms' asks values in the engine's sign: choose another notation")
    d = ASK_DECIMALS if decimals is None else decimals
    try:
        chosen, asked = draw(sc, variants, seed, ask, d)
    except LmsError as e:
        raise fail(str(e)) from None
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in sc.name) or "scenario"
    if format == "moodle":
        from bpwalk.lms import moodle

        emit(moodle.render(name, chosen, asked, d, notation), output)
    elif format == "qti":
        from bpwalk.lms import qti

        emit(qti.render(name, chosen, asked, d, notation), output)
    else:
        from bpwalk.files import OutputError
        from bpwalk.lms import prairielearn
        from bpwalk.scenario import resolve

        try:
            source = resolve(scenario)[0].read_text(encoding="utf-8")
            prairielearn.write(output, source, name, chosen, asked, d, notation)
        except OutputError as e:
            raise fail(str(e)) from None
        except OSError as e:
            raise fail(f"{output}: cannot write the question folder ({e.strerror})") from None
    typer.echo(f"wrote {output}: {len(chosen)} variant{'s' * (len(chosen) != 1)} of "
               f"{sc.name}, {len(asked)} step{'s' * (len(asked) != 1)} asked at {d} decimals",
               err=True)


@commands.command()
def examples(
    copy: Annotated[str | None, typer.Option("--copy", metavar="NAME",
                                             help="Write the bundled example NAME into DIR "
                                                  "(default: this folder), to edit it.")] = None,
    folder: Annotated[Path | None, typer.Argument(metavar="[DIR]", show_default=False,
                                                  help="Where --copy writes NAME.yaml.")] = None,
    force: Annotated[bool, typer.Option("--force", help="With --copy: overwrite.")] = False,
) -> None:
    """List the bundled examples; --copy NAME writes one out to edit."""
    import textwrap

    from bpwalk.scenario import ScenarioError, bundled_dir, bundled_names, load
    from bpwalk.scenario.errors import did_you_mean

    names = bundled_names()
    if copy is not None:
        if copy not in names:
            raise fail(f"--copy {copy!r}: no bundled example of that name"
                       f"{did_you_mean(copy, names)}; run 'bpwalk examples' for the list")
        target = (folder or Path(".")) / f"{copy}.yaml"
        if target.exists() and not force:
            raise fail(f"{target}: already exists; choose another DIR, or add --force")
        emit((bundled_dir() / f"{copy}.yaml").read_text(encoding="utf-8"), target)
        say(f"wrote {target}; edit it, then: bpwalk run {target}")
        return
    if folder is not None:
        raise fail(f"{folder}: a folder is for --copy NAME; use: bpwalk examples --copy NAME "
                   f"{folder}")
    width = max(len(n) for n in names)
    for name in names:
        try:
            description = load(bundled_dir() / f"{name}.yaml", display_name=name).description
        except ScenarioError as e:  # a broken bundled file is a bug; say so, keep listing
            description = f"(does not load: {e.problems[0].message})"
        # wrapped so that a long description stays inside 80 columns
        lines = textwrap.wrap(description, width=max(30, 78 - width)) or [""]
        typer.echo(f"{name:<{width}}  {lines[0]}")
        for line in lines[1:]:
            typer.echo(f"{'':<{width}}  {line}")
    first = "mazur" if "mazur" in names else names[0]
    typer.echo(f"\nRun one with: bpwalk run {first}   (every command takes a name or a path)")


@commands.command()
def new(
    file: Annotated[Path | None, typer.Argument(metavar="FILE", show_default=False,
                                                help="The scenario file to write.")] = None,
    shape: Annotated[str, typer.Option("--shape", metavar="SIZES",
                                       help="Layer sizes from inputs to outputs.")] = "2-2-1",
    activation: Annotated[str, typer.Option("--activation", metavar="NAME",
                                            help="Activation of the hidden layers (and of the "
                                                 "output layer unless the loss needs another).")
                          ] = "sigmoid",
    loss: Annotated[str, typer.Option("--loss", metavar="NAME",
                                      help="Loss; cross_entropy gives a softmax output layer.")
                    ] = "half_squared_error",
    seed: Annotated[int | None, typer.Option("--seed", min=0, max=2**32 - 1, metavar="N",
                                                help="Seed of the numbers (default: a new one, "
                                                     "written into the file).")] = None,
    decimals: Annotated[int, typer.Option("--decimals", min=1, max=MAX_DRAWN_DECIMALS,
                                          metavar="D", help="Decimals of the drawn numbers.")
                        ] = 2,
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
    graph: Annotated[bool, typer.Option("--graph", help="Write a practice circuit (a graph: "
                                        "scenario) instead of a network; --seed picks it "
                                        "(--shape, --activation, --loss and --decimals are "
                                        "for networks).")
                     ] = False,
    explain_rules: Annotated[bool, typer.Option("--explain-rules",
                                                help="Print the rules the drawn numbers meet, "
                                                     "and exit.")] = False,
) -> None:
    """Write a practice problem with random, hand-friendly numbers.

    A commented scenario file, reproducible from --seed; never overwrites without --force.
    The numbers are drawn again until they are worth working by hand (--explain-rules).
    """
    if explain_rules:
        from bpwalk.handwork import explain

        typer.echo(explain(), nl=False)
        return
    if file is None:
        raise fail("bpwalk new: give the FILE to write, like: bpwalk new practice.yaml")
    from bpwalk.practice import fresh_seed
    from bpwalk.template import PracticeError, graph_practice_text, practice_text

    if not file.name.isprintable():  # the name goes into the file's comments, one per line
        raise fail(f"{str(file)!r}: the name holds a control character or a line break; "
                   "choose a plain file name")
    if file.exists() and not force:
        raise fail(f"{file}: already exists; choose another name, or add --force to overwrite it")
    seed = fresh_seed() if seed is None else seed
    try:
        text = (graph_practice_text(seed, file.name) if graph else
                practice_text(shape, activation, loss, seed, decimals, file.name))
    except PracticeError as e:
        raise fail(str(e)) from None
    emit(text, file)
    say(f"wrote {file} (seed {seed}); work it out, then compare: bpwalk run {file}")


@commands.command()
def schema(output: OutputOpt = None) -> None:
    """Print a JSON Schema of the scenario format, for editors.

    Point the YAML language server at it to complete and check scenario files.
    """
    from bpwalk.scenario.examples import schema_path

    emit(schema_path().read_text(encoding="utf-8"), output)


class _ClosedStream(io.TextIOBase):
    """Stands in for a standard output that was closed (bpwalk run >&-): writing to it
    fails, so the output is not lost without a word."""

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "standard output is closed")


def _exit_on_signal(signum: int, frame: object) -> None:
    # SIGTERM or SIGHUP: leave through the normal path, so that an atomic write removes its
    # temporary file (as on Ctrl-C) and the terminal is restored; exit 128 + the signal.
    raise SystemExit(128 + signum)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)


# Environment variables by which OpenBLAS (NumPy's usual BLAS) is told its number of threads.
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")


def main() -> None:
    # One BLAS thread unless the user chose: OpenBLAS starting a thread per core is about a
    # third of NumPy's import time, and the networks of a walkthrough are far too small for
    # threads to pay. The command line's choice only: `import bpwalk` leaves it to the program.
    if not any(name in os.environ for name in BLAS_THREADS):
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None and signal.getsignal(sig) == signal.SIG_DFL:  # keep nohup's SIG_IGN
            signal.signal(sig, _exit_on_signal)
    if sys.stdout is None:
        sys.stdout = _ClosedStream()
    try:
        try:
            code = app(standalone_mode=False)
        finally:
            sys.stdout.flush()  # a full disk shows here, while we can still say so
    except KeyboardInterrupt:
        if sys.stderr is not None:
            sys.stderr.write("\ninterrupted\n")
        sys.exit(130)
    except BrokenPipeError:
        # The reader went away (| head): not worth a traceback (Python's signal docs).
        _quiet_stdout()
        sys.exit(1)
    except ClickException as e:  # a usage error: one line, like every other error
        if type(e).__name__ == "NoArgsIsHelpError":  # `bpwalk` alone: the help was printed
            sys.exit(e.exit_code)
        ctx = getattr(e, "ctx", None)
        command = ctx.command_path if ctx is not None else "bpwalk"
        fail(f"{command}: {e.format_message().rstrip('.')}; see '{command} --help'")
        sys.exit(e.exit_code)
    except typer.Abort:
        sys.exit(1)
    except OSError as e:  # standard output on a full disk, closed, or a terminal gone
        if isinstance(sys.stdout, io.TextIOWrapper):
            _quiet_stdout()
        reason = e.strerror or str(e)
        fail(f"bpwalk: cannot write the output ({reason}); it is incomplete. Write to a file "
             "with -o FILE, or check the disk")
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
