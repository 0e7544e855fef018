"""The bpwalk command line: parses options and calls the pieces; no math, no formatting.

Heavy modules (numpy, the engine, the views) are imported inside the commands, so that
``bpwalk --help`` and ``bpwalk --version`` answer at once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bpwalk import __version__

if TYPE_CHECKING:
    from bpwalk.scenario import Scenario
    from bpwalk.trace import Trace

app = typer.Typer(
    name="bpwalk",
    help="Backpropagation worked out step by step, with your numbers.\n\n"
    "A YAML scenario describes a tiny network (inputs, weights, biases, targets, activations, "
    "loss, learning rate); bpwalk computes every forward value, chain-rule derivative and "
    "updated weight, and shows how each was found.\n\n"
    "Start with:  bpwalk run scenarios/mazur.yaml",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)

# ----------------------------------------------------------------------------- shared options

ScenarioArg = Annotated[
    str, typer.Argument(metavar="SCENARIO", help="A scenario YAML file (or a bundled example's name).")
]
IterationsOpt = Annotated[
    int | None,
    typer.Option("--iterations", "-n", min=1, metavar="N",
                 help="Number of updates to run (default: the scenario's 'iterations', else 1)."),
]
ShowOpt = Annotated[
    str,
    typer.Option("--show", metavar="WHICH",
                 help="Updates to explain in full: first, last, all, none, or numbers like 1,5,10."),
]
RoundOpt = Annotated[
    int | None,
    typer.Option("--round", min=0, max=15, metavar="D",
                 help="Round every result to D decimals as soon as it is computed and carry the "
                      "rounded value forward, as a hand calculation does."),
]

DecimalsOpt = Annotated[  # the same option as run's --decimals
    int,
    typer.Option("--decimals", min=0, max=15, metavar="D",
                 help="Show numbers with at most D decimals (trailing zeros trimmed)."),
]
InputGradOpt = Annotated[
    bool, typer.Option("--input-gradients",
                       help="Also work out dE/d(input), din:i1, after the backward pass (as "
                            "'input_gradients: true' in the scenario)."),
]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", metavar="FILE",
                              help="Write to FILE (atomically) instead of stdout."),
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
    """Print a one-line error on stderr; the caller raises the returned Exit."""
    typer.echo(message, err=True)
    return typer.Exit(code)


def load_scenario(name: str, input_gradients: bool = False) -> Scenario:
    from bpwalk.scenario import ScenarioError, load, resolve

    try:
        path, shown = resolve(name)
        sc = load(path, display_name=shown)
    except ScenarioError as e:
        raise fail(str(e)) from None
    if input_gradients and not sc.input_gradients:
        from dataclasses import replace

        sc = replace(sc, input_gradients=True)
    return sc


def parse_show(spec: str, iterations: int) -> set[int]:
    spec = spec.strip().lower()
    if spec == "first":
        return {1}
    if spec == "last":
        return {iterations}
    if spec == "all":
        return set(range(1, iterations + 1))
    if spec == "none":  # train only: the loss history and the final parameters
        return set()
    try:
        chosen = {int(part) for part in spec.split(",") if part.strip()}
    except ValueError:
        raise fail(f"--show {spec!r}: use first, last, all, none, or update numbers like "
                   "1,5,10") from None
    outside = sorted(i for i in chosen if not 1 <= i <= iterations)
    if outside or not chosen:
        raise fail(f"--show {spec!r}: there {'is' if iterations == 1 else 'are'} {iterations} "
                   f"update{'s' * (iterations != 1)}; choose numbers from 1 to {iterations}")
    return chosen


def compute(scenario: Scenario, iterations: int | None, show: str, round_to: int | None) -> Trace:
    from bpwalk.engine import EngineError, run

    n = iterations or scenario.iterations
    try:
        return run(scenario, iterations=n, show=parse_show(show, n), round_to=round_to)
    except EngineError as e:
        raise fail(f"{scenario.path}: {e}") from None


def emit(text: str, output: Path | None) -> None:
    """Write to stdout, or atomically to a file (a failed write leaves the old file intact)."""
    if output is None:
        sys.stdout.write(text)
        return
    from bpwalk.files import OutputError, write_atomic

    try:
        write_atomic(output, text)
    except OutputError as e:
        raise fail(str(e)) from None


# ----------------------------------------------------------------------------- commands


PHASE_CHOICES = ("forward", "loss", "backward", "update")


@app.command()
def run(
    scenario: ScenarioArg,
    iterations: IterationsOpt = None,
    show: ShowOpt = "first",
    round_to: RoundOpt = None,
    input_gradients: InputGradOpt = False,
    decimals: Annotated[
        int, typer.Option("--decimals", min=0, max=15, metavar="D",
                          help="Show numbers with at most D decimals (trailing zeros trimmed).")
    ] = 9,
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
) -> None:
    """The worked solution in the terminal, step by step.

    Each quantity is written as its formula, the numbers substituted, and the result.
    """
    if phase is not None and phase not in PHASE_CHOICES:
        raise fail(f"--phase {phase!r}: use one of {', '.join(PHASE_CHOICES)}")
    if quiz and not step:
        raise fail("--quiz works while stepping; use: bpwalk run SCENARIO --step --quiz")
    if step:
        from bpwalk.stepper import not_a_terminal

        not_tty = not_a_terminal()
        if not_tty:
            raise fail(f"--step needs a terminal, and {not_tty} is not one; "
                       "run without --step to print the whole solution")
        if show.strip().lower() == "none":
            raise fail("--step walks through explained updates, and --show none explains none; "
                       "use --show first, last, all or update numbers")
    sc = load_scenario(scenario, input_gradients)
    trace = compute(sc, iterations, show, round_to)
    if step:
        from bpwalk import stepper

        notation = "ascii" if ascii else "unicode"
        if quiz:
            from bpwalk import quiz as quiz_mode

            code = quiz_mode.run(trace, sc, round_to, notation, decimals, phase, no_color)
        else:
            code = stepper.run(trace, notation, decimals, phase, no_color)
        if code == 130:
            raise fail("interrupted", 130)
        raise typer.Exit(code)
    from bpwalk.views import terminal

    console = terminal.console(no_color=no_color)
    console.print(terminal.Walkthrough(trace, style="ascii" if ascii else "unicode",
                                       decimals=decimals, phase=phase))


@app.command()
def export(
    scenario: ScenarioArg,
    format: Annotated[
        str, typer.Option("--format", "-f", metavar="FORMAT",
                          help="md: Markdown with LaTeX math, for people; json: the trace, for "
                               "programs.")
    ] = "json",
    output: OutputOpt = None,
    iterations: IterationsOpt = None,
    show: ShowOpt = "first",
    round_to: RoundOpt = None,
    decimals: DecimalsOpt = 9,
    input_gradients: InputGradOpt = False,
) -> None:
    """Export the solution: Markdown with LaTeX math, or JSON.

    The JSON trace keeps every number at full precision; --decimals applies to md.
    """
    if format not in ("md", "json"):
        raise fail(f"--format {format!r} is not known; use md or json")
    sc = load_scenario(scenario, input_gradients)
    trace = compute(sc, iterations, show, round_to)
    if format == "md":
        from bpwalk.views import markdown

        emit(markdown.render(trace, decimals=decimals), output)
        return
    from bpwalk.views import json as json_view

    emit(json_view.render(trace), output)


@app.command()
def worksheet(
    scenario: ScenarioArg,
    output: OutputOpt = None,
    answers_template: Annotated[
        Path | None, typer.Option("--answers-template", metavar="FILE",
                                     help="Also write a YAML answers file with every step id "
                                          "and no values, ready for 'bpwalk check'.")
    ] = None,
    decimals: DecimalsOpt = 9,
) -> None:
    """Write a Markdown worksheet with blanks where the results go.

    The first update's formulas, the given numbers, and an empty line for each result;
    --answers-template writes the matching answers file for 'bpwalk check'.
    """
    if output is not None and answers_template is not None and \
            output.resolve() == answers_template.resolve():
        raise fail(f"{output}: given as both -o and --answers-template; use two file names")
    sc = load_scenario(scenario)
    trace = compute(sc, 1, "first", None)
    from bpwalk.views import answers, markdown

    if answers_template is not None:
        emit(answers.render(trace), answers_template)
    emit(markdown.render(trace, decimals=decimals, blanks=True), output)


@app.command()
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
        typer.echo(f"{shown}: ok ({sc.shape} network, {len(sc.param_names)} parameters, {len(sc.x)} "
                   f"sample{'s' * (len(sc.x) != 1)})")
    if bad:
        raise typer.Exit(2)


@app.command()
def check(
    scenario: ScenarioArg,
    answers: Annotated[
        Path, typer.Argument(metavar="ANSWERS",
                             help="A YAML file of 'step-id: number' lines (e.g. 'grad:w5: 0.0822').")
    ],
    format: Annotated[
        str, typer.Option("--format", "-f", metavar="FORMAT", help="Output format: text or json.")
    ] = "text",
    round_to: Annotated[
        int | None,
        typer.Option("--round", min=0, max=15, metavar="D",
                     help="Also accept the values of a calculation rounded to D decimals at "
                          "every step (rounding drift). Answers are always compared with that "
                          "rounding at their own decimals too."),
    ] = None,
) -> None:
    """Mark a student's answers and name the first mistake.

    Exit 0 when every answer is right, 1 when any is wrong, 2 for bad input.
    """
    if format not in ("text", "json"):
        raise fail(f"--format {format!r} is not known; use text or json")
    sc = load_scenario(scenario)
    from bpwalk.engine import EngineError
    from bpwalk.judge import Judge
    from bpwalk.scenario import ScenarioError, load_answers
    from bpwalk.views import check as check_view

    try:
        answers_list = load_answers(answers)
        judge = Judge(sc, round_to)
        report = judge.check(answers_list, str(answers))
    except ScenarioError as e:
        raise fail(str(e)) from None
    except EngineError as e:
        raise fail(f"{sc.path}: {e}") from None
    if format == "json":
        sys.stdout.write(check_view.render_json(report))
    else:
        from rich.console import Console

        Console(highlight=False).print(check_view.render(report, str(answers)))
    raise typer.Exit(0 if report.all_correct else 1)


@app.command()
def examples() -> None:
    """List the bundled examples (run one with 'bpwalk run NAME')."""
    import textwrap

    from bpwalk.scenario import ScenarioError, bundled_dir, bundled_names, load

    names = bundled_names()
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


@app.command()
def new(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The scenario file to write.")],
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
    decimals: Annotated[int, typer.Option("--decimals", min=1, max=4, metavar="D",
                                          help="Decimals of the drawn numbers.")] = 2,
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
) -> None:
    """Write a practice problem with random, hand-friendly numbers.

    A commented scenario file, reproducible from --seed; never overwrites without --force.
    """
    from bpwalk.practice import fresh_seed
    from bpwalk.template import PracticeError, practice_text

    if file.exists() and not force:
        raise fail(f"{file}: already exists; choose another name, or add --force to overwrite it")
    seed = fresh_seed() if seed is None else seed
    try:
        text = practice_text(shape, activation, loss, seed, decimals, file.name)
    except PracticeError as e:
        raise fail(str(e)) from None
    emit(text, file)
    typer.echo(f"wrote {file} (seed {seed}); work it out, then compare: bpwalk run {file}",
               err=True)


@app.command()
def schema(output: OutputOpt = None) -> None:
    """Print a JSON Schema of the scenario format, for editors.

    Point the YAML language server at it to complete and check scenario files.
    """
    import json

    from bpwalk.scenario import json_schema

    emit(json.dumps(json_schema(), indent=2) + "\n", output)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        sys.exit(130)
    except BrokenPipeError:
        # The reader went away (| head): not worth a traceback. Point stdout at devnull so
        # the interpreter's final flush does not raise again (Python's signal docs).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
