"""Hostile input and broken environments (issue #18): no traceback, no hang, nothing clobbered.

Each test reproduces one case a hostile or careless user hit, through the real program
(python -m bpwalk) as they ran it. The bad scenario files (limits, control characters, ...)
are fixtures in tests/fixtures/bad/, checked by test_scenario_errors.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bpwalk import engine, files
from bpwalk.cli import _exit_on_signal
from bpwalk.engine import run
from bpwalk.scenario import load, resolve
from bpwalk.views import json as json_view

from .conftest import ROOT, SCENARIOS, run_cli

MAZUR = SCENARIOS / "mazur.yaml"
BOX = re.compile("[╭╮╰╯│─]")


def _no_traceback(r: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in r.stderr + r.stdout, r.stderr


def _python_bpwalk(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "80", **kwargs.pop("env", {})}
    return subprocess.run([sys.executable, "-m", "bpwalk", *args], check=False, env=env,
                          cwd=kwargs.pop("cwd", ROOT), timeout=120, **kwargs)


# ----------------------------------------------------------------------------- -o targets


def test_output_through_a_symlink_writes_the_file_and_keeps_the_link(tmp_path):
    real, link = tmp_path / "real.json", tmp_path / "link.json"
    real.write_text("old\n")
    link.symlink_to(real.name)
    r = run_cli("schema", "-o", str(link))
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == real.name  # the link is still a link
    assert real.read_text().startswith("{")  # and the file it names got the text


def test_output_through_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.json"
    link.symlink_to("made.json")
    assert run_cli("schema", "-o", str(link)).returncode == 0
    assert link.is_symlink() and (tmp_path / "made.json").read_text().startswith("{")


@pytest.mark.skipif(not os.path.exists("/dev/stdout"), reason="needs /dev/stdout")
def test_output_to_dev_stdout_redirected_to_a_file(tmp_path):
    # `-o /dev/stdout > file` used to rename a temporary file over /dev/stdout (as root:
    # replacing the device's link) and leave `file` empty.
    out = tmp_path / "out.json"
    with out.open("w") as f:
        r = _python_bpwalk("schema", "-o", "/dev/stdout", stdout=f, stderr=subprocess.PIPE,
                           text=True)
    assert r.returncode == 0, r.stderr
    assert os.path.islink("/dev/stdout")
    expected = run_cli("schema").stdout
    assert out.read_text() == expected
    with out.open("a") as f:  # >> appends: the stream is written, not truncated
        _python_bpwalk("schema", "-o", "/dev/stdout", stdout=f)
    assert out.read_text() == expected * 2


def test_output_to_a_pipe_name_and_dev_null():
    r = _python_bpwalk("schema", "-o", "/dev/stdout", capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == run_cli("schema").stdout
    assert run_cli("schema", "-o", "/dev/null").returncode == 0
    assert Path("/dev/null").is_char_device()


def test_output_with_a_trailing_slash_is_a_folder(tmp_path):
    r = run_cli("export", "mazur", "-o", f"{tmp_path}/newdir/")
    assert r.returncode == 2
    _no_traceback(r)
    assert "names a folder; give a file name" in r.stderr and r.stderr.count("\n") == 1
    assert not (tmp_path / "newdir").exists()  # no file named like the folder


def test_export_refuses_to_overwrite_its_scenario(tmp_path):
    scenario = tmp_path / "x.yaml"
    scenario.write_text(MAZUR.read_text())
    for out in (str(scenario), f"{tmp_path}/./x.yaml"):
        r = run_cli("export", str(scenario), "-o", out)
        assert r.returncode == 2 and "is the scenario this command reads" in r.stderr
    assert scenario.read_text() == MAZUR.read_text()
    r = run_cli("worksheet", str(scenario), "--answers-template", str(scenario))
    assert r.returncode == 2 and scenario.read_text() == MAZUR.read_text()


def test_worksheet_writes_both_files_or_neither(tmp_path):
    template = tmp_path / "answers.yaml"
    r = run_cli("worksheet", "mazur", "--answers-template", str(template),
                "-o", str(tmp_path / "missing" / "sheet.md"))
    assert r.returncode == 2 and "does not exist" in r.stderr
    assert list(tmp_path.iterdir()) == []  # the template was not left behind alone
    r = run_cli("worksheet", "mazur", "--answers-template", str(template),
                "-o", str(tmp_path / "sheet.md"))
    assert r.returncode == 0 and template.exists() and (tmp_path / "sheet.md").exists()


def test_sigterm_during_a_write_removes_the_temporary_file(tmp_path, monkeypatch):
    # SIGTERM arrives while the text is being written: main's handler turns it into
    # SystemExit(143), and the write removes its temporary file as it does on Ctrl-C.
    # (It left a hidden 121 MB .tmp behind.)
    old = signal.signal(signal.SIGTERM, _exit_on_signal)
    real_fsync = os.fsync

    def terminated(fd: int) -> None:
        real_fsync(fd)
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(files.os, "fsync", terminated)
    try:
        with pytest.raises(SystemExit) as ended:
            files.write_atomic(tmp_path / "out.md", "x" * 1000)
    finally:
        signal.signal(signal.SIGTERM, old)
    assert ended.value.code == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- broken stdout


COMMANDS = [("export", "mazur"), ("run", "mazur"), ("check", "mazur", "ANSWERS"),
            ("schema",), ("examples",), ("validate", "mazur")]


@pytest.fixture
def answers(tmp_path) -> Path:
    path = tmp_path / "answers.yaml"
    path.write_text("net:h1: 0.3775\n")
    return path


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_stdout_on_a_full_disk_is_one_line_and_exit_2(args, answers):
    args = [str(answers) if a == "ANSWERS" else a for a in args]
    with open("/dev/full", "w") as full:
        r = _python_bpwalk(*args, stdout=full, stderr=subprocess.PIPE, text=True)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1
    assert "cannot write the output (No space left on device)" in r.stderr


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_stdout_closed_is_one_line_and_exit_2(args, answers):
    # `bpwalk run mazur >&-` exited 0 with the output lost; others raised AttributeError.
    args = [str(answers) if a == "ANSWERS" else a for a in args]
    r = _python_bpwalk(*args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       preexec_fn=lambda: os.close(1))
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1
    assert "standard output is closed" in r.stderr


def test_step_with_stdin_closed_is_one_line():
    r = _python_bpwalk("run", "mazur", "--step", capture_output=True, text=True,
                       preexec_fn=lambda: os.close(0))
    assert r.returncode == 2
    _no_traceback(r)
    assert r.stderr == ("--step needs a terminal, and standard input is closed; run without "
                        "--step to print the whole solution\n")


# ----------------------------------------------------------------------------- sizes, limits


@pytest.mark.parametrize("columns", ["0", "1", "2", "3"])
def test_tiny_columns_still_print_the_walkthrough(columns):
    # COLUMNS=1..3 looped for ever (8 GB after 10 minutes); COLUMNS=0 printed nothing.
    r = run_cli("run", "mazur", env={"COLUMNS": columns})
    assert r.returncode == 0 and "0.298371109" in r.stdout  # Mazur's E_total


def test_iterations_option_beyond_the_limit_is_one_line():
    r = run_cli("run", "mazur", "-n", "99999999999999999999")  # was an OverflowError
    assert r.returncode == 2
    _no_traceback(r)
    assert r.stderr.count("\n") == 1 and "1<=x<=100000000" in r.stderr


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/urandom"])
def test_endless_files_are_refused_at_the_size_cap(path, answers):
    # Reading /dev/zero as a scenario grew by ~300 MB/s and never ended.
    for args in (("validate", path), ("check", "mazur", path)):
        r = run_cli(*args)
        assert r.returncode == 2
        assert f"{path}: is larger than 10 MiB, the limit for " in r.stderr


def test_an_explanation_past_50_mb_asks_for_force():
    # `-n 100000 --show all` grew past 2.5 GB before printing anything.
    r = run_cli("run", "mazur", "-n", "100000", "--show", "all")
    assert r.returncode == 2
    assert "explaining 100,000 updates of this 2-2-2 network makes about" in r.stderr
    assert "add --force" in r.stderr


def test_a_wide_network_with_many_samples_asks_for_force(tmp_path):
    # An 8-64-64-4 network and 64 samples: 244 MB of Markdown for one update, no warning.
    samples = "".join(f"  - inputs: [{', '.join(['0.5'] * 8)}]\n    targets: [0, 0, 0, 1]\n"
                      for _ in range(64))
    scenario = tmp_path / "wide.yaml"
    scenario.write_text("inputs: 8\nlayers:\n" + "".join(
        f"  - neurons: {n}\n    activation: sigmoid\n" for n in (64, 64, 4))
        + "loss: half_squared_error\nlearning_rate: 0.1\ninit: {seed: 1}\ndata:\n" + samples)
    r = run_cli("export", str(scenario), "-f", "md", "-o", str(tmp_path / "out.md"))
    assert r.returncode == 2 and "add --force" in r.stderr
    assert not (tmp_path / "out.md").exists()


@pytest.mark.parametrize("batch", ["full", 1])
def test_a_long_runs_loss_history_is_kept_in_bounded_memory(monkeypatch, batch):
    # 1e8 updates kept 1e8 losses (3.2 GB as Python floats). Past engine.MAX_HISTORY updates
    # the history keeps the losses at multiples of a round stride and the last one; here
    # MAX_HISTORY is made 10 so that 25 updates show it on Mazur's network and on XOR's
    # one-sample batches.
    name = "mazur" if batch == "full" else "xor_sgd"
    sc = load(*resolve(name))
    whole = run(sc, iterations=25, show={1}).loss_history  # 26 entries: 0..25 updates
    monkeypatch.setattr(engine, "MAX_HISTORY", 10)
    kept = run(sc, iterations=25, show={1})
    assert kept.loss_updates == [0, 5, 10, 15, 20, 25]  # stride 5: 1, 2 and 5 are round
    assert kept.loss_history == [whole[i] for i in kept.loss_updates]  # the same numbers
    assert kept.loss_after(10) == whole[10] and kept.loss_after(11) is None
    data = json.loads(json_view.render(kept))  # the JSON says which updates it kept
    assert data["loss_history_updates"] == kept.loss_updates
    assert data["final"]["loss"] == whole[-1]
    assert "loss_history_updates" not in json.loads(json_view.render(run(sc, iterations=2)))


def test_the_loss_history_stride_keeps_1e8_updates_small():
    every = engine._stride(10**8)
    assert every == 1000 and 10**8 // every + 1 <= engine.MAX_HISTORY + 1
    assert [engine._stride(n) for n in (1, engine.MAX_HISTORY)] == [1, 1]


# ----------------------------------------------------------------------------- messages


def test_control_characters_in_a_file_name_are_escaped(tmp_path):
    name = str(tmp_path / "\x1b]0;owned\x07\x1b[2J.yaml")
    r = run_cli("run", name)
    assert r.returncode == 2
    assert "\x1b" not in r.stderr and "\x07" not in r.stderr
    assert "\\x1b]0;owned\\x07\\x1b[2J.yaml: no such file" in r.stderr


def test_control_characters_in_a_key_are_escaped(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(MAZUR.read_text() + '"\\e[2Jbad\\u009b": 1\n')
    r = run_cli("validate", str(scenario))
    assert r.returncode == 2 and "\x1b" not in r.stderr and "\x9b" not in r.stderr
    assert "unknown key '\\x1b[2Jbad\\x9b'" in r.stderr


def test_new_with_a_line_break_in_the_file_name(tmp_path):
    r = run_cli("new", str(tmp_path / "a\nb.yaml"))  # was a ScenarioError traceback
    assert r.returncode == 2
    _no_traceback(r)
    assert r.stderr.count("\n") == 1 and "choose a plain file name" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_many_problems_are_summarised_after_20(tmp_path):
    # 100k unknown ids printed 100k lines (and took 41 s finding suggestions for each).
    answers = tmp_path / "answers.yaml"
    answers.write_text("".join(f"nope{i}: 1\n" for i in range(30)))
    r = run_cli("check", "mazur", str(answers))
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert len(lines) == 21 and lines[-1] == f"{answers}: ... and 10 more problems; fix these first"


def test_an_answers_files_problems_come_in_one_round(tmp_path):
    answers = tmp_path / "answers.yaml"
    answers.write_text("net:h1: 0.3775\nnet:h2: abc\ngrad:w99: 0.1\n")
    r = run_cli("check", "mazur", str(answers))
    assert r.returncode == 2
    assert [line.split(": ")[0] for line in r.stderr.splitlines()] == [
        f"{answers}:2:9", f"{answers}:3:1"]  # the non-number and the unknown id, in order
    assert "unknown step id 'grad:w99'" in r.stderr


@pytest.mark.parametrize("args", [
    ["run", "mazur", "--decimals", "99"], ["run"], ["frob"], ["run", "mazur", "--nope"],
    ["check", "mazur"], ["run", "mazur", "--round", "x"],
])
def test_every_option_error_is_one_line(args):
    r = run_cli(*args)
    assert r.returncode == 2
    _no_traceback(r)
    assert not BOX.search(r.stderr), r.stderr  # no rich panel
    assert r.stderr.count("\n") == 1 and "; see '" in r.stderr and "--help'" in r.stderr


@pytest.mark.parametrize("env, coloured", [({"FORCE_COLOR": "1"}, True),
                                           ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),
                                           ({}, False)])
def test_force_color_in_a_pipe_and_no_color_wins(env, coloured):
    # README documents FORCE_COLOR beside NO_COLOR (#13): colour in a pipe, unless NO_COLOR.
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    r = subprocess.run([sys.executable, "-m", "bpwalk", "run", "mazur"], capture_output=True,
                       text=True, env={**base, **env}, cwd=ROOT, timeout=120, check=False)
    assert bool(re.search(r"\x1b\[[0-9;]*m", r.stdout)) == coloured


def test_help_starts_with_a_command_that_works_anywhere(tmp_path):
    r = run_cli("--help")
    start = re.search(r"Start with:\s+(bpwalk run \w+)", r.stdout)
    assert start, r.stdout
    command = start.group(1).split()[1:]
    assert run_cli(*command, cwd=tmp_path).returncode == 0  # not a path relative to a checkout


# ----------------------------------------------------------------------------- bundled names


def test_a_local_file_named_like_an_example_says_it_is_used(tmp_path):
    (tmp_path / "mazur").write_text((SCENARIOS / "xor.yaml").read_text())
    r = run_cli("validate", "mazur", cwd=tmp_path)
    assert r.returncode == 0 and "2-2-1 network" in r.stdout  # the local file (xor), as before
    r = run_cli("run", "mazur", cwd=tmp_path)
    assert "note: mazur is the file in this folder, not the bundled example" in r.stderr
    (tmp_path / "mazur").unlink()
    (tmp_path / "mazur").mkdir()  # a folder of that name does not hide the example
    r = run_cli("run", "mazur", cwd=tmp_path)
    assert r.returncode == 0 and "note:" not in r.stderr


def test_examples_copy_writes_an_example_to_edit(tmp_path):
    r = run_cli("examples", "--copy", "xor", str(tmp_path))
    assert r.returncode == 0, r.stderr
    copied = tmp_path / "xor.yaml"
    assert copied.read_text() == (SCENARIOS / "xor.yaml").read_text()
    assert f"bpwalk run {copied}" in r.stderr
    again = run_cli("examples", "--copy", "xor", str(tmp_path))
    assert again.returncode == 2 and "already exists" in again.stderr
    assert run_cli("examples", "--copy", "xor", str(tmp_path), "--force").returncode == 0
    typo = run_cli("examples", "--copy", "mazr", str(tmp_path))
    assert typo.returncode == 2 and "did you mean 'mazur'" in typo.stderr
    r = run_cli("examples", "--copy", "mazur", cwd=tmp_path)  # DIR defaults to here
    assert r.returncode == 0 and (tmp_path / "mazur.yaml").exists()


# ----------------------------------------------------------------------------- the terminal


def _terminal_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    return {**env, "TERM": "xterm-256color", **extra}


def _spawn(*args: str, env: dict[str, str] | None = None):
    pexpect = pytest.importorskip("pexpect")
    return pexpect.spawn(sys.executable, ["-m", "bpwalk", "run", "mazur", "--step", *args],
                         dimensions=(30, 100), env=env or _terminal_env(), encoding="utf-8",
                         timeout=30)


def test_step_on_a_dumb_terminal_is_refused_without_screen_codes():
    pexpect = pytest.importorskip("pexpect")
    child = _spawn(env=_terminal_env(TERM="dumb"))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2
    assert "--step needs a terminal, and this terminal (TERM=dumb) cannot move its cursor" in \
        child.before
    assert "\x1b[" not in child.before  # no alternate screen, no cursor moves


def test_a_hang_up_during_step_exits_129():
    # The terminal goes away (its window closed): the kernel hangs up the session. This
    # ended in a chained termios.error traceback and exit 1.
    child = _spawn()
    child.expect(r"step \d+/\d+")
    os.close(child.child_fd)
    _, status = os.waitpid(child.pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 128 + signal.SIGHUP


def test_a_paste_into_the_quiz_is_one_redraw_not_one_per_character():
    # Pasting 3,000 characters redrew the screen 3,000 times (19 s).
    pexpect = pytest.importorskip("pexpect")
    child = _spawn("--quiz")
    child.expect(r"step \d+/\d+")

    def drawn() -> str:
        text = ""
        while True:
            try:
                text += child.read_nonblocking(65536, timeout=1)
            except pexpect.TIMEOUT:
                return text

    drawn()  # the rest of the first screen
    child.send("1" * 3000)
    redraws = drawn().count("\x1b[1;1H")  # each redraw starts at the top row
    assert 1 <= redraws <= 40, redraws  # a few chunks of the paste, not 3,001 redraws
    child.terminate(force=True)


# ----------------------------------------------------------------------------- the docs


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_docs_error_messages_are_real_messages(tmp_path):
    page = (ROOT / "docs" / "limits.md").read_text(encoding="utf-8")  # (in the README before)
    block = page.split("More of the one-line messages")[1].split("```text\n")[1].split("```")[0]
    (tmp_path / "mazur.yaml").write_text(MAZUR.read_text().replace("learning_rate:", "lr:"))
    run_cli("worksheet", "mazur", "--answers-template", "answers.yaml", cwd=tmp_path)
    with open("/dev/full", "w") as full:
        disk = _python_bpwalk("export", "mazur", stdout=full, stderr=subprocess.PIPE, text=True)
    produced = [
        run_cli("validate", "mazur.yaml", cwd=tmp_path).stderr.splitlines()[0],
        run_cli("run", "mazur", "--decimals", "99").stderr,
        run_cli("run", "mazur", "-n", "100000", "--show", "all").stderr,
        run_cli("check", "mazur", "answers.yaml", cwd=tmp_path).stderr,
        disk.stderr,
        _python_bpwalk("run", "mazur", "--step", capture_output=True, text=True,
                       preexec_fn=lambda: os.close(0)).stderr,
    ]
    for line in produced:
        assert line.strip().replace("python -m bpwalk", "bpwalk") in block.splitlines(), line
