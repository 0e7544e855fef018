"""Long runs: the progress bar on a terminal's stderr, and Ctrl-C that stops training with
the loss table so far (exit 130). Driven through the real program in a pseudo-terminal
(pexpect), as a user at a keyboard would.

The runs asked for are far too long to finish (10^8 updates of Mazur's network take hours):
each test stops its run with Ctrl-C (SIGINT) once it has trained for a while.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from bpwalk import engine
from bpwalk.engine import run as engine_run
from bpwalk.scenario import load, resolve

from .conftest import ROOT

pexpect = pytest.importorskip("pexpect")

ENDLESS = ("run", "mazur", "-n", "100000000", "--show", "none")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    return {**env, "TERM": "xterm-256color", "NO_COLOR": "1", **extra}


def _spawn(*args: str):
    return pexpect.spawn(sys.executable, ["-m", "bpwalk", *args], cwd=str(ROOT), env=_env(),
                         dimensions=(24, 100), encoding="utf-8", timeout=60)


def _finish(child) -> str:
    child.expect(pexpect.EOF)
    child.close()
    return child.before


def test_terminal_shows_progress_and_ctrl_c_prints_the_loss_table_so_far():
    child = _spawn(*ENDLESS)
    child.expect(r"([\d,]+) updates/s")  # rich's bar, after about a second of training
    assert int(child.match.group(1).replace(",", "")) > 0
    child.expect(r"loss \d")  # the current loss beside it
    child.sendintr()
    rest = _finish(child)
    assert child.exitstatus == 130
    assert "Loss over all updates" in rest  # the table of the updates made
    made = int(rest.split("interrupted after ")[1].split(" of ")[0].replace(",", ""))
    assert 0 < made < 100_000_000
    assert f"Loss after {made} updates" in rest.replace(",", "")


def test_quiet_shows_no_bar_and_ctrl_c_still_stops_cleanly():
    child = _spawn(*ENDLESS, "--quiet")
    time.sleep(2.5)  # past the second after which a bar would show
    child.sendintr()
    out = _finish(child)
    assert child.exitstatus == 130
    assert "updates/s" not in out
    assert "Loss over all updates" in out and "interrupted after" in out


def test_a_pipe_gets_no_bar():
    child = subprocess.Popen([sys.executable, "-m", "bpwalk", *ENDLESS], cwd=ROOT, env=_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130
    assert err.startswith("interrupted after ") and err.count("\n") == 1  # that line only
    assert "Loss over all updates" in out


def test_export_interrupted_writes_nothing(tmp_path):
    target = tmp_path / "trace.json"
    child = _spawn("export", "mazur", "-n", "100000000", "--show", "none", "-o", str(target))
    child.expect("updates/s")
    child.sendintr()
    rest = _finish(child)
    assert child.exitstatus == 130
    assert "nothing written" in rest
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("stop_at", [1, 3])
@pytest.mark.parametrize("name, loop", [("mazur", "float"), ("mazur_adam", "float"),
                                        ("mazur_adam", "vectorised")])
def test_a_stopped_run_is_the_run_of_the_updates_made(stop_at, name, loop, monkeypatch):
    """Stopping changes no number: the trace of a run stopped after N updates equals, value
    for value, the trace of a run of N updates (with Adam, its state too), in the loop for
    tiny networks and in the vectorised one."""
    if loop == "vectorised":
        monkeypatch.setattr(engine.tiny, "TINY_WORK", -1)
    path, shown = resolve(name)
    scenario = load(path, display_name=shown)
    calls = []

    def watch(done: int, loss: float) -> bool:
        calls.append(done)
        return len(calls) < stop_at

    stopped = engine_run(scenario, iterations=100_000, show={1}, watch=watch)
    made = stopped.total_iterations
    assert made == calls[-1] and 0 < made < 100_000
    whole = engine_run(scenario, iterations=made, show={1})
    assert stopped.loss_history == whole.loss_history
    assert stopped.params_final == whole.params_final
    assert stopped.loss_updates == whole.loss_updates
    assert stopped.state_final == whole.state_final
