"""The bpwalk command line: parses options and calls the pieces; no math, no formatting.

Heavy modules (numpy, the engine, the views) are imported inside the commands, so that
``bpwalk --help`` and ``bpwalk --version`` answer at once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

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
    Optional[int],
    typer.Option("--iterations", "-n", min=1, metavar="N",
                 help="Number of updates to run (default: the scenario's 'iterations', else 1)."),
]
ShowOpt = Annotated[
    str,
    typer.Option("--show", metavar="WHICH",
                 help="Updates to explain in full: first, last, all, or numbers like 1,5,10."),
]
RoundOpt = Annotated[
    Optional[int],
    typer.Option("--round", min=0, max=15, metavar="D",
                 help="Round every result to D decimals as soon as it is computed and carry the "
                      "rounded value forward, as a hand calculation does."),
]

DecimalsOpt = Annotated[
    int,
    typer.Option("--decimals", "-d", min=0, max=17, metavar="N",
                 help="Show numbers with at most N decimals (trailing zeros trimmed)."),
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


def load_scenario(name: str) -> Scenario:
    from bpwalk.scenario import ScenarioError, load, resolve

    try:
        path, shown = resolve(name)
        return load(path, display_name=shown)
    except ScenarioError as e:
        raise fail(str(e)) from None


def parse_show(spec: str, iterations: int) -> set[int]:
    spec = spec.strip().lower()
    if spec == "first":
        return {1}
    if spec == "last":
        return {iterations}
    if spec == "all":
        return set(range(1, iterations + 1))
    try:
        chosen = {int(part) for part in spec.split(",") if part.strip()}
    except ValueError:
        raise fail(f"--show {spec!r}: use first, last, all, or update numbers like 1,5,10") from None
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


@app.command()
def run(
    scenario: ScenarioArg,
    iterations: IterationsOpt = None,
    show: ShowOpt = "first",
    round_to: RoundOpt = None,
) -> None:
    """Show the worked solution: forward pass, loss, backward pass, update."""
    sc = load_scenario(scenario)
    trace = compute(sc, iterations, show, round_to)
    from bpwalk.views import plain

    sys.stdout.write(plain.render(trace))


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
) -> None:
    """Write the worked solution as Markdown (md) or the full step trace as JSON.

    The JSON trace keeps every number at full precision; --decimals applies to md.
    """
    if format not in ("md", "json"):
        raise fail(f"--format {format!r} is not known; use md or json")
    sc = load_scenario(scenario)
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
    """Write a Markdown worksheet: the first update's formulas with blanks for the results."""
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
    """Check scenario files and report every problem found (exit 2 if any)."""
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
        n_params = len(sc.param_names)
        shape = "-".join(str(n) for n in [len(sc.inputs)] + [len(lay.neurons) for lay in sc.layers])
        typer.echo(f"{shown}: ok ({shape} network, {n_params} parameters, {len(sc.x)} "
                   f"sample{'s' * (len(sc.x) != 1)})")
    if bad:
        raise typer.Exit(2)


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
