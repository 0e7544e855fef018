"""bpwalk against the tools people use instead, each timed as a whole process.

    python benchmarks/run.py                 # everything, 5 alternating rounds
    python benchmarks/run.py --quick         # 3 rounds, no 100k-parameter export, no page sizes
    python benchmarks/run.py --only page     # the HTML page: Mazur's export time, size vs md
    python benchmarks/run.py --only circuit  # a 30-operation circuit explained by bpwalk run
    python benchmarks/run.py --only conv     # the 1x4x4 conv example run; a 1x8x8 conv net trained
    python benchmarks/run.py --repeat 9 --output results.txt   (or results.json)

Every program runs as its own process (start-up and imports included), once untimed to
check its answer, then `--repeat` times in alternating order (each round runs every program
of a case once, starting at a different one), and the median wall time is reported, with
the median CPU time (user + system) beside it: on a busy machine wall times wander and CPU
times much less. Peak memory is the program's own maximum resident set.

The comparison programs in this folder train the same networks on the same numbers
(nets.py) and print the final loss. A program whose loss differs from bpwalk's
loss_history[-1] is reported as DIFFERS and the script exits 1: a benchmark of different
work is worthless.

Nothing is written into the repository: scenarios, outputs and the bytecode cache live in
a temporary folder; the report goes to stdout, and to --output FILE if asked.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import nets  # the networks, shared with the comparison programs

MAZUR_UPDATES = 10_000
WIDE_UPDATES = 2_000
# Two square layers n-n-n, one bias per neuron: 2n^2 + 2n parameters.
SCALING_WIDTHS = {"1k": 22, "10k": 70, "100k": 223}
AGREE_RTOL = 1e-9  # float64 programs doing the same updates agree far closer than this
MAZUR_BPWALK = "bpwalk export --format json"
WIDE_BPWALK = "bpwalk export json --show none"
WIDE_API = "bpwalk engine (none explained)"
ADAM = "bpwalk engine, Adam"
SGD = "bpwalk engine, SGD (time only)"
NUMPY = "NumPy loop"
RUN = "bpwalk run scenarios/mazur.yaml"
FLOOR = "import numpy, yaml, typer, rich.console, rich.table"  # what printing a table needs
NOT_INSTALLED = "skipped: not installed (see below)"

# Linux carries a process's peak RSS across exec, and a child starts as a copy of its
# parent, so a program started straight from this script may report this script's peak as
# its own. GNU time, a small process, starts the program and reports the program's own
# figures; without it, os.wait4's rusage of the direct child is used, which is exact
# whenever the program's peak is above this script's (about 20 MB).
TIME = shutil.which("time", path="/usr/bin:/bin")

# Every program runs with its bytecode cached, as a `pip install`ed package has it: with
# PYTHONDONTWRITEBYTECODE set (some machines set it), an editable install would recompile
# bpwalk's source at every start. main() points PYTHONPYCACHEPREFIX into the temporary
# folder, so nothing is written into the repository.
# COLUMNS=80 lays `bpwalk run` out for the narrowest terminal it supports, as the tests do.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
CHILD_ENV["COLUMNS"] = "80"


# ----------------------------------------------------------------------------- running


@dataclass
class Program:
    label: str
    argv: list[str]
    # Reads the final loss from the program's stdout (a file); None: nothing to check.
    loss: Callable[[Path], float] | None = None
    skip: str = ""  # why it is not run (not installed, ...)


@dataclass
class Result:
    program: Program
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    peaks_kb: list[int] = field(default_factory=list)
    final_loss: float | None = None
    error: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    @property
    def peak_mb(self) -> float:
        return max(self.peaks_kb) / 1024


@dataclass
class Run:
    seconds: float  # wall
    cpu: float  # user + system
    peak_kb: int
    code: int
    stderr: str


def run_once(argv: list[str], out: Path) -> Run:
    """Run one process with stdout to `out`; its wall and CPU time, peak memory, exit code."""
    stats = out.with_suffix(".time")
    wrapper = [TIME, "-q", "-f", "%M %U %S", "-o", str(stats)] if TIME else []
    with open(out, "wb") as stdout, tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        child = subprocess.Popen(wrapper + argv, stdout=stdout, stderr=stderr, cwd=ROOT,
                                 env=CHILD_ENV)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        err = stderr.read().decode(errors="replace")
    if TIME:
        peak, user, system = stats.read_text().split()[-3:]
        return Run(seconds, float(user) + float(system), int(peak), child.returncode, err)
    return Run(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, child.returncode, err)


def measure(programs: list[Program], repeat: int, work: Path) -> list[Result]:
    results = [Result(p) for p in programs]
    live = [r for r in results if not r.program.skip]
    for i, r in enumerate(live):  # untimed run: check the answer, warm caches
        out = work / f"check{i}.out"
        once = run_once(r.program.argv, out)
        if once.code:
            last = once.stderr.strip().splitlines()[-1:] or [""]
            r.error = f"failed (exit {once.code}): {last[0]}"
        elif r.program.loss:
            r.final_loss = r.program.loss(out)
    live = [r for r in live if not r.error]
    for round_ in range(repeat):
        start = round_ % len(live) if live else 0
        for r in live[start:] + live[:start]:
            once = run_once(r.program.argv, work / "timed.out")
            if once.code:
                raise SystemExit(f"{r.program.label} failed in round {round_ + 1}: {once.stderr}")
            r.times.append(once.seconds)
            r.cpu.append(once.cpu)
            r.peaks_kb.append(once.peak_kb)
    return results


def stdout_loss(out: Path) -> float:
    return float(out.read_text().split()[-1])


def json_loss(out: Path) -> float:
    """loss_history[-1] of a JSON trace, which ends with it as final.loss.

    Only the end of the file is read: parsing a 100 MB trace would grow this script, and
    with it (see TIME) the figures of the programs started after it.
    """
    with open(out, "rb") as f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - 200))
        tail = f.read().decode()
    match = re.search(r'"loss":\s*([-+0-9.eE]+)\s*}\s*}\s*$', tail)
    if not match:
        raise SystemExit(f"{out}: not a bpwalk JSON trace (no final loss at its end)")
    return float(match.group(1))


# ----------------------------------------------------------------------------- the cases


def missing_tools() -> dict[str, str]:
    """Comparison libraries that are not installed, each with the note printed instead."""
    return {module: NOT_INSTALLED
            for module in ("micrograd", "torch") if importlib.util.find_spec(module) is None}


def bpwalk_command() -> list[str]:
    script = Path(sys.executable).parent / "bpwalk"
    found = str(script) if script.exists() else shutil.which("bpwalk")
    if not found:
        raise SystemExit("bpwalk is not installed for this Python; run: pip install -e '.[bench]'")
    return [found]


def loop(script: str, network: str, updates: int, label: str, skip: str = "") -> Program:
    return Program(label, [sys.executable, str(HERE / script), network, str(updates)],
                   stdout_loss, skip)


def mazur_case(bp: list[str], missing: dict[str, str]) -> list[Program]:
    n = MAZUR_UPDATES
    return [
        Program(MAZUR_BPWALK, bp + ["export", "scenarios/mazur.yaml", "--format", "json",
                                    "--iterations", str(n)], json_loss),
        loop("numpy_loop.py", "mazur", n, NUMPY),
        loop("python_loop.py", "mazur", n, "pure-Python loop"),
        loop("micrograd_loop.py", "mazur", n, "micrograd (+ exp)", missing.get("micrograd", "")),
        loop("torch_loop.py", "mazur", n, "PyTorch, CPU, float64", missing.get("torch", "")),
    ]


def wide_case(bp: list[str], missing: dict[str, str], work: Path, quick: bool) -> list[Program]:
    scenario = work / "wide.yaml"
    scenario.write_text(nets.to_yaml(nets.wide(), "wide"))
    n = WIDE_UPDATES
    programs = [
        # the command line with no update explained: all of its work is the training
        Program(WIDE_BPWALK, bp + ["export", str(scenario), "--format", "json", "--show",
                                   "none", "--iterations", str(n)], json_loss),
        # for information: the engine's API alone (no command line, no JSON written)
        Program(WIDE_API, [sys.executable, str(HERE / "bpwalk_train.py"), str(scenario),
                           str(n)], stdout_loss),
        loop("numpy_loop.py", "wide", n, NUMPY),
        loop("torch_loop.py", "wide", n, "PyTorch, CPU, float64", missing.get("torch", "")),
    ]
    if not quick:  # the command line explains update 1: 64 samples, ~120,000 steps
        programs.append(Program("bpwalk export, 1st explained",
                                bp + ["export", str(scenario), "--format", "json",
                                      "--iterations", str(n), "--force"], json_loss))
    return programs


def adam_cases(missing: dict[str, str], work: Path) -> dict[str, list[Program]]:
    """Adam against plain SGD in bpwalk's fast loop, and against torch.optim.Adam.

    SGD's row trains at its own learning rate: it is there for its time, not its loss.
    """
    cases = {}
    for name, n in (("wide", WIDE_UPDATES), ("mazur", MAZUR_UPDATES)):
        adam = work / f"{name}_adam.yaml"
        adam.write_text(nets.to_yaml(nets.network(f"{name}_adam"), f"{name}_adam"))
        sgd = work / f"{name}_sgd.yaml"
        sgd.write_text(nets.to_yaml(nets.network(name), name))
        train = [sys.executable, str(HERE / "bpwalk_train.py")]
        cases[f"adam_{name}"] = [
            Program(ADAM, train + [str(adam), str(n)], stdout_loss),
            Program(SGD, train + [str(sgd), str(n)]),
            loop("torch_loop.py", f"{name}_adam", n, "PyTorch Adam, CPU, float64",
                 missing.get("torch", "")),
        ]
    return cases


def startup_case(bp: list[str]) -> list[Program]:
    return [
        Program(RUN, bp + ["run", "scenarios/mazur.yaml"]),
        Program("bpwalk --version", bp + ["--version"]),
        Program(FLOOR, [sys.executable, "-c", FLOOR]),
        Program("python -c pass", [sys.executable, "-c", "pass"]),
    ]


CIRCUIT = "bpwalk run circuit30"
CIRCUIT_LIMIT = 0.5  # seconds: a 30-operation circuit explained (issue 22)


def circuit_yaml(operations: int = 30) -> str:
    """A circuit of `operations` gates (a multiple of 3): n_k = tanh(n_{k-1}·w + x), each
    node a mul, an add and a tanh, with inputs and weights each read by several nodes."""
    lines = ["name: circuit30", "graph:", "  inputs: {x0: 0.5, x1: -1, x2: 2}",
             "  params: {w0: 0.3, w1: -0.7, w2: 1.1}", "  nodes:", "    n0: tanh(x0 * w0 + x1)"]
    for k in range(1, operations // 3):
        lines.append(f"    n{k}: tanh(n{k - 1} * w{k % 3} + x{k % 3})")
    return "\n".join([*lines, f"  output: n{operations // 3 - 1}", "learning_rate: 0.1", ""])


def circuit_case(bp: list[str], work: Path) -> list[Program]:
    scenario = work / "circuit30.yaml"
    scenario.write_text(circuit_yaml())
    return [Program(CIRCUIT, bp + ["run", str(scenario)]),
            Program(FLOOR, [sys.executable, "-c", FLOOR])]


CONV_RUN = "bpwalk run conv_pool"
CONV_RUN_LIMIT = 0.5  # seconds: the 1x4x4 example explained (issue 23)
CONV_TRAIN = "bpwalk engine, conv 1x8x8, 1k upd"
DROPOUT_RUN = "bpwalk run dropout"  # (issue 23's dropout and batchnorm, explained: 0.5 s)
BATCHNORM_RUN = "bpwalk run batchnorm"
CONV_TRAIN_LIMIT = 2.0  # seconds: 1x8x8 > conv 2x3x3 > max-pool > dense 2 (issue 23)


def conv_yaml(samples: int = 4) -> str:
    """1x8x8 inputs > conv (2 kernels 3x3, relu) > max-pool 2 > flatten > dense 2 (sigmoid),
    `samples` samples in a full batch; the numbers drawn from a fixed seed."""
    import numpy as np

    rng = np.random.default_rng(23)
    spec = {"name": "conv8", "inputs": {"shape": [1, 8, 8]},
            "layers": [{"kind": "conv2d", "kernels": rng.uniform(-0.5, 0.5, (2, 1, 3, 3))
                        .round(3).tolist(), "bias": [0.0, 0.1], "activation": "relu"},
                       {"kind": "maxpool", "size": 2}, {"kind": "flatten"},
                       {"neurons": 2, "activation": "sigmoid",
                        "weights": rng.uniform(-0.5, 0.5, (2, 18)).round(3).tolist(),
                        "bias": [0.0, 0.0]}],
            "loss": "half_squared_error", "learning_rate": 0.1,
            "data": [{"inputs": rng.uniform(0, 1, (1, 8, 8)).round(2).tolist(),
                      "targets": [float(k % 2), float(1 - k % 2)]} for k in range(samples)]}
    return json.dumps(spec)  # JSON is YAML


def conv_case(bp: list[str], work: Path) -> list[Program]:
    scenario = work / "conv8.yaml"
    scenario.write_text(conv_yaml())
    return [Program(CONV_RUN, bp + ["run", "scenarios/conv_pool.yaml"]),
            Program(DROPOUT_RUN, bp + ["run", "scenarios/dropout.yaml"]),
            Program(BATCHNORM_RUN, bp + ["run", "scenarios/batchnorm.yaml"]),
            Program(CONV_TRAIN, [sys.executable, str(HERE / "bpwalk_train.py"), str(scenario),
                                 "1000"], stdout_loss),
            Program(FLOOR, [sys.executable, "-c", FLOOR])]


PAGE = "bpwalk export mazur --format html"
PAGE_LIMIT = 2  # the page of the wide network's explained update: at most 2x the Markdown


def page_case(bp: list[str]) -> list[Program]:
    return [Program(PAGE, bp + ["export", "scenarios/mazur.yaml", "--format", "html"]),
            Program("bpwalk export mazur --format md",
                    bp + ["export", "scenarios/mazur.yaml", "--format", "md"])]


def page_sizes(bp: list[str], work: Path) -> tuple[list[str], list[tuple[str, float, str, bool]]]:
    """The wide network's explained update 1 (64 samples) as HTML and as Markdown: sizes."""
    scenario = work / "wide.yaml"
    scenario.write_text(nets.to_yaml(nets.wide(), "wide"))
    sizes, lines = {}, []
    for fmt in ("md", "html"):
        out = work / f"page.{fmt}"
        r = run_once(bp + ["export", str(scenario), "--format", fmt, "--iterations", "1"], out)
        if r.code != 0:
            return [f"  page sizes: export --format {fmt} failed: {r.stderr.strip()[-200:]}"], []
        sizes[fmt] = out.stat().st_size
        lines.append(f"  {'8-32-32-4 x 64, update 1, ' + fmt:<32}{sizes[fmt] / 1e6:>8.1f} MB"
                     f"{r.seconds:>8.1f} s")
    ratio = sizes["html"] / sizes["md"]
    return lines, [("page size: html / md, 8-32-32-4 x 64 samples", ratio, f"<= {PAGE_LIMIT}",
                    ratio <= PAGE_LIMIT)]


def scaling_case(bp: list[str], work: Path, sizes: list[str]
                 ) -> tuple[list[list[Program]], dict[str, int], str]:
    """One explained update of square networks (1 sample), exported as JSON and Markdown."""
    probe = work / "probe.yaml"
    probe.write_text(nets.to_yaml(nets.wide((2, 2, 2), samples=1), "probe"))
    once = run_once(bp + ["export", str(probe), "--format", "md"], work / "probe.out")
    why = (once.stderr.strip().splitlines() or ["?"])[-1]
    md_skip = "" if once.code == 0 else f"skipped: this bpwalk rejects --format md ({why})"
    groups, params = [], {}
    for size in sizes:
        n = SCALING_WIDTHS[size]
        net = nets.wide((n, n, n), samples=1)
        params[size] = sum(len(lay["weights"]) * (len(lay["weights"][0]) + 1)
                           for lay in net["layers"])
        path = work / f"square{size}.yaml"
        path.write_text(nets.to_yaml(net, f"square{size}"))
        # --force: a 100,000-parameter export passes the 50 MB that bpwalk asks it for
        groups.append([Program(f"{fmt} {size}", bp + ["export", str(path), "--format", fmt,
                                                      "--force"],
                               skip=md_skip if fmt == "md" else "") for fmt in ("json", "md")])
    return groups, params, md_skip


# ----------------------------------------------------------------------------- the report


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        model = next(line.split(":", 1)[1].strip()
                     for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    from importlib.metadata import PackageNotFoundError, version

    def v(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "-"

    blas = os.environ.get("OPENBLAS_CORETYPE")
    return (f"{os.cpu_count()} cores, {model}, Linux {platform.release().split('-')[0]}; "
            f"Python {platform.python_version()}, numpy {v('numpy')}, typer {v('typer')}, "
            f"torch {v('torch')}, micrograd {v('micrograd')}, bpwalk {v('bpwalk')}"
            + (f"; OPENBLAS_CORETYPE={blas}" if blas else ""))


def agreement(r: Result, ref: Result) -> tuple[str, bool]:
    if r.final_loss is None or ref.final_loss is None:
        return "", True
    d = abs(r.final_loss - ref.final_loss) / max(abs(ref.final_loss), 1e-300)
    if d == 0:
        return "same", True
    return (f"{d:.0e} rel.", True) if d <= AGREE_RTOL else (f"DIFFERS {d:.1e}", False)


def case_table(title: str, results: list[Result], lines: list[str]) -> bool:
    """Append one case's rows (the first program is the reference); False if a loss differs."""
    ref, agree = results[0], True
    lines.append(f"{title:<34}{'wall s':>7}{'cpu s':>7}{'x bpwalk':>10}{'MB':>6}  final loss")
    for r in results:
        label = f"  {r.program.label:<32}"
        if r.program.skip or r.error:
            lines += textwrap.wrap(label + (r.program.skip or r.error), 80,
                                   subsequent_indent=" " * 34)
            continue
        check, ok = agreement(r, ref)
        agree &= ok
        lines.append(f"{label}{r.median:>7.3f}{r.cpu_median:>7.3f}{r.median / ref.median:>9.2f}x"
                     f"{r.peak_mb:>6.0f}  {check}".rstrip())
    return agree


def growth(values: dict[str, float], params: dict[str, int], a: str, b: str) -> float:
    """Factor from size a to size b, scaled to exactly 10x parameters (they are about 10x)."""
    return (values[b] / values[a]) ** (1 / math.log10(params[b] / params[a]))


def scaling_table(results: list[Result], params: dict[str, int], note: str,
                  lines: list[str]) -> list[tuple[str, float, str, bool]]:
    res = {r.program.label: r for r in results}
    lines.append(f"{'Scaling: 1 explained update':<34}{'params':>8}{'json s':>8}{'MB':>6}"
                 f"{'md s':>8}{'MB':>6}")
    for size, count in params.items():
        cells = ""
        for fmt in ("json", "md"):
            r = res[f"{fmt} {size}"]
            cells += f"{r.median:>8.3f}{r.peak_mb:>6.0f}" if r.times else f"{'-':>8}{'-':>6}"
        lines.append(f"  {'export, ' + size + ' parameters':<32}{count:>8,}{cells}")
    targets = []
    for fmt in ("json", "md"):
        timed = [s for s in params if res[f"{fmt} {s}"].times]
        wall = {s: res[f"{fmt} {s}"].median for s in timed}
        memory = {s: res[f"{fmt} {s}"].peak_mb for s in timed}
        for a, b in itertools.pairwise(timed):
            f = growth(wall, params, a, b)
            lines.append(f"  {fmt}, {a} -> {b} parameters: time x{f:.1f}, memory "
                         f"x{growth(memory, params, a, b):.1f} per 10x parameters")
            targets.append((f"{fmt} export, {a} -> {b}: time per 10x params", f, "<= 12",
                            f <= 12))
    if note:
        lines += textwrap.wrap(f"Markdown {note}", 78, initial_indent="  ",
                               subsequent_indent="    ")
    return targets


def ratio_target(by: dict, case: str, a: str, b: str, name: str, limit: float) -> list[tuple]:
    """The target `a` / `b` <= limit on median wall times, with the ratio of median CPU times
    beside it (a loaded machine stretches wall times; CPU times much less). NaN when the
    case was not measured (--only), so that every target is listed."""
    results = by.get(case, {})
    if a not in results or b not in results:
        return [(name, math.nan, f"<= {limit:g}", False, math.nan)]
    ratio = results[a].median / results[b].median
    return [(name, ratio, f"<= {limit:g}", ratio <= limit,
             results[a].cpu_median / max(results[b].cpu_median, 1e-9))]


def report(repeat: int, cases: dict[str, list[Result]], params: dict[str, int],
           md_note: str, page: tuple[list[str], list] = ([], [])) -> tuple[str, dict, bool]:
    about = machine()
    lines = [f"bpwalk benchmarks: whole processes, median of {repeat} alternating runs;",
             "x bpwalk = the program's wall time / bpwalk's (above 1: bpwalk is faster)",
             *textwrap.wrap(f"machine: {about}", 80, subsequent_indent="  "), ""]
    titles = {"mazur": f"Mazur 2-2-2, {MAZUR_UPDATES:,} updates",
              "wide": f"8-32-32-4, 64 samples, {WIDE_UPDATES:,} upd.", "startup": "Start-up",
              "adam_wide": f"Adam, 8-32-32-4 x 64, {WIDE_UPDATES:,} upd.",
              "adam_mazur": f"Adam, Mazur 2-2-2, {MAZUR_UPDATES:,} upd.",
              "page": "The HTML page", "circuit": "A circuit of 30 operations",
              "conv": "Convolution (issue 23)"}
    agree = True
    for key, title in titles.items():
        if key in cases:
            agree &= case_table(title, cases[key], lines)
            lines.append("")
    by = {k: {r.program.label: r for r in v if r.times} for k, v in cases.items()}
    targets = (ratio_target(by, "mazur", MAZUR_BPWALK, NUMPY,
                            "Mazur, 10,000 updates: bpwalk / NumPy loop", 0.6)
               + ratio_target(by, "wide", WIDE_BPWALK, NUMPY,
                              "8-32-32-4, 2,000 updates: bpwalk / NumPy loop", 0.8)
               + ratio_target(by, "startup", RUN, FLOOR,
                              "bpwalk run mazur / import floor", 1.25)
               + ratio_target(by, "adam_wide", ADAM, SGD,
                              "8-32-32-4, 2,000 updates: Adam / plain SGD", 1.3)
               + ratio_target(by, "adam_mazur", ADAM, SGD,
                              "Mazur, 10,000 updates: Adam / plain SGD", 1.3))
    circuit = by.get("circuit", {}).get(CIRCUIT)
    targets.append((f"30-operation circuit, {CIRCUIT}", math.nan if circuit is None else
                    circuit.median, f"<= {CIRCUIT_LIMIT:g}s",
                    circuit is not None and circuit.median <= CIRCUIT_LIMIT,
                    math.nan if circuit is None else circuit.cpu_median))
    for label, limit in ((CONV_RUN, CONV_RUN_LIMIT), (CONV_TRAIN, CONV_TRAIN_LIMIT),
                         (DROPOUT_RUN, CONV_RUN_LIMIT), (BATCHNORM_RUN, CONV_RUN_LIMIT)):
        got = by.get("conv", {}).get(label)
        targets.append((label, math.nan if got is None else got.median, f"<= {limit:g}s",
                        got is not None and got.median <= limit,
                        math.nan if got is None else got.cpu_median))
    if "scaling" in cases:
        targets += scaling_table(cases["scaling"], params, md_note, lines)
        lines.append("")
    if page[0]:
        lines += ["Page size (one process each)", *page[0], ""]
        targets += page[1]
    lines.append(f"{'Targets (wall; cpu beside)':<49}{'measured':>9}{'target':>8}{'cpu':>7}")
    for name, value, limit, ok, *cpu in targets:
        if math.isnan(value):
            lines.append(f"  {name:<47}{'-':>9}{limit:>8}{'-':>7}  not measured")
            continue
        unit = "s" if limit.endswith("s") else "x"  # a time, or a ratio of times
        cells = f"{cpu[0]:>6.2f}{unit}" if cpu else f"{'':>7}"
        lines.append(f"  {name:<47}{value:>8.2f}{unit}{limit:>8}{cells}  "
                     f"{'met' if ok else 'MISSED'}")
    if any(r.program.skip == NOT_INSTALLED for results in cases.values() for r in results):
        lines += ["", "Not installed: micrograd and torch come with pip install -e '.[bench]'."]
    if not agree:
        lines += ["", "WARNING: a program's final loss DIFFERS from bpwalk's: it does other work."]
    data = {
        "repeat": repeat, "machine": about, "params": params,
        "cases": {key: [{"program": r.program.label, "argv": r.program.argv,
                         "skip": r.program.skip, "error": r.error, "wall": r.times,
                         "cpu": r.cpu, "peak_kb": r.peaks_kb, "final_loss": r.final_loss}
                        for r in results] for key, results in cases.items()},
        "targets": [{"target": n, "measured": None if math.isnan(v) else v, "limit": t,
                     "met": ok, "cpu": cpu[0] if cpu and not math.isnan(cpu[0]) else None}
                    for n, v, t, ok, *cpu in targets],
    }
    return "\n".join(lines) + "\n", data, agree


# ----------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Time bpwalk against a NumPy loop, pure Python, micrograd and PyTorch.")
    parser.add_argument("--quick", action="store_true",
                        help="3 rounds unless --repeat; no 100k-parameter export and no "
                             "explained export of the wide network")
    parser.add_argument("--repeat", type=int, metavar="N", help="timed rounds (default 5)")
    parser.add_argument("--only", metavar="CASES",
                        default="mazur,wide,startup,adam,scaling,page,circuit,conv",
                        help="a comma-separated subset of: mazur, wide, startup, adam, "
                             "scaling, page, circuit, conv")
    parser.add_argument("--output", type=Path, metavar="FILE",
                        help="also write the report to FILE (all figures as JSON if it ends "
                             "in .json)")
    args = parser.parse_args()
    repeat = args.repeat if args.repeat is not None else 3 if args.quick else 5
    if repeat < 1:
        parser.error("--repeat must be 1 or more")
    only = {c.strip() for c in args.only.split(",")}
    unknown = only - {"mazur", "wide", "startup", "adam", "scaling", "page", "circuit", "conv"}
    if unknown:
        parser.error(f"--only: unknown case(s) {', '.join(sorted(unknown))}")
    bp, missing = bpwalk_command(), missing_tools()
    sizes = ["1k", "10k"] if args.quick else list(SCALING_WIDTHS)
    cases: dict[str, list[Result]] = {}
    params: dict[str, int] = {}
    md_note = ""
    with tempfile.TemporaryDirectory(prefix="bpwalk-bench-") as tmp:
        work = Path(tmp)
        CHILD_ENV["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        plan: dict[str, Callable[[], list[Program]]] = {
            "mazur": lambda: mazur_case(bp, missing),
            "wide": lambda: wide_case(bp, missing, work, args.quick),
            "startup": lambda: startup_case(bp),
            "page": lambda: page_case(bp),
            "circuit": lambda: circuit_case(bp, work),
            "conv": lambda: conv_case(bp, work),
        }
        for key, build in plan.items():
            if key in only:
                print(f"measuring {key} ...", file=sys.stderr, flush=True)
                cases[key] = measure(build(), repeat, work)
        if "adam" in only:
            print("measuring adam ...", file=sys.stderr, flush=True)
            for key, programs in adam_cases(missing, work).items():
                cases[key] = measure(programs, repeat, work)
        if "scaling" in only:
            print("measuring scaling ...", file=sys.stderr, flush=True)
            groups, params, md_note = scaling_case(bp, work, sizes)
            # Each size alternates its two formats only: alternating a 10-second run with a
            # 0.3-second one would just add the big one's noise to the small one.
            cases["scaling"] = [r for group in groups for r in measure(group, repeat, work)]
        page = ([], [])
        if "page" in only and not args.quick:  # two exports of ~120,000 steps: minutes
            print("measuring page sizes ...", file=sys.stderr, flush=True)
            page = page_sizes(bp, work)
    text, data, agree = report(repeat, cases, params, md_note, page)
    sys.stdout.write(text)
    if args.output:
        args.output.write_text(json.dumps(data, indent=1) + "\n" if args.output.suffix == ".json"
                               else text, encoding="utf-8")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
