"""Every output bpwalk makes of its bundled scenarios, rendered and fingerprinted.

A refactoring that must not change what users see is checked with this tool: it renders
each bundled scenario (scenarios/*.yaml) in every notation through the real command line
(in-process, with typer's CliRunner: `run` at 80 and 120 columns, export md/json/html,
`--form matrix` run and export, worksheet with its key and answers template, check
reports in text/json/csv on answers made from the trace), plus the `--step` screens (the
stepper's pure `press` driven through a fixed key sequence, each screen rendered), and
names each output (``mazur/ng/run-80``).

    python tools/outputs.py                    # compare with the manifest; exit 1 on a change
    python tools/outputs.py --write            # rewrite tests/fixtures/outputs.sha256.json
    python tools/outputs.py --dump DIR         # write every output's text into DIR
    python tools/outputs.py --compare DIR      # compare with a DIR another checkout dumped
    python tools/outputs.py --only mazur/ng    # just the outputs whose name starts so
    python tools/outputs.py --jobs 1           # in this one process (default: 2 processes)

To compare two checkouts in full: `--dump` in one, then `--compare` that folder in the
other (each checkout's tool renders its own bpwalk: the tool puts its checkout first on
sys.path). The manifest holds one sha256 (its first 20 hex digits) per output name.

Deterministic by construction: bundled scenarios are named (not given by path), answers
and worksheet files are written in a temporary folder under fixed relative names, and the
one thing a release changes, the version that the JSON exports carry (``"bpwalk": "X.Y"``),
is replaced by ``VERSION`` before hashing.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's bpwalk, whichever is installed

MANIFEST = ROOT / "tests" / "fixtures" / "outputs.sha256.json"
DIVERGING = ROOT / "tests" / "fixtures" / "diverges.yaml"

# The stepper's keys, pressed in this order from the first step (a screen after each): steps
# and passes both ways, the drawing and the help (each closed by a key), go-to by a name
# and by a name that is not there, and past the last pass.
KEYS = ("n", "n", "n", "]", "]", "n", "b", "[", "d", "x", "?", "x", "g", "w", "5", "enter",
        "g", "z", "q", "backspace", "enter", "g", "l", "o", "s", "s", "enter",
        "]", "]", "]", "]", "]", "]", "n", "z")

_VERSION = re.compile(r'"bpwalk": "[^"]*"')


def normalised(text: str) -> str:
    """The output with the version a release changes taken out."""
    return _VERSION.sub('"bpwalk": "VERSION"', text)


class Outputs:
    """Renders every output, by name, in a temporary working folder."""

    def __init__(self, only: str = "", part: tuple[int, int] = (0, 1)) -> None:
        from typer.testing import CliRunner

        self.only = only
        self.part = part  # (i, n): the i-th of n interleaved shares of the scenarios
        self.runner = CliRunner()
        self.texts: dict[str, str] = {}

    def wanted(self, name: str) -> bool:
        return name.startswith(self.only) or self.only.startswith(name + "/")

    def add(self, name: str, text: str) -> None:
        if name in self.texts:
            raise ValueError(f"two outputs named {name}")
        self.texts[name] = normalised(text)

    def cli(self, name: str, *args: str, columns: int = 80, files: tuple[str, ...] = ()) -> None:
        """One command's stdout, stderr and exit code as output `name`, and each file it
        wrote among `files` as `name/FILE`."""
        if not self.wanted(name):
            return
        from bpwalk.cli import app

        for f in files:
            Path(f).unlink(missing_ok=True)
        result = self.runner.invoke(app, list(args), env={"COLUMNS": str(columns),
                                                          "NO_COLOR": "1", "LINES": "24"})
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise RuntimeError(f"{name}: bpwalk {' '.join(args)} raised") from result.exception
        self.add(name, f"$ bpwalk {' '.join(args)}\n{result.stdout}"
                       f"--- stderr\n{result.stderr}--- exit {result.exit_code}\n")
        for f in files:  # (a refused command writes none)
            self.add(f"{name}/{f}", Path(f).read_text(encoding="utf-8") if Path(f).exists()
                     else "(not written)\n")

    def screens(self, name: str, scenario: str, notation: str, width: int, height: int,
                style: str = "unicode") -> None:
        """The stepper's screens through KEYS, in colour (ANSI codes kept), one output."""
        if not self.wanted(name):
            return
        from bpwalk import stepper
        from bpwalk.cli import compute
        from bpwalk.scenario import load, resolve
        from bpwalk.views.terminal import console

        path, shown = resolve(scenario)
        trace, _ = compute(load(path, display_name=shown), None, "first", None)
        walk = stepper.Walk.of(trace, None, notation)
        screen = console(file=io.StringIO(), force_terminal=True, color_system="standard",
                         width=width, height=height)
        state, shots = stepper.State(), []
        for key in ("", *KEYS):
            if key:
                state = stepper.press(state, key, walk)
            shots.append(f"--- after {key!r}\n" + "\n".join(
                stepper.screen(walk, state, screen, style, 9)) + "\n")
        self.add(name, "".join(shots))

    def all(self) -> dict[str, str]:
        from bpwalk.notation import PROFILES
        from bpwalk.scenario import bundled_names

        i, n = self.part
        with _plain_env(), _in_temporary_folder():
            for sc in bundled_names()[i::n]:
                self._scenario(sc, PROFILES)
            if i != 0:
                return self.texts
            # a divergence: its loss table on stderr; the fixture copied in by a relative
            # name, so that no checkout's folder reaches the output
            Path(DIVERGING.name).write_bytes(DIVERGING.read_bytes())
            for notation in PROFILES:
                self.cli(f"diverges/{notation}/run", "run", DIVERGING.name, "--notation",
                         notation, "-q")
        return self.texts

    def _scenario(self, sc: str, profiles) -> None:
        self.cli(f"{sc}/export-json", "export", sc, "-f", "json", "-q")
        self.cli(f"{sc}/export-json-all", "export", sc, "-f", "json", "-n", "3", "--show",
                 "all", "--round", "4", "-q")
        self.cli(f"{sc}/run-ascii", "run", sc, "--ascii", "--decimals", "4", "-q")
        self.cli(f"{sc}/run-round", "run", sc, "--round", "4", "--input-gradients",
                 "--show", "last", "-n", "2", "-q")
        self.cli(f"{sc}/run-phase", "run", sc, "--phase", "backward", "-q")
        self.cli(f"{sc}/matrix-json", "export", sc, "--form", "matrix", "-f", "json", "-q")
        self.cli(f"{sc}/matrix-ids", "run", sc, "--form", "matrix", "--ids", "-q")
        self.screens(f"{sc}/step-ascii-120x40", sc, "mazur", 120, 40, "ascii")
        for notation in profiles:
            at = f"{sc}/{notation}"
            n = ("--notation", notation)
            for width in (80, 120):
                self.cli(f"{at}/run-{width}", "run", sc, *n, "-q", columns=width)
            self.cli(f"{at}/export-md", "export", sc, "-f", "md", *n, "-q")
            self.cli(f"{at}/export-html", "export", sc, "-f", "html", *n, "-q")
            self.cli(f"{at}/matrix-run", "run", sc, "--form", "matrix", *n, "-q")
            self.cli(f"{at}/matrix-md", "export", sc, "--form", "matrix", "-f", "md", *n, "-q")
            self.cli(f"{at}/worksheet", "worksheet", sc, *n, "--key", "key.md",
                     "--answers-template", "answers.yaml", files=("key.md", "answers.yaml"))
            self.cli(f"{at}/worksheet-html", "worksheet", sc, "-f", "html", *n, "--key",
                     "key.html", files=("key.html",))
            self.cli(f"{at}/worksheet-matrix", "worksheet", sc, "--form", "matrix", *n,
                     "--key", "key.md", "--answers-template", "answers.yaml",
                     files=("key.md", "answers.yaml"))
            self.screens(f"{at}/step-80x24", sc, notation, 80, 24)
            if self.wanted(f"{at}/check"):
                _answers(sc)
                self.cli(f"{at}/check-right", "check", sc, "right.yaml", *n)
                self.cli(f"{at}/check-wrong", "check", sc, "wrong.yaml", *n)
                for fmt in ("text", "json", "csv"):
                    self.cli(f"{at}/check-class-{fmt}", "check", sc, "right.yaml", "wrong.yaml",
                             "-f", fmt, *n)


def _answers(sc: str) -> None:
    """right.yaml: every value of the first update in full; wrong.yaml: the same at 4
    decimals with classic slips: the first output delta's sign, and every gradient of the
    first weight's layer from a doubled delta."""
    from bpwalk.cli import compute
    from bpwalk.scenario import load, resolve

    path, shown = resolve(sc)
    steps = compute(load(path, display_name=shown), 1, "first", None)[0].iterations[0].steps
    right = [f"{s.id}: {s.value!r}" for s in steps]
    wrong, flipped = [], False
    for s in steps:
        value = s.value
        if s.kind == "dout" and not flipped:
            value, flipped = -value, True
        elif s.kind == "grad" and s.layer == 1:
            value = 2 * value
        wrong.append(f"{s.id}: {value:.4f}")
    Path("right.yaml").write_text("\n".join(right) + "\n", encoding="utf-8")
    Path("wrong.yaml").write_text("\n".join(wrong) + "\n", encoding="utf-8")


@contextlib.contextmanager
def _in_temporary_folder() -> Iterator[None]:
    before = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="bpwalk-outputs-") as folder:
        os.chdir(folder)
        try:
            yield
        finally:
            os.chdir(before)


@contextlib.contextmanager
def _plain_env() -> Iterator[None]:
    """Environment variables that change rendering, unset while rendering (the CLI's runs
    set their own COLUMNS and NO_COLOR)."""
    names = ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES", "TERM", "COLORTERM",
             "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS", "JUPYTER_LINES")
    saved = {k: os.environ.pop(k) for k in names if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def rendered(only: str = "", jobs: int = 1) -> dict[str, str]:
    """The manifest of every output (name -> digest), rendered by `jobs` processes of this
    tool, each its share of the scenarios (the texts stay in the processes)."""
    if jobs <= 1:
        return manifest(Outputs(only).all())
    import subprocess

    runs = [subprocess.Popen([sys.executable, __file__, "--part", f"{i}/{jobs}", "--only", only,
                              "--print-manifest"], stdout=subprocess.PIPE, text=True)
            for i in range(jobs)]
    have: dict[str, str] = {}
    for run in runs:
        out, _ = run.communicate()
        if run.returncode != 0:
            raise RuntimeError(f"{' '.join(run.args)} exited {run.returncode}")
        have.update(json.loads(out))
    return dict(sorted(have.items()))


def digest(text: str) -> str:
    """The text's sha256, its first 80 bits (20 hex digits): enough to notice any change,
    and a manifest a third the size."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def manifest(texts: dict[str, str]) -> dict[str, str]:
    return {name: digest(text) for name, text in sorted(texts.items())}


def differences(have: dict[str, str], want: dict[str, str], only: str = "") -> list[str]:
    """What differs between two manifests (name -> sha256), one line each."""
    want = {k: v for k, v in want.items() if k.startswith(only) or only.startswith(k + "/")}
    lines = [f"changed: {k}" for k in sorted(have.keys() & want.keys()) if have[k] != want[k]]
    lines += [f"new:     {k}" for k in sorted(have.keys() - want.keys())]
    lines += [f"gone:    {k}" for k in sorted(want.keys() - have.keys())]
    return lines


def _file_name(name: str) -> str:
    return name + ".out"  # an output named `a` and one named `a/b` can both be files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"rewrite {MANIFEST.name}")
    parser.add_argument("--dump", metavar="DIR", type=Path, help="write every output into DIR")
    parser.add_argument("--compare", metavar="DIR", type=Path,
                        help="compare with the outputs another checkout dumped into DIR")
    parser.add_argument("--only", default="", metavar="PREFIX",
                        help="only the outputs whose name starts with PREFIX")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes rendering in parallel (--dump renders in one)")
    parser.add_argument("--part", default="0/1", help=argparse.SUPPRESS)
    parser.add_argument("--print-manifest", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.print_manifest:  # one share of a --jobs run: its manifest on stdout
        i, n = map(int, args.part.split("/"))
        print(json.dumps(manifest(Outputs(args.only, (i, n)).all())))
        return 0
    texts = Outputs(args.only).all() if args.dump else {}
    have = manifest(texts) if args.dump else rendered(args.only, args.jobs)
    print(f"{len(have)} outputs rendered")
    if args.dump:
        for name, text in texts.items():
            target = args.dump / _file_name(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        print(f"written into {args.dump}")
    if args.write:
        if args.only:
            parser.error("--write writes the whole manifest; leave out --only")
        MANIFEST.write_text(json.dumps(have, indent=0) + "\n", encoding="utf-8")
        print(f"written {MANIFEST.relative_to(ROOT)}")
        return 0
    if args.compare:
        want = {str(p.relative_to(args.compare))[:-len(".out")]: digest(p.read_text("utf-8"))
                for p in args.compare.rglob("*.out")}
        against = str(args.compare)
    else:
        want = json.loads(MANIFEST.read_text(encoding="utf-8"))
        against = str(MANIFEST.relative_to(ROOT))
    lines = differences(have, want, args.only)
    for line in lines:
        print(line)
    if lines:
        print(f"{len(lines)} outputs differ from {against}")
        return 1
    print(f"identical to {against}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
