"""`bpwalk run --step`: the key logic as a pure function, the screen at fixed sizes, the key
reader on a pseudo-terminal, and the real program driven in a pseudo-terminal as a person
would drive it (pexpect).

Positions and values come from the engine's trace of the bundled Mazur scenario; the few
typed numbers are Mazur's published values (A Step by Step Backpropagation Example, 2015).
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console

from bpwalk.engine import run as engine_run
from bpwalk.notation import formula
from bpwalk.scenario import load, resolve
from bpwalk.stepper import HELP, State, Terminal, Walk, press, screen

from .conftest import network_names

pexpect = pytest.importorskip("pexpect")


def mazur_trace(iterations: int = 1, show: set[int] | None = None, round_to: int | None = None):
    path, shown = resolve("mazur")
    return engine_run(load(path, display_name=shown), iterations=iterations,
                      show=show or {1}, round_to=round_to)


@pytest.fixture(scope="module")
def walk() -> Walk:
    return Walk.of(mazur_trace())


def index_of(walk: Walk, step_id: str, iteration: int = 1) -> int:
    return next(i for i, e in enumerate(walk.entries)
                if e.step.id == step_id and e.iteration == iteration)


def first_of_phase(walk: Walk, phase: str) -> int:
    return next(i for i, e in enumerate(walk.entries) if e.step.phase == phase)


def keys(state: State, walk: Walk, *pressed: str) -> State:
    for k in pressed:
        state = press(state, k, walk)
    return state


# ----------------------------------------------------------------------------- the walk


def test_walk_holds_every_explained_step_in_order():
    trace = mazur_trace(iterations=3, show={1, 3})
    walk = Walk.of(trace)
    expected = [(it.number, s.id) for it in trace.iterations for s in it.steps]
    assert [(e.iteration, e.step.id) for e in walk.entries] == expected


def test_passes_are_forward_loss_backward_update_per_update():
    walk = Walk.of(mazur_trace(iterations=2, show={1, 2}))
    passes = [(walk.entries[i].iteration, walk.entries[i].step.phase) for i in walk.pass_starts]
    assert passes == [(n, p) for n in (1, 2) for p in ("forward", "loss", "backward", "update")]


# ----------------------------------------------------------------------------- keys -> state


@pytest.mark.parametrize("key", ["n", " ", "enter", "right"])
def test_next_keys_advance_one_step(walk, key):
    assert press(State(index=3), key, walk).index == 4


@pytest.mark.parametrize("key", ["b", "p", "left"])
def test_back_keys_go_back_one_step(walk, key):
    assert press(State(index=3), key, walk).index == 2


def test_next_at_the_last_step_stays_and_says_so(walk):
    last = len(walk) - 1
    after = press(State(index=last), "n", walk)
    assert after.index == last and "last step" in after.message


def test_back_at_the_first_step_stays_and_says_so(walk):
    after = press(State(index=0), "b", walk)
    assert after.index == 0 and "first step" in after.message


def test_a_message_lasts_one_key(walk):
    after = keys(State(index=0), walk, "b", "n")
    assert after.index == 1 and after.message == ""


def test_next_pass_lands_on_the_first_step_of_each_pass(walk):
    state = State(index=2)
    for phase in ("loss", "backward", "update"):
        state = press(state, "]", walk)
        assert state.index == first_of_phase(walk, phase)
    end = press(state, "]", walk)
    assert end.index == state.index and "last pass" in end.message


def test_previous_pass_goes_to_the_start_of_the_pass_before(walk):
    mid_backward = first_of_phase(walk, "backward") + 3
    assert press(State(index=mid_backward), "[", walk).index == first_of_phase(walk, "loss")
    at_loss = first_of_phase(walk, "loss")
    assert press(State(index=at_loss), "[", walk).index == 0
    assert press(State(index=3), "[", walk).index == 0  # inside the first pass: its start
    first = press(State(index=0), "[", walk)
    assert first.index == 0 and "first pass" in first.message


@pytest.mark.parametrize("typed, step_id", [
    ("w5", "grad:w5"), ("W5", "grad:w5"), ("w₅", "grad:w5"), ("h1", "net:h1"),
    ("o2", "net:o2"), ("grad:w1", "grad:w1"), ("new:w5", "new:w5"), ("loss", "loss"),
    ("dnet:h2", "dnet:h2"),
])
def test_go_to_a_name_or_id(walk, typed, step_id):
    state = keys(State(index=5), walk, "g", *typed, "enter")
    assert state.mode == "step"
    assert walk.entries[state.index].step.id == step_id


def test_go_to_searches_the_update_on_screen_first():
    walk = Walk.of(mazur_trace(iterations=2, show={1, 2}))
    start = index_of(walk, "net:h1", iteration=2)
    state = keys(State(index=start), walk, "g", "w", "5", "enter")
    assert state.index == index_of(walk, "grad:w5", iteration=2)


def test_go_to_an_unknown_name_stays_and_suggests(walk):
    state = keys(State(index=4), walk, "g", "w", "5", "5", "enter")
    assert state.index == 4 and state.mode == "step"
    assert "w55" in state.message and "did you mean" in state.message


def test_go_to_typing_backspace_and_escape(walk):
    state = keys(State(index=4), walk, "g", "w", "9", "backspace", "5")
    assert state.mode == "goto" and state.typed == "w5"
    cancelled = press(state, "esc", walk)  # Esc while typing cancels the jump, not the program
    assert cancelled.mode == "step" and not cancelled.done and cancelled.index == 4
    assert keys(State(index=4), walk, "g", "enter") == State(index=4)


def test_help_opens_and_any_key_closes_it(walk):
    state = press(State(index=4), "?", walk)
    assert state.mode == "help"
    for key in ("q", "esc", "n", "x"):
        closed = press(state, key, walk)
        assert closed.mode == "step" and closed.index == 4 and not closed.done


@pytest.mark.parametrize("key", ["q", "esc", "eof"])
def test_quit_keys(walk, key):
    assert press(State(index=7), key, walk).done


def test_an_unknown_key_points_to_the_help(walk):
    state = press(State(index=7), "x", walk)
    assert state.index == 7 and "?" in state.message


def test_resize_changes_nothing(walk):
    state = State(index=7, message="hello")
    assert press(state, "resize", walk) == state


KEYS = st.sampled_from(["n", " ", "enter", "right", "b", "p", "left", "]", "[", "g", "?", "q",
                        "esc", "backspace", "resize", "w", "5", "h", "x", ":"])


@settings(max_examples=200, deadline=None)
@given(st.lists(KEYS, max_size=60))
def test_any_key_sequence_keeps_the_position_on_a_step(pressed):
    walk = Walk.of(mazur_trace())
    state = State()
    for key in pressed:
        state = press(state, key, walk)
        assert 0 <= state.index < len(walk)
        if state.done:
            break


# ----------------------------------------------------------------------------- the screen


def plain_console(width: int, height: int) -> Console:
    return Console(width=width, height=height, force_terminal=False, color_system=None)


@pytest.mark.parametrize("width, height", [(80, 24), (100, 30), (120, 50)])
def test_screen_fits_and_ends_with_the_status_line(walk, width, height):
    for index in range(len(walk)):
        rows = screen(walk, State(index=index), plain_console(width, height))
        assert len(rows) == height
        assert all(cell_len(r) <= width for r in rows)
        assert f"step {index + 1}/{len(walk)}" in rows[-1]
        for key in ("n next", "b back", "] [ pass", "g go to", "? keys", "q quit"):
            assert key in rows[-1]


BUNDLED = [Path(__file__).resolve().parent.parent / "scenarios" / f"{n}.yaml"
           for n in network_names()]  # circuits: stepped by a view of their own (issue 22)


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_every_step_of_every_bundled_scenario_fits_80_columns(path):
    walk = Walk.of(engine_run(load(path)))
    console = plain_console(80, 24)
    for style in ("unicode", "ascii"):
        for index in range(len(walk)):
            rows = screen(walk, State(index=index), console, style)
            assert len(rows) == 24 and all(cell_len(r) <= 80 for r in rows)
            assert f"step {index + 1}/{len(walk)}" in rows[-1]
            if style == "ascii":  # the title is the scenario's own text; the rest is ours
                assert all(r.isascii() for r in rows[1:]), (index, rows)


def test_screen_shows_the_formula_numbers_and_result_of_the_step(walk):
    i = index_of(walk, "grad:w5")
    text = "\n".join(screen(walk, State(index=i), plain_console(100, 30)))
    f = formula(walk.entries[i].step, "unicode", 9)
    for part in (f.lhs, f.symbolic, f.numeric, f.result):
        assert part in text
    assert "0.082167041" in text  # Mazur: dE/dw5 = 0.082167041
    assert "backward pass" in text and "layer 2 (output)" in text
    assert "parameter w5 (h1 → o1)" in text


def test_a_step_reads_as_in_bpwalk_run(walk):
    from bpwalk.views.terminal import StepBlock

    i = index_of(walk, "dout:h1")
    rows = screen(walk, State(index=i), plain_console(80, 30))
    inner = plain_console(76, 30)  # the panel's inside: 80 columns less border and padding
    with inner.capture() as cap:
        inner.print(StepBlock((walk.entries[i].step,), walk.pen("unicode", 9)))
    block = [line.rstrip() for line in cap.get().splitlines()]
    shown = [r[2:-1].rstrip() for r in rows if r.startswith("│ ")]
    assert len(block) >= 4 and "(weights from before the update)" in block[-1]
    start = shown.index(block[0])
    assert shown[start:start + len(block)] == block


def test_first_screen_shows_mazurs_first_number(walk):
    text = "\n".join(screen(walk, State(), plain_console(80, 24)))
    assert "net_h1" in text and "0.3775" in text  # Mazur: net_h1 = 0.3775
    assert "update 1 of 1 · forward pass · layer 1 (hidden) · neuron h1" in text


def test_steps_already_seen_are_listed_above(walk):
    i = index_of(walk, "dout:o1")
    rows = screen(walk, State(index=i), plain_console(100, 40))
    text = "\n".join(rows)
    for e in walk.entries[:i]:
        f = formula(e.step, "unicode", 9)
        assert f"{f.lhs} = {f.result}" in text
    assert "update 1 · loss" in text
    later = formula(walk.entries[i + 1].step, "unicode", 9)
    assert f"{later.lhs} = " not in text  # no peeking at the next answer


def test_history_is_cut_from_the_top_when_the_screen_is_short(walk):
    i = len(walk) - 1
    rows = screen(walk, State(index=i), plain_console(80, 20))
    text = "\n".join(rows)
    previous = formula(walk.entries[i - 1].step, "unicode", 9)
    assert f"{previous.lhs} = {previous.result}" in text
    assert "net_h1 = 0.3775" not in text


def test_screen_survives_a_tiny_terminal(walk):
    rows = screen(walk, State(index=20), plain_console(30, 6))
    assert len(rows) == 6 and "step 21/" in rows[-1]


def test_help_screen_lists_every_key(walk):
    text = "\n".join(screen(walk, State(mode="help"), plain_console(100, 30)))
    for keys_, action in HELP:
        assert keys_ in text and action.split(":")[0] in text


def test_goto_prompt_shows_what_is_typed(walk):
    rows = screen(walk, State(index=3, mode="goto", typed="w5"), plain_console(80, 24))
    assert "go to: w5" in rows[-2]


def test_ascii_screens_are_ascii(walk):
    console = plain_console(80, 24)
    for state in (State(index=index_of(walk, "grad:w5")), State(mode="help"),
                  State(index=index_of(walk, "new:w5"))):
        text = "\n".join(screen(walk, state, console, "ascii"))
        assert text.isascii(), text
    text = "\n".join(screen(walk, State(index=index_of(walk, "grad:w5")), console, "ascii"))
    assert "dE/dw5" in text and "(h1 -> o1)" in text


def test_decimals_and_rounding_show_on_the_screen():
    walk = Walk.of(mazur_trace(round_to=4))
    i = index_of(walk, "out:h1")
    text = "\n".join(screen(walk, State(index=i), plain_console(100, 30), "unicode", 4))
    assert "= 0.5933" in text  # Mazur: out_h1 = 0.593269992, to 4 decimals
    assert "before rounding to 4 decimals: 0.59326999" in text


def test_decimals_given_keep_trailing_zeros_on_the_screen():
    # Mazur: net_h1 = 0.15·0.05 + 0.2·0.1 + 0.35·1 = 0.3775; `--decimals 6` writes 0.377500 as
    # `bpwalk run --decimals 6` does, the default (no --decimals) trims the zeros
    trace = mazur_trace()
    for keep, shown in ((True, "= 0.377500"), (False, "= 0.3775")):
        walk = Walk.of(trace, keep_zeros=keep)
        i = index_of(walk, "net:h1")
        text = "\n".join(screen(walk, State(index=i + 1), plain_console(100, 30), "unicode", 6))
        assert shown in text  # in the current step's formula and in the history line above
        assert ("0.377500" in text) == keep


# ----------------------------------------------------------------------------- key reader


@pytest.fixture
def terminal():
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    try:
        with open(slave, "w", encoding="utf-8", closefd=False) as out:
            yield master, slave, out, before
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize("sent, key", [
    (b"n", "n"), (b" ", " "), (b"\r", "enter"), (b"\n", "enter"), (b"\x1b[C", "right"),
    (b"\x1b[D", "left"), (b"\x1bOC", "right"), (b"\x1bOD", "left"), (b"\x1b", "esc"),
    (b"\x7f", "backspace"), (b"]", "]"), (b"[", "["), (b"?", "?"), ("₅".encode(), "₅"),
    (b"\x1b[1;5C", "unknown"),
])
def test_read_key_turns_bytes_into_keys(terminal, sent, key):
    master, slave, out, _ = terminal
    with Terminal(slave, out) as term:
        os.write(master, sent)
        assert term.read_key() == key


def test_esc_then_a_key_are_two_keys(terminal):
    master, slave, out, _ = terminal
    with Terminal(slave, out) as term:
        os.write(master, b"\x1b")
        assert term.read_key() == "esc"
        os.write(master, b"n")
        assert term.read_key() == "n"


def test_a_resize_interrupts_the_wait_for_a_key(terminal):
    _, slave, out, _ = terminal
    with Terminal(slave, out) as term:
        os.kill(os.getpid(), signal.SIGWINCH)
        assert term.read_key() == "resize"


def _read_until(fd: int, end: bytes, timeout: float = 5.0) -> bytes:
    """Read a pty master until `end` arrives: a pty passes writes on in pieces, not at once."""
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(end) and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            data += os.read(fd, 4096)
    return data


def test_terminal_is_restored_after_an_exception(terminal):
    master, slave, out, before = terminal
    with pytest.raises(RuntimeError), Terminal(slave, out):
        assert not termios.tcgetattr(slave)[3] & termios.ICANON  # cbreak while inside
        raise RuntimeError("boom")
    assert termios.tcgetattr(slave) == before
    written = _read_until(master, b"\x1b[?1049l")
    assert written.startswith(b"\x1b[?1049h") and written.endswith(b"\x1b[?1049l")
    assert signal.getsignal(signal.SIGWINCH) in (signal.SIG_DFL, None)


# ----------------------------------------------------------------------------- the program

ROWS, COLS = 30, 100
_MOVE = re.compile(r"\x1b\[\d+;1H\x1b\[2K")
_CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_STATUS = re.compile(r"step (\d+)/(\d+)")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    return env


class Session:
    """The real `bpwalk run --step` in a pseudo-terminal, read as screens."""

    def __init__(self, *args: str, shell_tail: str = "", env: dict[str, str] | None = None
                 ) -> None:
        cmd = [sys.executable, "-m", "bpwalk", "run", "mazur", "--step", *args]
        if shell_tail:  # run it from a shell that reports afterwards (exit code, stty)
            quoted = " ".join(f"'{c}'" for c in cmd)
            # the shell catches SIGINT (a caught signal is reset for the child, an ignored one
            # would be inherited) so that Ctrl-C leaves it alive to report
            cmd = ["/bin/sh", "-c", f"trap : INT; {quoted}; echo \"exit=$?\"; {shell_tail}"]
        self.child = pexpect.spawn(cmd[0], cmd[1:], dimensions=(ROWS, COLS),
                                   env=_env() | (env or {}),
                                   encoding="utf-8", timeout=15)
        self.raw = ""
        self.wait_for_screen()

    def wait_for_screen(self, redraws: int = 1) -> str:
        """Wait for `redraws` redraws to finish (the status line is drawn last); the screen."""
        for _ in range(redraws):
            self.child.expect(_STATUS)
            self.raw += self.child.before + self.child.after
        # expect() keeps what it read past the match (the rest of the status line) in its
        # buffer, where read_nonblocking does not look
        self.raw += self.child.buffer
        self.child.buffer = self.child.string_type()
        while True:
            try:
                self.raw += self.child.read_nonblocking(65536, timeout=0.3)
            except pexpect.TIMEOUT:
                break
        return self.screen()

    def screen(self) -> str:
        last = self.raw.rsplit("\x1b[1;1H", 1)[-1]
        return _CSI.sub("", _MOVE.sub("\n", last))

    def press(self, *pressed: str) -> str:
        # One key at a time, each after the redraw of the one before: keys that arrive
        # together (a paste) are all read before a single redraw, so a burst would make the
        # number of redraws depend on timing.
        for key in pressed[:-1]:
            self.child.send(key)
            self.child.expect(_STATUS)
            self.raw += self.child.before + self.child.after
        self.child.send(pressed[-1])
        return self.wait_for_screen()

    def position(self) -> tuple[int, int]:
        k, n = _STATUS.findall(self.screen())[-1]
        return int(k), int(n)

    def finish(self) -> str:
        self.child.expect(pexpect.EOF)
        rest = self.child.before
        self.raw += rest
        self.child.close()
        return rest


RIGHT, LEFT, ESC_KEY, ENTER, CTRL_C = "\x1b[C", "\x1b[D", "\x1b", "\r", "\x03"


@pytest.fixture
def session():
    s = Session()
    yield s
    if s.child.isalive():
        s.child.terminate(force=True)


def test_first_screen_and_next_back(session, walk):
    n = len(walk)
    assert session.position() == (1, n)
    assert "0.3775" in session.screen()  # Mazur: net_h1 = 0.3775
    for k in range(1, 6):
        session.press("n")
        assert session.position() == (1 + k, n)
    session.press("b")
    assert session.position() == (5, n)
    session.press("p")
    assert session.position() == (4, n)


def test_enter_space_and_arrows(session, walk):
    n = len(walk)
    session.press(ENTER)
    assert session.position() == (2, n)
    session.press(" ")
    assert session.position() == (3, n)
    session.press(RIGHT)
    assert session.position() == (4, n)
    session.press(LEFT)
    assert session.position() == (3, n)


def test_pass_jumps(session, walk):
    session.press("n", "n")
    text = session.press("]")
    assert session.position()[0] == first_of_phase(walk, "loss") + 1
    assert "update 1 of 1 · loss · layer 2 (output) · output o1" in text
    session.press("]")
    assert session.position()[0] == first_of_phase(walk, "backward") + 1
    session.press("[")
    assert session.position()[0] == first_of_phase(walk, "loss") + 1


def test_go_to_w5(session, walk):
    text = session.press("g", "w", "5")
    assert "go to: w5" in text
    text = session.press(ENTER)
    assert session.position()[0] == index_of(walk, "grad:w5") + 1
    assert "∂E/∂w₅" in text and "0.082167041" in text  # Mazur: dE/dw5 = 0.082167041


def test_help_key_shows_the_keys_and_any_key_returns(session):
    text = session.press("?")
    for _, action in HELP:
        assert action.split(":")[0] in text
    text = session.press("x")
    assert "previous pass" not in text and session.position()[0] == 1


def test_last_step_says_it_is_the_end(walk):
    s = Session("--iterations", "1")
    s.press("]", "]", "]")
    last = len(walk)
    s.press(*["n"] * (last - 1 - first_of_phase(walk, "update")))
    assert s.position()[0] == last
    text = s.press("n")
    assert s.position()[0] == last and "last step" in text
    s.child.send("q")
    s.finish()
    assert s.child.exitstatus == 0


def test_resize_redraws(session):
    session.press("n", "n", "n")
    before = session.raw
    session.child.setwinsize(24, 60)  # sends SIGWINCH to the program
    text = session.wait_for_screen()
    assert len(session.raw) > len(before) and session.position()[0] == 4
    border = next(line for line in text.splitlines() if line.startswith("╭"))
    assert len(border) == 60


def _stty_restored(report: str) -> bool:
    flags = report.split()
    return "icanon" in flags and "echo" in flags


@pytest.mark.parametrize("quit_key", ["q", ESC_KEY])
def test_quit_keys_exit_0_and_restore_the_terminal(quit_key):
    s = Session(shell_tail="stty -a")
    s.press("n")
    s.child.send(quit_key)
    rest = s.finish()
    assert "\x1b[?1049l" in s.raw  # left the alternate screen
    assert "exit=0" in rest
    assert _stty_restored(rest.split("exit=0", 1)[1])


def test_ctrl_c_exits_130_without_a_traceback_and_restores_the_terminal():
    s = Session(shell_tail="stty -a")
    s.press("n")
    s.child.send(CTRL_C)
    rest = s.finish()
    assert "exit=130" in rest
    assert "Traceback" not in s.raw
    assert "\x1b[?1049l" in s.raw
    assert _stty_restored(rest.split("exit=130", 1)[1])


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the program's pid in /proc")
def test_sigterm_restores_the_terminal():
    s = Session(shell_tail="stty -a")
    s.press("n")
    python = next(p for p in _children(s.child.pid))
    os.kill(python, signal.SIGTERM)
    rest = s.finish()
    assert "exit=143" in rest and "Traceback" not in s.raw
    assert "\x1b[?1049l" in s.raw
    assert _stty_restored(rest.split("exit=143", 1)[1])


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


@pytest.mark.skipif(not os.path.exists("/bin/bash"), reason="needs bash for job control")
def test_ctrl_z_gives_the_terminal_back_and_fg_redraws(walk):
    # Job control needs a real interactive shell: a person's bash in the pseudo-terminal.
    env = _env() | {"PS1": "PROMPT> ", "HISTFILE": "/dev/null"}
    sh = pexpect.spawn("/bin/bash", ["--norc", "--noprofile", "-i"], dimensions=(ROWS, COLS),
                       env=env, encoding="utf-8", timeout=15)
    try:
        sh.expect("PROMPT> ")
        sh.sendline(f"'{sys.executable}' -m bpwalk run mazur --step")
        sh.expect(_STATUS)
        sh.send("n")
        sh.expect(f"step 2/{len(walk)}")
        sh.send("\x1a")
        sh.expect("PROMPT> ")
        # Left the alternate screen before stopping. (The tty modes are not checked here:
        # bash puts back its own when a job stops; the sh -c tests below check them.)
        assert "\x1b[?1049l" in sh.before
        sh.sendline("fg")
        sh.expect(f"step 2/{len(walk)}")  # redrawn where it was
        sh.send("n")
        sh.expect(f"step 3/{len(walk)}")  # and single keys work again
        sh.send("q")
        sh.expect("PROMPT> ")
        sh.sendline("echo exit=$?")
        sh.expect("exit=0")
    finally:
        sh.terminate(force=True)


def test_options_iterations_show_ascii_decimals():
    trace = mazur_trace(iterations=2, show={1, 2})
    walk = Walk.of(trace)
    s = Session("--iterations", "2", "--show", "all", "--ascii", "--decimals", "4")
    assert s.position() == (1, len(walk))
    # --decimals 4 keeps trailing zeros here as in `bpwalk run`: Mazur's i2 = 0.10 -> 0.1000
    assert "0.1000" in s.screen()
    text = s.press("n")
    assert "out_h1 = 1/(1 + e^(-net_h1))" in text and "= 0.5933" in text  # Mazur: 0.593269992
    text = s.press("g", "w", "5", ENTER)
    assert s.position()[0] == index_of(walk, "grad:w5") + 1 and "dE/dw5" in text
    s.child.send("q")
    s.finish()
    assert s.child.exitstatus == 0


def test_phase_option_steps_through_one_pass_of_each_update():
    trace = mazur_trace(iterations=2, show={1, 2})
    backward = [e for e in Walk.of(trace).entries if e.step.phase == "backward"]
    s = Session("--iterations", "2", "--show", "all", "--phase", "backward")
    assert s.position() == (1, len(backward))
    assert "∂E/∂out_o1 = −(target_o1 − out_o1)" in s.screen()
    s.press("]")  # the next pass is update 2's backward pass
    assert s.position()[0] == len(backward) // 2 + 1
    assert "update 2 of 2 · backward pass" in s.screen()
    s.child.send("q")
    s.finish()
    assert s.child.exitstatus == 0


@pytest.mark.parametrize("how", ["--no-color", "NO_COLOR"])
def test_no_color_means_no_colour_codes(how):
    s = Session("--no-color") if how == "--no-color" else Session(env={"NO_COLOR": "1"})
    s.press("n")
    assert not re.search(r"\x1b\[[0-9;]*m", s.raw)  # no SGR (colour, bold) sequences
    s.child.send("q")
    s.finish()


def test_round_option_reaches_the_stepper():
    s = Session("--round", "4", "--decimals", "4")
    text = s.press("n")
    assert "before rounding to 4 decimals" in text
    s.child.send("q")
    s.finish()


def test_stdin_not_a_terminal_exits_2_with_one_line():
    done = subprocess.run([sys.executable, "-m", "bpwalk", "run", "mazur", "--step"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, env=_env(),
                          timeout=30, check=False)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "--step needs a terminal, and standard input is not one" in done.stderr
    assert done.stdout == ""


def test_stdout_not_a_terminal_exits_2():
    cmd = f"'{sys.executable}' -m bpwalk run mazur --step > /dev/null; echo \"exit=$?\""
    child = pexpect.spawn("/bin/sh", ["-c", cmd], env=_env(), encoding="utf-8", timeout=30)
    child.expect(pexpect.EOF)
    out = child.before
    assert "--step needs a terminal, and standard output is not one" in out
    assert "exit=2" in out


def test_optimizer_and_input_gradient_steps_say_what_they_are_about():
    from dataclasses import replace

    from bpwalk.stepper import context

    sc = replace(load(resolve("mazur_adam")[0]), input_gradients=True)
    walk = Walk.of(engine_run(sc, iterations=2, show={2}))
    where = {e.step.id: i for i, e in enumerate(walk.entries)}
    assert "parameter w5 (h1 → o1)" in context(walk, where["mhat:w5"], "unicode")
    assert "parameter w5 (h1 → o1)" in context(walk, where["prev_m:w5"], "unicode")
    din = context(walk, where["din:i1"], "unicode")
    assert "input i1" in din and "layer" not in din
