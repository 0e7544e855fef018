"""Interactive stepping over a Trace, one key press per step (``bpwalk run --step``).

A student predicts each number, presses a key, and sees whether they were right. Three
parts, kept apart so that the logic is testable without a terminal:

- ``Walk``, ``State`` and ``press``: the explained steps in order and a pure function
  ``press(state, key, walk) -> state`` that says what every key does.
- ``screen``: what the terminal shows for a state, rendered with rich at the console's size.
- ``Terminal`` and ``run``: single-key input (termios cbreak mode, escape sequences for the
  arrows), the alternate screen, redrawing on resize and on resume after Ctrl-Z, and putting
  the terminal back the way it was whatever happens.

Numbers and formulas come from ``bpwalk.notation``; nothing here computes a value.
"""

from __future__ import annotations

import codecs
import difflib
import os
import select
import signal
import sys
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, TextIO, TypeVar

from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bpwalk.formulas import render
from bpwalk.notation import Pen, Profile, aliases, lookup, number, profile
from bpwalk.notation import spelling as _normal
from bpwalk.scenario.model import is_graph
from bpwalk.trace import PHASE_TITLES, Step, Trace

if TYPE_CHECKING:
    from typing_extensions import Self

# ----------------------------------------------------------------------------- the walk


@dataclass(frozen=True)
class Entry:
    iteration: int  # 1-based update number
    step: Step


@dataclass(frozen=True)
class Walk:
    """The explained steps of a trace in order, with where each pass begins."""

    entries: tuple[Entry, ...]
    pass_starts: tuple[int, ...]  # indexes where a new (update, phase) run begins
    trace: Trace
    notation: Profile  # the profile the steps are written in, bound to the trace's scenario
    keep_zeros: bool = False  # --decimals D given: 0.0310, as in ``bpwalk run``
    steps: Callable[[Step], Mapping[str, Step]] | None = None  # notation.lookup(trace)

    def pen(self, style: str, decimals: int) -> Pen:
        return Pen(style, decimals, self.notation, self.keep_zeros, self.steps)

    @classmethod
    def of(cls, trace: Trace, phase: str | None = None, notation: Profile | str | None = None,
           keep_zeros: bool = False) -> Walk:
        """The walk over every explained step, or over one phase of each update."""
        entries = tuple(Entry(it.number, s) for it in trace.iterations for s in it.steps
                        if phase is None or s.phase == phase)
        starts = tuple(i for i, e in enumerate(entries)
                       if i == 0 or _pass_of(entries[i - 1]) != _pass_of(e))
        return cls(entries, starts, trace, profile(notation, trace.scenario), keep_zeros,
                   lookup(trace))

    def __len__(self) -> int:
        return len(self.entries)

    def pass_start(self, index: int) -> int:
        """The first index of the pass that holds `index`."""
        return max(s for s in self.pass_starts if s <= index)

    def find(self, name: str, index: int) -> int | None:
        """The first step about `name` (a subject like w5 or an id like grad:w5).

        Searches the update on screen first, then the whole walk, so that ``g w5`` during
        update 3 stays in update 3. Every name ``check`` accepts works (delta_h1, E_total,
        the profile's Err:o1, ...); a whole id wins over a sample's part of it, so in a batch
        ``g grad:b1`` goes to the batch gradient, not to sample 1's term.
        """
        wanted = _normal(name)
        if not wanted:
            return None
        here = self.entries[index].iteration
        order = [i for i, e in enumerate(self.entries) if e.iteration == here]
        order += [i for i, e in enumerate(self.entries) if e.iteration != here]
        p = self.notation
        for rank in range(3):
            for i in order:
                if wanted in _spellings(self.entries[i].step, rank, p):
                    return i
        return None

    def names(self) -> list[str]:
        """Everything ``g`` understands, for "did you mean" suggestions."""
        seen: dict[str, None] = {}
        for e in self.entries:
            for n in (e.step.subject, e.step.id, e.step.id.partition("@")[0]):
                if n:
                    seen[n] = None
        return list(seen)


def _pass_of(entry: Entry) -> tuple[int, str]:
    return entry.iteration, entry.step.phase


def _spellings(step: Step, rank: int, p: Profile) -> set[str]:
    """The names of a step, best first: 0 its id and aliases, 1 the id without its sample,
    2 what it is about (w5, h1)."""
    if rank == 2:  # w5, or its layer-indexed name under nielsen or ng: w^3_11
        layered = p.places.get(step.subject, ("neuron",))[0] != "neuron"
        return {_normal(step.subject)} | ({_normal(render(p.param(step.subject), "ascii"))}
                                          if layered else set())
    sid = step.id if rank == 0 else step.id.partition("@")[0]
    return {_normal(a) for a in (sid, *aliases(sid, p))}


# ----------------------------------------------------------------------------- keys -> state


@dataclass(frozen=True)
class State:
    index: int = 0  # 0-based position in the walk
    mode: str = "step"  # "step", "goto" (typing a name after g), "help" or "drawing"
    typed: str = ""  # the name typed after g
    message: str = ""  # one line for the person: the end, a name not found, ...
    done: bool = False


NEXT = {"n", " ", "enter", "right"}
BACK = {"b", "p", "left"}
QUIT = {"q", "esc", "eof"}


def press(state: State, key: str, walk: Walk) -> State:
    """What `key` does in `state`. Keys are characters or names: enter, esc, left, right,
    backspace, resize, eof (the terminal went away)."""
    if key == "eof":
        return replace(state, done=True)
    if key == "resize":
        return state
    if state.mode in ("help", "drawing"):  # any key closes the help, as in less
        return replace(state, mode="step", message="")
    if state.mode == "goto":
        return _goto_key(state, key, walk)
    state = replace(state, message="")
    last = len(walk) - 1
    if key in NEXT:
        if state.index == last:
            return replace(state, message="This is the last step. b goes back, q quits.")
        return replace(state, index=state.index + 1)
    if key in BACK:
        if state.index == 0:
            return replace(state, message="This is the first step.")
        return replace(state, index=state.index - 1)
    if key == "]":
        later = [s for s in walk.pass_starts if s > state.index]
        if not later:
            return replace(state, message="This is the last pass.")
        return replace(state, index=later[0])
    if key == "[":
        current = walk.pass_start(state.index)
        earlier = [s for s in walk.pass_starts if s < current]
        if earlier:
            return replace(state, index=earlier[-1])
        if state.index == 0:
            return replace(state, message="This is the first pass.")
        return replace(state, index=0)
    if key == "g":
        return replace(state, mode="goto", typed="")
    if key == "?":
        return replace(state, mode="help")
    if key == "d":
        return replace(state, mode="drawing")
    if key in QUIT:
        return replace(state, done=True)
    return replace(state, message="That key does nothing here; ? shows the keys.")


def _goto_key(state: State, key: str, walk: Walk) -> State:
    if key == "esc":
        return replace(state, mode="step", typed="", message="")
    if key == "backspace":
        return replace(state, typed=state.typed[:-1])
    if key == "enter":
        typed = state.typed.strip()
        back = replace(state, mode="step", typed="")
        if not typed:
            return back
        found = walk.find(typed, state.index)
        if found is not None:
            return replace(back, index=found, message="")
        close = difflib.get_close_matches(typed, walk.names(), n=1)
        hint = f"did you mean {close[0]}?" if close else "try a name like w5, h1 or grad:w5."
        return replace(back, message=f"No step about {typed!r}; {hint}")
    if len(key) == 1 and key.isprintable():
        return replace(state, typed=state.typed + key)
    return state


# ----------------------------------------------------------------------------- the screen

HELP = (
    ("n  space  Enter  →", "next step"),
    ("b  p  ←", "previous step"),
    ("]", "next pass (forward, loss, backward, update)"),
    ("[", "previous pass"),
    ("g NAME Enter", "go to the first step about NAME: w5, h1, o1, grad:w5, loss"),
    ("d", "draw the network, this step's operands highlighted (any key returns)"),
    ("?", "show these keys (any key returns)"),
    ("q  Esc", "quit"),
)
STATUS_KEYS = "n next  b back  ] [ pass  g go to  d draw  ? keys  q quit"

PHASE_NAMES = {phase: title.lower() for phase, title in PHASE_TITLES.items()}
CIRCUIT_LABELS = {
    "val": "value: the gate applied to the values on its input wires",
    "local": "local gradient: how the gate's output changes with this input",
    "grad": "gradient: upstream gradient times local gradient, summed over the paths",
    "new": "the parameter after the update: lr times its gradient taken off (ascent: added)",
}
KIND_LABELS = {
    "net": "net input: the weighted sum of what feeds the neuron",
    "out": "output: the activation applied to the net input",
    "dout": "how the error changes with this output",
    "dact": "slope of the activation at this neuron",
    "dnet": "delta: how the error changes with the net input",
    "grad": "gradient: how the error changes with this parameter",
    "new": "gradient descent: the parameter after the update",
    "din": "how the error changes with this input (input gradients)",
    "l2": "the gradient with weight decay (L2) added",
    "decay": "AdamW: the parameter decayed before the Adam step",
    "vel": "momentum: the velocity, a running sum of gradients",
    "sq": "RMSprop: the running mean of squared gradients",
    "m": "Adam: the running mean of gradients (first moment)",
    "v": "Adam: the running mean of squared gradients (second moment)",
    "mhat": "Adam: the first moment with bias correction",
    "vhat": "Adam: the second moment with bias correction",
    **{f"prev_{k}": "the optimizer's state carried in from the last update"
       for k in ("vel", "sq", "m", "v")},
}


def _plain(style: str, text: str) -> str:
    """The few symbols the stepper itself writes, in ASCII when asked."""
    if style != "ascii":
        return text
    return text.replace("·", "|").replace("→", "->").replace("←", "<-")


def context(walk: Walk, index: int, style: str) -> str:
    """Where a step sits: update, pass, layer, neuron or parameter, sample."""
    entry = walk.entries[index]
    s, sc = entry.step, walk.trace.scenario
    parts = [f"update {entry.iteration} of {walk.trace.total_iterations}",
             PHASE_NAMES.get(s.phase, s.phase)]
    if is_graph(sc):
        parts.append(_circuit_place(sc, s))
        return _plain(style, " · ".join(parts))
    n_layers = len(sc.layers)
    if s.layer:  # din steps are about the inputs, before layer 1
        role = "output" if s.layer == n_layers else "hidden"
        parts.append(f"layer {s.layer} ({role})")
    if s.kind == "grad" or s.phase == "update":
        parts.append(f"parameter {s.subject}{_where(sc, s)}")
    elif s.kind == "din":
        parts.append(f"input {s.subject}")
    elif s.kind == "loss":
        parts.append(f"output {s.subject}" if s.subject else "total")
    elif s.subject:
        parts.append(f"neuron {s.subject}")
    if s.sample is not None:
        parts.append(f"sample {s.sample}")
    return _plain(style, " · ".join(parts))


def _circuit_place(sc: Any, s: Step) -> str:
    """What a circuit step is about: a node, an input or a parameter, or a wire's gradient."""
    kind, _, name = s.id.partition(":")
    leaves = {leaf.name: leaf.kind for leaf in sc.graph.leaves}
    if kind == "local":
        node, _, arg = name.partition("/")
        return f"node {node}, from {arg}"
    what = leaves.get(name, "node")
    return f"{'parameter' if what == 'param' else what} {name}"


def _where(sc: Any, s: Step) -> str:
    """What a parameter connects, so "w5" is never ambiguous: (h1 → o1), or a bias's neurons."""
    if s.layer is None:
        return ""
    for c in sc.connections:
        if c.param == s.subject:
            if c.source is None:
                return f" (bias of {', '.join(c.targets)})"
            return f" ({c.source} → {c.targets[0]})"
    return ""


def _label(s: Step, graph: bool = False) -> str:
    if graph:
        return CIRCUIT_LABELS.get(s.kind, "")
    if s.kind == "loss":
        return "error of this output" if s.subject else "total error"
    return KIND_LABELS.get(s.kind, "")


def current(walk: Walk, index: int, style: str, decimals: int, ask: bool = False,
            below: tuple[RenderableType, ...] = (), numbers: bool = True) -> RenderableType:
    """The step on screen: where it is, its formula in symbols, in numbers, and the result.

    The formula lines are the terminal view's StepBlock, so a step reads the same in
    ``bpwalk run`` and here (same wrapping, shortcut line and note). The quiz asks with
    `ask` (the result is '?') and puts its prompt or verdict `below`."""
    from bpwalk.views.terminal import StepBlock

    s = walk.entries[index].step
    parts: list[RenderableType] = [Text(context(walk, index, style), style="bold")]
    label = _label(s, is_graph(walk.trace.scenario))
    if label:
        parts.append(Text(label, style="dim italic"))
    parts += [Text(""), StepBlock((s,), walk.pen(style, decimals), ask, numbers)]
    if s.exact is not None and walk.trace.round_to is not None and not ask:
        parts.append(Text(f"before rounding to {walk.trace.round_to} decimals: "
                          f"{number(s.exact, 15)}", style="dim"))
    if below:
        parts += [Text(""), *below]
    return Panel(Group(*parts), box=box.ASCII if style == "ascii" else box.ROUNDED,
                 border_style="cyan")


def _history_lines(walk: Walk, index: int, room: int, style: str, decimals: int,
                   hidden: Container[int] = ()) -> list[Text]:
    """The last `room` lines of the steps already seen: one line each, with a heading where
    a pass begins. Built backwards from `index`, so a long walk costs only what fits.
    The steps in `hidden` (questions the quiz has not revealed yet) show '?'."""
    lines: list[Text] = []
    starts = frozenset(walk.pass_starts)
    for i in range(index - 1, -1, -1):
        if len(lines) >= room:
            break
        e = walk.entries[i]
        f = walk.pen(style, decimals).formula(e.step)
        lines.append(Text(f"  {f.lhs} = {'?' if i in hidden else f.result}", style="dim"))
        if i in starts:
            phase = PHASE_NAMES.get(e.step.phase, e.step.phase)
            lines.append(Text(_plain(style, f"update {e.iteration} · {phase}"), style="bold dim"))
    return lines[:room][::-1]


def help_table(style: str, extra: tuple[tuple[str, str], ...] = ()) -> RenderableType:
    grid = Table.grid(padding=(0, 3))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for keys, action in extra + HELP:
        grid.add_row(_plain(style, keys), action)
    return Panel(grid, title="keys", title_align="left",
                 box=box.ASCII if style == "ascii" else box.ROUNDED)


def status(walk: Walk, state: State) -> Text:
    text = Text(style="reverse")
    text.append(f" step {state.index + 1}/{len(walk)} ", style="bold")
    text.append(f" {STATUS_KEYS} ")
    return text


def _message(state: State) -> Text:
    if state.mode == "goto":
        return Text(f"go to: {state.typed}_   (Enter jumps, Esc cancels)", style="bold")
    return Text(state.message, style="yellow")


def _lines(console: Console, renderable: RenderableType, one_line: bool = False) -> list[str]:
    """Render with `console` at its width; one string (ANSI codes included) per row.

    `one_line` crops each line at the width instead of wrapping (print's own no_wrap wins
    over the Text's, so it must be said here).
    """
    with console.capture() as cap:
        if one_line:
            console.print(renderable, no_wrap=True, overflow="crop")
        else:
            console.print(renderable)
    text = cap.get()
    return text[:-1].split("\n") if text.endswith("\n") else text.split("\n")


def screen(walk: Walk, state: State, console: Console, style: str = "unicode",
           decimals: int = 9, *, panel: RenderableType | None = None,
           status_line: Text | None = None, hidden: Container[int] = ()) -> list[str]:
    """Every row of the screen for `state`, at most the console's height.

    The quiz draws its own `panel` (question, verdict or help) and `status_line`, and hides
    the results of the questions it has not revealed."""
    height = console.size.height
    title = _lines(console, Text(walk.trace.scenario.title or walk.trace.scenario.name,
                                 style="bold"), one_line=True)
    bottom = (_lines(console, _message(state), True)
              + _lines(console, status_line or status(walk, state), True))
    if panel is not None:
        body = _lines(console, panel)
    elif state.mode == "help":
        body = _lines(console, help_table(style))
    elif state.mode == "drawing":
        body = _lines(console, _drawing(walk, state.index, style, decimals, hidden))
    else:
        body = _lines(console, current(walk, state.index, style, decimals))
    room = height - len(title) - len(body) - len(bottom)
    history: list[str] = []
    if room > 0 and state.mode not in ("help", "drawing"):
        seen = _history_lines(walk, state.index, room, style, decimals, hidden)
        history = _lines(console, Group(*seen), one_line=True) if seen else []
    top = (title + history + body)[: max(height - len(bottom), 0)]
    filler = [""] * (height - len(top) - len(bottom))
    return (top + filler + bottom)[-height:] if height > 0 else []


def _drawing(walk: Walk, index: int, style: str, decimals: int,
             hidden: Container[int] = ()) -> RenderableType:
    """The picture at step `index`, without the results of `hidden` steps (the quiz's
    questions not yet revealed)."""
    from bpwalk.views import drawing, grids

    if drawing.attention(walk.trace):  # an attention head: its weights P as a heat grid,
        return _weights(walk, index, style, decimals, hidden)  # as far as they are known
    entry = walk.entries[index]
    it = next(i for i in walk.trace.iterations if i.number == entry.iteration)
    picture = drawing.at_step(walk.trace, it, it.steps.index(entry.step), decimals,
                              style == "ascii", walk.notation)
    sc = walk.trace.scenario
    if is_graph(sc):
        from bpwalk.views.circuit_drawing import slot
    elif drawing.gridded(walk.trace) or drawing.drawn_unrolled(walk.trace):
        def slot(s: Step) -> str | None:  # a grid's or the unrolled picture's cell
            return grids.key(s.id, not getattr(sc, "sequence", False))
    else:
        slot = drawing.slot
    for i in range(index + 1):
        where = slot(walk.entries[i].step) if i in hidden else None
        if where is not None and picture.values.get(where) == walk.entries[i].step.value:
            del picture.values[where]
    return picture


def _weights(walk: Walk, index: int, style: str, decimals: int,
             hidden: Container[int] = ()) -> RenderableType:
    """An attention head's picture at step `index`: the attention weights of the step's
    sample, those worked out so far (the quiz's hidden ones left blank)."""
    from bpwalk.views import attention

    entry = walk.entries[index]
    it = next(i for i in walk.trace.iterations if i.number == entry.iteration)
    shown = {walk.entries[i].step.id for i in range(index + 1)
             if i not in hidden and walk.entries[i].iteration == entry.iteration}
    # (a step of the whole batch: the first sample's weights)
    sample = (entry.step.sample or it.samples[0]) if len(it.samples) > 1 else None
    return attention.picture(walk.trace, it, sample, walk.pen(style, decimals), shown)


# ----------------------------------------------------------------------------- the terminal

ESC = 0x1B
_ESC_WAIT = 0.05  # seconds to wait after ESC for the rest of an arrow key's sequence
_SEQUENCES = {"[C": "right", "[D": "left", "[A": "up", "[B": "down",
              "OC": "right", "OD": "left", "OA": "up", "OB": "down"}


class Terminal:
    """Single-key input and full-screen output on a terminal, restored on any exit.

    cbreak mode (not raw): keys arrive one at a time without echo, while Ctrl-C still sends
    SIGINT (so it works even while we are busy) and Ctrl-Z still suspends.
    """

    def __init__(self, fd_in: int, out: TextIO) -> None:
        self.fd = fd_in
        self.out = out
        self._saved: list[Any] | None = None
        self._pipe: tuple[int, int] | None = None
        self._old_handlers: dict[int, Any] = {}
        self._old_wakeup = -1
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    # -- entering and leaving

    def __enter__(self) -> Self:
        import termios

        self._saved = termios.tcgetattr(self.fd)
        try:
            self._pipe = os.pipe()
            for fd in self._pipe:
                os.set_blocking(fd, False)
            # A signal wakes select() through this pipe: that is how a resize interrupts the
            # wait for a key without any drawing from inside a signal handler.
            self._old_wakeup = signal.set_wakeup_fd(self._pipe[1])
            self._handle(signal.SIGWINCH, lambda *_: None)
            self._handle(signal.SIGTERM, _terminated)
            self._handle(signal.SIGHUP, _terminated)
            if hasattr(signal, "SIGTSTP"):
                self._handle(signal.SIGTSTP, self._suspend)
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        # Each piece is undone on its own so that one failure cannot leave the rest undone.
        try:
            self._stop()
        finally:
            for sig, old in self._old_handlers.items():
                signal.signal(sig, old)
            self._old_handlers.clear()
            if self._pipe is not None:
                signal.set_wakeup_fd(self._old_wakeup)
                for fd in self._pipe:
                    os.close(fd)
                self._pipe = None

    def _handle(self, sig: int, handler: Any) -> None:
        self._old_handlers[sig] = signal.signal(sig, handler)

    def _start(self) -> None:
        import termios
        import tty

        # TCSANOW, not setcbreak's default TCSAFLUSH: keys typed before the first screen
        # (while Python starts) are kept, not thrown away
        tty.setcbreak(self.fd, termios.TCSANOW)
        self.out.write("\x1b[?1049h\x1b[?25l")  # alternate screen, hide the cursor
        self.out.flush()

    def _stop(self) -> None:
        import termios

        # After a hang-up the terminal is gone: there is nothing left to restore, and an
        # error here would replace the exit the hang-up asked for (129) with a traceback.
        try:
            self.out.write("\x1b[?25h\x1b[?1049l")  # show the cursor, leave the alt. screen
            self.out.flush()
        except OSError:
            pass
        if self._saved is not None:
            try:
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            except (termios.error, OSError):
                pass

    def _suspend(self, signum: int, frame: object) -> None:
        """Ctrl-Z: give the shell its terminal back, stop; on fg, take it again."""
        self._stop()
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)  # stops here until SIGCONT
        signal.signal(signal.SIGTSTP, self._suspend)
        self._start()  # the wakeup pipe holds a byte, so the screen is redrawn

    # -- output and input

    def size(self) -> tuple[int, int]:
        size = os.get_terminal_size(self.out.fileno())
        return size.columns, size.lines

    def draw(self, rows: list[str], height: int) -> None:
        """Write every row at its place; rows are never wider than the screen."""
        parts = [f"\x1b[{n};1H\x1b[2K{row}" for n, row in enumerate(rows, start=1)]
        if len(rows) < height:  # clear below; on a full screen this would erase the last row
            parts.append(f"\x1b[{len(rows) + 1};1H\x1b[J")
        self.out.write("".join(parts))
        self.out.flush()

    def read_key(self) -> str:
        """The next key: a character, or enter, esc, left, right, up, down, backspace,
        resize (the window changed or we were resumed), eof."""
        assert self._pipe is not None
        ready, _, _ = select.select([self.fd, self._pipe[0]], [], [])
        if self._pipe[0] in ready:
            _drain(self._pipe[0])
            return "resize"
        try:
            byte = os.read(self.fd, 1)
        except OSError:  # EIO: the terminal hung up
            return "eof"
        if not byte:
            return "eof"
        b = byte[0]
        if b == ESC:
            return self._escape()
        if byte in (b"\r", b"\n"):
            return "enter"
        if byte in (b"\x7f", b"\x08"):
            return "backspace"
        if b >= 0x80:
            return self._utf8(byte)
        return byte.decode("ascii")

    def pending(self) -> bool:
        """Are more keys waiting (a paste)? Then they are read before the next redraw."""
        return bool(select.select([self.fd], [], [], 0)[0])

    def _more(self, wait: float) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], wait)
        return os.read(self.fd, 1) if ready else b""

    def _escape(self) -> str:
        """ESC alone is Esc; ESC [ C (or ESC O C) is an arrow key, sent in one burst."""
        first = self._more(_ESC_WAIT)
        if not first:
            return "esc"
        if first not in (b"[", b"O"):
            return "unknown"  # Alt+key
        seq = first
        while True:
            nxt = self._more(_ESC_WAIT)
            if not nxt:
                break
            seq += nxt
            if 0x40 <= nxt[0] <= 0x7E:  # the final byte of a control sequence
                break
        return _SEQUENCES.get(seq.decode("ascii", "replace"), "unknown")

    def _utf8(self, byte: bytes) -> str:
        text = self._decoder.decode(byte)
        while not text:
            more = self._more(_ESC_WAIT)
            if not more:
                self._decoder.reset()
                return "unknown"
            text = self._decoder.decode(more)
        return text[0]


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _terminated(signum: int, frame: object) -> None:
    # SIGTERM / SIGHUP: leave through the normal path so the terminal is restored.
    raise SystemExit(128 + signum)


# ----------------------------------------------------------------------------- the loop


def not_a_terminal() -> str | None:
    """None when stepping can run; else why not: which stream is not a terminal, or that
    the terminal cannot move its cursor (TERM=dumb: an editor's shell, a plain serial line)."""
    if sys.stdin is None or not sys.stdin.isatty():
        return "standard input is not one" if sys.stdin else "standard input is closed"
    if sys.stdout is None or not sys.stdout.isatty():
        return "standard output is not one" if sys.stdout else "standard output is closed"
    if os.environ.get("TERM", "").lower() in ("dumb", "unknown"):
        return f"this terminal (TERM={os.environ['TERM']}) cannot move its cursor"
    return None


def run(trace: Trace, style: str = "unicode", decimals: int = 9, phase: str | None = None,
        no_color: bool = False, notation: Profile | None = None, keep_zeros: bool = False) -> int:
    """Step through `trace` on this terminal; the exit code (0 quit, 130 Ctrl-C)."""
    walk = Walk.of(trace, phase, notation, keep_zeros)
    if not walk.entries:
        return 0
    code, _ = interact(State(), lambda st, key: press(st, key, walk),
                       lambda st, console: screen(walk, st, console, style, decimals), no_color)
    return code


class _Ends(Protocol):
    @property
    def done(self) -> bool: ...


S = TypeVar("S", bound=_Ends)


def interact(state: S, on_key: Callable[[S, str], S], rows: Callable[[S, Console], list[str]],
             no_color: bool = False) -> tuple[int, S]:
    """Draw `rows` for the state, read a key, repeat until the state is done (the stepper's
    State, or any state with a `.done`, like the quiz's). The exit code (0, or 130 for
    Ctrl-C) and the last state, so the quiz can sum it up after the screen is restored."""
    from bpwalk.views.terminal import MIN_WIDTH
    from bpwalk.views.terminal import console as make_console  # the same colour policy

    console = make_console(no_color=no_color, file=sys.stdout, force_terminal=True)
    try:
        with Terminal(sys.stdin.fileno(), sys.stdout) as term:
            while not state.done:
                width, height = term.size()
                if width < MIN_WIDTH:  # a layout cannot fit: say so instead of looping on it
                    term.draw([f"widen to {MIN_WIDTH} columns"[:width]], height)
                else:
                    console.size = width, height
                    term.draw(rows(state, console), height)
                state = on_key(state, term.read_key())
                while not state.done and term.pending():  # a paste: one redraw, not one per key
                    state = on_key(state, term.read_key())
    except KeyboardInterrupt:
        return 130, state
    return 0, state
