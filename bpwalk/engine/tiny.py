"""The loop for tiny networks: the updates nobody reads, in plain floats, by a Python
function written for the run's network.

The function takes no name from the scenario: its locals are numbered (p1 for the first
parameter, x1 for the first input, n1 for the first neuron, g_p1 its gradient, net_n1 ...)
and the scenario's names are written in comments only, escaped so that none can end a
comment's line. So no text of the user's reaches `exec`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from bpwalk import optimizers
from bpwalk.engine.checks import check_bound, divergence_bound
from bpwalk.engine.params import Params, _layout, _Slot, batches
from bpwalk.functions import ACTIVATIONS, LOSSES
from bpwalk.scenario import Scenario

# A network is tiny when a batch's samples times (its weights + 8) are at most this. Measured
# (CPU us per update, plain floats against vectorised, SGD): 2-2-1 x 1 sample 1.5 against 22,
# x 4 4.1/22, x 8 7.8/24; 4-4-2 x 4 13/24; 4-8-2 x 1 8/27; 8-16-4 x 1 20/20 (Adam: 2-2-1 x 1
# 4.3/38, 4-4-2 x 4 20/32, 8-16-4 x 1 80/51). The floats would win up to about 150; the
# networks above 40 keep the vectorised loop's numbers, as they have had them (XOR's four
# samples, 56, would train 7 times faster and land within 2 ulps of its parameters).
TINY_WORK = 40

# Optimizers the float loop leaves to the vectorised one, whose numbers they keep. RMSprop's
# step η·g/(√s + ε) is about ±η whatever the size of g: near a minimum, where a gradient is a
# sum that cancels to rounding noise, the noise's sign takes a full step, so the two loops'
# last-place differences (see Tiny) grow into the third digit over 10,000 updates (Mazur's
# network at learning rate 0.5). Adam's first moment averages that sign away (its
# parameters stay within 2e-15 of the vectorised loop's over the same run).
VECTORISED = ("rmsprop",)


class Tiny:
    """The loop for tiny networks: one Python function written for the run's network.

    A tiny network's update is 20-odd NumPy calls of about a microsecond each, for a few
    dozen multiplications; plain floats in straight-line code take a microsecond or two in
    all. So, at the first update it makes, this writes the updates as Python source for the
    network (`tiny_source` shows it): a local per parameter, neuron and gradient, every sum
    written out in the order the other loops add, the scalar forms of bpwalk.functions
    written into the code where they are plain arithmetic (else called), and each
    parameter's update as its optimizer's rule computes it (the rule is called on numbers
    that write down their arithmetic: _Source).

    The numbers: plain SGD's are the explained path's formulas in plain floats, as this loop
    has always made them; another optimizer's gradient is scaled by the batch's mean where
    the vectorised loop scales it, then the rule makes its own operations. The vectorised
    loop differs from both by a last place per operation at most (OpenBLAS fuses a multiply
    and an add; NumPy's exp is its own): see tests/test_tiny.py.
    """

    def __init__(self, scenario: Scenario, layout: list[_Slot]):
        self.scenario, self.layout = scenario, layout
        self.kinds = scenario.optimizer.state_kinds
        self.loop: Callable | None = None  # written at the first update it makes
        self.every = 0  # the loop's history stride (a run's is one: see _stride)

    @classmethod
    def of(cls, scenario: Scenario, layout: list[_Slot], batch: int) -> Tiny | None:
        """The loop for this network when it is tiny (`batch`: its largest batch's size)
        and every function it needs has a scalar form; else None."""
        loss = LOSSES[scenario.loss]
        acts = [ACTIVATIONS[lay.activation] for lay in scenario.layers]
        weights = sum(lay.weights.size for lay in scenario.layers)
        if (batch * (weights + 8) > TINY_WORK or loss.scalar_term is None
                or any(a.scalar is None for a in acts) or scenario.optimizer.name in VECTORISED):
            return None
        return cls(scenario, layout)

    def updates(self, params: Params, state: dict[str, np.ndarray], start: int, stop: int,
                history: list[float], every: int
                ) -> tuple[Params, dict[str, np.ndarray], int]:
        """_fast_updates in plain floats: the parameters, the optimizer's state, and the next
        update to make: `stop`, or an earlier one whose arithmetic raised or whose loss is
        not finite, which the vectorised loop then makes again (and reports, as it does)."""
        if start >= stop:
            return params, state, start
        if self.loop is None or every != self.every:
            self.loop, self.every = TinyWriter(self.scenario, self.layout).compiled(every), every
        values = [v for w, b in zip(params.weights, params.biases)
                  for v in (*w.ravel().tolist(), *b.tolist())]
        values, states, number = self.loop(values, [state[k].tolist() for k in self.kinds],
                                           start, stop, history)
        arrays, at = [], 0
        for a in (a for pair in zip(params.weights, params.biases) for a in pair):
            arrays.append(np.array(values[at:at + a.size], dtype=np.float64).reshape(a.shape))
            at += a.size
        return (Params(arrays[0::2], arrays[1::2]),
                {k: np.array(v, dtype=np.float64) for k, v in zip(self.kinds, states)}, number)


def tiny_source(scenario: Scenario) -> str | None:
    """The Python function the loop for tiny networks runs for this scenario (None when
    its network is not tiny), to read or debug it:

        python -c "from bpwalk import engine, scenario as s
        print(engine.tiny_source(s.load(s.resolve('mazur')[0])))"
    """
    layout = _layout(scenario)
    batch = max(len(idx) for idx in batches(scenario, 1).epoch)
    if Tiny.of(scenario, layout, batch) is None:
        return None
    return TinyWriter(scenario, layout).source(1)


def _comment(text: str) -> str:
    """A scenario's name as the code's comments write it: validated names are plain, but a
    line break (or any character that is not printable) is escaped, never written, so a
    comment cannot end early and let the rest of its line be code."""
    return text if text.isprintable() else repr(text)


ADD, MUL, UNARY, POW, ATOM = range(5)  # Python's operator precedence, loosest first
_PRECEDENCE = {"+": ADD, "-": ADD, "*": MUL, "/": MUL, "**": POW}


class _Source:
    """A number of the tiny loop's code: the Python source that computes it.

    Arithmetic on these writes each operation down (parenthesised where Python needs it)
    instead of doing it, so a function called on them returns the source that makes the
    same float operations in the same order. What is not arithmetic (a comparison, a
    branch, math.exp) raises TypeError: such a function is called from the code instead.
    `varies` is True for a number of one parameter or neuron, False for one of the whole
    update (its number, the learning rate), None for a constant. A rule's arithmetic on the
    update's numbers alone, such as Adam's 1 - beta1^t, becomes one local of the update
    (TinyWriter.const), not one expression per parameter.
    """

    __slots__ = ("code", "prec", "src", "varies")

    def __init__(self, src: str, prec: int = ATOM, varies: bool | None = True,
                 code: TinyWriter | None = None):
        self.src, self.prec, self.varies, self.code = src, prec, varies, code

    def _op(self, op: str, other, swap: bool = False) -> _Source:
        a, b = (_source(other), self) if swap else (self, _source(other))
        prec, code = _PRECEDENCE[op], a.code or b.code
        varies = True in (a.varies, b.varies)
        if varies and code:
            a, b = (code.const(x) if x.varies is False else x for x in (a, b))
            code.check_current(a, b)
        # a left operand is worked out first: a left-associative operator needs parentheses
        # around an equal precedence on its right, ** (right-associative) on its left
        left = a.src if a.prec > prec or (a.prec == prec and op != "**") else f"({a.src})"
        right = b.src if b.prec > prec or (b.prec == prec and op == "**") else f"({b.src})"
        return _Source(f"{left} {op} {right}", prec, varies, code)

    def __add__(self, o): return self._op("+", o)
    def __radd__(self, o): return self._op("+", o, True)
    def __sub__(self, o): return self._op("-", o)
    def __rsub__(self, o): return self._op("-", o, True)
    def __mul__(self, o): return self._op("*", o)
    def __rmul__(self, o): return self._op("*", o, True)
    def __truediv__(self, o): return self._op("/", o)
    def __rtruediv__(self, o): return self._op("/", o, True)
    def __pow__(self, o): return self._op("**", o)
    def __rpow__(self, o): return self._op("**", o, True)

    def __neg__(self) -> _Source:
        return _Source("-" + (self.src if self.prec >= UNARY else f"({self.src})"), UNARY,
                       self.varies, self.code)

    def sqrt(self) -> _Source:  # optimizers._sqrt
        return _Source(f"sqrt({self.src})", ATOM, self.varies, self.code)

    def __bool__(self):
        raise TypeError("a number of the code has no truth value while the code is written")

    def __eq__(self, other):
        raise TypeError("a number of the code cannot be compared while the code is written")

    __ne__ = __eq__
    __hash__ = None  # type: ignore[assignment]


def _source(x) -> _Source:
    """x as a number of the code: a constant written as its repr (exact for a float)."""
    if isinstance(x, _Source):
        return x
    if type(x) not in (float, int) or not math.isfinite(x):
        raise TypeError(f"not a finite constant of the code: {x!r}")
    return _Source(repr(x), UNARY if x < 0 or repr(x).startswith("-") else ATOM, None)


def _written(fn: Callable, name: str, *args) -> _Source:
    """fn(*args) as source: its arithmetic written out, or a call of `name` (fn, in the
    code's globals) where fn does more than arithmetic."""
    try:
        return _source(fn(*args))
    except TypeError:
        return _Source(f"{name}({', '.join(_source(a).src for a in args)})")


def _summed(terms) -> _Source:
    """0.0 + t1 + t2 + ...: a sum in the order written, as the other loops add."""
    total = _source(0.0)
    for t in terms:
        total = total + t
    return total


def _indented(lines: list[str], levels: int = 1) -> list[str]:
    return ["    " * levels + line for line in lines]


def _listed(names, unpack: bool = False) -> str:
    """Names as a list to return, or as the targets that unpack one (a, for one name)."""
    names = list(names)
    if unpack:
        return ", ".join(names) + ("," if len(names) == 1 else "")
    return f"[{', '.join(names)}]"


class TinyWriter:
    """Writes the tiny loop's function for one scenario (see Tiny)."""

    def __init__(self, scenario: Scenario, layout: list[_Slot]):
        self.scenario, self.layout, self.layers = scenario, layout, scenario.layers
        self.opt, self.kinds = scenario.optimizer, scenario.optimizer.state_kinds
        self.k = scenario.targets.shape[1]
        mean = scenario.reduction == "mean"
        # a sample: its inputs, then its targets; a batch: its first sample, the others, 1/size
        self.samples = [(*x, *t) for x, t in zip(scenario.x.tolist(), scenario.targets.tolist())]
        self.batches = [(self.samples[idx[0]], tuple(self.samples[i] for i in idx[1:]),
                         1.0 / len(idx) if mean else 1.0) for idx in batches(scenario, 0).epoch]
        self.scaled = any(scale != 1.0 for _, _, scale in self.batches)
        acts = {lay.activation: ACTIVATIONS[lay.activation] for lay in self.layers}
        loss = LOSSES[scenario.loss]
        self.calls = {  # the functions the code calls (if any), by their names there
            **{name: a.scalar for name, a in acts.items()},
            **{name + "_derivative": a.scalar_derivative for name, a in acts.items()},
            scenario.loss: loss.scalar_term, scenario.loss + "_derivative": loss.scalar_derivative}
        self.consts: dict[str, _Source] = {}  # the update's own numbers, by their source
        self.current: dict[str, _Source] = {}  # the locals a rule wrote, as last written
        self._name()

    def _name(self) -> None:
        """The locals, numbered: p1... the parameters as Params holds them (per layer, its
        weights, then its biases), x1... the inputs, n1... the neurons."""
        params = [n for lay in self.layers
                  for n in (*(n for row in lay.weight_names for n in row), *lay.bias_names)]
        neurons = [n for lay in self.layers for n in lay.neurons]
        self.p = {n: f"p{i}" for i, n in enumerate(params, 1)}
        self.x = {n: f"x{i}" for i, n in enumerate(self.scenario.inputs, 1)}
        self.u = {n: f"n{i}" for i, n in enumerate(neurons, 1)}

    def _legend(self) -> list[str]:
        """Comments that say which of the scenario's names each numbered local stands for."""
        def pairs(names: dict[str, str], which) -> str:
            return ", ".join(f"{names[n]} {_comment(n)}" for n in which)

        lines = [f"# {_comment(self.scenario.name)}: inputs {pairs(self.x, self.scenario.inputs)}"]
        for li, lay in enumerate(self.layers, 1):
            params = [*(n for row in lay.weight_names for n in row), *lay.bias_names]
            lines.append(f"# layer {li}: neurons {pairs(self.u, lay.neurons)}; "
                         f"parameters {pairs(self.p, params)}")
        return lines

    def const(self, x: _Source) -> _Source:
        """A number of the whole update, as one local (c1, c2, ...) of the update."""
        if x.src.isidentifier():
            return x
        if x.src not in self.consts:
            self.consts[x.src] = _Source(f"c{len(self.consts) + 1}", ATOM, False, self)
        return self.consts[x.src]

    def check_current(self, *operands: _Source) -> None:
        for x in operands:
            if self.current.get(x.src, x) is not x:
                raise AssertionError(f"{x.src} is read after the rule wrote its new value")

    def _q(self, kind: str, neuron: str) -> _Source:
        """A neuron's quantity (net, out, dout, dnet) or target (t), by its local."""
        return _Source(f"{kind}_{self.u[neuron]}")

    def _forward(self) -> list[str]:
        """net and out of every neuron, from the inputs."""
        lines, a = [], [_Source(self.x[n]) for n in self.scenario.inputs]
        for lay in self.layers:
            for j, n in enumerate(lay.neurons):
                net = _summed(_Source(self.p[w]) * ai for w, ai in zip(lay.weight_names[j], a))
                if lay.bias != "none":
                    net = net + _Source(self.p[lay.bias_names[0 if lay.bias == "shared" else j]])
                out = _written(ACTIVATIONS[lay.activation].scalar, lay.activation,
                               self._q("net", n), lay.slope)
                lines += [f"net_{self.u[n]} = {net.src}  # {_comment(n)}",
                          f"out_{self.u[n]} = {out.src}"]
            a = [self._q("out", n) for n in lay.neurons]
        return lines

    def _loss(self, total: _Source) -> _Source:
        """total plus the sample's loss terms, output by output."""
        for n in self.layers[-1].neurons:
            total = total + _written(LOSSES[self.scenario.loss].scalar_term, self.scenario.loss,
                                     self._q("out", n), self._q("t", n), self.k)
        return total

    def _sample(self, first: bool) -> list[str]:
        """One sample's forward pass, loss and backward pass; its gradients start the
        batch's (the first sample) or are added to them."""
        scenario, q, p = self.scenario, self._q, self.p
        lines = self._forward()
        lines.append(f"loss = {self._loss(_source(0.0) if first else _Source('loss')).src}")
        for n in self.layers[-1].neurons:
            dout = _written(LOSSES[scenario.loss].scalar_derivative, scenario.loss + "_derivative",
                            q("out", n), q("t", n), self.k)
            if self.scaled and not self.opt.plain:  # where the vectorised loop scales it
                dout = dout * _Source("scale")
            lines.append(f"dout_{self.u[n]} = {dout.src}")

        def gradient(param: str, value: _Source) -> str:
            g = _Source("g_" + p[param])
            return f"{g.src} = {(value if first else g + value).src}"

        for li in range(len(self.layers) - 1, -1, -1):
            lay = self.layers[li]
            dact = ACTIVATIONS[lay.activation].scalar_derivative
            for n in lay.neurons:
                d = _written(dact, lay.activation + "_derivative", q("net", n), q("out", n),
                             lay.slope)
                lines.append(f"dnet_{self.u[n]} = {(q('dout', n) * d).src}")
            dnet = [q("dnet", n) for n in lay.neurons]
            if li:  # with the weights from before the update
                for i, n in enumerate(self.layers[li - 1].neurons):
                    dout = _summed(d * _Source(p[row[i]]) for d, row in zip(dnet, lay.weight_names))
                    lines.append(f"dout_{self.u[n]} = {dout.src}")
            a = ([q("out", n) for n in self.layers[li - 1].neurons] if li
                 else [_Source(self.x[n]) for n in scenario.inputs])
            for d, row in zip(dnet, lay.weight_names):
                lines += [gradient(w, d * ai) for w, ai in zip(row, a)]
            if scenario.update_biases and lay.bias == "per_neuron":
                lines += [gradient(b, d) for b, d in zip(lay.bias_names, dnet)]
            elif scenario.update_biases and lay.bias == "shared":
                lines.append(gradient(lay.bias_names[0], _summed(dnet)))
        return lines

    def _rule(self, param: str, t: _Source, lr: float | _Source) -> list[str]:
        """One parameter's update as its optimizer's rule computes it: the rule called on
        numbers of the code, each quantity it sees written to a local of its kind."""
        pn, lines = self.p[param], []

        def see(kind, value, *_, **__):
            local = pn if kind == "new" else f"{kind}_{pn}" if kind in self.kinds else kind
            said = f"  # {_comment(param)}" if kind == "new" else ""
            lines.append(f"{local} = {_source(value).src}{said}")
            self.current[local] = _Source(local, code=self)
            return self.current[local]

        state = {k: _Source(f"{k}_{pn}", code=self) for k in self.kinds}
        new, state = optimizers.update(self.opt, _Source(pn, code=self),
                                       _Source("g_" + pn, code=self), state, t, lr, see)
        assert new.src == pn and all(v.src == f"{k}_{pn}" for k, v in state.items())
        self.current.clear()
        return lines

    def source(self, every: int) -> str:
        """The function: updates(values, state, start, stop, history), for a history that
        keeps the loss of every `every`-th update (see MAX_HISTORY)."""
        scenario, full, one = self.scenario, self.scenario.batch is None, len(self.batches) == 1
        rest = any(rest for _, rest, _ in self.batches)  # a batch of two samples or more
        unpack = _listed([*self.x.values(), *(f"t_{self.u[n]}" for n in self.layers[-1].neurons)],
                         unpack=True)
        trained = [self.p[n] for s in self.layout for n in s.names]
        lr = scenario.learning_rate
        if self.opt.plain:  # lr * (the mean's 1/size) as the other loops compute it
            scales = {scale for _, _, scale in self.batches}
            lr = lr * scales.pop() if len(scales) == 1 else _Source("lr", ATOM, False, self)
        update = [line for s in self.layout for n in s.names
                  for line in self._rule(n, _Source("number", ATOM, False, self), lr)]
        update = [f"{c.src} = {src}" for src, c in self.consts.items()] + update
        if isinstance(lr, _Source):
            update.insert(0, f"lr = {scenario.learning_rate!r} * scale")
        sizes = "-".join(map(str, [len(scenario.inputs), *(len(lay.neurons) for lay in self.layers)]))
        head = ["def updates(values, state, start, stop, history):",
                f'    """Updates start..stop-1 of a {sizes} network, trained by {self.opt.name}.',
                "",
                "    Written for this one network by bpwalk.engine.tiny.TinyWriter (engine.tiny_source",
                "    prints it). Returns the parameters, the optimizer's state and the next update",
                '    to make: stop, or an earlier one that the floats could not make."""',
                *_indented(self._legend()),
                f"    {_listed(self.p.values(), unpack=True)} = values",
                *(f"    {_listed((f'{k}_{p}' for p in trained), unpack=True)} = state[{i}]"
                  for i, k in enumerate(self.kinds)),
                "    append = history.append",
                "    bound = bound_of(history)"]
        if one:  # the same batch at every update (and, with one sample, the same sample)
            head.append("    first, rest, scale = BATCHES[0]")
            loop = []
        else:
            loop = [f"first, rest, scale = BATCHES[(number - 1) % {len(self.batches)}]"]
        same = one and full and not rest  # (the data set's loss would overwrite the sample)
        head += [f"    {unpack} = first"] if same else []
        body = [] if same else [f"{unpack} = first"]
        body += self._sample(True)
        if rest:
            body += [f"for {unpack} in rest:", *_indented(self._sample(False))]
        if self.scaled:
            body.append("loss = loss * scale")
        body += ["if not isfinite(loss):", "    break"]
        kept = None if every == 1 else f"(number - 1) % {every} == 0"  # the history keeps it
        if not full:  # the data set's loss before the update, and the history keeps that
            if kept:
                loop.append(f"kept = {kept}")
                kept = "kept"
            data = ["total = 0.0  # the loss of the data set before the update",
                    f"for {unpack} in SAMPLES:", *_indented(self._forward()),
                    f"    total = {self._loss(_Source('total')).src}",
                    *([f"total = total / {len(self.samples)}"]
                      if scenario.reduction == "mean" else [])]
            body = [*([f"if {kept}:", *_indented(data)] if kept else data), *body]
        entry = "loss" if full else "total"
        record = [f"append({entry})",
                  f"if {entry} > bound:  # diverged (or the first entry: its bound)",
                  "    bound = check(history, number)"]
        loop += ["try:", *_indented(body),
                 "except (ArithmeticError, ValueError):  # the vectorised loop makes it again",
                 "    break",
                 *([f"if {kept}:", *_indented(record)] if kept else record),
                 *update]
        states = _listed(_listed(f"{k}_{p}" for p in trained) for k in self.kinds)
        return "\n".join([*head, "    for number in range(start, stop):",
                          *_indented(loop, 2),
                          "    else:", "        number = stop",
                          f"    return {_listed(self.p.values())}, {states}, number", ""])

    def compiled(self, every: int) -> Callable:
        scenario = self.scenario

        def check(history: list[float], number: int) -> float:
            check_bound(scenario, history, number)
            return divergence_bound(history)

        space = {"BATCHES": self.batches, "SAMPLES": self.samples, "sqrt": math.sqrt,
                 "isfinite": math.isfinite, "check": check, **self.calls,
                 "bound_of": lambda h: divergence_bound(h) if h else -math.inf}
        code = compile(self.source(every), f"<the tiny loop of {_comment(scenario.name)}>",
                       "exec")
        exec(code, space)  # noqa: S102 (our own source: numbers and numbered names)
        return space["updates"]


