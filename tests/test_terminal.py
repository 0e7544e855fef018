"""The rich walkthrough (`bpwalk run`): what a person sees at 80 and 120 columns.

Mazur's numbers are from "A Step by Step Backpropagation Example" (Matt Mazur, 2015,
https://mattmazur.com/2015/03/17/a-step-by-step-backpropagation-example/). Every other
expected number or formula is taken from the engine's trace through bpwalk.notation.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from bpwalk.cli import app
from bpwalk.engine import run
from bpwalk.notation import formula, number, profile, shortcut
from bpwalk.scenario import bundled_dir, bundled_names, load, loads
from bpwalk.trace import Trace
from bpwalk.views.terminal import Walkthrough, console

ROOT = Path(__file__).resolve().parents[1]


def unum(value: float) -> str:
    """A number as the Unicode walkthrough prints it: with a true minus sign (issue 13)."""
    return number(value).replace("-", "−")
MAZUR = ROOT / "scenarios" / "mazur.yaml"

# Mazur's post, in the order the post computes them within each pass.
MAZUR_FORWARD = ["0.3775", "0.593269992", "0.596884378", "1.105905967", "0.75136507",
                 "0.772928465"]
MAZUR_LOSS = ["0.298371109"]
MAZUR_BACKWARD = ["0.74136507", "0.186815602", "0.082167041",  # output layer, w5
                  "0.036350306", "0.241300709", "0.000438568"]  # hidden layer, w1
MAZUR_UPDATE = ["0.35891648", "0.149780716"]  # new w5, then new w1

XOR = """\
name: xor
title: XOR, full batch
inputs: [x1, x2]
layers:
  - neurons: [h1, h2]
    activation: sigmoid
    weights: [[0.5, -0.4], [0.3, 0.8]]
    bias: [0.1, -0.2]
  - neurons: [y]
    activation: sigmoid
    weights: [[0.7, -0.6]]
    bias: 0.05
loss: half_squared_error
learning_rate: 0.5
update_biases: true
data:
  - {inputs: [0, 0], targets: [0]}
  - {inputs: [0, 1], targets: [1]}
  - {inputs: [1, 0], targets: [1]}
  - {inputs: [1, 1], targets: [0]}
"""

SOFTMAX = """\
name: softmax
title: Softmax with cross-entropy
inputs: [i1, i2]
layers:
  - neurons: [o1, o2, o3]
    activation: softmax
    weights: [[0.1, 0.2], [0.3, -0.1], [-0.2, 0.4]]
    bias: [0.0, 0.1, -0.1]
loss: cross_entropy
learning_rate: 0.1
update_biases: true
data:
  - {inputs: [1.0, 2.0], targets: [0, 1, 0]}
"""


def render(trace: Trace, width: int = 80, **kwargs) -> str:
    con = console(record=True, width=width, file=io.StringIO())
    con.print(Walkthrough(trace, **kwargs))
    return con.export_text()


def flat(text: str) -> str:
    """A formula wrapped over lines read as one line again: whitespace runs as one space,
    none after a product's operator (the view may break a line after '·' or '*')."""
    return re.sub(r"([·*])\s+", r"\1", re.sub(r"\s+", " ", text))


def positions(text: str, numbers: list[str], start: int = 0) -> list[int]:
    """Where each number occurs as a whole number, each searched after the previous one."""
    found = []
    for n in numbers:
        m = re.compile(r"(?<![\d.])" + re.escape(n) + r"(?![\d])").search(text, start)
        assert m, f"{n} not found (in order) after position {start}"
        start = m.end()
        found.append(m.start())
    return found


def section(text: str, title: str, end: str) -> str:
    return text[text.index(f"\n{title}\n"):text.index(f"\n{end}\n")]


@pytest.fixture(scope="module")
def mazur() -> Trace:
    return run(load(MAZUR))


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "80", **(env or {})})
    return result.exit_code, result.output


# ----------------------------------------------------------------------------- Mazur


@pytest.mark.parametrize("width", [80, 120])
def test_mazur_numbers_in_his_order_within_each_pass(mazur: Trace, width: int) -> None:
    text = render(mazur, width)
    positions(section(text, "Forward pass", "Loss"), MAZUR_FORWARD)
    positions(section(text, "Loss", "Backward pass"), MAZUR_LOSS)
    positions(section(text, "Backward pass", "Update"), MAZUR_BACKWARD)
    positions(text[text.index("\nUpdate\n"):], MAZUR_UPDATE)
    # and the passes themselves come in order
    assert (text.index("Forward pass") < text.index("\nLoss\n") < text.index("Backward pass")
            < text.index("\nUpdate\n") < text.index("Summary"))


@pytest.mark.parametrize("width", [80, 120])
def test_every_step_written_out_in_full(mazur: Trace, width: int) -> None:
    """Symbols, numbers and result of every step, none cut: the strongest 'nothing is cut'."""
    text = flat(render(mazur, width))
    for step in mazur.iterations[0].steps:
        f = formula(step, "unicode", 9)
        assert f"{f.lhs} = {f.symbolic}" in text, step.id
        assert f"= {f.numeric}" in text, step.id
        assert f"= {f.result}" in text, step.id


@pytest.mark.parametrize("width", [80, 120])
def test_fits_the_width_and_nothing_is_ellipsised(mazur: Trace, width: int) -> None:
    for trace in (mazur, run(load(MAZUR), iterations=50, show={1, 50})):
        text = render(trace, width)
        assert "…" not in text
        assert max(len(line) for line in text.splitlines()) <= width


def test_formulas_read_like_the_post(mazur: Trace) -> None:
    text = flat(render(mazur))
    assert "net_h1 = w₁·i₁ + w₂·i₂ + b₁·1 = 0.15·0.05 + 0.2·0.1 + 0.35·1 = 0.3775" in text
    assert "out_h1 = 1/(1 + e^(−net_h1)) = 1/(1 + e^(−0.3775)) = 0.593269992" in text
    assert ("∂E/∂w₅ = ∂E/∂out_o1·∂out_o1/∂net_o1·∂net_o1/∂w₅ "
            "= 0.74136507·0.186815602·0.593269992 = 0.082167041") in text
    assert "w₅⁺ = w₅ − η·∂E/∂w₅ = 0.4 − 0.5·0.082167041 = 0.35891648" in text


def test_heading_network_table_and_summary(mazur: Trace) -> None:
    text = render(mazur)
    head = text[:re.search(r"\nParameters *\n", text).start()]
    assert "A Step by Step Backpropagation Example" in head
    assert "Matt Mazur" in head
    assert "2-2-2" in head and "sigmoid" in head
    assert "E = Σₖ ½(target_k − out_k)²" in head  # the loss rule, one tree (issue 12)
    assert "η = 0.5" in head
    assert "update_biases: false" in head
    # which weight is which: w6 connects h2 to o1 (Mazur's numbering)
    assert re.search(r"w₆\s+h2 → o1\s+0\.45", text)
    assert re.search(r"b₁\s+bias → h1, h2\s+0\.35", text)
    assert re.search(r"1\s+0\.05\s+0\.1\s+0\.01\s+0\.99", text)  # inputs and targets
    summary = text[text.index("Summary"):]
    for name in mazur.scenario.param_names:
        assert re.search(rf"{unum(mazur.params_first[name])}\s+→\s+"
                         rf"{re.escape(unum(mazur.params_final[name]))}\s+"
                         rf"{re.escape(unum(mazur.param_change[name]))}", summary), name
    assert f"Loss before: E = {unum(mazur.loss_history[0])}" in summary
    assert f"E = {unum(mazur.loss_history[-1])}" in summary


def test_hidden_layer_says_it_uses_the_old_weights(mazur: Trace) -> None:
    backward = flat(section(render(mazur), "Backward pass", "Update"))
    hidden = backward[backward.index("Layer 1, hidden layer"):]
    assert "weights from before the update" in hidden
    assert "∂E/∂out_h1 = ∂E/∂net_o1·w₅ + ∂E/∂net_o2·w₇ = 0.138498562·0.4 + " in hidden


def test_change_comes_from_the_engine(mazur: Trace) -> None:
    # Mazur's post: w5 goes from 0.4 to 0.35891648
    assert number(mazur.param_change["w5"]) == "-0.04108352"


# ----------------------------------------------------------------------------- options


def test_iterations_and_show() -> None:
    code, out = cli("run", str(MAZUR), "-n", "20", "--show", "1,20")
    assert code == 0
    trace = run(load(MAZUR), iterations=20, show={1, 20})
    assert "Update 1 of 20" in out and "Update 20 of 20" in out and "Update 2 of 20" not in out
    table = out[out.index("Loss over all updates"):out.index("Summary")]
    for loss in (trace.loss_history[0], trace.loss_history[10], trace.loss_history[20]):
        assert unum(loss) in table
    assert "•" in table  # the curve
    summary = out[out.index("Summary after 20 updates"):]
    assert unum(trace.params_final["w5"]) in summary
    assert f"E = {unum(trace.loss_history[-1])}" in summary


def test_show_last_explains_only_the_last() -> None:
    code, out = cli("run", str(MAZUR), "-n", "3", "--show", "last")
    assert code == 0
    assert "Update 3 of 3" in out and "Update 1 of 3" not in out


def test_decimals() -> None:
    code, out = cli("run", str(MAZUR), "--decimals", "4")
    assert code == 0
    assert "0.5933" in out and "0.593269992" not in out
    assert "= 0.3775" in out


def test_ascii() -> None:
    code, out = cli("run", str(MAZUR), "--ascii")
    assert code == 0
    assert out.isascii()
    assert "dE/dw5 = dE/dout_o1*dout_o1/dnet_o1*dnet_o1/dw5" in flat(out)
    assert "w5+ = w5 - eta*dE/dw5" in flat(out)
    assert "E = sum_k 1/2*(target_k - out_k)^2" in out


@pytest.mark.parametrize("phase,title", [("forward", "Forward pass"), ("loss", "Loss"),
                                         ("backward", "Backward pass"), ("update", "Update")])
def test_phase_shows_only_that_part(phase: str, title: str) -> None:
    code, out = cli("run", str(MAZUR), "--phase", phase)
    assert code == 0
    shown = {t for t in ("Forward pass", "Loss", "Backward pass", "Update")
             if f"\n{t}\n" in out}
    assert shown == {title}
    assert ("0.35891648" in out) == (phase == "update")  # new w5


def test_phase_unknown_is_a_usage_error() -> None:
    code, out = cli("run", str(MAZUR), "--phase", "sideways")
    assert code == 2
    assert "forward, loss, backward, update" in out


def test_colour_only_when_asked_for_and_allowed(mazur: Trace,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)

    def out(**kwargs) -> str:
        buf = io.StringIO()
        console(file=buf, width=80, force_terminal=True, **kwargs).print(Walkthrough(mazur))
        return buf.getvalue()

    assert "\x1b[" in out()  # a terminal gets colour ...
    assert "\x1b" not in out(no_color=True)  # ... unless --no-color
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b" not in out()  # ... or NO_COLOR


def test_no_color_option_and_pipe_have_no_escape_codes() -> None:
    code, out = cli("run", str(MAZUR), "--no-color")
    assert code == 0 and "\x1b" not in out and "0.593269992" in out


def test_round() -> None:
    code, out = cli("run", str(MAZUR), "--round", "4")
    assert code == 0
    head = out[:re.search(r"\nParameters *\n", out).start()]
    assert "rounded to 4 decimals" in head
    trace = run(load(MAZUR), round_to=4)
    assert f"= {unum(trace.iterations[0].step('out:h1').value)}" in out
    assert "0.593269992" not in out


def test_help_lists_the_options() -> None:
    code, out = cli("run", "--help")
    assert code == 0
    for opt in ("--iterations", "--show", "--decimals", "--ascii", "--phase", "--no-color",
                "--round"):
        assert opt in out


# ----------------------------------------------------------------------------- batches, softmax


def test_batch_per_sample_then_combined() -> None:
    trace = run(loads(XOR))
    text = render(trace)
    assert "…" not in text and max(map(len, text.splitlines())) <= 80
    backward = section(text, "Backward pass", "Update")
    starts = [backward.index(f"Sample {s}\n") for s in (1, 2, 3, 4)]
    combined = backward.index("Gradients of the batch: the mean")
    assert starts == sorted(starts) and starts[-1] < combined
    flat_text = flat(text)
    g = formula(trace.iterations[0].step("grad:w1"), "unicode")
    # the sample marker cannot be read as a power or a layer (issue 13, item 10)
    # one spacing for every division (issue 26): a/b, (a + b)/4
    assert g.symbolic == "(∂E/∂w₁[#1] + ∂E/∂w₁[#2] + ∂E/∂w₁[#3] + ∂E/∂w₁[#4])/4"
    assert f"{g.lhs} = {g.symbolic} = {g.numeric} = {g.result}" in flat_text
    loss = formula(trace.iterations[0].step("loss"), "unicode")
    assert f"E = {loss.symbolic} = {loss.numeric} = {loss.result}" in flat_text
    for step in trace.iterations[0].steps:  # every per-sample step too, in full
        f = formula(step, "unicode")
        assert f"{f.lhs} = {f.symbolic} = " in flat_text, step.id


def test_softmax_cross_entropy_shows_jacobian_and_shortcut() -> None:
    trace = run(loads(SOFTMAX))
    for width in (80, 120):
        text = render(trace, width)
        assert "…" not in text and max(map(len, text.splitlines())) <= width
        flat_text = flat(text)
        assert "Jacobian" in flat_text
        step = trace.iterations[0].step("dnet:o2")
        f = formula(step, "unicode")
        assert f.symbolic.count("/∂net_o2") == 3  # the sum over every output
        assert f"{f.lhs} = {f.symbolic} = {f.numeric} = {f.result}" in flat_text
        s = shortcut(step, "unicode")
        assert s is not None and s.symbolic == "out_o2 − target_o2"
        assert f"= {s.symbolic} = {s.numeric} = {s.result}" in flat_text


def test_wide_data_falls_back_to_one_cell_per_sample() -> None:
    n = 14
    text = "\n".join([
        "name: wide", f"inputs: [{', '.join(f'i{k}' for k in range(1, n + 1))}]",
        "layers:", "  - neurons: [o1]", "    activation: sigmoid",
        f"    weights: [[{', '.join(['0.123456789'] * n)}]]",
        "loss: half_squared_error", "learning_rate: 0.5",
        "data:", f"  - {{inputs: [{', '.join(['0.987654321'] * n)}], targets: [0.5]}}",
    ])
    out = render(run(loads(text)))
    assert "…" not in out and max(map(len, out.splitlines())) <= 80
    assert out.count("0.987654321") >= n


# ----------------------------------------------------------------------------- processes


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(extra)
    return env


def test_bpwalk_run_mazur_at_80_columns_in_a_pipe() -> None:
    done = subprocess.run([sys.executable, "-m", "bpwalk", "run", str(MAZUR)], check=False,
                          capture_output=True, text=True, encoding="utf-8",
                          env=_env(COLUMNS="80"), timeout=60)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "\x1b" not in out  # a pipe gets no escape codes
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    positions(out, MAZUR_FORWARD + MAZUR_LOSS + MAZUR_BACKWARD + MAZUR_UPDATE)


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_import_neither_numpy_nor_the_engine(flag: str) -> None:
    script = (
        "import sys\n"
        "from bpwalk.cli import app\n"
        f"try:\n    app([{flag!r}])\nexcept SystemExit:\n    pass\n"
        "print('LOADED', 'numpy' in sys.modules, 'bpwalk.engine' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True,
                          env=_env(COLUMNS="80"), timeout=60)
    assert done.returncode == 0, done.stderr
    assert "LOADED False False" in done.stdout
    # the check can fail: running a command does import them
    script = script.replace(repr(flag), repr("run") + ", " + repr(str(MAZUR)))
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True,
                          env=_env(COLUMNS="80"), timeout=60)
    assert "LOADED True True" in done.stdout


def test_docs_sample_is_a_real_run(mazur: Trace) -> None:
    page = (ROOT / "docs" / "walkthrough.md").read_text(encoding="utf-8")  # (the README's once)
    part = page[page.index("# Reading a walkthrough"):]
    sample = part[part.index("```text\n") + 8:part.index("```\n", part.index("```text\n") + 8)]
    real = [line.rstrip() for line in render(mazur, 80).splitlines()]
    lines = [line for line in sample.splitlines() if not line.startswith("$ ")]
    assert len(lines) > 40
    for line in lines:
        assert line in real, line


@pytest.mark.parametrize("name", bundled_names())
@pytest.mark.parametrize("style,width", [("unicode", 80), ("ascii", 80), ("unicode", 50)])
def test_every_bundled_example_in_full_and_uncut(name: str, style: str, width: int) -> None:
    trace = run(load(bundled_dir() / f"{name}.yaml"), iterations=3, show={1, 3})
    text = render(trace, width, style=style)
    assert "…" not in text
    # columns, not characters: m̂ is m and a combining hat, one column
    assert max(cell_len(line) for line in text.splitlines()) <= width
    for value in list(trace.params_final.values()) + trace.loss_history:
        # the summary and loss table, whole
        assert (unum if style == "unicode" else number)(value) in text
    if style == "ascii":
        assert text.isascii()
    flat_text = flat(text)
    for it in trace.iterations:
        for step in it.steps:
            f = formula(step, style, p=profile(None, trace.scenario))  # (a circuit's: ∂f/∂x)
            if step.note == "zero before the first update":  # one line per layer (issue 26)
                assert f"{f.lhs} = " in flat_text and f"= 0 ({step.note})" in flat_text
                continue
            assert f"{f.lhs} = {f.symbolic}" in flat_text, (name, step.id)
            assert f"= {f.numeric}" in flat_text and f"= {f.result}" in flat_text, (name, step.id)


def test_drawn_starting_values_are_named_in_the_heading() -> None:
    text = XOR.replace("    weights: [[0.5, -0.4], [0.3, 0.8]]\n", "")
    text = text.replace("    bias: [0.1, -0.2]\n", "") + "init: {seed: 3, scheme: uniform}\n"
    trace = run(loads(text))
    head = flat(render(trace))
    drawn = ", ".join(f"{n[0]}{n[1:].translate(str.maketrans('0123456789', '₀₁₂₃₄₅₆₇₈₉'))}"
                      for n in trace.scenario.init["drawn"])
    assert f"Drawn: {drawn} by init (uniform, seed 3)" in head
    for name in trace.scenario.init["drawn"]:  # the drawn values themselves, in the table
        assert unum(trace.params_first[name]) in head


# ----------------------------------------------------------------------------- issue 26


def test_the_optimizer_state_before_the_first_update_is_one_line_per_layer() -> None:
    trace = run(load(bundled_dir() / "mazur_adam.yaml"), iterations=2, show={1, 2})
    text = render(trace, 100)
    zeros = [line for line in text.splitlines() if re.fullmatch(r"[mv]_w\d\[t-1\] = 0\s*", line)]
    assert zeros == []  # no line of its own per quantity ...
    chains = re.findall(r"m_w\d\[t-1\] = .*?= 0 \(zero before the first update\)", flat(text))
    assert len(chains) == len(trace.scenario.layers)  # ... one per layer
    assert "m_w5[t-1] = 0.008216704" in text  # update 2's state carried in: a step each


@pytest.mark.parametrize("name", ["mazur_adam", "xor", "regression", "mazur_rmsprop"])
def test_every_division_is_spaced_alike(name: str) -> None:
    text = render(run(load(bundled_dir() / f"{name}.yaml"), iterations=1), 100)
    text = "\n".join(line for line in text.splitlines() if "https://" not in line)
    assert " / " not in text
