"""Hostile input and broken environments (issue #18): no traceback, no hang, nothing clobbered.

Each test reproduces one case a hostile or careless user hit, through the real program
(python -m bpwalk) as they ran it. The bad scenario files (limits, control characters, ...)
are fixtures in tests/fixtures/bad/, checked by test_scenario_errors.py.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import bpwalk
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
    monkeypatch.setattr(engine.train, "MAX_HISTORY", 10)
    kept = run(sc, iterations=25, show={1})
    assert kept.loss_updates == [0, 5, 10, 15, 20, 25]  # stride 5: 1, 2 and 5 are round
    assert kept.loss_history == [whole[i] for i in kept.loss_updates]  # the same numbers
    assert kept.loss_after(10) == whole[10] and kept.loss_after(11) is None
    data = json.loads(json_view.render(kept))  # the JSON says which updates it kept
    assert data["loss_history_updates"] == kept.loss_updates
    assert data["final"]["loss"] == whole[-1]
    assert "loss_history_updates" not in json.loads(json_view.render(run(sc, iterations=2)))


def test_the_loss_history_stride_keeps_1e8_updates_small():
    every = engine.train._stride(10**8)
    assert every == 1000 and 10**8 // every + 1 <= engine.MAX_HISTORY + 1
    assert [engine.train._stride(n) for n in (1, engine.MAX_HISTORY)] == [1, 1]


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


# ----------------------------------------------------------------------------- issue 28
# Hostile input, round two: spreadsheets, terminals, the Python API and wide networks.
# Test names start with the item's number (test_28_01_... for item 1).

_SPREADSHEET_NAMES = ["=cmd|' -C calc'!A0.yaml", "+1.yaml", "@SUM(A1:A2).yaml", "-2+3.yaml",
                      "\ttab.yaml", "\rcr.yaml", "a\rb.yaml", 'q"uote,comma.yaml']


def _class_folder(tmp_path: Path, names: list[str]) -> list[str]:
    for name in names:
        (tmp_path / name).write_text("net:h1: 0.3775\n")
    return names


def test_28_01_csv_formula_injection_is_neutralised_and_json_kept_exact(tmp_path):
    import csv
    import io

    names = _class_folder(tmp_path, _SPREADSHEET_NAMES)
    # bytes: text mode would turn the \r of a name into \n before csv.reader saw it
    r = _python_bpwalk("check", "mazur", "--format", "csv", "--", *names, cwd=tmp_path,
                       capture_output=True)
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(io.StringIO(r.stdout.decode(), newline="")))
    assert len(rows) == 1 + len(names)  # a carriage return in a name does not split its row
    cells = [row[0] for row in rows[1:]]
    # OWASP (CSV Injection): a text cell starting with = + - @ TAB or CR gets a leading '
    assert cells == [("'" + n if n[0] in "=+-@\t\r" else n) for n in names]
    # right, answered, (blank: the steps asked and not answered, issue 25), first wrong ...
    assert all(row[1:3] == ["1", "1"] and row[4:] == ["", "", ""] for row in rows[1:])
    assert len({row[3] for row in rows[1:]}) == 1 and int(rows[1][3]) > 0
    r = run_cli("check", "mazur", "--format", "json", "--", *names, cwd=tmp_path)
    assert [f["file"] for f in json.loads(r.stdout)["files"]] == names  # JSON: exact


def test_28_01_csv_of_ordinary_names_is_unchanged(tmp_path):
    names = _class_folder(tmp_path, ["ann.yaml", "bob.yaml"])
    r = run_cli("check", "mazur", "--format", "csv", "--", *names, cwd=tmp_path)
    blank = r.stdout.splitlines()[1].split(",")[3]  # the steps asked and not answered
    assert r.stdout == ("file,right,answered,blank,first_wrong,mistake,diagnosis\n"
                        f"ann.yaml,1,1,{blank},,,\nbob.yaml,1,1,{blank},,,\n")


@pytest.mark.parametrize("many", [False, True])
def test_28_02_escape_codes_in_an_answers_file_name_are_shown_escaped(tmp_path, many):
    evil = "\x1b]0;PWNED\x07\x1b[2Jevil.yaml"
    names = _class_folder(tmp_path, [evil, "ok.yaml"] if many else [evil])
    r = run_cli("check", "mazur", "--", *names, cwd=tmp_path, env={"COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout
    assert "\\x1b]0;PWNED\\x07\\x1b[2Jevil.yaml" in r.stdout


def test_28_02_escape_codes_in_a_scenario_file_name_are_shown_escaped(tmp_path):
    evil = tmp_path / "\x1b[2Jm.yaml"
    evil.write_text(MAZUR.read_text())
    r = run_cli("validate", str(evil))
    assert r.returncode == 0 and "\x1b" not in r.stdout and "\\x1b[2Jm.yaml: ok" in r.stdout


def test_28_03_new_with_cross_entropy_and_one_output_is_one_line(tmp_path):
    r = run_cli("new", str(tmp_path / "p.yaml"), "--loss", "cross_entropy")
    assert r.returncode == 2
    _no_traceback(r)
    assert r.stderr.count("\n") == 1 and "--shape 2-2-2" in r.stderr
    assert list(tmp_path.iterdir()) == []
    r = run_cli("new", str(tmp_path / "p.yaml"), "--loss", "cross_entropy", "--shape", "2-2-2")
    assert r.returncode == 0, r.stderr
    assert run_cli("validate", str(tmp_path / "p.yaml")).returncode == 0


def _huge_decay(tmp_path: Path, optimizer: str) -> Path:
    """Mazur's network with a weight decay so large that g² passes float64's 1.8e308 at the
    first update: v (Adam) or s (RMSprop) is inf, and m / √inf = 0 leaves the loss flat."""
    path = tmp_path / f"{optimizer}.yaml"
    path.write_text(MAZUR.read_text().replace(
        "\nlearning_rate:", f"\noptimizer: {{name: {optimizer}, weight_decay: 1.0e160}}\n"
                            "learning_rate:", 1))
    return path


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])  # the float loop; the vectorised
@pytest.mark.parametrize("args", [["run", "-n", "50", "--show", "none"],
                                  ["run", "-n", "50", "--show", "last"],
                                  ["run", "-n", "50"],
                                  ["export", "-n", "2", "--show", "none"]])
def test_28_04_a_non_finite_optimizer_state_is_divergence(tmp_path, optimizer, args):
    path = _huge_decay(tmp_path, optimizer)
    r = run_cli(*args[:1], str(path), *args[1:])
    _no_traceback(r)
    assert r.returncode == 2 and r.stdout == ""
    state = "v" if optimizer == "adam" else "sq"
    assert r.stderr.splitlines()[-1] == (
        f"{path}: update 1, step {state}:w5: the value is inf; the optimizer's numbers grew "
        "too large: try a smaller learning_rate or weight_decay, or smaller weights")


def test_28_04_the_api_raises_the_divergence_and_json_has_no_infinity(tmp_path):
    sc = load(_huge_decay(tmp_path, "adam"))
    with pytest.raises(engine.EngineError, match="update 1, step v:w5: the value is inf"):
        run(sc, iterations=50, show=set())
    trace = run(load(MAZUR), iterations=2)
    trace.state_final = {"v": {"w1": math.inf}}  # if one ever slipped past the engine
    with pytest.raises(ValueError):
        json_view.render(trace)


@pytest.mark.parametrize("written", ["1.8e309", "1e309", "-1e309", "2e308"])
def test_28_05_answers_past_float64_but_below_1e400_are_refused(tmp_path, written):
    # float64's largest is 1.7976931348623157e308 (IEEE 754): these would be read as ±inf
    answers = tmp_path / "big.yaml"
    answers.write_text(f"net:h1: {written}\n")
    message = (f"{answers}:1:9: the answer for 'net:h1' is {written}, beyond what a float64 "
               "can hold; check the exponent")
    for fmt in ("text", "json"):
        r = run_cli("check", "mazur", str(answers), "--format", fmt)
        _no_traceback(r)
        assert r.returncode == 2 and r.stderr == message + "\n"
        if fmt == "text":
            assert r.stdout == ""
        else:  # every file gets a row (issue 25): here one that says why it is not marked
            assert "Infinity" not in r.stdout and message.endswith(json.loads(r.stdout)["error"])


# (written, what YAML 1.1 or Python's float() made of it, the hint)
_NOT_DECIMAL = [("1:30", "base 60"), ("0x10", "hexadecimal"), ("1__0", "without the _"),
                ("1_000", "without the _"), ("0o17", "octal"), ("\u0661\u0662", "digits 0-9"),
                ("\uff11\uff12", "digits 0-9")]


@pytest.mark.parametrize("written, hint", _NOT_DECIMAL)
def test_28_12_scenario_numbers_are_decimal_as_a_person_writes_them(tmp_path, written, hint):
    path = tmp_path / "s.yaml"
    path.write_text(MAZUR.read_text().replace("learning_rate: 0.5", f"learning_rate: {written}"))
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1)
                if text.startswith("learning_rate:"))
    r = run_cli("validate", str(path))
    _no_traceback(r)
    assert r.returncode == 2
    assert r.stderr.startswith(f"{path}:{line}:16: learning_rate must be a decimal number, "
                               f"not '{written}'")
    assert hint in r.stderr and r.stderr.count("\n") == 1


@pytest.mark.parametrize("written, hint", _NOT_DECIMAL)
def test_28_12_answers_follow_the_same_number_rule(tmp_path, written, hint):
    answers = tmp_path / "a.yaml"
    answers.write_text(f"net:h1: {written}\n")
    r = run_cli("check", "mazur", str(answers))
    assert r.returncode == 2
    assert r.stderr.startswith(f"{answers}:1:9: the answer for 'net:h1' must be a decimal "
                               f"number, not '{written}'")
    assert hint in r.stderr and r.stderr.count("\n") == 1


@pytest.mark.parametrize("written", ["0.5", ".5", "5e-1", "+0.5", "0.5e+0", "5E-1", "0.50"])
def test_28_12_decimal_numbers_still_read(tmp_path, written):
    path = tmp_path / "s.yaml"
    path.write_text(MAZUR.read_text().replace("learning_rate: 0.5", f"learning_rate: {written}"))
    assert load(path).learning_rate == 0.5


def test_28_12_integers_follow_the_rule_too(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(MAZUR.read_text() + "iterations: 0x10\n")
    r = run_cli("validate", str(path))
    assert r.returncode == 2 and "iterations must be a whole number of at least 1, not '0x10' " \
                                 "(YAML 1.1 reads it as a hexadecimal number)" in r.stderr
    path.write_text(MAZUR.read_text() + "iterations: 017\n")  # YAML 1.1: octal 15
    assert load(path).iterations == 17


def test_28_12_every_bundled_scenario_and_fixture_still_loads():
    fixtures = ROOT / "tests" / "fixtures"
    good = [*SCENARIOS.glob("*.yaml"), fixtures / "diverges.yaml",
            *(p for p in (fixtures / "answers").glob("*_scenario.yaml"))]
    assert len(good) > 10
    for path in good:
        load(path)


def _cli_error(*args: str) -> str:
    r = run_cli(*args)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    _no_traceback(r)
    return r.stderr.rstrip("\n")


@pytest.mark.parametrize("kwargs, args", [
    ({"iterations": 100_000, "show": "all"}, ["-n", "100000", "--show", "all"]),
    ({"iterations": 3, "show": [4]}, ["-n", "3", "--show", "4"]),
    ({"show": "sometimes"}, ["--show", "sometimes"]),
])
def test_28_06_the_api_raises_the_command_lines_error(kwargs, args, monkeypatch):
    from bpwalk.runopts import RunOptionError

    monkeypatch.setattr(engine, "run", lambda sc, **kw: "trace")  # (the old code ran them)
    with pytest.raises(RunOptionError) as caught:
        bpwalk.load("mazur").run(**kwargs)
    assert str(caught.value) == _cli_error("run", "mazur", *args)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("kwargs, message", [
    ({"iterations": -5}, "--iterations -5: give a whole number from 1 to 100,000,000"),
    ({"iterations": 0}, "--iterations 0: give a whole number from 1 to 100,000,000"),
    ({"iterations": 2.5}, "--iterations 2.5: give a whole number"),
    ({"round_to": 99}, "--round 99: give a whole number of decimals from 0 to 15"),
    ({"round_to": -1}, "--round -1: give a whole number of decimals from 0 to 15"),
])
def test_28_06_the_api_keeps_the_command_lines_limits(kwargs, message, monkeypatch):
    monkeypatch.setattr(engine, "run", lambda sc, **kw: "trace")  # (the old code ran them)
    with pytest.raises(ValueError) as caught:
        bpwalk.load("mazur").run(**kwargs)
    assert str(caught.value).startswith(message)


def test_28_06_a_billion_updates_are_refused_before_anything_is_built():
    # 10**9 was killed by the kernel at 23 GB (not run through the API here: the old code
    # built a set of 10**9 numbers before it looked at anything)
    from bpwalk.runopts import RunOptionError, iterations_of

    with pytest.raises(RunOptionError, match="--iterations 1000000000: give a whole number "
                                             "from 1 to 100,000,000"):
        iterations_of(load(MAZUR), 10**9)


def test_28_06_the_api_guard_yields_to_force(monkeypatch):
    made = {}
    monkeypatch.setattr(engine, "run", lambda sc, **kw: made.update(kw) or "trace")
    bpwalk.load("mazur").run(iterations=100_000, show="all", force=True)
    assert made["iterations"] == 100_000 and len(made["show"]) == 100_000


def test_28_06_a_long_run_builds_no_set_of_every_update(monkeypatch):
    # run(iterations=10**7) took 616 MB: set(range(1, n + 1)) was built for show="all"
    # even when "first" was asked for. (10**6 here: 60 MB on the old code.)
    import tracemalloc

    sc = bpwalk.load("mazur")
    monkeypatch.setattr(engine, "run", lambda sc, **kw: "trace")
    tracemalloc.start()
    try:
        sc.run(iterations=10**6)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * 10**6


def test_28_06_and_13_a_path_too_long_is_a_reading_error(tmp_path):
    from bpwalk.scenario import ScenarioError

    long = "a" * 5000 + ".yaml"
    for command in ("validate", "run"):
        message = _cli_error(command, long)
        assert message == (f"{'a' * 60}... (5005 characters): cannot be read (File name too "
                           "long); check the path")
    with pytest.raises(ScenarioError, match="cannot be read"):
        bpwalk.load(long)


@pytest.mark.parametrize("decimals", ["1000000000", "9", "x"])
def test_28_08_a_source_line_gets_the_command_lines_limits(tmp_path, decimals):
    made = tmp_path / "p.yaml"
    assert run_cli("new", str(made), "--seed", "7").returncode == 0
    text = made.read_text()
    assert "--decimals 2\n" in text
    made.write_text(text.replace("--decimals 2\n", f"--decimals {decimals}\n"))
    answers = tmp_path / "a.yaml"
    answers.write_text("seed: 8\nnet:h1: 0.3\n")
    r = run_cli("check", str(made), str(answers))  # 10**1000000000 spun for minutes
    _no_traceback(r)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert (f"{answers}: has a seed, and {made}'s source line cannot redraw the problem: "
            f"--decimals {decimals}: draw numbers with 1 to 4 decimals") in r.stderr


def _wide(tmp_path: Path, hidden: int, inputs: int = 2, outputs: int = 2) -> Path:
    path = tmp_path / f"wide{hidden}.yaml"
    path.write_text(f"inputs: {inputs}\nlayers:\n  - neurons: {hidden}\n    activation: sigmoid\n"
                    f"  - neurons: {outputs}\n    activation: sigmoid\n"
                    "loss: half_squared_error\nlearning_rate: 0.1\ninit: {seed: 1}\ndata:\n"
                    f"  - inputs: [{', '.join(['0.5'] * inputs)}]\n"
                    f"    targets: [{', '.join(['0.5'] * outputs)}]\n")
    return path


def test_28_13_the_html_guard_estimates_htmls_own_size(tmp_path):
    # a 2-5000-2 network's page was 66.6 MB without --force; its Markdown, 24 MB, passes
    wide = _wide(tmp_path, 5000)
    out = tmp_path / "out.html"
    message = _cli_error("export", str(wide), "-f", "html", "-o", str(out))
    assert "makes about 70 MB of output" in message and message.endswith("or add --force")
    assert not out.exists()
    from bpwalk.runopts import guard

    guard(load(wide), 1, force=False, fmt="md")  # no error


def test_28_13_a_complex_mapping_key_is_named_by_its_kind(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(MAZUR.read_text() + "? [a, b]\n: 1\nbatch: [1]\n")
    message = run_cli("validate", str(path)).stderr
    assert "keys in the scenario must be words, not a list; check the spelling" in message
    assert "batch must be 'full' or a whole number of samples per update, not a list" in message
    assert "Node" not in message


def test_28_13_a_source_url_with_a_bar_keeps_the_markdown_table(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(re.sub(r"(?m)^source: .*$", "source: see https://example.org/a|b and c|d",
                           MAZUR.read_text()))
    md = run_cli("export", str(path), "-f", "md").stdout
    row = next(line for line in md.splitlines() if line.startswith("| Source"))
    assert row == "| Source | see <https://example.org/a%7Cb> and c\\|d |"


def test_28_10_many_unknown_keys_get_a_suggestion_only_where_shown(tmp_path, monkeypatch):
    # 963k unknown keys took 83 s and 1.16 GB: a did-you-mean for each (figures in
    # benchmarks/check_many.py --wide); the message shows 20 and counts the rest
    from bpwalk.scenario import ScenarioError, yamlread

    asked = []
    real = yamlread.did_you_mean
    monkeypatch.setattr(yamlread, "did_you_mean", lambda w, c: asked.append(w) or real(w, c))
    path = tmp_path / "keys.yaml"
    path.write_text(MAZUR.read_text() + "".join(f"lerning_rate{i}: 1\n" for i in range(1000)))
    with pytest.raises(ScenarioError) as caught:
        load(path)
    assert len(asked) <= 20
    lines = str(caught.value).splitlines()
    assert len(lines) == 21 and lines[-1] == f"{path}: ... and 980 more problems; fix these first"
    assert lines[0].endswith("unknown key 'lerning_rate0' in the scenario; did you mean "
                             "'learning_rate'?")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie has ended; only its exit is unread
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_28_11_a_hanging_browser_and_its_children_are_ended(tmp_path, monkeypatch):
    from bpwalk import browser

    pids = tmp_path / "pids"
    fake = tmp_path / "fake-chromium"
    fake.write_text(f"#!/bin/sh\nsleep 300 &\necho $! >> {pids}\necho $$ >> {pids}\n"
                    "sleep 300\n")
    fake.chmod(0o755)
    monkeypatch.setenv("BPWALK_BROWSER", str(fake))
    monkeypatch.setattr(browser, "TIMEOUT", 2)
    with pytest.raises(browser.BrowserError, match="did not print the page within 2 s"):
        browser.to_pdf("<!DOCTYPE html><p>x</p>")
    started = [int(pid) for pid in pids.read_text().split()]
    assert len(started) == 2
    try:
        assert not any(_alive(pid) for pid in started)  # no orphan left sleeping
    finally:
        for pid in started:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_28_09_a_worksheet_pair_written_twice_at_once_is_from_one_run(tmp_path):
    # Two worksheets written at once to the same -o S.md --answers-template T.yaml left S
    # from one scenario and T from the other in 4 of 60 runs (real processes, no mocks).
    names = ("mazur", "xor")
    sheet, template = tmp_path / "S.md", tmp_path / "T.yaml"
    pairs = set()
    for name in names:  # each scenario's own pair: the first line of each file
        assert run_cli("worksheet", name, "-o", str(sheet), "--answers-template",
                       str(template)).returncode == 0
        pairs.add((sheet.read_text().splitlines()[0], template.read_text().splitlines()[0]))
    assert len(pairs) == 2
    env = {**os.environ, "NO_COLOR": "1"}
    for _ in range(20):
        procs = [subprocess.Popen([sys.executable, "-m", "bpwalk", "worksheet", name, "-o",
                                   str(sheet), "--answers-template", str(template)],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE) for name in names]
        assert all(p.wait(timeout=120) == 0 for p in procs)
        got = (sheet.read_text().splitlines()[0], template.read_text().splitlines()[0])
        assert got in pairs, got
    assert sorted(p.name for p in tmp_path.iterdir()) == ["S.md", "T.yaml"]  # nothing left


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
def test_28_09_the_pair_is_put_in_place_under_the_folders_lock(tmp_path):
    # Deterministic beside the test above: while another process holds the lock, the pair
    # is staged but not renamed into place; once it is released, both files appear.
    import time

    sheet, template = tmp_path / "S.md", tmp_path / "T.yaml"
    hold = ("import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        writer = subprocess.Popen([sys.executable, "-m", "bpwalk", "worksheet", "mazur", "-o",
                                   str(sheet), "--answers-template", str(template)], cwd=ROOT,
                                  stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while (writer.poll() is None and time.monotonic() < deadline
               and len(list(tmp_path.glob(".*.tmp"))) < 2):
            time.sleep(0.05)
        time.sleep(0.5)
        assert not sheet.exists() and not template.exists()  # staged, waiting for the lock
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert writer.wait(timeout=120) == 0, writer.stderr.read()
    assert sheet.read_text().startswith("# Worksheet") and template.read_text().startswith(
        "# Answers for mazur")


def test_28_07_a_blank_template_is_refused_before_the_engine_runs(tmp_path, monkeypatch):
    # a 2-5000-2 network's blank 75k-id template took 48 s to say "nothing filled in"
    # (figures: benchmarks/check_many.py --wide)
    from bpwalk import cli, judge

    def no_engine(*args, **kwargs):
        raise AssertionError("the judge ran the engine for a blank file")

    blank = tmp_path / "blank.yaml"
    blank.write_text("net:h1:\nnet:h2:\n")
    monkeypatch.setattr(judge, "Judge", no_engine)
    monkeypatch.setattr(cli, "BLANK_BEFORE_ENGINE", 0)  # as for a network wider than Mazur's
    with pytest.raises(cli._NothingFilled, match=r"no answer is filled in \(2 blank ids\)"):
        cli._marked(blank, load(MAZUR), {}, None, 1, None)
